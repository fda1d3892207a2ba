//! `rate_limit_store.kind: redis`: replicas share one budget, a refusal spends nothing,
//! and `on_error` decides while Redis is away.
mod common;
use common::*;
use std::net::SocketAddr;

fn with_store(upstream: SocketAddr, url: &str, on_error: &str, limits: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  threads: 2\n\
upstreams:\n  app:\n    endpoints: [\"{upstream}\"]\n\
routes:\n  - {{ name: api, match: {{ path_prefix: / }}, upstream: app, rate_limit: [{limits}] }}\n\
rate_limit_store:\n  kind: redis\n  redis: {{ url: \"{url}\", timeout: 200ms, on_error: {on_error} }}\n"
    )
}

#[test]
fn two_replicas_share_one_budget() {
    let redis = RedisServer::start();
    let up = RecordingUpstream::start();
    let yaml = with_store(
        up.addr,
        &redis.url(),
        "deny",
        "{ rate: 4/minute, key: client_ip }",
    );
    let replicas = [start(&yaml), start(&yaml)];
    let c = client();
    // Alternating between the replicas, the four requests come out of one budget.
    for (n, remaining) in [3, 2, 1, 0].into_iter().enumerate() {
        let resp = c.get(replicas[n % 2].url("/x")).send().unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["ratelimit-policy"], "\"api\";q=4;w=60");
        let rl = resp.headers()["ratelimit"].to_str().unwrap().to_string();
        assert!(rl.starts_with(&format!("\"api\";r={remaining};t=")), "{rl}");
    }
    for p in &replicas {
        let resp = c.get(p.url("/x")).send().unwrap();
        let retry: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1..=15).contains(&retry),
            "one request back every 15 s: {retry}"
        );
        let body = assert_problem(resp, 429, "rate_limited");
        assert_eq!(body["detail"], "limit 4/minute on route api");
    }
    assert_eq!(up.hits(), 4);
}

#[test]
fn all_limits_must_pass_and_a_refusal_spends_none_of_them() {
    let redis = RedisServer::start();
    let up = RecordingUpstream::start();
    let p = start(&with_store(
        up.addr,
        &redis.url(),
        "deny",
        "{ rate: 2/minute, key: \"header:X-Key\" }, { rate: 3/minute, key: global }",
    ));
    let c = client();
    let get = |key: &str| c.get(p.url("/x")).header("x-key", key).send().unwrap();
    assert_eq!(get("a").status(), 200);
    let second = get("a");
    assert_eq!(second.status(), 200);
    // The tightest limit is reported: "a" has 0 left of 2, the route 1 of 3.
    assert!(second.headers()["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"api\";r=0;"));
    // "a" is out: refused by the first limit, and the global one is not spent...
    assert_problem(get("a"), 429, "rate_limited");
    // ...so "b" still gets the global budget's last request, and "c" meets the global limit.
    assert_eq!(get("b").status(), 200);
    let refused = get("c");
    assert!(refused.headers()["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"api.2\";r=0;"));
    assert_problem(refused, 429, "rate_limited");
    assert_eq!(up.hits(), 3);
}

#[test]
fn redis_away_with_on_error_deny_refuses() {
    let (socket, _dir) = RedisServer::unused_socket();
    let up = RecordingUpstream::start();
    let url = format!("unix://{}", socket.display());
    let p = start(&with_store(
        up.addr,
        &url,
        "deny",
        "{ rate: 100/second, key: global }",
    ));
    let resp = client().get(p.url("/x")).send().unwrap();
    assert_eq!(resp.headers()["retry-after"], "1");
    let body = assert_problem(resp, 429, "rate_limited");
    assert_eq!(
        body["detail"],
        "the rate-limit store is unavailable and on_error is deny"
    );
    assert_eq!(up.hits(), 0);
    assert_eq!(
        metric(&p, "rampart_rate_limit_store_errors_total{route=\"api\"}"),
        Some(1.0)
    );
}

#[test]
fn redis_away_with_on_error_allow_passes_then_limits_again_once_it_is_back() {
    let (socket, dir) = RedisServer::unused_socket();
    let up = RecordingUpstream::start();
    let url = format!("unix://{}", socket.display());
    let p = start(&with_store(
        up.addr,
        &url,
        "allow",
        "{ rate: 1/minute, key: global }",
    ));
    let c = client();
    for _ in 0..3 {
        let resp = c.get(p.url("/x")).send().unwrap();
        assert_eq!(resp.status(), 200, "unlimited while the store is away");
        assert!(resp.headers().get("ratelimit").is_none());
    }
    assert_eq!(up.hits(), 3);
    let _redis = RedisServer::start_at(socket, dir);
    // Within about a second Rampart asks Redis again: the 1/minute budget applies.
    assert!(eventually(|| {
        let resp = c.get(p.url("/x")).send().unwrap();
        resp.headers().contains_key("ratelimit")
    }));
    assert_problem(c.get(p.url("/x")).send().unwrap(), 429, "rate_limited");
}

/// A reload that points the store at another Redis counts there from then on (a fresh
/// budget); one that leaves the store's settings alone keeps the store, connection and all.
#[test]
fn a_reload_to_another_redis_counts_there() {
    let (first, second) = (RedisServer::start(), RedisServer::start());
    let up = RecordingUpstream::start();
    let limit = "{ rate: 2/minute, key: client_ip }";
    let yaml = |url: &str| with_store(up.addr, url, "deny", limit);
    let p = start(&yaml(&first.url()));
    let c = client();
    let statuses = |n: usize| -> Vec<u16> {
        (0..n)
            .map(|_| c.get(p.url("/x")).send().unwrap().status().as_u16())
            .collect()
    };
    assert_eq!(statuses(3), [200, 200, 429]);
    // Settings unchanged (a route added): the same store, the same spent budget.
    let more = yaml(&first.url()).replace(
        "routes:\n",
        "routes:\n  - { name: other, match: { path_prefix: /other }, upstream: app }\n",
    );
    let connections = || first.info("total_connections_received").unwrap();
    let before = connections();
    p.rewrite_config(&more);
    assert_eq!(p.reload(None).0, 200);
    assert_eq!(statuses(1), [429]);
    // Its connection too: the only new one is redis-cli's own.
    assert_eq!(connections(), before + 1, "the store's connection is kept");
    // Another Redis: its own budget.
    p.rewrite_config(&yaml(&second.url()));
    assert_eq!(p.reload(None).0, 200);
    assert_eq!(statuses(3), [200, 200, 429]);
}
