//! THE order of the decisions on a request, and the pure checks on its head that the proxy
//! and `rampart replay` share. The proxy's `request_filter` walks [`Step::ORDER`], each step
//! one line through the verdict function; `replay` walks the same order over a request
//! head built from a log line, running the steps a log holds the facts for, with the same
//! compiled policy and the same checks. There is no second copy of either.

use crate::policy::{Policy, RoutePolicy};
use crate::reject::Reject;
use crate::request::RequestHead;
use std::borrow::Cow;

/// One decision on a request, before the app is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// No route (404), a method the route does not take (405).
    Route,
    /// `allow_ips` / `deny_ips` (403).
    IpRules,
    /// `Upgrade: websocket` forwarded on WebSocket routes, stripped elsewhere.
    WebSocket,
    /// A CORS preflight, answered here (204).
    Preflight,
    /// `rate_limit` (429).
    RateLimits,
    /// A declared `Content-Length` over `max_body_bytes` (413).
    DeclaredSize,
    /// `content_types` (415).
    ContentType,
    /// No endpoint up, or the breaker open (503 or the route's fallback).
    Breaker,
    /// `max_in_flight` and its queue (503 `overloaded`).
    Admission,
    /// The body read before the app is called (schema, uploads, small limits).
    ReadAhead,
    /// `json_schema` on the body read ahead (422).
    Schema,
    /// `uploads` on the body read ahead (415).
    Uploads,
}

impl Step {
    /// The order, cheapest and most telling first: a client refused by a head rule costs
    /// one head, however large the body it announced.
    pub const ORDER: [Step; 12] = [
        Step::Route,
        Step::IpRules,
        Step::WebSocket,
        Step::Preflight,
        Step::RateLimits,
        Step::DeclaredSize,
        Step::ContentType,
        Step::Breaker,
        Step::Admission,
        Step::ReadAhead,
        Step::Schema,
        Step::Uploads,
    ];
}

/// The route of a request: its index, and its normalized path (routes match on it).
pub fn route<'p>(
    policy: &Policy,
    head: &RequestHead,
    path: &'p str,
) -> Result<(usize, Cow<'p, str>), Reject> {
    let normalized = crate::guards::routing::normalize_path(path)?;
    let index = crate::guards::routing::find_route(
        &policy.matchers,
        &head.method,
        head.host_str(),
        &normalized,
    )?;
    Ok((index, normalized))
}

pub fn ip_rules(route: &RoutePolicy, head: &RequestHead) -> Result<(), Reject> {
    crate::guards::access::check_ip(head.client_ip, route.allow_ips.as_deref(), &route.deny_ips)
}

pub fn declared_size(route: &RoutePolicy, head: &RequestHead) -> Result<(), Reject> {
    match head.declared_length {
        Some(length) => crate::guards::body::check_declared(length, route.max_body_bytes),
        None => Ok(()),
    }
}

pub fn content_type(route: &RoutePolicy, head: &RequestHead) -> Result<(), Reject> {
    match (head.has_body, &route.content_types) {
        (true, Some(allowed)) => {
            crate::guards::access::check_content_type(head.content_type_bytes(), allowed)
        }
        _ => Ok(()),
    }
}
