//! Rampart added to a team's existing FastAPI Deployment (tests/fixtures/shop-api), two ways:
//! the Kustomize component (deploy/kustomize/rampart-sidecar, rendered by `kubectl kustomize`)
//! and the library chart (charts/rampart-sidecar, included from the team's own chart). Both
//! outputs pass the Kubernetes schemas; Rampart runs as a native sidecar with its config
//! (accepted by `rampart check`); the Service reaches Rampart; the app's own container is
//! exactly what it was without Rampart.
mod common;
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

/// The pod with Rampart against the pod without: Rampart is a native sidecar reading its
/// ConfigMap, the app's containers and volumes are untouched, the Service targets 8080.
fn assert_injected(with: &[Value], without: &[Value]) {
    let pod = &one(with, "Deployment")["spec"]["template"]["spec"];
    let before = &one(without, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"], before["containers"],
        "the app's containers changed"
    );
    assert_eq!(pod["serviceAccountName"], before["serviceAccountName"]);
    let rampart = &pod["initContainers"][0];
    assert_eq!(rampart["name"], "rampart");
    assert_eq!(rampart["restartPolicy"], "Always");
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
    // The starting config shipped with the component is valid as it is.
    let example = root().join("deploy/kustomize/rampart-sidecar/rampart.example.yaml");
    assert_checks(&example, POD_ENV, "rampart.example.yaml");
    // The generated Secret's hashed name reaches the container.
    let secret = with.iter().find(|d| d["kind"] == "Secret").unwrap();
    let pod = &one(&with, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        pod["initContainers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"],
        secret["metadata"]["name"]
    );
}

#[test]
fn the_library_chart_injects_rampart_into_a_teams_own_chart() {
    run(Command::new(tool("helm"))
        .args(["dependency", "build"])
        .arg(fixture("chart")));
    let with = helm(&[]);
    let without = helm(&["--set", "rampart.enabled=false"]);
    assert_injected(&with, &without);
    let pod = &one(&with, "Deployment")["spec"]["template"]["spec"];
    let env = pod["initContainers"][0]["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "REDIS_URL"), "extraEnv");
}
