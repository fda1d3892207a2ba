//! Active health checks, dependencies, `/health` and `/readyz`.
mod common;
use common::*;
use serde_json::Value;
use std::net::SocketAddr;

fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn health(p: &RampartProcess) -> (u16, Value) {
    let resp = client().get(p.admin_url("/health")).send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap())
}

fn readyz(p: &RampartProcess) -> u16 {
    client()
        .get(p.admin_url("/readyz"))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn checked(endpoints: &[SocketAddr], path: &str) -> String {
    let list: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n\
upstreams:\n  app:\n    endpoints: [{}]\n    connect_timeout: 300ms\n    \
health_check: {{ path: {path}, interval: 100ms, timeout: 300ms, healthy_after: 2, unhealthy_after: 2 }}\n\
routes:\n  - {{ name: api, match: {{ path_prefix: / }}, upstream: app }}\n",
        list.join(", ")
    )
}

fn endpoint_up(p: &RampartProcess, addr: SocketAddr) -> Option<f64> {
    metric(
        p,
        &format!("rampart_upstream_endpoint_up{{endpoint=\"{addr}\",upstream=\"app\"}}"),
    )
}

#[test]
fn a_failing_endpoint_is_taken_out_and_comes_back_after_its_restart() {
    let good = RecordingUpstream::start();
    let flaky = RecordingUpstream::start();
    let flaky_addr = flaky.addr;
    let p = start(&checked(&[good.addr, flaky_addr], "/health"));
    assert!(eventually(|| endpoint_up(&p, flaky_addr) == Some(1.0)));
    drop(flaky); // the second app instance dies
    assert!(eventually(|| endpoint_up(&p, flaky_addr) == Some(0.0)));
    let before = good.hits();
    let c = client();
    for _ in 0..10 {
        assert_eq!(c.get(p.url("/x")).send().unwrap().status(), 200);
    }
    let to_app = good.seen()[before..]
        .iter()
        .filter(|s| s.uri == "/x")
        .count();
    assert_eq!(to_app, 10, "no request went to the dead endpoint");
    let (status, body) = health(&p);
    assert_eq!(status, 200, "one endpoint is enough");
    let endpoints = &body["upstreams"][0]["endpoints"];
    assert_eq!(endpoints[1]["address"], flaky_addr.to_string());
    assert_eq!(endpoints[1]["status"], "down");
    assert!(endpoints[1]["last_check"].is_string());
    // It restarts on its port: after `healthy_after` good probes it takes traffic again.
    let back = RecordingUpstream::start_on(flaky_addr);
    assert!(eventually(|| endpoint_up(&p, flaky_addr) == Some(1.0)));
    assert!(back.seen().iter().any(|s| s.uri == "/health"));
}

#[test]
fn no_healthy_endpoint_is_503_unavailable_and_unready() {
    let faulty = FaultyUpstream::start();
    let p = start(&checked(&[faulty.addr], "/health-fail"));
    assert!(eventually(|| endpoint_up(&p, faulty.addr) == Some(0.0)));
    let seen = faulty.requests();
    let resp = client().get(p.url("/x")).send().unwrap();
    let body = assert_problem(resp, 503, "upstream_unavailable");
    assert_eq!(body["detail"], "no healthy endpoint for the app");
    assert!(
        faulty.requests() - seen <= 2,
        "only probes reached it meanwhile"
    );
    assert_eq!(readyz(&p), 503);
    let (status, body) = health(&p);
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["upstreams"][0]["status"], "down");
    assert_eq!(body["upstreams"][0]["endpoints"][0]["error"], "status 503");
}

fn with_dependencies(upstream: SocketAddr, deps: &str) -> String {
    format!(
        "{}health:\n  dependencies:\n{deps}",
        config(upstream, DEFAULT_ROUTE)
    )
}

fn dependency<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap()
}

#[test]
fn dependencies_make_health_degraded_or_unhealthy_but_never_unready() {
    let up = RecordingUpstream::start();
    let vector_store = RecordingUpstream::start();
    let silent = FaultyUpstream::start();
    let deps = format!(
        concat!(
            "    - {{ name: chromadb, http: \"http://{}/api/v1/heartbeat\", interval: 100ms }}\n",
            "    - {{ name: llm, http: \"http://{}/silent\", interval: 100ms, timeout: 200ms }}\n",
            "    - {{ name: postgres, tcp: \"{}\", critical: true, interval: 100ms }}\n"
        ),
        vector_store.addr, silent.addr, up.addr
    );
    let p = start(&with_dependencies(up.addr, &deps));
    // The hanging `llm` probe does not hold up the others.
    assert!(eventually(|| {
        let (_, body) = health(&p);
        dependency(&body, "chromadb")["status"] == "up"
            && dependency(&body, "postgres")["status"] == "up"
            && dependency(&body, "llm")["status"] == "down"
    }));
    let (status, body) = health(&p);
    assert_eq!(status, 200);
    assert_eq!(
        body["status"], "degraded",
        "only a non-critical one is down"
    );
    let llm = dependency(&body, "llm");
    assert!(
        llm["error"]
            .as_str()
            .unwrap()
            .starts_with("no answer within"),
        "{llm}"
    );
    assert_eq!(llm["critical"], false);
    assert!(dependency(&body, "chromadb")["latency_ms"].is_number());
    assert!(vector_store
        .seen()
        .iter()
        .any(|s| s.uri == "/api/v1/heartbeat"));
    assert_eq!(
        metric(
            &p,
            "rampart_dependency_up{critical=\"false\",dependency=\"llm\"}"
        ),
        Some(0.0)
    );
    assert_eq!(readyz(&p), 200);
    // Requests are not slowed by the probes: the app answers as usual.
    assert_eq!(client().get(p.url("/x")).send().unwrap().status(), 200);
}

#[test]
fn a_critical_dependency_down_is_unhealthy_and_still_ready() {
    let up = RecordingUpstream::start();
    let deps = format!(
        "    - {{ name: postgres, tcp: \"{}\", critical: true, interval: 100ms, timeout: 300ms }}\n",
        closed_port()
    );
    let p = start(&with_dependencies(up.addr, &deps));
    assert!(eventually(
        || health(&p).1["dependencies"][0]["status"] == "down"
    ));
    let (status, body) = health(&p);
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["dependencies"][0]["error"], "connection refused");
    assert_eq!(body["dependencies"][0]["latency_ms"], Value::Null);
    assert_eq!(
        readyz(&p),
        200,
        "a database outage must not empty the Service"
    );
    assert_eq!(
        metric(
            &p,
            "rampart_dependency_up{critical=\"true\",dependency=\"postgres\"}"
        ),
        Some(0.0)
    );
}

#[test]
fn health_reports_version_uptime_config_and_upstreams() {
    let up = RecordingUpstream::start();
    let p = start(&config(up.addr, DEFAULT_ROUTE));
    let (status, body) = health(&p);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64());
    assert_eq!(body["config"]["generation"], 1);
    assert_eq!(body["config"]["sha256"].as_str().unwrap().len(), 64);
    assert!(body["config"]["loaded_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["config"]["last_error"], Value::Null);
    let app = &body["upstreams"][0];
    assert_eq!(app["name"], "app");
    assert_eq!(app["status"], "up");
    assert_eq!(app["breaker"], "closed");
    assert_eq!(app["in_flight"], 0);
    assert_eq!(app["endpoints"][0]["address"], up.addr.to_string());
    assert_eq!(
        app["endpoints"][0]["last_check"],
        Value::Null,
        "no active check"
    );
    assert_eq!(body["dependencies"], serde_json::json!([]));
}

#[test]
fn a_reload_that_adds_a_health_check_starts_probing_at_once() {
    // The background loop sleeps until its next probe is due (an hour with none): the reload
    // must wake it, or the new check would wait that long.
    let up = RecordingUpstream::start();
    let without = format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n\
upstreams:\n  app:\n    endpoints: [\"{}\"]\n\
routes:\n  - {{ name: api, match: {{ path_prefix: / }}, upstream: app }}\n",
        up.addr
    );
    let p = start(&without);
    assert_eq!(up.hits(), 0);
    p.rewrite_config(&checked(&[up.addr], "/probe-after-reload"));
    let (status, _) = p.reload(None);
    assert_eq!(status, 200);
    assert!(eventually(|| up
        .seen()
        .iter()
        .any(|s| s.uri == "/probe-after-reload")));
}
