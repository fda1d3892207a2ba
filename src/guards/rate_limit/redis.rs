//! `rate_limit_store.kind: redis`: the same GCRA limits, their state in one Redis shared by
//! every replica, so N replicas together allow the configured rate (not N times it).
//!
//! One Lua script per request checks every limit of the route atomically on Redis's clock
//! (`TIME`, so replicas' clocks do not matter) and spends one request from each only when
//! all allow it. Keys expire when their bucket is full again: Redis memory stays bounded
//! without a sweep. When Redis fails or is slower than `timeout`, `on_error` decides
//! (`allow`: the request passes unlimited; `deny`: 429), and for the next second requests
//! are decided that way at once instead of each waiting out the timeout.

use super::{ceil_secs, ip_key, query_value, RouteLimit, Verdict};
use crate::config::model::{OnError, RateKey, RedisStore};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// GCRA over several keys. KEYS: one per limit; ARGV: period (µs) and burst per limit.
/// Reply: `allowed` (1/0), then per limit `ok, a, b`: when ok, remaining and µs to reset;
/// when not, µs until it would allow. Numbers are formatted with %d because Lua would
/// otherwise write a microsecond timestamp in exponent notation, losing precision.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {1}
local tats = {}
for i = 1, #KEYS do
  local period = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local new_tat = tat + period
  local over = new_tat - now - period * burst
  if over > 0 then
    out[1] = 0
    table.insert(out, 0); table.insert(out, over); table.insert(out, 0)
  else
    tats[i] = new_tat
    table.insert(out, 1); table.insert(out, math.floor(-over / period))
    table.insert(out, new_tat - now)
  end
end
if out[1] == 1 then
  for i = 1, #KEYS do
    redis.call('SET', KEYS[i], string.format('%d', tats[i]),
      'PX', math.ceil((tats[i] - now) / 1000))
  end
end
return out
";

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

pub struct SharedLimits {
    manager: ConnectionManager,
    script: redis::Script,
    timeout: Duration,
    pub on_error: OnError,
    prefix: String,
    settings: (String, Duration, String),
    epoch: Instant,
    /// Milliseconds after `epoch` before which Redis is not asked (it just failed).
    skip_until_ms: AtomicU64,
    // Last: dropped after the connection manager that runs on it.
    _runtime: StoreRuntime,
}

/// The runtime that drives this store's Redis connection: Pingora runs one runtime per
/// thread; the connection's I/O lives here and requests on any of them talk to it through
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
    /// Prepares the connection (made on first use and remade after failures).
    pub fn new(cfg: &RedisStore) -> Result<SharedLimits, String> {
        let client = redis::Client::open(cfg.url.as_str()).map_err(|e| e.to_string())?;
        let timeout = cfg.timeout.0;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(BACKOFF);
        let runtime = StoreRuntime::new()?;
        let manager = {
            let Some(rt) = runtime.0.as_ref() else {
                return Err("no runtime for the Redis connection".into());
            };
            let _inside = rt.enter();
            client
                .get_connection_manager_lazy(config)
                .map_err(|e| e.to_string())?
        };
        Ok(SharedLimits {
            manager,
            script: redis::Script::new(GCRA),
            timeout,
            on_error: cfg.on_error,
            prefix: cfg.key_prefix.clone(),
            settings: (cfg.url.clone(), timeout, cfg.key_prefix.clone()),
            epoch: Instant::now(),
            skip_until_ms: AtomicU64::new(0),
            _runtime: runtime,
        })
    }

    /// Whether `cfg` describes this same store (a reload then keeps the connection).
    pub fn same_settings(&self, cfg: &RedisStore) -> bool {
        self.settings == (cfg.url.clone(), cfg.timeout.0, cfg.key_prefix.clone())
            && self.on_error == cfg.on_error
    }

    /// The Redis key of a request for the route's `index`-th limit. Values of headers and
    /// query parameters are hashed (SHA-1): keys stay short and identical on every replica.
    pub fn key<'h>(
        &self,
        route: &str,
        index: usize,
        limit: &RouteLimit,
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
        format!("{}:rl:{route}:{index}:{value}", self.prefix)
    }

    /// Counts one request against every limit of a route: all allow it and each is spent,
    /// or none is spent and the verdicts say which refused.
    pub async fn check(
        &self,
        keys: &[String],
        limits: &[std::sync::Arc<RouteLimit>],
    ) -> Result<Vec<Verdict>, StoreError> {
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        if now_ms < self.skip_until_ms.load(Ordering::Relaxed) {
            return Err(StoreError::Backoff);
        }
        let mut call = self.script.prepare_invoke();
        for (key, limit) in keys.iter().zip(limits) {
            let period = limit.period().as_micros().max(1);
            call.key(key)
                .arg(u64::try_from(period).unwrap_or(u64::MAX))
                .arg(limit.burst);
        }
        let mut conn = self.manager.clone();
        let answer = tokio::time::timeout(self.timeout, call.invoke_async::<Vec<i64>>(&mut conn));
        let result = match answer.await {
            Ok(Ok(reply)) => parse_reply(&reply, keys.len()).ok_or(StoreError::Reply),
            Ok(Err(e)) => Err(StoreError::Redis(e)),
            Err(_) => Err(StoreError::Timeout),
        };
        if result.is_err() {
            let until = now_ms.saturating_add(BACKOFF.as_millis() as u64);
            self.skip_until_ms.store(until, Ordering::Relaxed);
        }
        result
    }
}

fn hashed(kind: &str, value: Option<&[u8]>) -> String {
    match value {
        // Requests without the value share one bucket, never unlimited.
        None => format!("{kind}:-"),
        Some(v) => format!("{kind}:{}", sha1_smol::Sha1::from(v).digest()),
    }
}

/// The script's reply as one verdict per limit.
pub fn parse_reply(reply: &[i64], limits: usize) -> Option<Vec<Verdict>> {
    if reply.len() != 1 + 3 * limits {
        return None;
    }
    let micros = |n: i64| Duration::from_micros(u64::try_from(n.max(0)).unwrap_or(0));
    let verdicts = reply[1..]
        .chunks_exact(3)
        .map(|c| match c[0] {
            1 => Verdict::Allowed {
                remaining: u32::try_from(c[1].max(0)).unwrap_or(u32::MAX),
                reset_secs: ceil_secs(micros(c[2])),
            },
            _ => Verdict::Limited {
                retry_after_secs: ceil_secs(micros(c[1])).max(1),
            },
        })
        .collect();
    Some(verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_verdicts() {
        let v = parse_reply(&[1, 1, 4, 2_500_000, 1, 0, 60_000_000], 2).unwrap();
        assert_eq!(
            v,
            vec![
                Verdict::Allowed {
                    remaining: 4,
                    reset_secs: 3
                },
                Verdict::Allowed {
                    remaining: 0,
                    reset_secs: 60
                },
            ]
        );
        let v = parse_reply(&[0, 1, 2, 1, 0, 1_000_001, 0], 2).unwrap();
        assert_eq!(
            v[1],
            Verdict::Limited {
                retry_after_secs: 2
            }
        );
        // Never "retry after 0 s".
        let v = parse_reply(&[0, 0, 0, 0], 1).unwrap();
        assert_eq!(
            v[0],
            Verdict::Limited {
                retry_after_secs: 1
            }
        );
        assert!(parse_reply(&[1, 1, 2], 1).is_none());
    }

    #[test]
    fn keys_are_stable_and_never_hold_raw_values() {
        assert_eq!(hashed("h", None), "h:-");
        let a = hashed("h", Some(b"secret-api-key"));
        assert_eq!(a, hashed("h", Some(b"secret-api-key")));
        assert!(!a.contains("secret"));
        assert_eq!(a.len(), 2 + 40);
    }
}
