//! The file model of SPEC §2: plain serde structs with their defaults.
//!
//! Unknown keys are rejected by the loader (`load.rs` collects every one of them with
//! `serde_ignored`, so a file with three typos reports three errors, not the first).
//! Semantic checks live in `validate.rs`; runtime values are compiled in `policy.rs`.

mod ops;
mod routes;

pub use ops::*;
pub use routes::*;

use super::units::{ByteSize, Cidr, ConfigDuration};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) fn secs(n: u64) -> ConfigDuration {
    ConfigDuration(Duration::from_secs(n))
}
pub(crate) fn millis(n: u64) -> ConfigDuration {
    ConfigDuration(Duration::from_millis(n))
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Config {
    pub server: Server,
    #[serde(default)]
    pub client: Client,
    #[serde(default)]
    pub upstreams: BTreeMap<String, Upstream>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub security_headers: SecurityHeaders,
    #[serde(default)]
    pub cors: Option<Cors>,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub rate_limit_store: RateLimitStore,
    #[serde(default)]
    pub logging: Logging,
    #[serde(default)]
    pub tracing: Tracing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Production,
    Staging,
    Development,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Server {
    pub listen: String,
    pub admin_listen: String,
    #[serde(default)]
    pub threads: Option<usize>,
    #[serde(default)]
    pub environment: Environment,
    #[serde(default)]
    pub admin_token: Option<String>,
    #[serde(default = "default_grace_period")]
    pub grace_period: ConfigDuration,
    #[serde(default)]
    pub tls: Option<Tls>,
    /// Also accept cleartext HTTP/2 (prior knowledge) on `listen`.
    #[serde(default)]
    pub h2c: bool,
    /// Extension: the Unix socket a `--upgrade` process takes the listeners over from.
    #[serde(default = "default_upgrade_sock")]
    pub upgrade_sock: String,
    /// Extension: where the pid is written (for `kill -QUIT` during an upgrade).
    #[serde(default)]
    pub pid_file: Option<String>,
    /// Extension: after SIGTERM, keep accepting this long (with `/readyz` already 503) so
    /// load balancers and Kubernetes stop sending new connections first. Default: 2 s, or
    /// half the grace period when that is shorter.
    #[serde(default)]
    pub shutdown_delay: Option<ConfigDuration>,
    /// Extension: reload when the config file changes (SIGHUP and `POST /-/reload` always work).
    #[serde(default = "default_true")]
    pub watch_config: bool,
}
fn default_true() -> bool {
    true
}

impl Server {
    pub fn shutdown_delay(&self) -> std::time::Duration {
        self.shutdown_delay
            .map_or_else(|| (self.grace_period.0 / 2).min(secs(2).0), |d| d.0)
    }
}
fn default_grace_period() -> ConfigDuration {
    secs(10)
}
fn default_upgrade_sock() -> String {
    "/tmp/rampart_upgrade.sock".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Tls {
    pub cert_file: String,
    pub key_file: String,
    #[serde(default)]
    pub min_version: TlsVersion,
    /// Offer `h2` by ALPN.
    #[serde(default = "default_true")]
    pub http2: bool,
}

/// `server.tls.min_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum TlsVersion {
    #[default]
    #[serde(rename = "1.2")]
    V12,
    #[serde(rename = "1.3")]
    V13,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Client {
    pub trusted_proxies: Vec<Cidr>,
    pub header_timeout: ConfigDuration,
    pub body_timeout: ConfigDuration,
    /// A connection with no request in progress is closed after this: HTTP/1.1 keep-alive
    /// between requests, HTTP/2 with no open stream (GOAWAY, then close).
    pub idle_timeout: ConfigDuration,
    /// A client that accepts no response bytes for this long loses the exchange (NGINX
    /// `send_timeout`): the stream or connection is ended and the app connection released.
    pub send_timeout: ConfigDuration,
    pub max_uri_bytes: ByteSize,
    pub max_header_bytes: ByteSize,
    pub max_headers: usize,
    pub max_body_bytes: ByteSize,
    pub max_requests_per_connection: u32,
    pub max_connections: usize,
    /// Extension: routes whose `max_body_bytes` is at most this have their whole body
    /// read before the app is contacted (so a refused body never reaches it).
    pub buffer_body_bytes: ByteSize,
    pub underscores_in_headers: Underscores,
}

/// `client.underscores_in_headers`: header names with `_` (WSGI servers map `X_Api_Key`
/// and `X-Api-Key` to the same variable, so such a name could pass as another header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Underscores {
    /// As NGINX: such headers never reach the app; the request is served.
    #[default]
    Drop,
    /// 400.
    Reject,
    /// Forwarded as sent.
    Allow,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            trusted_proxies: Vec::new(),
            header_timeout: secs(10),
            body_timeout: secs(30),
            idle_timeout: secs(60),
            send_timeout: secs(60),
            max_uri_bytes: ByteSize(8 << 10),
            max_header_bytes: ByteSize(32 << 10),
            max_headers: 100,
            max_body_bytes: ByteSize(1 << 20),
            max_requests_per_connection: 1000,
            max_connections: 10_000,
            buffer_body_bytes: ByteSize(1 << 20),
            underscores_in_headers: Underscores::Drop,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Upstream {
    pub endpoints: Vec<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: ConfigDuration,
    #[serde(default = "default_read_timeout")]
    pub read_timeout: ConfigDuration,
    #[serde(default = "default_write_timeout")]
    pub write_timeout: ConfigDuration,
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: ConfigDuration,
    #[serde(default)]
    pub max_in_flight: Option<u32>,
    #[serde(default)]
    pub queue: Option<Queue>,
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    #[serde(default)]
    pub circuit_breaker: Option<CircuitBreaker>,
    #[serde(default)]
    pub retry: Option<Retry>,
}
fn default_connect_timeout() -> ConfigDuration {
    secs(5)
}
fn default_read_timeout() -> ConfigDuration {
    secs(30)
}
fn default_write_timeout() -> ConfigDuration {
    secs(10)
}
fn default_idle_timeout() -> ConfigDuration {
    secs(60)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Queue {
    #[serde(default = "default_queue_max")]
    pub max: usize,
    #[serde(default = "default_queue_timeout")]
    pub timeout: ConfigDuration,
}
impl Default for Queue {
    fn default() -> Self {
        Queue {
            max: default_queue_max(),
            timeout: default_queue_timeout(),
        }
    }
}
fn default_queue_max() -> usize {
    256
}
fn default_queue_timeout() -> ConfigDuration {
    secs(2)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HealthCheck {
    #[serde(default = "default_health_path")]
    pub path: String,
    #[serde(default = "default_health_interval")]
    pub interval: ConfigDuration,
    #[serde(default = "default_health_timeout")]
    pub timeout: ConfigDuration,
    #[serde(default = "default_healthy_after")]
    pub healthy_after: u32,
    #[serde(default = "default_unhealthy_after")]
    pub unhealthy_after: u32,
}
fn default_health_path() -> String {
    "/health".into()
}
fn default_health_interval() -> ConfigDuration {
    secs(5)
}
fn default_health_timeout() -> ConfigDuration {
    secs(1)
}
fn default_healthy_after() -> u32 {
    2
}
fn default_unhealthy_after() -> u32 {
    3
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct CircuitBreaker {
    pub consecutive_failures: u32,
    pub failure_ratio: f64,
    pub min_requests: u32,
    pub window: ConfigDuration,
    pub open_for: ConfigDuration,
    pub half_open_requests: u32,
    pub failure_statuses: Vec<u16>,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker {
            consecutive_failures: 5,
            failure_ratio: 0.5,
            min_requests: 20,
            window: secs(30),
            open_for: secs(30),
            half_open_requests: 3,
            failure_statuses: vec![502, 503, 504],
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Retry {
    pub attempts: u32,
    pub backoff: ConfigDuration,
    pub max_backoff: ConfigDuration,
    pub retry_on: Vec<RetryOn>,
    pub budget_ratio: f64,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 2,
            backoff: millis(100),
            max_backoff: secs(1),
            retry_on: vec![
                RetryOn::ConnectFailure,
                RetryOn::Timeout,
                RetryOn::Status(502),
                RetryOn::Status(503),
                RetryOn::Status(504),
            ],
            budget_ratio: 0.2,
        }
    }
}

/// One retry condition: `connect_failure`, `timeout` or a 5xx status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOn {
    ConnectFailure,
    Timeout,
    Status(u16),
}

impl<'de> Deserialize<'de> for RetryOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let bad = || {
            de::Error::custom(format!(
                "expected connect_failure, timeout or a status code 500-599, got {v}"
            ))
        };
        match &v {
            serde_json::Value::String(s) if s == "connect_failure" => Ok(RetryOn::ConnectFailure),
            serde_json::Value::String(s) if s == "timeout" => Ok(RetryOn::Timeout),
            serde_json::Value::Number(n) => match n.as_u64() {
                Some(code @ 500..=599) => Ok(RetryOn::Status(code as u16)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}
