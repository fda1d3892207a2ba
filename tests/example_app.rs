//! End to end with the bundled legacy Flask app (examples/legacy_app) behind Rampart.
mod common;
use common::*;
use std::process::Command;

fn start_app() -> Listening {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/legacy_app/app.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(python);
    cmd.args([script, "--port", "0"]);
    spawn_listening(cmd, "the example app needs Flask: run ./test")
}

fn rampart_for(app: &Listening) -> RampartProcess {
    let routes = r#"  - { name: health, match: { path: /health, methods: [GET] }, upstream: app }
  - { name: slow, match: { path: /api/slow }, upstream: app, timeout: 500ms }
  - { name: api, match: { path_prefix: /api }, upstream: app }"#;
    start(&config(app.addr, routes))
}

#[test]
fn the_legacy_app_works_behind_rampart() {
    let app = start_app();
    let p = rampart_for(&app);
    let c = client();

    let health: serde_json::Value = c.get(p.url("/health")).send().unwrap().json().unwrap();
    assert_eq!(health["status"], "ok");

    let resp = c
        .post(p.url("/api/messages"))
        .json(&serde_json::json!({"from": "+100", "text": "hello there"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("server").is_none(),
        "Werkzeug's banner is removed"
    );
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["intent"], "greeting");

    let upload: Vec<u8> = (0..200_000u32).map(|i| (i % 256) as u8).collect();
    let body: serde_json::Value = c
        .post(p.url("/api/datasets"))
        .header("content-type", "application/octet-stream")
        .body(upload)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["bytes"], 200_000);

    let who: serde_json::Value = c
        .get(p.url("/api/whoami"))
        .header("x-request-id", "e2e-1")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(who["X-Request-Id"], "e2e-1");
    assert_eq!(who["X-Forwarded-For"], "127.0.0.1");
    assert_eq!(who["X-Forwarded-Proto"], "http");
    assert_eq!(who["traceparent"].as_str().map(str::len), Some(55));

    // The unmatched path never reaches the app.
    assert_problem(c.get(p.url("/secret")).send().unwrap(), 404, "not_found");
}

#[test]
fn failures_of_the_app_are_reported_truthfully() {
    let app = start_app();
    let p = rampart_for(&app);
    let c = client();
    assert_eq!(
        c.get(p.url("/api/fail?status=500"))
            .send()
            .unwrap()
            .status(),
        500
    );
    c.post(p.url("/api/chaos"))
        .json(&serde_json::json!({"fail": true, "status": 503}))
        .send()
        .unwrap();
    assert_eq!(c.get(p.url("/api/items")).send().unwrap().status(), 503);
    c.post(p.url("/api/chaos"))
        .json(&serde_json::json!({"fail": false}))
        .send()
        .unwrap();
    assert_eq!(c.get(p.url("/api/items")).send().unwrap().status(), 200);
    // Slower than the route's 500ms budget.
    assert_problem(
        c.get(p.url("/api/slow?seconds=3")).send().unwrap(),
        504,
        "upstream_timeout",
    );
    drop(app);
    // The app is gone: connecting fails.
    assert_problem(
        c.get(p.url("/api/items")).send().unwrap(),
        502,
        "upstream_unavailable",
    );
}

#[test]
fn the_breaker_opens_while_the_app_fails_on_demand_and_closes_after() {
    let app = start_app();
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n\
upstreams:\n  app:\n    endpoints: [\"{}\"]\n    \
circuit_breaker: {{ consecutive_failures: 3, open_for: 500ms, half_open_requests: 1 }}\n\
routes:\n  - {{ name: api, match: {{ path_prefix: /api }}, upstream: app, \
fallback: {{ status: 200, body: '{{\"items\":[]}}' }} }}\n",
        app.addr
    );
    let p = start(&yaml);
    let c = client();
    assert_eq!(c.get(p.url("/api/items")).send().unwrap().status(), 200);
    // Chaos on: the app answers 503 to /api/items.
    let on = c
        .post(p.url("/api/chaos"))
        .json(&serde_json::json!({"fail": true, "status": 503}))
        .send()
        .unwrap();
    assert_eq!(on.status(), 200);
    for _ in 0..3 {
        assert_eq!(c.get(p.url("/api/items")).send().unwrap().status(), 503);
    }
    // Open: the route's fallback answers; the app is left alone.
    let degraded = c.get(p.url("/api/items")).send().unwrap();
    assert_eq!(degraded.status(), 200);
    assert_eq!(degraded.text().unwrap(), "{\"items\":[]}");
    // Chaos off (the breaker is open, so this waits for a trial slot like any request).
    assert!(eventually(|| {
        c.post(p.url("/api/chaos"))
            .json(&serde_json::json!({"fail": false}))
            .send()
            .unwrap()
            .text()
            .unwrap()
            .contains("\"fail\":false")
    }));
    assert!(eventually(|| {
        metric(&p, "rampart_circuit_breaker_state{upstream=\"app\"}") == Some(0.0)
    }));
    // Closed again: the app's real answer, not the fallback.
    let items: serde_json::Value = c.get(p.url("/api/items")).send().unwrap().json().unwrap();
    assert_eq!(items["items"][0]["name"], "widget");
}
