//! Throwaway certificates for the TLS tests (openssl, installed by `./test`).
use std::process::{Command, Stdio};

/// A self-signed certificate for `localhost` and its key, as `DIR/NAME.crt` and `DIR/NAME.key`
/// (openssl, installed by `./test`).
pub fn self_signed(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    certificate(dir, name, "localhost", 1)
}

/// A self-signed certificate with common name `cn`, valid `days`, and its key, as
/// `DIR/NAME.crt` and `DIR/NAME.key`.
pub fn certificate(
    dir: &std::path::Path,
    name: &str,
    cn: &str,
    days: u32,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes",
            "-days",
            &days.to_string(),
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    (cert, key)
}
