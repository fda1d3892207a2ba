//! THE front door: every client connection of the public listener starts here.
//!
//! Pingora reads a request head with no overall deadline and answers a malformed one with
//! its own error page (`Server: Pingora`). So each head is read here first: within
//! `client.header_timeout`, bounded by the size limits, and checked by [`framing`] on the
//! raw bytes (strict framing is what keeps Rampart and the app agreeing on where a request
//! ends). A refused head gets the problem+json answer and a log line like any request, and
//! the connection is closed. An accepted head is handed to Pingora as the session's
//! "pipelined prefix" (parsed from memory, no second read) together with the policy
//! snapshot taken the moment the head was complete. Pingora reads the connection through a
//! [`ClientStream`], which gives it exactly the request's body (decoding chunked bodies
//! strictly) and keeps whatever follows — pipelined requests — for this loop, which checks
//! and serves them in order.

pub mod chunked;
pub mod client_stream;
pub mod framing;
pub mod parsed_head;

use crate::answer::{self, Answer, Scope};
use crate::guards::forwarded::mint_request_id;
use crate::policy::Policy;
use crate::reject::{Code, Reject};
use crate::state::{Door, Shared};
use crate::telemetry::access_log;
use crate::telemetry::AccessRecord;
use async_trait::async_trait;
use client_stream::ClientStream;
use framing::{HeadFacts, HeadStatus};
use parsed_head::ParsedHead;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// What the front door hands the proxy with each request, through the connection
/// (`ClientStream::hand_over`).
pub struct Handover {
    /// The policy snapshot every phase of this request uses.
    pub policy: Arc<Policy>,
    /// Header names with `_` are to be removed before any rule reads the headers.
    pub drop_underscored: bool,
}

/// The public listener's app. `P` is the proxy (Pingora's `HttpProxy<RampartProxy>`): the
/// front door knows it only as an HTTP app, so `proxy` depends on `front`, not both ways.
pub struct ConnectionApp<P> {
    pub proxy: Arc<P>,
    pub shared: Arc<Shared>,
    /// The public listener (the proxy), or the admin listener (its endpoints), which gets the
    /// same head deadline and limits and at most `ADMIN_MAX_CONNECTIONS` connections.
    pub door: Door,
    /// TLS termination, handshaken here within the head deadline (public listener only).
    pub tls: Option<Arc<crate::tls::Acceptors>>,
    /// `server.h2c`: cleartext HTTP/2 with prior knowledge.
    pub h2c: bool,
}

/// The admin listener's connection cap (SPEC §4).
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

enum Head {
    /// A complete, acceptable head: the first `len` pending bytes (`pipelined`: they were
    /// there before this read began, behind an earlier request).
    Ready {
        len: usize,
        head: HeadFacts,
        pipelined: bool,
    },
    /// Nothing (more) to do on this connection.
    Closed,
    /// With what was read of the head (for the log line's method and path).
    Refused(Reject, Vec<u8>),
}

/// Reads one head into the connection's pending bytes (a pipelined one may already be
/// there): the first byte by `wait`, the rest by `wait` too on a new connection (SPEC:
/// handshake and head within `header_timeout` from accept) or within `then_within` of the
/// first byte on a kept-alive one.
async fn read_head(
    conn: &mut ClientStream,
    limits: &framing::HeadLimits,
    wait: Deadline,
    then_within: Option<Duration>,
    shutdown: &ShutdownWatch,
    first: bool,
    parsed: &mut ParsedHead,
) -> Head {
    // Waiting for the first byte is idleness; from then on the whole head must arrive
    // within `header_timeout` (slowloris).
    let mut deadline = wait;
    let mut started = !conn.pending().is_empty();
    let pipelined = started && !first;
    if started {
        if let Some(within) = then_within {
            deadline = Deadline::after(within);
        }
    }
    let mut shutdown = shutdown.clone();
    loop {
        if started {
            let pending = conn.pending();
            framing::normalize_version(pending);
            match framing::check_head_recording(pending, limits, parsed) {
                Ok(HeadStatus::Complete { len, head }) => {
                    return Head::Ready {
                        len,
                        head,
                        pipelined,
                    }
                }
                Ok(HeadStatus::Partial) => {}
                Err(reject) => return Head::Refused(reject, pending.to_vec()),
            }
        }
        let read = deadline.bound(conn.read_more());
        let read = if started || first {
            read.await
        } else if *shutdown.borrow() {
            // An idle keep-alive connection is closed as soon as shutdown begins; a new
            // connection, or one whose next request has started, is served.
            return Head::Closed;
        } else {
            tokio::select! {
                read = read => read,
                _ = shutdown.changed() => return Head::Closed,
            }
        };
        match read {
            Err(_) if started => {
                let reject = Reject::new(Code::RequestTimeout, "request head not received in time");
                return Head::Refused(reject, conn.pending().to_vec());
            }
            Err(_) | Ok(Err(_)) | Ok(Ok(0)) => return Head::Closed,
            Ok(Ok(_)) => {}
        }
        if !started {
            started = true;
            if let Some(within) = then_within {
                deadline = Deadline::after(within);
            }
        }
    }
}

/// A point in time reads must finish by. Pingora's timer wheel (`fast_timeout`, what its
/// own reads use) bounds each read with what is left: a tokio timer per read would take the
/// runtime's timer lock on every request.
#[derive(Clone, Copy)]
struct Deadline(Instant);

impl Deadline {
    fn after(d: Duration) -> Deadline {
        Deadline(crate::time_math::after(Instant::now(), d))
    }

    fn bound<F: std::future::Future>(
        self,
        f: F,
    ) -> pingora_timeout::Timeout<F, pingora_timeout::fast_timeout::FastOrTokioTimeout> {
        pingora_timeout::fast_timeout::fast_timeout(
            self.0.saturating_duration_since(Instant::now()),
            f,
        )
    }
}

/// Whether a cleartext connection opens with the HTTP/2 preface (`server.h2c`), read within
/// the head deadline into the connection's pending bytes (kept for whichever protocol).
async fn h2c_preface(conn: &mut ClientStream, deadline: Deadline) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    loop {
        let pending = conn.pending();
        let n = pending.len().min(PREFACE.len());
        if pending[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        match deadline.bound(conn.read_more()).await {
            Ok(Ok(read)) if read > 0 => {}
            _ => return false,
        }
    }
}

/// Answers a refusal on a connection Pingora never saw, logs it like any request, and
/// closes the connection. `head`: what was read of the request; `write`: write the answer
/// (false: only close, as before a TLS handshake).
async fn refuse(stream: &mut Stream, shared: &Shared, reject: Reject, head: &[u8], write: bool) {
    let start = Instant::now();
    let policy = shared.policy.load_full();
    let request_id = mint_request_id();
    let scope = Scope::Public {
        route: "",
        shadow: false,
    };
    let Answer::Problem(answer, body) =
        answer::refuse(&shared.metrics, scope, &reject, &request_id, |head| {
            policy.headers.apply_to_own_response(head);
            let _ = head.insert_header(http::header::CONNECTION, "close");
        })
    else {
        return;
    };
    let bytes = crate::reject::to_http1_bytes(&answer, &body);
    // Best effort: the client may already be gone.
    let sent = tokio::time::timeout(Duration::from_secs(5), async {
        let sent = write && stream.write_all(&bytes).await.is_ok() && stream.flush().await.is_ok();
        let _ = stream.shutdown().await;
        sent
    })
    .await;
    // The request line, as far as it was read (SPEC §5: `method`/`path` when known).
    let mut no_headers = [];
    let mut req = httparse::Request::new(&mut no_headers);
    let _ = req.parse(head);
    let client_ip = stream
        .get_socket_digest()
        .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()))
        .map_or(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            crate::guards::forwarded::canonical,
        );
    let bytes_out = if matches!(sent, Ok(true)) {
        body.len() as u64
    } else {
        0
    };
    let record = AccessRecord::refused(
        request_id.to_str().unwrap_or("-"),
        client_ip,
        (
            req.method.unwrap_or("-"),
            req.path.map_or("-", |p| p.split('?').next().unwrap_or(p)),
        ),
        None,
        &reject,
        (bytes_out, start.elapsed()),
    );
    access_log::finish(&shared.metrics, &policy.logging, &record);
}

#[async_trait]
impl<P: HttpServerApp + Send + Sync + 'static> ServerApp for ConnectionApp<P> {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let max_connections = match self.door {
            Door::Public => self.shared.policy.load().client.max_connections,
            Door::Admin => ADMIN_MAX_CONNECTIONS,
        };
        let Some(_slot) = self.shared.connection_slot(self.door, max_connections) else {
            let reject =
                Reject::new(Code::Overloaded, "too many open connections").with_retry_after(1);
            // Before a TLS handshake there is nobody to answer in HTTP: just close.
            let answer = self.tls.is_none();
            // Boxed, here and below: a future held inline would size every connection's
            // state for its rarest path (an idle keep-alive connection keeps that state).
            Box::pin(refuse(&mut stream, &self.shared, reject, &[], answer)).await;
            return None;
        };
        let accepted = Deadline::after(self.shared.policy.load().client.header_timeout);
        if let Some(acceptors) = &self.tls {
            let acceptor = acceptors.for_policy(&self.shared.policy.load());
            // Inside the connection's slot and its head deadline: a client that never sends
            // its ClientHello is gone by `header_timeout` like a slow head (Pingora's own
            // handshake has a fixed 60 s and counts nowhere).
            // The handshake wants the concrete socket Pingora accepted.
            let Ok(socket) = stream.into_any().downcast::<L4Stream>() else {
                return None;
            };
            stream = match Box::pin(accepted.bound(acceptor.tls_handshake(*socket))).await {
                Ok(Ok(tls)) => Box::new(tls),
                // Scanners and dropped clients fail handshakes all day: not an error.
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return None;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake not completed within client.header_timeout");
                    return None;
                }
            };
            if stream.selected_alpn_proto() == Some(ALPN::H2) {
                // HTTP/2 frames its own messages: Pingora's connection loop serves each stream
                // through the same proxy (every rule applies), within its h2 limits.
                return ServerApp::process_new(&self.proxy, stream, shutdown).await;
            }
        }
        let mut conn = ClientStream::new(stream);
        if self.h2c && h2c_preface(&mut conn, accepted).await {
            conn.tunnel(None);
            return ServerApp::process_new(&self.proxy, conn, shutdown).await;
        }
        let mut persisted: Option<HttpPersistentSettings> = None;
        let mut first = true;
        let mut parsed = ParsedHead::default();
        loop {
            // Copied out: no snapshot is held while waiting for a client.
            let (limits, header_timeout, idle) = {
                let policy = self.shared.policy.load();
                let client = &policy.client;
                (client.head, client.header_timeout, client.idle_timeout)
            };
            let (wait, then_within) = if first {
                (accepted, None)
            } else {
                (Deadline::after(idle), Some(header_timeout))
            };
            let read = read_head(
                &mut conn,
                &limits,
                wait,
                then_within,
                shutdown,
                first,
                &mut parsed,
            );
            let (len, head, pipelined) = match read.await {
                Head::Ready {
                    len,
                    head,
                    pipelined,
                } => (len, head, pipelined),
                Head::Closed => return None,
                Head::Refused(reject, read) => {
                    let mut stream: Stream = conn;
                    Box::pin(refuse(&mut stream, &self.shared, reject, &read, true)).await;
                    return None;
                }
            };
            // The request's one snapshot, taken now that its head is complete.
            let policy = self.shared.policy.load_full();
            let head_bytes = conn.start_request(len, head.body, pipelined);
            // A client that sent its last request and ended its side gets its answer; the
            // connection then closes.
            let last = conn.client_ended() && conn.pending().is_empty();
            conn.set_send_timeout(policy.client.send_timeout);
            let max_requests = policy.client.max_requests_per_connection;
            let idle_secs = policy.client.idle_timeout.as_secs().max(1);
            conn.hand_over(Handover {
                policy,
                drop_underscored: head.drop_underscored,
            });
            let mut session = ServerSession::new_http1(conn);
            match persisted.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => {
                    session.set_keepalive(Some(idle_secs));
                    session.set_keepalive_reuses_remaining(Some(max_requests.saturating_sub(1)));
                }
            }
            if *shutdown.borrow() || last {
                session.set_keepalive(None);
            }
            parsed.hand_over(&mut session, head_bytes, head.absolute);
            first = false;
            let reused = self.proxy.process_new_http(session, shutdown).await?;
            let (next, settings) = reused.consume();
            conn = ClientStream::take_back(next)?;
            persisted = settings;
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}
