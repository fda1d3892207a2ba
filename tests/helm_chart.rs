//! charts/rampart: `helm lint`, `helm template` and the Kubernetes schemas
//! (kubernetes-validate) for every values file in `charts/rampart/ci/` (the chart's defaults
//! among them), the rendered config accepted by `rampart check`, and what each file adds;
//! the conventions users of other charts expect (tests/helm_conventions.rs).
mod common;
use common::pods::assert_no_side_door;
use common::tools::{documents, root, run, tool};
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const TOKEN: &str = "k8s-chart-9f8e7d6c5b4a3210ffeeddccbbaa";

/// charts/rampart as checked out: its library dependency (charts/rampart-sidecar) is linked
/// into its charts/ folder, so no `helm dependency build` comes first.
pub fn chart() -> PathBuf {
    root().join("charts/rampart")
}

fn helm_template(args: &[&str]) -> std::process::Output {
    Command::new(tool("helm"))
        .args(["template", "demo"])
        .arg(chart())
        .args(args)
        .output()
        .unwrap()
}

/// Renders, lints and validates one values file; its documents.
fn render(values: &Path) -> Vec<Value> {
    run(Command::new(tool("helm"))
        .arg("lint")
        .arg(chart())
        .arg("-f")
        .arg(values));
    let out = helm_template(&["-f", values.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8(out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, &rendered).unwrap();
    let validated = run(Command::new(tool("kubernetes-validate"))
        .args(["--strict", "--quiet"])
        .arg(&file));
    let report = String::from_utf8_lossy(&validated.stdout);
    assert!(!report.contains("ERROR"), "{}: {report}", values.display());
    documents(&rendered)
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// `rampart check` on the rendered config, with what the pod provides: the token and
/// REDIS_URL in the environment, the TLS Secret and the schema volume as files.
fn check_config(name: &str, config: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "api.example.com");
    std::fs::write(dir.path().join("order.json"), "{\"type\":\"object\"}").unwrap();
    let config = config
        .replace("/etc/rampart-tls/tls.crt", cert.to_str().unwrap())
        .replace("/etc/rampart-tls/tls.key", key.to_str().unwrap())
        .replace("/etc/rampart-schemas/order.json", "order.json");
    let file = dir.path().join("rampart.yaml");
    std::fs::write(&file, &config).unwrap();
    let out = Command::new(rampart_bin())
        .args(["check", "--config"])
        .arg(&file)
        .env("RAMPART_ADMIN_TOKEN", TOKEN)
        .env("REDIS_URL", "redis://redis:6379")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: rendered config refused:\n{config}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_ci_values_file_lints_renders_validates_and_its_config_is_accepted() {
    let mut files: Vec<_> = std::fs::read_dir(chart().join("ci"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for values in files {
        let name = values
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace("-values", "");
        let docs = render(&values);
        let config = of_kind(&docs, "ConfigMap")
            .iter()
            .find_map(|c| c["data"]["rampart.yaml"].as_str())
            .expect("rampart.yaml in a ConfigMap")
            .to_string();
        check_config(&name, &config);
        let pod = &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"];
        let all: Vec<&Value> = pod["containers"]
            .as_array()
            .into_iter()
            .chain(pod["initContainers"].as_array())
            .flatten()
            .collect();
        let rampart = all
            .iter()
            .find(|c| c["name"] == "rampart")
            .expect("rampart");
        assert_eq!(rampart["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(rampart["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            rampart["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["automountServiceAccountToken"], false);
        let service = of_kind(&docs, "Service")
            .into_iter()
            .find(|s| s["metadata"]["name"] == "demo-rampart")
            .unwrap();
        assert_eq!(service["spec"]["ports"][0]["targetPort"], 8080);
        let secrets = of_kind(&docs, "Secret");
        match name.as_str() {
            "default" => {
                assert!(config.contains("legacy-api.default.svc.cluster.local:8000"));
                assert!(all.iter().all(|c| c["name"] != "app"));
                assert!(
                    of_kind(&docs, "NetworkPolicy").is_empty(),
                    "auto: sidecar only"
                );
                // A token generated so production renders with nothing given.
                assert_eq!(secrets.len(), 1);
                assert!(config.contains("admin_token: ${RAMPART_ADMIN_TOKEN}"));
            }
            "sidecar" => {
                assert!(config.contains("127.0.0.1:8000"));
                let app = all.iter().find(|c| c["name"] == "app").unwrap();
                assert!(app.get("ports").is_none(), "the app's port is not exposed");
                // The app keeps what a real app container has.
                assert_eq!(app["envFrom"][0]["secretRef"]["name"], "legacy-api-env");
                assert_eq!(app["livenessProbe"]["httpGet"]["path"], "/healthz");
                assert!(app["lifecycle"]["preStop"].is_object());
                assert_eq!(app["volumeMounts"][0]["name"], "uploads");
                assert_eq!(pod["serviceAccountName"], "legacy-api");
                let template = &of_kind(&docs, "Deployment")[0]["spec"]["template"];
                assert_no_side_door(&docs, template);
            }
            "sidecar-native-monitored" => {
                assert_eq!(pod["initContainers"][0]["name"], "rampart");
                assert_eq!(pod["initContainers"][0]["restartPolicy"], "Always");
                assert_eq!(of_kind(&docs, "ServiceMonitor").len(), 1);
                let monitor = &of_kind(&docs, "PodMonitor")[0]["spec"];
                assert_eq!(monitor["podMetricsEndpoints"][0]["port"], "rampart-admin");
                assert_eq!(
                    monitor["selector"]["matchLabels"]["app.kubernetes.io/instance"],
                    "demo"
                );
                let rule = &of_kind(&docs, "PrometheusRule")[0];
                let shipped =
                    std::fs::read_to_string(root().join("deploy/prometheus/rules.yml")).unwrap();
                let alerts = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
                assert_eq!(alerts.len(), shipped.matches("- alert: ").count());
                let dashboard = of_kind(&docs, "ConfigMap")
                    .into_iter()
                    .find(|c| c["metadata"]["labels"]["grafana_dashboard"] == "1")
                    .expect("dashboard ConfigMap");
                assert!(dashboard["data"]["rampart-dashboard.json"].is_string());
            }
            "staging-without-token" => {
                assert!(!config.contains("admin_token"));
                assert!(secrets.is_empty());
            }
            "standalone-full" => {
                assert!(secrets.is_empty(), "the existing Secret is used");
                assert_eq!(pod["imagePullSecrets"][0]["name"], "regcred");
                assert_eq!(pod["priorityClassName"], "edge-critical");
                assert!(config.contains("cert_file: /etc/rampart-tls/tls.crt"));
                assert!(config.contains("min_version: \"1.3\""));
                let env = rampart["env"].as_array().unwrap();
                assert!(env.iter().any(|e| e["name"] == "REDIS_URL"));
                assert_eq!(rampart["envFrom"][0]["configMapRef"]["name"], "rampart-env");
                let volumes = pod["volumes"].as_array().unwrap();
                for v in ["rampart-config", "rampart-tls", "schemas"] {
                    assert!(volumes.iter().any(|x| x["name"] == v), "volume {v}");
                }
                let mounts = rampart["volumeMounts"].as_array().unwrap();
                assert!(mounts
                    .iter()
                    .any(|m| m["mountPath"] == "/etc/rampart-schemas"));
                assert_eq!(of_kind(&docs, "HorizontalPodAutoscaler").len(), 1);
                assert!(of_kind(&docs, "Deployment")[0]["spec"]
                    .get("replicas")
                    .is_none());
                let spread = &pod["topologySpreadConstraints"][0]["labelSelector"];
                assert_eq!(spread["matchLabels"]["app.kubernetes.io/instance"], "demo");
                let policy = &of_kind(&docs, "NetworkPolicy")[0]["spec"]["ingress"];
                assert_eq!(policy[1]["ports"][0]["port"], 9901);
                assert!(
                    policy[1]["from"].is_array(),
                    "the admin port is not open to all"
                );
                assert!(policy[0].get("from").is_none(), "the public port is");
                assert_eq!(of_kind(&docs, "PodDisruptionBudget").len(), 0);
            }
            other => panic!("no expectations for ci/{other}-values.yaml"),
        }
    }
}

#[test]
fn the_files_the_chart_ships_are_the_kits_own() {
    for (shipped, kit) in [
        (
            "charts/rampart/files/rules.yml",
            "deploy/prometheus/rules.yml",
        ),
        (
            "charts/rampart/files/rampart-dashboard.json",
            "deploy/grafana/rampart-dashboard.json",
        ),
    ] {
        let a = std::fs::read_to_string(root().join(shipped)).unwrap();
        let b = std::fs::read_to_string(root().join(kit)).unwrap();
        assert!(a == b, "{shipped} differs from {kit}: copy it over");
    }
}

#[test]
fn the_chart_refuses_what_cannot_work() {
    let refusals: [(&[&str], &str); 3] = [
        (
            &["--set", "adminToken.generate=false"],
            "needs an admin token",
        ),
        (
            &["--set", "terminationGracePeriodSeconds=15"],
            "must be larger than config.server.grace_period",
        ),
        (&["--set", "mode=sidecar"], "needs app.image"),
    ];
    for (args, message) in refusals {
        let out = helm_template(args);
        assert!(!out.status.success(), "{args:?} rendered");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
