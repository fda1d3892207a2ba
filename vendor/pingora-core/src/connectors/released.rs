//! What a pooled connection's slot holds once its stream has been taken out for reuse: a
//! zero-sized placeholder (boxing it allocates nothing), which the idle poll's last
//! reference drops. It is never read from or written to.

use crate::protocols::raw_connect::ProxyDigest;
use crate::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, TimingDigests, Peek, Shutdown, SocketDigest, Ssl,
    UniqueID, UniqueIDType,
};
use async_trait::async_trait;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Debug)]
pub(super) struct Released;

impl AsyncRead for Released {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        // End of stream.
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Released {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Err(std::io::ErrorKind::NotConnected.into()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[async_trait]
impl Shutdown for Released {
    async fn shutdown(&mut self) {}
}

impl UniqueID for Released {
    fn id(&self) -> UniqueIDType {
        // No descriptor: the id of an invalid one.
        UniqueIDType::MAX
    }
}

impl Ssl for Released {}

impl GetTimingDigest for Released {
    fn get_timing_digest(&self) -> TimingDigests {
        TimingDigests::new()
    }
}

impl GetProxyDigest for Released {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        None
    }
}

impl GetSocketDigest for Released {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        None
    }
}

impl Peek for Released {}
