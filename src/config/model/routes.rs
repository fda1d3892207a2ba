//! Routes and the HTTP-level sections they share (security headers, CORS).

use super::super::units::{ByteSize, Cidr, ConfigDuration, Rate};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Route {
    pub name: String,
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    pub upstream: String,
    #[serde(default)]
    pub rate_limit: Vec<RateLimit>,
    /// Extension: send `RateLimit-Policy` / `RateLimit` on successful responses too.
    #[serde(default = "yes")]
    pub rate_limit_headers: bool,
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
    #[serde(default)]
    pub websocket: Option<WebSocket>,
}

/// `websocket:` on a route: `Upgrade: websocket` is forwarded there.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WebSocket {
    /// Closed after this long without a byte (default 10 minutes).
    #[serde(default = "default_websocket_idle")]
    pub idle_timeout: ConfigDuration,
    /// Open tunnels on this route at once; beyond: 503 `overloaded` (default 1000).
    #[serde(default = "default_websocket_max_connections")]
    pub max_connections: usize,
    /// Open tunnels from one client address on this route; beyond: 503 (default 50).
    #[serde(default = "default_websocket_max_per_client")]
    pub max_per_client: usize,
}

fn default_websocket_max_connections() -> usize {
    1000
}

fn default_websocket_max_per_client() -> usize {
    50
}

fn default_websocket_idle() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_secs(600))
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
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

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RateLimit {
    pub rate: Rate,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub key: RateKey,
    /// With `rate_limit_store.kind: redis`: one atomic round trip per decision (`exact`),
    /// or a lease of the key's budget spent locally (`leased`, SPEC 0.3).
    #[serde(default)]
    pub sharing: Sharing,
}

/// How a limit shares its budget across replicas through the Redis store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    #[default]
    Exact,
    Leased,
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

#[derive(Debug, Clone, Deserialize, Serialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Uploads {
    pub allow: Vec<UploadKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
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

impl HeaderSetting {
    /// Not set here (a route's `headers:` then inherits the top-level value).
    pub fn is_default(&self) -> bool {
        *self == HeaderSetting::Default
    }
}

impl<'de> Deserialize<'de> for HeaderSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(HeaderSetting::Off),
            Some(v) => Ok(HeaderSetting::Value(v)),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct SecurityHeaders {
    pub mode: Option<HeaderMode>,
    #[serde(skip_serializing_if = "HeaderSetting::is_default")]
    pub strict_transport_security: HeaderSetting,
    #[serde(skip_serializing_if = "HeaderSetting::is_default")]
    pub content_security_policy: HeaderSetting,
    #[serde(skip_serializing_if = "HeaderSetting::is_default")]
    pub content_security_policy_report_only: HeaderSetting,
    #[serde(skip_serializing_if = "HeaderSetting::is_default")]
    pub x_content_type_options: HeaderSetting,
    #[serde(skip_serializing_if = "HeaderSetting::is_default")]
    pub x_frame_options: HeaderSetting,
    #[serde(skip_serializing_if = "HeaderSetting::is_default")]
    pub referrer_policy: HeaderSetting,
    #[serde(skip_serializing_if = "HeaderSetting::is_default")]
    pub permissions_policy: HeaderSetting,
    #[serde(skip_serializing_if = "HeaderSetting::is_default")]
    pub cross_origin_opener_policy: HeaderSetting,
    #[serde(skip_serializing_if = "HeaderSetting::is_default")]
    pub cross_origin_resource_policy: HeaderSetting,
    pub remove: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<ConfigDuration>,
}
