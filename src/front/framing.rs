//! The request head, checked before Pingora sees it: size limits (414/431), framing that
//! could be read two ways (400), and targets we do not proxy. Runs on the raw bytes so it
//! also sees what Pingora would silently fix up (e.g. it drops Content-Length when
//! Transfer-Encoding is present, and answers malformed heads with its own error page).

pub use crate::policy::HeadLimits;
use crate::reject::{Code, Reject};

/// The most headers any config may allow (validation caps `client.max_headers` here).
pub const MAX_HEADERS_CAP: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadStatus {
    /// More bytes are needed.
    Partial,
    /// The head is complete and acceptable: `len` bytes long; `body`: it announces a body
    /// (a non-zero `Content-Length`, or `Transfer-Encoding: chunked`).
    Complete { len: usize, body: bool },
}

/// Checks the bytes received so far. Call again with more bytes while `Partial`.
pub fn check_head(buf: &[u8], limits: &HeadLimits) -> Result<HeadStatus, Reject> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS_CAP];
    let max_headers = limits.max_headers.clamp(1, MAX_HEADERS_CAP);
    let mut req = httparse::Request::new(&mut headers[..max_headers]);
    match req.parse(buf) {
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
            let body = check_request(&req, buf)?;
            Ok(HeadStatus::Complete { len, body })
        }
        Err(httparse::Error::TooManyHeaders) => Err(Reject::new(
            Code::HeadersTooLarge,
            format!("more than {} request headers", limits.max_headers),
        )),
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

fn uri_too_long(limits: &HeadLimits) -> Reject {
    Reject::new(
        Code::UriTooLong,
        format!("request target longer than {} bytes", limits.max_uri_bytes),
    )
}

fn headers_too_large(limits: &HeadLimits) -> Reject {
    Reject::new(
        Code::HeadersTooLarge,
        format!("request head larger than {} bytes", limits.max_header_bytes),
    )
}

fn bad(detail: &'static str) -> Reject {
    Reject::new(Code::BadRequest, detail)
}

/// Every line must end in CRLF: httparse also accepts a bare LF, which other parsers on
/// the path (gunicorn, uvicorn's h11) may split differently.
fn check_line_endings(head: &[u8]) -> Result<(), Reject> {
    let mut prev = 0u8;
    for &b in head {
        if b == b'\n' && prev != b'\r' {
            return Err(bad("line ending without CR"));
        }
        if prev == b'\r' && b != b'\n' {
            return Err(bad("CR not followed by LF"));
        }
        prev = b;
    }
    Ok(())
}

/// Semantic checks of a complete head. Ok(true): it announces a body.
fn check_request(req: &httparse::Request, buf: &[u8]) -> Result<bool, Reject> {
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
    // Origin-form only: an absolute-form target could name another host than the Host
    // header and be routed differently by the app than by us; `OPTIONS *` matches no route.
    if !path.starts_with('/') {
        return Err(bad("request target must be origin-form (start with /)"));
    }
    let http10 = req.version == Some(0);
    let mut host_count = 0;
    let mut content_length: Option<&[u8]> = None;
    let mut transfer_encoding: Option<&[u8]> = None;
    for h in req.headers.iter() {
        // WSGI servers map `X_Forwarded_For` and `X-Forwarded-For` to the same variable:
        // an underscore name could smuggle a header past our rules.
        if h.name.contains('_') {
            return Err(bad("header name with an underscore"));
        }
        if is_framing_header(h.name) && has_tab_or_control(h.value, buf) {
            return Err(bad("tab or control character in a framing header"));
        }
        if h.name.eq_ignore_ascii_case("host") {
            host_count += 1;
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
    if let Some(cl) = content_length {
        if cl.is_empty() || cl.len() > 18 || !cl.iter().all(u8::is_ascii_digit) {
            return Err(bad("invalid Content-Length"));
        }
    }
    if let Some(te) = transfer_encoding {
        if content_length.is_some() {
            return Err(bad("both Content-Length and Transfer-Encoding"));
        }
        if http10 {
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        // Exactly `chunked`: no other coding, no list, no case games. Apps behind us parse
        // this header in many ways; the only safe form is the one they all agree on.
        if te != b"chunked" {
            return Err(bad("Transfer-Encoding other than chunked"));
        }
        return Ok(true);
    }
    Ok(content_length.is_some_and(|cl| cl.iter().any(|&d| d != b'0')))
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
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_uri_bytes: 64,
        max_header_bytes: 256,
        max_headers: 4,
    };

    fn check(raw: &str) -> Result<HeadStatus, (Code, u16)> {
        check_head(raw.as_bytes(), &LIMITS).map_err(|r| (r.code, r.status))
    }

    #[test]
    fn complete_and_partial_heads() {
        let raw = "GET /x HTTP/1.1\r\nHost: a\r\n\r\nbody";
        assert_eq!(
            check(raw),
            Ok(HeadStatus::Complete {
                len: raw.len() - 4,
                body: false
            })
        );
        let post = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 01\r\n\r\n";
        let zero = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 00\r\n\r\n";
        let chunked = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        let body = |raw: &str| matches!(check(raw), Ok(HeadStatus::Complete { body: true, .. }));
        assert!(body(post) && body(chunked) && !body(zero));
        assert_eq!(
            check("GET /x HTTP/1.1\r\nHost: a\r\n"),
            Ok(HeadStatus::Partial)
        );
        assert_eq!(check("GE"), Ok(HeadStatus::Partial));
    }

    #[test]
    fn size_limits() {
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(64));
        assert_eq!(check(&long), Err((Code::UriTooLong, 414)));
        let partial_line = format!("GET /{}", "a".repeat(100));
        assert_eq!(check(&partial_line), Err((Code::UriTooLong, 414)));
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "v".repeat(300)
        );
        assert_eq!(check(&big), Err((Code::HeadersTooLarge, 431)));
        let big_partial = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "v".repeat(300));
        assert_eq!(check(&big_partial), Err((Code::HeadersTooLarge, 431)));
        let many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n";
        assert_eq!(check(many), Err((Code::HeadersTooLarge, 431)));
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let cases = [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
            "GET http://other/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
            "GARBAGE\r\n\r\n",
            "GET / HTTP/1.1\nHost: a\n\n",
            "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
            "get / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n",
        ];
        for raw in cases {
            assert_eq!(check(raw), Err((Code::BadRequest, 400)), "{raw:?}");
        }
        assert_eq!(
            check("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
            Err((Code::MethodNotAllowed, 405))
        );
        assert_eq!(
            check("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err((Code::BadRequest, 400))
        );
        assert!(check("GET / HTTP/1.0\r\n\r\n").is_ok());
        assert!(check("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").is_ok());
    }
}
