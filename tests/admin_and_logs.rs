//! The admin listener and the access log, as an operator sees them.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn livez_readyz_and_unknown_endpoints() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    let c = client();
    let resp = c.get(p.admin_url("/livez")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("server").is_none());
    assert_eq!(c.get(p.admin_url("/readyz")).send().unwrap().status(), 200);
    assert_problem(
        c.get(p.admin_url("/nope")).send().unwrap(),
        404,
        "not_found",
    );
    assert_problem(
        c.post(p.admin_url("/livez")).send().unwrap(),
        405,
        "method_not_allowed",
    );
    // Refusals of the admin listener are logged (route `admin`) and stay out of the public
    // request metrics.
    let logged = p
        .wait_for_log(|l| l.contains("\"route\":\"admin\"") && l.contains("\"path\":\"/nope\""))
        .expect("the admin refusal is logged");
    assert!(logged.contains("\"status\":404"), "{logged}");
    assert!(logged.contains("\"code\":\"not_found\""), "{logged}");
    let metrics = c
        .get(p.admin_url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        !metrics.contains("code=\"not_found\"") && !metrics.contains("route=\"admin\""),
        "admin refusals in the public metrics:\n{metrics}"
    );
}

/// The admin's `invalid_config` and `unauthorized` are problems like any other (SPEC §4, §5).
#[test]
fn admin_refusals_are_problems_from_the_one_answer() {
    let up = RecordingUpstream::start();
    let yaml = config(up.addr, DEFAULT_ROUTE).replace(
        "  threads: 2\n",
        "  threads: 2\n  admin_token: an-admin-token-of-at-least-32-characters\n",
    );
    let p = start(&yaml);
    let c = client();
    let denied = c.post(p.admin_url("/-/reload")).send().unwrap();
    assert_eq!(denied.headers()["www-authenticate"], "Bearer");
    assert_problem(denied, 401, "unauthorized");
    p.rewrite_config("routes: [");
    let refused = c
        .post(p.admin_url("/-/reload"))
        .bearer_auth("an-admin-token-of-at-least-32-characters")
        .send()
        .unwrap();
    let body = assert_problem(refused, 400, "invalid_config");
    assert!(body["errors"][0].as_str().is_some(), "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("previous one keeps serving"),
        "{body}"
    );
}

#[test]
fn metrics_count_requests_latency_and_build() {
    let up = RecordingUpstream::start();
    let p = start(&config(
        up.addr,
        "  - { name: api, match: { path_regex: \"^/(api|status)\" }, upstream: app }",
    ));
    let c = client();
    for _ in 0..3 {
        c.get(p.url("/api/x")).send().unwrap();
    }
    c.post(p.url("/status/503"))
        .body(vec![b'x'; 1000])
        .send()
        .unwrap();
    c.get(p.url("/missing")).send().unwrap();
    let text = c
        .get(p.admin_url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for family in [
        "rampart_requests_total",
        "rampart_request_duration_seconds",
        "rampart_upstream_request_duration_seconds",
        "rampart_build_info",
        "rampart_config_generation",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "missing {family}"
        );
    }
    assert_eq!(
        metric(
            &p,
            r#"rampart_requests_total{method="GET",route="api",status="200"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        metric(
            &p,
            r#"rampart_requests_total{method="POST",route="api",status="503"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &p,
            r#"rampart_requests_total{method="GET",route="",status="404"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&p, r#"rampart_request_duration_seconds_count{route="api"}"#),
        Some(4.0)
    );
    // Body bytes, as the access log's bytes_in / bytes_out count them.
    let bytes_in = metric(&p, r#"rampart_request_bytes_total{route="api"}"#).unwrap();
    let bytes_out = metric(&p, r#"rampart_response_bytes_total{route="api"}"#).unwrap();
    assert_eq!(bytes_in, 1000.0);
    assert!(bytes_out > 0.0, "{bytes_out}");
    // This scrape's own connection is open on the admin listener; the client's keep-alive
    // connection on the public one.
    assert!(metric(&p, r#"rampart_connections_open{listener="admin"}"#).unwrap() >= 1.0);
    assert!(metric(&p, r#"rampart_connections_open{listener="public"}"#).is_some());
    assert_eq!(
        metric(&p, "rampart_config_last_reload_successful"),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &p,
            r#"rampart_upstream_request_duration_seconds_count{upstream="app"}"#
        ),
        Some(4.0)
    );
    assert_eq!(
        metric(
            &p,
            &format!(
                "rampart_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        Some(1.0)
    );
    // Label values come from config names, never from request data.
    assert!(!text.contains("/api/x") && !text.contains("missing"));
}

fn access_line(p: &RampartProcess, request_id: &str) -> serde_json::Value {
    let line = p
        .wait_for_log(|l| l.contains("\"request_id\"") && l.contains(request_id))
        .expect("access log line");
    serde_json::from_str(&line).expect("one JSON object per line")
}

#[test]
fn access_log_is_one_json_line_per_request() {
    let up = RecordingUpstream::start();
    let p = start(&config(
        up.addr,
        "  - { name: api, match: { path_regex: \"^/(api|echo)\" }, upstream: app }",
    ));
    let c = client();
    c.post(p.url("/echo?token=secret"))
        .header("x-request-id", "log-1")
        .header("user-agent", "pytest/8")
        .header("authorization", "Bearer hunter2")
        .body("12345")
        .send()
        .unwrap();
    let v = access_line(&p, "log-1");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ACCESS_LOG_FIELDS);
    assert_eq!(v["method"], "POST");
    assert_eq!(
        v["path"], "/echo",
        "the query string (which may hold secrets) is not logged"
    );
    assert_eq!(v["route"], "api");
    assert_eq!(v["upstream"], "app");
    assert_eq!(v["endpoint"], up.addr.to_string());
    assert_eq!(v["status"], 200);
    assert_eq!(v["bytes_in"], 5);
    assert_eq!(v["bytes_out"], 5);
    assert_eq!(v["user_agent"], "pytest/8");
    assert_eq!(v["client_ip"], "127.0.0.1");
    assert!(v["upstream_ms"].is_number());
    assert!(
        !p.logs().iter().any(|l| l.contains("hunter2")),
        "authorization is never printed"
    );

    c.get(p.url("/nowhere"))
        .header("x-request-id", "log-2")
        .send()
        .unwrap();
    let v = access_line(&p, "log-2");
    assert_eq!(v["route"], serde_json::Value::Null);
    assert_eq!(v["status"], 404);
    assert_eq!(v["code"], "not_found");
}

#[test]
fn redacted_headers_are_never_logged_and_pretty_format_is_human() {
    let up = RecordingUpstream::start();
    let cfg = config(up.addr, DEFAULT_ROUTE).replace(
        "logging:\n  access_log: true\n",
        "logging:\n  access_log: true\n  format: pretty\n  redact_headers: [user-agent]\n",
    );
    let p = start(&cfg);
    client()
        .get(p.url("/x"))
        .header("x-request-id", "pretty-1")
        .header("user-agent", "secret-agent")
        .send()
        .unwrap();
    let line = p
        .wait_for_log(|l| l.contains("pretty-1"))
        .expect("access line");
    assert!(line.contains("GET /x 200"), "{line}");
    assert!(!p.logs().iter().any(|l| l.contains("secret-agent")));
}

#[test]
fn sighup_does_not_kill_and_sigterm_drains_then_exits() {
    let up = RecordingUpstream::start();
    let cfg = config(up.addr, DEFAULT_ROUTE).replace(
        "  environment: development\n",
        "  environment: development\n  grace_period: 1s\n",
    );
    let mut p = start(&cfg);
    let c = client();
    p.signal(libc::SIGHUP);
    assert_eq!(
        c.get(p.url("/x")).send().unwrap().status(),
        200,
        "SIGHUP's default action would have killed it"
    );
    assert!(p.wait_exit(std::time::Duration::ZERO).is_none());

    // Keep a connection to the admin listener open: new connections stop being accepted.
    assert_eq!(c.get(p.admin_url("/readyz")).send().unwrap().status(), 200);
    p.signal(libc::SIGTERM);
    p.wait_for_log(|l| l.contains("shutdown requested"))
        .expect("drain log line");
    assert_eq!(c.get(p.admin_url("/readyz")).send().unwrap().status(), 503);
    let status = p
        .wait_exit(std::time::Duration::from_secs(30))
        .expect("exits after the grace period");
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_admin_listener_has_the_head_deadline_and_a_connection_cap() {
    // Found on 0.1: a head trickled one byte every 10 s held an admin connection 81 s, and
    // the admin listener took any number of connections.
    let up = RecordingUpstream::start();
    let yaml = config(up.addr, DEFAULT_ROUTE)
        .replace("logging:", "client:\n  header_timeout: 1s\nlogging:");
    let p = start(&yaml);
    let mut slow = TcpStream::connect(p.admin).unwrap();
    slow.write_all(b"GET /livez HTTP/1.1\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert_eq!(raw_status(&answer), 408, "{answer}");

    // 64 kept-alive connections, each with one answered request (so each is counted)...
    let mut held = Vec::new();
    for _ in 0..64 {
        let mut s = TcpStream::connect(p.admin).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"GET /livez HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(s);
    }
    // ... and the 65th is refused at once.
    let refused = raw(p.admin, b"GET /livez HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(raw_status(&refused), 503, "{refused}");
    drop(held);
    // Once they close, the admin listener serves again.
    assert!(eventually(|| client()
        .get(p.admin_url("/livez"))
        .send()
        .is_ok_and(|r| r.status() == 200)));
}
