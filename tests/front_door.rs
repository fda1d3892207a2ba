//! The front door decides on the head alone before reading any body byte (a refused client
//! costs Rampart one head, not `buffer_body_bytes`), and refusals made before routing are
//! logged like every other request (SPEC §5).
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const SCHEMA: &str = r#"{"type":"object"}"#;
const MIB: usize = 1024 * 1024;

/// Sends only the head of a request announcing a 1 MiB body (no `Expect`), then waits for an
/// answer without sending a body byte. Returns the answer's head (empty if none came).
fn head_only(addr: SocketAddr, path: &str, content_type: &str, extra: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    // Generous: a Rampart that waits for the body never answers; one that decides on the
    // head answers at once. Either way the test ends.
    s.set_read_timeout(Some(Duration::from_secs(8))).ok();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\nContent-Length: {MIB}\r\n{extra}\r\n"
    );
    s.write_all(head.as_bytes()).expect("write head");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_rate_limited_client_is_refused_before_its_body_is_read() {
    let up = RecordingUpstream::start();
    let routes = "  - name: hook\n    match: { path_prefix: /hook }\n    upstream: app\n    \
json_schema: schemas/hook.json\n    max_body_bytes: 2MiB\n    \
rate_limit: [{ rate: 1/hour, burst: 1, key: client_ip }]\n";
    let yaml = config(up.addr, routes).replace(
        "logging:",
        "client:\n  buffer_body_bytes: 2MiB\n  max_body_bytes: 2MiB\nlogging:",
    );
    let p = start_with_files(&yaml, &[("schemas/hook.json", SCHEMA)]);
    // The one request the budget allows.
    let ok = client()
        .post(p.url("/hook"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);

    let answer = head_only(p.addr, "/hook", "application/json", "");
    assert_eq!(raw_status(&answer), 429, "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after:"),
        "{answer}"
    );
    assert_eq!(up.hits(), 1, "the refused request never reached the app");
}

#[test]
fn a_denied_ip_is_refused_before_its_upload_is_read() {
    let up = RecordingUpstream::start();
    let routes = "  - name: uploads\n    match: { path_prefix: /upload }\n    upstream: app\n    \
max_body_bytes: 2MiB\n    uploads: { allow: [png] }\n    deny_ips: [127.0.0.0/8]\n";
    let yaml = config(up.addr, routes).replace(
        "logging:",
        "client:\n  buffer_body_bytes: 2MiB\n  max_body_bytes: 2MiB\nlogging:",
    );
    let p = start(&yaml);
    let answer = head_only(p.addr, "/upload", "image/png", "");
    assert_eq!(raw_status(&answer), 403, "{answer}");
    assert_eq!(up.hits(), 0);
}

#[test]
fn an_accepted_body_is_still_read_ahead_and_forwarded_whole() {
    // The order changed, not the buffering: a large body on a schema route reaches the app
    // byte for byte (read ahead past Pingora's 64 KiB retry buffer), and a bad one does not.
    let up = RecordingUpstream::start();
    let routes = "  - name: hook\n    match: { path_prefix: /hook }\n    upstream: app\n    \
json_schema: schemas/hook.json\n    max_body_bytes: 2MiB\n";
    let yaml = config(up.addr, routes).replace(
        "logging:",
        "client:\n  buffer_body_bytes: 2MiB\n  max_body_bytes: 2MiB\nlogging:",
    );
    let p = start_with_files(&yaml, &[("schemas/hook.json", SCHEMA)]);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(MIB + 1000));
    let ok = client()
        .post(p.url("/hook"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(up.last().body.len(), big.len());
    assert!(up.last().body == big.as_bytes());
    let bad = client()
        .post(p.url("/hook"))
        .header("content-type", "application/json")
        .body(format!("{{\"pad\":\"{}\"", "x".repeat(200_000)))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(up.hits(), 1);
}

#[test]
fn refusals_before_routing_are_logged_with_every_field() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    let answer = raw(
        p.addr,
        b"GET /a HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(raw_status(&answer), 400, "{answer}");
    let id = answer
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("x-request-id")
        .trim()
        .to_string();
    let line = p
        .wait_for_log(|l| l.contains(&id) && l.contains("\"status\":400"))
        .expect("an access-log line for the 400");
    let v: serde_json::Value = serde_json::from_str(&line).expect("json line");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ACCESS_LOG_FIELDS, "{line}");
    assert_eq!(v["code"], "bad_request");
    assert_eq!(v["route"], serde_json::Value::Null);
    assert_eq!(v["method"], "GET");
    assert_eq!(v["path"], "/a");
    assert_eq!(v["client_ip"], "127.0.0.1");
    assert_eq!(up.hits(), 0);
}

#[test]
fn refusals_before_routing_follow_access_log_off() {
    let up = RecordingUpstream::start();
    let yaml = config(up.addr, DEFAULT_ROUTE).replace("access_log: true", "access_log: false");
    let p = start(&yaml);
    let long = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    assert_eq!(raw_status(&raw(p.addr, long.as_bytes())), 414);
    // A reload logged after the refusal proves the output was read this far.
    assert_eq!(p.reload(None).0, 200);
    p.wait_for_log(|l| l.contains("config reloaded"))
        .expect("reload line");
    assert!(
        !p.logs().iter().any(|l| l.contains("uri_too_long")),
        "{:?}",
        p.logs()
    );
}
