//! One upstream's compiled policy: endpoints with their health, timeouts, admission,
//! breaker and retry settings. Runtime state (cursor, slots, breaker, endpoint health, retry
//! budget) is carried over from the previous policy when its settings did not change.

use super::CompileError;
use crate::config::model::{RetryOn, Upstream};
use crate::upstream::admission::{Admission, Limits as AdmissionLimits};
use crate::upstream::breaker::{Breaker, BreakerConfig};
use crate::upstream::health::{EndpointHealth, Thresholds};
use crate::upstream::retry::{RetryBudget, RetryPolicy};
use crate::upstream::select::RoundRobin;
use pingora::upstreams::peer::HttpPeer;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct UpstreamPolicy {
    pub name: String,
    pub endpoints: Vec<EndpointPolicy>,
    pub read_timeout: Duration,
    pub connect_timeout: Duration,
    /// `max_in_flight` and `queue`.
    pub admission: AdmissionLimits,
    pub breaker: Option<Arc<Breaker>>,
    /// Statuses from the app that count as breaker failures.
    pub failure_statuses: Vec<u16>,
    pub retry: Option<RetryPolicy>,
    pub health_check: Option<HealthCheckPolicy>,
    pub state: Arc<UpstreamState>,
}

pub struct HealthCheckPolicy {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub thresholds: Thresholds,
}

pub struct EndpointPolicy {
    /// As written in the config (`127.0.0.1:8000`), for logs and labels.
    pub label: String,
    /// Built once; cloned per request.
    pub peer: HttpPeer,
    /// Kept across reloads for the same address.
    pub health: Arc<EndpointHealth>,
}

/// What an upstream keeps across reloads.
pub struct UpstreamState {
    pub round_robin: RoundRobin,
    /// Slots and queue: requests in flight keep theirs across a reload.
    pub admission: Arc<Admission>,
    pub retry_budget: RetryBudget,
}

impl Default for UpstreamState {
    fn default() -> Self {
        UpstreamState {
            round_robin: RoundRobin::default(),
            admission: Arc::default(),
            retry_budget: RetryBudget::new(Instant::now()),
        }
    }
}

impl UpstreamPolicy {
    /// Whether any endpoint takes traffic.
    pub fn any_endpoint_up(&self) -> bool {
        self.endpoints.iter().any(|e| e.health.is_up())
    }
}

pub(super) fn compile_upstream(
    name: &str,
    u: &Upstream,
    old: Option<&UpstreamPolicy>,
) -> Result<UpstreamPolicy, CompileError> {
    let mut endpoints = Vec::with_capacity(u.endpoints.len());
    for ep in &u.endpoints {
        let mut peer = peer(ep).map_err(|reason| CompileError::Resolve {
            upstream: name.to_string(),
            endpoint: ep.clone(),
            reason,
        })?;
        peer.options.connection_timeout = Some(u.connect_timeout.0);
        peer.options.total_connection_timeout = Some(u.connect_timeout.0);
        peer.options.read_timeout = Some(u.read_timeout.0);
        peer.options.write_timeout = Some(u.write_timeout.0);
        peer.options.idle_timeout = Some(u.idle_timeout.0);
        let health = old
            .and_then(|o| o.endpoints.iter().find(|e| e.label == *ep))
            .map(|e| Arc::clone(&e.health))
            .unwrap_or_default();
        endpoints.push(EndpointPolicy {
            label: ep.clone(),
            peer,
            health,
        });
    }
    let breaker = u.circuit_breaker.as_ref().map(|b| {
        let config = BreakerConfig {
            consecutive_failures: b.consecutive_failures,
            failure_ratio: b.failure_ratio,
            min_requests: b.min_requests,
            window: b.window.0,
            open_for: b.open_for.0,
            half_open_requests: b.half_open_requests,
        };
        // Same settings: the breaker keeps its state (a reload must not close an open one).
        match old.and_then(|o| o.breaker.as_ref()) {
            Some(existing) if *existing.config() == config => Arc::clone(existing),
            _ => Arc::new(Breaker::new(config, Instant::now())),
        }
    });
    let retry = u.retry.as_ref().map(|r| RetryPolicy {
        attempts: r.attempts,
        backoff: r.backoff.0,
        max_backoff: r.max_backoff.0,
        on_connect_failure: r.retry_on.contains(&RetryOn::ConnectFailure),
        on_timeout: r.retry_on.contains(&RetryOn::Timeout),
        on_statuses: r
            .retry_on
            .iter()
            .filter_map(|c| match c {
                RetryOn::Status(code) => Some(*code),
                _ => None,
            })
            .collect(),
        budget_ratio: r.budget_ratio,
    });
    let health_check = u.health_check.as_ref().map(|h| HealthCheckPolicy {
        path: h.path.clone(),
        interval: h.interval.0,
        timeout: h.timeout.0,
        thresholds: Thresholds {
            healthy_after: h.healthy_after,
            unhealthy_after: h.unhealthy_after,
        },
    });
    if health_check.is_none() {
        // Without active checks nothing could bring a passively downed endpoint back.
        for e in &endpoints {
            e.health.record(
                Ok(()),
                Thresholds {
                    healthy_after: 1,
                    unhealthy_after: 1,
                },
                None,
            );
        }
    }
    Ok(UpstreamPolicy {
        name: name.to_string(),
        endpoints,
        read_timeout: u.read_timeout.0,
        connect_timeout: u.connect_timeout.0,
        admission: admission_limits(u),
        breaker,
        failure_statuses: u
            .circuit_breaker
            .as_ref()
            .map(|b| b.failure_statuses.clone())
            .unwrap_or_default(),
        retry,
        health_check,
        state: old.map(|o| Arc::clone(&o.state)).unwrap_or_default(),
    })
}

/// A cap without a `queue:` section gets the default queue (256 waiting, 2 s).
fn admission_limits(u: &Upstream) -> AdmissionLimits {
    let queue = u.queue.clone().unwrap_or_default();
    AdmissionLimits {
        max_in_flight: u.max_in_flight.map(|n| n as usize),
        queue_max: queue.max,
        queue_timeout: queue.timeout.0,
    }
}

/// The peer of `host:port` or `unix:/path`.
fn peer(endpoint: &str) -> Result<HttpPeer, String> {
    match endpoint.strip_prefix("unix:") {
        Some(path) => HttpPeer::new_uds(path, false, String::new()).map_err(|e| e.to_string()),
        None => resolve(endpoint).map(|addr| HttpPeer::new(addr, false, String::new())),
    }
}

/// `host:port` to an address; names are resolved once, at load (sidecars talk to
/// `127.0.0.1` or `localhost`; a DNS change needs a reload).
fn resolve(endpoint: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = endpoint.parse::<SocketAddr>() {
        return Ok(addr);
    }
    endpoint
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| "no address found".to_string())
}
