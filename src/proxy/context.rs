//! The per-request context of the proxy: what each phase learns and the next one reads.

use crate::guards::body::BodyCounter;
use crate::guards::cors::CorsHeaders;
use crate::guards::trace::Trace;
use crate::guards::websocket::WebSocketState;
use crate::policy::{Policy, RoutePolicy, UpstreamPolicy};
use crate::reject::Code;
use crate::request::RequestHead;
use crate::upstream::admission::Slot;
use crate::upstream::retry::Attempts;
use bytes::Bytes;
use http::header::HeaderValue;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-request state, created empty and filled phase by phase.
pub struct Ctx {
    pub(super) policy: Option<Arc<Policy>>,
    pub(super) start: Instant,
    pub(super) route: Option<usize>,
    pub(super) request_id: Option<HeaderValue>,
    /// The head carried header names with `_` that are dropped (`underscores_in_headers`).
    pub(super) drop_underscored: bool,
    /// The request's trace (the client's, or one Rampart starts).
    pub(super) trace: Option<Trace>,
    /// What every step reads about the request (client IP included).
    pub(super) facts: RequestHead,
    pub(super) peer_ip: IpAddr,
    pub(super) peer_trusted: bool,
    /// The normalized path when it differs from what the client sent.
    pub(super) rewritten_path: Option<String>,
    pub(super) rejected: Option<Code>,
    /// A refusal found after the request was handed to Pingora's proxying (a body over
    /// its limit, a malformed response head): `fail_to_proxy` answers with it.
    pub(super) refusal: Option<crate::reject::Reject>,
    /// The app's response head went to the client (from then on the route timeout is over).
    pub(super) response_forwarded: bool,
    /// WebSocket routes' slice: asked to upgrade, upgraded.
    pub(super) websocket: WebSocketState,
    /// Codes that would have rejected this request on a `shadow: true` route.
    pub(super) shadow: Vec<&'static str>,
    pub(super) body: BodyCounter,
    /// The whole body, when the connection loop read it before the app was contacted.
    pub(super) prebuffered: Option<Bytes>,
    /// `RateLimit` for the response of a request that passed its limits.
    pub(super) rate_limit: crate::guards::rate_limit::feature::Slice,
    pub(super) status: u16,
    pub(super) endpoint: Option<usize>,
    pub(super) upstream_start: Option<Instant>,
    pub(super) upstream_time: Option<Duration>,
    /// When the route's total `timeout` runs out.
    pub(super) deadline: Option<Instant>,
    /// The request's place toward the app (`max_in_flight`); given back when dropped.
    pub(super) slot: Option<Slot>,
    /// The breaker's slice: its leave to call the app, until the outcome is recorded.
    pub(super) breaker: crate::upstream::breaker::feature::Slice,
    /// The status of the app's response that is being passed on.
    pub(super) upstream_status: Option<u16>,
    /// Retries' slice: the attempts so far.
    pub(super) retry: Attempts,
    /// What CORS adds to this request's responses.
    pub(super) cors: CorsHeaders,
}

impl Ctx {
    pub(super) fn request_id(&self) -> &str {
        self.request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
    }
}

impl Ctx {
    /// The matched route in this request's policy snapshot.
    pub(super) fn route_policy(&self) -> Option<&RoutePolicy> {
        self.route
            .and_then(|r| self.policy.as_ref().and_then(|p| p.routes.get(r)))
    }

    /// The matched route's upstream.
    pub(super) fn upstream_policy(&self) -> Option<&UpstreamPolicy> {
        let route = self.route_policy()?;
        self.policy.as_ref()?.upstreams.get(route.upstream)
    }

    /// The matched route's upstream and the breaker's slice, borrowed together.
    pub(super) fn breaker_parts(
        &mut self,
    ) -> Option<(
        &UpstreamPolicy,
        &mut crate::upstream::breaker::feature::Slice,
    )> {
        let policy = self.policy.as_ref()?;
        let route = policy.routes.get(self.route?)?;
        let upstream = policy.upstreams.get(route.upstream)?;
        Some((upstream, &mut self.breaker))
    }

    /// The `route` label: the route's name, or "" when none matched.
    pub(super) fn route_name(&self) -> &str {
        self.route_policy().map_or("", |r| r.name.as_str())
    }
}

impl Ctx {
    /// An empty context: filled phase by phase.
    pub(super) fn new() -> Ctx {
        Ctx {
            policy: None,
            start: Instant::now(),
            route: None,
            request_id: None,
            drop_underscored: false,
            trace: None,
            facts: RequestHead::default(),
            peer_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            peer_trusted: false,
            rewritten_path: None,
            rejected: None,
            refusal: None,
            response_forwarded: false,
            websocket: WebSocketState::default(),
            shadow: Vec::new(),
            body: BodyCounter::default(),
            prebuffered: None,
            rate_limit: Default::default(),
            status: 0,
            endpoint: None,
            upstream_start: None,
            upstream_time: None,
            deadline: None,
            slot: None,
            breaker: Default::default(),
            upstream_status: None,
            retry: Attempts::default(),
            cors: CorsHeaders::default(),
        }
    }
}
