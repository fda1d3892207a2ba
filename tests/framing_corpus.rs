//! A corpus of raw requests sent over a raw TCP socket: framing and smuggling attempts,
//! header hygiene, request-line and Host games, and clean requests. Each case names the
//! status Rampart answers and whether the app may see the request.
//!
//! Compared with NGINX 1.22 (Debian) as a reverse proxy (`compare_with_nginx` below, run with
//! `cargo test --test framing_corpus -- --ignored --nocapture`). Same answers for duplicate or
//! invalid Content-Length, CL+TE (both refuse; NGINX says 501 where we say 400), control bytes
//! and obs-fold in values, HTTP/1.1 without Host, bad chunk framing, and (SPEC 0.2) for what
//! NGINX serves: `Transfer-Encoding: CHUNKED` in any case, chunk sizes with leading zeros,
//! header names with `_` (dropped, the request served), absolute-form targets naming the
//! Host (sent to the app in origin form), `HTTP/1.2` served as 1.1, pipelined requests.
//! Rampart deliberately differs where NGINX passes something on that the app behind could
//! read another way:
//! - `Transfer-Encoding` other than `chunked` (`gzip, chunked`, `identity`): NGINX 501, we 400.
//! - Header names with other non-token bytes (`Bad(Header)`, `Héader`) and a header line
//!   without a colon: NGINX drops the field and forwards the request (200); we refuse it (400).
//! - Bare LF line endings and doubled spaces in the request line: NGINX accepts; we refuse.
//! - An absolute-form target naming another host than `Host`: NGINX routes on the target;
//!   we refuse, so the app never sees another authority than the one we routed on. Host
//!   values with userinfo or a query: NGINX forwards; we refuse.
//! - `CONNECT`: 405 (NGINX 400). `HTTP/2.0` in an HTTP/1 request line: 400 (NGINX 505).
//! - Sizes: 414 / 431 with our own limits (NGINX answers 400 for an oversize header buffer).
mod common;
use common::*;
use std::net::SocketAddr;

struct Case {
    name: String,
    raw: Vec<u8>,
    status: u16,
    /// The app sees the request (with exactly this method, target and body).
    forwarded: Option<(&'static str, &'static str, &'static [u8])>,
    /// A header (sent by the client) the app must not see.
    absent: Option<&'static str>,
}

fn case(name: impl Into<String>, raw: impl Into<Vec<u8>>, status: u16) -> Case {
    Case {
        name: name.into(),
        raw: raw.into(),
        status,
        forwarded: None,
        absent: None,
    }
}

fn clean(
    name: &str,
    raw: &str,
    method: &'static str,
    target: &'static str,
    body: &'static [u8],
) -> Case {
    Case {
        name: name.into(),
        raw: raw.as_bytes().to_vec(),
        status: 200,
        forwarded: Some((method, target, body)),
        absent: None,
    }
}

fn head(lines: &str) -> Vec<u8> {
    format!("{lines}\r\n\r\n").into_bytes()
}

fn corpus() -> Vec<Case> {
    let mut c = Vec::new();

    // --- Content-Length and Transfer-Encoding together or repeated ---
    for (i, (cl, te)) in [
        ("5", "chunked"),
        ("0", "chunked"),
        ("5", "identity"),
        ("5", "Chunked"),
        ("5", "chunked, identity"),
    ]
    .iter()
    .enumerate()
    {
        c.push(case(format!("cl+te {i}"), format!("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: {cl}\r\nTransfer-Encoding: {te}\r\n\r\nhello"), 400));
        c.push(case(format!("te+cl {i}"), format!("POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\nContent-Length: {cl}\r\n\r\nhello"), 400));
    }
    for (i, pair) in [("5", "5"), ("5", "6"), ("0", "5"), ("5", "")]
        .iter()
        .enumerate()
    {
        c.push(case(format!("two content-length {i}"), format!("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nContent-Length: {}\r\n\r\nhello", pair.0, pair.1), 400));
    }
    c.push(case("two transfer-encoding", "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400));
    c.push(case("te chunked then identity", "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", 400));

    // --- Invalid Content-Length values ---
    for (i, v) in [
        "+5",
        "-5",
        "0x5",
        "5,5",
        "5, 5",
        "5 5",
        "five",
        "1e3",
        "5.0",
        "99999999999999999999",
        "",
        "\u{0}5",
        "5;",
        "05a",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("bad content-length {i} {v:?}"),
            format!("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\nhello"),
            400,
        ));
    }

    // --- Transfer-Encoding obfuscations ---
    for (i, v) in [
        "xchunked",
        "chunkedx",
        "chunked, identity",
        "identity, chunked",
        "gzip, chunked",
        "chunked;q=1",
        "chunk",
        "\tchunked",
        "chunked\t",
        "identity",
        "gzip",
        "\"chunked\"",
        "chunked,",
        ", chunked",
        "chunked chunked",
        "x-chunked",
        "chunked\u{7f}",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("te obfuscation {i} {v:?}"),
            format!("POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {v}\r\n\r\n0\r\n\r\n"),
            400,
        ));
    }
    c.push(case(
        "te header name with space before colon",
        "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        400,
    ));
    c.push(case(
        "te on http/1.0",
        "POST /e HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ));
    c.push(case(
        "te folded",
        "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        400,
    ));

    // --- Chunked framing (the corpus route buffers bodies: the app sees none of these) ---
    for (i, body) in [
        "zz\r\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "5 5\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
        "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        "5\nhello\n0\n\n",
        "5;\u{0}\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n\r\n",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("bad chunk {i} {body:?}"),
            format!("POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}"),
            400,
        ));
    }
    c.push(case("chunked over the limit", format!("POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10001\r\n{}\r\n0\r\n\r\n", "x".repeat(65537)), 413));

    // --- Header names ---
    // Names with `_`: dropped, the request served (`underscores_in_headers: drop`, as NGINX).
    for name in [
        "X_Forwarded_For",
        "Content_Length",
        "Transfer_Encoding",
        "X_Real_IP",
        "x_api_key",
        "_",
        "A_B",
    ] {
        let mut dropped = clean(
            &format!("underscore header {name:?} dropped"),
            &format!("GET /e HTTP/1.1\r\nHost: a\r\n{name}: 5\r\nConnection: close\r\n\r\n"),
            "GET",
            "/e",
            b"",
        );
        dropped.absent = Some(name);
        c.push(dropped);
    }
    for (i, name) in [
        "Bad Header",
        "Bad(Header)",
        "Bad@Header",
        "Bad[Header]",
        "Bad\"Header",
        "Bad/Header",
        "Bad;Header",
        "Bad=Header",
        "Bad{Header}",
        "Bad\\Header",
        "Bad?Header",
        "Bad,Header",
        "Héader",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("header name {i} {name:?}"),
            head(&format!("GET /e HTTP/1.1\r\nHost: a\r\n{name}: v")),
            400,
        ));
    }
    c.push(case(
        "empty header name",
        head("GET /e HTTP/1.1\r\nHost: a\r\n: v"),
        400,
    ));
    c.push(case(
        "header without colon",
        head("GET /e HTTP/1.1\r\nHost: a\r\nNoColon"),
        400,
    ));
    c.push(case(
        "space before colon",
        head("GET /e HTTP/1.1\r\nHost: a\r\nX-A : v"),
        400,
    ));

    // --- Header values: NUL, CR, LF, control bytes, obs-fold ---
    for (i, v) in [
        "a\u{0}b", "a\rb", "a\u{1}b", "a\u{1b}b", "a\u{7f}b", "\u{0}", "a\u{8}b", "a\u{b}b",
        "a\u{c}b", "a\u{1f}b",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("value control {i} {v:?}"),
            head(&format!("GET /e HTTP/1.1\r\nHost: a\r\nX-A: {v}")),
            400,
        ));
    }
    c.push(case(
        "obs-fold space",
        head("GET /e HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two"),
        400,
    ));
    c.push(case(
        "obs-fold tab",
        head("GET /e HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo"),
        400,
    ));
    c.push(case(
        "obs-fold first header",
        head("GET /e HTTP/1.1\r\n X-A: v\r\nHost: a"),
        400,
    ));

    // --- Line endings ---
    c.push(case(
        "bare lf everywhere",
        "GET /e HTTP/1.1\nHost: a\n\n",
        400,
    ));
    c.push(case(
        "bare lf in one header",
        "GET /e HTTP/1.1\r\nHost: a\nX-A: v\r\n\r\n",
        400,
    ));
    c.push(case(
        "bare lf at the end",
        "GET /e HTTP/1.1\r\nHost: a\r\n\n",
        400,
    ));
    c.push(case("bare cr", "GET /e HTTP/1.1\rHost: a\r\n\r\n", 400));
    c.push(case(
        "lf request line",
        "GET /e HTTP/1.1\nHost: a\r\n\r\n",
        400,
    ));

    // --- Request line ---
    for (i, line) in [
        "GET http://other.example/ HTTP/1.1",
        "GET http://user@a/e HTTP/1.1",
        "GET ftp://a/e HTTP/1.1",
        "GET //a/e HTTP/1.1x",
        "GET a:80 HTTP/1.1",
        "GET * HTTP/1.1",
        "GET /e HTTP/1.2x",
        "GET /e HTTP/2.0",
        "GET /e http/1.1",
        "GET /e",
        "GET  /e HTTP/1.1",
        "GET /e  HTTP/1.1",
        "GET\t/e HTTP/1.1",
        "get /e HTTP/1.1",
        "Get /e HTTP/1.1",
        "G@T /e HTTP/1.1",
        " GET /e HTTP/1.1",
        "GET /e HTTP/1.1 extra",
        "GET /a b HTTP/1.1",
        "GET /e\u{0} HTTP/1.1",
        "GET e HTTP/1.1",
        "GET /bad%zz HTTP/1.1",
        "GET /bad%4 HTTP/1.1",
        "/e HTTP/1.1",
        "GET /e HTTP/1.1\u{1}",
        "GET /\u{7f} HTTP/1.1",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("request line {i} {line:?}"),
            head(&format!("{line}\r\nHost: a")),
            400,
        ));
    }
    c.push(case(
        "connect",
        head("CONNECT a:443 HTTP/1.1\r\nHost: a:443"),
        405,
    ));

    // --- Host ---
    c.push(case("no host on 1.1", head("GET /e HTTP/1.1"), 400));
    c.push(case(
        "two hosts",
        head("GET /e HTTP/1.1\r\nHost: a\r\nHost: b"),
        400,
    ));
    c.push(case(
        "same host twice",
        head("GET /e HTTP/1.1\r\nHost: a\r\nHost: a"),
        400,
    ));
    c.push(case(
        "host with userinfo",
        head("GET /e HTTP/1.1\r\nHost: user@a"),
        400,
    ));
    c.push(case(
        "host with path",
        head("GET /e HTTP/1.1\r\nHost: a/b"),
        400,
    ));
    c.push(case(
        "host with space",
        head("GET /e HTTP/1.1\r\nHost: a b"),
        400,
    ));
    c.push(case("empty host", head("GET /e HTTP/1.1\r\nHost: "), 400));
    c.push(case(
        "host with query",
        head("GET /e HTTP/1.1\r\nHost: a?b"),
        400,
    ));

    // --- Sizes ---
    c.push(case(
        "uri too long",
        head(&format!("GET /{} HTTP/1.1\r\nHost: a", "u".repeat(3000))),
        414,
    ));
    c.push(case(
        "header too large",
        head(&format!(
            "GET /e HTTP/1.1\r\nHost: a\r\nX-A: {}",
            "v".repeat(5000)
        )),
        431,
    ));
    let many: String = (0..30).map(|i| format!("\r\nX-H{i}: v")).collect();
    c.push(case(
        "too many headers",
        head(&format!("GET /e HTTP/1.1\r\nHost: a{many}")),
        431,
    ));
    c.push(case(
        "declared body too large",
        format!(
            "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            1 << 20
        ),
        413,
    ));

    // --- Clean requests the app must see exactly ---
    c.push(clean(
        "get",
        "GET /e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "get query",
        "GET /e?x=1&y=%20 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e?x=1&y=%20",
        b"",
    ));
    c.push(clean(
        "post cl",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        "POST",
        "/echo",
        b"hello",
    ));
    c.push(clean("post chunked", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "POST", "/echo", b"hello"));
    c.push(clean("post chunked two chunks", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", "POST", "/echo", b"hello"));
    c.push(clean(
        "put empty body",
        "PUT /e HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "PUT",
        "/e",
        b"",
    ));
    c.push(clean(
        "delete",
        "DELETE /e/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "DELETE",
        "/e/1",
        b"",
    ));
    c.push(clean(
        "patch",
        "PATCH /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        "PATCH",
        "/echo",
        b"{}",
    ));
    c.push(clean(
        "http/1.0 no host",
        "GET /e HTTP/1.0\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "host with port",
        "GET /e HTTP/1.1\r\nHost: a:8080\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "ipv6 host",
        "GET /e HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "space padded value",
        "GET /e HTTP/1.1\r\nHost: a\r\nX-A:    padded   \r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "tab in ordinary value",
        "GET /e HTTP/1.1\r\nHost: a\r\nX-A: a\tb\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "obs-text value",
        "GET /e HTTP/1.1\r\nHost: a\r\nX-A: caf\u{e9}\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "dot segments normalized",
        "GET /a/../e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "double slash normalized",
        "GET //e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "encoded unreserved normalized",
        "GET /%65 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "encoded slash kept",
        "GET /a%2fb HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/a%2Fb",
        b"",
    ));
    c.push(case(
        "options star",
        head("OPTIONS * HTTP/1.1\r\nHost: a"),
        400,
    ));
    c.push(clean(
        "leading zeros content-length",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\nConnection: close\r\n\r\nhello",
        "POST",
        "/echo",
        b"hello",
    ));
    c.push(clean(
        "custom method",
        "PURGE /e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "PURGE",
        "/e",
        b"",
    ));
    // --- Accepted where NGINX accepts them (found on 0.1: all refused with 400) ---
    for te in ["Chunked", "CHUNKED", "cHuNkEd"] {
        c.push(clean(
            &format!("te {te:?} in any case"),
            &format!("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            "POST",
            "/echo",
            b"hello",
        ));
    }
    c.push(clean("chunk sizes with leading zeros", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n00000000000000000005\r\nhello\r\n000\r\n\r\n", "POST", "/echo", b"hello"));
    c.push(clean(
        "absolute-form naming the host",
        "GET http://a/e?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e?x=1",
        b"",
    ));
    c.push(clean(
        "absolute-form https, host in another case",
        "GET HTTPS://A/e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "http/1.2 served as 1.1",
        "GET /e HTTP/1.2\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "hyphenated header",
        "GET /e HTTP/1.1\r\nHost: a\r\nX-Api-Key: k\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c
}

fn corpus_config(upstream: SocketAddr) -> String {
    config(upstream, DEFAULT_ROUTE).replace(
        "upstreams:",
        "client:\n  max_uri_bytes: 2KiB\n  max_header_bytes: 4KiB\n  max_headers: 20\n  max_body_bytes: 64KiB\nupstreams:",
    )
}

#[test]
fn every_case_gets_its_status_and_nothing_unclean_reaches_the_app() {
    let cases = corpus();
    assert!(cases.len() >= 150, "the corpus has {} cases", cases.len());
    let up = RecordingUpstream::start();
    let p = start(&corpus_config(up.addr));
    let mut failures = Vec::new();
    for case in &cases {
        let before = up.hits();
        let answer = raw(p.addr, &case.raw);
        let status = raw_status(&answer);
        let after = up.hits();
        if status != case.status {
            failures.push(format!(
                "{}: expected {}, got {status}: {:?}",
                case.name,
                case.status,
                answer.lines().next()
            ));
            continue;
        }
        match case.forwarded {
            None => {
                if after != before {
                    failures.push(format!("{}: reached the app", case.name));
                }
                let lower = answer.to_ascii_lowercase();
                if !lower.contains("content-type: application/problem+json")
                    || lower.contains("server:")
                {
                    failures.push(format!("{}: not our problem+json: {answer:?}", case.name));
                }
            }
            Some((method, target, body)) => {
                let seen = up.last();
                let leaked = case.absent.is_some_and(|h| seen.headers.contains_key(h));
                if after != before + 1
                    || seen.method != method
                    || seen.uri != target
                    || seen.body != body
                    || leaked
                {
                    failures.push(format!(
                        "{}: app saw {} {} {:?}",
                        case.name, seen.method, seen.uri, seen.body
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Replays the corpus against NGINX from Debian as a reverse proxy to the same kind of
/// upstream and prints where the answers differ (the notes at the top of this file).
#[test]
#[ignore]
fn compare_with_nginx() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.path().display();
    let conf = format!(
        "daemon off; worker_processes 1; error_log stderr crit; pid {d}/pid;\nevents {{}}\nhttp {{ access_log off;\n\
         client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
         large_client_header_buffers 4 4k; client_max_body_size 64k;\n\
         server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://{}; proxy_http_version 1.1; }} }} }}\n",
        up.addr
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let mut nginx = std::process::Command::new("nginx")
        .args(["-c", &format!("{d}/nginx.conf"), "-p", &d.to_string()])
        .spawn()
        .expect("nginx");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for case in corpus() {
        let before = up.hits();
        let answer = raw_with_timeout(addr, &case.raw, std::time::Duration::from_millis(500));
        let status = raw_status(&answer);
        let forwarded = up.hits() > before;
        if status != case.status || forwarded != case.forwarded.is_some() {
            println!(
                "{:<45} rampart {} nginx {status} (app saw it: {forwarded})",
                case.name, case.status
            );
        }
    }
    let _ = nginx.kill();
    let _ = nginx.wait();
}
