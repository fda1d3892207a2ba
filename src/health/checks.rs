//! Active health checks of upstream endpoints and probes of `health.dependencies`, in the
//! background (the housekeeping loop starts them when due) — never on the request path. Every probe runs as its own task bounded by its
//! timeout, so one that hangs delays nothing but its own target's next probe.

use crate::health::probe;
use crate::policy::{DependencyStatus, Policy, Probe};
use crate::state::Shared;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The longest the loop sleeps with nothing due (no checks configured). A reload wakes it
/// at once (`Shared::policy_swapped`), so this only bounds a lost wake-up.
const MAX_SLEEP: Duration = Duration::from_secs(3600);
/// The shortest: probes due together start together.
const MIN_SLEEP: Duration = Duration::from_millis(10);

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

/// When the loop should look again: the earliest probe due, within [MIN_SLEEP, MAX_SLEEP]
/// from `now`. Sleeping until then (instead of ticking) keeps an idle instance asleep: one
/// wake-up per probe, none in between.
pub fn next_wake(policy: &Policy, now: Instant) -> Instant {
    let endpoints = policy
        .upstreams
        .iter()
        .filter(|u| u.health_check.is_some())
        .flat_map(|u| u.endpoints.iter().map(|e| e.health.schedule.next_due()));
    let dependencies = policy
        .dependencies
        .iter()
        .map(|d| d.state.schedule.next_due());
    let earliest = endpoints
        .chain(dependencies)
        .map(|due| due.unwrap_or(now))
        .min()
        .unwrap_or_else(|| crate::time_math::after(now, MAX_SLEEP));
    earliest.clamp(
        crate::time_math::after(now, MIN_SLEEP),
        crate::time_math::after(now, MAX_SLEEP),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: &str) -> Policy {
        let yaml = format!(
            "server: {{ listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0 }}\n\
             upstreams:\n  app:\n    endpoints: [127.0.0.1:9]\n{extra}\
             routes: [ {{ name: r, match: {{ path_prefix: / }}, upstream: app }} ]\n"
        );
        let loaded =
            crate::config::load_str(&yaml, "t.yaml", std::path::Path::new("."), &|_| None).unwrap();
        Policy::compile(&loaded, None, 1).unwrap()
    }

    #[test]
    fn the_loop_sleeps_until_the_next_probe_is_due_and_at_most_a_second() {
        let now = Instant::now();
        // Nothing to probe: a wake-up a second, for reloads that add checks.
        assert_eq!(next_wake(&policy(""), now), now + MAX_SLEEP);
        let p = policy("    health_check: { interval: 300ms }\n");
        // Never probed: due at once.
        assert_eq!(next_wake(&p, now), now + MIN_SLEEP);
        let schedule = &p.upstreams[0].endpoints[0].health.schedule;
        assert!(schedule.start_if_due(now, Duration::from_millis(300)));
        schedule.finished();
        assert_eq!(next_wake(&p, now), now + Duration::from_millis(300));
    }
}
