//! SPEC 0.3 "Every rule, every protocol", the rules after the head: IP rules, CORS, rate
//! limits, uploads, 404/405, security headers and problem bodies answer the same over
//! HTTP/1.1, h2c and h2 over TLS (one helper, `tests/common/proto.rs`). The head rules,
//! bodies read ahead, forwarded headers and the breaker are in `tests/every_protocol.rs`.
mod common;
use common::proto::{Proto, Served};
use common::*;

const ROUTES: &str = concat!(
    "  - { name: denied, match: { path_prefix: /denied }, upstream: app, deny_ips: [127.0.0.0/8] }\n",
    "  - { name: limited, match: { path_prefix: /limited }, upstream: app, rate_limit: [{ rate: 1/minute, key: global }] }\n",
    "  - { name: uploads, match: { path_prefix: /upload }, upstream: app, max_body_bytes: 1MiB, uploads: { allow: [csv] } }\n",
    "  - { name: reads, match: { path_prefix: /reads, methods: [GET] }, upstream: app }\n",
    "  - { name: default, match: { path_prefix: /api }, upstream: app }",
);

fn serve(proto: Proto, up: &RecordingUpstream) -> Served {
    let yaml = config(up.addr, ROUTES).replace(
        "routes:\n",
        "cors:\n  allow_origins: [https://app.example.com]\n  allow_methods: [GET, POST]\nroutes:\n",
    );
    proto.start(&yaml, &[])
}

#[test]
fn ip_rules_rate_limits_and_routing_refuse_alike() {
    for proto in Proto::ALL {
        let up = RecordingUpstream::start();
        let p = serve(proto, &up);
        p.get("/denied").assert_problem(403, "forbidden");
        assert_eq!(p.get("/limited").status, 200, "{proto:?}");
        let limited = p.get("/limited");
        limited.assert_problem(429, "rate_limited");
        assert!(limited.header("retry-after").is_some(), "{proto:?}");
        assert!(limited.header("ratelimit-policy").is_some(), "{proto:?}");
        p.get("/nowhere").assert_problem(404, "not_found");
        let wrong = p.send("/reads", &["-X", "POST", "--data-binary", "x"]);
        wrong.assert_problem(405, "method_not_allowed");
        assert_eq!(wrong.header("allow"), Some("GET, HEAD"), "{proto:?}");
        assert_eq!(
            up.hits(),
            1,
            "{proto:?}: only the first /limited reached the app"
        );
    }
}

#[test]
fn cors_answers_preflights_and_decorates_answers_alike() {
    for proto in Proto::ALL {
        let up = RecordingUpstream::start();
        let p = serve(proto, &up);
        let origin = "origin: https://app.example.com";
        let preflight = p.send(
            "/api/x",
            &[
                "-X",
                "OPTIONS",
                "-H",
                origin,
                "-H",
                "access-control-request-method: POST",
            ],
        );
        assert_eq!(preflight.status, 204, "{proto:?}");
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            Some("https://app.example.com"),
            "{proto:?}"
        );
        assert_eq!(up.hits(), 0, "{proto:?}: a preflight is never forwarded");
        let actual = p.send("/api/x", &["-H", origin]);
        assert_eq!(actual.status, 200, "{proto:?}");
        assert_eq!(
            actual.header("access-control-allow-origin"),
            Some("https://app.example.com"),
            "{proto:?}"
        );
        // A refusal carries them too, so the browser shows the problem to the page.
        let refused = p.send("/denied", &["-H", origin]);
        refused.assert_problem(403, "forbidden");
        assert!(
            refused.header("access-control-allow-origin").is_some(),
            "{proto:?}"
        );
        let stranger = p.send("/api/x", &["-H", "origin: https://evil.example"]);
        assert!(
            stranger.header("access-control-allow-origin").is_none(),
            "{proto:?}"
        );
    }
}

#[test]
fn uploads_are_sniffed_alike() {
    for proto in Proto::ALL {
        let up = RecordingUpstream::start();
        let p = serve(proto, &up);
        let csv = p.send(
            "/upload",
            &[
                "-H",
                "content-type: text/csv",
                "--data-binary",
                "id,name\n1,a\n",
            ],
        );
        assert_eq!(csv.status, 200, "{proto:?}: {csv:?}");
        assert_eq!(up.last().body, b"id,name\n1,a\n", "{proto:?}");
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("tool.csv");
        std::fs::write(&exe, b"MZ\x90\x00\x03\x00\x00\x00\x04\x00").expect("write");
        let exe = format!("@{}", exe.display());
        p.send(
            "/upload",
            &["-H", "content-type: text/csv", "--data-binary", &exe],
        )
        .assert_problem(415, "unsupported_media_type");
        assert_eq!(
            up.hits(),
            1,
            "{proto:?}: the executable never reached the app"
        );
    }
}

#[test]
fn security_headers_on_every_answer_alike() {
    for proto in Proto::ALL {
        let up = RecordingUpstream::start();
        let p = serve(proto, &up);
        for answer in [p.get("/api/x"), p.get("/nowhere"), p.get("/denied")] {
            assert_eq!(
                answer.header("x-content-type-options"),
                Some("nosniff"),
                "{proto:?}"
            );
            assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{proto:?}");
            assert!(
                answer.header("strict-transport-security").is_some(),
                "{proto:?}"
            );
            assert!(answer.header("server").is_none(), "{proto:?}: no banner");
            assert!(answer.header("x-request-id").is_some(), "{proto:?}");
        }
        let logged = p
            .wait_for_log(|l| l.contains("\"path\":\"/denied\""))
            .expect("the refusal is logged");
        assert!(
            logged.contains("\"code\":\"forbidden\""),
            "{proto:?}: {logged}"
        );
    }
}
