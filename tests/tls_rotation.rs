//! TLS that rotates (SPEC §2 `server.tls`): the certificate and key are re-read when their
//! files change (cert-manager renews a Secret; the kubelet swaps a `..data` symlink) and on
//! every reload; a bad pair is refused with the old one kept. `min_version`, and the expiry
//! of the served certificate as a metric. Found on 0.1: the certificate was never re-read.
mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A self-signed pair for `name` (its CN), written in `dir`.
fn pair(dir: &Path, name: &str) {
    certificate(dir, name, name, 2);
}

/// The CN of the certificate served on `port`, or None when the handshake failed.
fn served_cn(port: u16, extra: &[&str]) -> Option<String> {
    let out = Command::new("curl")
        .args(["-skv", "-o", "/dev/null", "--max-time", "10"])
        .args(extra)
        .arg(format!("https://localhost:{port}/x"))
        .output()
        .expect("curl");
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return None;
    }
    err.lines()
        .find_map(|l| l.split("subject: CN=").nth(1))
        .map(|cn| cn.trim().to_string())
}

/// Installs `name`'s pair as the served files (written aside, then renamed over).
fn install(dir: &Path, name: &str) {
    for ext in ["crt", "key"] {
        let staged = dir.join(format!("staged.{ext}"));
        std::fs::copy(dir.join(format!("{name}.{ext}")), &staged).unwrap();
        std::fs::rename(&staged, dir.join(format!("served.{ext}"))).unwrap();
    }
}

fn tls_yaml(up: std::net::SocketAddr, dir: &Path, tls_extra: &str) -> String {
    config(up, DEFAULT_ROUTE).replace(
        "  environment: development\n",
        &format!(
            "  environment: development\n  tls:\n    cert_file: {}\n    key_file: {}\n{tls_extra}",
            dir.join("served.crt").display(),
            dir.join("served.key").display()
        ),
    )
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart_or_a_failed_request() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    pair(dir.path(), "first");
    pair(dir.path(), "second");
    install(dir.path(), "first");
    let p = start(&tls_yaml(up.addr, dir.path(), ""));
    assert_eq!(served_cn(p.addr.port(), &[]).as_deref(), Some("first"));

    // A client keeps requesting through the rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let port = p.addr.port();
    let load = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match served_cn(port, &[]) {
                    Some(_) => ok.fetch_add(1, Ordering::SeqCst),
                    None => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        })
    };
    install(dir.path(), "second");
    assert!(
        eventually(|| served_cn(port, &[]).as_deref() == Some("second")),
        "the renewed certificate is picked up from its files"
    );
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    assert!(ok.load(Ordering::SeqCst) > 0);
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "no request failed during the rotation"
    );
}

#[test]
fn a_mismatched_pair_is_refused_and_the_old_one_kept() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    pair(dir.path(), "good");
    pair(dir.path(), "other");
    install(dir.path(), "good");
    let p = start(&tls_yaml(up.addr, dir.path(), ""));
    // The certificate of one pair with the key of another.
    std::fs::copy(dir.path().join("other.crt"), dir.path().join("served.crt")).unwrap();
    let (status, body) = p.reload(None);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("does not belong to the certificate"),
        "{body}"
    );
    assert_eq!(served_cn(p.addr.port(), &[]).as_deref(), Some("good"));
    let health: serde_json::Value = client()
        .get(p.admin_url("/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        health["config"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("key_file")),
        "{health}"
    );
}

#[test]
fn min_version_and_the_expiry_metric() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    pair(dir.path(), "strict");
    install(dir.path(), "strict");
    let p = start(&tls_yaml(up.addr, dir.path(), "    min_version: \"1.3\"\n"));
    assert_eq!(served_cn(p.addr.port(), &[]).as_deref(), Some("strict"));
    assert_eq!(
        served_cn(p.addr.port(), &["--tls-max", "1.2"]),
        None,
        "TLS 1.2 refused"
    );
    assert_eq!(
        served_cn(p.addr.port(), &["--tls-max", "1.1"]),
        None,
        "TLS 1.1 refused"
    );
    let expiry = metric(&p, "rampart_tls_certificate_expiry_timestamp_seconds").expect("metric");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // `-days 2`: notAfter is two days from now.
    assert!(
        expiry > now + 86_400.0 && expiry < now + 3.0 * 86_400.0,
        "{expiry} vs {now}"
    );
}
