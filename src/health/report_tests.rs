use super::*;
use crate::policy::DependencyStatus;
use crate::upstream::health::Thresholds;

fn policy(extra: &str) -> Policy {
    let yaml = format!(
        "server: {{ listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0 }}\n\
         upstreams:\n  app:\n    endpoints: [127.0.0.1:9, 127.0.0.1:10]\n\
         \x20   circuit_breaker: {{ consecutive_failures: 1, open_for: 30s }}\n\
         routes: [ {{ name: r, match: {{ path_prefix: / }}, upstream: app }} ]\n{extra}"
    );
    let loaded =
        crate::config::load_str(&yaml, "t.yaml", std::path::Path::new("."), &|_| None).unwrap();
    Policy::compile(&loaded, None, 3).unwrap()
}

const DEPS: &str = "health:\n  dependencies:\n    - { name: db, tcp: \"127.0.0.1:5432\", critical: true }\n    - { name: cache, tcp: \"127.0.0.1:6379\" }\n";

fn set_dep(p: &Policy, name: &str, up: bool) {
    let d = p.dependencies.iter().find(|d| d.name == name).unwrap();
    d.state.set(DependencyStatus {
        up: Some(up),
        latency: up.then(|| Duration::from_micros(1500)),
        error: (!up).then(|| "connection refused".to_string()),
        last_check: Some(SystemTime::now()),
    });
}

fn status_of(p: &Policy) -> (Status, Value) {
    report(
        p,
        &ConfigInfo::of_text("x"),
        "0.1.0",
        Duration::from_secs(7),
        Instant::now(),
    )
}

#[test]
fn healthy_then_degraded_then_unhealthy_by_dependency() {
    let p = policy(DEPS);
    let (s, body) = status_of(&p);
    assert_eq!(s, Status::Healthy, "not yet probed is not down");
    assert_eq!(body["dependencies"][0]["status"], "unknown");
    assert_eq!(body["config"]["generation"], 3);
    assert_eq!(body["config"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(body["uptime_seconds"], 7);
    set_dep(&p, "db", true);
    set_dep(&p, "cache", false);
    let (s, body) = status_of(&p);
    assert_eq!(s, Status::Degraded);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["dependencies"][0]["latency_ms"], 1.5);
    assert_eq!(body["dependencies"][1]["error"], "connection refused");
    assert_eq!(body["dependencies"][1]["latency_ms"], Value::Null);
    set_dep(&p, "db", false);
    assert_eq!(status_of(&p).0, Status::Unhealthy);
    // Dependencies never make the instance unready.
    assert!(ready(&p, Instant::now()));
}

/// Opens the upstream's breaker at `now`.
fn open_breaker(p: &Policy, now: Instant) {
    let b = p.upstreams[0].breaker.as_ref().unwrap();
    let permit = b.acquire(now).0.unwrap();
    b.record(permit, true, now);
}

#[test]
fn an_open_breaker_is_unhealthy_but_ready_unless_configured() {
    // 0.1: an open breaker made /readyz 503, so an outage every replica shares emptied the
    // Service and the route fallback was never served.
    let p = policy("");
    let now = Instant::now();
    open_breaker(&p, now);
    let (s, body) = status_of(&p);
    assert_eq!(s, Status::Unhealthy);
    assert_eq!(body["upstreams"][0]["breaker"], "open");
    assert_eq!(body["upstreams"][0]["status"], "down");
    assert!(ready(&p, now));

    let p = policy("health: { unready_when_breaker_open: true }\n");
    assert!(ready(&p, now));
    open_breaker(&p, now);
    assert!(!ready(&p, now));
    // Past open_for it reads half-open, and half-open is ready again.
    assert!(ready(&p, now + Duration::from_secs(31)));
}

#[test]
fn no_endpoint_up_is_unhealthy_and_unready() {
    let p = policy("");
    let t = Thresholds {
        healthy_after: 1,
        unhealthy_after: 1,
    };
    for e in &p.upstreams[0].endpoints {
        e.health
            .record(Err("refused".into()), t, Some(SystemTime::now()));
    }
    let (s, body) = status_of(&p);
    assert_eq!(s, Status::Unhealthy);
    assert_eq!(body["upstreams"][0]["endpoints"][1]["status"], "down");
    assert!(body["upstreams"][0]["endpoints"][1]["last_check"].is_string());
    assert!(!ready(&p, Instant::now()));
}
