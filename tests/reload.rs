//! Live reload (SPEC §3): all or nothing, state carried over, every trigger.
mod common;
use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

const TOKEN: &str = "reload-token-0123456789abcdefghijklmnop";

/// A config with a limited route, a plain one, and `body` as the plain route's body limit
/// (the "unrelated change" the tests flip). `watch` turns the file watcher on.
fn cfg(up: SocketAddr, limit: &str, body: u32, watch: bool) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  admin_token: {TOKEN}\n  watch_config: {watch}\n\
upstreams:\n  app:\n    endpoints: [\"{up}\"]\n\
routes:\n  - {{ name: limited, match: {{ path_prefix: /limited }}, upstream: app, rate_limit: [{{ rate: {limit}, key: global }}] }}\n  \
- {{ name: other, match: {{ path_prefix: /other }}, upstream: app, rate_limit: [{{ rate: 1/hour, key: global }}] }}\n  \
- {{ name: plain, match: {{ path_prefix: / }}, upstream: app, max_body_bytes: {body} }}\n"
    )
}

fn generation(p: &RampartProcess) -> u64 {
    let body: Value = client()
        .get(p.admin_url("/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    body["config"]["generation"].as_u64().unwrap()
}

fn status(p: &RampartProcess, path: &str) -> u16 {
    client().get(p.url(path)).send().unwrap().status().as_u16()
}

#[test]
fn the_admin_endpoint_needs_the_token_and_reports_the_generation() {
    let up = RecordingUpstream::start();
    let p = start(&cfg(up.addr, "3/hour", 1000, false));
    assert_eq!(p.reload(None).0, 401);
    assert_eq!(p.reload(Some("wrong-token-0123456789")).0, 401);
    let resp = client().get(p.admin_url("/-/reload")).send().unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    // The same file again: a successful reload, but the generation counts content changes.
    let (code, body) = p.reload(Some(TOKEN));
    assert_eq!((code, body["generation"].as_u64()), (200, Some(1)));
    p.rewrite_config(&cfg(up.addr, "3/hour", 1001, false));
    let (code, body) = p.reload(Some(TOKEN));
    assert_eq!((code, body["generation"].as_u64()), (200, Some(2)));
    assert_eq!(metric(&p, "rampart_config_generation"), Some(2.0));
    assert_eq!(
        metric(&p, "rampart_config_reloads_total{result=\"success\"}"),
        Some(3.0)
    );
    assert!(metric(&p, "rampart_config_last_reload_success_timestamp_seconds").unwrap() > 1.7e9);
    // RFC 9110: the scheme is case-insensitive (found on 0.1: `bearer` was refused).
    let lower = client()
        .post(p.admin_url("/-/reload"))
        .header("authorization", format!("bearer {TOKEN}"))
        .send()
        .unwrap();
    assert_eq!(lower.status(), 200);
}

#[test]
fn an_invalid_file_changes_nothing_and_is_reported_until_a_valid_one() {
    let up = RecordingUpstream::start();
    let p = start(&cfg(up.addr, "3/hour", 1000, false));
    let sha = |p: &RampartProcess| -> String {
        let body: Value = client()
            .get(p.admin_url("/health"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        body["config"]["sha256"].as_str().unwrap().to_string()
    };
    let before = sha(&p);
    p.rewrite_config(
        &cfg(up.addr, "3/hour", 1000, false)
            .replace("max_body_bytes: 1000", "max_body_bytes: lots"),
    );
    let (code, body) = p.reload(Some(TOKEN));
    assert_eq!(code, 400);
    assert_eq!(body["code"], "invalid_config");
    let first = body["errors"][0].as_str().unwrap();
    assert!(
        first.contains("rampart.yaml:12:") && first.contains("routes[2].max_body_bytes"),
        "{first}"
    );
    // The old config still serves, unchanged.
    assert_eq!(generation(&p), 1);
    assert_eq!(sha(&p), before);
    assert_eq!(status(&p, "/x"), 200);
    let health: Value = client()
        .get(p.admin_url("/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(health["config"]["last_error"]
        .as_str()
        .unwrap()
        .contains("max_body_bytes"));
    assert_eq!(
        metric(&p, "rampart_config_reloads_total{result=\"failure\"}"),
        Some(1.0)
    );
    // Stays 0 while the bad file is there (an alert on it does not resolve itself).
    assert_eq!(
        metric(&p, "rampart_config_last_reload_successful"),
        Some(0.0)
    );
    assert!(p
        .wait_for_log(|l| l.contains("config reload rejected") && l.contains("rampart.yaml:12:"))
        .is_some());
    // A valid file clears the error.
    p.rewrite_config(&cfg(up.addr, "3/hour", 2000, false));
    assert_eq!(p.reload(Some(TOKEN)).0, 200);
    let health: Value = client()
        .get(p.admin_url("/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["config"]["last_error"], Value::Null);
    assert_ne!(sha(&p), before);
    assert_eq!(
        metric(&p, "rampart_config_last_reload_successful"),
        Some(1.0)
    );
}

#[test]
fn sockets_and_threads_need_a_restart() {
    let up = RecordingUpstream::start();
    let p = start(&cfg(up.addr, "3/hour", 1000, false));
    p.rewrite_config(
        &cfg(up.addr, "3/hour", 1000, false)
            .replace("  watch_config", "  threads: 7\n  watch_config"),
    );
    let (code, body) = p.reload(Some(TOKEN));
    assert_eq!(code, 400);
    let error = body["errors"][0].as_str().unwrap();
    assert!(
        error.contains("server.threads") && error.contains("restart"),
        "{error}"
    );
    assert_eq!(generation(&p), 1);
}

#[test]
fn a_hundred_unrelated_reloads_never_refill_a_budget_and_a_changed_limit_resets_only_itself() {
    let up = RecordingUpstream::start();
    let p = start(&cfg(up.addr, "3/hour", 1000, false));
    for _ in 0..3 {
        assert_eq!(status(&p, "/limited"), 200);
    }
    assert_eq!(status(&p, "/other"), 200);
    assert_eq!(status(&p, "/limited"), 429);
    assert_eq!(status(&p, "/other"), 429);
    for i in 0..100 {
        p.rewrite_config(&cfg(up.addr, "3/hour", 1001 + i, false));
        assert_eq!(p.reload(Some(TOKEN)).0, 200);
        assert_eq!(status(&p, "/limited"), 429, "refilled by reload {i}");
    }
    assert_eq!(generation(&p), 101);
    // Changing the limited route's own limit gives it a fresh bucket; `other` stays spent.
    p.rewrite_config(&cfg(up.addr, "5/hour", 1000, false));
    assert_eq!(p.reload(Some(TOKEN)).0, 200);
    assert_eq!(status(&p, "/limited"), 200);
    assert_eq!(status(&p, "/other"), 429);
}

#[test]
fn requests_in_flight_finish_under_the_config_they_started_with() {
    let up = RecordingUpstream::start();
    let routes = |timeout: &str| {
        format!(
            "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  watch_config: false\n\
upstreams:\n  app:\n    endpoints: [\"{}\"]\n\
routes:\n  - {{ name: slow, match: {{ path_prefix: / }}, upstream: app, timeout: {timeout} }}\n",
            up.addr
        )
    };
    let p = start(&routes("30s"));
    let slow = {
        let url = p.url("/hold");
        std::thread::spawn(move || client().get(url).send().unwrap().status().as_u16())
    };
    assert!(eventually(|| up.held() == 1));
    // The new config would give it 100 ms: the request in flight keeps its 30 s.
    p.rewrite_config(&routes("100ms"));
    assert_eq!(p.reload(None).0, 200);
    let late = {
        let url = p.url("/hold");
        std::thread::spawn(move || client().get(url).send().unwrap().status().as_u16())
    };
    assert_eq!(
        late.join().unwrap(),
        504,
        "new requests get the new timeout"
    );
    up.release(2);
    assert_eq!(slow.join().unwrap(), 200);
}

#[test]
fn sighup_and_file_changes_reload() {
    let up = RecordingUpstream::start();
    let p = start(&cfg(up.addr, "3/hour", 1000, false));
    p.rewrite_config(&cfg(up.addr, "3/hour", 1001, false));
    p.signal(libc::SIGHUP);
    assert!(eventually(|| generation(&p) == 2));
    // With the watcher on, saving the file is enough.
    p.rewrite_config(&cfg(up.addr, "3/hour", 1000, true));
    p.signal(libc::SIGHUP);
    assert!(eventually(|| generation(&p) == 3));
    p.rewrite_config(&cfg(up.addr, "3/hour", 5, true));
    assert!(eventually(|| generation(&p) == 4));
    let resp = client().post(p.url("/x")).body("too long").send().unwrap();
    assert_eq!(resp.status(), 413, "the saved file's limit applies");
}

#[test]
fn a_kubernetes_configmap_update_is_followed() {
    // The kubelet's layout: rampart.yaml -> ..data/rampart.yaml, ..data -> ..<timestamp>/;
    // an update writes a new folder and renames a new `..data` symlink over the old one.
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let publish = |version: &str, yaml: &str| {
        let folder = root.join(format!("..{version}"));
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("rampart.yaml"), yaml).unwrap();
        let tmp = root.join("..data_tmp");
        std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
        std::fs::rename(&tmp, root.join("..data")).unwrap();
    };
    publish("2026_11_22_1", &cfg(up.addr, "3/hour", 1000, true));
    std::os::unix::fs::symlink("..data/rampart.yaml", root.join("rampart.yaml")).unwrap();
    let mut child = std::process::Command::new(rampart_bin())
        .arg("--config")
        .arg(root.join("rampart.yaml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let admin = admin_address(&mut child);
    let gen = || -> u64 {
        let body: Value = client()
            .get(format!("http://{admin}/health"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        body["config"]["generation"].as_u64().unwrap()
    };
    assert_eq!(gen(), 1);
    publish("2026_11_22_2", &cfg(up.addr, "3/hour", 7, true));
    let reloaded = eventually(|| gen() == 2);
    let _ = child.kill();
    let _ = child.wait();
    assert!(reloaded, "the symlink swap was not noticed");
}

/// Reads the start line of a process started without the harness and returns its admin
/// address (the rest of its output is drained).
fn admin_address(child: &mut std::process::Child) -> SocketAddr {
    use std::io::BufRead;
    let out = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(out).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("rampart started"))
        .expect("start line");
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    let v: Value = serde_json::from_str(&started).unwrap();
    v["admin"].as_str().unwrap().parse().unwrap()
}

#[test]
fn the_log_level_follows_a_reload() {
    let up = RecordingUpstream::start();
    let with_level = |level: &str, body: u32| {
        format!(
            "{}logging:\n  level: {level}\n",
            cfg(up.addr, "3/hour", body, false)
        )
    };
    let p = start(&with_level("info", 1000));
    // Reloaded at warn, the reload's own info line is not printed (the level applies first)...
    p.rewrite_config(&with_level("warn", 1001));
    assert_eq!(p.reload(Some(TOKEN)).1["generation"], 2);
    // ...and back at info, it is.
    p.rewrite_config(&with_level("info", 1002));
    assert_eq!(p.reload(Some(TOKEN)).1["generation"], 3);
    let line = p
        .wait_for_log(|l| l.contains("config reloaded"))
        .expect("info line after the level change");
    assert!(line.contains("\"generation\":3"), "{line}");
    assert!(
        !p.logs()
            .iter()
            .any(|l| l.contains("config reloaded") && l.contains("\"generation\":2")),
        "the reload made at warn level printed its info line"
    );
}

/// SPEC 0.3 §3: a busy file beside the config — an access log written every few
/// milliseconds — never delays a reload (0.2 waited for the whole folder to be quiet for
/// 200 ms, so the edit took effect only once the writer stopped).
#[test]
fn a_busy_neighbour_file_does_not_starve_reloads() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let up = RecordingUpstream::start();
    let p = start(&cfg(up.addr, "3/hour", 1000, true));
    let stop = Arc::new(AtomicBool::new(false));
    let log = p.dir.path().join("access.log");
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) && n < 100_000 {
                n += 1;
                let line = format!("{{\"line\":{n}}}\n");
                let _ = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    p.rewrite_config(&cfg(up.addr, "3/hour", 7, true));
    let reloaded = eventually(|| generation(&p) == 2);
    stop.store(true, Ordering::SeqCst);
    let _ = writer.join();
    assert!(reloaded, "the edit waited for the neighbour to stop");
    assert_eq!(status(&p, "/"), 200);
}

/// The client deadlines are reloadable (HTTP/1.1 follows at once; HTTP/2 connections keep
/// the ones their listener started with, which the reload says): the reload is applied.
#[test]
fn client_deadlines_reload() {
    let up = RecordingUpstream::start();
    let base = cfg(up.addr, "3/hour", 1000, false);
    let p = start(&base);
    p.rewrite_config(&base.replace(
        "routes:\n",
        "client:\n  header_timeout: 3s\n  idle_timeout: 5s\n  max_header_bytes: 512KiB\nroutes:\n",
    ));
    let (code, body) = p.reload(Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["generation"], 2);
    assert!(p
        .wait_for_log(|l| l.contains("HTTP/2 connections only after a restart"))
        .is_some());
}

/// SPEC 0.3 §3: a schema file a route names is reloaded like the config when it changes
/// (the generation keeps following the config file itself).
#[test]
fn a_changed_schema_file_is_reloaded() {
    let up = RecordingUpstream::start();
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  admin_token: {TOKEN}\n\
upstreams:\n  app:\n    endpoints: [\"{}\"]\n\
routes:\n  - {{ name: orders, match: {{ path_prefix: /orders }}, upstream: app, json_schema: schemas/order.json }}\n",
        up.addr
    );
    let loose = r#"{"type":"object"}"#;
    let strict = r#"{"type":"object","required":["qty"]}"#;
    let p = start_with_files(&yaml, &[("schemas/order.json", loose)]);
    let post = || {
        client()
            .post(p.url("/orders"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post(), 200);
    let schema = p.dir.path().join("schemas/order.json");
    let tmp = p.dir.path().join("schemas/.order.json.tmp");
    std::fs::write(&tmp, strict).unwrap();
    std::fs::rename(&tmp, &schema).unwrap();
    assert!(
        eventually(|| post() == 422),
        "the new schema was not loaded"
    );
    assert_eq!(generation(&p), 1, "the generation follows the config file");
    assert!(metric(&p, "rampart_config_reloads_total{result=\"success\"}").unwrap_or(0.0) >= 2.0);
}
