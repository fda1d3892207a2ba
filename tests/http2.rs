//! HTTP/2 (SPEC §2 `server.tls.http2`, `server.h2c`): offered by ALPN on TLS and, when
//! configured, as cleartext prior knowledge; every rule applies to h2 requests as to
//! HTTP/1.1 (found on 0.1: no ALPN h2, and h2c got an HTTP/1.1 400). The app stays HTTP/1.1.
mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// One curl exchange: (HTTP version, status, headers in lower case, body).
struct Answer {
    version: String,
    status: u16,
    headers: String,
    body: String,
}

fn curl(url: &str, args: &[&str]) -> Answer {
    let out = Command::new("curl")
        .args([
            "-sk",
            "-D",
            "-",
            "--max-time",
            "20",
            "-w",
            "\n%{http_version} %{http_code}",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (rest, last) = text.rsplit_once('\n').unwrap_or(("", ""));
    let mut parts = last.split(' ');
    let version = parts.next().unwrap_or("").to_string();
    let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let (headers, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
    Answer {
        version,
        status,
        headers: headers.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

const ROUTES: &str = "  - name: limited\n    match: { path_prefix: /limited }\n    upstream: app\n    rate_limit: [{ rate: 1/minute, key: global }]\n  - name: items\n    match: { path_prefix: /items }\n    upstream: app\n    max_body_bytes: 1KiB\n    json_schema: item.json\n  - { name: down, match: { path_prefix: /down }, upstream: gone }\n  - { name: app, match: { path_prefix: /status }, upstream: app }";

fn h2_yaml(up: std::net::SocketAddr, dir: &Path, tls: bool) -> String {
    let listener = if tls {
        let (cert, key) = self_signed(dir, "h2");
        format!(
            "  tls:\n    cert_file: {}\n    key_file: {}\n",
            cert.display(),
            key.display()
        )
    } else {
        "  h2c: true\n".to_string()
    };
    config(up, ROUTES)
        .replace(
            "  environment: development\n",
            &format!("  environment: development\n{listener}"),
        )
        .replace(
            "routes:",
            "  gone:\n    endpoints: [\"127.0.0.1:1\"]\ncors:\n  allow_origins: [https://app.example.com]\n  allow_methods: [GET, POST]\nroutes:",
        )
}

const SCHEMA: &str =
    r#"{"type":"object","required":["qty"],"properties":{"qty":{"type":"integer"}}}"#;

fn every_rule_applies(base: &str, h2: &[&str]) {
    let get = |path: &str, extra: &[&str]| curl(&format!("{base}{path}"), &[h2, extra].concat());
    let ok = get("/status/200", &[]);
    assert_eq!(
        (ok.version.as_str(), ok.status),
        ("2", 200),
        "{}",
        ok.headers
    );
    assert!(
        ok.headers.contains("x-content-type-options: nosniff"),
        "{}",
        ok.headers
    );
    assert!(ok.headers.contains("x-request-id:"));

    let missing = get("/nowhere", &[]);
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("\"code\":\"not_found\""),
        "{}",
        missing.body
    );

    assert_eq!(get("/limited", &[]).status, 200);
    let limited = get("/limited", &[]);
    assert_eq!(limited.status, 429);
    assert!(
        limited.headers.contains("retry-after:") && limited.headers.contains("ratelimit-policy:")
    );

    let big = "x".repeat(4096);
    let too_large = get(
        "/items",
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            &big,
        ],
    );
    assert_eq!(too_large.status, 413, "{}", too_large.body);
    let invalid = get(
        "/items",
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            "{\"qty\":\"many\"}",
        ],
    );
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    let valid = get(
        "/items",
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            "{\"qty\":3}",
        ],
    );
    assert_eq!(valid.status, 200, "{}", valid.body);

    let preflight = get(
        "/items",
        &[
            "-X",
            "OPTIONS",
            "-H",
            "origin: https://app.example.com",
            "-H",
            "access-control-request-method: POST",
        ],
    );
    assert_eq!(preflight.status, 204);
    assert!(preflight
        .headers
        .contains("access-control-allow-origin: https://app.example.com"));

    let down = get("/down", &[]);
    assert_eq!(down.status, 502);
    assert!(down.body.contains("upstream_unavailable"), "{}", down.body);
}

#[test]
fn h2_over_tls_by_alpn_with_every_rule() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let p = start_with_files(
        &h2_yaml(up.addr, dir.path(), true),
        &[("item.json", SCHEMA)],
    );
    every_rule_applies(
        &format!("https://localhost:{}", p.addr.port()),
        &["--http2"],
    );
    assert_eq!(
        up.last().body,
        b"{\"qty\":3}".to_vec(),
        "the app got the body read ahead"
    );
    // HTTP/1.1 clients are still served on the same listener.
    let h1 = curl(
        &format!("https://localhost:{}/status/200", p.addr.port()),
        &["--http1.1"],
    );
    assert_eq!((h1.version.as_str(), h1.status), ("1.1", 200));
    let logged = p
        .wait_for_log(|l| l.contains("\"path\":\"/nowhere\""))
        .expect("logged");
    assert!(logged.contains("\"status\":404"), "{logged}");
}

#[test]
fn h2c_prior_knowledge_when_configured() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let p = start_with_files(
        &h2_yaml(up.addr, dir.path(), false),
        &[("item.json", SCHEMA)],
    );
    every_rule_applies(
        &format!("http://127.0.0.1:{}", p.addr.port()),
        &["--http2-prior-knowledge"],
    );
    // HTTP/1.1 on the same cleartext listener.
    let h1 = curl(
        &format!("http://127.0.0.1:{}/status/200", p.addr.port()),
        &[],
    );
    assert_eq!((h1.version.as_str(), h1.status), ("1.1", 200));
}
