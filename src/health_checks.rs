//! Active health checks of upstream endpoints and probes of `health.dependencies`, in the
//! background — never on the request path. Every probe runs as its own task bounded by its
//! timeout, so one that hangs delays nothing but its own target's next probe.

use crate::policy::{DependencyStatus, Policy, Probe};
use crate::probe;
use crate::state::Shared;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How often due probes are looked for (intervals are seconds; this adds at most 100 ms).
const TICK: Duration = Duration::from_millis(100);

pub struct HealthChecks {
    pub shared: Arc<Shared>,
}

impl HealthChecks {
    /// Starts every probe that is due at `now` under the current policy.
    pub fn start_due_probes(&self, policy: &Policy, now: Instant) {
        for upstream in &policy.upstreams {
            let Some(check) = &upstream.health_check else {
                continue;
            };
            for endpoint in &upstream.endpoints {
                if !endpoint.health.schedule.start_if_due(now, check.interval) {
                    continue;
                }
                let health = Arc::clone(&endpoint.health);
                let shared = Arc::clone(&self.shared);
                let (name, label) = (upstream.name.clone(), endpoint.label.clone());
                let (path, timeout, thresholds) =
                    (check.path.clone(), check.timeout, check.thresholds);
                tokio::spawn(async move {
                    // A unix socket has no host name: the app is asked as `localhost`.
                    let host = if label.starts_with("unix:") {
                        "localhost"
                    } else {
                        &label
                    };
                    let outcome = probe::http(&label, host, &path, timeout).await;
                    if let Err(e) = &outcome {
                        tracing::debug!(upstream = %name, endpoint = %label, error = %e, "health check failed");
                    }
                    let moved =
                        health.record(outcome.map(drop), thresholds, Some(SystemTime::now()));
                    if let Some(up) = moved {
                        tracing::warn!(upstream = %name, endpoint = %label, up, "endpoint health changed");
                    }
                    shared
                        .metrics
                        .upstream_endpoint_up
                        .with_label_values(&[&name, &label])
                        .set(i64::from(health.is_up()));
                    health.schedule.finished();
                });
            }
        }
        for dep in &policy.dependencies {
            if !dep.state.schedule.start_if_due(now, dep.interval) {
                continue;
            }
            let state = Arc::clone(&dep.state);
            let shared = Arc::clone(&self.shared);
            let (name, target, critical, timeout) = (
                dep.name.clone(),
                dep.probe.clone(),
                dep.critical,
                dep.timeout,
            );
            tokio::spawn(async move {
                let outcome = match &target {
                    Probe::Http { addr, host, path } => {
                        probe::http(addr, host, path, timeout).await
                    }
                    Probe::Tcp { addr } => probe::tcp(addr, timeout).await,
                };
                let was = state.status().up;
                let up = outcome.is_ok();
                if was.is_some_and(|w| w != up) {
                    tracing::warn!(dependency = %name, up, "dependency health changed");
                }
                state.set(DependencyStatus {
                    up: Some(up),
                    latency: outcome.as_ref().ok().copied(),
                    error: outcome.err(),
                    last_check: Some(SystemTime::now()),
                });
                shared
                    .metrics
                    .dependency_up
                    .with_label_values(&[name.as_str(), if critical { "true" } else { "false" }])
                    .set(i64::from(up));
                state.schedule.finished();
            });
        }
    }
}

#[async_trait]
impl BackgroundService for HealthChecks {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tick.tick() => {
                    let policy = self.shared.policy.load_full();
                    self.start_due_probes(&policy, Instant::now());
                }
            }
        }
    }
}
