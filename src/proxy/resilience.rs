//! Toward a failing app: health and breaker gates before a request is sent, endpoint choice
//! for first tries and retries, retry decisions, and the breaker outcome of each request.
//! Helpers of the proxy phases in `mod.rs`; the decisions are in `upstream/`.

use super::{Ctx, RampartProxy};
use crate::policy::UpstreamPolicy;
use crate::upstream::breaker::feature::{self as breaker, Ending};
use crate::upstream::retry::{is_retryable, Reason};
use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType};
use std::time::{Duration, Instant};

static IDEMPOTENCY_KEY: http::HeaderName = http::HeaderName::from_static("idempotency-key");

impl RampartProxy {
    /// Reports how the exchange ended to the breaker, once, after any retries (a no-op
    /// when a failure was recorded at the response head).
    pub(super) fn finish_breaker_call(&self, ctx: &mut Ctx, error: Option<&Error>) {
        let ending = match (ctx.upstream_status, error) {
            // The client stopped reading: nothing to learn about the app (SPEC 0.3).
            (_, Some(e)) if client_stopped_reading(e) => Ending::Unknown,
            (Some(status), None) => Ending::Answered(status),
            (Some(status), Some(e)) if stream_went_idle(ctx, e) => Ending::WentIdle(status),
            // A response that broke off mid-way is a failure of the app too.
            (_, Some(e)) if e.esource() == &ErrorSource::Upstream => Ending::AppFailed,
            (Some(status), Some(_)) => Ending::Answered(status),
            // The client left, or Rampart answered itself.
            _ => Ending::Unknown,
        };
        if let Some((upstream, slice)) = ctx.breaker_parts() {
            breaker::on_end(
                upstream,
                ending,
                Instant::now(),
                &self.shared.metrics,
                slice,
            );
        }
    }

    /// Whether to try again after `reason`; counts the retry when it is allowed.
    pub(super) fn decide_retry(&self, session: &Session, ctx: &mut Ctx, reason: Reason) -> bool {
        let Some(upstream) = ctx.upstream_policy() else {
            return false;
        };
        let Some(policy) = &upstream.retry else {
            return false;
        };
        let req = session.req_header();
        let now = Instant::now();
        let allowed = policy.covers(reason)
            && ctx.retry.retries < policy.attempts
            && is_retryable(&req.method, req.headers.contains_key(&IDEMPOTENCY_KEY))
            && !session.as_ref().retry_buffer_truncated()
            && ctx.deadline.is_none_or(|d| now < d)
            && upstream.state.retry_budget.withdraw(now);
        if allowed {
            self.shared
                .metrics
                .retries_total
                .with_label_values(&[upstream.name.as_str(), &reason.label()])
                .inc();
            ctx.retry.retries += 1;
        }
        allowed
    }

    /// Waits before a retry: exponential backoff with full jitter, never past the route's
    /// deadline.
    pub(super) async fn retry_backoff(&self, ctx: &Ctx, upstream: &UpstreamPolicy) {
        let Some(policy) = &upstream.retry else {
            return;
        };
        let mut wait = policy.backoff(ctx.retry.retries, fastrand::f64());
        if let Some(deadline) = ctx.deadline {
            wait = wait.min(deadline.saturating_duration_since(Instant::now()));
        }
        if wait > Duration::ZERO {
            tokio::time::sleep(wait).await;
        }
    }

    /// An endpoint for this attempt: round-robin over those up, avoiding the ones this
    /// request already tried when another is up.
    pub(super) fn pick_endpoint(&self, ctx: &Ctx, upstream: &UpstreamPolicy) -> Option<usize> {
        let n = upstream.endpoints.len();
        let up = |i: usize| upstream.endpoints[i].health.is_up();
        let fresh = |i: usize| i >= 64 || ctx.retry.tried & (1u64 << i) == 0;
        let rr = &upstream.state.round_robin;
        rr.pick(n, |i| up(i) && fresh(i))
            .or_else(|| rr.pick(n, up))
            .or_else(|| rr.pick(n, |_| true))
    }

    /// A failed attempt on the chosen endpoint counts toward its health (when checked).
    pub(super) fn endpoint_failed(&self, ctx: &Ctx, e: &Error) {
        let (Some(upstream), Some(index)) = (ctx.upstream_policy(), ctx.endpoint) else {
            return;
        };
        let Some(check) = &upstream.health_check else {
            return;
        };
        let endpoint = &upstream.endpoints[index];
        let reason = e.etype().as_str().to_ascii_lowercase();
        if let Some(up) = endpoint.health.record(Err(reason), check.thresholds, None) {
            self.shared
                .metrics
                .upstream_endpoint_up
                .with_label_values(&[&upstream.name, &endpoint.label])
                .set(i64::from(up));
        }
    }
}

/// The retry reason of an error after connecting, if it is one `retry_on` can name.
pub(super) fn reason_of(e: &Error, retrying_status: Option<u16>) -> Option<Reason> {
    match e.etype() {
        ErrorType::HTTPStatus(code) if retrying_status == Some(*code) => {
            Some(Reason::Status(*code))
        }
        ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() == &ErrorSource::Upstream =>
        {
            Some(Reason::Timeout)
        }
        _ => None,
    }
}

/// Whether `e` is a client that accepted no response bytes for `client.send_timeout` (a
/// closed TCP window or HTTP/2 flow-control window).
pub(super) fn client_stopped_reading(e: &Error) -> bool {
    if e.esource() == &ErrorSource::Upstream {
        return false;
    }
    match e.etype() {
        ErrorType::WriteTimedout => true,
        // HTTP/1.1: the front door's stream failed the stalled write.
        ErrorType::WriteError => {
            e.root_cause()
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| {
                    io.to_string() == crate::front::client_stream::send_deadline::SEND_TIMEOUT
                })
        }
        _ => false,
    }
}

/// Whether `e` ended a response that was already being forwarded because the app went
/// quiet longer than the read timeout (SPEC: `stream_idle`, not a breaker failure).
pub(super) fn stream_went_idle(ctx: &Ctx, e: &Error) -> bool {
    ctx.response_forwarded
        && e.esource() == &ErrorSource::Upstream
        && matches!(e.etype(), pingora::ErrorType::ReadTimedout)
}

/// A response under way that ended because the app went quiet: nothing to answer, a code
/// for the log line.
pub(super) fn stream_idle(ctx: &mut Ctx, e: &Error) -> Option<pingora::proxy::FailToProxy> {
    if !stream_went_idle(ctx, e) {
        return None;
    }
    ctx.rejected = Some(crate::reject::Code::StreamIdle);
    Some(pingora::proxy::FailToProxy {
        error_code: 0,
        can_reuse_downstream: false,
    })
}
