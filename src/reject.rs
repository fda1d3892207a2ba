//! `Reject`: every response Rampart generates itself becomes `application/problem+json`
//! (RFC 9457, SPEC §5) here and nowhere else.

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use pingora::http::ResponseHeader;
use std::borrow::Cow;

/// The machine-readable reason of a rejection (the `code` field of SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    RateLimited,
    BodyTooLarge,
    UriTooLong,
    HeadersTooLarge,
    BadRequest,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    UnsupportedMediaType,
    SchemaViolation,
    RequestTimeout,
    CircuitOpen,
    Overloaded,
    UpstreamUnavailable,
    UpstreamTimeout,
    /// The app's response is malformed (SPEC §5).
    BadGateway,
    /// A streamed response ended because the app went quiet past the read timeout (logged
    /// only: the response was already under way).
    StreamIdle,
    /// A client accepted no response bytes for `client.send_timeout` (logged only: the
    /// response was under way).
    SendTimeout,
    /// Admin endpoints: a missing or wrong `Authorization: Bearer` token.
    Unauthorized,
    /// Admin `POST /-/reload`: the new config has errors (listed); the old one keeps serving.
    InvalidConfig,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::RateLimited => "rate_limited",
            Code::BodyTooLarge => "body_too_large",
            Code::UriTooLong => "uri_too_long",
            Code::HeadersTooLarge => "headers_too_large",
            Code::BadRequest => "bad_request",
            Code::Forbidden => "forbidden",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::SchemaViolation => "schema_violation",
            Code::RequestTimeout => "request_timeout",
            Code::CircuitOpen => "circuit_open",
            Code::Overloaded => "overloaded",
            Code::UpstreamUnavailable => "upstream_unavailable",
            Code::UpstreamTimeout => "upstream_timeout",
            Code::BadGateway => "bad_gateway",
            Code::StreamIdle => "stream_idle",
            Code::SendTimeout => "send_timeout",
            Code::Unauthorized => "unauthorized",
            Code::InvalidConfig => "invalid_config",
            Code::Internal => "internal_error",
        }
    }

    /// The status a code answers with by default (`UpstreamUnavailable` is 502 or 503).
    pub fn default_status(self) -> u16 {
        match self {
            Code::RateLimited => 429,
            Code::BodyTooLarge => 413,
            Code::UriTooLong => 414,
            Code::HeadersTooLarge => 431,
            Code::BadRequest => 400,
            Code::Forbidden => 403,
            Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::UnsupportedMediaType => 415,
            Code::SchemaViolation => 422,
            Code::RequestTimeout => 408,
            Code::CircuitOpen | Code::Overloaded => 503,
            Code::UpstreamUnavailable => 502,
            Code::UpstreamTimeout => 504,
            Code::BadGateway => 502,
            // Never answered: the response head had gone out already.
            Code::StreamIdle => 504,
            // Never answered either: the client stopped reading.
            Code::SendTimeout => 408,
            Code::Unauthorized => 401,
            Code::InvalidConfig => 400,
            Code::Internal => 500,
        }
    }

    /// Codes after which the connection is closed: the request's framing can't be trusted.
    fn closes_connection(self) -> bool {
        matches!(
            self,
            Code::BodyTooLarge | Code::BadRequest | Code::RequestTimeout | Code::BadGateway
        )
    }
}

/// One JSON-schema error of a 422 (`errors: [{"pointer", "message"}]`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SchemaError {
    pub pointer: String,
    pub message: String,
}

/// What a problem's `errors` member lists.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Errors<'a> {
    Schema(&'a [SchemaError]),
    Config(&'a [String]),
}

/// The less common parts of a rejection, boxed so that `Result<_, Reject>` stays small.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RejectExtra {
    /// `Allow` for 405.
    pub allow: Option<HeaderValue>,
    /// `Retry-After` in whole seconds, for 429 and 503.
    pub retry_after: Option<u64>,
    /// Extra headers (e.g. the RateLimit pair) added verbatim.
    pub headers: Vec<(&'static str, HeaderValue)>,
    pub schema_errors: Vec<SchemaError>,
    /// `invalid_config`: every error of the refused config, with file, line and field path.
    pub config_errors: Vec<String>,
}

/// A decision to answer the client ourselves instead of (or after failing to) proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub code: Code,
    pub status: u16,
    pub detail: Cow<'static, str>,
    pub extra: Option<Box<RejectExtra>>,
}

impl Reject {
    pub fn new(code: Code, detail: impl Into<Cow<'static, str>>) -> Self {
        Reject {
            code,
            status: code.default_status(),
            detail: detail.into(),
            extra: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    fn extra_mut(&mut self) -> &mut RejectExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    pub fn with_allow(mut self, allow: HeaderValue) -> Self {
        self.extra_mut().allow = Some(allow);
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.extra_mut().retry_after = Some(seconds);
        self
    }

    pub fn with_header(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.extra_mut().headers.push((name, value));
        self
    }

    pub fn with_schema_errors(mut self, errors: Vec<SchemaError>) -> Self {
        self.extra_mut().schema_errors = errors;
        self
    }

    pub fn with_config_errors(mut self, errors: Vec<String>) -> Self {
        self.extra_mut().config_errors = errors;
        self
    }

    pub fn allow(&self) -> Option<&HeaderValue> {
        self.extra.as_ref().and_then(|e| e.allow.as_ref())
    }

    pub fn retry_after(&self) -> Option<u64> {
        self.extra.as_ref().and_then(|e| e.retry_after)
    }

    /// The `errors` member: a 422's schema errors or an `invalid_config`'s config errors.
    fn errors(&self) -> Option<Errors<'_>> {
        let extra = self.extra.as_deref()?;
        if !extra.schema_errors.is_empty() {
            Some(Errors::Schema(&extra.schema_errors))
        } else if !extra.config_errors.is_empty() {
            Some(Errors::Config(&extra.config_errors))
        } else {
            None
        }
    }

    pub fn closes_connection(&self) -> bool {
        self.code.closes_connection()
    }

    /// The problem+json body.
    pub fn body(&self, request_id: &str) -> Bytes {
        #[derive(serde::Serialize)]
        struct Problem<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            title: &'static str,
            status: u16,
            code: &'static str,
            detail: &'a str,
            request_id: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            errors: Option<Errors<'a>>,
        }
        let problem = Problem {
            kind: "about:blank",
            title: reason_phrase(self.status),
            status: self.status,
            code: self.code.as_str(),
            detail: &self.detail,
            request_id,
            errors: self.errors(),
        };
        // Serializing plain strings and numbers cannot fail; an empty body is the fallback.
        Bytes::from(serde_json::to_vec(&problem).unwrap_or_default())
    }

    /// The response head for a body of `body_len` bytes, without the headers every
    /// response gets (X-Request-Id, security headers), which `respond` adds.
    pub fn header(&self, body_len: usize) -> ResponseHeader {
        // Only invalid status codes fail to build, and ours are all valid: 500 is the floor.
        let mut h = ResponseHeader::build_no_case(self.status, Some(8))
            .or_else(|_| ResponseHeader::build_no_case(500, Some(8)))
            .unwrap_or_else(|_| {
                ResponseHeader::from(http::response::Response::new(()).into_parts().0)
            });
        let _ = h.insert_header(CONTENT_TYPE, "application/problem+json");
        let _ = h.insert_header(CONTENT_LENGTH, body_len);
        let _ = h.insert_header(http::header::CACHE_CONTROL, "no-store");
        if let Some(extra) = &self.extra {
            if let Some(allow) = &extra.allow {
                let _ = h.insert_header(ALLOW, allow.clone());
            }
            if let Some(secs) = extra.retry_after {
                let _ = h.insert_header(RETRY_AFTER, secs);
            }
            for (name, value) in &extra.headers {
                let _ = h.insert_header(*name, value.clone());
            }
        }
        if self.closes_connection() {
            let _ = h.insert_header(CONNECTION, "close");
        }
        h
    }
}

impl Reject {
    /// THE problem+json answer, for the front door, the proxy and the admin listener alike:
    /// head (with `X-Request-Id`) and body. The caller adds the security headers (and CORS)
    /// it owns and writes it on its transport.
    pub fn response(&self, request_id: &HeaderValue) -> (ResponseHeader, Bytes) {
        let body = self.body(request_id.to_str().unwrap_or("-"));
        let mut head = self.header(body.len());
        let _ = head.insert_header("x-request-id", request_id.clone());
        (head, body)
    }
}

pub fn reason_phrase(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// Serializes a response head and body as HTTP/1.1 bytes, for answers written on a raw
/// connection before Pingora has a session (malformed or slow request heads).
pub fn to_http1_bytes(head: &ResponseHeader, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(head.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(head.status.as_u16()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in head.headers.iter() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_body_follows_rfc9457() {
        let r = Reject::new(Code::NotFound, "no route for GET /x");
        let body: serde_json::Value = serde_json::from_slice(&r.body("abc")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"type":"about:blank","title":"Not Found","status":404,
                "code":"not_found","detail":"no route for GET /x","request_id":"abc"})
        );
    }

    #[test]
    fn header_carries_code_specific_headers() {
        let r = Reject::new(Code::MethodNotAllowed, "x")
            .with_allow(HeaderValue::from_static("GET, HEAD"));
        let h = r.header(10);
        assert_eq!(h.status.as_u16(), 405);
        assert_eq!(h.headers["allow"], "GET, HEAD");
        assert_eq!(h.headers["content-type"], "application/problem+json");
        assert_eq!(h.headers["content-length"], "10");
        assert!(h.headers.get("connection").is_none());
        let bad = Reject::new(Code::BadRequest, "x").header(1);
        assert_eq!(bad.headers["connection"], "close");
        let unavailable = Reject::new(Code::UpstreamUnavailable, "x")
            .with_status(503)
            .with_retry_after(3);
        let h = unavailable.header(1);
        assert_eq!(h.status.as_u16(), 503);
        assert_eq!(h.headers["retry-after"], "3");
    }

    #[test]
    fn raw_serialization() {
        let r = Reject::new(Code::BadRequest, "bad framing");
        let body = r.body("id");
        let bytes = to_http1_bytes(&r.header(body.len()), &body);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("\r\n\r\n{\"type\":\"about:blank\""));
    }

    #[test]
    fn schema_errors_are_listed() {
        let r = Reject::new(Code::SchemaViolation, "invalid body").with_schema_errors(vec![
            SchemaError {
                pointer: "/entry/0".into(),
                message: "m".into(),
            },
        ]);
        let body: serde_json::Value = serde_json::from_slice(&r.body("i")).unwrap();
        assert_eq!(body["errors"][0]["pointer"], "/entry/0");
    }
}
