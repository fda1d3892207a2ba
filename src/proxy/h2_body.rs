//! Reading a body ahead on an HTTP/2 stream (schema, uploads, small limits). The front
//! door's `ClientStream` is HTTP/1 only; on h2 the body is read through Pingora's session
//! into its retry buffer, which Pingora then forwards to the app — so a body read ahead on
//! h2 is at most that buffer's 64 KiB.

use super::verdict::Verdict;
use super::{Ctx, RampartProxy};
use crate::guards::body;
use crate::policy::{Policy, RoutePolicy};
use crate::reject::{Code, Reject};
use bytes::BytesMut;
use pingora::prelude::*;

/// Pingora's retry buffer (`BODY_BUF_LIMIT` of its h2 server session).
pub(super) const H2_READ_AHEAD_LIMIT: u64 = 64 * 1024;

impl RampartProxy {
    pub(super) async fn read_ahead_h2(
        session: &mut Session,
        ctx: &mut Ctx,
        policy: &Policy,
        route: &RoutePolicy,
    ) -> Result<Verdict> {
        let limit = route.max_body_bytes.min(H2_READ_AHEAD_LIMIT);
        let too_large = |limit: u64| {
            let mut reject = body::check_declared(u64::MAX, limit).err();
            if limit < route.max_body_bytes {
                reject = Some(Reject::new(
                    Code::BodyTooLarge,
                    "over HTTP/2 a validated request body is limited to 64 KiB; send it over HTTP/1.1",
                ));
            }
            reject.map_or(Verdict::Pass, Verdict::Refuse)
        };
        if ctx.facts.declared_length.is_some_and(|n| n > limit) {
            return Ok(too_large(limit));
        }
        session.as_mut().enable_retry_buffering();
        let mut buf = BytesMut::new();
        loop {
            let read = tokio::time::timeout(
                policy.client.body_timeout,
                session.downstream_session.read_request_body(),
            )
            .await;
            match read {
                Err(_) => {
                    return Ok(Verdict::Answer(Reject::new(
                        Code::RequestTimeout,
                        "request body not received in time",
                    )))
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => {
                    if (buf.len() + chunk.len()) as u64 > limit {
                        return Ok(too_large(limit));
                    }
                    buf.extend_from_slice(&chunk);
                }
            }
        }
        ctx.prebuffered = Some(buf.freeze());
        Ok(Verdict::Pass)
    }

    /// Before refusing an h2 request whose body was not read, takes in what the client is
    /// sending (at most one flow-control window, 64 KiB, each read within 1 s), so the stream
    /// ends cleanly and the client reads the answer instead of a stream reset. On HTTP/1
    /// the connection is closed instead (`Connection: close`).
    pub(super) async fn settle_h2_body(session: &mut Session, ctx: &Ctx) {
        if !session.as_ref().is_http2() || !ctx.facts.has_body || ctx.prebuffered.is_some() {
            return;
        }
        let mut taken = 0usize;
        while taken < 64 * 1024 {
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(1),
                session.downstream_session.read_request_body(),
            )
            .await;
            match read {
                Ok(Ok(Some(chunk))) => taken += chunk.len(),
                _ => return,
            }
        }
    }
}
