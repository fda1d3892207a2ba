//! One request against a route's limits, in memory or in the shared Redis store: the first
//! limit that refuses gives the 429 (with `Retry-After` and the RateLimit headers);
//! otherwise the tightest limit sets the `RateLimit` header of the response. No `Session`:
//! the request is described by plain values.

use super::redis::SharedLimits;
use super::{limit_name, RouteLimit, Verdict};
use crate::config::model::OnError;
use crate::config::units::Rate;
use crate::reject::{Code, Reject};
use governor::clock::{Clock, DefaultClock};
use http::header::HeaderValue;
use std::net::IpAddr;
use std::sync::Arc;

/// A route's compiled limits, as the decision needs them (on the proxy's clock, or on
/// `replay`'s virtual one).
pub struct Limits<'a, C: Clock = DefaultClock> {
    pub route: &'a str,
    pub limits: &'a [Arc<RouteLimit<C>>],
    /// `RateLimit-Policy`, compiled once per config.
    pub policy_header: Option<&'a HeaderValue>,
    /// Send `RateLimit` on responses that passed.
    pub headers_on_success: bool,
}

/// What a request is keyed by.
pub struct Keys<'a, H: Fn(&str) -> Option<&'a [u8]>> {
    pub client_ip: IpAddr,
    pub header: H,
    pub query: Option<&'a str>,
}

/// What the limits decided.
#[derive(Default)]
pub struct Outcome {
    pub reject: Option<Reject>,
    /// `RateLimit` for the response of a request that passed.
    pub header: Option<HeaderValue>,
    /// The shared store failed (its `on_error` decided).
    pub store_failed: bool,
}

/// Adds the `RateLimit-Policy` and `RateLimit` headers of a request that passed its limits.
pub fn apply(
    head: &mut pingora::http::ResponseHeader,
    policy_header: Option<&HeaderValue>,
    value: Option<HeaderValue>,
) {
    let Some(value) = value else { return };
    if let Some(policy) = policy_header {
        let _ = head.insert_header("ratelimit-policy", policy.clone());
    }
    let _ = head.insert_header("ratelimit", value);
}

/// Counts the request against each limit (all must pass).
pub async fn decide<'a, H: Fn(&str) -> Option<&'a [u8]>>(
    route: &Limits<'_>,
    keys: &Keys<'a, H>,
    store: Option<&SharedLimits>,
) -> Outcome {
    let Some(store) = store else {
        return decide_local(route, keys);
    };
    let names: Vec<String> = route
        .limits
        .iter()
        .enumerate()
        .map(|(i, l)| store.key(route.route, i, l, keys.client_ip, &keys.header, keys.query))
        .collect();
    match store.check(&names, route.limits).await {
        Ok(verdicts) => answer(route, verdicts),
        Err(e) => {
            tracing::debug!(error = %e, route = %route.route, "rate-limit store unavailable");
            let reject = match store.on_error {
                OnError::Allow => None,
                OnError::Deny => Some(
                    Reject::new(
                        Code::RateLimited,
                        "the rate-limit store is unavailable and on_error is deny",
                    )
                    .with_retry_after(1),
                ),
            };
            Outcome {
                reject,
                header: None,
                store_failed: true,
            }
        }
    }
}

/// The limits in memory: each decided (and spent) in turn, lazily: `answer` stops at the
/// first refusal, so later limits are not spent. `replay` decides with this too.
pub fn decide_local<'a, C: Clock, H: Fn(&str) -> Option<&'a [u8]>>(
    route: &Limits<'_, C>,
    keys: &Keys<'a, H>,
) -> Outcome {
    let verdicts = route
        .limits
        .iter()
        .map(|limit| limit.check(limit.key_for(keys.client_ip, &keys.header, keys.query)));
    answer(route, verdicts)
}

/// The 429 for the first limit that refused, or the `RateLimit` value of the tightest.
fn answer<C: Clock>(route: &Limits<'_, C>, verdicts: impl IntoIterator<Item = Verdict>) -> Outcome {
    let mut tightest: Option<(usize, u32, u64)> = None;
    for (i, verdict) in verdicts.into_iter().enumerate() {
        match verdict {
            Verdict::Limited { retry_after_secs } => {
                let limit = &route.limits[i];
                let rate = Rate {
                    count: limit.count,
                    per: limit.window,
                };
                let name = limit_name(route.route, i);
                let mut reject = Reject::new(
                    Code::RateLimited,
                    format!("limit {rate} on route {}", route.route),
                )
                .with_retry_after(retry_after_secs);
                if let Some(policy) = route.policy_header {
                    reject = reject.with_header("ratelimit-policy", policy.clone());
                }
                if let Ok(v) =
                    HeaderValue::from_str(&format!("\"{name}\";r=0;t={retry_after_secs}"))
                {
                    reject = reject.with_header("ratelimit", v);
                }
                return Outcome {
                    reject: Some(reject),
                    ..Outcome::default()
                };
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
    let header = route
        .headers_on_success
        .then_some(tightest)
        .flatten()
        .and_then(|(i, remaining, reset)| {
            let name = limit_name(route.route, i);
            HeaderValue::from_str(&format!("\"{name}\";r={remaining};t={reset}")).ok()
        });
    Outcome {
        header,
        ..Outcome::default()
    }
}
