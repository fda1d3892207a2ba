//! The circuit breaker as the proxy sees it: the gate before the app is called, the
//! outcome of the call — a failure as soon as the response head is known, before the
//! answer is released (SPEC 0.3), a success at the end, where a body that breaks off still
//! counts as a failure —, and the transitions published. The request's slice is the call
//! it holds. No `Session`: plain values, time passed in.

use super::{Call, State};
use crate::policy::UpstreamPolicy;
use crate::reject::{Code, Reject};
use crate::telemetry::metrics::Metrics;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The request's slice: its leave to call the app, until its outcome is recorded.
#[derive(Default)]
pub struct Slice(Option<Call>);

/// How the exchange with the app ended, as far as the breaker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The response was passed on whole, with this status.
    Answered(u16),
    /// A response under way went quiet past the read timeout: the app worked (SPEC
    /// `stream_idle` is not a failure); its status decides.
    WentIdle(u16),
    /// The app failed: no connection, a timeout, a malformed or broken-off response.
    AppFailed,
    /// Nothing to learn: the client left, or Rampart answered itself.
    Unknown,
}

/// Before the app is called: no endpoint up, or the breaker open, refuses (the route's
/// fallback may answer instead); otherwise a call is taken into `slice`.
pub fn on_head(
    upstream: &UpstreamPolicy,
    now: Instant,
    metrics: &Metrics,
    slice: &mut Slice,
) -> Result<(), Reject> {
    if !upstream.any_endpoint_up() {
        return Err(
            Reject::new(Code::UpstreamUnavailable, "no healthy endpoint for the app")
                .with_status(503),
        );
    }
    let Some(breaker) = &upstream.breaker else {
        return Ok(());
    };
    let (admitted, moved) = breaker.acquire(now);
    publish(metrics, upstream, moved);
    match admitted {
        Ok(permit) => {
            slice.0 = Some(Call::new(Arc::clone(breaker), permit));
            Ok(())
        }
        Err(wait) => Err(
            Reject::new(Code::CircuitOpen, "the app is failing; not calling it")
                .with_retry_after(retry_after_secs(wait)),
        ),
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up (a client that comes back a moment
/// early is refused again), at least 1.
pub(super) fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// The app's final response head (no retry follows) — `None`: a malformed one. A failure
/// is recorded now, before the answer is released to the client, so the call after the
/// one that opens the breaker is refused however fast it follows.
pub fn on_response_head(
    upstream: &UpstreamPolicy,
    status: Option<u16>,
    now: Instant,
    metrics: &Metrics,
    slice: &mut Slice,
) {
    let failed = status.is_none_or(|s| upstream.failure_statuses.contains(&s));
    if failed {
        finish(upstream, true, now, metrics, slice);
    }
}

/// The app switched protocols (101): a success, and nothing after it counts.
pub fn on_upgrade(upstream: &UpstreamPolicy, now: Instant, metrics: &Metrics, slice: &mut Slice) {
    finish(upstream, false, now, metrics, slice);
}

/// The end of the exchange, once, after any retries (a no-op when the outcome is known).
pub fn on_end(
    upstream: &UpstreamPolicy,
    ending: Ending,
    now: Instant,
    metrics: &Metrics,
    slice: &mut Slice,
) {
    let failed = match ending {
        Ending::Answered(status) | Ending::WentIdle(status) => {
            upstream.failure_statuses.contains(&status)
        }
        Ending::AppFailed => true,
        Ending::Unknown => {
            // The permit goes back unused when the call is dropped.
            slice.0 = None;
            return;
        }
    };
    finish(upstream, failed, now, metrics, slice);
}

fn finish(
    upstream: &UpstreamPolicy,
    failed: bool,
    now: Instant,
    metrics: &Metrics,
    slice: &mut Slice,
) {
    if let Some(call) = slice.0.take() {
        publish(metrics, upstream, call.finish(failed, now));
    }
}

/// Counts a transition and publishes the new state.
pub fn publish(metrics: &Metrics, upstream: &UpstreamPolicy, moved: Option<State>) {
    let Some(to) = moved else { return };
    metrics
        .circuit_breaker_transitions_total
        .with_label_values(&[&upstream.name, to.as_str()])
        .inc();
    metrics
        .circuit_breaker_state
        .with_label_values(&[&upstream.name])
        .set(to.gauge());
    tracing::warn!(upstream = %upstream.name, to = to.as_str(), "circuit breaker");
}
