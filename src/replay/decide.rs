//! What a candidate config decides for one logged request: the proxy's own compiled
//! policy (`Policy::compile`, as a reload would) and its own order of steps
//! (`pipeline::Step::ORDER`), over a request head built from what the log holds. The steps
//! a log has the facts for run the proxy's checks: route (404/405), IP rules (403), rate
//! limits (429, the route's limiters counted on a clock driven by the log's timestamps) and
//! the declared body size (413). Shadow routes refuse nothing, as live.

use super::log::Entry;
use crate::config::model::RateKey;
use crate::config::LoadedConfig;
use crate::guards::rate_limit::decide::{self as limits, Keys, Limits};
use crate::guards::rate_limit::RouteLimit;
use crate::pipeline::{self, Step};
use crate::policy::Policy;
use crate::reject::{Code, Reject};
use crate::request::RequestHead;
use governor::clock::FakeRelativeClock;
use std::sync::Arc;
use std::time::Duration;

pub struct Replayer {
    policy: Policy,
    /// Each route's limits, as compiled, counted on the virtual clock.
    limits: Vec<Vec<Arc<RouteLimit<FakeRelativeClock>>>>,
    clock: FakeRelativeClock,
    /// The log's first timestamp: the virtual clock's zero.
    start: Option<u128>,
    /// Where the virtual clock stands (it never runs backwards).
    now: u128,
    /// Rules the log cannot replay, as `route: rule` lines.
    pub not_replayable: Vec<String>,
    seen: u64,
}

/// How often idle keys are evicted (as the proxy's housekeeping does): memory stays bounded
/// by the key table, whatever the log's length.
const EVICT_EVERY: u64 = 65_536;

impl Replayer {
    pub fn new(loaded: &LoadedConfig) -> Result<Replayer, String> {
        let policy = Policy::compile(loaded, None, 1).map_err(|e| e.to_string())?;
        let clock = FakeRelativeClock::default();
        let mut limits = Vec::with_capacity(policy.routes.len());
        for route in &policy.routes {
            // Limits keyed by a header or query value are not replayed (`not_replayable`):
            // every line would share the bucket of a missing value.
            let on_log_time = route
                .rate_limits
                .limits
                .iter()
                .filter(|l| matches!(l.key_kind(), RateKey::ClientIp | RateKey::Global))
                .map(|l| l.with_clock(clock.clone()).map(Arc::new))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("route {}: a rate_limit cannot be held", route.name))?;
            limits.push(on_log_time);
        }
        Ok(Replayer {
            not_replayable: not_replayable(&policy),
            policy,
            limits,
            clock,
            start: None,
            now: 0,
            seen: 0,
        })
    }

    /// The route (its name, or "" when none) and the refusal, if the candidate refuses it.
    pub fn decide(&mut self, e: &Entry<'_>) -> (&str, Option<Code>) {
        self.advance(e.at_nanos);
        let (path, query) = match e.target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (&*e.target, None),
        };
        let method = http::Method::from_bytes(e.method.as_bytes()).unwrap_or(http::Method::GET);
        let head = RequestHead::from_log(method, e.client_ip, e.bytes_in);
        let mut index = None;
        for step in Step::ORDER {
            let route = index.and_then(|i| self.policy.routes.get(i));
            let checked = match (step, route) {
                (Step::Route, _) => match pipeline::route(&self.policy, &head, path) {
                    Ok((i, _)) => {
                        index = Some(i);
                        Ok(())
                    }
                    Err(reject) => return ("", Some(reject.code)),
                },
                (Step::IpRules, Some(route)) if e.client_ip.is_some() => {
                    pipeline::ip_rules(route, &head)
                }
                (Step::RateLimits, Some(_)) => self.rate_limits(index, &head, query),
                (Step::DeclaredSize, Some(route)) => pipeline::declared_size(route, &head),
                // Not in a log (headers, bodies, the live app): listed in `not_replayable`.
                _ => Ok(()),
            };
            if let (Err(reject), Some(route)) = (checked, route) {
                return (route.name.as_str(), (!route.shadow).then_some(reject.code));
            }
        }
        let name = index.and_then(|i| self.policy.routes.get(i));
        (name.map_or("", |r| r.name.as_str()), None)
    }

    /// The route's limits as the proxy decides them in memory (every limit must pass).
    fn rate_limits(
        &self,
        index: Option<usize>,
        head: &RequestHead,
        query: Option<&str>,
    ) -> Result<(), Reject> {
        let (Some(route), Some(on_log_time)) = (
            index.and_then(|i| self.policy.routes.get(i)),
            index.and_then(|i| self.limits.get(i)),
        ) else {
            return Ok(());
        };
        let route_limits = Limits {
            route: &route.name,
            limits: on_log_time,
            policy_header: route.rate_limits.policy_header.as_ref(),
            headers_on_success: false,
        };
        let keys = Keys {
            client_ip: head.client_ip,
            header: |_: &str| None,
            query,
        };
        match limits::decide_local(&route_limits, &keys).reject {
            Some(reject) => Err(reject),
            None => Ok(()),
        }
    }

    /// Moves the virtual clock to `at` (log lines slightly out of order do not move it back).
    fn advance(&mut self, at: u128) {
        let start = *self.start.get_or_insert(at);
        let target = at.saturating_sub(start);
        if target > self.now {
            let step = u64::try_from(target - self.now).unwrap_or(u64::MAX);
            self.clock.advance(Duration::from_nanos(step));
            self.now = target;
        }
        self.seen += 1;
        if self.seen % EVICT_EVERY == 0 {
            for limit in self.limits.iter().flatten() {
                limit.evict_idle();
            }
        }
    }
}

/// Rules a log has no facts for, as `route: rule` lines.
fn not_replayable(policy: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    for r in &policy.routes {
        for (i, l) in r.rate_limits.limits.iter().enumerate() {
            match l.key_kind() {
                RateKey::ClientIp | RateKey::Global => {}
                RateKey::Header(h) => out.push(format!(
                    "{}: rate_limit[{i}] keyed by header {h} (the log has no headers)",
                    r.name
                )),
                RateKey::Query(q) => out.push(format!(
                    "{}: rate_limit[{i}] keyed by query {q} (replayed only as logged paths carry it: not replayed)",
                    r.name
                )),
            }
        }
        let rules = [
            (r.schema.is_some(), "json_schema (the log has no bodies)"),
            (r.uploads.is_some(), "uploads (the log has no bodies)"),
            (
                r.content_types.is_some(),
                "content_types (the log has no headers)",
            ),
        ];
        for (present, what) in rules {
            if present {
                out.push(format!("{}: {what}", r.name));
            }
        }
    }
    out
}
