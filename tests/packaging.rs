//! What ships beside the binary: the Dockerfile (hadolint), the Helm chart (helm lint and
//! template, Kubernetes schemas, the rendered config accepted by `rampart check`) and the
//! compose demo. The Prometheus and Grafana kit is in `observability_kit.rs`.
//! `./test` installs the tools (scripts/deps.sh); a missing one fails with a clear message.
mod common;
use common::tools::{root, run, tool};
use common::*;
use std::process::Command;

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
