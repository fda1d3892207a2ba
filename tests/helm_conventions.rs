//! charts/rampart keeps the conventions users of Traefik's or ingress-nginx's charts expect:
//! values checked by a schema, name overrides, no PDB that blocks drains, renders GitOps
//! tools can diff, native sidecars only where the cluster has them, and a checkout that
//! renders as it is.
mod common;
use common::tools::{documents, root, run, tool};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const SIDECAR: &[&str] = &[
    "--set",
    "mode=sidecar",
    "--set",
    "app.image=registry.example.com/api:1",
];

fn helm(chart: &Path, verb: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(tool("helm"));
    cmd.arg(verb);
    if verb == "template" {
        cmd.arg("demo");
    }
    cmd.arg(chart).args(args).output().unwrap()
}

fn render(args: &[&str]) -> Vec<Value> {
    let out = helm(&root().join("charts/rampart"), "template", args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8(out.stdout).unwrap())
}

fn kinds(docs: &[Value], kind: &str) -> usize {
    docs.iter().filter(|d| d["kind"] == kind).count()
}

fn pod(docs: &[Value]) -> &Value {
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    &deployment["spec"]["template"]["spec"]
}

#[test]
fn a_mistyped_value_fails_lint_and_install_through_the_schema() {
    let chart = root().join("charts/rampart");
    for verb in ["lint", "template"] {
        let out = helm(
            &chart,
            verb,
            &["--set", "podDisruptionBudjet.enabled=false"],
        );
        let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{verb} accepted a typo");
        assert!(said.contains("podDisruptionBudjet"), "{verb}: {said}");
    }
    let out = helm(&chart, "template", &["--set", "mode=sidecra"]);
    assert!(!out.status.success());
    let out = helm(&chart, "lint", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn one_replica_renders_no_pdb_that_would_block_every_drain() {
    assert_eq!(kinds(&render(&[]), "PodDisruptionBudget"), 1, "2 replicas");
    assert_eq!(
        kinds(&render(&["--set", "replicaCount=1"]), "PodDisruptionBudget"),
        0
    );
    let autoscaled = [
        "--set",
        "autoscaling.enabled=true",
        "--set",
        "autoscaling.minReplicas=1",
    ];
    assert_eq!(kinds(&render(&autoscaled), "PodDisruptionBudget"), 0);
    let docs = render(&["--set", "podDisruptionBudget.maxUnavailable=1"]);
    let pdb = docs
        .iter()
        .find(|d| d["kind"] == "PodDisruptionBudget")
        .unwrap();
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(pdb["spec"].get("minAvailable").is_none());
}

#[test]
fn with_an_existing_token_secret_two_renders_are_byte_identical() {
    let chart = root().join("charts/rampart");
    let gitops = ["--set", "adminToken.existingSecret=rampart-admin"];
    let once = helm(&chart, "template", &gitops);
    let twice = helm(&chart, "template", &gitops);
    assert!(once.status.success());
    assert_eq!(
        String::from_utf8_lossy(&once.stdout),
        String::from_utf8_lossy(&twice.stdout)
    );
    // What the README warns of: a generated token is new at every offline render.
    let a = helm(&chart, "template", &[]).stdout;
    let b = helm(&chart, "template", &[]).stdout;
    assert_ne!(
        a, b,
        "the generated token no longer changes: update docs/kubernetes.md"
    );
    let doc = std::fs::read_to_string(root().join("docs/kubernetes.md")).unwrap();
    let gitops_section = &doc[doc.find("## GitOps").expect("a GitOps section")..];
    assert!(gitops_section.contains("adminToken.existingSecret"));
}

#[test]
fn native_sidecars_render_only_where_the_cluster_has_them() {
    let on = |kube: &str| {
        let mut args = SIDECAR.to_vec();
        args.extend(["--kube-version", kube]);
        render(&args)
    };
    let new = on("1.29.0");
    assert_eq!(pod(&new)["initContainers"][0]["restartPolicy"], "Always");
    let old = on("1.28.9");
    assert!(pod(&old).get("initContainers").is_none());
    assert!(pod(&old)["containers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "rampart"));
    let mut forced = SIDECAR.to_vec();
    forced.extend([
        "--kube-version",
        "1.28.9",
        "--set",
        "app.nativeSidecar=true",
    ]);
    let out = helm(&root().join("charts/rampart"), "template", &forced);
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs Kubernetes 1.29"));
}

#[test]
fn names_follow_the_overrides_and_the_pod_carries_the_usual_knobs() {
    let docs = render(&["--set", "fullnameOverride=edge"]);
    for kind in ["Deployment", "Service", "ConfigMap"] {
        let names: Vec<&Value> = docs
            .iter()
            .filter(|d| d["kind"] == kind)
            .map(|d| &d["metadata"]["name"])
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.as_str().is_some_and(|n| n.starts_with("edge"))),
            "{kind}: {names:?}"
        );
    }
    let docs = render(&["--set", "nameOverride=guard"]);
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["metadata"]["name"], "demo-guard");
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        "guard"
    );
    let docs = render(&[
        "--set",
        "priorityClassName=critical",
        "--set",
        "imagePullSecrets[0].name=regcred",
    ]);
    assert_eq!(pod(&docs)["priorityClassName"], "critical");
    assert_eq!(pod(&docs)["imagePullSecrets"][0]["name"], "regcred");
    assert_eq!(pod(&docs)["automountServiceAccountToken"], false);
}

/// The chart folders exactly as a clone has them (tracked and untracked-but-not-ignored
/// files, symlinks kept), in a new place: `helm lint`/`template` work with no other step.
#[test]
fn the_checkout_renders_without_helm_dependency_build() {
    let listed = run(Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "-z",
            "charts",
        ])
        .current_dir(root()));
    let copy = tempfile::tempdir().unwrap();
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let rel = Path::new(std::str::from_utf8(file).unwrap());
        let (from, to) = (root().join(rel), copy.path().join(rel));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        match std::fs::read_link(&from) {
            Ok(target) => std::os::unix::fs::symlink(target, &to).unwrap(),
            Err(_) => drop(std::fs::copy(&from, &to).unwrap()),
        }
    }
    let chart = copy.path().join("charts/rampart");
    for verb in ["lint", "template"] {
        let out = helm(&chart, verb, &[]);
        assert!(
            out.status.success(),
            "{verb} on a clean copy: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
