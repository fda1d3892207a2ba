//! When the app misbehaves: the fault suite, the circuit breaker (and fallback), retries.
mod common;
use common::*;
use std::net::SocketAddr;

fn yaml(upstream_block: &str, routes: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  threads: 2\n\
upstreams:\n{upstream_block}routes:\n{routes}"
    )
}

fn app(endpoints: &[SocketAddr], extra: &str) -> String {
    let list: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "  app:\n    endpoints: [{}]\n    connect_timeout: 500ms\n    read_timeout: 500ms\n{extra}",
        list.join(", ")
    )
}

const CATCH_ALL: &str = "  - { name: api, match: { path_prefix: / }, upstream: app }\n";

fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn each_fault_gets_the_right_answer_quickly() {
    let faulty = FaultyUpstream::start();
    let p = start(&yaml(&app(&[faulty.addr], ""), CATCH_ALL));
    let c = client();
    // (path, status, code): each must answer well within the client's 20 s.
    // (path, status, code). The client's own timeout (20 s) is the hang detector: every
    // fault must be answered by Rampart's timeouts (500 ms here), never by the client's.
    for (path, status, code) in [
        ("/reset", None, None),
        ("/silent", Some(504), Some("upstream_timeout")),
        ("/slow-headers", Some(504), Some("upstream_timeout")),
        ("/malformed", Some(502), Some("bad_gateway")),
        ("/huge-headers", Some(502), Some("bad_gateway")),
        ("/truncated", None, None),
        ("/ok", Some(200), None),
    ] {
        let result = c.get(p.url(path)).send();
        if let Err(e) = &result {
            assert!(!e.is_timeout(), "{path} hung");
        }
        match (status, code) {
            (Some(s), Some(code)) => {
                assert_problem(result.unwrap(), s, code);
            }
            (Some(s), None) => assert_eq!(result.unwrap().status(), s),
            // The head may already be on its way: the client sees the response cut short.
            (None, _) => {
                if let Ok(resp) = result {
                    let body = resp.bytes();
                    assert!(body.is_err(), "{path}: a cut body must not look whole");
                    assert!(!body.unwrap_err().is_timeout(), "{path} hung");
                }
            }
        }
    }
    // Nothing panicked: the process still serves.
    assert_eq!(c.get(p.admin_url("/livez")).send().unwrap().status(), 200);
    assert_eq!(c.get(p.url("/ok")).send().unwrap().status(), 200);
}

#[test]
fn connection_refused_is_502_and_an_app_restart_is_followed() {
    let up = RecordingUpstream::start();
    let addr = up.addr;
    let p = start(&yaml(&app(&[addr], ""), CATCH_ALL));
    let c = client();
    assert_eq!(c.get(p.url("/a")).send().unwrap().status(), 200);
    drop(up); // the app goes away...
    assert_problem(
        c.get(p.url("/b")).send().unwrap(),
        502,
        "upstream_unavailable",
    );
    let back = RecordingUpstream::start_on(addr); // ...and comes back on its port
    assert_eq!(c.get(p.url("/c")).send().unwrap().status(), 200);
    assert_eq!(back.hits(), 1);
}

fn breaker(extra: &str) -> String {
    format!(
        "    circuit_breaker: {{ consecutive_failures: 3, open_for: 1s, half_open_requests: 2{extra} }}\n"
    )
}

#[test]
fn the_breaker_opens_fails_fast_then_half_opens_and_closes() {
    let up = RecordingUpstream::start();
    let p = start(&yaml(&app(&[up.addr], &breaker("")), CATCH_ALL));
    let c = client();
    for _ in 0..3 {
        assert_eq!(c.get(p.url("/status/503")).send().unwrap().status(), 503);
    }
    // Open: the app is not called, the client is told when to come back.
    let resp = c.get(p.url("/ok")).send().unwrap();
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_problem(resp, 503, "circuit_open");
    assert_eq!(up.hits(), 3);
    assert_eq!(
        metric(&p, "rampart_circuit_breaker_state{upstream=\"app\"}"),
        Some(2.0)
    );
    let health = c.get(p.admin_url("/health")).send().unwrap();
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().unwrap();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["upstreams"][0]["breaker"], "open");
    // 0.1 answered 503 here: every replica went unready at once during the app's outage.
    assert_eq!(c.get(p.admin_url("/readyz")).send().unwrap().status(), 200);
    // After open_for the breaker lets two trials through; both succeed: closed.
    assert!(eventually(
        || c.get(p.url("/ok")).send().unwrap().status() == 200
    ));
    assert_eq!(c.get(p.url("/ok")).send().unwrap().status(), 200);
    // A call's outcome is reported when the request ends, just after its answer is sent.
    assert!(eventually(|| metric(
        &p,
        "rampart_circuit_breaker_state{upstream=\"app\"}"
    ) == Some(0.0)));
    for to in ["open", "half_open", "closed"] {
        let selector =
            format!("rampart_circuit_breaker_transitions_total{{to=\"{to}\",upstream=\"app\"}}");
        assert_eq!(metric(&p, &selector), Some(1.0), "{to}");
    }
    assert_eq!(c.get(p.admin_url("/readyz")).send().unwrap().status(), 200);
}

#[test]
fn an_open_breaker_makes_the_instance_unready_only_when_configured() {
    let up = RecordingUpstream::start();
    let yaml = yaml(&app(&[up.addr], &breaker("")), CATCH_ALL)
        + "health: { unready_when_breaker_open: true }\n";
    let p = start(&yaml);
    let c = client();
    assert_eq!(c.get(p.admin_url("/readyz")).send().unwrap().status(), 200);
    for _ in 0..3 {
        assert_eq!(c.get(p.url("/status/503")).send().unwrap().status(), 503);
    }
    // The third failure is recorded when its request ends, just after its answer is sent.
    assert!(eventually(|| c
        .get(p.admin_url("/readyz"))
        .send()
        .unwrap()
        .status()
        == 503));
}

#[test]
fn client_errors_never_open_the_breaker_and_a_failed_trial_reopens() {
    let up = RecordingUpstream::start();
    let p = start(&yaml(&app(&[up.addr], &breaker("")), CATCH_ALL));
    let c = client();
    for _ in 0..10 {
        assert_eq!(c.get(p.url("/status/404")).send().unwrap().status(), 404);
    }
    assert_eq!(
        c.get(p.url("/status/500")).send().unwrap().status(),
        500,
        "500 is not listed"
    );
    for _ in 0..3 {
        c.get(p.url("/status/502")).send().unwrap();
    }
    assert_problem(c.get(p.url("/ok")).send().unwrap(), 503, "circuit_open");
    // The first trial fails: open again, so the second request is refused.
    assert!(eventually(|| {
        c.get(p.url("/status/504"))
            .send()
            .unwrap()
            .headers()
            .get("content-type")
            != Some(&http::HeaderValue::from_static("application/problem+json"))
    }));
    assert_problem(c.get(p.url("/ok")).send().unwrap(), 503, "circuit_open");
}

#[test]
fn an_open_breaker_serves_the_route_fallback() {
    let up = RecordingUpstream::start();
    let routes = concat!(
        "  - name: intents\n    match: { path_prefix: / }\n    upstream: app\n",
        "    fallback: { status: 200, content_type: application/json, body: '{\"intent\":\"unknown\"}' }\n"
    );
    let p = start(&yaml(&app(&[up.addr], &breaker("")), routes));
    let c = client();
    for _ in 0..3 {
        c.get(p.url("/status/503")).send().unwrap();
    }
    let resp = c.get(p.url("/classify")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(resp.text().unwrap(), "{\"intent\":\"unknown\"}");
    assert_eq!(up.hits(), 3);
    let line = p
        .wait_for_log(|l| l.contains("\"code\":\"circuit_open\""))
        .unwrap();
    assert!(line.contains("\"status\":200"), "{line}");
}

#[test]
fn retries_go_to_another_endpoint_for_idempotent_requests_only() {
    let up = RecordingUpstream::start();
    let dead = closed_port();
    let retry = "    retry: { attempts: 2, backoff: 10ms, retry_on: [connect_failure] }\n";
    let p = start(&yaml(&app(&[dead, up.addr], retry), CATCH_ALL));
    let c = client();
    for _ in 0..4 {
        assert_eq!(c.get(p.url("/x")).send().unwrap().status(), 200);
    }
    assert_eq!(up.hits(), 4);
    // Each time round-robin chose the dead endpoint first, the retry went to the other.
    let retries = metric(
        &p,
        "rampart_retries_total{reason=\"connect_failure\",upstream=\"app\"}",
    );
    assert!(
        retries.is_some_and(|n| (1.0..=4.0).contains(&n)),
        "{retries:?}"
    );
    // POST is not retried unless it carries an Idempotency-Key; try both orders.
    let mut statuses = Vec::new();
    for _ in 0..2 {
        statuses.push(
            c.post(p.url("/x"))
                .body("{}")
                .send()
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    statuses.sort();
    assert_eq!(statuses, vec![200, 502]);
    for _ in 0..2 {
        let resp = c
            .post(p.url("/x"))
            .header("idempotency-key", "k-1")
            .body("{}")
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

#[test]
fn a_listed_status_is_retried_up_to_attempts_and_then_passed_on() {
    let up = RecordingUpstream::start();
    let retry = "    retry: { attempts: 2, backoff: 1ms, retry_on: [503] }\n";
    let p = start(&yaml(&app(&[up.addr], retry), CATCH_ALL));
    let c = client();
    let resp = c.get(p.url("/status/503")).send().unwrap();
    assert_eq!(
        resp.status(),
        503,
        "the app's own answer after the last try"
    );
    assert_eq!(resp.text().unwrap(), "status");
    assert_eq!(up.hits(), 3);
    assert_eq!(
        metric(&p, "rampart_retries_total{reason=\"503\",upstream=\"app\"}"),
        Some(2.0)
    );
    assert_eq!(c.get(p.url("/status/500")).send().unwrap().status(), 500);
    assert_eq!(up.hits(), 4, "500 is not listed: one try");
    let line = p
        .wait_for_log(|l| l.contains("\"path\":\"/status/503\""))
        .unwrap();
    assert!(line.contains("\"retries\":2"), "{line}");
}

#[test]
fn retries_and_the_breaker_count_a_request_once() {
    let up = RecordingUpstream::start();
    let extra = format!(
        "{}    retry: {{ attempts: 2, backoff: 1ms, retry_on: [503] }}\n",
        breaker("")
    );
    let p = start(&yaml(&app(&[up.addr], &extra), CATCH_ALL));
    let c = client();
    // Two requests = six tries but two breaker failures: still closed (3 needed).
    for _ in 0..2 {
        assert_eq!(c.get(p.url("/status/503")).send().unwrap().status(), 503);
    }
    assert_eq!(up.hits(), 6);
    assert_eq!(
        metric(&p, "rampart_circuit_breaker_state{upstream=\"app\"}"),
        Some(0.0)
    );
    assert_eq!(c.get(p.url("/status/503")).send().unwrap().status(), 503);
    assert_eq!(
        metric(&p, "rampart_circuit_breaker_state{upstream=\"app\"}"),
        Some(2.0)
    );
}
