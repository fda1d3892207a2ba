//! Rate limiting as the proxy sees it: the route's compiled piece (`compile::RouteLimits`),
//! the request's slice, and the decisions at the request head and at the response head.
//! The proxy lists it once in `pipeline::Step::RateLimits` and once in its response phase.

use super::compile::RouteLimits;
use super::decide::{self, Keys, Limits};
use super::redis::SharedLimits;
use crate::reject::Reject;
use crate::request::RequestHead;
use crate::telemetry::metrics::Metrics;
use http::header::{HeaderMap, HeaderValue};
use pingora::http::ResponseHeader;

/// The request's slice: the `RateLimit` value its response carries when it passed.
#[derive(Debug, Default)]
pub struct Slice(Option<HeaderValue>);

/// At the request head: every limit of the route must pass, in memory or in the shared
/// store (whose failures are counted, then decided by its `on_error`).
#[allow(clippy::too_many_arguments)]
pub async fn on_head(
    piece: &RouteLimits,
    route: &str,
    head: &RequestHead,
    headers: &HeaderMap,
    query: Option<&str>,
    store: Option<&SharedLimits>,
    metrics: &Metrics,
    slice: &mut Slice,
) -> Result<(), Reject> {
    if piece.limits.is_empty() {
        return Ok(());
    }
    let limits = Limits {
        route,
        limits: &piece.limits,
        policy_header: piece.policy_header.as_ref(),
        headers_on_success: piece.headers_on_success,
    };
    let keys = Keys {
        client_ip: head.client_ip,
        header: |name: &str| headers.get(name).map(HeaderValue::as_bytes),
        query,
    };
    let outcome = decide::decide(&limits, &keys, store).await;
    let counters = [
        (
            outcome.store_failed as u32,
            &metrics.rate_limit_store_errors_total,
        ),
        (outcome.lease_grants, &metrics.rate_limit_lease_grants_total),
        (
            outcome.lease_returns,
            &metrics.rate_limit_lease_returns_total,
        ),
    ];
    for (n, counter) in counters.into_iter().filter(|(n, _)| *n > 0) {
        counter.with_label_values(&[route]).inc_by(u64::from(n));
    }
    slice.0 = outcome.header;
    outcome.reject.map_or(Ok(()), Err)
}

/// At the response head of a request that passed: `RateLimit-Policy` and `RateLimit`.
pub fn on_response(piece: &RouteLimits, slice: &mut Slice, resp: &mut ResponseHeader) {
    decide::apply(resp, piece.policy_header.as_ref(), slice.0.take());
}
