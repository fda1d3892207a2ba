//! TLS termination on `listen`: served, and the handshake held to the head deadline and the
//! connection cap like any slow client (found on 0.1: a silent socket was closed only after
//! Pingora's fixed 60 s, and handshakes were counted nowhere).
mod common;
use common::*;
use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn tls_config(up: std::net::SocketAddr, dir: &Path, client: &str) -> String {
    let (cert, key) = self_signed(dir, "tls");
    config(up, DEFAULT_ROUTE)
        .replace(
            "  environment: development\n",
            &format!(
                "  environment: development\n  tls:\n    cert_file: {}\n    key_file: {}\n",
                cert.display(),
                key.display()
            ),
        )
        .replace("logging:", &format!("client:\n{client}logging:"))
}

/// `curl -k` through Rampart: the status, or None when the exchange failed.
fn curl(p: &RampartProcess) -> Option<u16> {
    let out = Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
        ])
        .arg(format!("https://localhost:{}/x", p.addr.port()))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .parse()
        .ok()
        .filter(|c| *c != 0)
}

#[test]
fn tls_is_served_and_silent_handshakes_are_cut_at_the_head_deadline() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let p = start(&tls_config(up.addr, dir.path(), "  header_timeout: 1s\n"));
    assert_eq!(curl(&p), Some(200));
    let proto = up.last().headers.get("x-forwarded-proto").cloned();
    assert_eq!(proto.as_ref().and_then(|v| v.to_str().ok()), Some("https"));
    // A client that connects and never says hello is closed by the deadline (the read
    // ends in EOF or a reset long before this 20 s guard).
    let mut silent = TcpStream::connect(p.addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 16];
    let closed = match silent.read(&mut buf) {
        Ok(0) => true,
        Err(e) => {
            e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut
        }
        Ok(_) => false,
    };
    assert!(
        closed,
        "a silent TLS socket is closed by client.header_timeout"
    );
    assert!(
        !p.logs().iter().any(|l| l.contains("\"level\":\"ERROR\"")),
        "no ERROR lines"
    );
}

#[test]
fn handshakes_in_progress_count_toward_max_connections() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let p = start(&tls_config(
        up.addr,
        dir.path(),
        "  header_timeout: 30s\n  max_connections: 2\n",
    ));
    // Two sockets in the handshake take both places ...
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(p.addr).unwrap())
        .collect();
    // ... so a real client is turned away, not served (once the server has counted them).
    assert!(eventually(|| curl(&p).is_none()));
    drop(held);
    assert!(eventually(|| curl(&p) == Some(200)));
}
