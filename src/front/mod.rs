//! THE front door: every client connection of the public listener starts here.
//!
//! Pingora reads a request head with no overall deadline and answers a malformed one with
//! its own error page (`Server: Pingora`). So each head is read here first: within
//! `client.header_timeout`, bounded by the size limits, and checked by [`framing`] on the
//! raw bytes (strict framing is what keeps Rampart and the app agreeing on where a request
//! ends). A refused head gets the problem+json answer and a log line like any request, and
//! the connection is closed. An accepted head is handed to Pingora as the session's
//! "pipelined prefix" (parsed from memory, no second read) together with the policy
//! snapshot taken the moment the head was complete. The body is not touched here: when the
//! head announces one, its bytes wait in a [`BodyStream`] until the proxy has decided on
//! the head and either reads it ahead or streams it.

pub mod body_stream;
pub mod chunked;
pub mod framing;

use crate::access_log;
use crate::guards::forwarded::mint_request_id;
use crate::policy::Policy;
use crate::reject::{Code, Reject};
use crate::state::{Door, Shared};
use crate::telemetry::AccessRecord;
use async_trait::async_trait;
use body_stream::BodyStream;
use bytes::BytesMut;
use framing::HeadStatus;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long an idle keep-alive connection may wait for its next request.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
/// First read buffer; grows up to `client.max_header_bytes`. Held by every idle keep-alive
/// connection while it waits, so small: most request heads fit in 1 KiB.
const INITIAL_HEAD_BUFFER: usize = 1024;

/// What the front door hands the proxy with each request (Pingora's connection context).
pub struct Handover {
    /// The policy snapshot every phase of this request uses.
    pub policy: Arc<Policy>,
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
    pub tls: Option<Arc<pingora::listeners::tls::Acceptor>>,
}

/// The admin listener's connection cap (SPEC §4).
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

enum Head {
    /// A complete, acceptable head of `len` bytes (plus any bytes that came after it).
    Ready {
        buf: BytesMut,
        len: usize,
        body: bool,
    },
    /// Nothing (more) to do on this connection.
    Closed,
    /// With what was read of the head (for the log line's method and path).
    Refused(Reject, BytesMut),
}

/// Reads one head: the first byte by `wait`, the rest by `wait` too on a new connection
/// (SPEC: handshake and head within `header_timeout` from accept) or within
/// `then_within` of the first byte on a kept-alive one.
async fn read_head(
    stream: &mut Stream,
    limits: &framing::HeadLimits,
    wait: Deadline,
    then_within: Option<Duration>,
    shutdown: &ShutdownWatch,
    first: bool,
) -> Head {
    let mut buf = BytesMut::with_capacity(INITIAL_HEAD_BUFFER);
    // Waiting for the first byte is idleness; from then on the whole head must arrive
    // within `header_timeout` (slowloris).
    let mut deadline = wait;
    let mut started = false;
    let mut shutdown = shutdown.clone();
    loop {
        let read = deadline.bound(stream.read_buf(&mut buf));
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
                return Head::Refused(reject, buf);
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
        match framing::check_head(&buf, limits) {
            Ok(HeadStatus::Complete { len, body }) => return Head::Ready { buf, len, body },
            Ok(HeadStatus::Partial) => {
                if buf.capacity() == buf.len() {
                    buf.reserve(buf.len().min(limits.max_header_bytes));
                }
            }
            Err(reject) => return Head::Refused(reject, buf),
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

/// Answers a refusal on a connection Pingora never saw, logs it like any request, and
/// closes the connection. `head`: what was read of the request; `write`: write the answer
/// (false: only close, as before a TLS handshake).
async fn refuse(stream: &mut Stream, shared: &Shared, reject: Reject, head: &[u8], write: bool) {
    let start = Instant::now();
    let policy = shared.policy.load_full();
    shared
        .metrics
        .rejections_total
        .with_label_values(&["", reject.code.as_str()])
        .inc();
    let request_id = mint_request_id();
    let (mut answer, body) = reject.response(&request_id);
    policy.headers.apply_to_own_response(&mut answer);
    let _ = answer.insert_header(http::header::CONNECTION, "close");
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
    let record = AccessRecord {
        request_id: request_id.to_str().unwrap_or("-"),
        trace_id: None,
        client_ip,
        method: req.method.unwrap_or("-"),
        path: req.path.map_or("-", |p| p.split('?').next().unwrap_or(p)),
        route: None,
        upstream: None,
        endpoint: None,
        status: reject.status,
        code: Some(reject.code.as_str()),
        shadow: &[],
        bytes_in: 0,
        bytes_out: if matches!(sent, Ok(true)) {
            body.len() as u64
        } else {
            0
        },
        duration: start.elapsed(),
        upstream_time: None,
        retries: 0,
        user_agent: None,
    };
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
            refuse(&mut stream, &self.shared, reject, &[], answer).await;
            return None;
        };
        let accepted = Deadline::after(self.shared.policy.load().client.header_timeout);
        if let Some(acceptor) = &self.tls {
            // Inside the connection's slot and its head deadline: a client that never sends
            // its ClientHello is gone by `header_timeout` like a slow head (Pingora's own
            // handshake has a fixed 60 s and counts nowhere).
            // The handshake wants the concrete socket Pingora accepted.
            let Ok(socket) = stream.into_any().downcast::<L4Stream>() else {
                return None;
            };
            stream = match accepted.bound(acceptor.tls_handshake(*socket)).await {
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
        }
        let mut persisted: Option<HttpPersistentSettings> = None;
        let mut first = true;
        loop {
            // Copied out: no snapshot is held while waiting for a client.
            let (limits, header_timeout) = {
                let policy = self.shared.policy.load();
                (policy.client.head, policy.client.header_timeout)
            };
            let (wait, then_within) = if first {
                (accepted, None)
            } else {
                (Deadline::after(KEEPALIVE_IDLE), Some(header_timeout))
            };
            let head = read_head(&mut stream, &limits, wait, then_within, shutdown, first);
            let (mut buf, len, body) = match head.await {
                Head::Ready { buf, len, body } => (buf, len, body),
                Head::Closed => return None,
                Head::Refused(reject, buf) => {
                    refuse(&mut stream, &self.shared, reject, &buf, true).await;
                    return None;
                }
            };
            // The request's one snapshot, taken now that its head is complete.
            let policy = self.shared.policy.load_full();
            let max_requests = policy.client.max_requests_per_connection;
            // A body stays in the connection until the proxy has decided on the head.
            let stream_in = if body {
                let rest = buf.split_off(len);
                BodyStream::wrap(stream, rest)
            } else {
                stream
            };
            let mut session = ServerSession::new_http1(stream_in);
            match persisted.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => {
                    session.set_keepalive(Some(KEEPALIVE_IDLE.as_secs()));
                    session.set_keepalive_reuses_remaining(Some(max_requests.saturating_sub(1)));
                }
            }
            if *shutdown.borrow() {
                session.set_keepalive(None);
            }
            session.set_connection_user_context(Some(Box::new(Handover { policy })));
            session.set_pipelined_prefix(buf);
            first = false;
            let reused = self.proxy.process_new_http(session, shutdown).await?;
            let (next, settings) = reused.consume();
            stream = BodyStream::unwrap_spent(next)?;
            persisted = settings;
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}
