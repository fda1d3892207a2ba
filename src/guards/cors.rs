//! CORS (SPEC §2 `cors`, per route too): preflights answered by Rampart, never forwarded;
//! allowed origins get the `Access-Control-*` headers, others none (the browser then
//! blocks the call). Pure: header values in, header pairs out, all values built at load.

use crate::config::model::Cors;
use http::{HeaderName, HeaderValue, Method};

pub static ALLOW_ORIGIN: HeaderName = HeaderName::from_static("access-control-allow-origin");
static ALLOW_CREDENTIALS: HeaderName = HeaderName::from_static("access-control-allow-credentials");
static ALLOW_METHODS: HeaderName = HeaderName::from_static("access-control-allow-methods");
static ALLOW_HEADERS: HeaderName = HeaderName::from_static("access-control-allow-headers");
static EXPOSE_HEADERS: HeaderName = HeaderName::from_static("access-control-expose-headers");
static MAX_AGE: HeaderName = HeaderName::from_static("access-control-max-age");
pub static REQUEST_METHOD: HeaderName = HeaderName::from_static("access-control-request-method");
static REQUEST_HEADERS: HeaderName = HeaderName::from_static("access-control-request-headers");

/// Headers a browser may send without them being allowed (CORS-safelisted).
const SAFELISTED: [&str; 4] = [
    "accept",
    "accept-language",
    "content-language",
    "content-type",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginRule {
    Any,
    Exact(String),
    /// `https://*.example.com`: scheme and the host suffix `.example.com`.
    Subdomains {
        scheme: String,
        suffix: String,
    },
}

#[derive(Debug, Clone)]
pub struct CorsPolicy {
    origins: Vec<OriginRule>,
    methods: Vec<Method>,
    methods_value: HeaderValue,
    /// Lower-case.
    headers: Vec<String>,
    headers_value: Option<HeaderValue>,
    expose_value: Option<HeaderValue>,
    credentials: bool,
    max_age_value: Option<HeaderValue>,
}

fn joined(items: &[String]) -> Option<HeaderValue> {
    (!items.is_empty())
        .then(|| HeaderValue::from_str(&items.join(", ")).ok())
        .flatten()
}

impl CorsPolicy {
    pub fn compile(c: &Cors) -> CorsPolicy {
        let origins = c
            .allow_origins
            .iter()
            .map(|o| {
                let o = o.to_ascii_lowercase();
                if o == "*" {
                    return OriginRule::Any;
                }
                match o.split_once("://*.") {
                    Some((scheme, host)) => OriginRule::Subdomains {
                        scheme: scheme.to_string(),
                        suffix: format!(".{host}"),
                    },
                    None => OriginRule::Exact(o),
                }
            })
            .collect();
        let method_names = c
            .allow_methods
            .clone()
            .unwrap_or_else(|| vec!["GET".into(), "HEAD".into(), "POST".into()]);
        CorsPolicy {
            origins,
            methods: method_names
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect(),
            methods_value: joined(&method_names).unwrap_or(HeaderValue::from_static("GET")),
            headers: c
                .allow_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            headers_value: joined(&c.allow_headers),
            expose_value: joined(&c.expose_headers),
            credentials: c.allow_credentials,
            max_age_value: c.max_age.map(|d| HeaderValue::from(d.0.as_secs())),
        }
    }

    /// Whether `origin` (the request's `Origin` header) is allowed.
    pub fn allows_origin(&self, origin: &[u8]) -> bool {
        let Ok(origin) = std::str::from_utf8(origin) else {
            return false;
        };
        let origin = origin.to_ascii_lowercase();
        self.origins.iter().any(|rule| match rule {
            OriginRule::Any => origin != "null",
            OriginRule::Exact(o) => *o == origin,
            OriginRule::Subdomains { scheme, suffix } => {
                origin.split_once("://").is_some_and(|(s, host)| {
                    s == scheme && host.ends_with(suffix.as_str()) && host.len() > suffix.len()
                })
            }
        })
    }

    /// Headers for an actual (non-preflight) request from an allowed origin. The origin is
    /// echoed (never `*`, so credentials can work and caches key on `Vary: Origin`).
    pub fn actual(&self, origin: &HeaderValue) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(3);
        if !self.allows_origin(origin.as_bytes()) {
            return out;
        }
        out.push((ALLOW_ORIGIN.clone(), origin.clone()));
        if self.credentials {
            out.push((ALLOW_CREDENTIALS.clone(), HeaderValue::from_static("true")));
        }
        if let Some(v) = &self.expose_value {
            out.push((EXPOSE_HEADERS.clone(), v.clone()));
        }
        out
    }

    /// The answer to a preflight: the allow headers when origin, method and every requested
    /// header are allowed, nothing otherwise (the 204 goes out either way).
    pub fn preflight(
        &self,
        origin: &HeaderValue,
        method: &[u8],
        request_headers: Option<&[u8]>,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let method_ok = Method::from_bytes(method).is_ok_and(|m| self.methods.contains(&m));
        let headers_ok = request_headers
            .and_then(|h| std::str::from_utf8(h).ok())
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .all(|h| self.headers.contains(&h) || SAFELISTED.contains(&h.as_str()));
        if !(method_ok && headers_ok && self.allows_origin(origin.as_bytes())) {
            return Vec::new();
        }
        let mut out = vec![
            (ALLOW_ORIGIN.clone(), origin.clone()),
            (ALLOW_METHODS.clone(), self.methods_value.clone()),
        ];
        if let Some(v) = &self.headers_value {
            out.push((ALLOW_HEADERS.clone(), v.clone()));
        }
        if self.credentials {
            out.push((ALLOW_CREDENTIALS.clone(), HeaderValue::from_static("true")));
        }
        if let Some(v) = &self.max_age_value {
            out.push((MAX_AGE.clone(), v.clone()));
        }
        out
    }
}

/// CORS's slice of a request: what its responses carry.
#[derive(Debug, Default)]
pub struct CorsHeaders {
    /// `Access-Control-*` for an allowed origin (actual request or preflight).
    pub allow: Vec<(HeaderName, HeaderValue)>,
    /// CORS applies to this request: responses vary by `Origin`.
    pub vary_origin: bool,
}

impl CorsHeaders {
    /// Adds the allow headers and `Vary: Origin` (merged into the app's own `Vary`).
    pub fn apply(&self, head: &mut pingora::http::ResponseHeader) {
        for (name, value) in &self.allow {
            let _ = head.insert_header(name.clone(), value.clone());
        }
        if !self.vary_origin {
            return;
        }
        let vary = match head
            .headers
            .get(http::header::VARY)
            .map(HeaderValue::as_bytes)
        {
            Some(v)
                if v.split(|&b| b == b',')
                    .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"origin")) =>
            {
                None
            }
            Some(v) => HeaderValue::from_bytes(&[v, b", Origin"].concat()).ok(),
            None => Some(HeaderValue::from_static("Origin")),
        };
        if let Some(vary) = vary {
            let _ = head.insert_header(http::header::VARY, vary);
        }
    }
}

/// A preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
pub fn is_preflight(method: &Method, headers: &http::HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(http::header::ORIGIN)
        && headers.contains_key(&REQUEST_METHOD)
}

/// The requested headers of a preflight.
pub fn requested_headers(headers: &http::HeaderMap) -> Option<&[u8]> {
    headers.get(&REQUEST_HEADERS).map(HeaderValue::as_bytes)
}

#[cfg(test)]
#[path = "cors_tests.rs"]
mod tests;
