//! `server.tls`: the certificate chain and key parse, and the key is the certificate's
//! (SPEC §2: `check` validates what the start would otherwise find out by aborting).

use rustls::crypto::ring::sign::any_supported_type;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

/// Problems as (field, message), field being `cert_file` or `key_file`.
pub fn check_pair(cert_file: &Path, key_file: &Path) -> Vec<(&'static str, String)> {
    load_pair(cert_file, key_file).err().unwrap_or_default()
}

/// The pair, ready to serve; or every problem as (field, message).
pub fn load_pair(
    cert_file: &Path,
    key_file: &Path,
) -> Result<CertifiedKey, Vec<(&'static str, String)>> {
    let mut problems = Vec::new();
    let certs: Result<Vec<CertificateDer<'static>>, _> =
        CertificateDer::pem_file_iter(cert_file).and_then(|certs| certs.collect());
    let certs = match certs {
        Ok(c) if c.is_empty() => {
            problems.push(("cert_file", "holds no PEM certificate".to_string()));
            None
        }
        Ok(c) => Some(c),
        Err(e) => {
            problems.push(("cert_file", format!("is not a PEM certificate chain ({e})")));
            None
        }
    };
    let key = match PrivateKeyDer::from_pem_file(key_file) {
        Ok(k) => match any_supported_type(&k) {
            Ok(k) => Some(k),
            Err(e) => {
                problems.push(("key_file", format!("holds an unusable private key ({e})")));
                None
            }
        },
        Err(e) => {
            problems.push(("key_file", format!("is not a PEM private key ({e})")));
            None
        }
    };
    if let (Some(certs), Some(key)) = (certs, key) {
        let pair = CertifiedKey::new(certs, key);
        match pair.keys_match() {
            Ok(()) if problems.is_empty() => return Ok(pair),
            Ok(()) => {}
            Err(e) => problems.push((
                "key_file",
                format!("does not belong to the certificate in cert_file ({e})"),
            )),
        }
    }
    Err(problems)
}
