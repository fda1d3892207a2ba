//! One request against a route's limits, in memory or in the shared Redis store: the first
//! limit that refuses gives the 429 (with `Retry-After` and the RateLimit headers);
//! otherwise the tightest limit sets the `RateLimit` header of the response. No `Session`:
//! the request is described by plain values.

use super::redis::{SharedLimits, StoreError};
use super::{limit_name, LimitName, RouteLimit, Verdict};
use crate::config::model::{OnError, Sharing};
use crate::config::units::Rate;
use crate::reject::{Code, Reject};
use bytes::Bytes;
use governor::clock::{Clock, DefaultClock};
use http::header::{HeaderName, HeaderValue};
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
    /// Leases granted and given back while deciding (`sharing: leased`).
    pub lease_grants: u32,
    pub lease_returns: u32,
}

/// Adds the `RateLimit-Policy` and `RateLimit` headers of a request that passed its limits.
pub fn apply(
    head: &mut pingora::http::ResponseHeader,
    policy_header: Option<&HeaderValue>,
    value: Option<HeaderValue>,
) {
    // Parsed names and their wire spelling, built once: inserting by `&str` parses the name
    // and allocates it (and its spelling) on every response.
    static POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
    static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
    static POLICY_WIRE: Bytes = Bytes::from_static(b"RateLimit-Policy");
    static RATELIMIT_WIRE: Bytes = Bytes::from_static(b"RateLimit");
    let Some(value) = value else { return };
    if let Some(policy) = policy_header {
        head.insert_parsed_header(&POLICY, &POLICY_WIRE, policy.clone());
    }
    head.insert_parsed_header(&RATELIMIT, &RATELIMIT_WIRE, value);
}

/// `RateLimit` of a request that passed: `"<limit>";r=<remaining>;t=<reset>`, written on the
/// stack and copied once into the header value (the response of every request on a limited
/// route carries it). A `String` turned into `Bytes` took a second allocation: `Bytes` keeps
/// a vector with spare capacity behind a shared handle it allocates.
fn success_value(route: &str, i: usize, remaining: u32, reset: u64) -> Option<HeaderValue> {
    use std::io::Write;
    let mut buf = [0u8; 192];
    let mut rest = &mut buf[..];
    let written = write!(rest, "\"{}\";r={remaining};t={reset}", LimitName(route, i));
    let left = rest.len();
    let len = buf.len() - left;
    match written {
        Ok(()) => HeaderValue::from_bytes(buf.get(..len)?).ok(),
        // A route name too long for the buffer: rare, and spelled through a `String`.
        Err(_) => {
            let value = format!("\"{}\";r={remaining};t={reset}", LimitName(route, i));
            HeaderValue::from_str(&value).ok()
        }
    }
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
    match decide_shared(route, keys, store).await {
        Ok(outcome) => outcome,
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
                store_failed: true,
                ..Outcome::default()
            }
        }
    }
}

/// The route's leased limits first (in order; each from its lease or a new one), then its
/// exact limits in one atomic call. A refusal anywhere puts back what the leases spent, so a
/// refused request spends nothing.
async fn decide_shared<'a, H: Fn(&str) -> Option<&'a [u8]>>(
    route: &Limits<'_>,
    keys: &Keys<'a, H>,
    store: &SharedLimits,
) -> Result<Outcome, StoreError> {
    let limits = route.limits;
    let same_kind = limits
        .windows(2)
        .all(|w| w[0].key_kind() == w[1].key_kind());
    let key = |i: usize, l: &RouteLimit| {
        store.key(
            route.route,
            i,
            l,
            same_kind,
            keys.client_ip,
            &keys.header,
            keys.query,
        )
    };
    let mut verdicts = vec![None; limits.len()];
    let mut spent: Vec<String> = Vec::new();
    let mut exact: Vec<(String, &RouteLimit)> = Vec::new();
    let (mut grants, mut returns) = (0, 0);
    let refund = |spent: &[String]| spent.iter().for_each(|k| store.refund(k));
    for (i, limit) in limits.iter().enumerate() {
        if limit.sharing == Sharing::Exact {
            exact.push((key(i, limit), limit));
            continue;
        }
        let k = key(i, limit);
        let leased = store
            .leased(&k, limit)
            .await
            .inspect_err(|_| refund(&spent))?;
        grants += u32::from(leased.granted);
        returns += u32::from(leased.returned);
        verdicts[i] = Some(leased.verdict);
        if matches!(leased.verdict, Verdict::Limited { .. }) {
            refund(&spent);
            break;
        }
        spent.push(k);
    }
    let refused = verdicts
        .iter()
        .flatten()
        .any(|v| matches!(v, Verdict::Limited { .. }));
    if !refused && !exact.is_empty() {
        let answers = store.check(&exact).await.inspect_err(|_| refund(&spent))?;
        let mut answers = answers.into_iter();
        for (i, limit) in limits.iter().enumerate() {
            if limit.sharing == Sharing::Exact {
                verdicts[i] = answers.next();
            }
        }
        if verdicts
            .iter()
            .flatten()
            .any(|v| matches!(v, Verdict::Limited { .. }))
        {
            refund(&spent);
        }
    }
    let decided = verdicts.into_iter().enumerate();
    let mut outcome = answer(route, decided.filter_map(|(i, v)| Some((i, v?))));
    outcome.lease_grants = grants;
    outcome.lease_returns = returns;
    Ok(outcome)
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
        .map(|limit| limit.check(limit.key_for(keys.client_ip, &keys.header, keys.query)))
        .enumerate();
    answer(route, verdicts)
}

/// The 429 for the first limit that refused, or the `RateLimit` value of the tightest.
/// `verdicts`: by the limit's index in the route (limits not decided are left out).
fn answer<C: Clock>(
    route: &Limits<'_, C>,
    verdicts: impl IntoIterator<Item = (usize, Verdict)>,
) -> Outcome {
    let mut tightest: Option<(usize, u32, u64)> = None;
    for (i, verdict) in verdicts {
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
        .and_then(|(i, remaining, reset)| success_value(route.route, i, remaining, reset));
    Outcome {
        header,
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::RateKey;
    use crate::config::units::parse_rate;
    use governor::clock::FakeRelativeClock;

    /// `RateLimit` names the limit with the least left; on a tie, the first of them.
    #[test]
    fn the_tightest_limit_is_named_and_a_tie_names_the_first() {
        let limit = |rate: &str| {
            let clock = FakeRelativeClock::default();
            Arc::new(
                RouteLimit::new(parse_rate(rate).unwrap(), None, RateKey::Global, 10, clock)
                    .unwrap(),
            )
        };
        let limits = [limit("10/minute"), limit("100/hour"), limit("5/second")];
        let route = Limits {
            route: "api",
            limits: &limits,
            policy_header: None,
            headers_on_success: true,
        };
        let allowed = |remaining| Verdict::Allowed {
            remaining,
            reset_secs: 1,
        };
        let named = |verdicts: Vec<(usize, Verdict)>| {
            answer(&route, verdicts)
                .header
                .map(|h| h.to_str().unwrap().to_string())
        };
        assert_eq!(
            named(vec![(0, allowed(7)), (1, allowed(3)), (2, allowed(5))]).as_deref(),
            Some("\"api.2\";r=3;t=1")
        );
        assert_eq!(
            named(vec![(0, allowed(4)), (1, allowed(4)), (2, allowed(9))]).as_deref(),
            Some("\"api\";r=4;t=1")
        );
    }

    /// The value is the same whether it fits the stack buffer or not, on either side of
    /// the edge and for the longest numbers.
    #[test]
    fn a_success_value_is_spelled_the_same_for_any_length_of_route_name() {
        for len in [1, 150, 155, 156, 157, 160, 191, 192, 193, 1000] {
            let route = "r".repeat(len);
            for (i, remaining, reset) in [(0, 7, 1), (3, u32::MAX, u64::MAX)] {
                let value = success_value(&route, i, remaining, reset).unwrap();
                let expected = format!("\"{}\";r={remaining};t={reset}", LimitName(&route, i));
                assert_eq!(value.as_bytes(), expected.as_bytes(), "route of {len}");
            }
        }
    }

    /// The RateLimit headers go on the wire as the draft spells them, the policy first.
    #[test]
    fn ratelimit_headers_are_written_as_the_draft_spells_them() {
        let mut head = pingora::http::ResponseHeader::build(200, None).unwrap();
        let policy = HeaderValue::from_static("\"api\";q=3;w=60");
        apply(
            &mut head,
            Some(&policy),
            Some(HeaderValue::from_static("\"api\";r=2;t=60")),
        );
        let mut wire = bytes::BytesMut::new();
        head.header_to_h1_wire(&mut wire);
        assert_eq!(
            String::from_utf8(wire.to_vec()).unwrap(),
            "RateLimit-Policy: \"api\";q=3;w=60\r\nRateLimit: \"api\";r=2;t=60\r\n"
        );
        let mut untouched = pingora::http::ResponseHeader::build(200, None).unwrap();
        apply(&mut untouched, Some(&policy), None);
        assert!(untouched.headers.is_empty());
    }
}
