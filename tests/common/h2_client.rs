//! A minimal HTTP/2 client for what curl cannot do: requests back to back on one
//! connection, each sent the moment the answer before it has ended (h2c, or h2 over TLS
//! with any certificate: the tests' are self-signed).

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// A connection, cleartext or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Runs `exchange` on a fresh connection to `addr` (TLS with ALPN h2 when `tls`), in a
/// runtime of its own; the scheme for the requests' URIs comes with the connection.
pub(crate) fn on_connection<T>(
    addr: SocketAddr,
    tls: bool,
    exchange: impl AsyncFnOnce(Box<dyn Io>, &'static str) -> T,
) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        if tls {
            let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
            let stream = connector().connect(name, tcp).await.expect("TLS handshake");
            exchange(Box::new(stream), "https").await
        } else {
            exchange(Box::new(tcp), "http").await
        }
    })
}

/// GETs `paths` in a row on one HTTP/2 connection to `addr`, each sent the moment the head
/// of the answer before it has arrived (its body is read meanwhile): their statuses (0 for
/// a stream that failed).
pub fn in_a_row(addr: SocketAddr, tls: bool, authority: &str, paths: &[&str]) -> Vec<u16> {
    let requests = paths.iter().map(|p| (*p, Vec::new())).collect();
    run(addr, tls, authority, requests)
}

/// One GET of `path` with `headers` sent as given (curl would tidy some): its status.
pub fn get(
    addr: SocketAddr,
    tls: bool,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let headers = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    run(addr, tls, authority, vec![(path, headers)])
        .first()
        .copied()
        .unwrap_or(0)
}

type Requests<'a> = Vec<(&'a str, Vec<(String, String)>)>;

/// Opens an HTTP/2 connection, makes `requests` GETs of `/`, then sends nothing: Ok when
/// the server ended the connection cleanly (GOAWAY NO_ERROR, then close), Err when it ended
/// it otherwise or still held it open after `guard`.
pub fn until_closed(
    addr: SocketAddr,
    tls: bool,
    authority: &str,
    requests: usize,
    guard: std::time::Duration,
) -> Result<(), String> {
    on_connection(addr, tls, async |io, scheme| {
        let ended = idle_after(io, scheme, authority, requests);
        match tokio::time::timeout(guard, ended).await {
            Ok(ended) => ended,
            Err(_) => Err(format!("still open after {guard:?}")),
        }
    })
}

async fn idle_after<T>(io: T, scheme: &str, authority: &str, requests: usize) -> Result<(), String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut client, connection) = match h2::client::handshake(io).await {
        Ok(handshake) => handshake,
        Err(e) if requests == 0 && closed_under_a_write(&e) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    let driven = tokio::spawn(connection);
    for _ in 0..requests {
        let request = http::Request::get(format!("{scheme}://{authority}/"))
            .body(())
            .expect("request");
        client = client.ready().await.map_err(|e| e.to_string())?;
        let (response, _) = client
            .send_request(request, true)
            .map_err(|e| e.to_string())?;
        let mut body = response.await.map_err(|e| e.to_string())?.into_body();
        while let Some(Ok(chunk)) = body.data().await {
            let _ = body.flow_control().release_capacity(chunk.len());
        }
    }
    // The client keeps its handle (it could still send): only the server ends this.
    let ended = driven.await.map_err(|e| e.to_string())?;
    drop(client);
    match ended {
        Err(e) if !closed_under_a_write(&e) => Err(format!("ended with an error: {e}")),
        _ => Ok(()),
    }
}

/// Closed by the server while this client was still writing (its preface or a SETTINGS ack,
/// late on a loaded machine, after the server's deadline): closed all the same.
fn closed_under_a_write(e: &h2::Error) -> bool {
    e.get_io().is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        )
    })
}

fn run(addr: SocketAddr, tls: bool, authority: &str, requests: Requests<'_>) -> Vec<u16> {
    on_connection(addr, tls, async |io, scheme| {
        exchange(io, scheme, authority, requests).await
    })
}

async fn exchange<T>(io: T, scheme: &str, authority: &str, requests: Requests<'_>) -> Vec<u16>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut client, connection) = h2::client::handshake(io).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut statuses = Vec::new();
    for (path, headers) in requests {
        let mut request = http::Request::get(format!("{scheme}://{authority}{path}"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request.body(()).expect("request");
        client = client.ready().await.expect("connection ready");
        let Ok((response, _)) = client.send_request(request, true) else {
            statuses.push(0);
            continue;
        };
        let Ok(response) = response.await else {
            statuses.push(0);
            continue;
        };
        statuses.push(response.status().as_u16());
        let mut body = response.into_body();
        tokio::spawn(async move {
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
            }
        });
    }
    statuses
}

fn connector() -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Accepts any server certificate (the tests' are self-signed for `localhost`); signatures
/// are still checked, so the handshake is a real one.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// GETs `path` on a connection that never opens its flow-control window (initial window 0,
/// never released): the client reads the head and then accepts no body byte. Returns how
/// the stream ended (Err: it was reset, as a stalled client's stream should be) or Ok after
/// `guard` with the stream still open.
pub fn stalled(
    addr: SocketAddr,
    tls: bool,
    authority: &str,
    path: &str,
    guard: std::time::Duration,
) -> Result<u16, String> {
    on_connection(addr, tls, async |io, scheme| {
        stall(io, scheme, authority, path, guard).await
    })
}

async fn stall<T>(
    io: T,
    scheme: &str,
    authority: &str,
    path: &str,
    guard: std::time::Duration,
) -> Result<u16, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, bytes::Bytes>(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.map_err(|e| e.to_string())?;
    let request = http::Request::get(format!("{scheme}://{authority}{path}"))
        .body(())
        .expect("request");
    let (response, _) = client
        .send_request(request, true)
        .map_err(|e| e.to_string())?;
    let response = response.await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    match tokio::time::timeout(guard, body.data()).await {
        Ok(Some(Err(e))) => Err(format!("{status}: {e}")),
        Ok(other) => Ok(other.map_or(status, |_| status)),
        Err(_) => Ok(status),
    }
}
