//! THE function that applies a verdict: every step of the proxy's decision returns a
//! [`Verdict`], and [`RampartProxy::apply`] turns it into what happens — pass on, count a
//! shadow rejection, or answer (problem+json, a fallback, a preflight) — and records it.

use super::{decorate, Ctx, RampartProxy};
use crate::policy::Policy;
use crate::reject::{Code, Reject};
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
            Verdict::Refuse(reject) if ctx.route_policy().is_some_and(|r| r.shadow) => {
                self.record_shadow(ctx, reject.code);
                return Ok(false);
            }
            Verdict::Preflight(allow) => {
                self.write_preflight(session, ctx, allow).await?;
                return Ok(true);
            }
            Verdict::Degrade(reject)
                if ctx.route_policy().is_some_and(|r| r.fallback.is_some()) =>
            {
                self.count_rejection(ctx, reject.code);
                self.write_fallback(session, ctx).await?;
                return Ok(true);
            }
            Verdict::Refuse(reject) | Verdict::Answer(reject) | Verdict::Degrade(reject) => reject,
        };
        self.respond(session, ctx, reject).await?;
        Ok(true)
    }

    /// Answers the request with `reject` (problem+json) and records it. Also the answer of
    /// `fail_to_proxy`.
    pub(super) async fn respond(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        reject: Reject,
    ) -> Result<()> {
        self.count_rejection(ctx, reject.code);
        ctx.status = reject.status;
        if session.response_written().is_some() {
            // Too late for a new head: the client sees the response cut short.
            return Ok(());
        }
        let request_id = ctx
            .request_id
            .get_or_insert_with(crate::guards::forwarded::mint_request_id)
            .clone();
        let (mut head, body) = reject.response(&request_id);
        decorate(&mut head, ctx, false);
        if reject.closes_connection() {
            session.set_keepalive(None);
        }
        self.write(session, head, Some(body)).await?;
        Self::linger_h2_body(session).await;
        Ok(())
    }

    fn count_rejection(&self, ctx: &mut Ctx, code: Code) {
        ctx.rejected = Some(code);
        self.shared
            .metrics
            .rejections_total
            .with_label_values(&[ctx.route_name(), code.as_str()])
            .inc();
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

    pub(super) fn record_shadow(&self, ctx: &mut Ctx, code: Code) {
        if ctx.shadow.contains(&code.as_str()) {
            return;
        }
        self.shared
            .metrics
            .shadow_rejections_total
            .with_label_values(&[ctx.route_name(), code.as_str()])
            .inc();
        ctx.shadow.push(code.as_str());
    }

    pub(super) fn policy<'a>(&self, ctx: &'a Ctx) -> Result<&'a Arc<Policy>> {
        ctx.policy
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no policy loaded for request"))
    }
}
