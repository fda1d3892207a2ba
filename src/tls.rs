//! TLS termination (`server.tls`): the certificate served is the current policy's, so a
//! reload — started by `POST /-/reload`, SIGHUP, or the certificate or key file changing —
//! swaps it for new handshakes while established connections keep theirs. A pair that does
//! not load makes the reload fail (the old one keeps serving, `last_error` says why).
//! `min_version` picks between two acceptors sharing that certificate.

use crate::config::model::{Tls, TlsVersion};
use crate::policy::Policy;
use crate::state::Shared;
use pingora::listeners::tls::Acceptor;
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig};
use rustls::sign::CertifiedKey;
use rustls::version::{TLS12, TLS13};
use std::path::Path;
use std::sync::Arc;

/// `server.tls` compiled: the pair loaded and what the metrics and the watcher need of it.
#[derive(Debug)]
pub struct TlsPolicy {
    pub key: Arc<CertifiedKey>,
    pub min_version: TlsVersion,
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

/// Hands every handshake the live policy's certificate.
struct CurrentCertificate(Arc<Shared>);

impl std::fmt::Debug for CurrentCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentCertificate")
    }
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0
            .policy
            .load()
            .tls_cert
            .as_ref()
            .map(|t| Arc::clone(&t.key))
    }
}

/// The front door's acceptors: TLS 1.2 and 1.3, or 1.3 only, as the live policy says.
pub struct Acceptors {
    from_tls12: Acceptor,
    tls13_only: Acceptor,
}

impl Acceptors {
    pub fn new(shared: &Arc<Shared>) -> Acceptors {
        let resolver: Arc<dyn ResolvesServerCert> =
            Arc::new(CurrentCertificate(Arc::clone(shared)));
        let build = |versions: &[&'static rustls::SupportedProtocolVersion]| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(versions)
                // ring supports both versions: this cannot fail.
                .unwrap_or_else(|_| ServerConfig::builder_with_protocol_versions(versions));
            let mut config = builder
                .with_no_client_auth()
                .with_cert_resolver(Arc::clone(&resolver));
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Acceptor::from_server_config(Arc::new(config))
        };
        Acceptors {
            from_tls12: build(&[&TLS12, &TLS13]),
            tls13_only: build(&[&TLS13]),
        }
    }

    /// The acceptor for a new connection under `policy`.
    pub fn for_policy(&self, policy: &Policy) -> &Acceptor {
        match policy.tls_cert.as_ref().map(|t| t.min_version) {
            Some(TlsVersion::V13) => &self.tls13_only,
            _ => &self.from_tls12,
        }
    }
}
