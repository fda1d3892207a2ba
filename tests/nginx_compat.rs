//! NGINX-compatible handling of what legitimate clients send (SPEC §5 note, SPEC 0.2):
//! pipelined requests, streamed chunked bodies with odd-but-valid framing, and malformed
//! chunks on streamed routes stopped before their bytes reach the app.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;

/// The status lines of every response in `answer`, in order.
fn statuses(answer: &str) -> Vec<u16> {
    answer
        .split("HTTP/1.1 ")
        .skip(1)
        .filter_map(|r| r.get(..3).and_then(|s| s.parse().ok()))
        .collect()
}

#[test]
fn pipelined_requests_are_all_answered_in_order() {
    // Found on 0.1: the first request was answered and the rest dropped.
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    let pipelined = b"GET /status/201 HTTP/1.1\r\nHost: a\r\n\r\n\
POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
GET /status/202 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let answer = raw(p.addr, pipelined);
    assert_eq!(statuses(&answer), vec![201, 200, 200, 202], "{answer}");
    let seen: Vec<(String, String, Vec<u8>)> = up
        .seen()
        .into_iter()
        .map(|s| (s.method, s.uri, s.body))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("GET".into(), "/status/201".into(), b"".to_vec()),
            ("POST".into(), "/echo".into(), b"hello".to_vec()),
            ("POST".into(), "/echo".into(), b"abc".to_vec()),
            ("GET".into(), "/status/202".into(), b"".to_vec()),
        ]
    );
}

#[test]
fn a_pipelined_request_is_checked_like_the_first() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    let pipelined = b"GET /status/201 HTTP/1.1\r\nHost: a\r\n\r\n\
POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let answer = raw(p.addr, pipelined);
    assert_eq!(statuses(&answer), vec![201, 400], "{answer}");
    assert_eq!(up.hits(), 1, "the smuggling attempt never reached the app");
}

#[test]
fn a_client_that_pipelines_and_half_closes_gets_every_answer() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.write_all(
        b"GET /status/201 HTTP/1.1\r\nHost: a\r\n\r\nGET /status/202 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert_eq!(
        statuses(&answer),
        vec![201, 202],
        "{answer}\n{:#?}",
        p.logs()
    );
}

/// A route whose bodies stream to the app (limit above `client.buffer_body_bytes`).
fn streaming_config(up: std::net::SocketAddr) -> String {
    config(
        up,
        "  - { name: big, match: { path_prefix: / }, upstream: app, max_body_bytes: 64MiB }",
    )
    .replace(
        "upstreams:",
        "client:\n  buffer_body_bytes: 1KiB\nupstreams:",
    )
}

#[test]
fn streamed_chunked_bodies_with_leading_zeros_and_any_case() {
    let up = RecordingUpstream::start();
    let p = start(&streaming_config(up.addr));
    let answer = raw(
        p.addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\nConnection: close\r\n\r\n\
00000000000000000005;x=1\r\nhello\r\n000006\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    assert_eq!(raw_status(&answer), 200, "{answer}");
    let seen = up.last();
    assert_eq!(seen.body, b"hello world");
    assert_eq!(seen.headers["transfer-encoding"], "chunked");
}

#[test]
fn a_malformed_chunk_on_a_streamed_route_never_reaches_the_app() {
    // Found on 0.1: the bad chunk was seen after the head reached the app; Pingora's decoder
    // also read an empty size line as 0 and took a bare LF in an extension.
    for bad in [
        &b"5\r\nhello\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"5;a\nb\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX",
    ] {
        let up = RecordingUpstream::start();
        let p = start(&streaming_config(up.addr));
        let request = [
            &b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            bad,
        ]
        .concat();
        let answer = raw(p.addr, &request);
        assert_eq!(raw_status(&answer), 400, "{answer}");
        assert!(
            !up.seen()
                .iter()
                .any(|s| s.body.len() > 5 || s.uri == "/smuggled"),
            "nothing past the bad chunk reached the app: {:?}",
            up.seen()
                .iter()
                .map(|s| (&s.uri, s.body.len()))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn absolute_form_targets_naming_the_host_reach_the_app_in_origin_form() {
    // RFC 9112 §3.2.2: a server must accept absolute-form; found on 0.1: 400.
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    for (target, host) in [("http://a/e?x=1", "a"), ("HTTPS://A:8443/e", "a:8443")] {
        let answer = raw(
            p.addr,
            format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(raw_status(&answer), 200, "{target}: {answer}");
        let seen = up.last();
        assert!(
            seen.uri.starts_with("/e"),
            "{target}: the app saw {}",
            seen.uri
        );
    }
    let answer = raw(p.addr, b"GET http://b/e HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(raw_status(&answer), 400, "another host than Host: {answer}");
}
