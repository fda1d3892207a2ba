//! The proxy's decision steps, in the order `request_filter` takes them. Each reads the
//! request's facts and its feature's compiled piece of the policy, calls that feature's
//! pure check, and returns a [`Verdict`] for `apply`; only the context slice of its own
//! feature is written.

use super::verdict::Verdict;
use super::{no_route, Ctx, RampartProxy};
use crate::front::client_stream::{ClientStream, Plan, ReadAhead};
use crate::guards::rate_limit::feature as rate_limit;
use crate::guards::{body, cors, schema, uploads};
use crate::pipeline::{self, Step};
use crate::policy::{Policy, RoutePolicy, UpstreamPolicy};
use crate::reject::{Code, Reject};
use crate::request::rules;
use crate::upstream::admission::{retry_after_secs, Refusal};
use crate::upstream::breaker::feature as breaker;
use http::header::HeaderValue;
use pingora::prelude::*;
use pingora::proxy::Session;
use pingora::{Error, ErrorType};
use std::time::Instant;

impl RampartProxy {
    /// Route (404/405) on the normalized path; CORS applies from here on, so that a refusal
    /// too carries the headers an allowed origin needs.
    pub(super) fn route(&self, session: &Session, ctx: &mut Ctx, policy: &Policy) -> Verdict {
        let req = session.req_header();
        let path = req.uri.path();
        let found = pipeline::route(policy, &ctx.facts, path).map(|(index, normalized)| {
            if normalized != path {
                ctx.rewritten_path = Some(normalized.into_owned());
            }
            index
        });
        ctx.route = found.as_ref().ok().copied();
        let route = ctx.route.and_then(|i| policy.routes.get(i));
        if let Some(cors) = route.map_or(policy.cors.as_ref(), |r| r.cors.as_ref()) {
            ctx.cors.vary_origin = true;
            let origin = req.headers.get(http::header::ORIGIN);
            if let (Some(origin), false) = (origin, ctx.facts.preflight) {
                ctx.cors.allow = cors.actual(origin);
            }
        }
        match found {
            Ok(_) => Verdict::Pass,
            // A preflight is answered 204 even for a path or method no route takes (SPEC §5:
            // the browser is told "not allowed" by the missing allow headers).
            Err(reject) => match Self::cors_preflight(session, ctx, policy) {
                Verdict::Pass => Verdict::Answer(reject),
                preflight => preflight,
            },
        }
    }

    /// A preflight is answered here, never forwarded.
    pub(super) fn cors_preflight(session: &Session, ctx: &Ctx, policy: &Policy) -> Verdict {
        let cors = ctx
            .route_policy()
            .map_or(policy.cors.as_ref(), |r| r.cors.as_ref());
        let headers = &session.req_header().headers;
        match (ctx.facts.preflight, cors, headers.get(http::header::ORIGIN)) {
            (true, Some(cors), Some(origin)) => {
                let announced = headers.get(&cors::REQUEST_METHOD);
                Verdict::Preflight(cors.preflight(
                    origin,
                    announced.map_or(&b""[..], HeaderValue::as_bytes),
                    cors::requested_headers(headers),
                ))
            }
            _ => Verdict::Pass,
        }
    }

    /// Takes a slot toward the upstream (`max_in_flight`), waiting in its queue if need be;
    /// the slot lives in `ctx` and is given back when the request ends, however. A request
    /// without a body has its connection watched while it waits: a client that gives up
    /// stops holding a place in the queue.
    pub(super) async fn admission(
        session: &mut Session,
        ctx: &mut Ctx,
        upstream: &UpstreamPolicy,
    ) -> Result<Verdict> {
        let limits = &upstream.admission;
        let wait = upstream.state.admission.admit(limits);
        let admitted = if ctx.facts.has_body || limits.max_in_flight.is_none() {
            wait.await
        } else {
            tokio::pin!(wait);
            tokio::select! {
                biased;
                admitted = &mut wait => admitted,
                gone = session.downstream_session.read_body_or_idle(true) => match gone {
                    Err(e) => return Err(e),
                    Ok(_) => wait.await,
                },
            }
        };
        Ok(match admitted {
            Ok(slot) => {
                ctx.slot = Some(slot);
                Verdict::Pass
            }
            Err(refusal) => {
                let detail = match refusal {
                    Refusal::QueueFull => "too many requests are waiting for the app",
                    Refusal::QueueTimeout => "no capacity toward the app within the queue timeout",
                };
                Verdict::Answer(
                    Reject::new(Code::Overloaded, detail)
                        .with_retry_after(retry_after_secs(limits)),
                )
            }
        })
    }

    /// Reads the whole body before the app is contacted (schema, uploads, small limits),
    /// from the front door's [`ClientStream`], which then hands Pingora the body to
    /// forward. A declared length over the limit on a shadow route streams unread.
    pub(super) async fn read_ahead(
        session: &mut Session,
        ctx: &mut Ctx,
        policy: &Policy,
        route: &RoutePolicy,
    ) -> Result<Verdict> {
        let facts = &ctx.facts;
        let fits = facts
            .declared_length
            .is_none_or(|n| n <= route.max_body_bytes);
        if !(facts.has_body && route.buffer_body && fits) {
            return Ok(Verdict::Pass);
        }
        let plan = Plan {
            limit: route.max_body_bytes,
            expect_continue: facts.expect_continue,
            shadow: route.shadow,
        };
        let Some(body) = session
            .downstream_session
            .stream()
            .and_then(ClientStream::of)
        else {
            // HTTP/2: read through Pingora's session instead.
            return Self::read_ahead_h2(session, ctx, policy, route).await;
        };
        match body.read_ahead(plan, policy.client.body_timeout).await {
            ReadAhead::Ready(body) => {
                ctx.prebuffered = body;
                Ok(Verdict::Pass)
            }
            ReadAhead::Refused(reject) => Ok(Verdict::Answer(reject)),
            ReadAhead::Closed => Error::e_explain(
                ErrorType::ConnectionClosed,
                "the client left while its body was read",
            ),
        }
    }

    /// JSON schema on a body read ahead.
    pub(super) fn json_schema(ctx: &Ctx, route: &RoutePolicy) -> Verdict {
        match (&route.schema, &ctx.prebuffered) {
            (Some(validator), Some(body)) => refuse(schema::check_json(validator, body)),
            (Some(_), None) => unread(ctx, route),
            _ => Verdict::Pass,
        }
    }

    /// Upload sniffing on a body read ahead.
    pub(super) async fn uploads(ctx: &Ctx, route: &RoutePolicy) -> Verdict {
        match (&route.uploads, &ctx.prebuffered) {
            (Some(kinds), Some(body)) => {
                let content_type = ctx.facts.content_type_bytes();
                refuse(uploads::check_upload(content_type, body.clone(), kinds).await)
            }
            (Some(_), None) => unread(ctx, route),
            _ => Verdict::Pass,
        }
    }
}

/// A body a validator should have read but could not: only a shadow route lets a body past
/// its limit stream unread, and it is counted as too large.
fn unread(ctx: &Ctx, route: &RoutePolicy) -> Verdict {
    if ctx.facts.has_body {
        refuse(body::check_declared(u64::MAX, route.max_body_bytes))
    } else {
        Verdict::Pass
    }
}

fn refuse(checked: Result<(), Reject>) -> Verdict {
    checked.err().map_or(Verdict::Pass, Verdict::Refuse)
}

impl RampartProxy {
    /// HTTP/2's head rules (an HTTP/1 head met them at the front door, on its raw bytes):
    /// limits, the underscore rule and RFC 9113's request rules, on the decoded list.
    pub(super) fn h2_head_rules(session: &Session, ctx: &mut Ctx, policy: &Policy) -> Verdict {
        if !session.as_ref().is_http2() {
            return Verdict::Pass;
        }
        match rules::check_h2(session.req_header(), &policy.client.head) {
            Ok(accepted) => {
                ctx.drop_underscored = accepted.drop_underscored;
                Verdict::Pass
            }
            Err(reject) => Verdict::Answer(reject),
        }
    }

    /// Who asks and what: request id, trace, client address, the facts every step reads
    /// (names with `_` dropped first, when the front door said so).
    pub(super) fn identify(&self, session: &mut Session, ctx: &mut Ctx, policy: &Policy) {
        if ctx.drop_underscored {
            rules::drop_underscored(session.req_header_mut());
        }
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        super::headers::identify(ctx, session.req_header(), peer, policy);
        if session.as_ref().is_http2() {
            // An h2 body needs no length header: the stream says whether one follows.
            ctx.facts.has_body = !session.as_mut().is_body_empty();
        }
    }
}

impl RampartProxy {
    /// The app's final response head (`None`: malformed) to the breaker, before the answer
    /// is released.
    pub(super) fn breaker_at_response_head(&self, ctx: &mut Ctx, status: Option<u16>) {
        if let Some((upstream, slice)) = ctx.breaker_parts() {
            let metrics = &self.shared.metrics;
            breaker::on_response_head(upstream, status, Instant::now(), metrics, slice);
        }
    }

    /// One step of `pipeline::Step::ORDER`: its feature's decision, as a verdict.
    pub(super) async fn step(
        &self,
        step: Step,
        session: &mut Session,
        ctx: &mut Ctx,
        policy: &Policy,
    ) -> Result<Verdict> {
        if step == Step::Route {
            return Ok(self.route(session, ctx, policy));
        }
        let route = ctx
            .route
            .and_then(|i| policy.routes.get(i))
            .ok_or_else(no_route)?;
        let upstream = &policy.upstreams[route.upstream];
        let refuse = |checked: std::result::Result<(), Reject>| {
            checked.err().map_or(Verdict::Pass, Verdict::Refuse)
        };
        Ok(match step {
            Step::Route => Verdict::Pass,
            Step::IpRules => refuse(pipeline::ip_rules(route, &ctx.facts)),
            Step::WebSocket => Self::websocket(session, ctx, route),
            Step::Preflight => Self::cors_preflight(session, ctx, policy),
            Step::RateLimits => {
                let req = session.req_header();
                let store = policy.shared_limits.as_deref();
                let metrics = &self.shared.metrics;
                refuse(
                    rate_limit::on_head(
                        &route.rate_limits,
                        &route.name,
                        &ctx.facts,
                        &req.headers,
                        req.uri.query(),
                        store,
                        metrics,
                        &mut ctx.rate_limit,
                    )
                    .await,
                )
            }
            Step::DeclaredSize => refuse(pipeline::declared_size(route, &ctx.facts)),
            Step::ContentType => refuse(pipeline::content_type(route, &ctx.facts)),
            Step::Breaker => {
                let metrics = &self.shared.metrics;
                let gate = breaker::on_head(upstream, Instant::now(), metrics, &mut ctx.breaker);
                gate.err().map_or(Verdict::Pass, Verdict::Degrade)
            }
            Step::Admission => Self::admission(session, ctx, upstream).await?,
            Step::ReadAhead => Self::read_ahead(session, ctx, policy, route).await?,
            Step::Schema => Self::json_schema(ctx, route),
            Step::Uploads => Self::uploads(ctx, route).await,
        })
    }
}
