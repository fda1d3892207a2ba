//! The operations commands (SPEC §1): `rampart healthcheck` and `rampart check --dump`.
mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

fn rampart(args: &[&str], config: &Path) -> Output {
    Command::new(rampart_bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RAMPART_CONFIG")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A config naming `admin` as its admin listener (the healthcheck reads nothing else), with
/// a `${VAR}` that is not set and a route the loader would refuse: the healthcheck of a
/// serving instance must not depend on the file being valid at this instant.
fn healthcheck_config(dir: &Path, admin: &str) -> std::path::PathBuf {
    let path = dir.join("health.yaml");
    std::fs::write(
        &path,
        format!("server:\n  listen: 0.0.0.0:8080\n  admin_listen: \"{admin}\"\n  admin_token: ${{NOT_SET_ANYWHERE}}\nroutes: [ {{ name: broken }} ]\n"),
    )
    .unwrap();
    path
}

#[test]
fn healthcheck_exits_0_when_ready_and_1_when_draining_or_unreachable() {
    let up = RecordingUpstream::start();
    let mut p = start(&config(up.addr, DEFAULT_ROUTE).replace(
        "  environment: development\n",
        "  environment: development\n  grace_period: 4s\n  shutdown_delay: 3s\n",
    ));
    let dir = tempfile::tempdir().unwrap();
    // A wildcard admin address is asked on loopback.
    let wildcard = format!("0.0.0.0:{}", p.admin.port());
    let cfg = healthcheck_config(dir.path(), &wildcard);
    let out = rampart(&["healthcheck"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ready"), "{}", text(&out));

    // Draining: /readyz answers 503 at once after SIGTERM.
    p.signal(libc::SIGTERM);
    assert!(eventually(|| {
        let out = rampart(&["healthcheck", "--timeout", "1s"], &cfg);
        out.status.code() == Some(1) && text(&out).contains("answered 503")
    }));
    let _ = p.wait_exit(std::time::Duration::from_secs(30));

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let out = rampart(
        &["healthcheck"],
        &healthcheck_config(dir.path(), &addr.to_string()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("cannot connect"), "{}", text(&out));
}

const MINIMAL: &str = "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  environment: development\n  admin_token: 0123456789abcdefghijklmnopqrstuvwxyz\nupstreams:\n  app: { endpoints: [\"127.0.0.1:8000\"] }\nrate_limit_store:\n  kind: redis\n  redis: { url: \"redis://:hunter2@127.0.0.1:6379/0\" }\nroutes:\n  - { name: api, match: { path_prefix: /api }, upstream: app, rate_limit: [ { rate: 5/second, key: \"header:X-Api-Key\" } ] }\n";

#[test]
fn check_dump_prints_every_default_and_the_dump_is_itself_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rampart.yaml");
    std::fs::write(&path, MINIMAL).unwrap();
    let out = rampart(&["check", "--dump"], &path);
    assert!(out.status.success(), "{}", text(&out));
    let dump = String::from_utf8(out.stdout).unwrap();
    for default in [
        "grace_period: \"10s\"",
        "shutdown_delay: \"2s\"",
        "max_connections: 10000",
        "max_body_bytes: \"1MiB\"",
        "underscores_in_headers: drop",
        "connect_timeout: \"5s\"",
        "strict_transport_security: \"max-age=63072000; includeSubDomains\"",
        "mode: set_if_missing",
        "unready_when_breaker_open: false",
        "sampled: true",
        "key: \"header:X-Api-Key\"",
        "rate: \"5/second\"",
    ] {
        assert!(dump.contains(default), "missing {default}:\n{dump}");
    }
    // Secrets are not printed.
    assert!(!dump.contains("0123456789abcdef"), "{dump}");
    assert!(!dump.contains("hunter2"), "{dump}");
    assert!(
        dump.contains("redis://:[redacted]@127.0.0.1:6379/0"),
        "{dump}"
    );

    // The dump (its token put back) is a valid config whose dump is the same.
    let again = dir.path().join("dumped.yaml");
    std::fs::write(
        &again,
        dump.replace("[redacted]@", "hunter2@")
            .replace("\"[redacted]\"", "0123456789abcdefghijklmnopqrstuvwxyz"),
    )
    .unwrap();
    let second = rampart(&["check", "--dump"], &again);
    assert!(second.status.success(), "{}", text(&second));
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&String::from_utf8_lossy(&second.stdout)), body(&dump));

    // An invalid config prints its problems and no dump.
    std::fs::write(&path, MINIMAL.replace("5/second", "5 per second")).unwrap();
    let bad = rampart(&["check", "--dump"], &path);
    assert_eq!(bad.status.code(), Some(1));
    assert!(bad.stdout.is_empty());
    assert!(
        text(&bad).contains("routes[0].rate_limit[0].rate"),
        "{}",
        text(&bad)
    );
}

#[test]
fn check_dump_redacts_every_redis_password_of_a_cluster_or_sentinel_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rampart.yaml");
    let stores = [
        "{ cluster: [\"redis://:hunter2@10.0.0.1:6379\", \"redis://app:hunter3@10.0.0.2:6379\"] }",
        "{ sentinel: { master: mymaster, nodes: [\"redis://:hunter2@10.0.0.5:26379\"] } }",
        "{ sentinel: { master: mymaster, nodes: [\"redis://10.0.0.5:26379\"] }, password: hunter3 }",
        "{ cluster: [\"redis://10.0.0.1:6379\"], password: hunter2 }",
    ];
    for store in stores {
        let yaml = MINIMAL.replace("{ url: \"redis://:hunter2@127.0.0.1:6379/0\" }", store);
        let yaml = yaml.replace("5/second,", "5/second, sharing: leased,");
        std::fs::write(&path, yaml).unwrap();
        let out = rampart(&["check", "--dump"], &path);
        assert!(out.status.success(), "{}", text(&out));
        let dump = String::from_utf8(out.stdout).unwrap();
        assert!(!dump.contains("hunter"), "{dump}");
        assert!(dump.contains("[redacted]"), "{dump}");
        assert!(dump.contains("sharing: leased"), "{dump}");
    }
}
