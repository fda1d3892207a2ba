//! The head rules every protocol shares (SPEC §2 `client`, §5, "What changed in 0.3"):
//! the target limit (414), the header-list limits (431), the underscore rule and, for
//! HTTP/2, the request rules of RFC 9113 §8.2-8.3 that the h2 decoder leaves to us.
//!
//! The HTTP/1 front door applies them to the raw head as it arrives (`front::framing`,
//! which also owns HTTP/1's framing rules); [`check_h2`] applies them to a decoded HTTP/2
//! header list. Both refuse with the same codes and wording, built here.

use crate::config::model::Underscores;
use crate::policy::HeadLimits;
use crate::reject::{Code, Reject};
use http::header::HeaderName;
use pingora::http::RequestHeader;

/// What the head rules leave to do with an accepted head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accepted {
    /// Header names with `_` are to be removed before any rule reads the headers
    /// (`underscores_in_headers: drop`).
    pub drop_underscored: bool,
}

pub fn uri_too_long(limits: &HeadLimits) -> Reject {
    Reject::new(
        Code::UriTooLong,
        format!("request target longer than {} bytes", limits.max_uri_bytes),
    )
}

pub fn headers_too_large(limits: &HeadLimits) -> Reject {
    Reject::new(
        Code::HeadersTooLarge,
        format!("request head larger than {} bytes", limits.max_header_bytes),
    )
}

pub fn too_many_headers(limits: &HeadLimits) -> Reject {
    Reject::new(
        Code::HeadersTooLarge,
        format!("more than {} request headers", limits.max_headers),
    )
}

pub fn bad(detail: &'static str) -> Reject {
    Reject::new(Code::BadRequest, detail)
}

/// The underscore rule for one header name: `Err` refuses the request, `Ok(true)` drops
/// the header, `Ok(false)` keeps it.
pub fn underscored(name: &[u8], rule: Underscores) -> Result<bool, Reject> {
    if !name.contains(&b'_') {
        return Ok(false);
    }
    match rule {
        Underscores::Reject => Err(bad("header name with an underscore")),
        // Dropped before any rule reads the headers: it can never pass as another.
        Underscores::Drop => Ok(true),
        Underscores::Allow => Ok(false),
    }
}

/// Removes every header whose name has an `_` (`client.underscores_in_headers: drop`, when
/// [`underscored`] said so).
pub fn drop_underscored(req: &mut RequestHeader) {
    let names: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|n| n.as_str().contains('_'))
        .cloned()
        .collect();
    for name in names {
        req.remove_header(&name);
    }
}

/// The HPACK size of a pseudo-header field (name and value lengths, no per-field overhead).
fn pseudo(name: &str, value: Option<&str>) -> usize {
    value.map_or(0, |v| name.len() + v.len())
}

/// The head rules on a decoded HTTP/2 request. `max_uri_bytes` covers `:path`;
/// `max_header_bytes` the decoded list as the sum of every field's name and value lengths,
/// pseudo-headers included; `max_headers` the fields other than pseudo-headers (each
/// `cookie` crumb is one). Then RFC 9113's rules the h2 decoder does not apply itself.
pub fn check_h2(req: &RequestHeader, limits: &HeadLimits) -> Result<Accepted, Reject> {
    let path = req.uri.path_and_query().map_or("", |p| p.as_str());
    if path.len() > limits.max_uri_bytes {
        return Err(uri_too_long(limits));
    }
    if req.headers.len() > limits.max_headers {
        return Err(too_many_headers(limits));
    }
    let mut size = pseudo(":method", Some(req.method.as_str()))
        + pseudo(":scheme", req.uri.scheme_str())
        + pseudo(":authority", req.uri.authority().map(|a| a.as_str()))
        + pseudo(":path", Some(path));
    let mut accepted = Accepted::default();
    for (name, value) in req.headers.iter() {
        size += name.as_str().len() + value.len();
        accepted.drop_underscored |= underscored(name.as_str().as_bytes(), limits.underscores)?;
        check_h2_field(name, value.as_bytes())?;
    }
    if size > limits.max_header_bytes {
        return Err(headers_too_large(limits));
    }
    Ok(accepted)
}

/// RFC 9113 §8.2.1: a field value must not start or end with whitespace (the decoder
/// refuses CR, LF and NUL itself, and upper-case and connection-specific names). And the
/// name must be a token (RFC 9110 §5.1): HTTP/2 allows more (`"`, `(`, `@`...), but the
/// request goes on to the app as HTTP/1.1, where such a name makes it malformed; the HTTP/1
/// front door refuses the same name with the same 400.
fn check_h2_field(name: &HeaderName, value: &[u8]) -> Result<(), Reject> {
    if !name.as_str().bytes().all(is_tchar) {
        return Err(Reject::new(
            Code::BadRequest,
            format!("HTTP/2 header name {:?} is not a token", name.as_str()),
        ));
    }
    let padded = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if padded(value.first()) || padded(value.last()) {
        return Err(Reject::new(
            Code::BadRequest,
            format!("HTTP/2 header {name} has leading or trailing whitespace"),
        ));
    }
    Ok(())
}

/// A token character (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
