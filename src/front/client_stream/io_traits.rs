//! The I/O traits Pingora needs of a stream, passed through to the client's connection.

use super::ClientStream;
use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl,
    TimingDigests, UniqueID, UniqueIDType,
};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

impl AsyncRead for super::Locked<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.with(|s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for super::Locked<'_> {
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

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let inner = self.get_mut().inner_mut();
        match &mut inner.body {
            super::Body::Tunnel(Some(ws)) => {
                super::tunnel::poll_write(&mut inner.stream, ws, cx, buf)
            }
            // Tunnels keep their own idle timeout; a response is bounded by send_timeout.
            super::Body::Tunnel(None) => Pin::new(&mut inner.stream).poll_write(cx, buf),
            _ => {
                let written = Pin::new(&mut inner.stream).poll_write(cx, buf);
                inner.send.check(cx, written)
            }
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let inner = self.get_mut().inner_mut();
        let flushed = Pin::new(&mut inner.stream).poll_flush(cx);
        match inner.body {
            super::Body::Tunnel(_) => flushed,
            _ => inner.send.check(cx, flushed),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner_mut().stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let inner = self.get_mut().inner_mut();
        match &mut inner.body {
            super::Body::Tunnel(Some(ws)) => {
                super::tunnel::poll_write_vectored(&mut inner.stream, ws, cx, bufs)
            }
            super::Body::Tunnel(None) => Pin::new(&mut inner.stream).poll_write_vectored(cx, bufs),
            _ => {
                let written = Pin::new(&mut inner.stream).poll_write_vectored(cx, bufs);
                inner.send.check(cx, written)
            }
        }
    }
    fn is_write_vectored(&self) -> bool {
        self.lock().stream.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for ClientStream {
    async fn shutdown(&mut self) {
        Shutdown::shutdown(&mut *self.inner_mut().stream).await
    }
}

impl UniqueID for ClientStream {
    fn id(&self) -> UniqueIDType {
        self.lock().stream.id()
    }
}

impl Ssl for ClientStream {
    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.lock().stream.get_ssl_digest()
    }
    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.lock().stream.selected_alpn_proto()
    }
}

impl GetTimingDigest for ClientStream {
    fn get_timing_digest(&self) -> TimingDigests {
        self.lock().stream.get_timing_digest()
    }
}

impl GetProxyDigest for ClientStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.lock().stream.get_proxy_digest()
    }
}

impl GetSocketDigest for ClientStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.lock().stream.get_socket_digest()
    }
}

#[async_trait]
impl Peek for ClientStream {}
