//! The Prometheus and Grafana kit: promtool on the rules (syntax and their unit tests), the
//! scrape config and a real `/metrics`; every alert linked to its runbook section and tested
//! both ways; every metric the dashboard and the alerts query is one the binary exports.
mod common;
use common::tools::{root, run, tool};
use common::*;
use std::process::{Command, Stdio};

fn scrape() -> String {
    let up = RecordingUpstream::start();
    // Every feature on, so every family has series.
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n\
upstreams:\n  app:\n    endpoints: [\"{up}\"]\n    max_in_flight: 4\n    \
circuit_breaker: {{ consecutive_failures: 5 }}\n    retry: {{ attempts: 1 }}\n    \
health_check: {{ path: /health, interval: 1s }}\n\
routes:\n  - {{ name: trial, match: {{ path_prefix: /trial }}, upstream: app, shadow: true, max_body_bytes: 10 }}\n  \
- {{ name: api, match: {{ path_prefix: / }}, upstream: app, rate_limit: [{{ rate: 100/second }}] }}\n\
health:\n  dependencies:\n    - {{ name: db, tcp: \"{up}\", interval: 1s }}\n",
        up = up.addr
    );
    let p = start(&yaml);
    // The first probes and the key count land in the first second.
    assert!(eventually(|| metric(
        &p,
        "rampart_dependency_up{critical=\"false\",dependency=\"db\"}"
    )
    .is_some()));
    // Some traffic, so the labelled families have samples: a proxied request, a refusal
    // (414) and a shadowed one (413 not enforced).
    client().get(p.url("/x")).send().unwrap();
    client()
        .get(p.url(&format!("/{}", "a".repeat(9000))))
        .send()
        .unwrap();
    client()
        .post(p.url("/trial"))
        .body("twenty bytes of body")
        .send()
        .unwrap();
    client()
        .get(p.admin_url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn the_prometheus_kit_passes_promtool() {
    let kit = root().join("deploy/prometheus");
    run(Command::new(tool("promtool"))
        .args(["check", "rules"])
        .arg(kit.join("rules.yml")));
    // Each alert fires on a failing series and stays silent on a healthy one.
    run(Command::new(tool("promtool"))
        .current_dir(&kit)
        .args(["test", "rules", "rules.test.yml"]));
    run(Command::new(tool("promtool"))
        .args(["check", "config"])
        .arg(kit.join("prometheus.yml")));
    let metrics = scrape();
    let mut child = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), metrics.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `rampart_…` names in a text (PromQL expressions, alert rules).
fn metric_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("rampart_") {
        let start = i + at;
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len() - start);
        if start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            names.push(text[start..end].to_string());
        }
        i = end;
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_dashboard_and_the_alerts_only_use_exported_metrics() {
    let exported: Vec<String> = scrape()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect();
    // Families with labels appear in a scrape once they have a series; the TLS expiry only
    // with TLS on, the store errors only with Redis failing: those are taken from the names
    // the binary registers.
    let registered =
        metric_names(&std::fs::read_to_string(root().join("src/telemetry/metrics.rs")).unwrap());
    for name in &exported {
        if name.starts_with("rampart_") {
            assert!(
                registered.contains(name),
                "{name} scraped but not in src/telemetry/metrics.rs"
            );
        }
    }
    let known = |name: &str| {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        exported
            .iter()
            .chain(&registered)
            .any(|e| e == name || e == base)
    };
    let dashboard =
        std::fs::read_to_string(root().join("deploy/grafana/rampart-dashboard.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    let exprs: Vec<String> = parsed["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_string))
        .collect();
    assert!(exprs.len() >= 10);
    let used = metric_names(&exprs.join("\n"));
    for family in [
        "rampart_requests_total",
        "rampart_request_duration_seconds_bucket",
        "rampart_rejections_total",
        "rampart_circuit_breaker_state",
        "rampart_in_flight_requests",
        "rampart_queue_depth",
        "rampart_config_reloads_total",
        "rampart_config_last_reload_successful",
        "rampart_connections_open",
        "rampart_request_bytes_total",
        "rampart_response_bytes_total",
        "rampart_websocket_connections",
        "rampart_tls_certificate_expiry_timestamp_seconds",
    ] {
        assert!(
            used.iter().any(|u| u == family),
            "the dashboard lacks {family}"
        );
    }
    // One app at a time: every query is scoped by the namespace and job variables (and the
    // route variable wherever the family has a route label); latency per route.
    let variables: Vec<&str> = parsed["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(variables, ["datasource", "namespace", "job", "route"]);
    for expr in &exprs {
        assert!(
            expr.contains("namespace=~\"$namespace\", job=~\"$job\""),
            "not scoped: {expr}"
        );
    }
    assert!(exprs
        .iter()
        .any(|e| e
            .contains("0.99, sum by (le, route) (rate(rampart_request_duration_seconds_bucket")));
    let rules = std::fs::read_to_string(root().join("deploy/prometheus/rules.yml")).unwrap();
    for name in used.iter().chain(&metric_names(&rules)) {
        assert!(known(name), "{name} is not exported by the binary");
    }
}

/// The alerts of rules.yml: (name, runbook_url).
fn alerts() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("deploy/prometheus/rules.yml")).unwrap();
    let mut out = Vec::new();
    let mut name = None;
    for line in text.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("- alert: ") {
            name = Some(n.to_string());
        }
        if let (Some(url), Some(n)) = (line.strip_prefix("runbook_url: "), &name) {
            out.push((n.clone(), url.trim_matches('"').to_string()));
        }
    }
    out
}

#[test]
fn every_alert_links_its_runbook_section_and_is_tested_both_ways() {
    let alerts = alerts();
    assert!(alerts.len() >= 11, "{alerts:?}");
    let runbook = std::fs::read_to_string(root().join("docs/runbook.md")).unwrap();
    let anchors: Vec<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let tests = std::fs::read_to_string(root().join("deploy/prometheus/rules.test.yml")).unwrap();
    let doc: serde_json::Value = serde_json::to_value(
        tests
            .split("\n- name: ")
            .skip(1)
            .map(|case| {
                let alert = case
                    .split("alertname: ")
                    .nth(1)
                    .and_then(|r| r.lines().next())
                    .unwrap_or("")
                    .to_string();
                let fires = case.contains("exp_labels");
                (alert, fires)
            })
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for (name, url) in &alerts {
        let anchor = url.rsplit_once('#').map(|(_, a)| a).unwrap_or("");
        assert_eq!(anchor, name.to_ascii_lowercase(), "{name}: {url}");
        assert!(url.contains("docs/runbook.md#"), "{name}: {url}");
        assert!(
            anchors.iter().any(|a| a == anchor),
            "docs/runbook.md has no section {name}"
        );
        for fires in [true, false] {
            assert!(
                doc.as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c[0] == name.as_str() && c[1] == fires),
                "rules.test.yml has no case where {name} {}",
                if fires { "fires" } else { "stays silent" }
            );
        }
    }
}
