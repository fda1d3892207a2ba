//! Semantic checks of routes and of the HTTP-level sections they share (security headers,
//! CORS): matchers, methods, media types, header names and values.

use super::super::model::*;
use super::super::problems::Problems;
use super::super::units::{enforceable, Unenforceable};
use super::super::yaml::{join_index, join_key};
use std::path::Path;

pub(super) fn route(path: &str, r: &Route, c: &Config, base_dir: &Path, p: &mut Problems) {
    super::config_name(&join_key(path, "name"), &r.name, false, p);
    if !c.upstreams.contains_key(&r.upstream) {
        let known: Vec<&str> = c.upstreams.keys().map(String::as_str).collect();
        p.at(
            &join_key(path, "upstream"),
            format!(
                "unknown upstream \"{}\" (defined: {})",
                r.upstream,
                known.join(", ")
            ),
        );
    }
    route_match(&join_key(path, "match"), &r.matcher, p);
    for (i, limit) in r.rate_limit.iter().enumerate() {
        let lp = join_index(&join_key(path, "rate_limit"), i);
        if limit.burst == Some(0) {
            p.at(&join_key(&lp, "burst"), "must be at least 1");
        }
        match enforceable(limit.rate, limit.burst) {
            Ok(()) => {}
            Err(Unenforceable::RateTooFine) => p.at(
                &join_key(&lp, "rate"),
                "must be at most 1000000/second (finer is no limit: remove it instead)",
            ),
            Err(Unenforceable::BurstTooLong { max_burst }) => p.at(
                &join_key(&lp, "burst"),
                format!(
                    "must be at most {max_burst} at rate {}: a full burst must refill within 1 year",
                    limit.rate
                ),
            ),
        }
        if let RateKey::Header(name) = &limit.key {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                p.at(
                    &join_key(&lp, "key"),
                    format!("\"{name}\" is not a valid header name"),
                );
            }
        }
    }
    if let Some(types) = &r.content_types {
        for (i, t) in types.iter().enumerate() {
            if !is_media_type(t) {
                p.at(
                    &join_index(&join_key(path, "content_types"), i),
                    format!("expected a media type like \"application/json\", got \"{t}\""),
                );
            }
        }
    }
    if let Some(schema) = &r.json_schema {
        // Exactly what the start does with it (read, bounded, compiled).
        if let Err(e) = super::super::schema_file::load(base_dir, schema) {
            p.at(&join_key(path, "json_schema"), e);
        }
    }
    if let Some(t) = r.timeout {
        if t.0.is_zero() {
            p.at(&join_key(path, "timeout"), "must be greater than zero");
        }
    }
    if let Some(ws) = &r.websocket {
        let wp = join_key(path, "websocket");
        for (key, zero) in [
            ("idle_timeout", ws.idle_timeout.0.is_zero()),
            ("max_connections", ws.max_connections == 0),
            ("max_per_client", ws.max_per_client == 0),
        ] {
            if zero {
                p.at(&join_key(&wp, key), "must be greater than zero");
            }
        }
    }
    if let Some(f) = &r.fallback {
        let fp = join_key(path, "fallback");
        if !(200..=599).contains(&f.status) {
            p.at(
                &join_key(&fp, "status"),
                "must be a status code from 200 to 599",
            );
        }
        if http::HeaderValue::from_str(&f.content_type).is_err() {
            p.at(
                &join_key(&fp, "content_type"),
                "is not a valid header value",
            );
        }
    }
    if let Some(h) = &r.headers {
        security_headers(&join_key(path, "headers"), h, p);
    }
    if let Some(cors) = &r.cors {
        self::cors(&join_key(path, "cors"), cors, c.server.environment, p);
    }
    if let Some(u) = &r.uploads {
        if u.allow.is_empty() {
            p.at(
                &join_key(path, "uploads.allow"),
                "must list at least one file type",
            );
        }
    }
}

fn route_match(path: &str, m: &RouteMatch, p: &mut Problems) {
    let set = [
        m.path.is_some(),
        m.path_prefix.is_some(),
        m.path_regex.is_some(),
    ];
    match set.iter().filter(|b| **b).count() {
        0 => p.at(path, "needs one of `path`, `path_prefix` or `path_regex`"),
        1 => {}
        _ => p.at(
            path,
            "takes only one of `path`, `path_prefix` or `path_regex`",
        ),
    }
    for (field, value) in [("path", &m.path), ("path_prefix", &m.path_prefix)] {
        if let Some(v) = value {
            if !v.starts_with('/') {
                p.at(
                    &join_key(path, field),
                    format!("must start with /, got \"{v}\""),
                );
            }
        }
    }
    if let Some(re) = &m.path_regex {
        if let Err(e) = regex::Regex::new(re) {
            let msg = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string();
            p.at(
                &join_key(path, "path_regex"),
                format!("invalid regular expression: {msg}"),
            );
        }
    }
    if let Some(methods) = &m.methods {
        if methods.is_empty() {
            p.at(
                &join_key(path, "methods"),
                "must list at least one method (or be left out)",
            );
        }
        for (i, method) in methods.iter().enumerate() {
            if !is_method(method) {
                p.at(
                    &join_index(&join_key(path, "methods"), i),
                    format!("expected an upper-case HTTP method like GET, got \"{method}\""),
                );
            }
        }
    }
    if let Some(host) = &m.host {
        let ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '*'));
        if !ok {
            p.at(
                &join_key(path, "host"),
                format!("\"{host}\" is not a valid host name"),
            );
        }
    }
}

fn is_method(m: &str) -> bool {
    !m.is_empty()
        && m.bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_media_type(t: &str) -> bool {
    let essence = t.split(';').next().unwrap_or("").trim();
    matches!(essence.split_once('/'), Some((a, b)) if is_token(a) && is_token(b))
}

pub(super) fn security_headers(path: &str, h: &SecurityHeaders, p: &mut Problems) {
    let fields = [
        ("strict_transport_security", &h.strict_transport_security),
        ("content_security_policy", &h.content_security_policy),
        (
            "content_security_policy_report_only",
            &h.content_security_policy_report_only,
        ),
        ("x_content_type_options", &h.x_content_type_options),
        ("x_frame_options", &h.x_frame_options),
        ("referrer_policy", &h.referrer_policy),
        ("permissions_policy", &h.permissions_policy),
        ("cross_origin_opener_policy", &h.cross_origin_opener_policy),
        (
            "cross_origin_resource_policy",
            &h.cross_origin_resource_policy,
        ),
    ];
    for (field, setting) in fields {
        if let HeaderSetting::Value(v) = setting {
            if v.is_empty() || http::HeaderValue::from_str(v).is_err() {
                p.at(
                    &join_key(path, field),
                    "is not a valid header value (empty or containing control characters); use null to send none",
                );
            }
        }
    }
    header_names(
        &join_key(path, "remove"),
        h.remove.as_deref().unwrap_or(&[]),
        p,
    );
}

pub(super) fn header_names(path: &str, names: &[String], p: &mut Problems) {
    for (i, name) in names.iter().enumerate() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            p.at(
                &join_index(path, i),
                format!("\"{name}\" is not a valid header name"),
            );
        }
    }
}

pub(super) fn cors(path: &str, c: &Cors, env: Environment, p: &mut Problems) {
    for (i, origin) in c.allow_origins.iter().enumerate() {
        let op = join_index(&join_key(path, "allow_origins"), i);
        if origin == "*" {
            if c.allow_credentials && env == Environment::Production {
                p.at(
                    &op,
                    "\"*\" together with allow_credentials: true is refused with environment: production",
                );
            }
            continue;
        }
        let valid = origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https")
                && !rest.is_empty()
                && !rest.contains('/')
                && rest
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '.' | ':' | '*'))
                && (!rest.contains('*') || rest.starts_with("*.") && rest.matches('*').count() == 1)
        });
        if !valid {
            p.at(
                &op,
                format!("expected an origin like \"https://app.example.com\" or \"https://*.example.com\", got \"{origin}\""),
            );
        }
    }
    if let Some(methods) = &c.allow_methods {
        for (i, m) in methods.iter().enumerate() {
            if !is_method(m) {
                p.at(
                    &join_index(&join_key(path, "allow_methods"), i),
                    format!("\"{m}\" is not an HTTP method"),
                );
            }
        }
    }
    header_names(&join_key(path, "allow_headers"), &c.allow_headers, p);
    header_names(&join_key(path, "expose_headers"), &c.expose_headers, p);
}
