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

#[path = "framing/cases.rs"]
mod cases;
use cases::corpus;

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
