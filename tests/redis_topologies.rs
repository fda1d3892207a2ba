//! `rate_limit_store.redis.cluster` and `.sentinel` against real servers: limits shared
//! through a 3-master Redis Cluster (a slot migrated and a master killed under traffic) and
//! through a Sentinel-watched master (killed under traffic). While the store changes shape
//! no request gets anything but the limit's answer or `on_error`'s; afterwards limits hold.
mod common;
use common::redis_topologies::{Cluster, SentinelSet, SENTINEL_MASTER};
use common::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn with_backend(upstream: SocketAddr, backend: &str, limits: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  threads: 2\n\
upstreams:\n  app:\n    endpoints: [\"{upstream}\"]\n\
routes:\n  - {{ name: api, match: {{ path_prefix: / }}, upstream: app, rate_limit: [{limits}] }}\n\
rate_limit_store:\n  kind: redis\n  redis: {{ {backend}, timeout: 500ms, on_error: allow }}\n"
    )
}

/// `n` requests with `X-Key: key`, their statuses.
fn statuses(p: &RampartProcess, key: &str, n: usize) -> Vec<u16> {
    let c = client();
    (0..n)
        .map(|_| {
            let r = c.get(p.url("/x")).header("x-key", key).send().unwrap();
            r.status().as_u16()
        })
        .collect()
}

/// A fresh key's budget of 3 a minute holds exactly: three pass, the fourth is refused.
fn assert_limit_holds(p: &RampartProcess, key: &str) {
    assert_eq!(statuses(p, key, 4), [200, 200, 200, 429], "key {key}");
}

/// Sends requests with rotating keys until stopped; returns every status seen.
fn traffic(p: &RampartProcess, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<u16>> {
    let url = p.url("/x");
    std::thread::spawn(move || {
        let c = client();
        let mut seen = Vec::new();
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let key = format!("load-{}", i % 50);
            let r = c.get(&url).header("x-key", key).send().unwrap();
            seen.push(r.status().as_u16());
        }
        seen
    })
}

const LIMIT: &str = "{ rate: 3/minute, key: \"header:X-Key\" }";

#[test]
fn a_cluster_shares_limits_across_replicas_and_follows_a_slot_migration() {
    let cluster = Cluster::start();
    let up = RecordingUpstream::start();
    let yaml = with_backend(up.addr, &cluster.backend(), LIMIT);
    let replicas = [start(&yaml), start(&yaml)];
    // One budget for both replicas.
    let got: Vec<u16> = (0..4)
        .flat_map(|i| statuses(&replicas[i % 2], "shared", 1))
        .collect();
    assert_eq!(got, [200, 200, 200, 429]);

    // A key with two of its three requests spent, then its slot moves to another master
    // while traffic runs: the one request left is still one, served by the new owner.
    assert_eq!(statuses(&replicas[0], "moving", 2), [200, 200]);
    let sha = sha1_hex("moving");
    let slot = cluster.slot(&format!("rampart:rl:{{api:h:{sha}}}:0"));
    let before = cluster.master_of(slot);
    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(&replicas[1], Arc::clone(&stop));
    cluster.migrate_slot(slot);
    assert_eq!(statuses(&replicas[1], "moving", 2), [200, 429]);
    stop.store(true, Ordering::Relaxed);
    let seen = load.join().unwrap();
    assert_ne!(cluster.master_of(slot), before);
    assert!(seen.iter().all(|s| *s == 200 || *s == 429), "{seen:?}");
    for p in &replicas {
        assert_eq!(
            metric(p, "rampart_rate_limit_store_errors_total{route=\"api\"}").unwrap_or(0.0),
            0.0,
            "MOVED and ASK are followed, not errors"
        );
    }
}

/// Limits of different kinds on one route are counted in one atomic call, so their keys
/// must share a slot (the route's hash tag); limits of one kind share the key's own.
#[test]
fn a_cluster_counts_limits_of_different_kinds_together() {
    let cluster = Cluster::start();
    let up = RecordingUpstream::start();
    let limits = format!("{LIMIT}, {{ rate: 100/minute }}");
    let p = start(&with_backend(up.addr, &cluster.backend(), &limits));
    assert_limit_holds(&p, "mixed");
    assert_eq!(
        metric(&p, "rampart_rate_limit_store_errors_total{route=\"api\"}").unwrap_or(0.0),
        0.0,
        "no cross-slot call"
    );
}

#[test]
fn a_cluster_master_killed_under_traffic_fails_over_and_limits_hold_after() {
    let mut cluster = Cluster::start();
    let up = RecordingUpstream::start();
    let yaml = with_backend(up.addr, &cluster.backend(), LIMIT);
    let p = start(&yaml);
    assert_limit_holds(&p, "before");
    let slot = cluster.slot(&format!("rampart:rl:{{api:h:{}}}:0", sha1_hex("after")));
    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(&p, Arc::clone(&stop));
    cluster.kill_master_of(slot);
    // The client learns the new master (after at most a second of on_error while its
    // connection to the dead one fails): requests are counted again, without errors.
    assert!(eventually(|| metric_stable(&p)));
    stop.store(true, Ordering::Relaxed);
    let seen = load.join().unwrap();
    assert!(seen.iter().all(|s| *s == 200 || *s == 429), "{seen:?}");
    // The key's slot is on the promoted replica now: a fresh key is limited exactly.
    assert_limit_holds(&p, "after");
}

/// No store error counted across two reads a moment apart (the client is past failover).
fn metric_stable(p: &RampartProcess) -> bool {
    let read = || metric(p, "rampart_rate_limit_store_errors_total{route=\"api\"}").unwrap_or(0.0);
    let a = read();
    let _ = statuses(p, "stable", 3);
    a == read()
}

#[test]
fn a_sentinel_master_killed_under_traffic_is_followed_to_the_promoted_replica() {
    let mut set = SentinelSet::start();
    let up = RecordingUpstream::start();
    let backend = format!(
        "sentinel: {{ master: {SENTINEL_MASTER}, nodes: [\"{}\"] }}",
        set.sentinel.url()
    );
    let yaml = with_backend(up.addr, &backend, LIMIT);
    let replicas = [start(&yaml), start(&yaml)];
    let got: Vec<u16> = (0..4)
        .flat_map(|i| statuses(&replicas[i % 2], "shared", 1))
        .collect();
    assert_eq!(got, [200, 200, 200, 429]);
    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(&replicas[0], Arc::clone(&stop));
    set.kill_master();
    assert!(eventually(|| metric_stable(&replicas[0])));
    stop.store(true, Ordering::Relaxed);
    let seen = load.join().unwrap();
    assert!(seen.iter().all(|s| *s == 200 || *s == 429), "{seen:?}");
    for p in &replicas {
        assert!(eventually(|| metric_stable(p)));
    }
    // Both replicas now count on the promoted master, together.
    let got: Vec<u16> = (0..4)
        .flat_map(|i| statuses(&replicas[i % 2], "after", 1))
        .collect();
    assert_eq!(got, [200, 200, 200, 429]);
}

fn sha1_hex(v: &str) -> String {
    sha1_smol::Sha1::from(v.as_bytes()).digest().to_string()
}

#[test]
fn a_password_reaches_the_sentinels_and_the_master_and_a_wrong_one_is_a_store_error() {
    let set = SentinelSet::start_with(Some("s3cret-pass"));
    let up = RecordingUpstream::start();
    let backend = |pw: &str| {
        format!(
            "sentinel: {{ master: {SENTINEL_MASTER}, nodes: [\"{}\"] }}, password: {pw}",
            set.sentinel.url()
        )
    };
    let p = start(&with_backend(up.addr, &backend("s3cret-pass"), LIMIT));
    assert!(eventually(
        || statuses(&p, "warm", 1) == [200] && metric_stable(&p)
    ));
    assert_limit_holds(&p, "k");
    // The wrong password: every request is decided by on_error (allow), and counted.
    let wrong = start(&with_backend(up.addr, &backend("not-it"), LIMIT));
    assert_eq!(statuses(&wrong, "k2", 5), [200; 5]);
    assert!(
        metric(
            &wrong,
            "rampart_rate_limit_store_errors_total{route=\"api\"}"
        )
        .unwrap_or(0.0)
            >= 5.0
    );
}
