//! The per-request metrics (`rampart_requests_total`, `rampart_request_duration_seconds`,
//! `rampart_upstream_request_duration_seconds`) through cached label handles.
//!
//! `with_label_values` hashes every label string and takes the family's lock on each call;
//! three families a request cost ~1 µs in the pinned benchmark. The handles of each
//! (route, method, status) and each upstream are resolved once and then found by a 64-bit
//! key under a read lock. Label values stay bounded (config names, methods, statuses), and
//! so does the cache.

use crate::hashing::IdentityHasher;
use crate::metrics::{status_label, Metrics};
use prometheus::{Histogram, IntCounter};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{PoisonError, RwLock};

/// Beyond this many label sets, handles are looked up the slow way instead of cached.
const MAX_CACHED: usize = 4096;

#[derive(Default)]
pub struct RequestMetrics {
    requests: RwLock<HashMap<u64, RequestHandles, Keyed>>,
    upstreams: RwLock<HashMap<u64, (Box<str>, Histogram), Keyed>>,
}

struct RequestHandles {
    route: Box<str>,
    method: &'static str,
    status: u16,
    count: IntCounter,
    duration: Histogram,
}

type Keyed = IdentityHasher;

fn key(parts: impl Hash) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

impl RequestMetrics {
    /// Counts one answered request and observes its duration.
    pub fn request(&self, m: &Metrics, route: &str, method: &'static str, status: u16, secs: f64) {
        let k = key((route, method, status));
        {
            let cache = self.requests.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(h) = cache.get(&k) {
                if &*h.route == route && h.method == method && h.status == status {
                    h.count.inc();
                    h.duration.observe(secs);
                    return;
                }
            }
        }
        let handles = RequestHandles {
            route: route.into(),
            method,
            status,
            count: m
                .requests_total
                .with_label_values(&[route, method, &status_label(status)]),
            duration: m.request_duration.with_label_values(&[route]),
        };
        handles.count.inc();
        handles.duration.observe(secs);
        let mut cache = self
            .requests
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() < MAX_CACHED {
            cache.entry(k).or_insert(handles);
        }
    }

    /// Observes the app's time to answer.
    pub fn upstream(&self, m: &Metrics, upstream: &str, secs: f64) {
        let k = key(upstream);
        {
            let cache = self
                .upstreams
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((name, h)) = cache.get(&k) {
                if &**name == upstream {
                    h.observe(secs);
                    return;
                }
            }
        }
        let h = m.upstream_request_duration.with_label_values(&[upstream]);
        h.observe(secs);
        let mut cache = self
            .upstreams
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() < MAX_CACHED {
            cache.entry(k).or_insert((upstream.into(), h));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_handles_count_like_direct_ones() {
        let m = Metrics::new().unwrap();
        let cache = RequestMetrics::default();
        for _ in 0..3 {
            cache.request(&m, "api", "GET", 200, 0.01);
        }
        cache.request(&m, "api", "POST", 200, 0.01);
        cache.request(&m, "", "GET", 404, 0.01);
        cache.upstream(&m, "app", 0.02);
        cache.upstream(&m, "app", 0.02);
        let count = |labels: &[&str]| m.requests_total.with_label_values(labels).get();
        assert_eq!(count(&["api", "GET", "200"]), 3);
        assert_eq!(count(&["api", "POST", "200"]), 1);
        assert_eq!(count(&["", "GET", "404"]), 1);
        let hist = m.request_duration.with_label_values(&["api"]);
        assert_eq!(hist.get_sample_count(), 4);
        let up = m.upstream_request_duration.with_label_values(&["app"]);
        assert_eq!(up.get_sample_count(), 2);
    }
}
