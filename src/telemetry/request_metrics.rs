//! The per-request metrics (`rampart_requests_total`, `rampart_request_duration_seconds`,
//! `rampart_upstream_request_duration_seconds`, `rampart_request_bytes_total`,
//! `rampart_response_bytes_total`) through cached label handles.
//!
//! `with_label_values` hashes every label string and takes the family's lock on each call;
//! three families a request cost ~1 µs in the pinned benchmark. The handles of each
//! (route, method, status) and each upstream are resolved once and then found by a 64-bit
//! key under a read lock. Label values stay bounded (config names, methods, statuses), and
//! so does the cache.

use crate::hashing::IdentityHasher;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{PoisonError, RwLock};

/// Beyond this many label sets, handles are looked up the slow way instead of cached.
const MAX_CACHED: usize = 4096;

pub struct RequestMetrics {
    requests_total: IntCounterVec,
    request_duration: HistogramVec,
    upstream_duration: HistogramVec,
    /// Request and response bytes, by route.
    bytes: [IntCounterVec; 2],
    requests: RwLock<HashMap<u64, RequestHandles, Keyed>>,
    upstreams: RwLock<HashMap<u64, (Box<str>, Histogram), Keyed>>,
}

struct RequestHandles {
    route: Box<str>,
    method: &'static str,
    status: u16,
    count: IntCounter,
    duration: Histogram,
    bytes_in: IntCounter,
    bytes_out: IntCounter,
}

/// What one request adds to the per-request families.
pub struct Answered<'a> {
    pub route: &'a str,
    pub method: &'static str,
    pub status: u16,
    pub secs: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl RequestHandles {
    fn add(&self, a: &Answered<'_>) {
        self.count.inc();
        self.duration.observe(a.secs);
        self.bytes_in.inc_by(a.bytes_in);
        self.bytes_out.inc_by(a.bytes_out);
    }
}

type Keyed = IdentityHasher;

fn key(parts: impl Hash) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

impl RequestMetrics {
    /// Over the three families (handles to the registered ones).
    pub fn new(
        requests_total: IntCounterVec,
        request_duration: HistogramVec,
        upstream_duration: HistogramVec,
        bytes: [IntCounterVec; 2],
    ) -> RequestMetrics {
        RequestMetrics {
            requests_total,
            request_duration,
            upstream_duration,
            bytes,
            requests: RwLock::default(),
            upstreams: RwLock::default(),
        }
    }

    /// Counts one answered request, its bytes, and observes its duration.
    pub fn request(&self, a: &Answered<'_>) {
        let (route, method, status) = (a.route, a.method, a.status);
        let k = key((route, method, status));
        {
            let cache = self.requests.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(h) = cache.get(&k) {
                if &*h.route == route && h.method == method && h.status == status {
                    h.add(a);
                    return;
                }
            }
        }
        let handles = RequestHandles {
            route: route.into(),
            method,
            status,
            count: self
                .requests_total
                .with_label_values(&[route, method, &status_label(status)]),
            duration: self.request_duration.with_label_values(&[route]),
            bytes_in: self.bytes[0].with_label_values(&[route]),
            bytes_out: self.bytes[1].with_label_values(&[route]),
        };
        handles.add(a);
        let mut cache = self
            .requests
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() < MAX_CACHED {
            cache.entry(k).or_insert(handles);
        }
    }

    /// Observes the app's time to answer.
    pub fn upstream(&self, upstream: &str, secs: f64) {
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
        let h = self.upstream_duration.with_label_values(&[upstream]);
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

/// The `method` label: known methods by name, anything else as `OTHER` (bounded cardinality).
pub fn method_label(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// The `status` label without allocating for the statuses every route sees.
pub fn status_label(status: u16) -> std::borrow::Cow<'static, str> {
    const COMMON: [(u16, &str); 14] = [
        (200, "200"),
        (201, "201"),
        (204, "204"),
        (301, "301"),
        (302, "302"),
        (304, "304"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    match COMMON.iter().find(|(s, _)| *s == status) {
        Some((_, label)) => std::borrow::Cow::Borrowed(label),
        None => std::borrow::Cow::Owned(status.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::Answered;

    fn answered(route: &'static str, method: &'static str, status: u16) -> Answered<'static> {
        Answered {
            route,
            method,
            status,
            secs: 0.01,
            bytes_in: 100,
            bytes_out: 1000,
        }
    }

    #[test]
    fn cached_handles_count_like_direct_ones() {
        let m = crate::telemetry::metrics::Metrics::new().unwrap();
        let cache = &m.per_request;
        for _ in 0..3 {
            cache.request(&answered("api", "GET", 200));
        }
        cache.request(&answered("api", "POST", 200));
        cache.request(&answered("", "GET", 404));
        cache.upstream("app", 0.02);
        cache.upstream("app", 0.02);
        let count = |labels: &[&str]| m.requests_total.with_label_values(labels).get();
        assert_eq!(count(&["api", "GET", "200"]), 3);
        assert_eq!(count(&["api", "POST", "200"]), 1);
        assert_eq!(count(&["", "GET", "404"]), 1);
        let hist = m.request_duration.with_label_values(&["api"]);
        assert_eq!(hist.get_sample_count(), 4);
        let up = m.upstream_request_duration.with_label_values(&["app"]);
        assert_eq!(up.get_sample_count(), 2);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            text.contains("rampart_request_bytes_total{route=\"api\"} 400"),
            "{text}"
        );
        assert!(
            text.contains("rampart_response_bytes_total{route=\"api\"} 4000"),
            "{text}"
        );
    }
}
