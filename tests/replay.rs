//! `rampart replay` (SPEC §1): an access log recorded by a real Rampart, replayed against a
//! stricter config, gives exactly the refusals that config gives the same traffic live; a
//! combined-format log written by gunicorn (`--access-logfile`, its default format) replays
//! too; malformed lines are counted, never fatal.
mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

const LENIENT: &str = "  - { name: api, match: { path_prefix: /api }, upstream: app }\n  - { name: upload, match: { path_prefix: /upload }, upstream: app }\n  - { name: admin, match: { path_prefix: /admin }, upstream: app }\n  - { name: rest, match: { path_prefix: / }, upstream: app }";

const STRICT: &str = "  - name: api\n    match: { path_prefix: /api, methods: [GET, POST] }\n    upstream: app\n    deny_ips: [10.9.0.0/16]\n    rate_limit: [ { rate: 3/minute } ]\n  - { name: upload, match: { path_prefix: /upload }, upstream: app, max_body_bytes: 1KiB }\n  - { name: admin, match: { path_prefix: /admin }, upstream: app, allow_ips: [10.1.0.0/16] }";

/// (method, path, client address, body bytes).
const TRAFFIC: &[(&str, &str, &str, usize)] = &[
    ("GET", "/api/a", "10.0.0.1", 0),
    ("GET", "/api/a", "10.0.0.1", 0),
    ("GET", "/api/b", "10.0.0.2", 0),
    ("GET", "/api/a", "10.0.0.1", 0),
    ("GET", "/api/a?page=2", "10.0.0.1", 0),
    ("GET", "/api/a", "10.0.0.1", 0),
    ("DELETE", "/api/x", "10.0.0.3", 0),
    ("GET", "/api/x", "10.9.1.1", 0),
    ("POST", "/upload", "10.0.0.4", 500),
    ("POST", "/upload", "10.0.0.4", 2000),
    ("GET", "/other", "10.0.0.5", 0),
    ("GET", "/admin/x", "10.1.2.3", 0),
    ("GET", "/admin/x", "10.2.0.1", 0),
];

fn with_trusted_proxy(yaml: String) -> String {
    yaml.replace(
        "upstreams:\n",
        "client:\n  trusted_proxies: [127.0.0.1/32]\nupstreams:\n",
    )
}

/// Sends the traffic; the access-log lines Rampart wrote for it.
fn send(p: &RampartProcess) -> Vec<String> {
    let c = client();
    for (method, path, ip, size) in TRAFFIC {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = c.request(m, p.url(path)).header("X-Forwarded-For", *ip);
        if *size > 0 {
            req = req.body(vec![b'x'; *size]);
        }
        req.send().unwrap();
    }
    let done = || {
        p.logs()
            .iter()
            .filter(|l| l.contains("\"request_id\""))
            .count()
            >= TRAFFIC.len()
    };
    assert!(eventually(done), "not every request was logged");
    p.logs()
        .into_iter()
        .filter(|l| l.contains("\"request_id\""))
        .collect()
}

/// (route, code) -> refusals, from access-log lines.
fn refusals(lines: &[String]) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for l in lines {
        let v: Value = serde_json::from_str(l).unwrap();
        if let Some(code) = v["code"].as_str() {
            let route = v["route"].as_str().unwrap_or("").to_string();
            *out.entry((route, code.to_string())).or_default() += 1;
        }
    }
    out
}

fn replay(config: &std::path::Path, log: &[u8], extra: &[&str]) -> Value {
    let mut child = Command::new(rampart_bin())
        .args(["replay", "--config"])
        .arg(config)
        .args(["--log", "-", "--format", "json"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(log).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_recorded_log_replayed_gives_the_refusals_the_stricter_config_gives_live() {
    let up = RecordingUpstream::start();
    let recorded = send(&start(&with_trusted_proxy(config(up.addr, LENIENT))));
    assert!(
        refusals(&recorded).is_empty(),
        "the lenient config refused something"
    );

    let strict = with_trusted_proxy(config(up.addr, STRICT));
    let dir = tempfile::tempdir().unwrap();
    let strict_file = dir.path().join("strict.yaml");
    std::fs::write(&strict_file, &strict).unwrap();
    let mut log = recorded.join("\n").into_bytes();
    log.extend_from_slice(b"\nthis is not a log line\n{\"ts\": 1}\n");
    let report = replay(&strict_file, &log, &[]);

    let live = refusals(&send(&start(&strict)));
    let replayed: BTreeMap<(String, String), u64> = report["by_route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key = (
                r["route"].as_str().unwrap().to_string(),
                r["code"].as_str().unwrap().to_string(),
            );
            (key, r["refused"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(replayed, live, "{report:#}");
    let expected: BTreeMap<(String, String), u64> = [
        (("".into(), "not_found".into()), 1),
        (("".into(), "method_not_allowed".into()), 1),
        (("api".into(), "forbidden".into()), 1),
        (("api".into(), "rate_limited".into()), 2),
        (("upload".into(), "body_too_large".into()), 1),
        (("admin".into(), "forbidden".into()), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(live, expected);
    assert_eq!(report["total"], TRAFFIC.len());
    assert_eq!(report["refused"], 7);
    assert_eq!(
        report["newly_refused"], 7,
        "the recorded run served them all"
    );
    assert_eq!(report["malformed"], 2);
    let samples = &report["by_route"][0]["samples"];
    assert!(
        samples[0].as_str().unwrap().contains("\"request_id\""),
        "{samples}"
    );
}

/// The example app under gunicorn on a unix socket, its access log (default format) in `log`.
struct Gunicorn(std::process::Child);

impl Drop for Gunicorn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_gunicorn_combined_log_replays_and_malformed_lines_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("app.sock");
    let log = dir.path().join("access.log");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let _app = Gunicorn(
        Command::new(python)
            .args(["-m", "gunicorn", "-w", "1", "--bind"])
            .arg(format!("unix:{}", socket.display()))
            .arg("--access-logfile")
            .arg(&log)
            .args(["--log-level", "warning", "app:app"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/legacy_app"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gunicorn (./test installs the example app's packages)"),
    );
    assert!(eventually(|| std::os::unix::net::UnixStream::connect(
        &socket
    )
    .is_ok()));
    let requests = [
        "GET /items/1",
        "GET /items/2",
        "GET /items/3",
        "GET /items/4",
        "POST /admin/reset",
    ];
    for r in requests {
        let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        write!(
            s,
            "{r} HTTP/1.1\r\nHost: app\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
    }
    let logged = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert!(eventually(|| logged() >= requests.len()));
    let mut text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("\"GET /items/1 HTTP/1.1\""), "{text}");
    text.push_str("garbage line\n127.0.0.1 - - [not a date] \"GET / HTTP/1.1\" 200 1\n");

    let cfg = dir.path().join("candidate.yaml");
    std::fs::write(
        &cfg,
        "server: { listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0 }\nupstreams:\n  app: { endpoints: [\"127.0.0.1:8000\"] }\nroutes:\n  - { name: items, match: { path_prefix: /items, methods: [GET] }, upstream: app, rate_limit: [ { rate: 2/minute, key: global } ] }\n",
    )
    .unwrap();
    // A raw byte in a request line (gunicorn logs them as received) is one malformed line,
    // never the end of the replay (0.2 stopped with "stream did not contain valid UTF-8").
    let mut log_bytes = text.into_bytes();
    log_bytes.extend_from_slice(
        b"127.0.0.1 - - [07/Dec/2026:01:02:03 +0000] \"GET /items/\xff HTTP/1.1\" 200 1 \"-\" \"curl\"\n",
    );
    let report = replay(&cfg, &log_bytes, &["--log-format", "combined"]);
    assert_eq!(report["total"], 5, "{report:#}");
    assert_eq!(report["malformed"], 3);
    let by: Vec<(String, String, u64)> = report["by_route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["route"].as_str().unwrap().into(),
                r["code"].as_str().unwrap().into(),
                r["refused"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("".into(), "not_found".into(), 1),
            ("items".into(), "rate_limited".into(), 2)
        ]
    );
    assert!(report["skipped"][0]
        .as_str()
        .unwrap()
        .contains("max_body_bytes"));

    // The table format says the same in words.
    let table = Command::new(rampart_bin())
        .args(["replay", "--config"])
        .arg(&cfg)
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "combined"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("5 requests replayed: 3 would be refused"),
        "{table}"
    );
}
