//! `rampart::build` used as a library: ephemeral ports are known before the server runs.
mod common;
use common::*;
use pingora::server::{RunArgs, ShutdownSignal};
use rampart::lifecycle::shutdown::ChannelShutdown;

#[test]
fn build_binds_port_zero_and_serves() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rampart.yaml");
    std::fs::write(&path, config(up.addr, DEFAULT_ROUTE)).unwrap();
    let loaded = rampart::config::load_file(&path).unwrap();
    let built = rampart::build(loaded, rampart::BuildOptions::default()).unwrap();
    assert_ne!(built.listen_addr.port(), 0);
    assert_ne!(built.admin_addr.port(), 0);
    let (addr, admin) = (built.listen_addr, built.admin_addr);
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let server = built.server;
    let thread = std::thread::spawn(move || {
        server.run(RunArgs {
            shutdown_signal: Box::new(ChannelShutdown(tokio::sync::Mutex::new(rx))),
        })
    });
    // The sockets were bound by `build`: connections queue until the server accepts them.
    let c = client();
    assert_eq!(
        c.get(format!("http://{addr}/hello"))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("http://{admin}/livez"))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(up.last().uri, "/hello");
    tx.blocking_send(ShutdownSignal::FastShutdown).unwrap();
    // Not joined: Pingora 0.9.1's no-steal runtime shutdown can block joining a runtime
    // thread still in `accept` (seen under CI load, in-process only); the binary's own
    // shutdown is covered by tests/lifecycle.rs. The test process ends the thread.
    drop(thread);
}
