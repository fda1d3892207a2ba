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
fn the_container_configs_are_valid() {
    for name in ["rampart.yaml", "demo.yaml"] {
        let file = root().join("deploy/docker").join(name);
        assert_checks(&file, &[("APP_ADDR", "127.0.0.1:8000")], name);
    }
    // The built-in one fits any app beside it: production, every path proxied, the admin
    // on loopback (the HEALTHCHECK asks it there, and no token is needed).
    let text = std::fs::read_to_string(root().join("deploy/docker/rampart.yaml")).unwrap();
    let config = parse_yaml(&text).expect("YAML");
    assert_eq!(config["server"]["environment"], "production");
    assert_eq!(config["server"]["listen"], "0.0.0.0:8080");
    assert_eq!(config["server"]["admin_listen"], "127.0.0.1:9901");
    assert_eq!(config["routes"][0]["match"]["path_prefix"], "/");
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("APP_ADDR=127.0.0.1:8000"));
    assert!(dockerfile.contains("org.opencontainers.image.licenses"));
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
    let volumes = services["rampart"]["volumes"].to_string();
    assert!(
        volumes.contains("./deploy/docker/demo.yaml:/etc/rampart/rampart.yaml"),
        "the demo mounts its own routes: {volumes}"
    );
    let scrape = std::fs::read_to_string(root().join("deploy/prometheus/prometheus.yml")).unwrap();
    assert!(scrape.contains("rampart:9901"));
}
