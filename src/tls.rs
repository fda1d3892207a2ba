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

/// The front door's acceptors, one per combination of `min_version` and `http2` (both
/// reloadable; rustls fixes versions and ALPN per server config).
pub struct Acceptors {
    /// Indexed by [tls13_only][http2].
    by_settings: [[Acceptor; 2]; 2],
}

impl Acceptors {
    pub fn new(shared: &Arc<Shared>) -> Acceptors {
        let resolver: Arc<dyn ResolvesServerCert> =
            Arc::new(CurrentCertificate(Arc::clone(shared)));
        let build = |versions: &[&'static rustls::SupportedProtocolVersion], http2: bool| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(versions)
                // ring supports both versions: this cannot fail.
                .unwrap_or_else(|_| ServerConfig::builder_with_protocol_versions(versions));
            let mut config = builder
                .with_no_client_auth()
                .with_cert_resolver(Arc::clone(&resolver));
            config.alpn_protocols = if http2 {
                vec![b"h2".to_vec(), b"http/1.1".to_vec()]
            } else {
                vec![b"http/1.1".to_vec()]
            };
            Acceptor::from_server_config(Arc::new(config))
        };
        let both: &[&'static rustls::SupportedProtocolVersion] = &[&TLS12, &TLS13];
        let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&TLS13];
        Acceptors {
            by_settings: [
                [build(both, false), build(both, true)],
                [build(tls13, false), build(tls13, true)],
            ],
        }
    }

    /// The acceptor for a new connection under `policy`.
    pub fn for_policy(&self, policy: &Policy) -> &Acceptor {
        let (tls13_only, http2) = policy.tls_cert.as_ref().map_or((false, false), |t| {
            (t.min_version == TlsVersion::V13, t.http2)
        });
        &self.by_settings[usize::from(tls13_only)][usize::from(http2)]
    }
}

/// HTTP/2 abuse limits (per connection): at most 100 concurrent streams, a decoded header
/// list no larger than the head rules need, and h2's defence against rapid reset (at most
/// 20 streams reset by the client before the server accepted them, then the connection is
/// closed).
pub fn h2_limits(
    head: &crate::policy::HeadLimits,
) -> pingora::protocols::http::v2::server::H2Options {
    let mut options = pingora::protocols::http::v2::server::default_h2_options();
    options
        .max_concurrent_streams(100)
        .max_header_list_size(h2_header_list_limit(head))
        .max_pending_accept_reset_streams(20);
    options
}

/// The h2 decoder's own header-list limit: never below `max_header_bytes` as the head rules
/// count it (SPEC 0.3), so an oversized list gets Rampart's 431, not a stream reset. The
/// decoder counts 32 bytes more per field than the rule (RFC 9113 §6.5.2): room for the
/// allowed fields and the four pseudo-headers, and never below h2's usual 64 KiB. Set when
/// the listener starts: a reload that raises the limits past it is applied and warned about
/// (`config_state`), and takes effect for HTTP/2 on restart.
pub fn h2_header_list_limit(head: &crate::policy::HeadLimits) -> u32 {
    header_list_limit(head.max_header_bytes, head.max_headers)
}

/// [`h2_header_list_limit`] from the two settings.
pub fn header_list_limit(max_header_bytes: usize, max_headers: usize) -> u32 {
    let overhead = max_headers.saturating_add(4).saturating_mul(32);
    let limit = max_header_bytes.saturating_add(overhead).max(64 * 1024);
    u32::try_from(limit).unwrap_or(u32::MAX)
}
