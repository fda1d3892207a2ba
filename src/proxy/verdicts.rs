//! Turning guard verdicts into answers: respond, enforce or shadow, body validation and
//! rate limits. Helpers of the proxy; the phases themselves are in `mod.rs`.

use super::{decorate, Ctx, RampartProxy};
use crate::config::units::Rate;
use crate::guards::rate_limit::Verdict;
use crate::guards::{body, schema, uploads};
use crate::policy::{limit_name, Policy, RoutePolicy};
use crate::reject::{Code, Reject};
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
        decorate(&mut head, ctx);
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

/// Counts the request against each of the route's limits (all must pass). The first that
/// refuses gives the 429; otherwise the tightest sets the `RateLimit` header.
pub(super) fn check_limits(
    req: &RequestHeader,
    ctx: &mut Ctx,
    route: &RoutePolicy,
) -> Option<Reject> {
    let mut tightest: Option<(usize, u32, u64)> = None;
    for (i, limit) in route.limits.iter().enumerate() {
        let header = |name: &str| req.headers.get(name).map(HeaderValue::as_bytes);
        let key = limit.key_for(ctx.client_ip, header, req.uri.query());
        match limit.check(key) {
            Verdict::Limited { retry_after_secs } => {
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
