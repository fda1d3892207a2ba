//! WebSocket routes (SPEC §2 `websocket:`), against a real WebSocket app and client (the
//! Python `websockets` package, installed by ./test).
mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn support(script: &str) -> String {
    format!("{}/tests/support/{script}", env!("CARGO_MANIFEST_DIR"))
}

fn ws_app() -> Listening {
    let mut cmd = Command::new(python());
    cmd.arg(support("ws_app.py"));
    spawn_listening(cmd, "python3 with websockets (./test installs it)")
}

/// Runs a client scenario to its end; its JSON result.
fn client_run(url: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(python())
        .arg(support("ws_client.py"))
        .arg(url)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("null"))
        .unwrap_or_else(|_| panic!("client: {stdout} {}", String::from_utf8_lossy(&out.stderr)))
}

/// Starts a client holding `n` sockets; returns once they are open.
fn hold(url: &str, n: usize) -> (Child, ChildStdin, BufReader<ChildStdout>) {
    let mut child = Command::new(python())
        .arg(support("ws_client.py"))
        .args([url, "hold", &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("\"open\""), "sockets not opened: {line}");
    (child, stdin, out)
}

const ROUTES: &str = "  - name: live\n    match: { path_prefix: /ws }\n    upstream: app\n    timeout: 1s\n    max_body_bytes: 1KiB\n    websocket: { idle_timeout: 10m }\n  - { name: plain, match: { path_prefix: / }, upstream: app }";

fn ws_config(app: SocketAddr, extra_upstream: &str) -> String {
    config(app, ROUTES).replace(
        "    read_timeout: 5s\n",
        &format!("    read_timeout: 5s\n{extra_upstream}"),
    )
}

#[test]
fn messages_echo_through_and_nothing_after_the_101_counts_as_body() {
    let app = ws_app();
    let p = start(&ws_config(app.addr, ""));
    let url = format!("ws://{}/ws/echo", p.addr);
    // 1,000 messages and a 4 MiB one through a route whose max_body_bytes is 1 KiB.
    assert_eq!(client_run(&url, &["echo"])["ok"], true);
    // Open longer than the route's 1 s timeout.
    assert_eq!(client_run(&url, &["pause", "1.5"])["ok"], true);
}

#[test]
fn open_sockets_hold_no_slot_toward_the_app() {
    // Found on 0.1: two idle sockets with max_in_flight: 2 made every GET wait, then 503.
    let app = ws_app();
    let p = start(&ws_config(
        app.addr,
        "    max_in_flight: 2\n    queue: { max: 0, timeout: 1s }\n",
    ));
    let url = format!("ws://{}/ws/echo", p.addr);
    let (mut child, mut stdin, mut out) = hold(&url, 3);
    let c = client();
    for _ in 0..5 {
        assert_eq!(c.get(p.url("/plain")).send().unwrap().status(), 200);
    }
    assert_eq!(
        metric(&p, "rampart_websocket_connections{route=\"live\"}"),
        Some(3.0)
    );
    stdin.write_all(b"done\n").unwrap();
    drop(stdin);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let _ = child.wait();
    assert!(line.contains("\"alive\": 3"), "{line}");
    assert!(eventually(|| metric(
        &p,
        "rampart_websocket_connections{route=\"live\"}"
    ) == Some(0.0)));
}

#[test]
fn an_idle_socket_is_closed_after_idle_timeout() {
    let app = ws_app();
    let yaml = ws_config(app.addr, "").replace("idle_timeout: 10m", "idle_timeout: 300ms");
    let p = start(&yaml);
    let url = format!("ws://{}/ws/echo", p.addr);
    assert_eq!(client_run(&url, &["wait-close"])["closed"], true);
}

#[test]
fn upgrade_is_forwarded_only_on_websocket_routes() {
    // Found on 0.1: `Upgrade: websocket` was forwarded on every route.
    let app = ws_app();
    let p = start(&ws_config(app.addr, ""));
    let elsewhere = format!("ws://{}/chat", p.addr);
    let result = client_run(&elsewhere, &["echo"]);
    assert!(result.get("status").is_some_and(|s| s != 101), "{result}");
}

#[test]
fn sockets_still_open_when_the_grace_period_ends_get_1001_both_ways() {
    // Before: the process exited under them, and the client saw the connection cut with no
    // close frame (1006), the app likewise.
    let app = ws_app();
    let yaml = ws_config(app.addr, "").replace(
        "  environment: development\n",
        "  environment: development\n  grace_period: 2s\n",
    );
    let mut p = start(&yaml);
    let url = format!("ws://{}/ws/echo", p.addr);
    let mut child = Command::new(python())
        .arg(support("ws_client.py"))
        .args([url.as_str(), "until-closed"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("\"open\""), "socket not opened: {line}");
    p.signal(libc::SIGTERM);
    line.clear();
    out.read_line(&mut line).unwrap();
    let _ = child.wait();
    let result: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(result["code"], 1001, "the client: {line}");
    let status = p.wait_exit(std::time::Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert!(p
        .logs()
        .iter()
        .any(|l| l.contains("closing WebSockets with 1001") && l.contains("\"websockets\":1")));
    let closes = || -> serde_json::Value {
        client()
            .get(format!("http://{}/closes", app.addr))
            .send()
            .and_then(|r| r.json())
            .unwrap_or_default()
    };
    assert!(
        eventually(|| closes() == serde_json::json!([1001])),
        "the app: {}",
        closes()
    );
}

/// SPEC 0.3 `websocket.max_connections` / `max_per_client`: one client cannot take every
/// socket the app has (0.2: 500 tunnels from one client all reached the app).
#[test]
fn tunnels_are_capped_per_route_and_per_client() {
    let app = ws_app();
    let routes = "  - name: live\n    match: { path_prefix: /ws }\n    upstream: app\n    websocket: { idle_timeout: 10m, max_connections: 3, max_per_client: 2 }";
    let yaml = config(app.addr, routes).replace(
        "routes:\n",
        "client:\n  trusted_proxies: [127.0.0.0/8]\nroutes:\n",
    );
    let p = start(&yaml);
    let open = |client: &str| -> (u16, std::net::TcpStream) {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(p.addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .ok();
        write!(
            s,
            "GET /ws/echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             X-Forwarded-For: {client}\r\n\r\n"
        )
        .expect("write");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        (raw_status(&String::from_utf8_lossy(&head)), s)
    };
    let (a1, first) = open("10.0.0.1");
    let (a2, _second) = open("10.0.0.1");
    assert_eq!((a1, a2), (101, 101));
    assert_eq!(open("10.0.0.1").0, 503, "a third from the same client");
    let (b, _b) = open("10.0.0.2");
    assert_eq!(b, 101);
    assert_eq!(open("10.0.0.3").0, 503, "the route is full");
    drop(first);
    // The place comes back when Rampart sees that tunnel end.
    assert!(eventually(|| {
        let (status, _kept) = open("10.0.0.3");
        status == 101
    }));
    let logged = p
        .wait_for_log(|l| l.contains("\"code\":\"overloaded\""))
        .expect("a refused upgrade is logged");
    assert!(logged.contains("\"status\":503"), "{logged}");
}

/// A WebSocket upgrade admitted as a half-open breaker's trial is a success at the app's
/// 101, not when the tunnel ends: with the socket still open, the breaker is closed and other
/// requests go through (mutation testing: `on_upgrade` doing nothing went unnoticed).
#[test]
fn a_websocket_trial_closes_the_breaker_at_the_101() {
    let app = ws_app();
    let breaker =
        "    circuit_breaker: { consecutive_failures: 2, open_for: 1s, half_open_requests: 1 }\n";
    let p = start(&ws_config(app.addr, breaker));
    let c = client();
    for _ in 0..2 {
        assert_eq!(c.get(p.url("/fail")).send().unwrap().status(), 503);
    }
    assert_eq!(c.get(p.url("/plain")).send().unwrap().status(), 503);
    let breaker_state = || {
        let health: serde_json::Value = c
            .get(p.admin_url("/health"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        health["upstreams"][0]["breaker"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(eventually(|| breaker_state() == "half_open"));
    let url = format!("ws://{}/ws/echo", p.addr);
    let (mut child, mut stdin, _out) = hold(&url, 1);
    assert_eq!(breaker_state(), "closed", "the 101 was the trial's success");
    assert_eq!(c.get(p.url("/plain")).send().unwrap().status(), 200);
    stdin.write_all(b"done\n").unwrap();
    drop(stdin);
    let _ = child.wait();
}
