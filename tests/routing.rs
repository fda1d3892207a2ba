//! Routes: first match, path / prefix / regex / methods / host, 404 and 405, normalization.
mod common;
use common::*;

const ROUTES: &str = r#"  - { name: health, match: { path: /health }, upstream: app }
  - { name: hooks, match: { path_prefix: /webhooks, methods: [POST] }, upstream: app }
  - { name: tenant, match: { path_prefix: /tenant, host: api.example.com }, upstream: app }
  - { name: items, match: { path_regex: "^/v[0-9]+/items$", methods: [GET, PUT] }, upstream: app }
  - { name: admin, match: { path_prefix: /admin, methods: [GET] }, upstream: app }"#;

#[test]
fn first_match_by_path_prefix_regex_and_host() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, ROUTES));
    let c = client();
    assert_eq!(c.get(p.url("/health")).send().unwrap().status(), 200);
    assert_eq!(
        c.post(p.url("/webhooks/whatsapp"))
            .body("{}")
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(c.get(p.url("/v2/items")).send().unwrap().status(), 200);
    assert_eq!(
        c.get(p.url("/tenant/1"))
            .header("host", "API.example.com")
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(up.hits(), 4);
    let seen: Vec<String> = up.seen().iter().map(|s| s.uri.clone()).collect();
    assert_eq!(
        seen,
        vec!["/health", "/webhooks/whatsapp", "/v2/items", "/tenant/1"]
    );
    // Each went through its own route, as the metrics say.
    for route in ["health", "hooks", "items", "tenant"] {
        let sel = format!("rampart_request_duration_seconds_count{{route=\"{route}\"}}");
        assert_eq!(metric(&p, &sel), Some(1.0), "{sel}");
    }
}

#[test]
fn no_route_is_404_and_never_forwarded() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, ROUTES));
    let c = client();
    assert_problem(c.get(p.url("/nothing")).send().unwrap(), 404, "not_found");
    // Host mismatch: the tenant route does not match another host.
    assert_problem(
        c.get(p.url("/tenant/1"))
            .header("host", "evil.example.com")
            .send()
            .unwrap(),
        404,
        "not_found",
    );
    // Prefix respects segment boundaries.
    assert_problem(c.get(p.url("/healthz")).send().unwrap(), 404, "not_found");
    assert_eq!(up.hits(), 0);
    assert_eq!(
        metric(
            &p,
            "rampart_rejections_total{code=\"not_found\",route=\"\"}"
        ),
        Some(3.0)
    );
}

#[test]
fn wrong_method_is_405_with_allow() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, ROUTES));
    let c = client();
    let resp = c.get(p.url("/webhooks/x")).send().unwrap();
    let allow = resp.headers()["allow"].to_str().unwrap().to_string();
    assert_problem(resp, 405, "method_not_allowed");
    assert_eq!(allow, "POST");
    let resp = c.delete(p.url("/v1/items")).send().unwrap();
    assert_eq!(resp.headers()["allow"], "GET, HEAD, PUT");
    assert_problem(resp, 405, "method_not_allowed");
    // HEAD is allowed wherever GET is.
    assert_eq!(c.head(p.url("/admin/x")).send().unwrap().status(), 200);
    assert_eq!(up.hits(), 1);
}

#[test]
fn normalized_path_is_matched_and_forwarded() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, ROUTES));
    // `/%61dmin` is `/admin`: a DELETE must hit the admin route's 405, not slip past it.
    let answer = raw(
        p.addr,
        b"DELETE /%61dmin/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw_status(&answer), 405, "{answer}");
    let answer = raw(
        p.addr,
        b"GET /health/../admin//x?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw_status(&answer), 200, "{answer}");
    assert_eq!(
        up.last().uri,
        "/admin/x?q=1",
        "the app sees the path that was matched"
    );
    assert_eq!(up.hits(), 1);
}
