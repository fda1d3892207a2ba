//! CORS: preflights answered by Rampart and never forwarded, headers on allowed origins only,
//! and a real browser (headless Chromium) calling the API from an allowed and a foreign page.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

fn with_cors(upstream: SocketAddr, origins: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n\
upstreams:\n  app:\n    endpoints: [\"{upstream}\"]\n\
routes:\n  - {{ name: api, match: {{ path_prefix: /api, methods: [GET, PUT] }}, upstream: app }}\n  \
- {{ name: public, match: {{ path_prefix: /public }}, upstream: app, cors: {{ allow_origins: [\"*\"] }} }}\n\
cors:\n  allow_origins: [{origins}]\n  allow_methods: [GET, PUT]\n  allow_headers: [Content-Type, X-Api-Key]\n  \
expose_headers: [X-Request-Id]\n  allow_credentials: true\n  max_age: 10m\n"
    )
}

fn preflight(
    p: &RampartProcess,
    origin: &str,
    method: &str,
    headers: &str,
) -> reqwest::blocking::Response {
    client()
        .request(reqwest::Method::OPTIONS, p.url("/api/items"))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .unwrap()
}

#[test]
fn preflights_are_answered_here_and_never_reach_the_app() {
    let up = RecordingUpstream::start();
    let p = start(&with_cors(
        up.addr,
        "\"https://app.example.com\", \"https://*.example.org\"",
    ));
    let ok = preflight(
        &p,
        "https://app.example.com",
        "PUT",
        "content-type, x-api-key",
    );
    assert_eq!(ok.status(), 204);
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(h["access-control-allow-methods"], "GET, PUT");
    assert_eq!(h["access-control-allow-headers"], "Content-Type, X-Api-Key");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(h["vary"], "Origin");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let wildcard = preflight(&p, "https://eu.example.org", "GET", "");
    assert_eq!(
        wildcard.headers()["access-control-allow-origin"],
        "https://eu.example.org"
    );
    for refused in [
        preflight(&p, "https://evil.test", "PUT", "content-type"),
        preflight(&p, "https://app.example.com", "DELETE", ""),
        preflight(&p, "https://app.example.com", "PUT", "x-secret"),
    ] {
        assert_eq!(refused.status(), 204);
        assert!(refused
            .headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-allow")));
    }
    assert_eq!(up.hits(), 0, "no preflight was forwarded");
}

#[test]
fn actual_requests_get_the_headers_only_for_allowed_origins() {
    let up = RecordingUpstream::start();
    let p = start(&with_cors(up.addr, "\"https://app.example.com\""));
    let c = client();
    let ok = c
        .get(p.url("/api/items"))
        .header("origin", "https://app.example.com")
        .send()
        .unwrap();
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-expose-headers"], "X-Request-Id");
    assert_eq!(h["vary"], "Origin");
    let foreign = c
        .get(p.url("/api/items"))
        .header("origin", "https://evil.test")
        .send()
        .unwrap();
    assert_eq!(
        foreign.status(),
        200,
        "CORS is the browser's call; the request is served"
    );
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    // Rampart's own answers carry them too, so the page can read the error.
    let missing = c
        .get(p.url("/nowhere"))
        .header("origin", "https://app.example.com")
        .send()
        .unwrap();
    assert_eq!(
        missing.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_problem(missing, 404, "not_found");
    // A route's own `cors` replaces the top-level one.
    let public = c
        .get(p.url("/public/x"))
        .header("origin", "https://anyone.test")
        .send()
        .unwrap();
    assert_eq!(
        public.headers()["access-control-allow-origin"],
        "https://anyone.test"
    );
    assert!(public
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
}

/// Serves, on `listener`, one HTML page whose script calls `api` with a preflighted,
/// credentialed PUT and writes the outcome into the page.
fn page_server(listener: TcpListener, api: String) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    let html = format!(
        "<!doctype html><html><body><p id=r>pending</p><script>\
fetch('{api}', {{method: 'PUT', credentials: 'include', \
headers: {{'Content-Type': 'application/json', 'X-Api-Key': 'k1'}}, body: '{{}}'}})\
.then(r => r.text().then(t => document.getElementById('r').textContent = \
'ALLOWED ' + r.status + ' id=' + (r.headers.get('X-Request-Id') ? 'yes' : 'no')))\
.catch(e => document.getElementById('r').textContent = 'BLOCKED ' + e);\
</script></body></html>"
    );
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut conn = conn;
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
        }
    });
    addr
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

fn browse(browser: &str, page: SocketAddr) -> String {
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("http://{page}/"))
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_real_browser_calls_the_api_from_an_allowed_origin_and_is_blocked_from_another() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED: Chromium is not installed here (./test installs Debian's `chromium`); \
             the browser CORS test did not run"
        );
        return;
    };
    let up = RecordingUpstream::start();
    // Each page's listener is bound first: its origin goes into the config.
    let allowed_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let allowed_origin = format!("http://{}", allowed_listener.local_addr().unwrap());
    let p = start(&with_cors(up.addr, &format!("\"{allowed_origin}\"")));
    let api = p.url("/api/items");
    let allowed = page_server(allowed_listener, api.clone());
    let foreign = page_server(TcpListener::bind("127.0.0.1:0").unwrap(), api);

    let dom = browse(browser, allowed);
    assert!(dom.contains("ALLOWED 200 id=yes"), "allowed origin: {dom}");
    let puts = up.seen().iter().filter(|s| s.method == "PUT").count();
    assert_eq!(puts, 1);

    let dom = browse(browser, foreign);
    assert!(dom.contains("BLOCKED"), "foreign origin: {dom}");
    let puts = up.seen().iter().filter(|s| s.method == "PUT").count();
    assert_eq!(puts, 1, "the browser never sent the foreign page's PUT");
    assert!(
        up.seen().iter().all(|s| s.method != "OPTIONS"),
        "preflights stayed in Rampart"
    );
}
