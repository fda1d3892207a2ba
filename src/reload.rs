//! Live reload (SPEC §3): all or nothing. The whole file is parsed and validated, the whole
//! new policy compiled (carrying over the state of unchanged limits, breakers, endpoints,
//! slots), and only then swapped in with one `ArcSwap` store. Requests in flight keep the
//! snapshot they started with. A bad file changes nothing but `last_error` and a counter.

use crate::config::model::Config;
use crate::config::{load_file, LoadedConfig};
use crate::policy::Policy;
use crate::state::{ConfigInfo, Shared};
use std::path::Path;
use std::sync::Arc;

/// Settings a running process cannot change: its sockets, threads and TLS identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedSettings {
    listen: String,
    admin_listen: String,
    threads: Option<usize>,
    tls: Option<(String, String)>,
}

impl FixedSettings {
    pub fn of(c: &Config) -> FixedSettings {
        FixedSettings {
            listen: c.server.listen.clone(),
            admin_listen: c.server.admin_listen.clone(),
            threads: c.server.threads,
            tls: c
                .server
                .tls
                .as_ref()
                .map(|t| (t.cert_file.clone(), t.key_file.clone())),
        }
    }

    /// One message per setting that differs in `new`.
    pub fn changes(&self, new: &FixedSettings) -> Vec<String> {
        let mut out = Vec::new();
        let mut note = |changed: bool, field: &str| {
            if changed {
                out.push(format!(
                    "server.{field}: changed; it takes effect only with a restart or `rampart --upgrade`"
                ));
            }
        };
        note(self.listen != new.listen, "listen");
        note(self.admin_listen != new.admin_listen, "admin_listen");
        note(self.threads != new.threads, "threads");
        note(self.tls != new.tls, "tls");
        out
    }
}

/// Reloads the config file. Ok: the new generation. Err: every problem, one line each
/// (`file:line:column: path: message`); nothing changed but `last_error`.
pub fn reload(shared: &Shared, trigger: &str) -> Result<u64, Vec<String>> {
    // One reload at a time (SIGHUP, the file watcher and the admin endpoint may race).
    let _one = shared.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
    let result = load_and_compile(shared, &shared.config_path);
    let metrics = &shared.metrics;
    match result {
        Ok((loaded, policy)) => {
            let generation = policy.generation;
            crate::telemetry::set_level(&loaded.config.logging.level);
            shared.policy.store(Arc::new(policy));
            *shared.config.lock().unwrap_or_else(|e| e.into_inner()) =
                ConfigInfo::of_text(&loaded.text);
            metrics.record_load(generation);
            tracing::info!(generation, trigger, file = %shared.config_path.display(), "config reloaded");
            Ok(generation)
        }
        Err(errors) => {
            metrics
                .config_reloads_total
                .with_label_values(&["failure"])
                .inc();
            for e in &errors {
                tracing::error!(
                    trigger,
                    error = e.as_str(),
                    "config reload rejected; the previous config keeps serving"
                );
            }
            shared
                .config
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last_error = Some(errors.join("\n"));
            Err(errors)
        }
    }
}

fn load_and_compile(shared: &Shared, path: &Path) -> Result<(LoadedConfig, Policy), Vec<String>> {
    let loaded =
        load_file(path).map_err(|e| e.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let file = loaded.file.clone();
    let fixed = shared
        .fixed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let changes = fixed.changes(&FixedSettings::of(&loaded.config));
    if !changes.is_empty() {
        return Err(changes
            .into_iter()
            .map(|c| format!("{file}: {c}"))
            .collect());
    }
    let current = shared.policy.load_full();
    // SPEC §3: the generation counts content changes, not reloads (an unchanged file is
    // still recompiled: `${VAR}`s and endpoint names are read again).
    let unchanged = ConfigInfo::of_text(&loaded.text).sha256 == shared.config_info().sha256;
    let generation = current.generation + u64::from(!unchanged);
    let policy = Policy::compile(&loaded, Some(&current), generation)
        .map_err(|e| vec![format!("{file}: {e}")])?;
    Ok((loaded, policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(listen: &str, threads: Option<usize>) -> FixedSettings {
        FixedSettings {
            listen: listen.into(),
            admin_listen: "127.0.0.1:9901".into(),
            threads,
            tls: None,
        }
    }

    #[test]
    fn restart_only_settings_are_named() {
        let a = fixed("0.0.0.0:8080", Some(2));
        assert!(a.changes(&a.clone()).is_empty());
        let changes = a.changes(&fixed("0.0.0.0:9090", None));
        assert_eq!(changes.len(), 2);
        assert!(changes[0].starts_with("server.listen: changed"));
        assert!(changes[1].contains("server.threads"));
        assert!(changes[1].contains("rampart --upgrade"));
    }
}
