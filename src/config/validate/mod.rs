//! Semantic checks of a parsed config. Each problem names the field path; `Problems`
//! turns the path into a file position. Nothing here stops at the first error.

mod addresses;
mod routes;
mod store;

use addresses::{endpoint, host_port};

use super::model::*;
use super::problems::Problems;
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
        let path = join_key("upstreams", name);
        config_name(&path, name, true, p);
        upstream(&path, up, p);
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
        routes::route(&path, route, c, base_dir, p);
    }
    routes::security_headers("security_headers", &c.security_headers, p);
    if let Some(cors) = &c.cors {
        routes::cors("cors", cors, c.server.environment, p);
    }
    dependencies(&c.health, p);
    store::store(c, p);
    logging(&c.logging, p);
}

/// Route and upstream names appear in response headers (`RateLimit-Policy`) and metric
/// labels: 1-64 characters of `[A-Za-z0-9_.-]` (SPEC §2). `key`: the name is a map key.
pub(super) fn config_name(path: &str, name: &str, key: bool, p: &mut Problems) {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        let message = format!(
            "name \"{}\" must be 1-64 characters of A-Z a-z 0-9 _ . -",
            name.escape_debug()
        );
        if key {
            p.at_key(path, message);
        } else {
            p.at(path, message);
        }
    }
}

fn server(s: &Server, p: &mut Problems) {
    let listen = socket_addr("server.listen", &s.listen, p);
    let admin = socket_addr("server.admin_listen", &s.admin_listen, p);
    if let (Some(a), Some(b)) = (listen, admin) {
        if a == b && a.port() != 0 {
            p.at("server.admin_listen", "must differ from server.listen");
        }
    }
    if s.threads.is_some_and(|t| !(1..=1024).contains(&t)) {
        p.at("server.threads", "must be from 1 to 1024");
    }
    if s.grace_period.0 > Duration::from_secs(3600) {
        p.at("server.grace_period", "must be at most 1h");
    }
    if s.shutdown_delay.is_some_and(|d| d.0 >= s.grace_period.0) {
        p.at(
            "server.shutdown_delay",
            "must be shorter than server.grace_period (requests in flight need the rest)",
        );
    }
    if let Some(token) = &s.admin_token {
        if token.is_empty() {
            p.at(
                "server.admin_token",
                "must not be empty (leave it out to disable)",
            );
        } else if s.environment == Environment::Production {
            let lower = token.to_ascii_lowercase();
            let distinct = token.chars().collect::<HashSet<_>>().len();
            if token.chars().count() < 32 || distinct < 16 {
                p.at(
                    "server.admin_token",
                    "must be at least 32 characters with at least 16 different ones with environment: production",
                );
            } else if let Some(word) = PLACEHOLDER_WORDS.iter().find(|w| lower.contains(*w)) {
                p.at(
                    "server.admin_token",
                    format!("looks like a placeholder (contains \"{word}\"), refused with environment: production"),
                );
            }
        }
    }
    // The admin port reloads the config: off the loopback interface it must be guarded.
    let public_admin = admin.is_some_and(|a| !a.ip().is_loopback());
    if public_admin && s.admin_token.is_none() && s.environment == Environment::Production {
        p.at(
            "server.admin_listen",
            "is not a loopback address: set server.admin_token (required with environment: production)",
        );
    }
    if let Some(tls) = &s.tls {
        let mut missing = false;
        for (field, file) in [("cert_file", &tls.cert_file), ("key_file", &tls.key_file)] {
            if !Path::new(file).is_file() {
                missing = true;
                p.at(
                    &format!("server.tls.{field}"),
                    format!("file \"{file}\" does not exist"),
                );
            }
        }
        if !missing {
            let pair =
                super::tls_files::check_pair(Path::new(&tls.cert_file), Path::new(&tls.key_file));
            for (field, message) in pair {
                p.at(&format!("server.tls.{field}"), message);
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
        ("client.idle_timeout", c.idle_timeout.0.is_zero()),
        ("client.send_timeout", c.send_timeout.0.is_zero()),
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
            "needs at least one endpoint (host:port or unix:/path)",
        );
    }
    for (i, ep) in u.endpoints.iter().enumerate() {
        if let Err(msg) = endpoint(ep) {
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
        if u.max_in_flight.is_none() {
            p.at(
                &join_key(path, "queue"),
                "a queue needs max_in_flight (requests only wait when the cap is reached)",
            );
        }
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
    routes::header_names("logging.redact_headers", &l.redact_headers, p);
}
