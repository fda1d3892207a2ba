//! Rate limits in front of the app: exact budgets, keys, 429 with the IETF headers, shadow.
mod common;
use common::*;

fn limited(upstream: std::net::SocketAddr, limits: &str, extra: &str) -> String {
    config(upstream, &format!("  - {{ name: limited, match: {{ path_prefix: / }}, upstream: app, rate_limit: [{limits}]{extra} }}"))
}

#[test]
fn a_budget_is_spent_exactly_then_429_with_headers() {
    let up = RecordingUpstream::start();
    let p = start(&limited(up.addr, "{ rate: 3/minute, key: client_ip }", ""));
    let c = client();
    for remaining in [2, 1, 0] {
        let resp = c.get(p.url("/x")).send().unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["ratelimit-policy"], "\"limited\";q=3;w=60");
        let rl = resp.headers()["ratelimit"].to_str().unwrap().to_string();
        assert!(
            rl.starts_with(&format!("\"limited\";r={remaining};t=")),
            "{rl}"
        );
    }
    let resp = c.get(p.url("/x")).send().unwrap();
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=20).contains(&retry),
        "one request comes back every 20 s: {retry}"
    );
    assert_eq!(resp.headers()["ratelimit-policy"], "\"limited\";q=3;w=60");
    assert_eq!(
        resp.headers()["ratelimit"].to_str().unwrap(),
        format!("\"limited\";r=0;t={retry}")
    );
    let body = assert_problem(resp, 429, "rate_limited");
    assert_eq!(body["detail"], "limit 3/minute on route limited");
    assert_eq!(up.hits(), 3);
    assert_eq!(
        metric(
            &p,
            r#"rampart_rejections_total{code="rate_limited",route="limited"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn header_keys_are_independent_and_a_missing_key_is_still_limited() {
    let up = RecordingUpstream::start();
    let p = start(&limited(
        up.addr,
        "{ rate: 1/minute, key: \"header:X-API-Key\" }",
        "",
    ));
    let c = client();
    let with_key = |k: &str| {
        c.get(p.url("/x"))
            .header("x-api-key", k)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(with_key("alice"), 200);
    assert_eq!(with_key("alice"), 429);
    assert_eq!(with_key("bob"), 200);
    assert_eq!(c.get(p.url("/x")).send().unwrap().status(), 200);
    assert_eq!(
        c.get(p.url("/x")).send().unwrap().status(),
        429,
        "requests without the header share one bucket"
    );
    assert_eq!(up.hits(), 3);
}

#[test]
fn clients_behind_a_trusted_proxy_are_limited_one_by_one() {
    let up = RecordingUpstream::start();
    let cfg = limited(up.addr, "{ rate: 1/minute }", "").replace(
        "upstreams:",
        "client:\n  trusted_proxies: [127.0.0.0/8]\nupstreams:",
    );
    let p = start(&cfg);
    let c = client();
    let from = |ip: &str| {
        c.get(p.url("/x"))
            .header("x-forwarded-for", ip)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(from("198.51.100.1"), 200);
    assert_eq!(from("198.51.100.1"), 429);
    assert_eq!(from("198.51.100.2"), 200);
    // One IPv6 /64 is one client.
    assert_eq!(from("2001:db8:0:1::1"), 200);
    assert_eq!(from("2001:db8:0:1::2"), 429);
}

#[test]
fn every_limit_must_pass_and_the_tightest_is_reported() {
    let up = RecordingUpstream::start();
    let p = start(&limited(
        up.addr,
        "{ rate: 100/minute, key: global }, { rate: 2/hour, key: client_ip }",
        "",
    ));
    let c = client();
    let resp = c.get(p.url("/x")).send().unwrap();
    assert_eq!(
        resp.headers()["ratelimit-policy"],
        "\"limited\";q=100;w=60, \"limited.2\";q=2;w=3600"
    );
    assert!(resp.headers()["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"limited.2\";r=1;"));
    assert_eq!(c.get(p.url("/x")).send().unwrap().status(), 200);
    let resp = c.get(p.url("/x")).send().unwrap();
    assert!(resp.headers()["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"limited.2\";r=0;"));
    assert_problem(resp, 429, "rate_limited");
}

#[test]
fn shadow_limits_count_but_never_refuse_and_headers_can_be_off() {
    let up = RecordingUpstream::start();
    let p = start(&limited(
        up.addr,
        "{ rate: 1/minute }",
        ", shadow: true, rate_limit_headers: false",
    ));
    let c = client();
    for _ in 0..3 {
        let resp = c.get(p.url("/x")).send().unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("ratelimit").is_none());
    }
    assert_eq!(up.hits(), 3);
    assert_eq!(
        metric(
            &p,
            r#"rampart_shadow_rejections_total{code="rate_limited",route="limited"}"#
        ),
        Some(2.0)
    );
}
