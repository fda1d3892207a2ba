//! `health.dependencies`: what the app depends on, probed in the background and shown in
//! `/health`. Their state is kept across reloads for the same name and target.

use crate::config::model::Dependency;
use crate::upstream::health::Schedule;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `GET path` on `addr` with `Host: host`; 2xx/3xx is up.
    Http {
        addr: String,
        host: String,
        path: String,
    },
    /// A TCP connect to `addr`.
    Tcp { addr: String },
}

pub struct DependencyPolicy {
    pub name: String,
    pub probe: Probe,
    pub critical: bool,
    pub interval: Duration,
    pub timeout: Duration,
    pub state: Arc<DependencyState>,
}

/// The last probe's result; `up` is None until the first probe finished.
#[derive(Debug, Clone, Default)]
pub struct DependencyStatus {
    pub up: Option<bool>,
    pub latency: Option<Duration>,
    pub error: Option<String>,
    pub last_check: Option<SystemTime>,
}

#[derive(Debug, Default)]
pub struct DependencyState {
    pub status: Mutex<DependencyStatus>,
    pub schedule: Schedule,
}

impl DependencyState {
    pub fn status(&self) -> DependencyStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set(&self, status: DependencyStatus) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }
}

/// Compiles the dependencies, taking state from `old` for the same name and target.
pub(super) fn compile(deps: &[Dependency], old: &[DependencyPolicy]) -> Vec<DependencyPolicy> {
    deps.iter()
        .filter_map(|d| {
            let probe = match (&d.http, &d.tcp) {
                (Some(url), _) => {
                    let (addr, host, path) = crate::health::probe::split_url(url)?;
                    Probe::Http { addr, host, path }
                }
                (None, Some(addr)) => Probe::Tcp { addr: addr.clone() },
                // Validation requires exactly one of them.
                (None, None) => return None,
            };
            let state = old
                .iter()
                .find(|o| o.name == d.name && o.probe == probe)
                .map(|o| Arc::clone(&o.state))
                .unwrap_or_default();
            Some(DependencyPolicy {
                name: d.name.clone(),
                probe,
                critical: d.critical,
                interval: d.interval.0,
                timeout: d.timeout.0,
                state,
            })
        })
        .collect()
}
