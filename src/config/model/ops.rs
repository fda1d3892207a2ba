//! Operational sections: health dependencies, the rate-limit store, logging.

use super::super::units::ConfigDuration;
use super::{millis, secs};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct Health {
    /// `/readyz` answers 503 while a breaker is open (default false: an outage every replica
    /// shares must not take every replica out of the Service, or no fallback is ever served).
    pub unready_when_breaker_open: bool,
    pub dependencies: Vec<Dependency>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Dependency {
    pub name: String,
    #[serde(default)]
    pub http: Option<String>,
    #[serde(default)]
    pub tcp: Option<String>,
    #[serde(default)]
    pub critical: bool,
    #[serde(default = "default_dependency_interval")]
    pub interval: ConfigDuration,
    #[serde(default = "default_dependency_timeout")]
    pub timeout: ConfigDuration,
}
fn default_dependency_interval() -> ConfigDuration {
    secs(10)
}
fn default_dependency_timeout() -> ConfigDuration {
    secs(2)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Memory,
    Redis,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RateLimitStore {
    pub kind: StoreKind,
    pub max_keys: usize,
    pub redis: Option<RedisStore>,
}

impl Default for RateLimitStore {
    fn default() -> Self {
        RateLimitStore {
            kind: StoreKind::Memory,
            max_keys: 100_000,
            redis: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    #[default]
    Allow,
    Deny,
}

/// Where the shared rate-limit state lives: exactly one of `url` (one node), `cluster`
/// (seed nodes of a Redis Cluster) or `sentinel` (a master found through sentinels).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RedisStore {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel: Option<Sentinel>,
    /// The password of every node (with `sentinel`: of the sentinels and the master; a
    /// password in the sentinels' URLs is used for the master too). Not allowed together
    /// with a password inside a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default = "default_redis_timeout")]
    pub timeout: ConfigDuration,
    #[serde(default)]
    pub on_error: OnError,
    /// Extension: the first part of every key, so several apps can share one Redis.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}
/// `rate_limit_store.redis.sentinel`: the monitored master's name and the sentinels.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Sentinel {
    pub master: String,
    pub nodes: Vec<String>,
}

fn default_key_prefix() -> String {
    "rampart".into()
}
fn default_redis_timeout() -> ConfigDuration {
    millis(50)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

/// `tracing:` — trace context Rampart starts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Tracing {
    /// The trace-flags of new traceparents: `01` (true, default) or `00`.
    pub sampled: bool,
}

impl Default for Tracing {
    fn default() -> Self {
        Tracing { sampled: true }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Logging {
    pub format: LogFormat,
    pub level: String,
    pub access_log: bool,
    pub redact_headers: Vec<String>,
}

impl Default for Logging {
    fn default() -> Self {
        Logging {
            format: LogFormat::Json,
            level: "info".into(),
            access_log: true,
            redact_headers: vec!["authorization".into(), "cookie".into(), "x-api-key".into()],
        }
    }
}
