//! What one running Rampart shares between its front door, proxy, admin endpoints, background
//! services and reloads, by concern: the live policy, the metrics, the process's lifecycle,
//! and the config file's state.

use crate::policy::Policy;
use crate::reload::config_state::ConfigState;
use crate::telemetry::metrics::Metrics;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub struct Shared {
    /// The live policy; each request takes one snapshot (`load_full`).
    pub policy: ArcSwap<Policy>,
    /// Signalled when a reload swaps the policy: background loops that sleep until their next
    /// due moment (health checks) wake to look at the new one instead of ticking.
    pub policy_swapped: tokio::sync::Notify,
    pub metrics: Metrics,
    pub lifecycle: Lifecycle,
    pub config: ConfigState,
}

/// Start, open connections, shutdown.
pub struct Lifecycle {
    pub started: Instant,
    /// Set when shutdown begins; `/readyz` answers 503 from then on.
    pub draining: AtomicBool,
    /// Open client connections on the public listener.
    pub connections: AtomicUsize,
    /// Open connections on the admin listener.
    pub admin_connections: AtomicUsize,
    /// When the shutdown signal came (the grace period counts from it).
    pub shutdown_began: std::sync::OnceLock<Instant>,
    /// Cancelled when the shutdown's grace period ends: open WebSockets are closed with 1001.
    pub going_away: tokio_util::sync::CancellationToken,
}

/// Which listener a connection came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Public,
    Admin,
}

impl Lifecycle {
    fn open(&self, door: Door) -> &AtomicUsize {
        match door {
            Door::Public => &self.connections,
            Door::Admin => &self.admin_connections,
        }
    }
}

impl Shared {
    pub fn new(policy: Policy, metrics: Metrics, config: ConfigState) -> Arc<Shared> {
        Arc::new(Shared {
            policy: ArcSwap::from_pointee(policy),
            policy_swapped: tokio::sync::Notify::new(),
            metrics,
            lifecycle: Lifecycle {
                started: Instant::now(),
                draining: AtomicBool::new(false),
                connections: AtomicUsize::new(0),
                admin_connections: AtomicUsize::new(0),
                shutdown_began: std::sync::OnceLock::new(),
                going_away: tokio_util::sync::CancellationToken::new(),
            },
            config,
        })
    }

    /// Takes a connection slot on `door` if fewer than `max` are open; released when dropped.
    pub fn connection_slot(self: &Arc<Self>, door: Door, max: usize) -> Option<ConnectionSlot> {
        let taken = self.lifecycle.open(door).fetch_add(1, Ordering::AcqRel);
        crate::lifecycle::memory::STORMS.with(|s| s.opened());
        let slot = ConnectionSlot(Arc::clone(self), door);
        if taken >= max {
            // Dropping `slot` gives the count back.
            None
        } else {
            Some(slot)
        }
    }
}

/// One open connection, counted in its door's `Lifecycle` counter until dropped.
pub struct ConnectionSlot(Arc<Shared>, Door);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.lifecycle.open(self.1).fetch_sub(1, Ordering::AcqRel);
        crate::lifecycle::memory::STORMS.with(|s| s.closed());
    }
}
