//! What ships beside the binary: the Dockerfile (hadolint), the Helm chart (helm lint and
//! template, Kubernetes schemas, the rendered config accepted by `rampart check`), the
//! Prometheus kit (promtool on the rules, the scrape config and a real `/metrics`) and the
//! Grafana dashboard (every metric it queries is one the binary exports).
//! `./test` installs the tools (scripts/deps.sh); a missing one fails with a clear message.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from PATH or from `.tools/bin` (where deps.sh puts helm).
fn tool(name: &str) -> PathBuf {
    let local = root().join(".tools/bin").join(name);
    if local.exists() {
        return local;
    }
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    found.unwrap_or_else(|| panic!("{name} is not installed: run ./test, which installs it"))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_dockerfile_passes_hadolint() {
    run(Command::new(tool("hadolint")).arg(root().join("Dockerfile")));
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    for needed in [
        "STOPSIGNAL SIGTERM",
        "USER 65532",
        "EXPOSE 8080 9901",
        "distroless",
        "CMD [\"/usr/local/bin/rampart\", \"healthcheck\"]",
    ] {
        assert!(text.contains(needed), "Dockerfile lacks {needed}");
    }
}

#[test]
fn the_container_config_is_valid() {
    let out = Command::new(rampart_bin())
        .args(["check", "--config"])
        .arg(root().join("deploy/docker/rampart.yaml"))
        .env("APP_ADDR", "127.0.0.1:8000")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const TOKEN: &str = "k8s-chart-9f8e7d6c5b4a3210ffeeddccbbaa";

/// Value sets rendered by the chart tests: (name, --set arguments, token in env).
const VALUE_SETS: &[(&str, &[&str], bool)] = &[
    (
        "sidecar",
        &[
            "app.image=registry.example.com/legacy-api:1.4.2",
            "adminToken.value=k8s-chart-9f8e7d6c5b4a3210ffeeddccbbaa",
        ],
        true,
    ),
    (
        "sidecar-staging-without-token",
        &[
            "app.image=registry.example.com/legacy-api:1.4.2",
            "config.server.environment=staging",
        ],
        false,
    ),
    (
        "sidecar-native-monitored",
        &[
            "app.image=registry.example.com/legacy-api:1.4.2",
            "app.nativeSidecar=true",
            "metrics.serviceMonitor.enabled=true",
            "adminToken.value=k8s-chart-9f8e7d6c5b4a3210ffeeddccbbaa",
        ],
        true,
    ),
    (
        "standalone",
        &[
            "mode=standalone",
            "standalone.upstream=legacy-api.apps.svc.cluster.local:8000",
            "adminToken.existingSecret=rampart-admin",
            "podDisruptionBudget.enabled=false",
            "metrics.annotations=false",
        ],
        true,
    ),
];

fn render(sets: &[&str]) -> String {
    let mut cmd = Command::new(tool("helm"));
    cmd.args(["template", "demo"])
        .arg(root().join("charts/rampart"));
    for s in sets {
        cmd.args(["--set", s]);
    }
    String::from_utf8(run(&mut cmd).stdout).unwrap()
}

/// The documents of a multi-document YAML stream, parsed.
fn documents(yaml: &str) -> Vec<serde_json::Value> {
    yaml.split("\n---")
        .filter_map(|d| {
            let v: serde_json::Value = parse_yaml(d)?;
            (!v.is_null()).then_some(v)
        })
        .collect()
}

/// Parses one YAML document through Rampart's own YAML layer (saphyr), as JSON; `${VAR}`
/// is left as written.
fn parse_yaml(doc: &str) -> Option<serde_json::Value> {
    let keep = |name: &str| Some(format!("${{{name}}}"));
    rampart::config::yaml::parse(doc, &keep)
        .ok()
        .map(|p| p.value)
}

#[test]
fn the_chart_refuses_a_production_admin_port_without_a_token() {
    let out = Command::new(tool("helm"))
        .args(["template", "demo"])
        .arg(root().join("charts/rampart"))
        .args(["--set", "app.image=registry.example.com/legacy-api:1.4.2"])
        .output()
        .expect("helm");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs an admin token"), "{stderr}");
}

#[test]
fn the_chart_lints_renders_validates_and_its_config_is_accepted() {
    for (name, sets, with_token) in VALUE_SETS {
        let mut lint = Command::new(tool("helm"));
        lint.arg("lint").arg(root().join("charts/rampart"));
        for s in *sets {
            lint.args(["--set", s]);
        }
        run(&mut lint);
        let rendered = render(sets);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, &rendered).unwrap();
        let validated = run(Command::new(tool("kubernetes-validate"))
            .args(["--strict", "--quiet"])
            .arg(&file));
        let report = String::from_utf8_lossy(&validated.stdout);
        assert!(!report.contains("ERROR"), "{name}: {report}");

        let docs = documents(&rendered);
        let kind = |k: &str| docs.iter().filter(|d| d["kind"] == k).collect::<Vec<_>>();
        let config = kind("ConfigMap")[0]["data"]["rampart.yaml"]
            .as_str()
            .expect("rampart.yaml in the ConfigMap")
            .to_string();
        let config_file = dir.path().join("rampart.yaml");
        std::fs::write(&config_file, &config).unwrap();
        let mut check = Command::new(rampart_bin());
        check.args(["check", "--config"]).arg(&config_file);
        if *with_token {
            check.env("RAMPART_ADMIN_TOKEN", TOKEN);
        }
        let out = check.output().unwrap();
        assert!(
            out.status.success(),
            "{name}: rendered config refused:\n{config}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let deployment = kind("Deployment")[0];
        let pod = &deployment["spec"]["template"]["spec"];
        let all: Vec<&serde_json::Value> = pod["containers"]
            .as_array()
            .into_iter()
            .chain(pod["initContainers"].as_array())
            .flatten()
            .collect();
        let rampart = all
            .iter()
            .find(|c| c["name"] == "rampart")
            .expect("rampart container");
        assert_eq!(rampart["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(rampart["livenessProbe"]["httpGet"]["path"], "/livez");
        let sc = &rampart["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true);
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert_eq!(sc["capabilities"]["drop"][0], "ALL");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > 20);
        let service = kind("Service")
            .into_iter()
            .find(|s| s["metadata"]["name"] == "demo-rampart")
            .unwrap();
        assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
        match *name {
            "sidecar" => {
                assert!(config.contains("127.0.0.1:8000"));
                let app = all.iter().find(|c| c["name"] == "app").unwrap();
                assert!(app.get("ports").is_none(), "the app's port is not exposed");
                assert_eq!(
                    pod["metadata"].get("x"),
                    None,
                    "nothing unexpected in the pod spec"
                );
            }
            "sidecar-native-monitored" => {
                assert_eq!(pod["initContainers"][0]["name"], "rampart");
                assert_eq!(pod["initContainers"][0]["restartPolicy"], "Always");
                assert_eq!(kind("ServiceMonitor").len(), 1);
                assert_eq!(kind("Secret").len(), 1);
            }
            "sidecar-staging-without-token" => {
                assert!(config.contains("environment: staging"));
                assert!(!config.contains("admin_token"));
                assert_eq!(kind("Secret").len(), 0);
            }
            _ => {
                assert!(config.contains("legacy-api.apps.svc.cluster.local:8000"));
                assert_eq!(kind("PodDisruptionBudget").len(), 0);
                assert_eq!(kind("Secret").len(), 0, "an existing Secret is used");
                assert!(all.iter().all(|c| c["name"] != "app"));
            }
        }
    }
}

#[test]
fn a_termination_grace_period_shorter_than_rampart_s_is_refused() {
    let out = Command::new(tool("helm"))
        .args(["template", "demo"])
        .arg(root().join("charts/rampart"))
        .args([
            "--set",
            "app.image=a/b:1",
            "--set",
            "terminationGracePeriodSeconds=15",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("must be larger than config.server.grace_period"));
}

#[test]
fn the_sidecar_mode_refuses_to_render_without_an_app_image() {
    let out = Command::new(tool("helm"))
        .arg("template")
        .arg("demo")
        .arg(root().join("charts/rampart"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs app.image"));
}

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
    let known = |name: &str| {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        exported.iter().any(|e| e == name || e == base)
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
    ] {
        assert!(
            used.iter().any(|u| u == family),
            "the dashboard lacks {family}"
        );
    }
    let rules = std::fs::read_to_string(root().join("deploy/prometheus/rules.yml")).unwrap();
    for name in used.iter().chain(&metric_names(&rules)) {
        assert!(known(name), "{name} is not exported by the binary");
    }
}

#[test]
fn the_compose_demo_wires_the_app_rampart_and_prometheus() {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let compose = parse_yaml(&text).expect("docker-compose.yml is YAML");
    let services = &compose["services"];
    for s in ["app", "rampart", "prometheus", "grafana"] {
        assert!(services.get(s).is_some(), "service {s}");
    }
    assert_eq!(services["rampart"]["environment"]["APP_ADDR"], "app:8000");
    assert_eq!(services["rampart"]["read_only"], true);
    let scrape = std::fs::read_to_string(root().join("deploy/prometheus/prometheus.yml")).unwrap();
    assert!(scrape.contains("rampart:9901"));
}
