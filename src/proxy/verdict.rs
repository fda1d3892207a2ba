//! THE function that applies a verdict: every step of the proxy's decision returns a
//! [`Verdict`], and [`RampartProxy::apply`] turns it into what happens — pass on, count a
//! shadow rejection, or answer (problem+json through `answer::refuse`, a fallback, a
//! preflight) — and records it.

use super::{decorate, Ctx, RampartProxy};
use crate::answer::{self, Answer, Scope};
use crate::policy::Policy;
use crate::reject::Reject;
use http::header::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;
use pingora::{Error, ErrorType};
use std::sync::Arc;

pub(super) enum Verdict {
    Pass,
    /// A guard's refusal: enforced, or only counted and logged on a `shadow: true` route.
    Refuse(Reject),
    /// Refused on every route (no route, overload, a body that cannot be read).
    Answer(Reject),
    /// The app cannot be called (breaker open, nothing healthy): the route's fallback
    /// response if it has one, else this refusal.
    Degrade(Reject),
    /// A CORS preflight, answered 204 with these `Access-Control-*` headers (none: refused).
    Preflight(Vec<(HeaderName, HeaderValue)>),
}

impl RampartProxy {
    /// Applies `verdict`. True: the request has been answered.
    pub(super) async fn apply(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        verdict: Verdict,
    ) -> Result<bool> {
        let reject = match verdict {
            Verdict::Pass => return Ok(false),
            Verdict::Refuse(reject) => {
                let shadow = ctx.route_policy().is_some_and(|r| r.shadow);
                return self.refuse(session, ctx, reject, shadow).await;
            }
            Verdict::Preflight(allow) => {
                self.write_preflight(session, ctx, allow).await?;
                return Ok(true);
            }
            Verdict::Degrade(reject)
                if ctx.route_policy().is_some_and(|r| r.fallback.is_some()) =>
            {
                answer::counted(&self.shared.metrics, ctx.route_name(), reject.code);
                ctx.rejected = Some(reject.code);
                self.write_fallback(session, ctx).await?;
                return Ok(true);
            }
            Verdict::Answer(reject) | Verdict::Degrade(reject) => reject,
        };
        self.refuse(session, ctx, reject, false).await
    }

    /// Answers the request with `reject` (problem+json) and records it. Also the answer of
    /// `fail_to_proxy`.
    pub(super) async fn respond(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        reject: Reject,
    ) -> Result<()> {
        self.refuse(session, ctx, reject, false).await.map(|_| ())
    }

    /// Every refusal of the proxy goes through `answer::refuse` here: on a shadow route
    /// (`shadow`) only counted, once per code and request (false: the request goes on);
    /// otherwise counted and answered (true).
    async fn refuse(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        reject: Reject,
        shadow: bool,
    ) -> Result<bool> {
        if shadow && ctx.shadow.contains(&reject.code.as_str()) {
            return Ok(false);
        }
        let request_id = ctx
            .request_id
            .get_or_insert_with(crate::guards::forwarded::mint_request_id)
            .clone();
        let scope = Scope::Public {
            route: ctx.route_name(),
            shadow,
        };
        let metrics = &self.shared.metrics;
        let answer = answer::refuse(metrics, scope, &reject, &request_id, |head| {
            decorate(head, ctx, false)
        });
        let (head, body) = match answer {
            Answer::Shadowed(code) => {
                ctx.shadow.push(code.as_str());
                return Ok(false);
            }
            Answer::Problem(head, body) => (head, body),
        };
        ctx.rejected = Some(reject.code);
        ctx.status = reject.status;
        if session.response_written().is_some() {
            // Too late for a new head: the client sees the response cut short.
            return Ok(true);
        }
        if reject.closes_connection() {
            session.set_keepalive(None);
        }
        self.write(session, head, Some(body)).await?;
        Self::linger_h2_body(session).await;
        Ok(true)
    }

    /// A refusal on a `shadow: true` route met while the body streams (no answer possible).
    pub(super) fn shadowed(&self, ctx: &mut Ctx, reject: Reject) {
        if ctx.shadow.contains(&reject.code.as_str()) {
            return;
        }
        let scope = Scope::Public {
            route: ctx.route_name(),
            shadow: true,
        };
        let id = HeaderValue::from_static("-");
        if let Answer::Shadowed(code) =
            answer::refuse(&self.shared.metrics, scope, &reject, &id, |_| {})
        {
            ctx.shadow.push(code.as_str());
        }
    }

    /// 204 with the allow headers when everything asked for is allowed, without them
    /// otherwise (the browser then refuses). Never forwarded to the app.
    async fn write_preflight(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        allow: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<()> {
        ctx.status = 204;
        ctx.cors.allow = allow;
        let mut head = ResponseHeader::build(204, Some(8))?;
        head.insert_header(http::header::CONTENT_LENGTH, 0)?;
        decorate(&mut head, ctx, false);
        self.write(session, head, None).await
    }

    async fn write_fallback(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        let Some(policy) = ctx.policy.clone() else {
            return Ok(());
        };
        let route = ctx.route.and_then(|i| policy.routes.get(i));
        let Some(fallback) = route.and_then(|r| r.fallback.as_ref()) else {
            return Ok(());
        };
        ctx.status = fallback.status;
        let mut head = ResponseHeader::build(fallback.status, Some(4))?;
        head.insert_header(http::header::CONTENT_TYPE, fallback.content_type.clone())?;
        head.insert_header(http::header::CONTENT_LENGTH, fallback.body.len())?;
        head.insert_header(http::header::CACHE_CONTROL, "no-store")?;
        decorate(&mut head, ctx, false);
        self.write(session, head, Some(fallback.body.clone())).await
    }

    /// Writes an answer of Rampart's own (no body for HEAD requests).
    async fn write(
        &self,
        session: &mut Session,
        head: ResponseHeader,
        body: Option<bytes::Bytes>,
    ) -> Result<()> {
        let body = body.filter(|_| session.req_header().method != http::Method::HEAD);
        session
            .write_response_header(Box::new(head), body.is_none())
            .await?;
        if let Some(body) = body {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(())
    }

    pub(super) fn policy<'a>(&self, ctx: &'a Ctx) -> Result<&'a Arc<Policy>> {
        ctx.policy
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no policy loaded for request"))
    }
}
