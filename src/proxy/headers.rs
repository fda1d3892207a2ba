//! Headers: what every response carries (`decorate`) and what the app is told
//! (`forward_headers`: X-Forwarded-*, X-Request-Id, traceparent, the normalized path).

use super::Ctx;
use crate::guards::forwarded;
use crate::guards::trace::Trace;
use crate::policy::Policy;
use crate::request::RequestHead;
use http::header::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::{Error, ErrorType};
use std::net::{IpAddr, Ipv4Addr};

// Static names: inserting by `&str` would parse and validate the name on every request.
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
// What Pingora inserts takes the name's wire spelling: handing it the parsed name and static
// wire bytes (`insert_parsed_header`, vendor/PATCHES.md) spares it parsing and allocating a
// custom name on every insert.
mod wire {
    use bytes::Bytes;
    pub static X_REQUEST_ID: Bytes = Bytes::from_static(b"X-Request-Id");
    pub static X_FORWARDED_FOR: Bytes = Bytes::from_static(b"X-Forwarded-For");
    pub static X_FORWARDED_PROTO: Bytes = Bytes::from_static(b"X-Forwarded-Proto");
    pub static X_FORWARDED_HOST: Bytes = Bytes::from_static(b"X-Forwarded-Host");
    pub static TRACEPARENT: Bytes = Bytes::from_static(b"traceparent");
}
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Headers every response carries, proxied (`from_app`) or generated: the request id, the
/// security headers (route's or global), CORS for an allowed origin; never a banner.
pub(super) fn decorate(head: &mut ResponseHeader, ctx: &Ctx, from_app: bool) {
    let set = ctx
        .policy
        .as_ref()
        .map(|policy| ctx.route_policy().map_or(&policy.headers, |r| &r.headers));
    // Room for what is added here: the app's answer is read with it already
    // (`response_headroom`, through the peer), Rampart's own answers get it now.
    head.reserve(response_headroom(ctx));
    if let Some(id) = &ctx.request_id {
        head.insert_parsed_header(&X_REQUEST_ID, &wire::X_REQUEST_ID, id.clone());
    }
    if let Some(set) = set {
        if from_app {
            set.apply_to_app_response(head);
        } else {
            set.apply_to_own_response(head);
        }
    }
    if !from_app {
        // The app's banners went with the set's `remove` list (which always has `Server`).
        let _ = head.remove_header(&http::header::SERVER);
    }
    ctx.cors.apply(head);
}

/// How many headers a response gains on its way out: the security set (route's or global),
/// the request id, CORS' allow headers (3 at most on an actual request) and `Vary`, and
/// `RateLimit-Policy`/`RateLimit`; then `Date` and `Connection`, which Pingora sets as it
/// writes the head: the set's size and 9. The app's answer is read into maps with this much room
/// (`h1_response_header_headroom`, vendor/PATCHES.md), so adding them grows nothing.
pub(super) fn response_headroom(ctx: &Ctx) -> usize {
    let set = ctx
        .policy
        .as_ref()
        .map(|policy| ctx.route_policy().map_or(&policy.headers, |r| &r.headers));
    set.map_or(0, |s| s.len()) + 9
}

/// Sets what the app is told about the request: `X-Forwarded-For/Proto/Host` (kept from
/// trusted peers, replaced otherwise), `X-Request-Id`, a valid `traceparent`, no `Expect`
/// when the body was read ahead, and the normalized path.
/// `peer_forwarded_for`: the value naming the peer, when the connection keeps one.
pub(super) fn forward_headers(
    req: &mut RequestHeader,
    ctx: &Ctx,
    tls: bool,
    peer_forwarded_for: Option<HeaderValue>,
) -> Result<()> {
    // `Host` on HTTP/1.x, `:authority` on HTTP/2 (Pingora gives the app a Host from it).
    let downstream_host = ctx.facts.host.clone();
    let xff = if ctx.peer_trusted && req.headers.contains_key(&X_FORWARDED_FOR) {
        let existing: Vec<&[u8]> = req
            .headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        HeaderValue::try_from(forwarded::forwarded_for_value(ctx.peer_ip, true, &existing))
            .map_err(|e| Error::because(ErrorType::InternalError, "x-forwarded-for", e))?
    } else {
        peer_forwarded_for.unwrap_or_else(|| forwarded::peer_forwarded_for(ctx.peer_ip))
    };
    // The request header was built with room for these (`front::parsed_head`); a head Pingora
    // parsed itself (HTTP/2, an absolute-form target) grows once here.
    req.reserve(forwarded::HEADERS_ADDED);
    req.insert_parsed_header(&X_FORWARDED_FOR, &wire::X_FORWARDED_FOR, xff);
    if !(ctx.peer_trusted && req.headers.contains_key(&X_FORWARDED_PROTO)) {
        let proto = HeaderValue::from_static(if tls { "https" } else { "http" });
        req.insert_parsed_header(&X_FORWARDED_PROTO, &wire::X_FORWARDED_PROTO, proto);
    }
    if !(ctx.peer_trusted && req.headers.contains_key(&X_FORWARDED_HOST)) {
        match downstream_host {
            Some(host) => {
                req.insert_parsed_header(&X_FORWARDED_HOST, &wire::X_FORWARDED_HOST, host)
            }
            None => {
                req.remove_header(&X_FORWARDED_HOST);
            }
        }
    }
    if let Some(id) = &ctx.request_id {
        req.insert_parsed_header(&X_REQUEST_ID, &wire::X_REQUEST_ID, id.clone());
    }
    if let Some(started) = ctx.trace.as_ref().and_then(Trace::started) {
        // An invalid traceparent invalidates its tracestate too (W3C Trace Context §3.3).
        req.remove_header(&TRACESTATE);
        let value = HeaderValue::from_bytes(started)
            .map_err(|e| Error::because(ErrorType::InternalError, "traceparent", e))?;
        req.insert_parsed_header(&TRACEPARENT, &wire::TRACEPARENT, value);
    }
    if let Some(te) = req.headers.get(&http::header::TRANSFER_ENCODING) {
        // The front door accepted `chunked` in any case; the app gets the canonical name.
        if te.as_bytes() != b"chunked" {
            req.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
        }
    }
    if ctx.prebuffered.is_some() {
        // The client already got its `100 Continue` from us with the body read ahead.
        req.remove_header(&http::header::EXPECT);
    }
    if let Some(path) = &ctx.rewritten_path {
        let uri = match req.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let uri = http::Uri::try_from(uri)
            .map_err(|e| Error::because(ErrorType::InternalError, "rewriting path", e))?;
        req.set_uri(uri);
    }
    Ok(())
}

/// The request's id (kept when sane, else new), its trace, its peer, its client address
/// (the peer, or, behind a trusted proxy, the right-most untrusted `X-Forwarded-For` entry),
/// and the facts every decision step reads.
pub(super) fn identify(ctx: &mut Ctx, req: &RequestHeader, peer: Option<IpAddr>, policy: &Policy) {
    let trusted = &policy.client.trusted_proxies[..];
    ctx.request_id = Some(match req.headers.get(&X_REQUEST_ID) {
        Some(v) if forwarded::is_sane_request_id(v.as_bytes()) => v.clone(),
        _ => crate::guards::forwarded::mint_request_id(),
    });
    let mut parents = req.headers.get_all(&TRACEPARENT).iter();
    let only_parent = match (parents.next(), parents.next()) {
        (Some(v), None) => Some(v.as_bytes()),
        _ => None,
    };
    let random = (fastrand::u128(..), fastrand::u64(..));
    ctx.trace = Some(Trace::of(only_parent, policy.tracing, random));
    ctx.peer_ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), forwarded::canonical);
    ctx.peer_trusted = !trusted.is_empty() && forwarded::is_trusted(ctx.peer_ip, trusted);
    let client_ip = if ctx.peer_trusted {
        let xff: Vec<&[u8]> = req
            .headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        let real_ip = req.headers.get(&X_REAL_IP).map(HeaderValue::as_bytes);
        forwarded::client_ip(ctx.peer_ip, trusted, &xff, real_ip)
    } else {
        ctx.peer_ip
    };
    ctx.facts = RequestHead::of(req, client_ip);
}

#[cfg(test)]
#[path = "headers_tests.rs"]
mod tests;
