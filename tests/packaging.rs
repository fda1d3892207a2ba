//! What ships beside the binary: the Dockerfile (hadolint), the Helm chart (helm lint and
//! template, Kubernetes schemas, the rendered config accepted by `rampart check`) and the
//! compose demo. The Prometheus and Grafana kit is in `observability_kit.rs`.
//! `./test` installs the tools (scripts/deps.sh); a missing one fails with a clear message.
mod common;
use common::tools::{assert_checks, parse_yaml, root, run, tool};
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
    let file = root().join("deploy/docker/rampart.yaml");
    assert_checks(
        &file,
        &[("APP_ADDR", "127.0.0.1:8000")],
        "deploy/docker/rampart.yaml",
    );
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
