//! Security headers on every response path, banner removal, modes and per-route overrides.
mod common;
use common::*;
use std::net::SocketAddr;

const DEFAULTS: [(&str, &str); 8] = [
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "permissions-policy",
        "geolocation=(), camera=(), microphone=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// A status and its lower-case header pairs.
type Head = (u16, Vec<(String, String)>);

/// Parses the head of a raw HTTP/1.1 answer.
fn parse_head(answer: &str) -> Head {
    let head = answer.split("\r\n\r\n").next().unwrap_or("");
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (raw_status(answer), headers)
}

fn assert_hardened(what: &str, status: u16, headers: &[(String, String)]) {
    for (name, value) in DEFAULTS {
        let got: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(got, vec![value], "{what} ({status}): {name}");
    }
    for banner in ["server", "x-powered-by"] {
        assert!(
            headers.iter().all(|(n, _)| n != banner),
            "{what} ({status}) leaks {banner}"
        );
    }
}

fn get(addr: SocketAddr, request: &str) -> Head {
    parse_head(&raw(addr, request.as_bytes()))
}

#[test]
fn every_response_path_carries_the_headers() {
    let up = RecordingUpstream::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n\
upstreams:\n  app:\n    endpoints: [\"{}\"]\n    read_timeout: 300ms\n    max_in_flight: 1\n    queue: {{ max: 0 }}\n  \
dead:\n    endpoints: [\"{dead}\"]\n    circuit_breaker: {{ consecutive_failures: 1, open_for: 1h }}\n\
routes:\n  - {{ name: limited, match: {{ path: /limited }}, upstream: app, rate_limit: [{{ rate: 1/hour }}] }}\n  \
- {{ name: small, match: {{ path: /small }}, upstream: app, max_body_bytes: 10 }}\n  \
- {{ name: get-only, match: {{ path: /get-only, methods: [GET] }}, upstream: app }}\n  \
- {{ name: dead, match: {{ path_prefix: /dead }}, upstream: dead }}\n  \
- {{ name: api, match: {{ path_regex: '^/(x|app-headers|status|delay)' }}, upstream: app }}\n",
        up.addr
    );
    let p = start(&yaml);
    let a = p.addr;
    let h = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut cases: Vec<(&str, Head)> = vec![
        ("proxied", get(a, &h("/x"))),
        ("app error", get(a, &h("/status/500"))),
        ("no route", get(a, &h("/nowhere"))),
        ("method", get(a, "DELETE /get-only HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")),
        ("body too large", get(a, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n")),
        ("bad framing (listener)", get(a, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")),
        ("head too large (listener)", get(a, &format!("GET /x HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(40_000)))),
        ("upstream timeout", get(a, &h("/delay/2000"))),
        ("connect refused", get(a, &h("/dead"))),
        ("circuit open", get(a, &h("/dead"))),
    ];
    get(a, &h("/limited"));
    cases.push(("rate limited", get(a, &h("/limited"))));
    let statuses: Vec<u16> = cases.iter().map(|(_, (s, _))| *s).collect();
    assert_eq!(
        statuses,
        vec![200, 500, 404, 405, 413, 400, 431, 504, 502, 503, 429],
        "each path produced the answer it stands for"
    );
    for (what, (status, headers)) in &cases {
        assert_hardened(what, *status, headers);
    }
    for path in ["/livez", "/readyz", "/health", "/metrics", "/nope"] {
        let (status, headers) = get(p.admin, &h(path));
        assert_hardened(&format!("admin {path}"), status, &headers);
    }
}

fn one_route(upstream: SocketAddr, top: &str, route_extra: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n\
upstreams:\n  app:\n    endpoints: [\"{upstream}\"]\n\
routes:\n  - {{ name: docs, match: {{ path_prefix: /docs }}, upstream: app{route_extra} }}\n  \
- {{ name: api, match: {{ path_prefix: / }}, upstream: app }}\n{top}"
    )
}

#[test]
fn set_if_missing_keeps_the_apps_csp_override_replaces_it_banners_always_go() {
    let up = RecordingUpstream::start();
    let p = start(&one_route(up.addr, "", ""));
    let (_, headers) = get(
        p.addr,
        "GET /app-headers HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let value =
        |hs: &[(String, String)], n: &str| hs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(
        value(&headers, "content-security-policy").as_deref(),
        Some("default-src 'self'")
    );
    assert_eq!(value(&headers, "server"), None);
    assert_eq!(value(&headers, "x-powered-by"), None);
    assert_eq!(value(&headers, "x-debug-token").as_deref(), Some("abc"));

    let top =
        "security_headers:\n  mode: override\n  x_frame_options: null\n  remove: [X-Debug-Token]\n";
    let p = start(&one_route(up.addr, top, ""));
    let (_, headers) = get(
        p.addr,
        "GET /app-headers HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        value(&headers, "content-security-policy").as_deref(),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    assert_eq!(value(&headers, "x-frame-options"), None, "null sends none");
    assert_eq!(value(&headers, "x-debug-token"), None, "removed");
}

#[test]
fn a_route_can_loosen_its_csp() {
    let up = RecordingUpstream::start();
    let extra =
        ", headers: { content_security_policy: \"default-src 'self'; img-src *\", mode: override }";
    let p = start(&one_route(up.addr, "", extra));
    let c = client();
    let docs = c.get(p.url("/docs/index")).send().unwrap();
    assert_eq!(
        docs.headers()["content-security-policy"],
        "default-src 'self'; img-src *"
    );
    assert_eq!(docs.headers()["x-frame-options"], "DENY");
    let api = c.get(p.url("/api")).send().unwrap();
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
}

#[test]
fn an_invalid_header_value_is_a_config_error_with_its_line() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rampart.yaml");
    std::fs::write(
        &file,
        one_route(up.addr, "security_headers:\n  referrer_policy: \"\"\n", ""),
    )
    .unwrap();
    let out = std::process::Command::new(rampart_bin())
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":11:20: security_headers.referrer_policy:"),
        "{err}"
    );
}
