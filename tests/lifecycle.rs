//! Reloads under steady traffic, graceful shutdown (SIGTERM) and zero-downtime upgrades.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Client threads sending GETs until stopped; counts answers that are not 200.
struct Traffic {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

impl Traffic {
    /// `keep_alive`: one pooled client per thread; otherwise a new connection per request.
    fn start(url: String, threads: usize, keep_alive: bool) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let threads = (0..threads)
            .map(|_| {
                let (stop, ok, failed, url) = (
                    Arc::clone(&stop),
                    Arc::clone(&ok),
                    Arc::clone(&failed),
                    url.clone(),
                );
                std::thread::spawn(move || {
                    let pooled = client();
                    while !stop.load(Ordering::Relaxed) {
                        let c = if keep_alive { pooled.clone() } else { client() };
                        match c.get(&url).send().map(|r| r.status().as_u16()) {
                            Ok(200) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            other => {
                                if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                                    eprintln!("failed request: {other:?}");
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            ok,
            failed,
            threads,
        }
    }

    /// Stops the threads: (ok, failed).
    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

fn cfg(up: SocketAddr, body: u32) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  watch_config: false\n\
upstreams:\n  app:\n    endpoints: [\"{up}\"]\n\
routes:\n  - {{ name: api, match: {{ path_prefix: / }}, upstream: app, max_body_bytes: {body} }}\n\
logging:\n  access_log: false\n"
    )
}

#[test]
fn a_hundred_reloads_and_a_hundred_bad_files_under_traffic_fail_no_request() {
    let up = RecordingUpstream::start();
    let p = start(&cfg(up.addr, 1000));
    let traffic = Traffic::start(p.url("/x"), 4, true);
    assert!(eventually(|| traffic.ok.load(Ordering::Relaxed) > 100));
    // Between two reloads the clients always get requests through, so every reload
    // happens with requests in flight.
    let progressed = |traffic: &Traffic| {
        let seen = traffic.ok.load(Ordering::Relaxed);
        assert!(eventually(
            || traffic.ok.load(Ordering::Relaxed) >= seen + 20
        ));
    };
    for i in 0..100 {
        p.rewrite_config(&cfg(up.addr, 1001 + i));
        assert_eq!(p.reload(None).0, 200);
        progressed(&traffic);
    }
    for i in 0..100 {
        p.rewrite_config(&cfg(up.addr, i).replace("max_body_bytes", "max_body_bites"));
        assert_eq!(p.reload(None).0, 400);
        progressed(&traffic);
    }
    let (ok, failed) = traffic.finish();
    println!("reloads under traffic: {ok} requests ok, {failed} failed");
    assert_eq!(failed, 0);
    assert!(ok > 0);
    assert_eq!(metric(&p, "rampart_config_generation"), Some(101.0));
    assert_eq!(
        metric(&p, "rampart_config_reloads_total{result=\"failure\"}"),
        Some(100.0)
    );
}

#[test]
fn sigterm_turns_unready_finishes_requests_in_flight_closes_idle_connections_and_exits() {
    let up = RecordingUpstream::start();
    let yaml = cfg(up.addr, 1000).replace(
        "  watch_config: false\n",
        "  watch_config: false\n  grace_period: 30s\n  shutdown_delay: 3s\n",
    );
    let mut p = start(&yaml);
    // An idle keep-alive connection, and a request the app is still working on.
    let mut idle = TcpStream::connect(p.addr).unwrap();
    idle.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let in_flight = {
        let url = p.url("/hold");
        std::thread::spawn(move || client().get(url).send().map(|r| r.status().as_u16()))
    };
    assert!(eventually(|| up.held() == 1));

    p.signal(libc::SIGTERM);
    assert!(eventually(|| {
        client()
            .get(p.admin_url("/readyz"))
            .send()
            .is_ok_and(|r| r.status() == 503)
    }));
    // Still accepting during the shutdown delay: a new client is served.
    assert_eq!(
        client()
            .get(p.url("/during-delay"))
            .send()
            .unwrap()
            .status(),
        200
    );
    // After the delay the idle connection is closed cleanly (EOF, no reset).
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(idle.read(&mut buf).unwrap(), 0);
    // The request in flight is answered in full.
    up.release(1);
    assert_eq!(in_flight.join().unwrap().unwrap(), 200);
    let status = p.wait_exit(Duration::from_secs(40)).expect("exits");
    assert!(status.success(), "{status:?}");
    assert!(p
        .logs()
        .iter()
        .any(|l| l.contains("all connections finished")));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn twenty_upgrades_under_traffic_lose_no_new_connection() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("upgrade.sock");
    let (port, admin) = (free_port(), free_port());
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:{admin}\n  watch_config: false\n  \
grace_period: 10s\n  upgrade_sock: {}\n\
upstreams:\n  app:\n    endpoints: [\"{}\"]\n\
routes:\n  - {{ name: api, match: {{ path_prefix: / }}, upstream: app }}\n\
logging:\n  access_log: false\n",
        sock.display(),
        up.addr
    );
    let mut current = start(&yaml);
    let config = current.config_path();
    let traffic = Traffic::start(current.url("/x"), 2, false);
    assert!(eventually(|| traffic.ok.load(Ordering::Relaxed) > 20));
    let mut retired = Vec::new();
    for _ in 0..20 {
        // The new process waits on the upgrade socket; SIGQUIT makes the old one send.
        let next = spawn_upgrade(&config);
        current.signal(libc::SIGQUIT);
        let next = next.join().unwrap();
        retired.push(std::mem::replace(&mut current, next));
    }
    assert!(eventually(|| traffic.ok.load(Ordering::Relaxed) > 100));
    let (ok, failed) = traffic.finish();
    println!("20 upgrades under traffic: {ok} requests ok, {failed} failed");
    assert_eq!(
        failed, 0,
        "new connections refused or reset during upgrades"
    );
    for mut old in retired {
        let status = old
            .wait_exit(Duration::from_secs(30))
            .expect("old process exits");
        assert!(status.success(), "{status:?}");
    }
}

/// Starts `rampart --config FILE --upgrade` and returns once it is serving.
fn spawn_upgrade(config: &std::path::Path) -> JoinHandle<RampartProcess> {
    let config = config.to_path_buf();
    std::thread::spawn(move || start_file(&config, &["--upgrade"]))
}

#[test]
fn a_port_in_use_fails_the_start_before_the_start_line() {
    // Found on 0.1: the start line was printed and /livez answered while the public port
    // was never bound; the process aborted ~29 s later.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rampart.yaml");
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:0\n  environment: development\n\
upstreams:\n  app:\n    endpoints: [127.0.0.1:9]\n\
routes:\n  - {{ name: api, match: {{ path_prefix: / }}, upstream: app }}\n"
    );
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(rampart_bin())
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run rampart");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("server.listen: cannot listen on"), "{text}");
    assert!(!text.contains("rampart started"), "{text}");
}

#[test]
fn the_pid_file_names_the_process_while_it_runs() {
    // Found on 0.1: `server.pid_file` was never written, so `kill -QUIT "$(cat pid)"` failed.
    let up = RecordingUpstream::start();
    let pid_dir = tempfile::tempdir().unwrap();
    let pid_path = pid_dir.path().join("run/rampart.pid");
    let yaml = config(up.addr, DEFAULT_ROUTE).replace(
        "  environment: development\n",
        &format!(
            "  environment: development\n  pid_file: {}\n",
            pid_path.display()
        ),
    );
    let mut p = start(&yaml);
    let written =
        std::fs::read_to_string(&pid_path).expect("pid file written before the start line");
    assert_eq!(written.trim(), p.pid().to_string());
    p.signal(libc::SIGTERM);
    let status = p.wait_exit(Duration::from_secs(40)).expect("exits");
    assert!(status.success(), "{status:?}");
    assert!(!pid_path.exists(), "removed at exit");
}
