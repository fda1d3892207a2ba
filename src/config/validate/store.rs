//! `rate_limit_store` and the limits that use it: one backend (`url`, `cluster` or
//! `sentinel`), URLs a Redis client accepts, one place for a password, and `sharing: leased`
//! only where there is a shared store to lease from.

use super::super::model::*;
use super::super::problems::Problems;
use super::super::yaml::{join_index, join_key};

const SCHEMES: [&str; 4] = ["redis://", "rediss://", "redis+unix://", "unix://"];

pub fn store(c: &Config, p: &mut Problems) {
    let s = &c.rate_limit_store;
    if s.max_keys == 0 {
        p.at("rate_limit_store.max_keys", "must be greater than zero");
    }
    match (&s.kind, &s.redis) {
        (StoreKind::Redis, None) => p.at(
            "rate_limit_store",
            "kind: redis needs a `redis:` section with one of url, cluster or sentinel",
        ),
        (_, Some(r)) => redis(r, p),
        _ => {}
    }
    if s.kind == StoreKind::Memory {
        for (i, route) in c.routes.iter().enumerate() {
            for (j, limit) in route.rate_limit.iter().enumerate() {
                if limit.sharing == Sharing::Leased {
                    let path = join_index(&join_key(&join_index("routes", i), "rate_limit"), j);
                    p.at(
                        &join_key(&path, "sharing"),
                        "leased needs rate_limit_store.kind: redis (a memory store has nothing \
                         to lease from; remove it or use the shared store)",
                    );
                }
            }
        }
    }
}

fn redis(r: &RedisStore, p: &mut Problems) {
    let base = "rate_limit_store.redis";
    let chosen = [r.url.is_some(), r.cluster.is_some(), r.sentinel.is_some()];
    match chosen.iter().filter(|c| **c).count() {
        0 => p.at(base, "needs exactly one of url, cluster or sentinel"),
        1 => {}
        _ => p.at(
            base,
            "takes exactly one of url, cluster or sentinel, not several",
        ),
    }
    let mut urls: Vec<(String, &str)> = Vec::new();
    if let Some(url) = &r.url {
        urls.push((join_key(base, "url"), url));
    }
    if let Some(nodes) = &r.cluster {
        let path = join_key(base, "cluster");
        if nodes.is_empty() {
            p.at(&path, "needs at least one seed node");
        }
        for (i, n) in nodes.iter().enumerate() {
            urls.push((join_index(&path, i), n));
        }
    }
    if let Some(sentinel) = &r.sentinel {
        let path = join_key(base, "sentinel");
        if sentinel.master.trim().is_empty() {
            p.at(&join_key(&path, "master"), "must name the monitored master");
        }
        let nodes = join_key(&path, "nodes");
        if sentinel.nodes.is_empty() {
            p.at(&nodes, "needs at least one sentinel");
        }
        for (i, n) in sentinel.nodes.iter().enumerate() {
            urls.push((join_index(&nodes, i), n));
        }
    }
    for (path, url) in &urls {
        check_url(path, url, p);
        if r.password.is_some() && url_has_password(url) {
            p.at(
                path,
                "has a password, and so does rate_limit_store.redis.password: keep one",
            );
        }
    }
    if r.password.as_deref() == Some("") {
        p.at(&join_key(base, "password"), "must not be empty (remove it)");
    }
    if r.timeout.0.is_zero() {
        p.at(&join_key(base, "timeout"), "must be greater than zero");
    }
}

fn check_url(path: &str, url: &str, p: &mut Problems) {
    if !SCHEMES.iter().any(|s| url.starts_with(s)) {
        p.at(
            path,
            format!("expected redis://host:port (or rediss://, unix:///path), got \"{url}\""),
        );
    } else if let Err(e) = redis::Client::open(url) {
        p.at(path, e.to_string());
    }
}

/// Whether a URL carries a password (`redis://:pw@host`, `redis://user:pw@host`).
pub fn url_has_password(url: &str) -> bool {
    url.split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| {
            userinfo
                .split_once(':')
                .is_some_and(|(_, pw)| !pw.is_empty())
        })
}
