//! Live reload (SPEC §3): all or nothing. The whole file is parsed and validated, the whole
//! new policy compiled (carrying over the state of unchanged limits, breakers, endpoints,
//! slots), and only then swapped in with one `ArcSwap` store. Requests in flight keep the
//! snapshot they started with. A bad file changes nothing but `last_error` and a counter.

pub mod config_state;
pub mod triggers;

use crate::config::{load_file, LoadedConfig};
use crate::policy::Policy;
use crate::reload::config_state::{ConfigInfo, FixedSettings};
use crate::state::Shared;
use std::path::Path;
use std::sync::Arc;

/// Reloads the config file. Ok: the new generation. Err: every problem, one line each
/// (`file:line:column: path: message`); nothing changed but `last_error`.
pub fn reload(shared: &Shared, trigger: &str) -> Result<u64, Vec<String>> {
    // One reload at a time (SIGHUP, the file watcher and the admin endpoint may race).
    let _one = shared
        .config
        .reload_lock
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let result = load_and_compile(shared, &shared.config.path);
    let metrics = &shared.metrics;
    match result {
        Ok((loaded, policy)) => {
            let generation = policy.generation;
            crate::telemetry::set_level(&loaded.config.logging.level);
            shared.policy.store(Arc::new(policy));
            shared.policy_swapped.notify_one();
            shared.config.set_info(ConfigInfo::of_text(&loaded.text));
            metrics.record_load(generation);
            if let Some(tls) = &shared.policy.load().tls_cert {
                metrics.record_certificate(tls.not_after);
            }
            tracing::info!(generation, trigger, file = %shared.config.path.display(), "config reloaded");
            Ok(generation)
        }
        Err(errors) => {
            metrics.record_reload_failure();
            for e in &errors {
                tracing::error!(
                    trigger,
                    error = e.as_str(),
                    "config reload rejected; the previous config keeps serving"
                );
            }
            shared.config.set_last_error(Some(errors.join("\n")));
            Err(errors)
        }
    }
}

fn load_and_compile(shared: &Shared, path: &Path) -> Result<(LoadedConfig, Policy), Vec<String>> {
    let loaded =
        load_file(path).map_err(|e| e.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let file = loaded.file.clone();
    let fixed = shared.config.fixed();
    let new_fixed = FixedSettings::of(&loaded.config);
    let changes = fixed.changes(&new_fixed);
    if !changes.is_empty() {
        return Err(changes
            .into_iter()
            .map(|c| format!("{file}: {c}"))
            .collect());
    }
    for warning in fixed.partly_applied(&new_fixed) {
        tracing::warn!(file = %file, "{warning}");
    }
    let current = shared.policy.load_full();
    // SPEC §3: the generation counts content changes, not reloads (an unchanged file is
    // still recompiled: `${VAR}`s and endpoint names are read again).
    let unchanged = ConfigInfo::of_text(&loaded.text).sha256 == shared.config.info().sha256;
    let generation = current.generation + u64::from(!unchanged);
    let policy = Policy::compile(&loaded, Some(&current), generation)
        .map_err(|e| vec![format!("{file}: {e}")])?;
    Ok((loaded, policy))
}
