//! The client connection as Pingora reads it: one wrapper for the connection's whole life.
//!
//! The front door reads every request head itself into `pending` and hands Pingora exactly
//! the head. Through this stream Pingora then reads exactly the request's body and never a
//! byte more:
//! - a `Content-Length` body: that many bytes;
//! - a chunked body: decoded strictly as it streams ([`ChunkedDecoder`]) and re-framed in
//!   canonical form, so a malformed chunk stops the exchange before its bytes go anywhere
//!   (the failure is kept for the proxy's 400/413) and Pingora's looser decoder only ever
//!   parses well-formed framing;
//! - after the body (or with none), whatever the client sends — its next pipelined
//!   requests — is kept in `pending` for the front door, which checks each head like the
//!   first and answers them in order. The end of the client's stream is passed on (Pingora
//!   then stops the request, as NGINX does for a client that left) only when nothing is
//!   waiting and the request was not pipelined: a client that pipelined and half-closed
//!   still gets every answer.
//!
//! A route that needs the body whole (schema, uploads, small limits) reads it ahead with
//! [`ClientStream::read_ahead`] once every decision on the head passed.

use super::chunked::{frame, ChunkedDecoder, Piece, LAST_CHUNK};
use super::framing::BodyFraming;
use crate::reject::Reject;
use bytes::{Buf, Bytes, BytesMut};
use pingora::protocols::Stream;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

mod carried;
mod io_traits;
mod read_ahead;
pub mod send_deadline;
mod tunnel;

use read_ahead::{read_chunked_ahead, read_exact_ahead};

/// How much a client may send ahead (pipelined requests) while one is being answered.
const MAX_READ_AHEAD: usize = 64 * 1024;
/// Read size for streamed chunked bodies.
const READ_CHUNK: usize = 16 * 1024;
/// Read size while waiting after a body: usually nothing comes (Pingora only watches for the
/// client leaving), so an idle connection must not hold a large buffer.
const IDLE_READ: usize = 1024;

/// How a body is read ahead and how much of it a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub limit: u64,
    pub expect_continue: bool,
    /// A shadow route never refuses an oversized body: it streams and is counted.
    pub shadow: bool,
}

/// What reading ahead came to.
#[derive(Debug)]
pub enum ReadAhead {
    /// The decoded body (None: a shadow route's body over its limit, left to stream).
    Ready(Option<Bytes>),
    /// The client went away.
    Closed,
    Refused(Reject),
}

/// What Pingora may still read of the current request's body.
#[derive(Debug)]
enum Body {
    /// Exactly this many more bytes (a Content-Length body, or canonical chunked framing
    /// already written into `pending` by a read-ahead).
    Exact(u64),
    /// A chunked body being decoded and re-framed as it streams.
    Chunked(ChunkedDecoder),
    /// No body, or all of it was read.
    Done,
    /// The connection switched protocols: everything passes through (on a WebSocket, its
    /// frames followed for the close at the end of a shutdown).
    Tunnel(Option<Box<tunnel::WebSocket>>),
}

struct Inner {
    stream: Stream,
    /// Bytes read from the client and not yet consumed: the rest of this request's body,
    /// then the next requests.
    pending: BytesMut,
    body: Body,
    /// Canonical chunked framing ready for Pingora.
    framed: BytesMut,
    /// A framing error found while the body streamed (answered by the proxy).
    failure: Option<Reject>,
    /// The client ended its side.
    eof: bool,
    /// The current request arrived pipelined behind another: its end of stream is held.
    hold_eof: bool,
    /// `client.send_timeout`, armed when a write to the client stalls.
    send: send_deadline::SendDeadline,
    /// What the connection carries for the proxy (`carried.rs`).
    carried: carried::Carried,
}

pub struct ClientStream {
    // `poll_read` reaches it through `&mut self` (`Mutex::get_mut`, no locking); the proxy
    // reaches it through Pingora's `&Stream`, only while Pingora is not reading.
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientStream")
    }
}

impl ClientStream {
    pub fn new(stream: Stream) -> Box<ClientStream> {
        Box::new(ClientStream {
            inner: Mutex::new(Inner {
                stream,
                pending: BytesMut::new(),
                body: Body::Done,
                framed: BytesMut::new(),
                failure: None,
                eof: false,
                hold_eof: false,
                send: Default::default(),
                carried: Default::default(),
            }),
        })
    }

    /// The wrapper inside one of Pingora's streams, if it is one.
    pub fn of(stream: &Stream) -> Option<&ClientStream> {
        (**stream).as_any().downcast_ref::<ClientStream>()
    }

    /// Takes the wrapper back from Pingora after a request. None when the request's body
    /// was not read to its end (the connection cannot carry another request).
    pub fn take_back(stream: Stream) -> Option<Box<ClientStream>> {
        let mut conn = stream.into_any().downcast::<ClientStream>().ok()?;
        let inner = conn.inner_mut();
        // An upgraded connection never carries another HTTP request.
        let spent = matches!(inner.body, Body::Done | Body::Exact(0)) && inner.framed.is_empty();
        if !spent || inner.failure.is_some() {
            return None;
        }
        if inner.pending.is_empty() {
            // An idle connection keeps no buffer.
            inner.pending = BytesMut::new();
        }
        Some(conn)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `client.send_timeout` for the writes of the request about to be served.
    pub fn set_send_timeout(&mut self, timeout: std::time::Duration) {
        self.inner_mut().send.set(timeout);
    }

    fn inner_mut(&mut self) -> &mut Inner {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bytes received and not yet used (the front door reads heads into them).
    pub fn pending(&mut self) -> &mut BytesMut {
        &mut self.inner_mut().pending
    }

    /// Whether the client ended its side.
    pub fn client_ended(&mut self) -> bool {
        self.inner_mut().eof
    }

    /// Reads more of the client's bytes into `pending`; Ok(0) at the end of the stream.
    pub async fn read_more(&mut self) -> std::io::Result<usize> {
        let inner = self.inner_mut();
        if inner.eof {
            return Ok(0);
        }
        if inner.pending.capacity() == inner.pending.len() {
            inner.pending.reserve(1024.max(inner.pending.len()));
        }
        let n = inner.stream.read_buf(&mut inner.pending).await?;
        inner.eof = n == 0;
        Ok(n)
    }

    /// Splits the head (the first `len` pending bytes) off for Pingora and sets up how the
    /// body that follows is read. `pipelined`: the head came behind an earlier request.
    pub fn start_request(&mut self, len: usize, framing: BodyFraming, pipelined: bool) -> BytesMut {
        let inner = self.inner_mut();
        inner.hold_eof = pipelined;
        let head = inner.pending.split_to(len.min(inner.pending.len()));
        inner.body = match framing {
            BodyFraming::None => Body::Done,
            BodyFraming::Length(n) => Body::Exact(n),
            // The route's limit is enforced by the proxy as the body streams.
            BodyFraming::Chunked => Body::Chunked(ChunkedDecoder::new(u64::MAX)),
        };
        inner.framed.clear();
        inner.failure = None;
        head
    }

    /// The app switched protocols: from now on the client's bytes (those already waiting
    /// first) pass through untouched. `going_away`: the switch was to WebSocket, and this
    /// token is cancelled when the shutdown's grace period ends (both sides then get 1001).
    pub fn tunnel(&self, going_away: Option<tokio_util::sync::CancellationToken>) {
        self.lock().body = Body::Tunnel(going_away.map(tunnel::WebSocket::new));
    }

    /// A framing error found while the body streamed (the connection is not reused).
    pub fn take_failure(&self) -> Option<Reject> {
        self.lock().failure.clone()
    }

    /// Reads the whole body into `pending` (Pingora forwards it from there, re-framed
    /// canonically when chunked) and returns it decoded. Gaps between reads are bounded
    /// by `gap`.
    pub async fn read_ahead(&self, plan: Plan, gap: Duration) -> ReadAhead {
        let (mut pending, body) = {
            let mut inner = self.lock();
            let body = std::mem::replace(&mut inner.body, Body::Done);
            (std::mem::take(&mut inner.pending), body)
        };
        let mut io = Locked(&self.inner);
        let (read, body) = match body {
            Body::Exact(n) => (
                read_exact_ahead(&mut io, &mut pending, n, plan, gap).await,
                Body::Exact(n),
            ),
            Body::Chunked(_) => read_chunked_ahead(&mut io, &mut pending, plan, gap).await,
            Body::Done => (ReadAhead::Ready(Some(Bytes::new())), Body::Done),
            // Never read ahead: a tunnel starts after the request.
            body @ Body::Tunnel(_) => (ReadAhead::Ready(None), body),
        };
        let mut inner = self.lock();
        inner.pending = pending;
        inner.body = body;
        read
    }
}

/// The inner connection, locked for the length of one poll (never across an await).
struct Locked<'a>(&'a Mutex<Inner>);

impl Locked<'_> {
    fn with<T>(&self, f: impl FnOnce(Pin<&mut Stream>) -> T) -> T {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(Pin::new(&mut inner.stream))
    }
}

impl Inner {
    /// Pingora reads the body: exactly the announced bytes.
    fn poll_exact(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        left: u64,
    ) -> Poll<std::io::Result<()>> {
        let cap = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        let n = if !self.pending.is_empty() {
            let n = self.pending.len().min(cap);
            buf.put_slice(&self.pending[..n]);
            self.pending.advance(n);
            n
        } else {
            let mut limited = ReadBuf::new(buf.initialize_unfilled_to(cap));
            ready!(Pin::new(&mut self.stream).poll_read(cx, &mut limited))?;
            let n = limited.filled().len();
            buf.advance(n);
            n
        };
        // n == 0: the client ended mid-body; Pingora sees the premature end.
        self.body = Body::Exact(left - n as u64);
        Poll::Ready(Ok(()))
    }

    /// Pingora reads a chunked body: decoded strictly, handed over re-framed.
    fn poll_chunked(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if !self.framed.is_empty() {
                let n = self.framed.len().min(buf.remaining());
                buf.put_slice(&self.framed[..n]);
                self.framed.advance(n);
                return Poll::Ready(Ok(()));
            }
            let Body::Chunked(decoder) = &mut self.body else {
                return Poll::Ready(Ok(()));
            };
            if self.pending.is_empty() {
                let read = ready!(read_into(
                    &mut self.stream,
                    &mut self.pending,
                    cx,
                    READ_CHUNK
                ))?;
                if read == 0 {
                    return Poll::Ready(Ok(())); // ended mid-body: Pingora sees it
                }
            }
            match decoder.step(&self.pending) {
                Ok((used, Piece::Data(data))) => {
                    frame(data, &mut self.framed);
                    self.pending.advance(used);
                }
                Ok((used, Piece::Need)) => self.pending.advance(used),
                Ok((used, Piece::Done)) => {
                    self.framed.extend_from_slice(LAST_CHUNK);
                    self.pending.advance(used);
                    self.body = Body::Done;
                }
                Err(reject) => {
                    let detail = reject.detail.to_string();
                    self.failure = Some(reject);
                    self.body = Body::Done;
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        detail,
                    )));
                }
            }
        }
    }

    /// After the body: what the client sends next waits in `pending` for the front door.
    fn poll_after_body(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        loop {
            if self.eof && self.pending.is_empty() && !self.hold_eof {
                return Poll::Ready(Ok(()));
            }
            if self.eof || self.pending.len() >= MAX_READ_AHEAD {
                // Nothing more is read until the front door takes the next head.
                return Poll::Pending;
            }
            let room = IDLE_READ.min(MAX_READ_AHEAD - self.pending.len());
            let read = ready!(read_into(&mut self.stream, &mut self.pending, cx, room))?;
            if read == 0 {
                self.eof = true;
                if self.pending.is_empty() && !self.hold_eof {
                    // The client left with nothing waiting: Pingora may stop early (not for
                    // a pipelined request: its client half-closed and waits for the answer).
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

/// Reads from the client into `pending`, with room for `reserve` more bytes first.
fn read_into(
    stream: &mut Stream,
    pending: &mut BytesMut,
    cx: &mut Context<'_>,
    reserve: usize,
) -> Poll<std::io::Result<usize>> {
    pending.reserve(reserve);
    tokio_util::io::poll_read_buf(Pin::new(stream), cx, pending)
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let inner = self.get_mut().inner_mut();
        if let Body::Tunnel(websocket) = &mut inner.body {
            return tunnel::poll_read(
                &mut inner.stream,
                &mut inner.pending,
                inner.eof,
                websocket.as_deref_mut(),
                cx,
                buf,
            );
        }
        match &inner.body {
            Body::Tunnel(_) => Poll::Ready(Ok(())), // taken above
            Body::Exact(left) if *left > 0 => inner.poll_exact(cx, buf, *left),
            Body::Chunked(_) => inner.poll_chunked(cx, buf),
            _ if !inner.framed.is_empty() => inner.poll_chunked(cx, buf),
            _ => inner.poll_after_body(cx),
        }
    }
}

#[cfg(test)]
#[path = "client_stream_tests.rs"]
mod tests;
