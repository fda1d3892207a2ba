//! `rampart healthcheck` (SPEC §1): asks the running instance's admin `/readyz` and turns the
//! answer into an exit code, for a Docker `HEALTHCHECK` in an image with no shell or curl.
//!
//! Only `server.admin_listen` is read from the config (with `${VAR}`s resolved; an unset one
//! reads as empty): a file being edited into an invalid state must not turn a serving instance
//! unhealthy — the instance keeps its last good config, and `/readyz` says how it is.

use crate::config::yaml;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

/// The address to reach the admin listener at: `server.admin_listen`, with a wildcard host
/// (0.0.0.0, ::) asked on loopback.
pub fn admin_address(config_text: &str) -> Result<SocketAddr, String> {
    let parsed = yaml::parse(config_text, &|_| Some(String::new())).map_err(|problems| {
        let first = problems.first().map_or("", |p| p.message.as_str());
        format!("the config file is not YAML: {first}")
    })?;
    let listen = parsed.value["server"]["admin_listen"]
        .as_str()
        .ok_or("the config file has no server.admin_listen")?;
    let addr = listen
        .to_socket_addrs()
        .map_err(|e| format!("server.admin_listen {listen:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("server.admin_listen {listen:?} resolves to no address"))?;
    Ok(match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    })
}

/// `GET /readyz` on `addr`: the status code, within `timeout` for each step.
pub fn readyz(addr: SocketAddr, timeout: Duration) -> Result<u16, String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to the admin listener at {addr}: {e}"))?;
    let io = |e: std::io::Error| format!("admin listener at {addr}: {e}");
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    write!(
        stream,
        "GET /readyz HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: rampart-healthcheck\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    // The status line fits in the first read's 64 bytes ("HTTP/1.1 200 OK\r\n").
    let mut head = [0u8; 64];
    let mut filled = 0;
    while filled < 12 {
        let n = stream.read(&mut head[filled..]).map_err(io)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    status_code(&head[..filled])
        .ok_or_else(|| format!("admin listener at {addr}: not an HTTP answer"))
}

fn status_code(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head.get(..12)?).ok()?;
    if !line.starts_with("HTTP/1.") {
        return None;
    }
    line.get(9..12)?.parse().ok()
}

/// The whole command: Ok(message) when ready, Err(message) otherwise.
pub fn run(config: &Path, timeout: Duration) -> Result<String, String> {
    let text = std::fs::read_to_string(config)
        .map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    let addr = admin_address(&text)?;
    match readyz(addr, timeout)? {
        200 => Ok(format!("ready ({addr}/readyz answered 200)")),
        code => Err(format!("not ready ({addr}/readyz answered {code})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_address_is_read_with_wildcards_asked_on_loopback() {
        let yaml = |listen: &str| {
            format!("server:\n  listen: 0.0.0.0:8080\n  admin_listen: \"{listen}\"\n  admin_token: ${{UNSET_TOKEN_VAR}}\nroutes: [ {{ bad }} ]\n")
        };
        assert_eq!(
            admin_address(&yaml("0.0.0.0:9901")),
            Ok("127.0.0.1:9901".parse().unwrap())
        );
        assert_eq!(
            admin_address(&yaml("[::]:9901")),
            Ok("[::1]:9901".parse().unwrap())
        );
        assert_eq!(
            admin_address(&yaml("10.1.2.3:9")),
            Ok("10.1.2.3:9".parse().unwrap())
        );
        assert!(admin_address("server: {}\n")
            .unwrap_err()
            .contains("admin_listen"));
        assert!(admin_address("server: [").is_err());
    }

    #[test]
    fn only_an_http_status_line_gives_a_code() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.1 503 Service Unavailable"), Some(503));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(status_code(b"HTTP/1.1 2"), None);
    }
}
