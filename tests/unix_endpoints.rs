//! `unix:` upstream endpoints (SPEC §2): gunicorn and uvicorn are often bound to a unix
//! socket (`--bind unix:/run/app.sock`, `--uds`). Tested behind the bundled Flask app under
//! gunicorn bound to a socket, with health checks.
mod common;
use common::gunicorn::{Bind, Gunicorn};
use common::*;
use std::path::Path;
use std::process::Command;

/// The example app under gunicorn on a unix socket in a fresh folder.
fn gunicorn_on_socket() -> Gunicorn {
    let app = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/legacy_app");
    Gunicorn::start(Path::new(app), Bind::Unix, &[])
}

fn unix_config(socket: &Path, health_check: bool) -> String {
    let check = if health_check {
        "    health_check: { path: /health, interval: 100ms, timeout: 1s, healthy_after: 1, unhealthy_after: 1 }\n"
    } else {
        ""
    };
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  environment: development\n\
upstreams:\n  app:\n    endpoints: [\"unix:{}\"]\n{check}\
routes:\n  - {{ name: all, match: {{ path_prefix: / }}, upstream: app }}\n",
        socket.display()
    )
}

#[test]
fn requests_reach_gunicorn_on_a_unix_socket() {
    let app = gunicorn_on_socket();
    let p = start(&unix_config(&app.socket(), false));
    let c = client();
    for _ in 0..3 {
        let health: serde_json::Value = c.get(p.url("/health")).send().unwrap().json().unwrap();
        assert_eq!(health["status"], "ok");
    }
    let whoami: serde_json::Value = c.get(p.url("/api/whoami")).send().unwrap().json().unwrap();
    assert_eq!(whoami["X-Forwarded-For"], "127.0.0.1", "{whoami}");
}

#[test]
fn a_unix_endpoint_is_health_checked_like_a_tcp_one() {
    let app = gunicorn_on_socket();
    let socket = app.socket();
    let p = start(&unix_config(&socket, true));
    let label = format!("unix:{}", socket.display());
    let up = |v: f64| {
        eventually(|| {
            metric(
                &p,
                &format!("rampart_upstream_endpoint_up{{endpoint=\"{label}\",upstream=\"app\"}}"),
            ) == Some(v)
        })
    };
    assert!(up(1.0), "checked up");
    drop(app);
    assert!(up(0.0), "down once gunicorn is gone");
    let resp = client().get(p.url("/health")).send().unwrap();
    assert_problem(resp, 503, "upstream_unavailable");
}

#[test]
fn check_refuses_relative_and_overlong_socket_paths() {
    for (endpoint, fragment) in [
        ("unix:run/app.sock", "absolute"),
        (&*format!("unix:/{}", "a".repeat(120)), "107"),
    ] {
        let yaml = format!(
            "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\nupstreams:\n  app:\n    endpoints: [\"{endpoint}\"]\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rampart.yaml");
        std::fs::write(&path, yaml).unwrap();
        let out = Command::new(rampart_bin())
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("upstreams.app.endpoints[0]") && stderr.contains(fragment),
            "{stderr}"
        );
    }
}
