//! Scores a proxied response's headers with the MDN HTTP Observatory's rules (re-implemented
//! from `@mdn/mdn-http-observatory` 1.4.8: `src/analyzer/tests/*.js` for the verdicts,
//! `src/grader/charts.js` for the modifiers and grades, `src/scanner/index.js` for the curve)
//! and requires the top grade with the default config. Cookies, redirection and SRI do not
//! depend on Rampart's headers (no cookies, not HTML): they score 0, as the scanner gives them.
mod common;
use common::*;
use std::collections::HashMap;

type Headers = HashMap<String, String>;

fn header<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
    h.get(name).map(String::as_str)
}

/// Directive -> sources, as the Observatory's CSP parser reads a header.
fn csp(h: &Headers) -> Option<HashMap<String, Vec<String>>> {
    let value = header(h, "content-security-policy")?;
    let mut out = HashMap::new();
    for directive in value.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let mut parts = directive.split_whitespace();
        let name = parts.next()?.to_ascii_lowercase();
        out.insert(name, parts.map(str::to_ascii_lowercase).collect());
    }
    Some(out)
}

/// Content Security Policy: +10 (default-src 'none', nothing unsafe), +5 (nothing unsafe),
/// -20 unsafe-inline / insecure schemes, -10 unsafe-eval, -25 missing.
fn score_csp(h: &Headers) -> i32 {
    let Some(policy) = csp(h) else { return -25 };
    let get = |d: &str| {
        policy
            .get(d)
            .or_else(|| policy.get("default-src"))
            .cloned()
            .unwrap_or_else(|| vec!["*".into()])
    };
    let script = get("script-src");
    let style = get("style-src");
    let object = get("object-src");
    let unsafe_inline = script
        .iter()
        .chain(&object)
        .any(|s| s == "'unsafe-inline'" || s == "data:");
    let insecure = script
        .iter()
        .chain(&object)
        .chain(&style)
        .any(|s| s == "*" || s == "http:" || s == "https:" || s.starts_with("http://"));
    if unsafe_inline || insecure {
        return -20;
    }
    if script.iter().chain(&style).any(|s| s == "'unsafe-eval'") {
        return -10;
    }
    if style.iter().any(|s| s == "'unsafe-inline'") {
        return 0;
    }
    match policy.get("default-src") {
        Some(d) if d == &["'none'".to_string()] => 10,
        _ => 5,
    }
}

/// HSTS: 0 at six months or more (15552000 s), -10 below, -20 missing or invalid.
fn score_hsts(h: &Headers) -> i32 {
    let Some(v) = header(h, "strict-transport-security") else {
        return -20;
    };
    let max_age = v
        .split(';')
        .map(str::trim)
        .find_map(|p| {
            p.to_ascii_lowercase()
                .strip_prefix("max-age=")
                .map(str::to_string)
        })
        .and_then(|n| n.parse::<u64>().ok());
    match max_age {
        Some(n) if n >= 15_552_000 => 0,
        Some(_) => -10,
        None => -20,
    }
}

/// X-Content-Type-Options: 0 for nosniff, -5 otherwise.
fn score_xcto(h: &Headers) -> i32 {
    match header(h, "x-content-type-options") {
        Some(v) if v.trim().eq_ignore_ascii_case("nosniff") => 0,
        _ => -5,
    }
}

/// X-Frame-Options: +5 when the CSP has frame-ancestors, 0 for DENY/SAMEORIGIN, -20 missing.
fn score_xfo(h: &Headers) -> i32 {
    if csp(h).is_some_and(|p| p.contains_key("frame-ancestors")) {
        return 5;
    }
    match header(h, "x-frame-options").map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if v == "deny" || v == "sameorigin" || v.starts_with("allow-from") => 0,
        _ => -20,
    }
}

/// Referrer-Policy: +5 private, 0 absent, -5 unsafe or invalid.
fn score_referrer(h: &Headers) -> i32 {
    let Some(v) = header(h, "referrer-policy") else {
        return 0;
    };
    let good = [
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    ];
    let bad = [
        "origin",
        "origin-when-cross-origin",
        "unsafe-url",
        "no-referrer-when-downgrade",
    ];
    let last = v
        .split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .rfind(|p| good.contains(&p.as_str()) || bad.contains(&p.as_str()));
    match last {
        Some(p) if good.contains(&p.as_str()) => 5,
        _ => -5,
    }
}

/// Cross-Origin-Resource-Policy: +10 same-site / same-origin, 0 cross-origin or absent.
fn score_corp(h: &Headers) -> i32 {
    match header(h, "cross-origin-resource-policy").map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if v == "same-site" || v == "same-origin" => 10,
        Some(v) if v == "cross-origin" => 0,
        Some(_) => -5,
        None => 0,
    }
}

/// CORS: -50 for `Access-Control-Allow-Origin: *`, else 0.
fn score_cors(h: &Headers) -> i32 {
    if header(h, "access-control-allow-origin").is_some_and(|v| v.trim() == "*") {
        -50
    } else {
        0
    }
}

/// The Observatory's score and grade: bonuses only count when the penalties alone leave 90+.
fn grade(h: &Headers) -> (i32, &'static str) {
    let modifiers = [
        score_csp(h),
        score_hsts(h),
        score_xcto(h),
        score_xfo(h),
        score_referrer(h),
        score_corp(h),
        score_cors(h),
    ];
    let with_bonus = 100 + modifiers.iter().sum::<i32>();
    let uncurved = 100 + modifiers.iter().filter(|m| **m < 0).sum::<i32>();
    let score = if uncurved >= 90 { with_bonus } else { uncurved }.max(0);
    let key = (score - score % 5).min(100);
    let letter = match key {
        100 => "A+",
        90 | 95 => "A",
        85 => "A-",
        80 => "B+",
        70 | 75 => "B",
        65 => "B-",
        60 => "C+",
        50 | 55 => "C",
        45 => "C-",
        40 => "D+",
        30 | 35 => "D",
        25 => "D-",
        _ => "F",
    };
    (score, letter)
}

fn headers_of(resp: &reqwest::blocking::Response) -> Headers {
    resp.headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect()
}

#[test]
fn the_default_config_gets_the_top_grade() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    // The app's page as it comes through Rampart (the app sets none of these headers).
    let resp = client().get(p.url("/")).send().unwrap();
    let (score, letter) = grade(&headers_of(&resp));
    assert_eq!(letter, "A+", "score {score}");
    assert_eq!(score, 130, "CSP +10, XFO via CSP +5, Referrer +5, CORP +10");
}

#[test]
fn the_scorer_fails_what_it_should() {
    let none = Headers::new();
    assert_eq!(
        grade(&none),
        (30, "D"),
        "a bare app: -25 CSP -20 HSTS -5 XCTO -20 XFO"
    );
    let mut h = Headers::new();
    h.insert(
        "content-security-policy".into(),
        "default-src 'self'; script-src 'unsafe-inline'".into(),
    );
    h.insert("strict-transport-security".into(), "max-age=300".into());
    h.insert("x-content-type-options".into(), "nosniff".into());
    h.insert("x-frame-options".into(), "DENY".into());
    h.insert("referrer-policy".into(), "unsafe-url".into());
    h.insert("access-control-allow-origin".into(), "*".into());
    let (score, letter) = grade(&h);
    assert_eq!(score, 100 - 20 - 10 - 5 - 50);
    assert_eq!(letter, "F");
}
