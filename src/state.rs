//! What one running Rampart shares between its proxy, its admin endpoints and reloads.

use crate::metrics::Metrics;
use crate::policy::Policy;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub struct Shared {
    /// The live policy; requests take one snapshot each (`load_full`).
    pub policy: ArcSwap<Policy>,
    pub metrics: Metrics,
    pub started: Instant,
    /// Set when shutdown begins; `/readyz` answers 503 from then on.
    pub draining: AtomicBool,
    /// Open client connections on the public listener.
    pub connections: AtomicUsize,
}

impl Shared {
    pub fn new(policy: Policy, metrics: Metrics) -> Arc<Shared> {
        Arc::new(Shared {
            policy: ArcSwap::from_pointee(policy),
            metrics,
            started: Instant::now(),
            draining: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
        })
    }

    /// Takes a connection slot if fewer than `max` are open; released when dropped.
    pub fn connection_slot(self: &Arc<Self>, max: usize) -> Option<ConnectionSlot> {
        let taken = self.connections.fetch_add(1, Ordering::AcqRel);
        let slot = ConnectionSlot(Arc::clone(self));
        if taken >= max {
            // Dropping `slot` gives the count back.
            None
        } else {
            Some(slot)
        }
    }
}

/// One open client connection, counted in `Shared::connections` until dropped.
pub struct ConnectionSlot(Arc<Shared>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}
