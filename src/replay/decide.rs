//! What a candidate config decides for one logged request, from what the log holds, in the
//! proxy's order: route (404/405), IP rules (403), rate limits (429, the proxy's limiter on a
//! clock driven by the log's timestamps), declared body size (413). Shadow routes refuse
//! nothing, as live.

use super::log::Entry;
use crate::config::model::{Config, RateKey};
use crate::guards::rate_limit::{RouteLimit, Verdict};
use crate::guards::routing::{find_route, normalize_path, RouteMatcher};
use crate::guards::{access, body};
use crate::reject::Code;
use governor::clock::FakeRelativeClock;
use ipnet::IpNet;
use std::time::Duration;

struct Route {
    name: String,
    shadow: bool,
    allow: Option<Vec<IpNet>>,
    deny: Vec<IpNet>,
    max_body: u64,
    limits: Vec<RouteLimit<FakeRelativeClock>>,
}

pub struct Replayer {
    matchers: Vec<RouteMatcher>,
    routes: Vec<Route>,
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
    pub fn new(config: &Config) -> Result<Replayer, String> {
        let clock = FakeRelativeClock::default();
        let mut matchers = Vec::new();
        let mut routes = Vec::new();
        let mut not_replayable = Vec::new();
        let max_keys = config.rate_limit_store.max_keys;
        for r in &config.routes {
            matchers.push(
                RouteMatcher::compile(&r.matcher).map_err(|e| format!("route {}: {e}", r.name))?,
            );
            let mut limits = Vec::new();
            for (i, l) in r.rate_limit.iter().enumerate() {
                match &l.key {
                    RateKey::ClientIp | RateKey::Global => limits.push(
                        RouteLimit::new(l.rate, l.burst, l.key.clone(), max_keys, clock.clone())
                            .ok_or_else(|| format!("route {}: rate_limit[{i}]: cannot be held", r.name))?,
                    ),
                    RateKey::Header(h) => not_replayable.push(format!("{}: rate_limit[{i}] keyed by header {h} (the log has no headers)", r.name)),
                    RateKey::Query(q) => not_replayable.push(format!("{}: rate_limit[{i}] keyed by query {q} (replayed only as logged paths carry it: not replayed)", r.name)),
                }
            }
            let rules = [
                (
                    r.json_schema.is_some(),
                    "json_schema (the log has no bodies)",
                ),
                (r.uploads.is_some(), "uploads (the log has no bodies)"),
                (
                    r.content_types.is_some(),
                    "content_types (the log has no headers)",
                ),
            ];
            for (present, what) in rules {
                if present {
                    not_replayable.push(format!("{}: {what}", r.name));
                }
            }
            routes.push(Route {
                name: r.name.clone(),
                shadow: r.shadow,
                allow: r
                    .allow_ips
                    .as_ref()
                    .map(|l| l.iter().map(|c| c.0).collect()),
                deny: r.deny_ips.iter().map(|c| c.0).collect(),
                max_body: r.max_body_bytes.unwrap_or(config.client.max_body_bytes).0,
                limits,
            });
        }
        Ok(Replayer {
            matchers,
            routes,
            clock,
            start: None,
            now: 0,
            not_replayable,
            seen: 0,
        })
    }

    /// The route (its name, or "" when none) and the refusal, if the candidate refuses it.
    pub fn decide(&mut self, e: &Entry<'_>) -> (&str, Option<Code>) {
        self.advance(e.at_nanos);
        let path = e.target.split('?').next().unwrap_or("");
        let Ok(normal) = normalize_path(path) else {
            return ("", Some(Code::BadRequest));
        };
        let method = http::Method::from_bytes(e.method.as_bytes()).unwrap_or(http::Method::GET);
        let index = match find_route(&self.matchers, &method, None, &normal) {
            Ok(i) => i,
            Err(reject) => return ("", Some(reject.code)),
        };
        let route = &self.routes[index];
        let refusal = (|| {
            if let Some(ip) = e.client_ip {
                if let Err(r) = access::check_ip(ip, route.allow.as_deref(), &route.deny) {
                    return Some(r.code);
                }
            }
            let ip = e
                .client_ip
                .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
            for limit in &route.limits {
                let key = limit.key_for(ip, |_| None, None);
                if let Verdict::Limited { .. } = limit.check(key) {
                    return Some(Code::RateLimited);
                }
            }
            let size = e.bytes_in?;
            body::check_declared(size, route.max_body)
                .err()
                .map(|r| r.code)
        })();
        (route.name.as_str(), refusal.filter(|_| !route.shadow))
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
            for limit in self.routes.iter().flat_map(|r| &r.limits) {
                limit.evict_idle();
            }
        }
    }
}
