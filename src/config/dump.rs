//! `rampart check --dump` (SPEC §1): the effective config, every default filled in, as YAML —
//! what `nginx -T` and Envoy's config dump give. Values are written in the file's own
//! spellings (`10s`, `1MiB`, `60/minute`), so the dump is itself a valid config; secrets (the
//! admin token, a Redis password) are replaced by `[redacted]`.

use super::model::{Config, HeaderSetting, RateKey, RetryOn};
use super::units::{ByteSize, Cidr, ConfigDuration, Rate};
use super::LoadedConfig;
use serde::{Serialize, Serializer};
use serde_json::Value;

pub const REDACTED: &str = "[redacted]";

/// The effective config of `loaded` as a YAML document.
pub fn effective_yaml(loaded: &LoadedConfig) -> Result<String, String> {
    let value = effective(&loaded.config)?;
    let mut out = format!(
        "# Effective config of {} (every default filled in; secrets redacted).\n",
        loaded.file
    );
    super::yaml_emit::emit(&value, &mut out);
    Ok(out)
}

/// The config with the defaults that are computed rather than declared filled in.
pub fn effective(config: &Config) -> Result<Value, String> {
    let mut c = config.clone();
    if c.server.admin_token.is_some() {
        c.server.admin_token = Some(REDACTED.into());
    }
    c.server.shutdown_delay = Some(ConfigDuration(c.server.shutdown_delay()));
    c.server.threads = Some(
        c.server
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
    );
    c.security_headers = crate::guards::security_headers::with_defaults(&c.security_headers);
    for route in &mut c.routes {
        route.max_body_bytes.get_or_insert(c.client.max_body_bytes);
    }
    if let Some(redis) = &mut c.rate_limit_store.redis {
        redis.url = redact_password(&redis.url);
    }
    serde_json::to_value(&c).map_err(|e| format!("cannot write the effective config: {e}"))
}

/// `redis://user:secret@host` -> `redis://user:[redacted]@host`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{REDACTED}@{host}"),
        None => url.to_string(),
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(self.0))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const UNITS: [(u64, &str); 4] = [
            (1 << 40, "TiB"),
            (1 << 30, "GiB"),
            (1 << 20, "MiB"),
            (1 << 10, "KiB"),
        ];
        match UNITS
            .iter()
            .find(|(unit, _)| self.0 >= *unit && self.0 % unit == 0)
        {
            Some((unit, name)) => s.collect_str(&format_args!("{}{name}", self.0 / unit)),
            None => s.serialize_u64(self.0),
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl Serialize for RetryOn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RetryOn::ConnectFailure => s.serialize_str("connect_failure"),
            RetryOn::Timeout => s.serialize_str("timeout"),
            RetryOn::Status(code) => s.serialize_u16(*code),
        }
    }
}

impl Serialize for RateKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RateKey::ClientIp => s.serialize_str("client_ip"),
            RateKey::Global => s.serialize_str("global"),
            RateKey::Header(name) => s.collect_str(&format_args!("header:{name}")),
            RateKey::Query(name) => s.collect_str(&format_args!("query:{name}")),
        }
    }
}

/// `null` sends no header; `Default` is skipped by its field (inherited).
impl Serialize for HeaderSetting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HeaderSetting::Value(v) => s.serialize_str(v),
            HeaderSetting::Off | HeaderSetting::Default => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_password("redis://:hunter2@redis:6379/0"),
            "redis://:[redacted]@redis:6379/0"
        );
        assert_eq!(
            redact_password("rediss://app:p@ss@redis:6379"),
            "rediss://app:[redacted]@redis:6379"
        );
        assert_eq!(redact_password("redis://redis:6379"), "redis://redis:6379");
    }

    fn json<T: Serialize>(value: T) -> String {
        serde_json::to_string(&value).unwrap()
    }

    #[test]
    fn sizes_and_durations_are_written_in_the_files_spellings() {
        assert_eq!(json(ByteSize(1 << 20)), "\"1MiB\"");
        assert_eq!(json(ByteSize(1500)), "1500");
        let ms = |n| ConfigDuration(std::time::Duration::from_millis(n));
        assert_eq!(json(ms(250)), "\"250ms\"");
        assert_eq!(json(ms(90_000)), "\"1m 30s\"");
        assert_eq!(
            json(RateKey::Header("X-Api-Key".into())),
            "\"header:X-Api-Key\""
        );
        assert_eq!(json(RetryOn::Status(503)), "503");
    }
}
