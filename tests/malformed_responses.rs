//! Malformed responses from the app become 502 `bad_gateway` (SPEC §5): Rampart never passes
//! on a response whose framing the client could read another way.
mod common;
use common::*;

#[test]
fn malformed_app_responses_are_502_bad_gateway() {
    // Found on 0.1: each of these reached the client (`Content-Length: 2, 2` as sent, an
    // `xchunked` body with no length on a keep-alive connection, the raw bytes after an
    // unsolicited 101, a 100 Continue's body).
    let app = FaultyUpstream::start();
    let p = start(&config(app.addr, DEFAULT_ROUTE));
    for path in [
        "/cl-list",
        "/cl-twice",
        "/cl-invalid",
        "/te-xchunked",
        "/unsolicited-101",
        "/continue-with-body",
    ] {
        let answer = raw(
            p.addr,
            format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        );
        assert_eq!(raw_status(&answer), 502, "{path}: {answer}");
        assert_eq!(raw_json(&answer)["code"], "bad_gateway", "{path}: {answer}");
        let lower = answer.to_ascii_lowercase();
        assert!(lower.contains("connection: close"), "{path}: {answer}");
        assert!(
            !answer.contains("RAW BYTES") && !answer.contains("hello"),
            "{path}: {answer}"
        );
        assert_eq!(
            answer.matches("HTTP/1.1 ").count(),
            1,
            "{path}: one answer: {answer}"
        );
    }
}

#[test]
fn a_well_formed_response_after_them_is_served() {
    let app = FaultyUpstream::start();
    let p = start(&config(app.addr, DEFAULT_ROUTE));
    let c = client();
    assert_eq!(c.get(p.url("/cl-list")).send().unwrap().status(), 502);
    let ok = c.get(p.url("/fine")).send().unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().unwrap(), "ok");
}
