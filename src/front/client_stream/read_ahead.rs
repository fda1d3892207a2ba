//! Reading a whole body ahead (schema, uploads, small limits), before the app is contacted.

use super::{Body, Locked, Plan, ReadAhead};
use crate::front::chunked::{decode_into, frame, ChunkedDecoder, LAST_CHUNK};
use crate::reject::{Code, Reject};
use bytes::{Bytes, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `100 Continue` when the client waits for it (the app must not send its own:
/// `Expect` is not forwarded for a body read ahead).
async fn continue_if_asked(io: &mut Locked<'_>, plan: Plan, pending: &BytesMut) -> bool {
    if !(plan.expect_continue && pending.is_empty()) {
        return true;
    }
    io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_ok() && io.flush().await.is_ok()
}

async fn read_some(
    io: &mut Locked<'_>,
    pending: &mut BytesMut,
    gap: Duration,
) -> Result<(), ReadAhead> {
    if pending.capacity() - pending.len() < 4096 {
        pending.reserve(pending.len().clamp(4096, 256 * 1024));
    }
    match tokio::time::timeout(gap, io.read_buf(pending)).await {
        Err(_) => Err(ReadAhead::Refused(Reject::new(
            Code::RequestTimeout,
            "request body not received in time",
        ))),
        Ok(Err(_)) | Ok(Ok(0)) => Err(ReadAhead::Closed),
        Ok(Ok(_)) => Ok(()),
    }
}

pub(super) async fn read_exact_ahead(
    io: &mut Locked<'_>,
    pending: &mut BytesMut,
    length: u64,
    plan: Plan,
    gap: Duration,
) -> ReadAhead {
    if length > plan.limit {
        // Only a shadow route reads ahead past its limit: it streams, counted.
        return ReadAhead::Ready(None);
    }
    if !continue_if_asked(io, plan, pending).await {
        return ReadAhead::Closed;
    }
    let Ok(length) = usize::try_from(length) else {
        return ReadAhead::Ready(None);
    };
    while pending.len() < length {
        if let Err(end) = read_some(io, pending, gap).await {
            return end;
        }
    }
    ReadAhead::Ready(Some(Bytes::copy_from_slice(&pending[..length])))
}

/// Decodes the chunked body in `pending` (reading more as needed), then replaces its
/// framing there by the canonical one, which Pingora reads as an exact number of bytes.
pub(super) async fn read_chunked_ahead(
    io: &mut Locked<'_>,
    pending: &mut BytesMut,
    plan: Plan,
    gap: Duration,
) -> (ReadAhead, Body) {
    let mut decoder = ChunkedDecoder::new(plan.limit);
    let mut decoded = Vec::new();
    let mut at = 0;
    if !continue_if_asked(io, plan, pending).await {
        return (ReadAhead::Closed, Body::Done);
    }
    loop {
        match decode_into(&mut decoder, &pending[at..], &mut decoded) {
            Ok((used, true)) => {
                at += used;
                break;
            }
            Ok((used, false)) => at += used,
            Err(r) if plan.shadow && r.code == Code::BodyTooLarge => {
                // Streams from where it stands, counted; no byte was consumed yet.
                return (
                    ReadAhead::Ready(None),
                    Body::Chunked(ChunkedDecoder::new(u64::MAX)),
                );
            }
            Err(r) => return (ReadAhead::Refused(r), Body::Done),
        }
        if let Err(end) = read_some(io, pending, gap).await {
            return (end, Body::Done);
        }
    }
    let mut canonical = BytesMut::with_capacity(decoded.len() + 32 + pending.len() - at);
    if !decoded.is_empty() {
        frame(&decoded, &mut canonical);
    }
    canonical.extend_from_slice(LAST_CHUNK);
    let framed = canonical.len() as u64;
    canonical.extend_from_slice(&pending[at..]);
    *pending = canonical;
    (
        ReadAhead::Ready(Some(Bytes::from(decoded))),
        Body::Exact(framed),
    )
}
