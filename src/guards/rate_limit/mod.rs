//! Keyed rate limits (GCRA, `governor`): keys, verdicts and the IETF RateLimit headers.
//!
//! Over any window T a key gets at most `burst + floor(T / period)` requests, where
//! `period = per / count` (`60/minute` -> one request per second). The clock is a type
//! parameter: production uses governor's default (quanta) clock, tests its fake clock.

pub mod compile;
pub mod decide;
pub mod feature;
pub mod lease;
pub mod redis;

use crate::config::model::{RateKey, Sharing};
use crate::config::units::{enforceable, Rate};
use crate::hashing::IdentityHasher;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// What a request is counted under: a 64-bit keyed hash of the key's kind and value.
/// Storing the hash instead of the value keeps an entry at 16 bytes (1,000,000 clients in
/// tens of MiB); the hasher's random per-process key makes collisions unforgeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitKey(u64);

/// The kinds of key, hashed together with the value so that no two kinds collide.
#[derive(Hash)]
enum KeyPart<'a> {
    Global,
    /// The request had no value for the key (no such header or query parameter): all such
    /// requests share this one bucket, never unlimited.
    Missing,
    /// Used while the key table is full: all new traffic shares one bucket.
    Overflow,
    /// IPv4 addresses, and IPv6 addresses grouped by /64.
    Ip(u128),
    Value(&'a [u8]),
}

type Keyed<C> = RateLimiter<
    LimitKey,
    DashMapStateStore<LimitKey, IdentityHasher>,
    C,
    StateInformationMiddleware,
>;

/// One `rate_limit` entry of a route, with its own key table.
pub struct RouteLimit<C: Clock = DefaultClock> {
    limiter: Keyed<C>,
    hasher: std::collections::hash_map::RandomState,
    key: RateKey,
    pub count: u32,
    pub window: Duration,
    pub burst: u32,
    max_keys: usize,
    /// How the shared store counts it (memory ignores it).
    pub sharing: Sharing,
}

/// The outcome of one limit for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed { remaining: u32, reset_secs: u64 },
    Limited { retry_after_secs: u64 },
}

pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl<C: Clock> RouteLimit<C> {
    pub fn new(
        rate: Rate,
        burst: Option<u32>,
        key: RateKey,
        max_keys: usize,
        clock: C,
    ) -> Option<Self> {
        let count = rate.count.max(1);
        let burst = burst.unwrap_or(count).max(1);
        let period = rate.per / count;
        if enforceable(rate, Some(burst)).is_err() {
            return None;
        }
        let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst)?);
        Some(RouteLimit {
            limiter: RateLimiter::dashmap_with_clock_and_hasher(
                quota,
                clock,
                IdentityHasher::default(),
            )
            .with_middleware::<StateInformationMiddleware>(),
            hasher: std::collections::hash_map::RandomState::new(),
            key,
            count,
            window: rate.per,
            burst,
            max_keys: max_keys.max(1),
            sharing: Sharing::Exact,
        })
    }

    /// The same limit (quota, key, table size) counted on `clock`, with empty buckets:
    /// `replay` runs a compiled policy's limits on the log's virtual clock.
    pub fn with_clock<C2: Clock>(&self, clock: C2) -> Option<RouteLimit<C2>> {
        let rate = Rate {
            count: self.count,
            per: self.window,
        };
        RouteLimit::new(
            rate,
            Some(self.burst),
            self.key.clone(),
            self.max_keys,
            clock,
        )
        .map(|l| l.shared_as(self.sharing))
    }

    /// The same limit, shared through the store as `sharing` says.
    pub fn shared_as(mut self, sharing: Sharing) -> Self {
        self.sharing = sharing;
        self
    }

    /// The lease arithmetic's view of this limit.
    pub fn lease_terms(&self) -> lease::Terms {
        lease::Terms {
            period: self.period(),
            burst: self.burst,
            window: self.window,
        }
    }

    /// The key of a request: its client address, a header or query value, or the route.
    pub fn key_for<'h>(
        &self,
        client_ip: IpAddr,
        header: impl Fn(&str) -> Option<&'h [u8]>,
        query: Option<&str>,
    ) -> LimitKey {
        match &self.key {
            RateKey::Global => self.hash(KeyPart::Global),
            RateKey::ClientIp => self.hash(KeyPart::Ip(ip_key(client_ip))),
            RateKey::Header(name) => {
                self.hash(header(name).map_or(KeyPart::Missing, KeyPart::Value))
            }
            RateKey::Query(name) => self.hash(
                query_value(query.unwrap_or(""), name)
                    .map_or(KeyPart::Missing, |v| KeyPart::Value(v.as_bytes())),
            ),
        }
    }

    fn hash(&self, part: KeyPart) -> LimitKey {
        use std::hash::BuildHasher;
        LimitKey(self.hasher.hash_one(part))
    }

    /// The key of a client address (benchmarks and tests).
    pub fn ip_key(&self, ip: IpAddr) -> LimitKey {
        self.hash(KeyPart::Ip(ip_key(ip)))
    }

    /// Counts one request for `key`.
    pub fn check(&self, key: LimitKey) -> Verdict {
        // A full table sends every request to the shared overflow bucket until the idle
        // keys are evicted: memory stays bounded and nothing goes unlimited.
        let key = if self.limiter.len() >= self.max_keys {
            self.hash(KeyPart::Overflow)
        } else {
            key
        };
        match self.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = self.burst.saturating_sub(remaining);
                let reset = self.window.checked_div(self.count).unwrap_or_default() * used;
                Verdict::Allowed {
                    remaining,
                    reset_secs: ceil_secs(reset),
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                Verdict::Limited {
                    retry_after_secs: ceil_secs(wait).max(1),
                }
            }
        }
    }

    /// Whether `other` counts the same way (then this one's buckets can carry over).
    pub fn same_settings(&self, other: &Self) -> bool {
        self.key == other.key
            && self.count == other.count
            && self.window == other.window
            && self.burst == other.burst
            && self.max_keys == other.max_keys
            && self.sharing == other.sharing
    }

    /// What requests are counted by.
    pub fn key_kind(&self) -> &RateKey {
        &self.key
    }

    /// The time one request's allowance takes to come back (`window / count`).
    pub fn period(&self) -> Duration {
        self.window.checked_div(self.count).unwrap_or_default()
    }

    /// Keys currently tracked.
    pub fn tracked_keys(&self) -> usize {
        self.limiter.len()
    }

    /// Forgets keys whose bucket is full again (they are indistinguishable from new ones)
    /// and gives the memory back.
    pub fn evict_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// `RateLimit-Policy` for this limit: `"<route>";q=<count>;w=<window seconds>`.
    pub fn policy_header(&self, route: &str) -> String {
        format!("\"{route}\";q={};w={}", self.count, self.window.as_secs())
    }
}

/// IPv4 as itself; IPv6 by its /64 (one customer's network, as most ISPs assign).
pub(crate) fn ip_key(ip: IpAddr) -> u128 {
    match super::forwarded::canonical(ip) {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6) & !((1u128 << 64) - 1) | 1,
    }
}

pub(crate) fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The name of a route's i-th limit in the RateLimit headers: the route, then `route.2`, ...
pub fn limit_name(route: &str, i: usize) -> String {
    LimitName(route, i).to_string()
}

/// `limit_name`, written straight into a header value being built.
pub struct LimitName<'a>(pub &'a str, pub usize);

impl std::fmt::Display for LimitName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            0 => f.write_str(self.0),
            i => write!(f, "{}.{}", self.0, i + 1),
        }
    }
}

#[cfg(test)]
#[path = "rate_limit_tests.rs"]
mod tests;
