//! TLS termination (`server.tls`): the certificate served is the current policy's
//! (`policy::tls`), so a reload — started by `POST /-/reload`, SIGHUP, or the certificate or
//! key file changing — swaps it for new handshakes while established connections keep
//! theirs. `min_version` picks between two acceptors sharing that certificate.

use crate::config::model::TlsVersion;
use crate::policy::Policy;
use crate::state::Shared;
use pingora::listeners::tls::Acceptor;
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig};
use rustls::sign::CertifiedKey;
use rustls::version::{TLS12, TLS13};
use std::sync::Arc;

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
