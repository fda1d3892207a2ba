//! One route compiled: its matcher and every feature's piece of the route's policy, each
//! compiled by its feature (routing, access, rate limits, schema, uploads, security
//! headers, CORS), carrying state over from the same-named route of the previous policy.

use super::{CompileError, Policy};
use crate::config::model::{Route, UploadKind};
use crate::config::LoadedConfig;
use crate::guards::cors::CorsPolicy;
use crate::guards::rate_limit::compile::{self, RouteLimits};
use crate::guards::routing::RouteMatcher;
use crate::guards::security_headers::HeaderSet;
use crate::guards::websocket::{tunnels, WebSocketPolicy};
use crate::guards::{access, schema};
use ipnet::IpNet;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub struct RoutePolicy {
    pub name: String,
    pub upstream: usize,
    pub timeout: Option<Duration>,
    pub max_body_bytes: u64,
    pub allow_ips: Option<Vec<IpNet>>,
    pub deny_ips: Vec<IpNet>,
    /// Lower-case media type essences; None = any.
    pub content_types: Option<Vec<String>>,
    /// Rejections are counted and logged, never enforced.
    pub shadow: bool,
    pub schema: Option<Arc<jsonschema::Validator>>,
    pub uploads: Option<Vec<UploadKind>>,
    /// Read the whole body before contacting the app (small limit, or a body validator).
    pub buffer_body: bool,
    /// Every limit must pass; their state survives reloads that leave them unchanged.
    pub rate_limits: RouteLimits,
    /// Served instead of a 503 when the breaker is open or no endpoint is up.
    pub fallback: Option<FallbackResponse>,
    /// The global security headers with the route's `headers:` on top.
    pub headers: Arc<HeaderSet>,
    /// The route's `cors`, else the top-level one.
    pub cors: Option<Arc<CorsPolicy>>,
    /// `websocket:`: upgrades are forwarded on this route.
    pub websocket: Option<WebSocketPolicy>,
}

pub struct FallbackResponse {
    pub status: u16,
    pub content_type: http::HeaderValue,
    pub body: bytes::Bytes,
}

/// What every route's compilation shares.
pub(super) struct Globals<'a> {
    pub loaded: &'a LoadedConfig,
    pub upstream_index: &'a HashMap<&'a str, usize>,
    /// `security_headers` (routes without `headers:` share it).
    pub headers: Arc<HeaderSet>,
    /// The top-level `cors` (routes without `cors:` share it).
    pub cors: Option<Arc<CorsPolicy>>,
    pub previous: Option<&'a Policy>,
}

pub(super) fn compile(
    index: usize,
    r: &Route,
    global: &Globals<'_>,
) -> Result<(RouteMatcher, RoutePolicy), CompileError> {
    let c = &global.loaded.config;
    let other = |what: &str, reason: String| {
        CompileError::Other(format!("routes[{index}].{what}: {reason}"))
    };
    let matcher = RouteMatcher::compile(&r.matcher).map_err(|reason| {
        if r.matcher.path_regex.is_some() {
            CompileError::Regex { index, reason }
        } else {
            other("match", reason)
        }
    })?;
    let upstream = *global
        .upstream_index
        .get(r.upstream.as_str())
        .ok_or_else(|| other("upstream", "unknown upstream".into()))?;
    let schema = match &r.json_schema {
        None => None,
        Some(file) => Some(Arc::new(
            schema::load(&global.loaded.base_dir, file)
                .map_err(|reason| CompileError::Schema { index, reason })?,
        )),
    };
    let max_body_bytes = r.max_body_bytes.unwrap_or(c.client.max_body_bytes).0;
    let uploads = r.uploads.as_ref().map(|u| u.allow.clone());
    let buffer_body =
        schema.is_some() || uploads.is_some() || max_body_bytes <= c.client.buffer_body_bytes.0;
    let previous_route = global
        .previous
        .and_then(|p| p.routes.iter().find(|old| old.name == r.name));
    let previous_limits = previous_route.map_or(&[][..], |old| &old.rate_limits.limits[..]);
    let rate_limits = compile::route_limits(
        &r.name,
        &r.rate_limit,
        r.rate_limit_headers,
        c.rate_limit_store.max_keys,
        previous_limits,
    )
    .map_err(|reason| other("rate_limit", reason))?;
    let route = RoutePolicy {
        name: r.name.clone(),
        upstream,
        timeout: r.timeout.map(|t| t.0),
        websocket: r.websocket.as_ref().map(|w| WebSocketPolicy {
            idle_timeout: w.idle_timeout.0,
            caps: tunnels::Caps {
                max_connections: w.max_connections,
                max_per_client: w.max_per_client,
            },
            // Open tunnels stay counted across a reload.
            tunnels: previous_route
                .and_then(|old| old.websocket.as_ref())
                .map_or_else(Default::default, |old| Arc::clone(&old.tunnels)),
        }),
        max_body_bytes,
        allow_ips: r
            .allow_ips
            .as_ref()
            .map(|l| l.iter().map(|c| c.0).collect()),
        deny_ips: r.deny_ips.iter().map(|c| c.0).collect(),
        content_types: r
            .content_types
            .as_deref()
            .map(access::compile_content_types),
        shadow: r.shadow,
        schema,
        uploads,
        buffer_body,
        rate_limits,
        headers: match &r.headers {
            Some(h) => Arc::new(HeaderSet::compile(&c.security_headers, Some(h))),
            None => Arc::clone(&global.headers),
        },
        cors: match &r.cors {
            Some(x) => Some(Arc::new(CorsPolicy::compile(x))),
            None => global.cors.clone(),
        },
        fallback: r.fallback.as_ref().and_then(|f| {
            Some(FallbackResponse {
                status: f.status,
                content_type: http::HeaderValue::from_str(&f.content_type).ok()?,
                body: bytes::Bytes::from(f.body.clone()),
            })
        }),
    };
    Ok((matcher, route))
}
