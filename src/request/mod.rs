//! The request model: what every feature's check reads about a request, whatever door it
//! came in by (the HTTP/1 front door, an h2 stream over TLS, h2c). Built once from the head
//! when the proxy starts deciding; plain values (no `Session`), so checks stay pure and
//! testable, and `replay` can build one from a log line.
//!
//! [`rules`] holds the head rules every protocol shares (target and header-list limits, the
//! underscore rule, HTTP/2's own request rules): the HTTP/1 front door applies them to the
//! raw head, the proxy to a decoded h2 header list, with one wording for each refusal.

pub mod rules;

use crate::guards::cors;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, EXPECT, HOST, TRANSFER_ENCODING};
use http::{Method, Version};
use pingora::http::RequestHeader;
use std::net::IpAddr;

#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method routing sees: the announced one for a CORS preflight.
    pub method: Method,
    pub preflight: bool,
    /// The authority: `Host` on HTTP/1.x, `:authority` on HTTP/2 (or its `Host` when the
    /// client sent no `:authority`).
    pub host: Option<HeaderValue>,
    pub version: Version,
    pub client_ip: IpAddr,
    /// `Content-Length` (the front door refused every invalid or ambiguous one).
    pub declared_length: Option<u64>,
    /// A body follows the head (non-zero length, or chunked).
    pub has_body: bool,
    pub content_type: Option<HeaderValue>,
    pub expect_continue: bool,
}

impl Default for RequestHead {
    /// Before the head is read (Pingora's context exists before the request does).
    fn default() -> Self {
        RequestHead {
            method: Method::GET,
            preflight: false,
            host: None,
            version: Version::HTTP_11,
            client_ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            declared_length: None,
            has_body: false,
            content_type: None,
            expect_continue: false,
        }
    }
}

impl RequestHead {
    pub fn of(req: &RequestHeader, client_ip: IpAddr) -> RequestHead {
        let headers = &req.headers;
        let preflight = cors::is_preflight(&req.method, headers);
        let announced = || {
            headers
                .get(&cors::REQUEST_METHOD)
                .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        };
        let method = match preflight.then(announced).flatten() {
            Some(m) => m,
            None => req.method.clone(),
        };
        let declared_length = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let has_body =
            declared_length.map_or_else(|| headers.contains_key(TRANSFER_ENCODING), |n| n > 0);
        RequestHead {
            method,
            preflight,
            host: authority(req),
            version: req.version,
            client_ip,
            declared_length,
            has_body,
            content_type: headers.get(CONTENT_TYPE).cloned(),
            expect_continue: headers
                .get(EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue")),
        }
    }

    /// What an access-log line tells of a request (`replay`): its method, its client (when
    /// logged) and its body size, taken as the declared length.
    pub fn from_log(method: Method, client_ip: Option<IpAddr>, body: Option<u64>) -> RequestHead {
        RequestHead {
            method,
            client_ip: client_ip.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            declared_length: body,
            has_body: body.is_some_and(|n| n > 0),
            ..RequestHead::default()
        }
    }

    pub fn host_str(&self) -> Option<&str> {
        self.host.as_ref().and_then(|h| h.to_str().ok())
    }

    pub fn content_type_bytes(&self) -> Option<&[u8]> {
        self.content_type.as_ref().map(HeaderValue::as_bytes)
    }
}

/// `:authority` on HTTP/2 (RFC 9113 §8.3.1: it takes the place of `Host`), else `Host`.
fn authority(req: &RequestHeader) -> Option<HeaderValue> {
    let from_uri = || {
        req.uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    };
    match req.version {
        Version::HTTP_2 => from_uri().or_else(|| req.headers.get(HOST).cloned()),
        _ => req.headers.get(HOST).cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn facts(method: &str, headers: &[(&str, &str)]) -> RequestHead {
        let mut req = RequestHeader::build(method, b"/x", None).unwrap();
        for (n, v) in headers {
            req.insert_header(n.to_string(), *v).unwrap();
        }
        RequestHead::of(&req, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    #[test]
    fn body_and_preflight_facts() {
        let f = facts("POST", &[("content-length", "12"), ("content-type", "a/b")]);
        assert_eq!((f.declared_length, f.has_body), (Some(12), true));
        assert_eq!(f.content_type_bytes(), Some(&b"a/b"[..]));
        assert!(!facts("POST", &[("content-length", "0")]).has_body);
        assert!(facts("POST", &[("transfer-encoding", "chunked")]).has_body);
        let pre = facts(
            "OPTIONS",
            &[
                ("origin", "https://a"),
                ("access-control-request-method", "PUT"),
            ],
        );
        assert!(pre.preflight);
        assert_eq!(pre.method, Method::PUT);
        assert!(facts("POST", &[("expect", "100-Continue")]).expect_continue);
    }

    #[test]
    fn a_log_line_gives_method_client_and_declared_body() {
        let ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
        let f = RequestHead::from_log(Method::POST, Some(ip), Some(5));
        assert_eq!((f.method, f.client_ip), (Method::POST, ip));
        assert_eq!((f.declared_length, f.has_body), (Some(5), true));
        let empty = RequestHead::from_log(Method::GET, None, Some(0));
        assert_eq!((empty.declared_length, empty.has_body), (Some(0), false));
        assert!(empty.client_ip.is_unspecified());
        let unknown = RequestHead::from_log(Method::GET, None, None);
        assert_eq!((unknown.declared_length, unknown.has_body), (None, false));
    }

    #[test]
    fn the_authority_is_host_on_http1_and_authority_first_on_http2() {
        // As the h2 decoder hands it over: scheme and authority in the URI.
        let mut req = RequestHeader::build("GET", b"/x", None).unwrap();
        req.set_uri(http::Uri::from_static("https://a.example/x"));
        req.insert_header("host", "b.example").unwrap();
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(RequestHead::of(&req, local).host_str(), Some("b.example"));
        req.set_version(Version::HTTP_2);
        assert_eq!(RequestHead::of(&req, local).host_str(), Some("a.example"));
        req.remove_header("host");
        assert_eq!(RequestHead::of(&req, local).host_str(), Some("a.example"));
        let mut bare = RequestHeader::build("GET", b"/x", None).unwrap();
        bare.set_version(Version::HTTP_2);
        bare.insert_header("host", "c.example").unwrap();
        assert_eq!(RequestHead::of(&bare, local).host_str(), Some("c.example"));
    }
}
