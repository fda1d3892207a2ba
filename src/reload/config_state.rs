//! The config file as the running process knows it: where it is, what `/health` says about
//! the loaded version, what a reload may not change, and the one-reload-at-a-time lock.

use crate::config::model::Config;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

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

/// Settings a running process cannot change: its sockets, threads and TLS identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedSettings {
    listen: String,
    admin_listen: String,
    threads: Option<usize>,
    /// TLS on or off (the files, `min_version` and `http2` are reloadable).
    tls: bool,
    h2c: bool,
    /// The HTTP/2 decoder's header-list limit the client limits ask for (set at start).
    h2_header_list: u32,
    /// HTTP/2's first-request and idle deadlines (`client.header_timeout`, `idle_timeout`),
    /// set when the listener starts.
    h2_deadlines: (std::time::Duration, std::time::Duration),
}

impl FixedSettings {
    pub fn of(c: &Config) -> FixedSettings {
        FixedSettings {
            listen: c.server.listen.clone(),
            admin_listen: c.server.admin_listen.clone(),
            threads: c.server.threads,
            tls: c.server.tls.is_some(),
            h2c: c.server.h2c,
            h2_header_list: crate::tls::header_list_limit(
                usize::try_from(c.client.max_header_bytes.0).unwrap_or(usize::MAX),
                c.client.max_headers,
            ),
            h2_deadlines: (c.client.header_timeout.0, c.client.idle_timeout.0),
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
        note(self.h2c != new.h2c, "h2c");
        out
    }

    /// What a reload applies only in part (it is not refused): one warning each.
    pub fn partly_applied(&self, new: &FixedSettings) -> Vec<String> {
        let mut out = Vec::new();
        if new.h2_deadlines != self.h2_deadlines {
            out.push(
                "client.header_timeout/idle_timeout: changed; HTTP/1.1 connections follow at once, \
                 HTTP/2 connections only after a restart or `rampart --upgrade`"
                    .to_string(),
            );
        }
        if new.h2_header_list > self.h2_header_list {
            out.push(format!(
                "client.max_header_bytes/max_headers: raised past the HTTP/2 decoder's header-list \
                 limit set at start ({} bytes); HTTP/2 requests with larger header lists are reset \
                 until a restart or `rampart --upgrade`",
                self.h2_header_list
            ));
        }
        out
    }
}

pub struct ConfigState {
    /// The file reloads read.
    pub path: PathBuf,
    info: Mutex<ConfigInfo>,
    fixed: Mutex<FixedSettings>,
    /// One reload at a time (SIGHUP, the file watcher and the admin endpoint may race).
    pub reload_lock: Mutex<()>,
}

impl ConfigState {
    pub fn new(path: PathBuf, info: ConfigInfo, fixed: FixedSettings) -> ConfigState {
        ConfigState {
            path,
            info: Mutex::new(info),
            fixed: Mutex::new(fixed),
            reload_lock: Mutex::new(()),
        }
    }

    pub fn info(&self) -> ConfigInfo {
        self.info
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set_info(&self, info: ConfigInfo) {
        *self.info.lock().unwrap_or_else(PoisonError::into_inner) = info;
    }

    /// Records a failed load in `last_error`.
    pub fn set_last_error(&self, error: Option<String>) {
        self.info
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_error = error;
    }

    pub fn fixed(&self) -> FixedSettings {
        self.fixed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(listen: &str, threads: Option<usize>) -> FixedSettings {
        FixedSettings {
            listen: listen.into(),
            admin_listen: "127.0.0.1:9901".into(),
            threads,
            tls: false,
            h2c: false,
            h2_header_list: 64 * 1024,
            h2_deadlines: Default::default(),
        }
    }

    #[test]
    fn a_header_list_past_the_h2_decoder_is_named() {
        let a = fixed("0.0.0.0:8080", None);
        let smaller = FixedSettings {
            h2_header_list: 1024,
            ..a.clone()
        };
        assert!(
            a.partly_applied(&smaller).is_empty(),
            "lowering needs no restart"
        );
        let larger = FixedSettings {
            h2_header_list: 1 << 20,
            ..a.clone()
        };
        assert!(a.changes(&larger).is_empty(), "the reload is not refused");
        let warnings = a.partly_applied(&larger);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("65536 bytes"), "{warnings:?}");
        let deadlines = FixedSettings {
            h2_deadlines: (std::time::Duration::from_secs(1), std::time::Duration::ZERO),
            ..a.clone()
        };
        assert!(
            a.changes(&deadlines).is_empty(),
            "the reload is not refused"
        );
        assert_eq!(a.partly_applied(&deadlines).len(), 1);
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
