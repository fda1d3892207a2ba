//! Test harness: a real Rampart (through `rampart::build`, ephemeral ports, stopped on drop)
//! and real upstreams that record what they received.
#![allow(dead_code)]

mod certs;
pub mod faulty;
pub mod gunicorn;
pub mod h2_client;
pub mod h2_raw;
pub mod pods;
pub mod redis;
pub mod redis_topologies;
pub mod tools;
#[allow(unused_imports)]
pub use certs::{certificate, self_signed};
pub mod proto;
pub mod upstream;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use faulty::FaultyUpstream;
#[allow(unused_imports)]
pub use redis::RedisServer;
#[allow(unused_imports)]
pub use upstream::RecordingUpstream;

/// A running `rampart` process (the real binary, whose `main` calls `rampart::build`),
/// killed when dropped. Each test gets its own process: Pingora keeps process-wide state
/// (runtimes, timers, fd tables) that does not survive a second server in one process.
pub struct RampartProcess {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    logs: Arc<(Mutex<Vec<String>>, Condvar)>,
    child: Child,
}

pub fn rampart_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rampart")
}

/// Writes `yaml` as `rampart.yaml` in a fresh folder (with `files` beside it) and starts it.
pub fn start_with_files(yaml: &str, files: &[(&str, &str)]) -> RampartProcess {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, content).expect("write file");
    }
    let path = dir.path().join("rampart.yaml");
    std::fs::write(&path, yaml).expect("write config");
    launch(&path, &[], dir)
}

/// Starts a Rampart on an existing config file with extra arguments (`--upgrade`).
pub fn start_file(path: &std::path::Path, args: &[&str]) -> RampartProcess {
    launch(path, args, tempfile::tempdir().expect("tempdir"))
}

fn launch(path: &std::path::Path, args: &[&str], dir: tempfile::TempDir) -> RampartProcess {
    let mut child = Command::new(rampart_bin())
        .arg("--config")
        .arg(path)
        .args(args)
        .env_remove("RAMPART_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rampart");
    let logs: Arc<(Mutex<Vec<String>>, Condvar)> = Arc::default();
    for pipe in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let logs = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let (lock, cvar) = &*logs;
                lock.lock().unwrap().push(line);
                cvar.notify_all();
            }
        });
    }
    let mut p = RampartProcess {
        addr: "0.0.0.0:0".parse().unwrap(),
        admin: "0.0.0.0:0".parse().unwrap(),
        dir,
        logs,
        child,
    };
    // The sockets are bound before this line is printed, so no polling is needed after it.
    let started = p
        .wait_for_log(|l| l.contains("rampart started"))
        .unwrap_or_else(|| panic!("rampart did not start:\n{}", p.logs().join("\n")));
    // JSON (`"listen":"…"`) or pretty (`listen=…`) start line.
    let field = |name: &str| -> SocketAddr {
        let v: serde_json::Value = serde_json::from_str(&started).unwrap_or_default();
        if let Some(s) = v[name].as_str() {
            return s.parse().expect("address");
        }
        let key = format!("{name}=");
        let at = started.find(&key).expect("address in start line") + key.len();
        let rest = &started[at..];
        rest[..rest.find(' ').unwrap_or(rest.len())]
            .trim_matches('"')
            .parse()
            .expect("address")
    };
    p.addr = field("listen");
    p.admin = field("admin");
    p
}

pub fn start(yaml: &str) -> RampartProcess {
    start_with_files(yaml, &[])
}

impl Drop for RampartProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RampartProcess {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    /// The config file this process was started with.
    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("rampart.yaml")
    }

    /// Replaces the config file atomically (write beside it, then rename), as editors and
    /// deploy tools do.
    pub fn rewrite_config(&self, yaml: &str) {
        let tmp = self.dir.path().join(".rampart.yaml.tmp");
        std::fs::write(&tmp, yaml).expect("write config");
        std::fs::rename(&tmp, self.config_path()).expect("rename config");
    }

    /// `POST /-/reload` with an optional bearer token: (status, JSON body).
    pub fn reload(&self, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = client().post(self.admin_url("/-/reload"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().expect("reload request");
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(serde_json::Value::Null))
    }

    /// The process id (for signals sent by other means).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line printed so far (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.logs.0.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) for a printed line matching `pred` and returns it.
    pub fn wait_for_log(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        let (lock, cvar) = &*self.logs;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut lines = lock.lock().unwrap();
        loop {
            if let Some(l) = lines.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = cvar.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the process to exit (up to `limit`), returning its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Waits (up to 20 s) until `cond` holds; false if it never did. For conditions another
/// process makes true (a gauge settling, requests reaching the app), not for timing.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Every field of an access-log line, in order (SPEC §7).
pub const ACCESS_LOG_FIELDS: &[&str] = &[
    "ts",
    "level",
    "request_id",
    "trace_id",
    "client_ip",
    "method",
    "path",
    "route",
    "upstream",
    "endpoint",
    "status",
    "code",
    "shadow",
    "bytes_in",
    "bytes_out",
    "duration_ms",
    "upstream_ms",
    "retries",
    "user_agent",
];

/// A config with one upstream `app` at `upstream` and the given routes (YAML list items).
pub fn config(upstream: SocketAddr, routes: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  threads: 2\n  environment: development\n\
upstreams:\n  app:\n    endpoints: [\"{upstream}\"]\n    read_timeout: 5s\n\
routes:\n{routes}\nlogging:\n  access_log: true\n"
    )
}

pub const DEFAULT_ROUTE: &str = "  - { name: default, match: { path_prefix: / }, upstream: app }";

/// A blocking HTTP client that ignores proxy settings from the environment.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Sends raw bytes and reads the whole answer (until the server closes or goes quiet).
pub fn raw(addr: SocketAddr, request: &[u8]) -> String {
    raw_with_timeout(addr, request, Duration::from_secs(10))
}

/// `raw`, giving up after `quiet` without data (for peers that keep the connection open).
pub fn raw_with_timeout(addr: SocketAddr, request: &[u8], quiet: Duration) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(quiet)).ok();
    s.write_all(request).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 answer.
pub fn raw_status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The JSON body of a raw answer.
pub fn raw_json(answer: &str) -> serde_json::Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// Asserts a response is our problem+json with `code` and `status`.
pub fn assert_problem(
    resp: reqwest::blocking::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert!(resp.headers().get("server").is_none(), "no Server header");
    let id = resp
        .headers()
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = resp.json().expect("json body");
    assert_eq!(body["code"], code);
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["request_id"], id.as_str());
    body
}

/// Scrapes `/metrics` and returns the value of the sample whose name and labels start with
/// `selector` (e.g. `rampart_requests_total{method="GET",route="api",status="200"}`).
pub fn metric(p: &RampartProcess, selector: &str) -> Option<f64> {
    let text = client()
        .get(p.admin_url("/metrics"))
        .send()
        .ok()?
        .text()
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(selector) && l[selector.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A child process that prints `listening on ADDR` first (the test apps); killed when dropped.
pub struct Listening {
    pub addr: SocketAddr,
    child: std::process::Child,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` and waits for its `listening on ADDR` line; `hint` says what to install.
pub fn spawn_listening(mut cmd: Command, hint: &str) -> Listening {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{hint}: {e}"));
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("did not start ({hint}): {line:?}"));
    Listening { addr, child }
}
