//! What one running Rampart shares between its proxy, its admin endpoints and reloads.

use crate::metrics::Metrics;
use crate::policy::Policy;
use arc_swap::ArcSwap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

pub struct Shared {
    /// The live policy; requests take one snapshot each (`load_full`).
    pub policy: ArcSwap<Policy>,
    pub metrics: Metrics,
    pub started: Instant,
    /// Set when shutdown begins; `/readyz` answers 503 from then on.
    pub draining: AtomicBool,
}

impl Shared {
    pub fn new(policy: Policy, metrics: Metrics) -> Arc<Shared> {
        Arc::new(Shared {
            policy: ArcSwap::from_pointee(policy),
            metrics,
            started: Instant::now(),
            draining: AtomicBool::new(false),
        })
    }
}
