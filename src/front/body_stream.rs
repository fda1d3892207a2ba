//! The connection of a request that announced a body, as Pingora reads it.
//!
//! The front door hands Pingora exactly the head; the body bytes that arrived with it wait
//! here. Pingora reads the body through this stream only when the proxy forwards it, so
//! every decision on the head is taken before a body byte is consumed. A route that needs
//! the body whole (schema, uploads, small limits) asks for it with [`BodyStream::read_ahead`]
//! once those decisions passed: the raw bytes are read into the pending buffer (Pingora then
//! forwards them from memory, framing untouched) and the decoded body is returned for
//! validation.

use super::chunked::ChunkedDecoder;
use crate::reject::{Code, Reject};
use async_trait::async_trait;
use bytes::{Buf, Bytes, BytesMut};
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, SocketDigest, TimingDigest,
};
use pingora::protocols::{Peek, Shutdown, Ssl, Stream, UniqueID, UniqueIDType};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// How the announced body is framed and how much of it a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub limit: u64,
    /// None: chunked.
    pub length: Option<u64>,
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

struct Inner {
    pending: BytesMut,
    stream: Stream,
}

pub struct BodyStream {
    // `poll_read` reaches it through `&mut self` (`Mutex::get_mut`, no locking); the proxy
    // reaches it through Pingora's `&Stream`, only while Pingora is not reading.
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyStream")
    }
}

impl BodyStream {
    pub fn wrap(stream: Stream, pending: BytesMut) -> Stream {
        Box::new(BodyStream {
            inner: Mutex::new(Inner { pending, stream }),
        })
    }

    /// The wrapper inside one of Pingora's streams, if it is one.
    pub fn of(stream: &Stream) -> Option<&BodyStream> {
        (**stream).as_any().downcast_ref::<BodyStream>()
    }

    /// Takes the connection back out once Pingora consumed every pending byte, so wrappers
    /// never nest across keep-alive requests. None only if the cast fails (it cannot).
    pub fn unwrap_spent(stream: Stream) -> Option<Stream> {
        let spent = Self::of(&stream).is_some_and(|b| b.lock().pending.is_empty());
        if !spent {
            return Some(stream);
        }
        let wrapper = stream.into_any().downcast::<BodyStream>().ok()?;
        Some(
            wrapper
                .inner
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .stream,
        )
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn inner_mut(&mut self) -> &mut Inner {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the whole body described by `plan` into the pending buffer (Pingora forwards
    /// it from there) and returns it decoded. Gaps between reads are bounded by `gap`.
    pub async fn read_ahead(&self, plan: Plan, gap: Duration) -> ReadAhead {
        let mut buf = std::mem::take(&mut self.lock().pending);
        let read = read_body(&mut Locked(&self.inner), &mut buf, plan, gap).await;
        // Put back whatever happened: on a refusal the connection closes anyway.
        self.lock().pending = buf;
        read
    }
}

async fn read_body(
    io: &mut Locked<'_>,
    buf: &mut BytesMut,
    plan: Plan,
    gap: Duration,
) -> ReadAhead {
    // The client waits for this before sending the body (the app must not send its own:
    // `Expect` is not forwarded for a body read ahead).
    if plan.expect_continue && buf.is_empty() {
        let sent = io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
        if sent.is_err() || io.flush().await.is_err() {
            return ReadAhead::Closed;
        }
    }
    let mut decoder = plan
        .length
        .is_none()
        .then(|| ChunkedDecoder::new(plan.limit));
    loop {
        match (&mut decoder, plan.length) {
            (None, Some(length)) => {
                if buf.len() as u64 >= length {
                    let end = usize::try_from(length).unwrap_or(usize::MAX);
                    return ReadAhead::Ready(Some(Bytes::copy_from_slice(&buf[..end])));
                }
            }
            (Some(d), _) => match d.feed(buf) {
                Ok(true) => {
                    return ReadAhead::Ready(Some(Bytes::from(std::mem::take(&mut d.decoded))))
                }
                Ok(false) => {}
                Err(r) if plan.shadow && r.code == Code::BodyTooLarge => {
                    return ReadAhead::Ready(None)
                }
                Err(r) => return ReadAhead::Refused(r),
            },
            (None, None) => return ReadAhead::Ready(None),
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(buf.len().clamp(4096, 256 * 1024));
        }
        match tokio::time::timeout(gap, io.read_buf(buf)).await {
            Err(_) => {
                return ReadAhead::Refused(Reject::new(
                    Code::RequestTimeout,
                    "request body not received in time",
                ))
            }
            Ok(Err(_)) | Ok(Ok(0)) => return ReadAhead::Closed,
            Ok(Ok(_)) => {}
        }
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

impl AsyncRead for Locked<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.with(|s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Locked<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.with(|s| s.poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.with(|s| s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.with(|s| s.poll_shutdown(cx))
    }
}

impl AsyncRead for BodyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let inner = self.get_mut().inner_mut();
        if !inner.pending.is_empty() {
            let n = inner.pending.len().min(buf.remaining());
            buf.put_slice(&inner.pending[..n]);
            inner.pending.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut inner.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for BodyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner_mut().stream).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner_mut().stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner_mut().stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.lock().stream.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for BodyStream {
    async fn shutdown(&mut self) {
        Shutdown::shutdown(&mut *self.inner_mut().stream).await
    }
}

impl UniqueID for BodyStream {
    fn id(&self) -> UniqueIDType {
        self.lock().stream.id()
    }
}

impl Ssl for BodyStream {
    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.lock().stream.get_ssl_digest()
    }
    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.lock().stream.selected_alpn_proto()
    }
}

impl GetTimingDigest for BodyStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.lock().stream.get_timing_digest()
    }
}

impl GetProxyDigest for BodyStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.lock().stream.get_proxy_digest()
    }
}

impl GetSocketDigest for BodyStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.lock().stream.get_socket_digest()
    }
}

#[async_trait]
impl Peek for BodyStream {}
