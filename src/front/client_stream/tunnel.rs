//! An upgraded connection: the client's bytes pass through untouched, both ways. On a
//! WebSocket, both directions' frames are followed as they pass, so that when the shutdown's
//! grace period ends each side gets a close frame (1001 going away) between two frames, then
//! the end of the stream: the client and the app see an orderly close instead of a cut
//! connection (what a browser reports as 1006).

use crate::guards::websocket::frames::{app_going_away, FrameCursor, CLIENT_GOING_AWAY};
use bytes::{Buf, BytesMut};
use pingora::protocols::Stream;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// A WebSocket's side of the tunnel.
pub(super) struct WebSocket {
    to_app: FrameCursor,
    to_client: FrameCursor,
    going_away: Pin<Box<WaitForCancellationFutureOwned>>,
    ending: Ending,
    /// Rampart's close frame reached the client: whatever the app still sends is dropped.
    client_told: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Open,
    /// Writing the close frame to the client (this much of it is written).
    TellClient(usize),
    /// The close frame to the app goes out as the client's last bytes.
    TellApp,
    /// The client's side ends here.
    Ended,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebSocket({:?})", self.ending)
    }
}

impl WebSocket {
    /// Follows a socket whose 101 is about to be written to the client; `going_away` is
    /// cancelled when the grace period ends.
    pub(super) fn new(going_away: CancellationToken) -> Box<WebSocket> {
        Box::new(WebSocket {
            to_app: FrameCursor::frames(),
            to_client: FrameCursor::after_head(),
            going_away: Box::pin(going_away.cancelled_owned()),
            ending: Ending::Open,
            client_told: false,
        })
    }
}

/// Pingora reads the client's side: what waited first, then the socket.
pub(super) fn poll_read(
    stream: &mut Stream,
    pending: &mut BytesMut,
    eof: bool,
    websocket: Option<&mut WebSocket>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<std::io::Result<()>> {
    let Some(ws) = websocket else {
        return pass_through(stream, pending, eof, cx, buf);
    };
    if ws.ending == Ending::Open && ws.going_away.as_mut().poll(cx).is_ready() {
        ws.ending = Ending::TellClient(0);
    }
    loop {
        match ws.ending {
            Ending::Open => {
                let before = buf.filled().len();
                let read = ready!(pass_through(stream, pending, eof, cx, buf));
                ws.to_app.advance(&buf.filled()[before..]);
                return Poll::Ready(read);
            }
            Ending::TellClient(written) => {
                // A client that is gone cannot be told; the app still hears why.
                let _ = ready!(tell_client(stream, ws, written, cx));
                ws.ending = Ending::TellApp;
            }
            Ending::TellApp => {
                ws.ending = Ending::Ended;
                let frame = app_going_away(fastrand::u32(..).to_be_bytes());
                if ws.to_app.at_boundary()
                    && !ws.to_app.close_seen()
                    && buf.remaining() >= frame.len()
                {
                    buf.put_slice(&frame);
                    ws.to_app.advance(&frame);
                    return Poll::Ready(Ok(()));
                }
            }
            // Pingora ends an upgraded exchange when either side ends.
            Ending::Ended => return Poll::Ready(Ok(())),
        }
    }
}

/// Writes Rampart's close frame to the client when the app's bytes stand between frames and
/// the app has not closed already (a second close frame would break the protocol).
fn tell_client(
    stream: &mut Stream,
    ws: &mut WebSocket,
    mut written: usize,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<()>> {
    if !ws.to_client.at_boundary() || ws.to_client.close_seen() {
        return Poll::Ready(Ok(()));
    }
    while written < CLIENT_GOING_AWAY.len() {
        let n = ready!(Pin::new(&mut *stream).poll_write(cx, &CLIENT_GOING_AWAY[written..]))?;
        if n == 0 {
            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
        }
        written += n;
        ws.ending = Ending::TellClient(written);
    }
    ws.client_told = true;
    Pin::new(stream).poll_flush(cx)
}

/// Pingora writes the app's side: followed frame by frame; dropped once Rampart's close frame
/// went out (nothing may follow a close frame).
pub(super) fn poll_write(
    stream: &mut Stream,
    ws: &mut WebSocket,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<std::io::Result<usize>> {
    if ws.client_told {
        return Poll::Ready(Ok(buf.len()));
    }
    let n = ready!(Pin::new(stream).poll_write(cx, buf))?;
    ws.to_client.advance(&buf[..n.min(buf.len())]);
    Poll::Ready(Ok(n))
}

/// Vectored writes on a WebSocket go one slice at a time, each followed.
pub(super) fn poll_write_vectored(
    stream: &mut Stream,
    ws: &mut WebSocket,
    cx: &mut Context<'_>,
    bufs: &[std::io::IoSlice<'_>],
) -> Poll<std::io::Result<usize>> {
    match bufs.iter().find(|b| !b.is_empty()) {
        Some(first) => poll_write(stream, ws, cx, first),
        None => Poll::Ready(Ok(0)),
    }
}

fn pass_through(
    stream: &mut Stream,
    pending: &mut BytesMut,
    eof: bool,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<std::io::Result<()>> {
    if !pending.is_empty() {
        let n = pending.len().min(buf.remaining());
        buf.put_slice(&pending[..n]);
        pending.advance(n);
        return Poll::Ready(Ok(()));
    }
    if eof {
        return Poll::Ready(Ok(()));
    }
    Pin::new(stream).poll_read(cx, buf)
}
