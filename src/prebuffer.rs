//! Reading a request body before the app is contacted, for routes that need it whole: a
//! small `max_body_bytes` (at most `client.buffer_body_bytes`) or a body validator
//! (`json_schema`, `uploads`). A body that is too large, badly framed or invalid is then
//! refused while the app has seen nothing. The bytes stay in the buffer handed to Pingora,
//! which forwards them from memory; the decoded body goes to the proxy's request context.

use crate::guards::chunked::ChunkedDecoder;
use crate::guards::framing::MAX_HEADERS_CAP;
use crate::guards::routing;
use crate::policy::Policy;
use crate::reject::{Code, Reject};
use bytes::{Bytes, BytesMut};
use pingora::protocols::Stream;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The decoded body, passed to the proxy through the session's connection context.
pub struct Prebuffered(pub Bytes);

/// What the body of an accepted head needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub limit: u64,
    /// None: chunked.
    pub length: Option<u64>,
    pub expect_continue: bool,
    pub shadow: bool,
}

pub enum BodyRead {
    /// `Some` when the whole body was read (the buffer holds head and body).
    Ready(BytesMut, Option<Bytes>),
    Closed,
    Refused(Reject),
}

/// Decides from the head (`head` is exactly the head bytes) whether to read the body first.
pub fn plan(head: &[u8], policy: &Policy) -> Option<Plan> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS_CAP];
    let max = policy.client.head.max_headers.clamp(1, MAX_HEADERS_CAP);
    let mut req = httparse::Request::new(&mut headers[..max]);
    req.parse(head).ok()?;
    let (mut length, mut chunked, mut expect, mut host) = (None, false, false, None);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(h.value).ok()?.parse::<u64>().ok();
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("expect") {
            expect = h.value.eq_ignore_ascii_case(b"100-continue");
        } else if h.name.eq_ignore_ascii_case("host") {
            host = std::str::from_utf8(h.value).ok();
        }
    }
    if !chunked && length.unwrap_or(0) == 0 {
        return None;
    }
    let method = http::Method::from_bytes(req.method?.as_bytes()).ok()?;
    let path = req.path?;
    let path = path.split('?').next().unwrap_or(path);
    let normalized = routing::normalize_path(path).ok()?;
    let index = routing::find_route(&policy.matchers, &method, host, &normalized).ok()?;
    let route = &policy.routes[index];
    if !route.buffer_body || length.is_some_and(|n| n > route.max_body_bytes) {
        // Not buffered, or refused by the proxy's declared-length check before connecting.
        return None;
    }
    Some(Plan {
        limit: route.max_body_bytes,
        length: if chunked { None } else { length },
        expect_continue: expect,
        shadow: route.shadow,
    })
}

async fn write_continue(stream: &mut Stream) -> bool {
    stream
        .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        .await
        .is_ok()
        && stream.flush().await.is_ok()
}

/// Reads the body described by `plan` after the `head_len` head bytes already in `buf`.
pub async fn read(
    stream: &mut Stream,
    mut buf: BytesMut,
    head_len: usize,
    plan: Plan,
    body_timeout: Duration,
) -> BodyRead {
    // The client waits for this before sending the body (the app must not send its own).
    let wants_continue = plan.expect_continue && buf.len() == head_len;
    if wants_continue && !write_continue(stream).await {
        return BodyRead::Closed;
    }
    let mut decoder = plan
        .length
        .is_none()
        .then(|| ChunkedDecoder::new(plan.limit));
    loop {
        match (&mut decoder, plan.length) {
            (None, Some(length)) => {
                let end = head_len + length as usize;
                if buf.len() >= end {
                    let body = Bytes::copy_from_slice(&buf[head_len..end]);
                    return BodyRead::Ready(buf, Some(body));
                }
            }
            (Some(d), _) => match d.feed(&buf[head_len..]) {
                Ok(true) => {
                    let body = Bytes::from(std::mem::take(&mut d.decoded));
                    return BodyRead::Ready(buf, Some(body));
                }
                Ok(false) => {}
                // A shadow route never refuses: the rest streams and the proxy counts it.
                Err(r) if plan.shadow && r.code == Code::BodyTooLarge => {
                    return BodyRead::Ready(buf, None)
                }
                Err(r) => return BodyRead::Refused(r),
            },
            (None, None) => return BodyRead::Ready(buf, None),
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(buf.len().clamp(4096, 256 * 1024));
        }
        match tokio::time::timeout(body_timeout, stream.read_buf(&mut buf)).await {
            Err(_) => {
                return BodyRead::Refused(Reject::new(
                    Code::RequestTimeout,
                    "request body not received in time",
                ))
            }
            Ok(Err(_)) | Ok(Ok(0)) => return BodyRead::Closed,
            Ok(Ok(_)) => {}
        }
    }
}
