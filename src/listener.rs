//! The connection loop in front of Pingora's HTTP/1 session.
//!
//! Pingora reads a request head with no overall deadline and answers a malformed one with
//! its own error page (`Server: Pingora`). So each head is read here first: within
//! `client.header_timeout`, bounded by the size limits, and checked by `guards::framing`.
//! A refused head gets our problem+json answer and the connection is closed. An accepted
//! one is handed to Pingora as the session's "pipelined prefix", so Pingora parses it from
//! memory without another read and without copying.

use crate::guards::framing::{self, HeadStatus};
use crate::prebuffer::{self, BodyRead, Prebuffered};
use crate::proxy::RampartProxy;
use crate::reject::{self, Code, Reject};
use crate::replay::ReplayStream;
use crate::state::Shared;
use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

/// How long an idle keep-alive connection may wait for its next request.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
/// The most bytes handed to Pingora as a session's pipelined prefix (its head limit is 1 MiB).
const PREFIX_LIMIT: usize = 1024 * 1024 - 1;
/// First read buffer; grows up to `client.max_header_bytes`.
const INITIAL_HEAD_BUFFER: usize = 4096;

pub struct ConnectionApp {
    pub proxy: Arc<HttpProxy<RampartProxy>>,
    pub shared: Arc<Shared>,
}

enum Head {
    /// A complete, acceptable head of this many bytes (plus any body bytes that came with it).
    Ready(BytesMut, usize),
    /// Nothing (more) to do on this connection.
    Closed,
    Refused(Reject),
}

async fn read_head(
    stream: &mut Stream,
    limits: &framing::HeadLimits,
    idle: Duration,
    header_timeout: Duration,
    shutdown: &ShutdownWatch,
    first: bool,
) -> Head {
    let mut buf = BytesMut::with_capacity(INITIAL_HEAD_BUFFER);
    // Waiting for the first byte is idleness; from then on the whole head must arrive
    // within `header_timeout` (slowloris).
    let mut deadline = Instant::now() + idle;
    let mut started = false;
    let mut shutdown = shutdown.clone();
    loop {
        let read = if started {
            timeout_at(deadline, stream.read_buf(&mut buf)).await
        } else {
            // An idle keep-alive connection is closed as soon as shutdown begins; a new
            // connection, or one whose next request has started, is served.
            if first {
                timeout_at(deadline, stream.read_buf(&mut buf)).await
            } else if *shutdown.borrow() {
                return Head::Closed;
            } else {
                tokio::select! {
                    read = timeout_at(deadline, stream.read_buf(&mut buf)) => read,
                    _ = shutdown.changed() => return Head::Closed,
                }
            }
        };
        match read {
            Err(_) if started => {
                return Head::Refused(Reject::new(
                    Code::RequestTimeout,
                    "request head not received in time",
                ))
            }
            Err(_) | Ok(Err(_)) | Ok(Ok(0)) => return Head::Closed,
            Ok(Ok(_)) => {}
        }
        if !started {
            started = true;
            deadline = Instant::now() + header_timeout;
        }
        match framing::check_head(&buf, limits) {
            Ok(HeadStatus::Complete(len)) => return Head::Ready(buf, len),
            Ok(HeadStatus::Partial) => {
                if buf.capacity() == buf.len() {
                    buf.reserve(buf.len().min(limits.max_header_bytes));
                }
            }
            Err(reject) => return Head::Refused(reject),
        }
    }
}

/// Writes a refusal on a connection Pingora never saw, then closes it.
async fn refuse(stream: &mut Stream, shared: &Shared, reject: Reject) {
    shared
        .metrics
        .rejections_total
        .with_label_values(&["", reject.code.as_str()])
        .inc();
    shared
        .metrics
        .requests_total
        .with_label_values(&["", "OTHER", &crate::metrics::status_label(reject.status)])
        .inc();
    let id_bytes = crate::guards::forwarded::new_request_id(fastrand::u128(..));
    let request_id = crate::guards::forwarded::ascii(&id_bytes);
    let body = reject.body(request_id);
    let mut head = reject.header(body.len());
    let _ = head.insert_header("x-request-id", request_id);
    shared
        .policy
        .load()
        .headers
        .apply_to_own_response(&mut head);
    let _ = head.insert_header(http::header::CONNECTION, "close");
    let bytes = reject::to_http1_bytes(&head, &body);
    // Best effort: the client may already be gone.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = stream.write_all(&bytes).await;
        let _ = stream.flush().await;
        let _ = stream.shutdown().await;
    })
    .await;
    tracing::info!(
        target: crate::telemetry::ACCESS_TARGET,
        access = format!(
            "{{\"request_id\":\"{request_id}\",\"route\":null,\"status\":{},\"code\":\"{}\",\"detail\":{}}}",
            reject.status,
            reject.code.as_str(),
            serde_json::Value::from(reject.detail.as_ref())
        )
        .as_str()
    );
}

#[async_trait]
impl ServerApp for ConnectionApp {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let max_connections = self.shared.policy.load().client.max_connections;
        let Some(_slot) = self.shared.connection_slot(max_connections) else {
            let reject =
                Reject::new(Code::Overloaded, "too many open connections").with_retry_after(1);
            refuse(&mut stream, &self.shared, reject).await;
            return None;
        };
        let mut persisted: Option<HttpPersistentSettings> = None;
        let mut first = true;
        loop {
            let policy = self.shared.policy.load_full();
            let client = &policy.client;
            let idle = if first {
                client.header_timeout
            } else {
                KEEPALIVE_IDLE
            };
            let (buf, head_len) = match read_head(
                &mut stream,
                &client.head,
                idle,
                client.header_timeout,
                shutdown,
                first,
            )
            .await
            {
                Head::Ready(buf, len) => (buf, len),
                Head::Closed => return None,
                Head::Refused(reject) => {
                    refuse(&mut stream, &self.shared, reject).await;
                    return None;
                }
            };
            let (mut buf, prebuffered) = match prebuffer::plan(&buf[..head_len], &policy) {
                None => (buf, None),
                Some(plan) => {
                    match prebuffer::read(&mut stream, buf, head_len, plan, client.body_timeout)
                        .await
                    {
                        BodyRead::Ready(buf, body) => (buf, body),
                        BodyRead::Closed => return None,
                        BodyRead::Refused(reject) => {
                            refuse(&mut stream, &self.shared, reject).await;
                            return None;
                        }
                    }
                }
            };
            let max_requests = client.max_requests_per_connection;
            drop(policy);
            // Pingora refuses a pipelined prefix over its 1 MiB head limit: a larger body read
            // ahead is replayed from a stream wrapper instead.
            let (mut buf, stream_in) = if buf.len() > PREFIX_LIMIT {
                let body = buf.split_off(head_len).freeze();
                (buf, ReplayStream::wrap(stream, body))
            } else {
                (buf, stream)
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
            if let Some(body) = prebuffered {
                session.set_connection_user_context(Some(Box::new(Prebuffered(body))));
            }
            session.set_pipelined_prefix(std::mem::take(&mut buf));
            first = false;
            let reused = self.proxy.process_new_http(session, shutdown).await?;
            let (next, settings) = reused.consume();
            stream = ReplayStream::unwrap_spent(next)?;
            persisted = settings;
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}
