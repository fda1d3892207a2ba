//! `rate_limit_store.kind: redis`: the same GCRA limits, their state in Redis shared by every
//! replica, so N replicas together allow the configured rate (not N times it). Redis is one
//! node (`url`), a Redis Cluster (`cluster`) or a master found through Sentinel (`sentinel`):
//! see `backend`.
//!
//! `sharing: exact` limits: one Lua script per request checks every exact limit of the route
//! atomically and spends one request from each only when all allow it. `sharing: leased`
//! limits: a lease of the key's budget is taken and spent locally (`lease`). When Redis fails
//! or is slower than `timeout`, `on_error` decides (`allow`: the request passes unlimited;
//! `deny`: 429), and for the next second requests are decided that way at once instead of
//! each waiting out the timeout.
//!
//! On a cluster, the keys of one route's decision must share a slot: they carry a hash tag,
//! the route's name, plus the key's value when every limit of the route counts by the same
//! kind of key (a per-client limit then spreads over the whole cluster).

pub mod backend;
pub mod scripts;

use super::lease::{Leases, Step};
use super::{ip_key, query_value, RouteLimit, Verdict};
use crate::config::model::{OnError, RateKey, RedisStore};
use backend::Backend;
use scripts::{parse_exact, parse_lease, Grant};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long requests skip Redis after it failed.
const BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within the store's timeout")]
    Timeout,
    #[error("redis failed less than a second ago; not asked")]
    Backoff,
    #[error("unexpected reply from the rate-limit script")]
    Reply,
}

/// What a leased limit decided, and whether the store was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leased {
    pub verdict: Verdict,
    /// A lease was granted by this call.
    pub granted: bool,
    /// Unspent requests of an expired lease went back with this call.
    pub returned: bool,
}

pub struct SharedLimits {
    backend: Backend,
    exact: redis::Script,
    lease: redis::Script,
    timeout: Duration,
    pub on_error: OnError,
    prefix: String,
    /// Keys carry a hash tag (a cluster).
    tagged: bool,
    settings: (RedisStore, usize),
    leases: Leases,
    epoch: Instant,
    /// Milliseconds after `epoch` before which Redis is not asked (it just failed).
    skip_until_ms: AtomicU64,
    // Last: dropped after the connections that run on it.
    _runtime: StoreRuntime,
}

/// The runtime that drives this store's Redis connections: Pingora runs one runtime per
/// thread; the connections' I/O lives here and requests on any of them talk to it through
/// channels. Owned by the store (no process-wide runtime), shut down in the background when
/// the store goes (a plain drop inside another runtime would panic).
struct StoreRuntime(Option<tokio::runtime::Runtime>);

impl StoreRuntime {
    fn new() -> Result<StoreRuntime, String> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rampart-redis")
            .enable_all()
            .build()
            .map(|rt| StoreRuntime(Some(rt)))
            .map_err(|e| e.to_string())
    }
}

impl Drop for StoreRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl SharedLimits {
    /// Prepares the connections (made on first use and remade after failures); `max_keys`
    /// bounds the leases held.
    pub fn new(cfg: &RedisStore, max_keys: usize) -> Result<SharedLimits, String> {
        let timeout = cfg.timeout.0;
        let runtime = StoreRuntime::new()?;
        let backend = {
            let Some(rt) = runtime.0.as_ref() else {
                return Err("no runtime for the Redis connection".into());
            };
            let _inside = rt.enter();
            Backend::open(cfg, timeout)?
        };
        Ok(SharedLimits {
            backend,
            exact: redis::Script::new(scripts::EXACT),
            lease: redis::Script::new(scripts::LEASE),
            timeout,
            on_error: cfg.on_error,
            prefix: cfg.key_prefix.clone(),
            tagged: cfg.cluster.is_some(),
            settings: (cfg.clone(), max_keys),
            leases: Leases::new(max_keys),
            epoch: Instant::now(),
            skip_until_ms: AtomicU64::new(0),
            _runtime: runtime,
        })
    }

    /// Whether `cfg` describes this same store (a reload then keeps the connection).
    pub fn same_settings(&self, cfg: &RedisStore, max_keys: usize) -> bool {
        self.settings.0 == *cfg && self.settings.1 == max_keys
    }

    /// The Redis key of a request for the route's `index`-th limit. Values of headers and
    /// query parameters are hashed (SHA-1): keys stay short and identical on every replica.
    /// `same_kind`: every limit of the route counts by the same kind of key.
    #[allow(clippy::too_many_arguments)]
    pub fn key<'h>(
        &self,
        route: &str,
        index: usize,
        limit: &RouteLimit,
        same_kind: bool,
        client_ip: IpAddr,
        header: impl Fn(&str) -> Option<&'h [u8]>,
        query: Option<&str>,
    ) -> String {
        let value = match limit.key_kind() {
            RateKey::Global => "global".to_string(),
            RateKey::ClientIp => format!("ip:{:x}", ip_key(client_ip)),
            RateKey::Header(name) => hashed("h", header(name)),
            RateKey::Query(name) => hashed(
                "q",
                query_value(query.unwrap_or(""), name).map(str::as_bytes),
            ),
        };
        match (self.tagged, same_kind) {
            (false, _) => format!("{}:rl:{route}:{index}:{value}", self.prefix),
            (true, true) => format!("{}:rl:{{{route}:{value}}}:{index}", self.prefix),
            (true, false) => format!("{}:rl:{{{route}}}:{index}:{value}", self.prefix),
        }
    }

    /// Counts one request against the given exact limits: all allow it and each is spent,
    /// or none is spent and the verdicts say which refused.
    pub async fn check(&self, calls: &[(String, &RouteLimit)]) -> Result<Vec<Verdict>, StoreError> {
        let mut call = self.exact.prepare_invoke();
        for (key, limit) in calls {
            call.key(key).arg(period_micros(limit)).arg(limit.burst);
        }
        let reply = self.invoke(&call).await?;
        parse_exact(&reply, calls.len()).ok_or(StoreError::Reply)
    }

    /// Counts one request against a leased limit: from the lease held, or from a new one.
    pub async fn leased(&self, key: &str, limit: &RouteLimit) -> Result<Leased, StoreError> {
        let terms = limit.lease_terms();
        let (want, give_back) = match self.leases.take(key, terms, self.now()) {
            Step::Spent(verdict) | Step::Refused(verdict) => {
                return Ok(Leased {
                    verdict,
                    granted: false,
                    returned: false,
                })
            }
            Step::Ask { want, give_back } => (want, give_back),
        };
        let mut call = self.lease.prepare_invoke();
        call.key(key)
            .arg(period_micros(limit))
            .arg(limit.burst)
            .arg(want)
            .arg(give_back);
        let reply = self.invoke(&call).await?;
        let grant = parse_lease(&reply).ok_or(StoreError::Reply)?;
        Ok(Leased {
            verdict: self.leases.answered(key, terms, self.now(), grant),
            granted: matches!(grant, Grant::Some { .. }),
            returned: give_back > 0,
        })
    }

    /// Puts back a request spent from a lease (another limit refused the request).
    pub fn refund(&self, key: &str) {
        self.leases.refund(key);
    }

    /// Forgets idle leases (housekeeping).
    pub fn evict_idle(&self) {
        self.leases.evict_idle(self.now());
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// One script call, bounded by the timeout, skipped for a second after a failure.
    async fn invoke(&self, call: &redis::ScriptInvocation<'_>) -> Result<Vec<i64>, StoreError> {
        let now_ms = u64::try_from(self.now().as_millis()).unwrap_or(u64::MAX);
        if now_ms < self.skip_until_ms.load(Ordering::Relaxed) {
            return Err(StoreError::Backoff);
        }
        let result = match tokio::time::timeout(self.timeout, self.backend.invoke(call)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(StoreError::Redis(e)),
            Err(_) => {
                self.backend.timed_out();
                Err(StoreError::Timeout)
            }
        };
        if result.is_err() {
            let until = now_ms.saturating_add(BACKOFF.as_millis() as u64);
            self.skip_until_ms.store(until, Ordering::Relaxed);
        }
        result
    }
}

fn period_micros(limit: &RouteLimit) -> u64 {
    u64::try_from(limit.period().as_micros().max(1)).unwrap_or(u64::MAX)
}

fn hashed(kind: &str, value: Option<&[u8]>) -> String {
    match value {
        // Requests without the value share one bucket, never unlimited.
        None => format!("{kind}:-"),
        Some(v) => format!("{kind}:{}", sha1_smol::Sha1::from(v).digest()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_never_hold_raw_values() {
        assert_eq!(hashed("h", None), "h:-");
        let a = hashed("h", Some(b"secret-api-key"));
        assert_eq!(a, hashed("h", Some(b"secret-api-key")));
        assert!(!a.contains("secret"));
        assert_eq!(a.len(), 2 + 40);
    }
}
