//! Route matching (first match wins) on the normalized path, with 404 / 405 verdicts.

use crate::reject::{Code, Reject};
use http::{HeaderValue, Method};
use regex::Regex;
use std::borrow::Cow;

/// How a route matches the path.
#[derive(Debug, Clone)]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
    Regex(Regex),
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == p,
            // `/api` matches `/api`, `/api/` and `/api/x`, never `/apix`.
            PathMatch::Prefix(p) => {
                path.starts_with(p.as_str())
                    && (p.ends_with('/')
                        || path.len() == p.len()
                        || path.as_bytes()[p.len()] == b'/')
            }
            PathMatch::Regex(re) => re.is_match(path),
        }
    }
}

/// The matching part of one compiled route.
#[derive(Debug, Clone)]
pub struct RouteMatcher {
    pub path: PathMatch,
    /// None = any method.
    pub methods: Option<Vec<Method>>,
    /// Lower-case host without port; None = any host.
    pub host: Option<String>,
}

impl RouteMatcher {
    /// Compiles a route's `match:` (the regex once, methods parsed, host lower-cased).
    pub fn compile(m: &crate::config::model::RouteMatch) -> Result<RouteMatcher, String> {
        let path = if let Some(p) = &m.path {
            PathMatch::Exact(p.clone())
        } else if let Some(p) = &m.path_prefix {
            PathMatch::Prefix(p.clone())
        } else if let Some(re) = &m.path_regex {
            PathMatch::Regex(regex::Regex::new(re).map_err(|e| e.to_string())?)
        } else {
            return Err("no path matcher".into());
        };
        let methods = m.methods.as_ref().map(|ms| {
            ms.iter()
                .filter_map(|s| http::Method::from_bytes(s.as_bytes()).ok())
                .collect()
        });
        Ok(RouteMatcher {
            path,
            methods,
            host: m.host.as_ref().map(|h| h.to_ascii_lowercase()),
        })
    }
}

impl RouteMatcher {
    fn host_matches(&self, host: Option<&str>) -> bool {
        match (&self.host, host) {
            (None, _) => true,
            (Some(want), Some(got)) => host_matches(want, got),
            (Some(_), None) => false,
        }
    }

    fn method_allowed(&self, method: &Method) -> bool {
        match &self.methods {
            None => true,
            // HEAD is served wherever GET is, as every HTTP server does.
            Some(list) => list
                .iter()
                .any(|m| m == method || (*method == Method::HEAD && *m == Method::GET)),
        }
    }
}

/// `want` may be `*.example.com`; `got` is compared case-insensitively without its port.
fn host_matches(want: &str, got: &str) -> bool {
    let got = strip_port(got);
    match want.strip_prefix("*.") {
        Some(suffix) => {
            got.len() > suffix.len() + 1
                && got[got.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                && got.as_bytes()[got.len() - suffix.len() - 1] == b'.'
        }
        None => got.eq_ignore_ascii_case(want),
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map_or(host, |h| &h[1..]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Finds the first route matching `method`, `host` and `path` (already normalized).
/// When routes match the path but none the method -> 405 with their methods in `Allow`.
pub fn find_route(
    routes: &[RouteMatcher],
    method: &Method,
    host: Option<&str>,
    path: &str,
) -> Result<usize, Reject> {
    let mut path_matched = false;
    for (i, r) in routes.iter().enumerate() {
        if !r.host_matches(host) || !r.path.matches(path) {
            continue;
        }
        if r.method_allowed(method) {
            return Ok(i);
        }
        path_matched = true;
    }
    if !path_matched {
        return Err(Reject::new(
            Code::NotFound,
            Cow::Borrowed("no route matches this request"),
        ));
    }
    let mut allowed: Vec<&str> = Vec::new();
    for r in routes
        .iter()
        .filter(|r| r.host_matches(host) && r.path.matches(path))
    {
        if let Some(methods) = &r.methods {
            for m in methods {
                if !allowed.contains(&m.as_str()) {
                    allowed.push(m.as_str());
                }
                if *m == Method::GET && !allowed.contains(&"HEAD") {
                    allowed.push("HEAD");
                }
            }
        }
    }
    let allow = HeaderValue::from_str(&allowed.join(", ")).unwrap_or(HeaderValue::from_static(""));
    Err(Reject::new(
        Code::MethodNotAllowed,
        format!("method {method} is not allowed here"),
    )
    .with_allow(allow))
}

/// Normalizes a request path for matching and forwarding: percent-decodes unreserved
/// characters (so `/%61dmin` is `/admin`), collapses `//`, resolves `.` and `..`
/// (never above the root). `%2F` and other reserved escapes stay encoded.
/// Returns `Cow::Borrowed` when the path is already normal (the common case: no alloc).
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, Reject> {
    let bad = || Reject::new(Code::BadRequest, "invalid request path");
    if !path.starts_with('/') {
        return Err(bad());
    }
    let needs_work =
        path.contains('%') || path.contains("//") || path.contains("/.") || path.ends_with("/..");
    if !needs_work {
        return Ok(Cow::Borrowed(path));
    }
    let mut decoded: Vec<u8> = Vec::with_capacity(path.len());
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let v = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(bad)?;
            if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                decoded.push(v);
            } else {
                decoded.extend_from_slice(&[
                    b'%',
                    hex[0].to_ascii_uppercase(),
                    hex[1].to_ascii_uppercase(),
                ]);
            }
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing || out.is_empty() {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: PathMatch, methods: Option<&[&str]>, host: Option<&str>) -> RouteMatcher {
        RouteMatcher {
            path,
            methods: methods.map(|ms| ms.iter().map(|m| m.parse().unwrap()).collect()),
            host: host.map(str::to_string),
        }
    }

    #[test]
    fn first_match_wins() {
        let routes = vec![
            route(PathMatch::Exact("/health".into()), None, None),
            route(PathMatch::Prefix("/api".into()), Some(&["POST"]), None),
            route(
                PathMatch::Regex(Regex::new("^/api/v[0-9]+/items$").unwrap()),
                None,
                None,
            ),
            route(PathMatch::Prefix("/".into()), None, None),
        ];
        assert_eq!(find_route(&routes, &Method::GET, None, "/health"), Ok(0));
        assert_eq!(find_route(&routes, &Method::POST, None, "/api/x"), Ok(1));
        assert_eq!(
            find_route(&routes, &Method::GET, None, "/api/v2/items"),
            Ok(2)
        );
        assert_eq!(find_route(&routes, &Method::GET, None, "/api/x"), Ok(3));
        assert_eq!(find_route(&routes, &Method::GET, None, "/apix"), Ok(3));
    }

    #[test]
    fn prefix_respects_segment_boundaries() {
        let p = PathMatch::Prefix("/api".into());
        assert!(p.matches("/api") && p.matches("/api/") && p.matches("/api/x"));
        assert!(!p.matches("/apix") && !p.matches("/ap"));
        assert!(PathMatch::Prefix("/".into()).matches("/anything"));
    }

    #[test]
    fn not_found_and_method_not_allowed() {
        let routes = vec![
            route(PathMatch::Prefix("/webhooks".into()), Some(&["POST"]), None),
            route(
                PathMatch::Prefix("/webhooks".into()),
                Some(&["GET", "PUT"]),
                Some("api.example.com"),
            ),
        ];
        let r = find_route(&routes, &Method::GET, Some("other"), "/nope").unwrap_err();
        assert_eq!((r.code, r.status), (Code::NotFound, 404));
        let r = find_route(
            &routes,
            &Method::DELETE,
            Some("api.example.com:8080"),
            "/webhooks/x",
        )
        .unwrap_err();
        assert_eq!((r.code, r.status), (Code::MethodNotAllowed, 405));
        assert_eq!(r.allow().unwrap(), "POST, GET, HEAD, PUT");
        assert_eq!(
            find_route(&routes, &Method::HEAD, Some("API.example.com"), "/webhooks"),
            Ok(1)
        );
    }

    #[test]
    fn host_matching() {
        assert!(host_matches("api.example.com", "API.Example.com:443"));
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "aexample.com"));
        assert!(host_matches("::1", "[::1]:8080"));
    }

    #[test]
    fn normalization() {
        let n = |p| {
            normalize_path(p)
                .map(|c| c.into_owned())
                .map_err(|r| r.code)
        };
        assert!(matches!(normalize_path("/a/b"), Ok(Cow::Borrowed(_))));
        assert_eq!(n("/%61dmin"), Ok("/admin".into()));
        assert_eq!(n("//admin//x"), Ok("/admin/x".into()));
        assert_eq!(n("/public/../admin"), Ok("/admin".into()));
        assert_eq!(n("/../../etc/passwd"), Ok("/etc/passwd".into()));
        assert_eq!(n("/a/./b/"), Ok("/a/b/".into()));
        assert_eq!(n("/a/%2e%2e/b"), Ok("/b".into()));
        assert_eq!(n("/a%2fb"), Ok("/a%2Fb".into()));
        assert_eq!(n("/a/.."), Ok("/".into()));
        assert_eq!(n("/bad%zz"), Err(Code::BadRequest));
        assert_eq!(n("/bad%4"), Err(Code::BadRequest));
        assert_eq!(n("relative"), Err(Code::BadRequest));
    }

    #[test]
    fn hosts_match_exactly_or_below_a_wildcard() {
        assert!(host_matches("api.example.com", "API.example.com:8443"));
        assert!(!host_matches("api.example.com", "api.example.com.evil"));
        assert!(!host_matches("api.example.com", "api.example.com:x"));
        assert!(host_matches("::1", "[::1]:8080"));
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(host_matches("*.example.com", "a.b.example.com:80"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", ".example.com"));
        assert!(!host_matches("*.example.com", "xexample.com"));
        let routes = vec![route(
            PathMatch::Prefix("/".into()),
            None,
            Some("api.example.com"),
        )];
        for host in [Some("other.example.com"), None] {
            let r = find_route(&routes, &Method::GET, host, "/").unwrap_err();
            assert_eq!((r.code, r.status), (Code::NotFound, 404), "{host:?}");
        }
    }

    /// A route whose path does not match says nothing about the methods allowed.
    #[test]
    fn only_matching_paths_make_a_405() {
        let routes = vec![route(PathMatch::Prefix("/a".into()), Some(&["POST"]), None)];
        let r = find_route(&routes, &Method::GET, None, "/b").unwrap_err();
        assert_eq!((r.code, r.status), (Code::NotFound, 404));
    }

    #[test]
    fn dot_segments_at_the_end_keep_the_trailing_slash() {
        assert_eq!(normalize_path("/a/b/.").unwrap(), "/a/b/");
        assert_eq!(normalize_path("/a/b/..").unwrap(), "/a/");
        assert_eq!(normalize_path("/a/b/").unwrap(), "/a/b/");
    }
}
