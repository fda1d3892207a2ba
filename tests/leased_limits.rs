//! `sharing: leased`: several Rampart processes spending leases of one key's budget admit
//! at most the stated bound (`burst + floor(T / period) + replicas × lease_max`, where
//! `lease_max = max(1, burst / 10)`), ask Redis far less than once per request, and a
//! request refused by another limit of the route spends nothing of its lease.
mod common;
use common::*;
use std::net::SocketAddr;
use std::time::Instant;

fn with_limits(upstream: SocketAddr, url: &str, limits: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  threads: 2\n\
upstreams:\n  app:\n    endpoints: [\"{upstream}\"]\n\
routes:\n  - {{ name: api, match: {{ path_prefix: / }}, upstream: app, rate_limit: [{limits}] }}\n\
rate_limit_store:\n  kind: redis\n  redis: {{ url: \"{url}\", timeout: 500ms, on_error: deny }}\n"
    )
}

/// Script calls Redis has run so far (EVAL and EVALSHA).
fn script_calls(redis: &RedisServer) -> u64 {
    let out = std::process::Command::new("redis-cli")
        .arg("-s")
        .arg(&redis.socket)
        .args(["info", "commandstats"])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("cmdstat_eval"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn three_replicas_leasing_one_key_admit_at_most_the_stated_bound() {
    const REPLICAS: u64 = 3;
    const BURST: u64 = 100;
    const PERIOD_MS: u64 = 600; // 100/minute
    const LEASE_MAX: u64 = BURST / 10;
    let redis = RedisServer::start();
    let up = RecordingUpstream::start();
    let yaml = with_limits(
        up.addr,
        &redis.url(),
        "{ rate: 100/minute, key: global, sharing: leased }",
    );
    let replicas: Vec<RampartProcess> = (0..REPLICAS).map(|_| start(&yaml)).collect();
    let urls: Vec<String> = replicas.iter().map(|p| p.url("/x")).collect();
    let calls_before = script_calls(&redis);
    let began = Instant::now();
    // Two clients per replica, 100 requests each: 600 requests for a budget of 100.
    let admitted: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let url = &urls[i % urls.len()];
                s.spawn(move || {
                    let c = client();
                    (0..100)
                        .filter(|_| c.get(url).send().unwrap().status() == 200)
                        .count() as u64
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let elapsed_ms = began.elapsed().as_millis() as u64;
    let bound = BURST + elapsed_ms / PERIOD_MS + REPLICAS * LEASE_MAX;
    println!(
        "leased: {admitted} admitted of 600 in {elapsed_ms} ms; bound {bound}; exact bound {}",
        BURST + elapsed_ms / PERIOD_MS
    );
    assert!(admitted <= bound, "{admitted} admitted, bound {bound}");
    // Leases held unspent at the end are the most that can go unused.
    assert!(
        admitted + REPLICAS * LEASE_MAX >= BURST,
        "{admitted} admitted"
    );
    assert_eq!(up.hits() as u64, admitted);
    let calls = script_calls(&redis) - calls_before;
    println!("leased: {calls} Redis script calls for 600 requests");
    assert!(calls * 5 < 600, "{calls} Redis calls for 600 requests");
    let grants: f64 = replicas
        .iter()
        .filter_map(|p| metric(p, "rampart_rate_limit_lease_grants_total{route=\"api\"}"))
        .sum();
    assert!(
        grants >= 1.0 && grants <= calls as f64,
        "{grants} grants, {calls} calls"
    );
}

#[test]
fn a_request_refused_by_an_exact_limit_spends_nothing_of_the_lease() {
    let redis = RedisServer::start();
    let up = RecordingUpstream::start();
    let p = start(&with_limits(
        up.addr,
        &redis.url(),
        "{ rate: 3/minute, key: global, sharing: leased }, \
         { rate: 1/minute, key: \"header:X-Key\" }",
    ));
    let c = client();
    let get = |key: &str| {
        let r = c.get(p.url("/x")).header("x-key", key).send().unwrap();
        r.status().as_u16()
    };
    // "a" twice: the second is refused by its own exact limit; the global request it took
    // from the lease goes back, so "b" and "c" still fit the global 3 and "d" does not.
    let got = [get("a"), get("a"), get("b"), get("c"), get("d")];
    assert_eq!(got, [200, 429, 200, 200, 429]);
    assert_eq!(up.hits(), 3);
}

/// The other way round: a request its lease refuses is not counted against the exact limits,
/// even those listed before it, so it spends none of them.
#[test]
fn a_request_refused_by_its_lease_spends_nothing_of_the_exact_limits() {
    let redis = RedisServer::start();
    let up = RecordingUpstream::start();
    let p = start(&with_limits(
        up.addr,
        &redis.url(),
        "{ rate: 3/minute, key: global }, \
         { rate: 1/minute, key: \"header:X-Key\", sharing: leased }",
    ));
    let c = client();
    let get = |key: &str| {
        let r = c.get(p.url("/x")).header("x-key", key).send().unwrap();
        r.status().as_u16()
    };
    // "a" three times: the lease refuses the last two, which leave the global 3 alone, so
    // "b" and "c" still fit it and "d" does not.
    let got = [get("a"), get("a"), get("a"), get("b"), get("c"), get("d")];
    assert_eq!(got, [200, 429, 429, 200, 200, 429]);
    assert_eq!(up.hits(), 3);
}

#[test]
fn an_unspent_lease_goes_back_to_the_store() {
    let redis = RedisServer::start();
    let up = RecordingUpstream::start();
    // 10/second, burst 20: leases of up to 2; the lease term is one second.
    let p = start(&with_limits(
        up.addr,
        &redis.url(),
        "{ rate: 10/second, burst: 20, key: global, sharing: leased }",
    ));
    let c = client();
    // The first lease is one request, the next two: spend one of those two, then wait
    // past the term; the next request gives the unspent one back.
    for _ in 0..2 {
        assert_eq!(c.get(p.url("/x")).send().unwrap().status(), 200);
    }
    let returns = "rampart_rate_limit_lease_returns_total{route=\"api\"}";
    assert_eq!(metric(&p, returns), None);
    // Not synchronization: the lease term (one second) has to pass for a lease to expire.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(c.get(p.url("/x")).send().unwrap().status(), 200);
    assert_eq!(metric(&p, returns), Some(1.0));
    let grants = "rampart_rate_limit_lease_grants_total{route=\"api\"}";
    assert_eq!(metric(&p, grants), Some(3.0));
}
