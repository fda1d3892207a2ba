//! The compiled, immutable runtime snapshot of a config. Requests load it once (one
//! `ArcSwap` load) and read ready-made values: matchers, peers, limits, header values.
//! State that must survive a reload (round-robin cursors, later buckets and breakers) lives
//! in `Arc`s that `compile` carries over from the previous policy.

use crate::config::model::LogFormat;
use crate::config::model::StoreKind;
use crate::config::LoadedConfig;
use crate::guards::cors::CorsPolicy;
use crate::guards::rate_limit::compile;
use crate::guards::rate_limit::redis::SharedLimits;
use crate::guards::routing::RouteMatcher;
use crate::guards::security_headers::HeaderSet;
use crate::guards::trace::TracePolicy;
mod dependency;
mod route;
pub mod schema_files;
pub mod tls;
mod upstream;
pub use dependency::{DependencyPolicy, DependencyState, DependencyStatus, Probe};
use http::HeaderName;
use ipnet::IpNet;
pub use route::{FallbackResponse, RoutePolicy};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use upstream::compile_upstream;
pub use upstream::{EndpointPolicy, UpstreamPolicy, UpstreamState};

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("upstreams.{upstream}.endpoints: cannot resolve \"{endpoint}\": {reason}")]
    Resolve {
        upstream: String,
        endpoint: String,
        reason: String,
    },
    #[error("routes[{index}].match.path_regex: {reason}")]
    Regex { index: usize, reason: String },
    #[error("routes[{index}].json_schema: {reason}")]
    Schema { index: usize, reason: String },
    #[error("{0}")]
    Other(String),
}

pub struct Policy {
    pub generation: u64,
    pub client: ClientPolicy,
    /// Matchers, parallel to `routes` (kept apart so matching walks a compact slice).
    pub matchers: Vec<RouteMatcher>,
    pub routes: Vec<RoutePolicy>,
    pub upstreams: Vec<UpstreamPolicy>,
    pub logging: LogPolicy,
    pub tracing: TracePolicy,
    /// `server.tls`: the certificate served to new handshakes.
    pub tls_cert: Option<Arc<tls::TlsPolicy>>,
    /// The JSON Schema files the routes name, as compiled (the reload watcher follows them).
    pub schema_files: schema_files::SchemaFiles,
    /// Whether the public listener terminates TLS (for `X-Forwarded-Proto`).
    pub tls: bool,
    /// `rate_limit_store.kind: redis`: limits are counted there instead of in memory.
    pub shared_limits: Option<Arc<SharedLimits>>,
    pub dependencies: Vec<DependencyPolicy>,
    /// `health.unready_when_breaker_open`.
    pub unready_when_breaker_open: bool,
    /// `security_headers`: for responses not tied to a route (404, listener refusals, admin).
    pub headers: Arc<HeaderSet>,
    /// The top-level `cors`.
    pub cors: Option<Arc<CorsPolicy>>,
    /// `server.admin_token`: required by `POST /-/reload` when set.
    pub admin_token: Option<String>,
    /// `server.shutdown_delay`.
    pub shutdown_delay: Duration,
    /// `server.watch_config`.
    pub watch_config: bool,
}

/// Limits on the request head, from `client:` (checked by `front::framing`).
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    pub max_uri_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub underscores: crate::config::model::Underscores,
}

pub struct ClientPolicy {
    pub trusted_proxies: Vec<IpNet>,
    pub head: HeadLimits,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// How long a connection with no request in progress is kept.
    pub idle_timeout: Duration,
    /// How long a client may accept no response bytes.
    pub send_timeout: Duration,
    pub max_body_bytes: u64,
    pub max_requests_per_connection: u32,
    pub max_connections: usize,
}

pub struct LogPolicy {
    pub format: LogFormat,
    pub access_log: bool,
    pub redact: Vec<HeaderName>,
}

impl LogPolicy {
    pub fn is_redacted(&self, name: &HeaderName) -> bool {
        self.redact.iter().any(|r| r == name)
    }
}

impl Policy {
    /// Compiles `loaded`; state of same-named upstreams is taken from `previous`.
    pub fn compile(
        loaded: &LoadedConfig,
        previous: Option<&Policy>,
        generation: u64,
    ) -> Result<Policy, CompileError> {
        let c = &loaded.config;
        let old_upstreams: HashMap<&str, &UpstreamPolicy> = previous
            .map(|p| p.upstreams.iter().map(|u| (u.name.as_str(), u)).collect())
            .unwrap_or_default();
        let mut upstream_index = HashMap::new();
        let mut upstreams = Vec::with_capacity(c.upstreams.len());
        for (name, u) in &c.upstreams {
            upstream_index.insert(name.as_str(), upstreams.len());
            let old = old_upstreams.get(name.as_str()).copied();
            upstreams.push(compile_upstream(name, u, old)?);
        }

        let global = route::Globals {
            loaded,
            upstream_index: &upstream_index,
            headers: Arc::new(HeaderSet::compile(&c.security_headers, None)),
            cors: c.cors.as_ref().map(|x| Arc::new(CorsPolicy::compile(x))),
            previous,
        };
        let mut matchers = Vec::with_capacity(c.routes.len());
        let mut routes = Vec::with_capacity(c.routes.len());
        for (index, r) in c.routes.iter().enumerate() {
            let (matcher, route) = route::compile(index, r, &global)?;
            matchers.push(matcher);
            routes.push(route);
        }
        let shared_limits = match (&c.rate_limit_store.kind, &c.rate_limit_store.redis) {
            (StoreKind::Redis, Some(cfg)) => {
                let old = previous.and_then(|p| p.shared_limits.as_ref());
                Some(
                    compile::shared_store(cfg, c.rate_limit_store.max_keys, old)
                        .map_err(|e| CompileError::Other(format!("rate_limit_store.redis: {e}")))?,
                )
            }
            _ => None,
        };
        // Last, once nothing can fail: the carried-over semaphores take the new caps.
        for u in &upstreams {
            u.state.admission.set_capacity(u.admission.max_in_flight);
        }
        let cl = &c.client;
        Ok(Policy {
            generation,
            client: ClientPolicy {
                trusted_proxies: cl.trusted_proxies.iter().map(|c| c.0).collect(),
                head: HeadLimits {
                    max_uri_bytes: cl.max_uri_bytes.0 as usize,
                    max_header_bytes: cl.max_header_bytes.0 as usize,
                    max_headers: cl.max_headers,
                    underscores: cl.underscores_in_headers,
                },
                header_timeout: cl.header_timeout.0,
                body_timeout: cl.body_timeout.0,
                idle_timeout: cl.idle_timeout.0,
                send_timeout: cl.send_timeout.0,
                max_body_bytes: cl.max_body_bytes.0,
                max_requests_per_connection: cl.max_requests_per_connection,
                max_connections: cl.max_connections,
            },
            matchers,
            routes,
            upstreams,
            logging: LogPolicy {
                format: c.logging.format,
                access_log: c.logging.access_log,
                redact: c
                    .logging
                    .redact_headers
                    .iter()
                    .filter_map(|h| HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).ok())
                    .collect(),
            },
            tracing: TracePolicy {
                sampled: c.tracing.sampled,
            },
            tls_cert: match &c.server.tls {
                Some(tls) => Some(Arc::new(
                    tls::TlsPolicy::compile(tls).map_err(CompileError::Other)?,
                )),
                None => None,
            },
            tls: c.server.tls.is_some(),
            schema_files: schema_files::SchemaFiles::of(loaded),
            shared_limits,
            headers: global.headers,
            cors: global.cors,
            admin_token: c.server.admin_token.clone(),
            shutdown_delay: c.server.shutdown_delay(),
            watch_config: c.server.watch_config,
            unready_when_breaker_open: c.health.unready_when_breaker_open,
            dependencies: dependency::compile(
                &c.health.dependencies,
                previous.map_or(&[][..], |p| &p.dependencies[..]),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> LoadedConfig {
        crate::config::load_str(yaml, "t.yaml", std::path::Path::new("."), &|_| None).unwrap()
    }

    const BASE: &str = r#"
server: { listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0 }
upstreams:
  app: { endpoints: [127.0.0.1:9, localhost:10], read_timeout: 7s }
routes:
  - { name: a, match: { path_prefix: /a, methods: [GET] }, upstream: app, max_body_bytes: 2KiB }
  - { name: b, match: { path_regex: '^/b' }, upstream: app, timeout: 3s }
"#;

    #[test]
    fn compiles_routes_and_peers() {
        let p = Policy::compile(&load(BASE), None, 1).unwrap();
        assert_eq!(p.routes.len(), 2);
        assert_eq!(p.routes[0].max_body_bytes, 2048);
        assert_eq!(p.routes[1].max_body_bytes, 1 << 20);
        assert_eq!(p.routes[1].timeout, Some(Duration::from_secs(3)));
        assert_eq!(p.upstreams[0].endpoints.len(), 2);
        assert_eq!(
            p.upstreams[0].endpoints[0].peer.options.read_timeout,
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            p.matchers[0].methods.as_deref(),
            Some(&[http::Method::GET][..])
        );
    }

    #[test]
    fn upstream_state_carries_over() {
        let first = Policy::compile(&load(BASE), None, 1).unwrap();
        let second = Policy::compile(&load(BASE), Some(&first), 2).unwrap();
        assert!(Arc::ptr_eq(
            &first.upstreams[0].state,
            &second.upstreams[0].state
        ));
    }
}
