//! Addresses in the config: upstream endpoints (`host:port` or `unix:/path`) and probe
//! targets.

use std::net::SocketAddr;

/// The longest unix socket path (`sun_path` holds 108 bytes with the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// `host:port`, or `unix:/absolute/path` (gunicorn `--bind unix:`, uvicorn `--uds`).
pub(super) fn endpoint(s: &str) -> Result<(), String> {
    let Some(path) = s.strip_prefix("unix:") else {
        return host_port(s);
    };
    if !path.starts_with('/') {
        return Err(format!(
            "a unix socket path must be absolute, got \"{path}\""
        ));
    }
    if path.len() > MAX_SOCKET_PATH || path.contains('\0') {
        return Err(format!(
            "a unix socket path has at most {MAX_SOCKET_PATH} bytes and no NUL, got {} bytes",
            path.len()
        ));
    }
    Ok(())
}

/// `host:port` with a valid port; the host is an IP or a DNS name resolved at start.
pub(super) fn host_port(s: &str) -> Result<(), String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = || format!("expected host:port like \"127.0.0.1:8000\", got \"{s}\"");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if port_ok && host_ok {
        Ok(())
    } else {
        Err(bad())
    }
}
