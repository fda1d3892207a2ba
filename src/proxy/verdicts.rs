//! Turning guard verdicts into answers: respond, enforce or shadow, body validation and
//! rate limits. Helpers of the proxy; the phases themselves are in `mod.rs`.

use super::{decorate, Ctx, RampartProxy};
use crate::config::model::OnError;
use crate::config::units::Rate;
use crate::guards::rate_limit::Verdict;
use crate::guards::redis_store::SharedLimits;
use crate::guards::{body, schema, uploads};
use crate::policy::{limit_name, Policy, RoutePolicy, UpstreamPolicy};
use crate::reject::{Code, Reject};
use crate::upstream::admission::{retry_after_secs, Refusal};
use http::header::HeaderValue;
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::Session;
use pingora::{Error, ErrorType};
use std::sync::Arc;

impl RampartProxy {
    /// Answers the request with `reject` (problem+json) and records it.
    pub(super) async fn respond(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        reject: Reject,
    ) -> Result<()> {
        ctx.rejected = Some(reject.code);
        ctx.status = reject.status;
        let route = ctx.route_name();
        self.shared
            .metrics
            .rejections_total
            .with_label_values(&[route, reject.code.as_str()])
            .inc();
        if session.response_written().is_some() {
            // Too late for a new head: the client sees the response cut short.
            return Ok(());
        }
        let body = reject.body(ctx.request_id());
        let mut head = reject.header(body.len());
        decorate(&mut head, ctx, false);
        if reject.closes_connection() {
            session.set_keepalive(None);
        }
        let is_head = session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(head), is_head)
            .await?;
        if !is_head {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(())
    }

    /// A CORS preflight: 204 with the allow headers when everything asked for is allowed,
    /// without them otherwise (the browser then refuses). Never forwarded to the app.
    pub(super) async fn answer_preflight(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        allow: Vec<(http::HeaderName, HeaderValue)>,
    ) -> Result<()> {
        ctx.status = 204;
        ctx.cors_headers = allow;
        let mut head = pingora::http::ResponseHeader::build(204, Some(8))?;
        head.insert_header(http::header::CONTENT_LENGTH, 0)?;
        decorate(&mut head, ctx, false);
        session.write_response_header(Box::new(head), true).await
    }

    /// Applies a guard's verdict: answers it (true: the request is done), or on a
    /// `shadow: true` route only counts and logs it (false: carry on).
    pub(super) async fn enforce(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        reject: Reject,
    ) -> Result<bool> {
        if ctx.route_policy().is_some_and(|r| r.shadow) {
            self.record_shadow(ctx, reject.code);
            Ok(false)
        } else {
            self.respond(session, ctx, reject).await?;
            Ok(true)
        }
    }

    /// JSON schema and upload checks on a body read ahead of the app. True: answered.
    pub(super) async fn validate_body(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: &RoutePolicy,
    ) -> Result<bool> {
        let Some(body) = ctx.prebuffered.clone() else {
            // Only a shadow route lets a body past its limit stream unread.
            let reject = body::check_declared(u64::MAX, route.max_body_bytes).err();
            return match reject {
                Some(r) => self.enforce(session, ctx, r).await,
                None => Ok(false),
            };
        };
        if let Some(validator) = &route.schema {
            if let Err(reject) = schema::check_json(validator, &body) {
                if self.enforce(session, ctx, reject).await? {
                    return Ok(true);
                }
            }
        }
        if let Some(kinds) = &route.uploads {
            let content_type = session
                .req_header()
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(HeaderValue::as_bytes);
            if let Err(reject) = uploads::check_upload(content_type, body, kinds).await {
                if self.enforce(session, ctx, reject).await? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Takes a slot toward the route's upstream (`max_in_flight`), waiting in its queue if
    /// need be. True: refused and answered (503 `overloaded`) or the client left while
    /// waiting. The slot lives in `ctx` and is given back when the request ends, however.
    /// `watch_client`: the request has no body, so its connection can be watched while it
    /// waits (a body, even one read ahead, may still be in the stream Pingora reads).
    pub(super) async fn admit(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        upstream: &UpstreamPolicy,
        watch_client: bool,
    ) -> Result<bool> {
        let limits = &upstream.admission;
        let wait = upstream.state.admission.admit(limits);
        let admitted = if !watch_client || limits.max_in_flight.is_none() {
            wait.await
        } else {
            // A client that gives up stops holding a place in the queue.
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
        match admitted {
            Ok(slot) => {
                ctx.slot = Some(slot);
                Ok(false)
            }
            Err(refusal) => {
                let detail = match refusal {
                    Refusal::QueueFull => "too many requests are waiting for the app",
                    Refusal::QueueTimeout => "no capacity toward the app within the queue timeout",
                };
                let reject = Reject::new(Code::Overloaded, detail)
                    .with_retry_after(retry_after_secs(limits));
                self.respond(session, ctx, reject).await?;
                Ok(true)
            }
        }
    }

    pub(super) fn record_shadow(&self, ctx: &mut Ctx, code: Code) {
        let route = ctx.route_name();
        self.shared
            .metrics
            .shadow_rejections_total
            .with_label_values(&[route, code.as_str()])
            .inc();
        ctx.shadow.push(code.as_str());
    }

    pub(super) fn policy<'a>(&self, ctx: &'a Ctx) -> Result<&'a Arc<Policy>> {
        ctx.policy
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no policy loaded for request"))
    }
}

/// Counts the request against each of the route's limits (all must pass), in memory or in
/// the shared Redis store. The first that refuses gives the 429; otherwise the tightest sets
/// the `RateLimit` header.
pub(super) async fn check_limits(
    req: &RequestHeader,
    ctx: &mut Ctx,
    route: &RoutePolicy,
    shared: Option<&SharedLimits>,
) -> Option<Reject> {
    let header = |name: &str| req.headers.get(name).map(HeaderValue::as_bytes);
    let Some(store) = shared else {
        // In memory: each limit is decided (and spent) in turn, up to the first refusal,
        // lazily: `answer` stops at the first refusal, so later limits are not spent.
        let client_ip = ctx.client_ip;
        let verdicts = route
            .limits
            .iter()
            .map(|limit| limit.check(limit.key_for(client_ip, header, req.uri.query())));
        return answer(ctx, route, verdicts);
    };
    let keys: Vec<String> = route
        .limits
        .iter()
        .enumerate()
        .map(|(i, l)| store.key(&route.name, i, l, ctx.client_ip, header, req.uri.query()))
        .collect();
    match store.check(&keys, &route.limits).await {
        Ok(verdicts) => answer(ctx, route, verdicts),
        Err(e) => {
            tracing::debug!(error = %e, route = %route.name, "rate-limit store unavailable");
            ctx.store_failed = true;
            match store.on_error {
                OnError::Allow => None,
                OnError::Deny => Some(
                    Reject::new(
                        Code::RateLimited,
                        "the rate-limit store is unavailable and on_error is deny",
                    )
                    .with_retry_after(1),
                ),
            }
        }
    }
}

/// The 429 for the first limit that refused, or the `RateLimit` value of the tightest.
fn answer(
    ctx: &mut Ctx,
    route: &RoutePolicy,
    verdicts: impl IntoIterator<Item = Verdict>,
) -> Option<Reject> {
    let mut tightest: Option<(usize, u32, u64)> = None;
    for (i, verdict) in verdicts.into_iter().enumerate() {
        match verdict {
            Verdict::Limited { retry_after_secs } => {
                let limit = &route.limits[i];
                let rate = Rate {
                    count: limit.count,
                    per: limit.window,
                };
                let name = limit_name(&route.name, i);
                let mut reject = Reject::new(
                    Code::RateLimited,
                    format!("limit {rate} on route {}", route.name),
                )
                .with_retry_after(retry_after_secs);
                if let Some(policy) = &route.limit_policy_header {
                    reject = reject.with_header("ratelimit-policy", policy.clone());
                }
                if let Ok(v) =
                    HeaderValue::from_str(&format!("\"{name}\";r=0;t={retry_after_secs}"))
                {
                    reject = reject.with_header("ratelimit", v);
                }
                return Some(reject);
            }
            Verdict::Allowed {
                remaining,
                reset_secs,
            } => {
                if tightest.is_none_or(|(_, least, _)| remaining < least) {
                    tightest = Some((i, remaining, reset_secs));
                }
            }
        }
    }
    if route.limit_headers_on_success {
        ctx.rate_limit = tightest.and_then(|(i, remaining, reset)| {
            HeaderValue::from_str(&format!(
                "\"{}\";r={remaining};t={reset}",
                limit_name(&route.name, i)
            ))
            .ok()
        });
    }
    None
}
