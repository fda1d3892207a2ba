use super::*;

fn section(yaml: &str) -> SecurityHeaders {
    let value: serde_json::Value = serde_json::from_str(yaml).unwrap();
    serde_json::from_value(value).unwrap()
}

fn head(pairs: &[(&str, &str)]) -> ResponseHeader {
    let mut h = ResponseHeader::build(200, None).unwrap();
    for (n, v) in pairs {
        h.append_header(n.to_string(), *v).unwrap();
    }
    h
}

fn get<'a>(h: &'a ResponseHeader, name: &str) -> Option<&'a str> {
    h.headers.get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn defaults_are_the_spec_values() {
    let set = HeaderSet::compile(&SecurityHeaders::default(), None);
    let mut h = head(&[]);
    set.apply_to_own_response(&mut h);
    assert_eq!(
        get(&h, "strict-transport-security"),
        Some("max-age=63072000; includeSubDomains")
    );
    assert_eq!(
        get(&h, "content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    assert_eq!(get(&h, "x-content-type-options"), Some("nosniff"));
    assert_eq!(get(&h, "x-frame-options"), Some("DENY"));
    assert_eq!(get(&h, "referrer-policy"), Some("no-referrer"));
    assert_eq!(
        get(&h, "permissions-policy"),
        Some("geolocation=(), camera=(), microphone=()")
    );
    assert_eq!(get(&h, "cross-origin-opener-policy"), Some("same-origin"));
    assert_eq!(get(&h, "cross-origin-resource-policy"), Some("same-origin"));
    assert_eq!(get(&h, "content-security-policy-report-only"), None);
}

#[test]
fn null_switches_a_header_off_and_values_replace_defaults() {
    let set = HeaderSet::compile(
        &section(r#"{"x_frame_options": null, "referrer_policy": "same-origin"}"#),
        None,
    );
    let mut h = head(&[]);
    set.apply_to_own_response(&mut h);
    assert_eq!(get(&h, "x-frame-options"), None);
    assert_eq!(get(&h, "referrer-policy"), Some("same-origin"));
}

#[test]
fn set_if_missing_keeps_the_apps_value_and_override_replaces_it() {
    let app = [
        ("content-security-policy", "default-src 'self'"),
        ("server", "gunicorn"),
        ("x-powered-by", "Flask"),
    ];
    let keep = HeaderSet::compile(&SecurityHeaders::default(), None);
    let mut h = head(&app);
    keep.apply_to_app_response(&mut h);
    assert_eq!(
        get(&h, "content-security-policy"),
        Some("default-src 'self'")
    );
    assert_eq!(get(&h, "server"), None, "banners always go");
    assert_eq!(get(&h, "x-powered-by"), None);
    let replace = HeaderSet::compile(&section(r#"{"mode": "override"}"#), None);
    let mut h = head(&app);
    replace.apply_to_app_response(&mut h);
    assert_eq!(
        get(&h, "content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
}

#[test]
fn a_route_overrides_keys_mode_and_adds_removals() {
    let global = section(r#"{"remove": ["X-Debug"]}"#);
    let route = section(
        r#"{"content_security_policy": "default-src 'self'", "mode": "override", "remove": ["X-Trace"]}"#,
    );
    let set = HeaderSet::compile(&global, Some(&route));
    let mut h = head(&[
        ("x-debug", "1"),
        ("x-trace", "2"),
        ("content-security-policy", "x"),
    ]);
    set.apply_to_app_response(&mut h);
    assert_eq!(
        get(&h, "content-security-policy"),
        Some("default-src 'self'")
    );
    assert_eq!(get(&h, "x-debug"), None);
    assert_eq!(get(&h, "x-trace"), None);
    assert_eq!(
        get(&h, "x-frame-options"),
        Some("DENY"),
        "untouched keys keep the global value"
    );
}

/// `check --dump` shows every header with its default filled in, and what was set stays.
#[test]
fn dump_fills_every_default_and_keeps_what_was_set() {
    let filled = with_defaults(&section(
        r#"{"x_frame_options": "SAMEORIGIN", "referrer_policy": null}"#,
    ));
    assert_eq!(
        filled.x_frame_options,
        HeaderSetting::Value("SAMEORIGIN".into())
    );
    assert_eq!(filled.referrer_policy, HeaderSetting::Off);
    assert_eq!(
        filled.x_content_type_options,
        HeaderSetting::Value("nosniff".into())
    );
    assert_eq!(
        filled.content_security_policy_report_only,
        HeaderSetting::Off
    );
    assert!(filled.mode.is_some());
}

#[test]
fn a_set_knows_its_headers() {
    let set = HeaderSet::compile(&SecurityHeaders::default(), None);
    assert_eq!(set.len(), 8);
    assert!(!set.is_empty());
    assert_eq!(set.values()[0].0.as_str(), "strict-transport-security");
    let none = HeaderSet::compile(
        &section(
            r#"{"strict_transport_security": null, "content_security_policy": null,
                "x_content_type_options": null, "x_frame_options": null, "referrer_policy": null,
                "permissions_policy": null, "cross_origin_opener_policy": null,
                "cross_origin_resource_policy": null}"#,
        ),
        None,
    );
    assert!(none.is_empty() && none.values().is_empty());
}
