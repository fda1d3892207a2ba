//! Semantic checks of a parsed config. Each problem names the field path; `Problems`
//! turns the path into a file position. Nothing here stops at the first error.

use super::load::Problems;
use super::model::*;
use super::yaml::{join_index, join_key};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const PLACEHOLDER_WORDS: [&str; 6] = ["changeme", "secret", "password", "dummy", "test", "example"];

pub fn validate(c: &Config, base_dir: &Path, p: &mut Problems) {
    server(&c.server, p);
    client(&c.client, p);
    for (name, up) in &c.upstreams {
        upstream(&join_key("upstreams", name), up, p);
    }
    let mut names = HashSet::new();
    for (i, route) in c.routes.iter().enumerate() {
        let path = join_index("routes", i);
        if !names.insert(route.name.as_str()) {
            p.at(
                &join_key(&path, "name"),
                format!("duplicate route name \"{}\"", route.name),
            );
        }
        self::route(&path, route, c, base_dir, p);
    }
    security_headers("security_headers", &c.security_headers, p);
    if let Some(cors) = &c.cors {
        self::cors("cors", cors, c.server.environment, p);
    }
    dependencies(&c.health, p);
    store(&c.rate_limit_store, p);
    logging(&c.logging, p);
}

fn server(s: &Server, p: &mut Problems) {
    let listen = socket_addr("server.listen", &s.listen, p);
    let admin = socket_addr("server.admin_listen", &s.admin_listen, p);
    if let (Some(a), Some(b)) = (listen, admin) {
        if a == b && a.port() != 0 {
            p.at("server.admin_listen", "must differ from server.listen");
        }
    }
    if s.threads == Some(0) {
        p.at("server.threads", "must be at least 1");
    }
    if s.grace_period.0 > Duration::from_secs(3600) {
        p.at("server.grace_period", "must be at most 1h");
    }
    if let Some(token) = &s.admin_token {
        if token.is_empty() {
            p.at(
                "server.admin_token",
                "must not be empty (leave it out to disable)",
            );
        } else if s.environment == Environment::Production {
            let lower = token.to_ascii_lowercase();
            if token.len() < 16 {
                p.at(
                    "server.admin_token",
                    "is shorter than 16 characters, refused with environment: production",
                );
            } else if let Some(word) = PLACEHOLDER_WORDS.iter().find(|w| lower.contains(*w)) {
                p.at(
                    "server.admin_token",
                    format!("looks like a placeholder (contains \"{word}\"), refused with environment: production"),
                );
            }
        }
    }
    if let Some(tls) = &s.tls {
        for (field, file) in [("cert_file", &tls.cert_file), ("key_file", &tls.key_file)] {
            if !Path::new(file).is_file() {
                p.at(
                    &format!("server.tls.{field}"),
                    format!("file \"{file}\" does not exist"),
                );
            }
        }
    }
    if s.upgrade_sock.is_empty() {
        p.at("server.upgrade_sock", "must not be empty");
    }
}

fn socket_addr(path: &str, value: &str, p: &mut Problems) -> Option<SocketAddr> {
    match value.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            p.at(
                path,
                format!("expected an address like \"0.0.0.0:8080\", got \"{value}\""),
            );
            None
        }
    }
}

fn client(c: &Client, p: &mut Problems) {
    let positive = [
        ("client.header_timeout", c.header_timeout.0.is_zero()),
        ("client.body_timeout", c.body_timeout.0.is_zero()),
        ("client.max_uri_bytes", c.max_uri_bytes.0 == 0),
        ("client.max_header_bytes", c.max_header_bytes.0 == 0),
        ("client.max_headers", c.max_headers == 0),
        (
            "client.max_requests_per_connection",
            c.max_requests_per_connection == 0,
        ),
        ("client.max_connections", c.max_connections == 0),
    ];
    for (path, is_zero) in positive {
        if is_zero {
            p.at(path, "must be greater than zero");
        }
    }
    if c.max_header_bytes.0 > 1 << 20 {
        p.at("client.max_header_bytes", "must be at most 1MiB");
    }
    if c.max_uri_bytes.0 > c.max_header_bytes.0 {
        p.at(
            "client.max_uri_bytes",
            "must not exceed client.max_header_bytes",
        );
    }
    if c.max_headers > 256 {
        p.at("client.max_headers", "must be at most 256");
    }
}

fn upstream(path: &str, u: &Upstream, p: &mut Problems) {
    if u.endpoints.is_empty() {
        p.at(
            &join_key(path, "endpoints"),
            "needs at least one endpoint (host:port)",
        );
    }
    for (i, ep) in u.endpoints.iter().enumerate() {
        if let Err(msg) = host_port(ep) {
            p.at(&join_index(&join_key(path, "endpoints"), i), msg);
        }
    }
    for (field, d) in [
        ("connect_timeout", u.connect_timeout),
        ("read_timeout", u.read_timeout),
        ("write_timeout", u.write_timeout),
        ("idle_timeout", u.idle_timeout),
    ] {
        if d.0.is_zero() {
            p.at(&join_key(path, field), "must be greater than zero");
        }
    }
    if u.max_in_flight == Some(0) {
        p.at(&join_key(path, "max_in_flight"), "must be at least 1");
    }
    if let Some(q) = &u.queue {
        if q.timeout.0.is_zero() && q.max > 0 {
            p.at(
                &join_key(path, "queue.timeout"),
                "must be greater than zero when queue.max > 0",
            );
        }
    }
    if let Some(h) = &u.health_check {
        let hp = join_key(path, "health_check");
        if !h.path.starts_with('/') {
            p.at(&join_key(&hp, "path"), "must start with /");
        }
        if h.interval.0.is_zero() {
            p.at(&join_key(&hp, "interval"), "must be greater than zero");
        }
        if h.timeout.0.is_zero() {
            p.at(&join_key(&hp, "timeout"), "must be greater than zero");
        }
        if h.healthy_after == 0 {
            p.at(&join_key(&hp, "healthy_after"), "must be at least 1");
        }
        if h.unhealthy_after == 0 {
            p.at(&join_key(&hp, "unhealthy_after"), "must be at least 1");
        }
    }
    if let Some(b) = &u.circuit_breaker {
        let bp = join_key(path, "circuit_breaker");
        if b.consecutive_failures == 0 {
            p.at(&join_key(&bp, "consecutive_failures"), "must be at least 1");
        }
        if !(b.failure_ratio > 0.0 && b.failure_ratio <= 1.0) {
            p.at(&join_key(&bp, "failure_ratio"), "must be in (0, 1]");
        }
        if b.window.0.is_zero() {
            p.at(&join_key(&bp, "window"), "must be greater than zero");
        }
        if b.open_for.0.is_zero() {
            p.at(&join_key(&bp, "open_for"), "must be greater than zero");
        }
        if b.half_open_requests == 0 {
            p.at(&join_key(&bp, "half_open_requests"), "must be at least 1");
        }
        for (i, s) in b.failure_statuses.iter().enumerate() {
            if !(500..=599).contains(s) {
                p.at(
                    &join_index(&join_key(&bp, "failure_statuses"), i),
                    format!("must be a 5xx status (4xx never count as failures), got {s}"),
                );
            }
        }
    }
    if let Some(r) = &u.retry {
        let rp = join_key(path, "retry");
        if r.attempts > 10 {
            p.at(&join_key(&rp, "attempts"), "must be at most 10");
        }
        if r.max_backoff.0 < r.backoff.0 {
            p.at(
                &join_key(&rp, "max_backoff"),
                "must be at least retry.backoff",
            );
        }
        if !(0.0..=1.0).contains(&r.budget_ratio) {
            p.at(&join_key(&rp, "budget_ratio"), "must be in [0, 1]");
        }
    }
}

/// `host:port` with a valid port; the host is an IP or a DNS name resolved at start.
fn host_port(s: &str) -> Result<(), String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = || format!("expected host:port like \"127.0.0.1:8000\", got \"{s}\"");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if port_ok && host_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

fn route(path: &str, r: &Route, c: &Config, base_dir: &Path, p: &mut Problems) {
    if r.name.trim().is_empty() {
        p.at(&join_key(path, "name"), "must not be empty");
    }
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
        let file = base_dir.join(schema);
        let sp = join_key(path, "json_schema");
        match std::fs::read_to_string(&file) {
            Err(e) => p.at(
                &sp,
                format!("cannot read schema file \"{}\": {e}", file.display()),
            ),
            Ok(text) => {
                if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
                    p.at(
                        &sp,
                        format!("schema file \"{}\" is not valid JSON: {e}", file.display()),
                    );
                }
            }
        }
    }
    if let Some(t) = r.timeout {
        if t.0.is_zero() {
            p.at(&join_key(path, "timeout"), "must be greater than zero");
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

fn security_headers(path: &str, h: &SecurityHeaders, p: &mut Problems) {
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

fn header_names(path: &str, names: &[String], p: &mut Problems) {
    for (i, name) in names.iter().enumerate() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            p.at(
                &join_index(path, i),
                format!("\"{name}\" is not a valid header name"),
            );
        }
    }
}

fn cors(path: &str, c: &Cors, env: Environment, p: &mut Problems) {
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

fn dependencies(h: &Health, p: &mut Problems) {
    let mut names = HashSet::new();
    for (i, d) in h.dependencies.iter().enumerate() {
        let dp = join_index("health.dependencies", i);
        if d.name.trim().is_empty() {
            p.at(&join_key(&dp, "name"), "must not be empty");
        } else if !names.insert(d.name.as_str()) {
            p.at(
                &join_key(&dp, "name"),
                format!("duplicate dependency name \"{}\"", d.name),
            );
        }
        match (&d.http, &d.tcp) {
            (Some(url), None) => {
                let ok = url.strip_prefix("http://").is_some_and(|rest| {
                    rest.split('/').next().is_some_and(|hp| {
                        host_port(hp).is_ok() || !hp.is_empty() && !hp.contains(':')
                    })
                });
                if !ok {
                    p.at(
                        &join_key(&dp, "http"),
                        format!(
                            "expected a URL like \"http://127.0.0.1:8001/health\", got \"{url}\""
                        ),
                    );
                }
            }
            (None, Some(addr)) => {
                if let Err(msg) = host_port(addr) {
                    p.at(&join_key(&dp, "tcp"), msg);
                }
            }
            _ => p.at(&dp, "needs exactly one of `http` or `tcp`"),
        }
        if d.interval.0.is_zero() {
            p.at(&join_key(&dp, "interval"), "must be greater than zero");
        }
        if d.timeout.0.is_zero() {
            p.at(&join_key(&dp, "timeout"), "must be greater than zero");
        }
    }
}

fn store(s: &RateLimitStore, p: &mut Problems) {
    if s.max_keys == 0 {
        p.at("rate_limit_store.max_keys", "must be greater than zero");
    }
    match (&s.kind, &s.redis) {
        (StoreKind::Redis, None) => p.at(
            "rate_limit_store",
            "kind: redis needs a `redis:` section with its url",
        ),
        (_, Some(r)) => {
            if !(r.url.starts_with("redis://") || r.url.starts_with("rediss://")) {
                p.at(
                    "rate_limit_store.redis.url",
                    format!("expected redis://host:port, got \"{}\"", r.url),
                );
            }
            if r.timeout.0.is_zero() {
                p.at(
                    "rate_limit_store.redis.timeout",
                    "must be greater than zero",
                );
            }
        }
        _ => {}
    }
}

fn logging(l: &Logging, p: &mut Problems) {
    if !matches!(
        l.level.as_str(),
        "trace" | "debug" | "info" | "warn" | "error"
    ) {
        p.at(
            "logging.level",
            format!(
                "expected trace, debug, info, warn or error, got \"{}\"",
                l.level
            ),
        );
    }
    header_names("logging.redact_headers", &l.redact_headers, p);
}
