//! Client-side limits and access rules: 413, 415, 403, 408, connection caps, shadow mode.
//! Each test asserts both the client's answer and what the recording upstream saw.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn with_client(upstream: std::net::SocketAddr, client_yaml: &str, routes: &str) -> String {
    config(upstream, routes).replace("upstreams:", &format!("client:\n{client_yaml}upstreams:"))
}

const SMALL: &str =
    "  - { name: small, match: { path_prefix: / }, upstream: app, max_body_bytes: 1KiB }";

#[test]
fn declared_length_over_the_limit_is_413_before_connecting() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, SMALL));
    let resp = client()
        .post(p.url("/echo"))
        .body(vec![b'x'; 2048])
        .send()
        .unwrap();
    assert_eq!(resp.headers()["connection"], "close");
    assert_problem(resp, 413, "body_too_large");
    assert_eq!(up.hits(), 0);
    assert_eq!(
        up.record
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no upstream connection at all"
    );
    // At the limit is fine.
    assert_eq!(
        client()
            .post(p.url("/echo"))
            .body(vec![b'x'; 1024])
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        metric(
            &p,
            r#"rampart_rejections_total{code="body_too_large",route="small"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn expect_continue_with_an_oversize_length_never_gets_100() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, SMALL));
    let answer = raw(
        p.addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert_eq!(up.hits(), 0);
}

#[test]
fn streamed_body_over_the_limit_is_cut_at_the_limit() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, SMALL));
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    // 3 chunks of 600 bytes: the second crosses the 1 KiB limit.
    for _ in 0..3 {
        let chunk = format!("258\r\n{}\r\n", "y".repeat(600));
        if s.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert_eq!(raw_json(&answer)["code"], "body_too_large");
    let forwarded: usize = up.seen().iter().map(|s| s.body.len()).sum();
    assert!(
        forwarded <= 1024,
        "the app received {forwarded} bytes, more than the limit"
    );
}

#[test]
fn allow_and_deny_ips_are_403() {
    let up = RecordingUpstream::start();
    let routes = r#"  - { name: admin, match: { path_prefix: /admin }, upstream: app, allow_ips: [10.0.0.0/8] }
  - { name: blocked, match: { path_prefix: /blocked }, upstream: app, deny_ips: [127.0.0.1] }
  - { name: open, match: { path_prefix: / }, upstream: app }"#;
    let p = start(&config(up.addr, routes));
    let c = client();
    assert_problem(c.get(p.url("/admin/x")).send().unwrap(), 403, "forbidden");
    // Without trusted proxies, a forged X-Forwarded-For changes nothing.
    assert_problem(
        c.get(p.url("/admin/x"))
            .header("x-forwarded-for", "10.1.2.3")
            .send()
            .unwrap(),
        403,
        "forbidden",
    );
    assert_problem(c.get(p.url("/blocked")).send().unwrap(), 403, "forbidden");
    assert_eq!(c.get(p.url("/open")).send().unwrap().status(), 200);
    assert_eq!(up.hits(), 1);
}

#[test]
fn forwarded_client_address_is_believed_only_from_trusted_proxies() {
    let up = RecordingUpstream::start();
    let routes =
        "  - { name: admin, match: { path_prefix: / }, upstream: app, allow_ips: [10.0.0.0/8] }";
    let p = start(&with_client(
        up.addr,
        "  trusted_proxies: [127.0.0.0/8]\n",
        routes,
    ));
    let c = client();
    // The right-most untrusted address decides: 10.1.2.3 is allowed, 6.6.6.6 is not.
    assert_eq!(
        c.get(p.url("/x"))
            .header("x-forwarded-for", "6.6.6.6, 10.1.2.3")
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_problem(
        c.get(p.url("/x"))
            .header("x-forwarded-for", "10.1.2.3, 6.6.6.6")
            .send()
            .unwrap(),
        403,
        "forbidden",
    );
    assert_eq!(up.hits(), 1);
}

#[test]
fn content_types_are_415_when_a_body_has_another_type() {
    let up = RecordingUpstream::start();
    let routes = "  - { name: api, match: { path_prefix: / }, upstream: app, content_types: [application/json] }";
    let p = start(&config(up.addr, routes));
    let c = client();
    let resp = c
        .post(p.url("/x"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .unwrap();
    assert_problem(resp, 415, "unsupported_media_type");
    let resp = c
        .post(p.url("/x"))
        .header("content-type", "application/json; charset=utf-8")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        c.get(p.url("/x")).send().unwrap().status(),
        200,
        "no body, no content type needed"
    );
    assert_eq!(up.hits(), 2);
}

#[test]
fn shadow_mode_counts_and_logs_but_forwards() {
    let up = RecordingUpstream::start();
    let routes = "  - { name: trial, match: { path_prefix: / }, upstream: app, shadow: true, max_body_bytes: 10, allow_ips: [10.0.0.0/8], content_types: [application/json] }";
    let p = start(&config(up.addr, routes));
    let resp = client()
        .post(p.url("/echo"))
        .header("x-request-id", "shadow-1")
        .header("content-type", "text/plain")
        .body("more than ten bytes")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "shadow mode never enforces");
    assert_eq!(up.last().body, b"more than ten bytes");
    for code in ["forbidden", "body_too_large", "unsupported_media_type"] {
        let sel = format!("rampart_shadow_rejections_total{{code=\"{code}\",route=\"trial\"}}");
        assert_eq!(metric(&p, &sel), Some(1.0), "{sel}");
    }
    assert_eq!(
        metric(
            &p,
            r#"rampart_rejections_total{code="forbidden",route="trial"}"#
        ),
        None
    );
    let line = p.wait_for_log(|l| l.contains("shadow-1")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        v["shadow"],
        serde_json::json!(["forbidden", "body_too_large", "unsupported_media_type"])
    );
    assert_eq!(v["code"], serde_json::Value::Null);
}

#[test]
fn slow_body_gets_408() {
    let up = RecordingUpstream::start();
    let p = start(&with_client(
        up.addr,
        "  body_timeout: 300ms\n",
        DEFAULT_ROUTE,
    ));
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
        .unwrap();
    // Nothing more is sent: Rampart's body_timeout decides.
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert_eq!(raw_json(&answer)["code"], "request_timeout");
}

/// Sends one request on an open connection and reads one response head + body.
fn request_on(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn connections_beyond_max_connections_are_refused_quickly() {
    let up = RecordingUpstream::start();
    let p = start(&with_client(
        up.addr,
        "  max_connections: 2\n",
        DEFAULT_ROUTE,
    ));
    let mut a = TcpStream::connect(p.addr).unwrap();
    let mut b = TcpStream::connect(p.addr).unwrap();
    for s in [&mut a, &mut b] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert!(request_on(s, "/x").starts_with("HTTP/1.1 200"));
    }
    let answer = raw(p.addr, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert_eq!(raw_json(&answer)["code"], "overloaded");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 1"));
    // A slot frees up when a connection closes.
    drop(a);
    let mut ok = None;
    for _ in 0..50 {
        let answer = raw(
            p.addr,
            b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        );
        if answer.starts_with("HTTP/1.1 200") {
            ok = Some(answer);
            break;
        }
    }
    assert!(ok.is_some(), "a freed slot is reused");
    assert_eq!(up.hits(), 3);
}

#[test]
fn max_requests_per_connection_closes_the_connection() {
    let up = RecordingUpstream::start();
    let p = start(&with_client(
        up.addr,
        "  max_requests_per_connection: 3\n",
        DEFAULT_ROUTE,
    ));
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for i in 1..=3 {
        let answer = request_on(&mut s, "/x");
        assert!(answer.starts_with("HTTP/1.1 200"), "request {i}: {answer}");
        let closes = answer.to_ascii_lowercase().contains("connection: close");
        assert_eq!(closes, i == 3, "request {i}: {answer}");
    }
    let mut rest = Vec::new();
    assert_eq!(
        s.read_to_end(&mut rest).unwrap_or(0),
        0,
        "closed after the third request"
    );
}
