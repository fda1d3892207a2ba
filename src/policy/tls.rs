//! `server.tls` compiled: the certificate and key loaded (the same checks `rampart check`
//! runs), their expiry and a fingerprint of the files. A pair that does not load makes the
//! reload fail: the old one keeps serving and `last_error` says why.

use crate::config::model::{Tls, TlsVersion};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;

/// `server.tls` compiled: the pair loaded and what the metrics and the watcher need of it.
#[derive(Debug)]
pub struct TlsPolicy {
    pub key: Arc<CertifiedKey>,
    pub min_version: TlsVersion,
    /// `h2` is offered by ALPN.
    pub http2: bool,
    /// The served certificate's notAfter, in Unix seconds.
    pub not_after: i64,
    /// The two files, whose changes reload the config.
    pub files: [std::path::PathBuf; 2],
    /// SHA-256 of their contents when loaded.
    pub fingerprint: [u8; 32],
}

/// SHA-256 of the files' contents, in order (None when one cannot be read, e.g. mid-swap).
pub fn fingerprint(files: &[std::path::PathBuf; 2]) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for file in files {
        hash.update(std::fs::read(file).ok()?);
        hash.update([0u8]);
    }
    Some(hash.finalize().into())
}

impl TlsPolicy {
    /// Loads the pair (the same checks `rampart check` runs).
    pub fn compile(tls: &Tls) -> Result<TlsPolicy, String> {
        let (cert, key) = (Path::new(&tls.cert_file), Path::new(&tls.key_file));
        let pair = crate::config::tls_files::load_pair(cert, key).map_err(|problems| {
            let lines: Vec<String> = problems
                .into_iter()
                .map(|(field, message)| format!("server.tls.{field}: {message}"))
                .collect();
            lines.join("; ")
        })?;
        let not_after = pair
            .end_entity_cert()
            .ok()
            .and_then(|der| x509_parser::parse_x509_certificate(der).ok())
            .map_or(0, |(_, cert)| cert.validity().not_after.timestamp());
        let files = [cert.to_path_buf(), key.to_path_buf()];
        Ok(TlsPolicy {
            key: Arc::new(pair),
            min_version: tls.min_version,
            http2: tls.http2,
            not_after,
            fingerprint: fingerprint(&files).unwrap_or_default(),
            files,
        })
    }
}

impl TlsPolicy {
    /// Whether the files on disk now hold something else than what is served.
    pub fn files_changed(&self) -> bool {
        fingerprint(&self.files).is_some_and(|now| now != self.fingerprint)
    }
}
