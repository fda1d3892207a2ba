//! What one running Rampart shares between its proxy, its admin endpoints and reloads.

use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::reload::FixedSettings;
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// What `/health` says about the loaded config.
#[derive(Debug, Clone)]
pub struct ConfigInfo {
    /// SHA-256 of the file's text, hex.
    pub sha256: String,
    pub loaded_at: SystemTime,
    /// The last failed load (`file:line: message`), None after a successful one.
    pub last_error: Option<String>,
}

impl ConfigInfo {
    pub fn of_text(text: &str) -> ConfigInfo {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(text.as_bytes());
        ConfigInfo {
            sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            loaded_at: SystemTime::now(),
            last_error: None,
        }
    }
}

pub struct Shared {
    /// The live policy; requests take one snapshot each (`load_full`).
    pub policy: ArcSwap<Policy>,
    pub metrics: Metrics,
    pub started: Instant,
    /// Set when shutdown begins; `/readyz` answers 503 from then on.
    pub draining: AtomicBool,
    /// Open client connections on the public listener.
    pub connections: AtomicUsize,
    pub config: Mutex<ConfigInfo>,
    /// The file reloads read.
    pub config_path: PathBuf,
    /// What a reload may not change (sockets, threads, TLS).
    pub fixed: Mutex<FixedSettings>,
    /// One reload at a time.
    pub reload_lock: Mutex<()>,
}

impl Shared {
    pub fn new(
        policy: Policy,
        metrics: Metrics,
        config: ConfigInfo,
        config_path: PathBuf,
        fixed: FixedSettings,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            policy: ArcSwap::from_pointee(policy),
            metrics,
            started: Instant::now(),
            draining: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            config: Mutex::new(config),
            config_path,
            fixed: Mutex::new(fixed),
            reload_lock: Mutex::new(()),
        })
    }

    pub fn config_info(&self) -> ConfigInfo {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
