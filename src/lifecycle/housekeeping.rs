//! Background upkeep: health probes when due (`health::checks`), evicting idle rate-limit keys
//! and leases, and publishing how many keys are tracked — one loop, one thread.

use crate::health::checks::{next_wake, HealthChecks};
use crate::state::Shared;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often idle keys are evicted. A key whose bucket is full again is indistinguishable
/// from a new one, so evicting it changes no verdict: only memory.
const EVICT_EVERY: Duration = Duration::from_secs(10);
/// A sweep due this soon runs with a probe's wake-up instead of waking on its own.
const SWEEP_SLACK: Duration = Duration::from_secs(2);
/// With no limit configured there is nothing to sweep: the loop only wakes for probes (a
/// reload that adds limits wakes it at once).
const IDLE_SWEEP: Duration = Duration::from_secs(3600);

pub struct Housekeeping {
    pub shared: Arc<Shared>,
}

impl Housekeeping {
    /// One pass: evict idle keys of every limit and set `rampart_rate_limit_keys{route}`.
    pub fn sweep(&self) {
        let policy = self.shared.policy.load();
        let mut evicted_any = false;
        for route in policy
            .routes
            .iter()
            .filter(|r| !r.rate_limits.limits.is_empty())
        {
            let mut keys = 0;
            for limit in &route.rate_limits.limits {
                let before = limit.tracked_keys();
                limit.evict_idle();
                let after = limit.tracked_keys();
                evicted_any |= after < before;
                keys += after;
            }
            self.shared
                .metrics
                .rate_limit_keys
                .with_label_values(&[&route.name])
                .set(i64::try_from(keys).unwrap_or(i64::MAX));
        }
        if let Some(store) = &policy.shared_limits {
            store.evict_idle();
        }
        if evicted_any {
            return_free_memory();
        }
    }
}

pub use crate::lifecycle::memory::return_free_memory;

#[async_trait]
impl BackgroundService for Housekeeping {
    /// One loop for both background jobs: health probes when each is due, and the sweep
    /// every `EVICT_EVERY` while a policy has limits. It sleeps until the earliest is due
    /// (a reload wakes it), so an idle instance wakes once per probe, and a sweep that falls
    /// near a probe rides on its wake-up instead of costing one of its own.
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let checks = HealthChecks {
            shared: Arc::clone(&self.shared),
        };
        let mut next_sweep = Instant::now();
        loop {
            let policy = self.shared.policy.load_full();
            let now = Instant::now();
            checks.start_due_probes(&policy, now);
            let limited = policy.shared_limits.is_some()
                || policy
                    .routes
                    .iter()
                    .any(|r| !r.rate_limits.limits.is_empty());
            if !limited {
                next_sweep = crate::time_math::after(now, IDLE_SWEEP);
            } else if now >= next_sweep.checked_sub(SWEEP_SLACK).unwrap_or(now) {
                self.sweep();
                next_sweep = crate::time_math::after(now, EVICT_EVERY);
            }
            let wake = next_wake(&policy, now).min(next_sweep);
            drop(policy);
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = self.shared.policy_swapped.notified() => {}
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::telemetry::metrics::Metrics;

    #[test]
    fn sweep_publishes_the_key_count() {
        let yaml = "server: { listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0 }\n\
            upstreams: { app: { endpoints: [127.0.0.1:9] } }\n\
            routes: [ { name: r, match: { path_prefix: / }, upstream: app, rate_limit: [ { rate: 1/hour } ] } ]\n";
        let loaded =
            crate::config::load_str(yaml, "t.yaml", std::path::Path::new("."), &|_| None).unwrap();
        let shared = Shared::new(
            Policy::compile(&loaded, None, 1).unwrap(),
            Metrics::new().unwrap(),
            crate::reload::config_state::ConfigState::new(
                "t.yaml".into(),
                crate::reload::config_state::ConfigInfo::of_text(yaml),
                crate::reload::config_state::FixedSettings::of(&loaded.config),
            ),
        );
        for ip in 0..5u32 {
            let limit = &shared.policy.load().routes[0].rate_limits.limits[0];
            limit.check(limit.ip_key(std::net::IpAddr::from(ip.to_be_bytes())));
        }
        let upkeep = Housekeeping {
            shared: Arc::clone(&shared),
        };
        upkeep.sweep();
        // Each bucket is still spent (1/hour): nothing is idle, all five stay tracked.
        assert_eq!(
            shared
                .metrics
                .rate_limit_keys
                .with_label_values(&["r"])
                .get(),
            5
        );
    }
}
