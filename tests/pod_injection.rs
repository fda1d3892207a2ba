//! Rampart added to a team's existing FastAPI Deployment (tests/fixtures/shop-api), two ways:
//! the Kustomize components (deploy/kustomize/rampart-sidecar and -classic, rendered by
//! `kubectl kustomize`) and the library chart (charts/rampart-sidecar, included from the
//! team's own chart). Both outputs pass the Kubernetes schemas; Rampart runs with its config
//! (accepted by `rampart check`), as a native sidecar only where the cluster has them; the
//! Service reaches Rampart; the app keeps its container but listens on loopback, probed
//! through Rampart, behind a NetworkPolicy (no side door).
mod common;
use common::pods::{assert_no_side_door, rampart};
use common::tools::{assert_checks, documents, root, run, tool};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// What the pod's environment gives Rampart.
const POD_ENV: &[(&str, &str)] = &[
    ("RAMPART_ADMIN_TOKEN", "injected-0123456789abcdefghijklmnop"),
    ("REDIS_URL", "redis://redis:6379"),
];

fn fixture(part: &str) -> std::path::PathBuf {
    root().join("tests/fixtures/shop-api").join(part)
}

fn validate(name: &str, rendered: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&file, rendered).unwrap();
    let out = run(Command::new(tool("kubernetes-validate"))
        .args(["--strict", "--quiet"])
        .arg(&file));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!report.contains("ERROR"), "{name}: {report}");
    documents(rendered)
}

fn kustomize(dir: &Path) -> Vec<Value> {
    let out = run(Command::new(tool("kubectl")).arg("kustomize").arg(dir));
    validate("kustomize", &String::from_utf8(out.stdout).unwrap())
}

fn helm(args: &[&str]) -> Vec<Value> {
    let out = run(Command::new(tool("helm"))
        .args(["template", "shop"])
        .arg(fixture("chart"))
        .args(args));
    validate("helm", &String::from_utf8(out.stdout).unwrap())
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

/// The pod with Rampart against the pod without: Rampart reads its ConfigMap, the app's
/// container is the same but for where it listens and how it is probed, its volumes are
/// kept, the Service targets 8080, and nothing but Rampart's ports reaches the pod.
fn assert_injected(with: &[Value], without: &[Value]) {
    let template = &one(with, "Deployment")["spec"]["template"];
    let pod = &template["spec"];
    let before = &one(without, "Deployment")["spec"]["template"]["spec"];
    let api = |p: &Value| {
        let c = p["containers"].as_array().unwrap();
        c.iter().find(|c| c["name"] == "api").unwrap().clone()
    };
    let (mut now, mut was) = (api(pod), api(before));
    assert!(
        now["command"].to_string().contains("\"127.0.0.1\""),
        "{now}"
    );
    assert!(was["command"].to_string().contains("\"0.0.0.0\""), "{was}");
    for key in ["command", "ports", "readinessProbe"] {
        now.as_object_mut().unwrap().remove(key);
        was.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(now, was, "the app's container changed beyond its address");
    assert_eq!(pod["serviceAccountName"], before["serviceAccountName"]);
    assert_no_side_door(with, template);
    let rampart = rampart(pod);
    assert_eq!(rampart["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(rampart["securityContext"]["readOnlyRootFilesystem"], true);
    let volumes = pod["volumes"].as_array().unwrap();
    for v in before["volumes"].as_array().unwrap() {
        assert!(volumes.contains(v), "the app's volume {v} is kept");
    }
    let config_volume = volumes
        .iter()
        .find(|v| v["name"] == "rampart-config")
        .expect("rampart-config volume");
    let configmap_name = config_volume["configMap"]["name"].as_str().unwrap();
    let configmap = with
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == configmap_name)
        .expect("the ConfigMap the volume names");
    let config = configmap["data"]["rampart.yaml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rampart.yaml");
    std::fs::write(&file, config).unwrap();
    assert_checks(&file, POD_ENV, config);
    assert!(
        config.contains("127.0.0.1:8000") && config.contains("name: items"),
        "{config}"
    );
    let token = &rampart["env"][0];
    assert_eq!(token["name"], "RAMPART_ADMIN_TOKEN");
    let secret = token["valueFrom"]["secretKeyRef"]["name"].as_str().unwrap();
    assert!(secret.contains("rampart-admin"), "{secret}");
    assert_eq!(one(with, "Service")["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(
        one(without, "Service")["spec"]["ports"][0]["targetPort"],
        8000
    );
}

#[test]
fn the_kustomize_component_injects_rampart_into_a_labelled_deployment() {
    let with = kustomize(&fixture("with-rampart"));
    let without = kustomize(&fixture("base"));
    assert_injected(&with, &without);
    let template = &one(&with, "Deployment")["spec"]["template"];
    assert_eq!(
        template["spec"]["initContainers"][0]["restartPolicy"],
        "Always"
    );
    // The app's own scrape annotations are left alone; the PodMonitor scrapes Rampart.
    let before = &one(&without, "Deployment")["spec"]["template"]["metadata"];
    assert_eq!(template["metadata"]["annotations"], before["annotations"]);
    let monitor = one(&with, "PodMonitor");
    assert_eq!(
        monitor["spec"]["podMetricsEndpoints"][0]["port"],
        "rampart-admin"
    );
    let selected = &monitor["spec"]["selector"]["matchLabels"]["rampart.dev/sidecar"];
    assert_eq!(
        &template["metadata"]["labels"]["rampart.dev/sidecar"],
        selected
    );
    // The starting config shipped with the component is valid as it is.
    let example = root().join("deploy/kustomize/rampart-sidecar/rampart.example.yaml");
    assert_checks(&example, POD_ENV, "rampart.example.yaml");
    // The generated Secret's hashed name reaches the container.
    let secret = with.iter().find(|d| d["kind"] == "Secret").unwrap();
    assert_eq!(
        rampart(&template["spec"])["env"][0]["valueFrom"]["secretKeyRef"]["name"],
        secret["metadata"]["name"]
    );
}

#[test]
fn the_classic_component_runs_the_same_container_where_native_sidecars_are_missing() {
    let classic = kustomize(&fixture("with-rampart-classic"));
    let without = kustomize(&fixture("base"));
    assert_injected(&classic, &without);
    let template = &one(&classic, "Deployment")["spec"]["template"];
    assert!(template["spec"].get("initContainers").is_none());
    let native = kustomize(&fixture("with-rampart"));
    let mut native_rampart =
        one(&native, "Deployment")["spec"]["template"]["spec"]["initContainers"][0].clone();
    native_rampart
        .as_object_mut()
        .unwrap()
        .remove("restartPolicy");
    assert_eq!(
        rampart(&template["spec"]),
        &native_rampart,
        "the variants drifted apart"
    );
    // Annotation scraping: Rampart's admin port, the app's other annotations kept.
    let annotations = &template["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], "9901");
    assert_eq!(annotations["team"], "shop");
}

#[test]
fn the_library_chart_injects_rampart_into_a_teams_own_chart() {
    run(Command::new(tool("helm"))
        .args(["dependency", "build"])
        .arg(fixture("chart")));
    let with = helm(&["--kube-version", "1.29.0"]);
    let without = helm(&["--set", "rampart.enabled=false"]);
    assert_injected(&with, &without);
    let pod = &one(&with, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["initContainers"][0]["restartPolicy"], "Always");
    let env = rampart(pod)["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "REDIS_URL"), "extraEnv");
    // Before 1.29 the same container runs under `containers`: no pod stuck in Init.
    let old = helm(&["--kube-version", "1.28.9"]);
    assert_injected(&old, &without);
    let pod = &one(&old, "Deployment")["spec"]["template"]["spec"];
    assert!(pod.get("initContainers").is_none(), "{pod}");
    assert!(rampart(pod).get("restartPolicy").is_none());
    let forced = Command::new(tool("helm"))
        .args(["template", "shop"])
        .arg(fixture("chart"))
        .args(["--kube-version", "1.28.9", "--set", "rampart.native=true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&forced.stderr);
    assert!(
        !forced.status.success() && stderr.contains("needs Kubernetes 1.29"),
        "{stderr}"
    );
}
