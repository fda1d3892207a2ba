//! What starts a reload besides `POST /-/reload`: `SIGHUP`, and the config file changing.
//! The SIGHUP handler is installed first thing in `main`, before any thread starts.
//!
//! The watcher watches the file's folder, not the file: editors replace files by renaming,
//! and a Kubernetes ConfigMap volume swaps a `..data` symlink to a new folder, so the file
//! itself is never written in place. Only events on the files a reload reads count (the
//! config, its `..data` link, the certificate and key), a burst settles within 1 s, and a
//! reload only happens when the file's content differs from the loaded one (its SHA-256),
//! so one save that produces several events reloads once and `touch` reloads nothing.

use crate::reload::config_state::ConfigInfo;
use crate::state::Shared;
use async_trait::async_trait;
use notify::{RecursiveMode, Watcher};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// SIGHUPs received (incremented by the signal handler, read by the reload loop).
static HANGUPS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_hangup(_signal: libc::c_int) {
    // An atomic add is async-signal-safe; everything else happens in the reload loop.
    HANGUPS.fetch_add(1, Ordering::Relaxed);
}

/// Installs the SIGHUP handler. Called first thing in `main`: SIGHUP's default action kills
/// the process, and a HUP arriving before the reload loop runs must still reload.
pub fn install_sighup_handler() {
    // SAFETY: `on_hangup` only performs an atomic add; the struct is fully initialised.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_hangup as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGHUP, &action, std::ptr::null_mut());
    }
}

/// How often the loop looks for SIGHUPs, only when tokio's signal stream could not be set
/// up (an idle instance otherwise never wakes for SIGHUP).
const HANGUP_POLL: Duration = Duration::from_millis(100);

/// Quiet time after the last event before the file is read (a ConfigMap swap is several
/// renames; an editor's save is a write then a rename).
const DEBOUNCE: Duration = Duration::from_millis(200);

/// However busy the files that matter are, a burst settles within this (SPEC 0.3 §3).
const SETTLE_AT_MOST: Duration = Duration::from_secs(1);

pub struct ReloadTriggers {
    pub shared: Arc<Shared>,
}

impl ReloadTriggers {
    async fn reload(&self, trigger: &'static str) {
        let shared = Arc::clone(&self.shared);
        // Reading and compiling (which resolves endpoint names) may block.
        let done = tokio::task::spawn_blocking(move || crate::reload::reload(&shared, trigger));
        if let Err(e) = done.await {
            tracing::error!(error = %e, "reload task failed");
        }
    }

    /// Whether the file on disk differs from what is loaded.
    fn file_changed(&self) -> bool {
        match std::fs::read_to_string(&self.shared.config.path) {
            Ok(text) => ConfigInfo::of_text(&text).sha256 != self.shared.config.info().sha256,
            // Mid-swap or removed: wait for the next event.
            Err(_) => false,
        }
    }

    /// Whether the TLS certificate or key on disk differs from the one served.
    fn certificate_changed(&self) -> bool {
        self.shared
            .policy
            .load()
            .tls_cert
            .as_ref()
            .is_some_and(|tls| tls.files_changed())
    }

    /// Also watches the folders of the files the config names: the TLS certificate and key
    /// (a Secret volume elsewhere) and the routes' JSON Schemas.
    fn watch_named_files(&self, watcher: &mut Option<notify::RecommendedWatcher>) {
        let Some(watcher) = watcher.as_mut() else {
            return;
        };
        let policy = self.shared.policy.load();
        let tls_files = policy.tls_cert.as_ref().map_or(&[][..], |t| &t.files[..]);
        for file in tls_files.iter().chain(policy.schema_files.paths()) {
            if let Err(e) = watcher.watch(folder_of(file), RecursiveMode::NonRecursive) {
                tracing::warn!(error = %e, file = %file.display(), "cannot watch this file's folder; reload with SIGHUP or POST /-/reload after changing it");
            }
        }
    }

    /// Whether an event on `paths` can concern what a reload reads: the config file, its
    /// `..data` link (a ConfigMap or Secret volume swaps it), the TLS certificate and key,
    /// the routes' JSON Schemas.
    /// Other files sharing a folder — an access log beside the config — are not looked at,
    /// however often they are written (0.2 waited for the whole folder to go quiet).
    fn concerns_us(&self, paths: &[std::path::PathBuf]) -> bool {
        let config = &self.shared.config.path;
        let policy = self.shared.policy.load();
        let tls_files = policy.tls_cert.as_ref().map_or(&[][..], |t| &t.files[..]);
        paths.iter().any(|path| {
            path == config
                || tls_files.iter().any(|f| f == path)
                || policy.schema_files.paths().any(|f| f == path)
                || path.file_name().is_some_and(|n| n == "..data")
        })
    }

    fn watch(
        &self,
        events: mpsc::UnboundedSender<Vec<std::path::PathBuf>>,
    ) -> Option<notify::RecommendedWatcher> {
        let folder = folder_of(&self.shared.config.path);
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event {
                if changes_files(&event.kind) {
                    let _ = events.send(event.paths);
                }
            }
        })
        .map_err(|e| tracing::warn!(error = %e, "cannot watch the config file; reload with SIGHUP or POST /-/reload"))
        .ok()?;
        if let Err(e) = watcher.watch(folder, RecursiveMode::NonRecursive) {
            tracing::warn!(error = %e, folder = %folder.display(), "cannot watch the config folder; reload with SIGHUP or POST /-/reload");
            return None;
        }
        Some(watcher)
    }
}

fn folder_of(path: &std::path::Path) -> &std::path::Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
}

/// Whether a folder event can mean a new config: writes, creations, removals and renames (an
/// editor's save, the kubelet's `..data` symlink swap). Not reads: checking the file opens
/// and reads it, and reacting to that made the watcher re-read its config forever.
fn changes_files(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        // A writer closing the file: the write is complete.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
    }
}

#[async_trait]
impl BackgroundService for ReloadTriggers {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let (tx, mut events) = mpsc::unbounded_channel();
        let mut watcher = self.watch(tx);
        self.watch_named_files(&mut watcher);
        // A change made between the first load and the watch taking hold has no event of
        // its own: look once now.
        self.look(&mut watcher).await;
        // tokio's SIGHUP stream wakes this loop only when a HUP comes; its handler chains to
        // the early one (signal-hook-registry keeps the previous handler), which still counts.
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut poll = tokio::time::interval(HANGUP_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // A HUP that came before this loop ran reloads now.
        let mut hangups_seen = 0;
        loop {
            let hangups = HANGUPS.load(Ordering::Relaxed);
            if hangups != hangups_seen {
                hangups_seen = hangups;
                self.reload("SIGHUP").await;
                continue;
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = async {
                    match hangup.as_mut() {
                        Some(stream) => { stream.recv().await; }
                        None => { poll.tick().await; }
                    }
                } => {}
                Some(paths) = events.recv() => {
                    if !self.concerns_us(&paths) {
                        continue;
                    }
                    // Let the burst settle (each quiet gap `DEBOUNCE`, the whole at most
                    // `SETTLE_AT_MOST`), then look once.
                    let until = crate::time_math::after(std::time::Instant::now(), SETTLE_AT_MOST);
                    loop {
                        let left = until.saturating_duration_since(std::time::Instant::now());
                        match tokio::time::timeout(DEBOUNCE.min(left), events.recv()).await {
                            Ok(Some(_)) if !left.is_zero() => {}
                            _ => break,
                        }
                    }
                    self.look(&mut watcher).await;
                }
            }
        }
    }
}

impl ReloadTriggers {
    /// Reloads when the config file or the certificate on disk differs from what runs.
    async fn look(&self, watcher: &mut Option<notify::RecommendedWatcher>) {
        if self.shared.policy.load().watch_config && self.file_changed() {
            self.reload("file").await;
            self.watch_named_files(watcher);
        } else if self.certificate_changed() {
            // cert-manager renewed the Secret: a reload re-reads and checks it.
            self.reload("certificate").await;
            self.watch_named_files(watcher);
        } else if self.shared.policy.load().schema_files.changed() {
            // A schema a route names changed: reloaded like the config (SPEC 0.3 §3).
            self.reload("schema").await;
            self.watch_named_files(watcher);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::changes_files;
    use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};

    #[test]
    fn reading_the_config_is_not_a_change() {
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Read)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Read),
        ] {
            assert!(!changes_files(&kind), "{kind:?}");
        }
        for kind in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Any),
        ] {
            assert!(changes_files(&kind), "{kind:?}");
        }
    }
}
