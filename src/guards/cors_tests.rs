use super::*;

fn policy(origins: &[&str], credentials: bool) -> CorsPolicy {
    CorsPolicy::compile(&Cors {
        allow_origins: origins.iter().map(|s| s.to_string()).collect(),
        allow_methods: Some(vec!["GET".into(), "POST".into(), "PUT".into()]),
        allow_headers: vec!["Content-Type".into(), "Authorization".into()],
        expose_headers: vec!["X-Request-Id".into()],
        allow_credentials: credentials,
        max_age: Some(crate::config::units::ConfigDuration(
            std::time::Duration::from_secs(3600),
        )),
    })
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap()
}

fn names(pairs: &[(HeaderName, HeaderValue)]) -> Vec<String> {
    pairs
        .iter()
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
        .collect()
}

#[test]
fn exact_and_wildcard_origins() {
    let p = policy(&["https://app.example.com", "https://*.example.org"], false);
    assert!(p.allows_origin(b"https://app.example.com"));
    assert!(p.allows_origin(b"HTTPS://APP.EXAMPLE.COM"));
    assert!(
        !p.allows_origin(b"http://app.example.com"),
        "scheme matters"
    );
    assert!(!p.allows_origin(b"https://app.example.com.evil.net"));
    assert!(p.allows_origin(b"https://a.example.org"));
    assert!(p.allows_origin(b"https://a.b.example.org"));
    assert!(
        !p.allows_origin(b"https://example.org"),
        "the bare domain is not a subdomain"
    );
    assert!(!p.allows_origin(b"https://evilexample.org"));
    assert!(!p.allows_origin(b"null"));
    let any = policy(&["*"], false);
    assert!(any.allows_origin(b"https://anything.test"));
    assert!(!any.allows_origin(b"null"));
}

#[test]
fn actual_requests_echo_the_origin_with_credentials_and_exposed_headers() {
    let p = policy(&["https://app.example.com"], true);
    assert_eq!(
        names(&p.actual(&hv("https://app.example.com"))),
        vec![
            "access-control-allow-origin: https://app.example.com",
            "access-control-allow-credentials: true",
            "access-control-expose-headers: X-Request-Id",
        ]
    );
    assert!(p.actual(&hv("https://other.example.com")).is_empty());
    // `*` with credentials still echoes the origin, never `*`.
    let any = policy(&["*"], true);
    assert_eq!(any.actual(&hv("https://x.test"))[0].1, hv("https://x.test"));
}

#[test]
fn preflights_check_origin_method_and_every_header() {
    let p = policy(&["https://app.example.com"], false);
    let origin = hv("https://app.example.com");
    let ok = p.preflight(&origin, b"PUT", Some(b"content-type, authorization"));
    assert_eq!(
        names(&ok),
        vec![
            "access-control-allow-origin: https://app.example.com",
            "access-control-allow-methods: GET, POST, PUT",
            "access-control-allow-headers: Content-Type, Authorization",
            "access-control-max-age: 3600",
        ]
    );
    assert!(
        p.preflight(&origin, b"DELETE", None).is_empty(),
        "method not allowed"
    );
    assert!(
        p.preflight(&origin, b"GET", Some(b"x-secret")).is_empty(),
        "header not allowed"
    );
    assert!(
        !p.preflight(&origin, b"GET", Some(b"Accept-Language"))
            .is_empty(),
        "safelisted"
    );
    assert!(p
        .preflight(&hv("https://evil.test"), b"GET", None)
        .is_empty());
}

#[test]
fn preflight_detection() {
    let mut h = http::HeaderMap::new();
    h.insert(http::header::ORIGIN, hv("https://a.test"));
    assert!(!is_preflight(&Method::OPTIONS, &h));
    h.insert(&REQUEST_METHOD, hv("POST"));
    assert!(is_preflight(&Method::OPTIONS, &h));
    assert!(!is_preflight(&Method::GET, &h));
}

#[test]
fn a_wildcard_needs_a_label_before_its_suffix() {
    let p = policy(&["https://*.example.org"], false);
    assert!(!p.allows_origin(b"https://.example.org"));
    assert!(p.allows_origin(b"https://x.example.org"));
}

/// `Vary: Origin` is merged into the app's own `Vary`, once, and only where CORS applies.
#[test]
fn vary_origin_is_merged_into_the_apps_vary() {
    let headers = |vary_origin: bool| CorsHeaders {
        allow: vec![(
            http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
            hv("https://app.example.com"),
        )],
        vary_origin,
    };
    let vary_after = |app_vary: Option<&str>, vary_origin: bool| {
        let mut head = pingora::http::ResponseHeader::build(200, None).unwrap();
        if let Some(v) = app_vary {
            head.insert_header(http::header::VARY, v).unwrap();
        }
        headers(vary_origin).apply(&mut head);
        assert_eq!(
            head.headers
                .get(http::header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .map(|v| v.to_str().unwrap().to_string()),
            Some("https://app.example.com".to_string())
        );
        head.headers
            .get(http::header::VARY)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(vary_after(None, true).as_deref(), Some("Origin"));
    assert_eq!(
        vary_after(Some("Accept-Encoding"), true).as_deref(),
        Some("Accept-Encoding, Origin")
    );
    assert_eq!(
        vary_after(Some("accept, ORIGIN"), true).as_deref(),
        Some("accept, ORIGIN")
    );
    assert_eq!(
        vary_after(Some("Accept-Encoding"), false).as_deref(),
        Some("Accept-Encoding")
    );
    assert_eq!(vary_after(None, false), None);
}

/// The headers CORS adds go on the wire in their usual spelling, each one of them.
#[test]
fn cors_headers_are_written_in_their_usual_spelling() {
    let p = policy(&["https://app.example.com"], true);
    let origin = hv("https://app.example.com");
    let mut spelled = Vec::new();
    for preflight in [false, true] {
        let headers = CorsHeaders {
            allow: if preflight {
                p.preflight(&origin, b"PUT", Some(b"content-type"))
            } else {
                p.actual(&origin)
            },
            vary_origin: true,
        };
        let mut head = pingora::http::ResponseHeader::build(200, None).unwrap();
        headers.apply(&mut head);
        let mut wire = bytes::BytesMut::new();
        head.header_to_h1_wire(&mut wire);
        spelled.push(String::from_utf8(wire.to_vec()).unwrap());
    }
    let all = spelled.concat();
    for name in [
        "Access-Control-Allow-Origin: https://app.example.com",
        "Access-Control-Allow-Credentials: true",
        "Access-Control-Allow-Methods: ",
        "Access-Control-Allow-Headers: ",
        "Access-Control-Expose-Headers: X-Request-Id",
        "Access-Control-Max-Age: 3600",
        "Vary: Origin",
    ] {
        assert!(all.contains(name), "{name} in {all}");
    }
}
