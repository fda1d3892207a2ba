//! The file model of SPEC §2: plain serde structs with their defaults.
//!
//! Unknown keys are rejected by the loader (`load.rs` collects every one of them with
//! `serde_ignored`, so a file with three typos reports three errors, not the first).
//! Semantic checks live in `validate.rs`; runtime values are compiled in `policy.rs`.

use super::units::{ByteSize, Cidr, ConfigDuration, Rate};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

fn secs(n: u64) -> ConfigDuration {
    ConfigDuration(Duration::from_secs(n))
}
fn millis(n: u64) -> ConfigDuration {
    ConfigDuration(Duration::from_millis(n))
}

#[derive(Debug, Clone, Deserialize)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Production,
    Staging,
    Development,
}

#[derive(Debug, Clone, Deserialize)]
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
    /// Extension: the Unix socket a `--upgrade` process takes the listeners over from.
    #[serde(default = "default_upgrade_sock")]
    pub upgrade_sock: String,
    /// Extension: where the pid is written (for `kill -QUIT` during an upgrade).
    #[serde(default)]
    pub pid_file: Option<String>,
}
fn default_grace_period() -> ConfigDuration {
    secs(10)
}
fn default_upgrade_sock() -> String {
    "/tmp/rampart_upgrade.sock".into()
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tls {
    pub cert_file: String,
    pub key_file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Client {
    pub trusted_proxies: Vec<Cidr>,
    pub header_timeout: ConfigDuration,
    pub body_timeout: ConfigDuration,
    pub max_uri_bytes: ByteSize,
    pub max_header_bytes: ByteSize,
    pub max_headers: usize,
    pub max_body_bytes: ByteSize,
    pub max_requests_per_connection: u32,
    pub max_connections: usize,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            trusted_proxies: Vec::new(),
            header_timeout: secs(10),
            body_timeout: secs(30),
            max_uri_bytes: ByteSize(8 << 10),
            max_header_bytes: ByteSize(32 << 10),
            max_headers: 100,
            max_body_bytes: ByteSize(1 << 20),
            max_requests_per_connection: 1000,
            max_connections: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
pub struct Queue {
    #[serde(default = "default_queue_max")]
    pub max: usize,
    #[serde(default = "default_queue_timeout")]
    pub timeout: ConfigDuration,
}
fn default_queue_max() -> usize {
    256
}
fn default_queue_timeout() -> ConfigDuration {
    secs(2)
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    pub name: String,
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    pub upstream: String,
    #[serde(default)]
    pub rate_limit: Vec<RateLimit>,
    #[serde(default)]
    pub max_body_bytes: Option<ByteSize>,
    #[serde(default)]
    pub content_types: Option<Vec<String>>,
    #[serde(default)]
    pub json_schema: Option<String>,
    #[serde(default)]
    pub timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub allow_ips: Option<Vec<Cidr>>,
    #[serde(default)]
    pub deny_ips: Vec<Cidr>,
    #[serde(default)]
    pub shadow: bool,
    #[serde(default)]
    pub fallback: Option<Fallback>,
    #[serde(default)]
    pub headers: Option<SecurityHeaders>,
    #[serde(default)]
    pub cors: Option<Cors>,
    #[serde(default)]
    pub uploads: Option<Uploads>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RouteMatch {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub path_regex: Option<String>,
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    #[serde(default)]
    pub host: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimit {
    pub rate: Rate,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub key: RateKey,
}

/// What a rate limit counts by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RateKey {
    #[default]
    ClientIp,
    Global,
    Header(String),
    Query(String),
}

impl<'de> Deserialize<'de> for RateKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bad = || {
            de::Error::custom(format!(
                "expected client_ip, global, header:<Name> or query:<name>, got \"{s}\""
            ))
        };
        match s.as_str() {
            "client_ip" => Ok(RateKey::ClientIp),
            "global" => Ok(RateKey::Global),
            _ => match s.split_once(':') {
                Some(("header", name)) if !name.trim().is_empty() => {
                    Ok(RateKey::Header(name.trim().to_string()))
                }
                Some(("query", name)) if !name.trim().is_empty() => {
                    Ok(RateKey::Query(name.trim().to_string()))
                }
                _ => Err(bad()),
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Fallback {
    #[serde(default = "default_fallback_status")]
    pub status: u16,
    #[serde(default = "default_fallback_content_type")]
    pub content_type: String,
    #[serde(default)]
    pub body: String,
}
fn default_fallback_status() -> u16 {
    200
}
fn default_fallback_content_type() -> String {
    "application/json".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadKind {
    Xlsx,
    Xls,
    Docx,
    Doc,
    Zip,
    Csv,
    Txt,
    Pdf,
    Png,
    Jpeg,
    Gif,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Uploads {
    pub allow: Vec<UploadKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HeaderMode {
    #[default]
    SetIfMissing,
    Override,
}

/// A security header's setting: absent (use the default), `null` (send none) or a value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HeaderSetting {
    #[default]
    Default,
    Off,
    Value(String),
}

impl<'de> Deserialize<'de> for HeaderSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(HeaderSetting::Off),
            Some(v) => Ok(HeaderSetting::Value(v)),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SecurityHeaders {
    pub mode: Option<HeaderMode>,
    pub strict_transport_security: HeaderSetting,
    pub content_security_policy: HeaderSetting,
    pub content_security_policy_report_only: HeaderSetting,
    pub x_content_type_options: HeaderSetting,
    pub x_frame_options: HeaderSetting,
    pub referrer_policy: HeaderSetting,
    pub permissions_policy: HeaderSetting,
    pub cross_origin_opener_policy: HeaderSetting,
    pub cross_origin_resource_policy: HeaderSetting,
    pub remove: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<ConfigDuration>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Health {
    pub dependencies: Vec<Dependency>,
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Memory,
    Redis,
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    #[default]
    Allow,
    Deny,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisStore {
    pub url: String,
    #[serde(default = "default_redis_timeout")]
    pub timeout: ConfigDuration,
    #[serde(default)]
    pub on_error: OnError,
}
fn default_redis_timeout() -> ConfigDuration {
    millis(50)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
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
