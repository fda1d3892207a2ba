//! Bodies read before the app is contacted: JSON schema (422 / 400), upload sniffing (415),
//! chunked framing and size on buffered routes — the app sees nothing of a refused body.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::Duration;

const SCHEMA: &str = r#"{"type":"object","required":["from","text"],
 "properties":{"from":{"type":"string"},"text":{"type":"string","maxLength":10}},"additionalProperties":false}"#;

fn schema_config(upstream: std::net::SocketAddr, extra: &str) -> String {
    let routes = format!(
        "  - {{ name: hook, match: {{ path_prefix: /echo }}, upstream: app, json_schema: schemas/hook.json{extra} }}"
    );
    config(upstream, &routes)
}

#[test]
fn json_bodies_are_validated_before_the_app_sees_them() {
    let up = RecordingUpstream::start();
    let p = start_with_files(
        &schema_config(up.addr, ""),
        &[("schemas/hook.json", SCHEMA)],
    );
    let c = client();
    let ok = c
        .post(p.url("/echo"))
        .json(&serde_json::json!({"from": "+1", "text": "hi"}))
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(up.last().body, br#"{"from":"+1","text":"hi"}"#);

    let resp = c
        .post(p.url("/echo"))
        .json(&serde_json::json!({"from": 5, "text": "far too long", "x": 1}))
        .send()
        .unwrap();
    let body = assert_problem(resp, 422, "schema_violation");
    let mut pointers: Vec<String> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap().to_string())
        .collect();
    pointers.sort();
    assert_eq!(pointers, vec!["", "/from", "/text"], "{body}");
    assert!(body["errors"][0]["message"].is_string());

    let resp = c
        .post(p.url("/echo"))
        .header("content-type", "application/json")
        .body("{broken")
        .send()
        .unwrap();
    assert_problem(resp, 400, "bad_request");
    assert_eq!(up.hits(), 1, "only the valid body reached the app");
    assert_eq!(up.record.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn chunked_json_is_decoded_validated_and_forwarded_intact() {
    let up = RecordingUpstream::start();
    let p = start_with_files(
        &schema_config(up.addr, ""),
        &[("schemas/hook.json", SCHEMA)],
    );
    let answer = raw(
        p.addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n7\r\n{\"from\"\r\n10\r\n:\"+1\",\"text\":\"\"}\r\n0\r\n\r\n",
    );
    assert_eq!(raw_status(&answer), 200, "{answer}");
    assert_eq!(up.last().body, br#"{"from":"+1","text":""}"#);
}

#[test]
fn shadow_schema_violations_are_counted_and_forwarded() {
    let up = RecordingUpstream::start();
    let p = start_with_files(
        &schema_config(up.addr, ", shadow: true"),
        &[("schemas/hook.json", SCHEMA)],
    );
    let resp = client()
        .post(p.url("/echo"))
        .json(&serde_json::json!({"nope": true}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(up.hits(), 1);
    assert_eq!(
        metric(
            &p,
            r#"rampart_shadow_rejections_total{code="schema_violation",route="hook"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn buffered_routes_refuse_oversize_and_badly_framed_bodies_before_connecting() {
    let up = RecordingUpstream::start();
    let routes =
        "  - { name: small, match: { path_prefix: / }, upstream: app, max_body_bytes: 1KiB }";
    let p = start(&config(up.addr, routes));
    let big_chunks: String = (0..3)
        .map(|_| format!("258\r\n{}\r\n", "z".repeat(600)))
        .collect();
    let answer = raw(p.addr, format!("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{big_chunks}0\r\n\r\n").as_bytes());
    assert_eq!(raw_status(&answer), 413, "{answer}");
    for bad in [
        "zz\r\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "5;\u{0}\r\nhello\r\n0\r\n\r\n",
    ] {
        let answer = raw(
            p.addr,
            format!("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{bad}")
                .as_bytes(),
        );
        assert_eq!(raw_status(&answer), 400, "{bad:?}: {answer}");
    }
    assert_eq!(
        up.record.connections.load(Ordering::SeqCst),
        0,
        "the app was never contacted"
    );
}

#[test]
fn expect_continue_is_answered_by_rampart_on_buffered_routes() {
    let up = RecordingUpstream::start();
    let routes =
        "  - { name: small, match: { path_prefix: / }, upstream: app, max_body_bytes: 1KiB }";
    let p = start(&config(up.addr, routes));
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(
        up.hits(),
        0,
        "nothing reaches the app before the body is in"
    );
    s.write_all(b"hello").unwrap();
    let mut rest = String::new();
    let _ = s.read_to_string(&mut rest);
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(
        !rest.contains("100 Continue"),
        "one interim response only: {rest}"
    );
    let seen = up.last();
    assert_eq!(seen.body, b"hello");
    assert!(seen.headers.get("expect").is_none());
}

fn multipart(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (file, data) in parts {
        body.extend_from_slice(
            format!("--B0UND\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{file}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--B0UND--\r\n");
    body
}

#[test]
fn uploads_are_sniffed_by_their_bytes_not_their_names() {
    let up = RecordingUpstream::start();
    let routes = "  - { name: uploads, match: { path_prefix: /echo }, upstream: app, max_body_bytes: 10MiB, uploads: { allow: [xlsx, csv] } }";
    let p = start(&config(up.addr, routes));
    let c = client();
    let send = |ct: &str, body: Vec<u8>| {
        c.post(p.url("/echo"))
            .header("content-type", ct)
            .body(body)
            .send()
            .unwrap()
    };

    assert_eq!(
        send("text/csv", b"id,name\n1,caf\xe9\n".to_vec()).status(),
        200
    );
    let mut xlsx = b"PK\x03\x04".to_vec();
    xlsx.extend(std::iter::repeat_n(7u8, 2 * 1024 * 1024));
    assert_eq!(
        send("application/octet-stream", xlsx.clone()).status(),
        200,
        "a 2 MiB workbook"
    );
    assert_eq!(up.last().body.len(), xlsx.len());

    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec();
    assert_problem(send("text/csv", exe.clone()), 415, "unsupported_media_type");
    assert_problem(
        send("application/pdf", b"%PDF-1.7 not allowed here".to_vec()),
        415,
        "unsupported_media_type",
    );

    let mp = "multipart/form-data; boundary=B0UND";
    assert_eq!(
        send(
            mp,
            multipart(&[("a.csv", b"x,y\n1,2\n"), ("b.xlsx", b"PK\x03\x04..")])
        )
        .status(),
        200
    );
    let resp = send(mp, multipart(&[("a.csv", b"x,y\n"), ("payroll.csv", &exe)]));
    let body = assert_problem(resp, 415, "unsupported_media_type");
    assert!(body["detail"].as_str().unwrap().contains("payroll.csv"));
    assert_eq!(up.hits(), 3, "only the allowed uploads reached the app");
}
