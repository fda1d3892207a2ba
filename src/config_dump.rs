//! `rampart check --dump` (SPEC §1): the effective config, every default filled in, as YAML —
//! what `nginx -T` and Envoy's config dump give. Values are written in the file's own
//! spellings (`10s`, `1MiB`, `60/minute`), so the dump is itself a valid config; secrets (the
//! admin token, a Redis password) are replaced by `[redacted]`.

use crate::config::model::Config;
use crate::config::units::ConfigDuration;
use crate::config::{yaml_emit, LoadedConfig};
use serde_json::Value;

pub const REDACTED: &str = "[redacted]";

/// The effective config of `loaded` as a YAML document.
pub fn effective_yaml(loaded: &LoadedConfig) -> Result<String, String> {
    let value = effective(&loaded.config)?;
    let mut out = format!(
        "# Effective config of {} (every default filled in; secrets redacted).\n",
        loaded.file
    );
    yaml_emit::emit(&value, &mut out);
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
        let urls = redis
            .url
            .iter_mut()
            .chain(redis.cluster.iter_mut().flatten());
        let sentinels = redis.sentinel.iter_mut().flat_map(|s| s.nodes.iter_mut());
        for url in urls.chain(sentinels) {
            *url = redact_password(url);
        }
        if redis.password.is_some() {
            redis.password = Some(REDACTED.into());
        }
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
}
