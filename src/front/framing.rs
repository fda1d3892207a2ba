//! The HTTP/1 request head, checked before Pingora sees it: size limits (414/431, worded
//! by the shared head rules of `request::rules`, which HTTP/2 heads meet too), framing that
//! could be read two ways (400), and targets we do not proxy. Runs on the raw bytes so it
//! also sees what Pingora would silently fix up (e.g. it drops Content-Length when
//! Transfer-Encoding is present, and answers malformed heads with its own error page).

use super::parsed_head::ParsedHead;
use crate::config::model::Underscores;
pub use crate::policy::HeadLimits;
use crate::reject::{Code, Reject};
use crate::request::rules::{self, bad, headers_too_large, too_many_headers, uri_too_long};
use std::mem::MaybeUninit;

/// The most headers any config may allow (validation caps `client.max_headers` here).
pub const MAX_HEADERS_CAP: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadStatus {
    /// More bytes are needed.
    Partial,
    /// The head is complete and acceptable: `len` bytes long, followed by `body`.
    Complete { len: usize, head: HeadFacts },
}

/// What the raw head tells the connection loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadFacts {
    pub body: BodyFraming,
    /// It carries header names with `_` that must be dropped (`underscores_in_headers: drop`).
    pub drop_underscored: bool,
    /// An absolute-form target: where its `scheme://authority` starts in the head and how
    /// long it is (the connection loop rewrites the head to origin form).
    pub absolute: Option<(usize, usize)>,
}

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

impl BodyFraming {
    pub fn is_some(self) -> bool {
        self != BodyFraming::None
    }
}

/// Serves `HTTP/1.x` with x > 1 as HTTP/1.1 (as NGINX does), by rewriting the version's
/// minor digit in place once the request line is complete.
pub fn normalize_version(buf: &mut [u8]) {
    let Some(eol) = buf.iter().position(|b| *b == b'\r' || *b == b'\n') else {
        return;
    };
    let Some(start) = eol.checked_sub(9) else {
        return;
    };
    let version = &mut buf[start..eol];
    if version.starts_with(b" HTTP/1.") && (b'2'..=b'9').contains(&version[8]) {
        version[8] = b'1';
    }
}

/// Checks the bytes received so far. Call again with more bytes while `Partial`.
pub fn check_head(buf: &[u8], limits: &HeadLimits) -> Result<HeadStatus, Reject> {
    check_head_recording(buf, limits, &mut ParsedHead::default())
}

/// [`check_head`], keeping where a complete, acceptable head's parts lie in `parsed`: the
/// session Pingora serves is built from it, without parsing the head again.
pub fn check_head_recording(
    buf: &[u8],
    limits: &HeadLimits,
    parsed: &mut ParsedHead,
) -> Result<HeadStatus, Reject> {
    // Left uninitialized: filling 256 empty headers (8 KiB of stack) on every parse was the
    // largest item of the front door's own CPU in a profile of the pinned placement.
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS_CAP];
    let max_headers = limits.max_headers.clamp(1, MAX_HEADERS_CAP);
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, &mut headers[..max_headers]) {
        Ok(httparse::Status::Partial) => {
            if let Some(path) = req.path {
                uri_limit(path, limits)?;
            } else if !buf.contains(&b'\n') && buf.len() > limits.max_uri_bytes + 32 {
                // The request line alone is already longer than any allowed target.
                return Err(uri_too_long(limits));
            }
            if buf.len() > limits.max_header_bytes {
                return Err(headers_too_large(limits));
            }
            Ok(HeadStatus::Partial)
        }
        Ok(httparse::Status::Complete(len)) => {
            uri_limit(req.path.unwrap_or(""), limits)?;
            if len > limits.max_header_bytes {
                return Err(headers_too_large(limits));
            }
            check_line_endings(&buf[..len])?;
            let head = check_request(&req, buf, limits.underscores)?;
            parsed.record(&req, buf);
            Ok(HeadStatus::Complete { len, head })
        }
        Err(httparse::Error::TooManyHeaders) => Err(too_many_headers(limits)),
        Err(e) => Err(Reject::new(
            Code::BadRequest,
            format!("malformed request head ({e})"),
        )),
    }
}

fn uri_limit(path: &str, limits: &HeadLimits) -> Result<(), Reject> {
    if path.len() > limits.max_uri_bytes {
        Err(uri_too_long(limits))
    } else {
        Ok(())
    }
}

/// Every line must end in CRLF: httparse also accepts a bare LF, which other parsers on
/// the path (gunicorn, uvicorn's h11) may split differently.
/// Only the CRs and LFs are looked at (`memchr2`, a vectorised search) instead of every byte.
fn check_line_endings(head: &[u8]) -> Result<(), Reject> {
    for at in memchr::memchr2_iter(b'\r', b'\n', head) {
        if head[at] == b'\n' {
            if at == 0 || head[at - 1] != b'\r' {
                return Err(bad("line ending without CR"));
            }
        } else if head.get(at + 1).is_some_and(|&next| next != b'\n') {
            return Err(bad("CR not followed by LF"));
        }
    }
    Ok(())
}

/// Semantic checks of a complete head.
fn check_request(
    req: &httparse::Request,
    buf: &[u8],
    underscores: Underscores,
) -> Result<HeadFacts, Reject> {
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    if !method
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    {
        // Methods are case-sensitive: `get` is not GET, and would dodge method rules.
        return Err(bad("request method must be upper-case"));
    }
    if method == "CONNECT" {
        return Err(
            Reject::new(Code::MethodNotAllowed, "CONNECT is not proxied").with_allow(
                http::HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
            ),
        );
    }
    // Origin-form, or absolute-form naming the Host (RFC 9112 §3.2.2: a server must accept
    // it; served as its origin form). `OPTIONS *` matches no route.
    let authority = if path.starts_with('/') {
        None
    } else {
        Some(absolute_form(path).ok_or_else(|| {
            bad("request target must be origin-form or absolute-form (http://host/path)")
        })?)
    };
    let http10 = req.version == Some(0);
    let mut host: Option<&[u8]> = None;
    let mut host_count = 0;
    let mut content_length: Option<&[u8]> = None;
    let mut transfer_encoding: Option<&[u8]> = None;
    let mut drop_underscored = false;
    for h in req.headers.iter() {
        if rules::underscored(h.name.as_bytes(), underscores)? {
            drop_underscored = true;
            continue;
        }
        if is_framing_header(h.name) && has_tab_or_control(h.value, buf) {
            return Err(bad("tab or control character in a framing header"));
        }
        if h.name.eq_ignore_ascii_case("host") {
            host_count += 1;
            host = Some(h.value);
            if h.value.is_empty() && !http10 || !is_valid_host(h.value) {
                return Err(bad("invalid Host header"));
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                return Err(bad("several Content-Length headers"));
            }
            content_length = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if transfer_encoding.is_some() {
                return Err(bad("several Transfer-Encoding headers"));
            }
            transfer_encoding = Some(h.value);
        }
    }
    if host_count > 1 {
        return Err(bad("several Host headers"));
    }
    if host_count == 0 && !http10 {
        return Err(bad("HTTP/1.1 request without a Host header"));
    }
    if let Some(authority) = authority {
        if !host.is_some_and(|h| h.eq_ignore_ascii_case(authority.as_bytes())) {
            return Err(bad("absolute-form target names another host than Host"));
        }
    }
    let length = match content_length {
        Some(cl) if cl.is_empty() || cl.len() > 18 || !cl.iter().all(u8::is_ascii_digit) => {
            return Err(bad("invalid Content-Length"));
        }
        // At most 18 digits: it fits.
        Some(cl) => Some(cl.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'))),
        None => None,
    };
    let body = if let Some(te) = transfer_encoding {
        if length.is_some() {
            return Err(bad("both Content-Length and Transfer-Encoding"));
        }
        if http10 {
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        // Exactly `chunked` (any case, as every parser agrees on it): no other coding, no
        // list. Apps behind us parse this header in many ways.
        if !te.eq_ignore_ascii_case(b"chunked") {
            return Err(bad("Transfer-Encoding other than chunked"));
        }
        BodyFraming::Chunked
    } else {
        match length {
            Some(n) if n > 0 => BodyFraming::Length(n),
            _ => BodyFraming::None,
        }
    };
    let absolute = authority.map(|authority| {
        let start = (path.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize);
        let scheme_len = path.find("://").map_or(0, |i| i + 3);
        (start, scheme_len + authority.len())
    });
    Ok(HeadFacts {
        body,
        drop_underscored,
        absolute,
    })
}

/// Rewrites an absolute-form head to origin form (`GET http://a/x` -> `GET /x`), as NGINX
/// forwards it: Pingora and the app then see one form only. `cut`: from [`HeadFacts`].
pub fn to_origin_form(head: &mut bytes::BytesMut, (start, len): (usize, usize)) {
    let Some(end) = start.checked_add(len).filter(|e| *e <= head.len()) else {
        return;
    };
    let root: &[u8] = if head.get(end) == Some(&b'/') {
        b""
    } else {
        b"/"
    };
    let mut origin = bytes::BytesMut::with_capacity(head.len() - len + 1);
    origin.extend_from_slice(&head[..start]);
    origin.extend_from_slice(root);
    origin.extend_from_slice(&head[end..]);
    *head = origin;
}

/// The authority of an `http://authority/path` target (scheme in any case, no userinfo).
fn absolute_form(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    (!authority.is_empty() && is_valid_host(authority.as_bytes())).then_some(authority)
}

/// Whether the raw field line around `value` (httparse trims the whitespace it allows)
/// has a tab or DEL: a plain space is the only padding we pass on for framing headers.
fn has_tab_or_control(value: &[u8], buf: &[u8]) -> bool {
    let start = (value.as_ptr() as usize)
        .saturating_sub(buf.as_ptr() as usize)
        .min(buf.len());
    let end = (start + value.len()).min(buf.len());
    let before = buf[..start].iter().rev().take_while(|b| **b != b':');
    let after = buf[end..]
        .iter()
        .take_while(|b| **b != b'\r' && **b != b'\n');
    value
        .iter()
        .chain(before)
        .chain(after)
        .any(|b| *b == b'\t' || *b == 0x7f)
}

fn is_framing_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("transfer-encoding") || name.eq_ignore_ascii_case("content-length")
}

/// `host[:port]`, `[v6]:port`: no userinfo, no path, no spaces.
fn is_valid_host(v: &[u8]) -> bool {
    v.iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_'))
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
