//! A route's `rate_limit:` list compiled into limiters, carrying the buckets of unchanged
//! limits over from the previous policy (a reload must never refill anyone's budget), and
//! the shared Redis store kept when its settings did not change.

use super::redis::SharedLimits;
use super::{limit_name, RouteLimit};
use crate::config::model::{RateLimit, RedisStore};
use http::HeaderValue;
use std::sync::Arc;

/// A route's piece of rate limiting: its limits, their `RateLimit-Policy` header, and
/// whether passing requests are told `RateLimit` (`rate_limit_headers`).
#[derive(Default)]
pub struct RouteLimits {
    pub limits: Vec<Arc<RouteLimit>>,
    pub policy_header: Option<HeaderValue>,
    pub headers_on_success: bool,
}

/// `previous`: the same-named route's limits in the running policy.
pub fn route_limits(
    route: &str,
    configured: &[RateLimit],
    headers_on_success: bool,
    max_keys: usize,
    previous: &[Arc<RouteLimit>],
) -> Result<RouteLimits, String> {
    let mut limits = Vec::with_capacity(configured.len());
    for (i, l) in configured.iter().enumerate() {
        let clock = governor::clock::DefaultClock::default();
        let fresh = RouteLimit::new(l.rate, l.burst, l.key.clone(), max_keys, clock)
            .ok_or_else(|| format!("rate_limit[{i}]: rate too fine for a quota"))?
            .shared_as(l.sharing);
        // Same route, same position, same settings: keep the buckets.
        limits.push(match previous.get(i) {
            Some(old) if old.same_settings(&fresh) => Arc::clone(old),
            _ => Arc::new(fresh),
        });
    }
    let policy_header = (!limits.is_empty())
        .then(|| {
            let parts: Vec<String> = limits
                .iter()
                .enumerate()
                .map(|(i, l)| l.policy_header(&limit_name(route, i)))
                .collect();
            HeaderValue::from_str(&parts.join(", ")).ok()
        })
        .flatten();
    Ok(RouteLimits {
        limits,
        policy_header,
        headers_on_success,
    })
}

/// The Redis store: the running one when `cfg` describes it (its connection is kept).
pub fn shared_store(
    cfg: &RedisStore,
    max_keys: usize,
    previous: Option<&Arc<SharedLimits>>,
) -> Result<Arc<SharedLimits>, String> {
    match previous {
        Some(old) if old.same_settings(cfg, max_keys) => Ok(Arc::clone(old)),
        _ => SharedLimits::new(cfg, max_keys).map(Arc::new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{RateKey, Sharing};
    use crate::config::units::parse_rate;

    fn configured(rate: &str) -> Vec<RateLimit> {
        vec![RateLimit {
            rate: parse_rate(rate).unwrap(),
            burst: None,
            key: RateKey::ClientIp,
            sharing: Sharing::Exact,
        }]
    }

    /// A reload keeps a limit's buckets when it is unchanged, and only then.
    #[test]
    fn unchanged_limits_keep_their_buckets_across_a_reload() {
        let first = route_limits("api", &configured("10/minute"), true, 100, &[]).unwrap();
        assert_eq!(
            first.policy_header.as_ref().map(|h| h.to_str().unwrap()),
            Some("\"api\";q=10;w=60")
        );
        let same = route_limits("api", &configured("10/minute"), true, 100, &first.limits).unwrap();
        assert!(Arc::ptr_eq(&first.limits[0], &same.limits[0]));
        let changed =
            route_limits("api", &configured("20/minute"), true, 100, &first.limits).unwrap();
        assert!(!Arc::ptr_eq(&first.limits[0], &changed.limits[0]));
        let none = route_limits("api", &[], false, 100, &first.limits).unwrap();
        assert!(none.limits.is_empty() && none.policy_header.is_none());
    }
}
