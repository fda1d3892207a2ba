//! `GET /health` and `GET /readyz` (SPEC §4), computed from the live policy: endpoint health,
//! breakers, admission counters and dependency probes. Pure: time is passed in.

use crate::policy::Policy;
use crate::reload::config_state::ConfigInfo;
use crate::upstream::breaker::State;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }
}

fn rfc3339(t: Option<SystemTime>) -> Value {
    t.map_or(Value::Null, |t| {
        Value::String(humantime::format_rfc3339_seconds(t).to_string())
    })
}

/// Every upstream has an endpoint up (SPEC §4) and, only with
/// `health.unready_when_breaker_open`, a breaker that is not open. By default an open breaker
/// leaves the replica ready: the outage is the app's, every replica shares it, and taking them
/// all out of the Service would only turn the route `fallback` and the 503 into connection
/// errors.
pub fn ready(policy: &Policy, now: Instant) -> bool {
    policy.upstreams.iter().all(|u| {
        u.any_endpoint_up()
            && (!policy.unready_when_breaker_open
                || u.breaker
                    .as_ref()
                    .is_none_or(|b| b.peek(now) != State::Open))
    })
}

/// The overall status and the JSON body of `/health`.
pub fn report(
    policy: &Policy,
    config: &ConfigInfo,
    version: &str,
    uptime: Duration,
    now: Instant,
) -> (Status, Value) {
    let mut status = Status::Healthy;
    let upstreams: Vec<Value> = policy
        .upstreams
        .iter()
        .map(|u| {
            let breaker = u.breaker.as_ref().map_or(State::Closed, |b| b.peek(now));
            let up = u.any_endpoint_up() && breaker != State::Open;
            if !up {
                status = Status::Unhealthy;
            }
            let endpoints: Vec<Value> = u
                .endpoints
                .iter()
                .map(|e| {
                    let s = e.health.snapshot();
                    json!({
                        "address": e.label,
                        "status": if s.up { "up" } else { "down" },
                        "last_check": rfc3339(s.last_check),
                        "error": s.last_error,
                    })
                })
                .collect();
            json!({
                "name": u.name,
                "status": if up { "up" } else { "down" },
                "breaker": breaker.as_str(),
                "in_flight": u.state.admission.in_flight(),
                "queued": u.state.admission.queued(),
                "endpoints": endpoints,
            })
        })
        .collect();
    let dependencies: Vec<Value> = policy
        .dependencies
        .iter()
        .map(|d| {
            let s = d.state.status();
            let label = match s.up {
                Some(true) => "up",
                Some(false) => "down",
                None => "unknown",
            };
            if s.up == Some(false) {
                if d.critical {
                    status = Status::Unhealthy;
                } else if status == Status::Healthy {
                    status = Status::Degraded;
                }
            }
            json!({
                "name": d.name,
                "status": label,
                "critical": d.critical,
                "latency_ms": s.latency.map(|l| (l.as_secs_f64() * 1000.0 * 10.0).round() / 10.0),
                "error": s.error,
                "last_check": rfc3339(s.last_check),
            })
        })
        .collect();
    let body = json!({
        "status": status.as_str(),
        "version": version,
        "uptime_seconds": uptime.as_secs(),
        "config": {
            "generation": policy.generation,
            "sha256": config.sha256,
            "loaded_at": rfc3339(Some(config.loaded_at)),
            "last_error": config.last_error,
        },
        "upstreams": upstreams,
        "dependencies": dependencies,
    });
    (status, body)
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
