//! What the app receives: forwarded headers, request ids, trace context, bodies.
mod common;
use common::*;

fn trusted_config(upstream: std::net::SocketAddr, trusted: &str) -> String {
    config(upstream, DEFAULT_ROUTE).replace(
        "upstreams:",
        &format!("client:\n  trusted_proxies: [{trusted}]\nupstreams:"),
    )
}

#[test]
fn forwarded_headers_from_an_untrusted_client_are_replaced() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    let resp = client()
        .get(p.url("/x"))
        .header("host", "api.example.com")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = up.last();
    assert_eq!(
        seen.headers["x-forwarded-for"], "127.0.0.1",
        "a spoofed chain is dropped"
    );
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-forwarded-host"], "api.example.com");
}

#[test]
fn forwarded_for_is_appended_behind_a_trusted_proxy() {
    let up = RecordingUpstream::start();
    let p = start(&trusted_config(up.addr, "127.0.0.0/8"));
    client()
        .get(p.url("/x"))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .unwrap();
    assert_eq!(
        up.last().headers["x-forwarded-for"],
        "198.51.100.7, 127.0.0.1"
    );
}

#[test]
fn request_id_is_kept_when_sane_and_generated_otherwise() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    let c = client();
    let resp = c
        .get(p.url("/x"))
        .header("x-request-id", "req-123")
        .send()
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "req-123");
    assert_eq!(up.last().headers["x-request-id"], "req-123");

    let resp = c
        .get(p.url("/x"))
        .header("x-request-id", "<script>alert(1)</script>")
        .send()
        .unwrap();
    let echoed = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(
        echoed.len(),
        36,
        "a fresh UUID replaces an unsafe id: {echoed}"
    );
    assert_eq!(up.last().headers["x-request-id"], echoed.as_str());

    let a = c.get(p.url("/x")).send().unwrap().headers()["x-request-id"].clone();
    let b = c.get(p.url("/x")).send().unwrap().headers()["x-request-id"].clone();
    assert_ne!(a, b);
}

#[test]
fn traceparent_is_kept_when_valid_and_started_otherwise() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    let c = client();
    let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    c.get(p.url("/x"))
        .header("traceparent", valid)
        .header("tracestate", "k=v")
        .send()
        .unwrap();
    let seen = up.last();
    assert_eq!(seen.headers["traceparent"], valid);
    assert_eq!(seen.headers["tracestate"], "k=v");

    c.get(p.url("/x"))
        .header("traceparent", "00-zzz")
        .header("tracestate", "k=v")
        .send()
        .unwrap();
    let seen = up.last();
    let started = seen.headers["traceparent"].to_str().unwrap();
    assert!(
        started.starts_with("00-") && started.len() == 55,
        "{started}"
    );
    assert!(
        seen.headers.get("tracestate").is_none(),
        "tracestate of an invalid parent is dropped"
    );

    c.get(p.url("/x")).send().unwrap();
    assert_eq!(up.last().headers["traceparent"].len(), 55);
}

/// The access-log line of the request with `id` (its X-Request-Id).
fn log_line(p: &RampartProcess, id: &str) -> serde_json::Value {
    let line = p
        .wait_for_log(|l| l.contains(&format!("\"request_id\":\"{id}\"")))
        .expect("access-log line");
    serde_json::from_str(&line).expect("json line")
}

#[test]
fn started_traces_are_sampled_and_logged_with_their_trace_id() {
    // Found on 0.1: every traceparent Rampart started had flags 00, so the app's
    // parent-based OpenTelemetry sampler dropped every trace that began at Rampart.
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    let c = client();
    c.get(p.url("/x"))
        .header("x-request-id", "fresh-trace")
        .send()
        .unwrap();
    let started = up.last().headers["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(started.ends_with("-01"), "sampled by default: {started}");
    assert_eq!(log_line(&p, "fresh-trace")["trace_id"], started[3..35]);

    let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    c.get(p.url("/x"))
        .header("x-request-id", "kept-trace")
        .header("traceparent", valid)
        .send()
        .unwrap();
    assert_eq!(
        up.last().headers["traceparent"],
        valid,
        "the client's decision stands"
    );
    assert_eq!(
        log_line(&p, "kept-trace")["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );

    // Refused requests carry the trace id too (a client's, or the one Rampart would start).
    // Only the head is sent: the 413 comes before any body byte is read.
    let answer = raw(
        p.addr,
        format!(
            "POST /x HTTP/1.1\r\nHost: a\r\nX-Request-Id: refused-trace\r\n\
             traceparent: {valid}\r\nContent-Length: 5000000\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(raw_status(&answer), 413, "{answer}");
    assert_eq!(
        log_line(&p, "refused-trace")["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
}

#[test]
fn unsampled_traces_when_configured() {
    let up = RecordingUpstream::start();
    let yaml = format!(
        "{}tracing:\n  sampled: false\n",
        config(up.addr, DEFAULT_ROUTE)
    );
    let p = start(&yaml);
    client().get(p.url("/x")).send().unwrap();
    let started = up.last().headers["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(started.ends_with("-00"), "{started}");
}

#[test]
fn no_server_banner_on_proxied_responses() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    let resp = client().get(p.url("/x")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("server").is_none(),
        "the app's Werkzeug banner is dropped"
    );
    let resp = client().get(p.url("/status/503")).send().unwrap();
    assert_eq!(resp.status(), 503, "app errors pass through untouched");
    assert!(resp.headers().get("server").is_none());
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 256) as u8).collect()
}

#[test]
fn bodies_stream_through_intact_both_ways() {
    let up = RecordingUpstream::start();
    let p = start(
        &config(up.addr, DEFAULT_ROUTE)
            .replace("upstreams:", "client:\n  max_body_bytes: 8MiB\nupstreams:"),
    );
    let c = client();
    for size in [0usize, 1024, 5 * 1024 * 1024] {
        let body = pattern(size);
        // Fixed length.
        let resp = c.post(p.url("/echo")).body(body.clone()).send().unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.bytes().unwrap().as_ref(),
            &body[..],
            "fixed-length echo of {size} bytes"
        );
        assert_eq!(up.last().body, body);
        // Chunked: a streamed body without a length.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        let stream = reqwest::blocking::Body::new(ChunkReader::new(chunks));
        let resp = c.post(p.url("/echo")).body(stream).send().unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.bytes().unwrap().as_ref(),
            &body[..],
            "chunked echo of {size} bytes"
        );
        let seen = up.last();
        assert_eq!(seen.body, body);
        if size > 0 {
            assert_eq!(seen.headers["transfer-encoding"], "chunked");
        }
    }
    // A large binary response from the app.
    let resp = c.get(p.url("/bytes/3000000")).send().unwrap();
    let data = resp.bytes().unwrap();
    assert_eq!(data.len(), 3_000_000);
    assert!(data.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
}

/// A `Read` over pre-cut chunks, so reqwest sends a body of unknown length (chunked).
struct ChunkReader {
    chunks: std::collections::VecDeque<Vec<u8>>,
}

impl ChunkReader {
    fn new(chunks: Vec<Result<Vec<u8>, std::io::Error>>) -> Self {
        ChunkReader {
            chunks: chunks.into_iter().filter_map(Result::ok).collect(),
        }
    }
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(front) = self.chunks.front_mut() else {
            return Ok(0);
        };
        let n = front.len().min(buf.len());
        buf[..n].copy_from_slice(&front[..n]);
        front.drain(..n);
        if front.is_empty() {
            self.chunks.pop_front();
        }
        Ok(n)
    }
}
