//! Reading a body ahead on an HTTP/2 stream (schema, uploads, small limits). The front
//! door's `ClientStream` is HTTP/1 only; on h2 the body is read through Pingora's session
//! into its retry buffer, which Pingora then forwards to the app. The buffer is sized to
//! the route's limit (vendor/PATCHES.md, patch 5: Pingora's own is a fixed 64 KiB), so a
//! body read ahead on h2 reaches the app whole up to the same limit as on HTTP/1.1.

use super::verdict::Verdict;
use super::{Ctx, RampartProxy};
use crate::guards::body;
use crate::policy::{Policy, RoutePolicy};
use crate::reject::{Code, Reject};
use bytes::BytesMut;
use pingora::prelude::*;
use std::time::{Duration, Instant};

impl RampartProxy {
    pub(super) async fn read_ahead_h2(
        session: &mut Session,
        ctx: &mut Ctx,
        policy: &Policy,
        route: &RoutePolicy,
    ) -> Result<Verdict> {
        let limit = route.max_body_bytes;
        let too_large = || refuse(body::check_declared(u64::MAX, limit));
        if ctx.facts.declared_length.is_some_and(|n| n > limit) {
            return Ok(too_large());
        }
        let room = usize::try_from(limit).unwrap_or(usize::MAX);
        session.as_mut().enable_retry_buffering_up_to(room);
        let mut buf = BytesMut::with_capacity(
            ctx.facts
                .declared_length
                .map_or(0, |n| usize::try_from(n).unwrap_or(0)),
        );
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
                        return Ok(too_large());
                    }
                    buf.extend_from_slice(&chunk);
                }
            }
        }
        ctx.prebuffered = Some(buf.freeze());
        Ok(Verdict::Pass)
    }

    /// After answering an h2 request whose body is still coming (refused before or while
    /// it was read), reads and discards the rest — each read within 1 s, at most 10 s and
    /// 64 MiB in all: NGINX's lingering close, per stream — so a client still uploading
    /// reads its answer and the stream ends cleanly. Past those bounds the stream is reset
    /// with NO_ERROR (RFC 9113 §8.1), which some clients (curl before 8) report as a failure
    /// even after a complete answer. HTTP/1 closes the connection instead (`Connection:
    /// close`).
    pub(super) async fn linger_h2_body(session: &mut Session) {
        const EACH_READ: Duration = Duration::from_secs(1);
        const IN_ALL: Duration = Duration::from_secs(10);
        const MOST: usize = 64 << 20;
        if !session.as_ref().is_http2() || session.as_mut().is_body_done() {
            return;
        }
        let until = crate::time_math::after(Instant::now(), IN_ALL);
        let mut taken = 0usize;
        while taken < MOST {
            let left = until
                .saturating_duration_since(Instant::now())
                .min(EACH_READ);
            let read =
                tokio::time::timeout(left, session.downstream_session.read_request_body()).await;
            match read {
                Ok(Ok(Some(chunk))) => taken = taken.saturating_add(chunk.len()),
                _ => return,
            }
        }
    }
}

fn refuse(checked: std::result::Result<(), Reject>) -> Verdict {
    checked.err().map_or(Verdict::Pass, Verdict::Refuse)
}
