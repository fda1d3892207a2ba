//! SPEC 0.3 `client.send_timeout` (NGINX `send_timeout`): a client that stops reading
//! cannot hold an app connection. Found on 0.2: with an HTTP/2 window of 0, each stream of a
//! large response held an app connection indefinitely (one connection pinned 100 of them);
//! on HTTP/1.1 a client that never read an 8 MiB answer held its app connection for as long
//! as it liked.
mod common;
use common::proto::Proto;
use common::*;
use std::io::{Read, Write};
use std::time::Duration;

const GUARD: Duration = Duration::from_secs(20);
/// Larger than any socket buffers between Rampart and the client.
const LARGE: &str = "/bytes/67108864";

fn yaml(up: &RecordingUpstream) -> String {
    format!(
        "{}client:\n  send_timeout: 1s\n",
        config(up.addr, DEFAULT_ROUTE)
    )
}

#[test]
fn a_stalled_h2_stream_is_reset_and_logged() {
    for proto in [Proto::H2c, Proto::H2Tls] {
        let up = RecordingUpstream::start();
        let p = proto.start(&yaml(&up), &[]);
        let (authority, tls) = (p.authority(), p.tls());
        let ended = h2_client::stalled(p.addr, tls, &authority, LARGE, GUARD);
        assert!(
            ended.as_ref().is_err_and(|e| e.starts_with("200")),
            "{proto:?}: the stalled stream was not reset: {ended:?}"
        );
        let logged = p
            .wait_for_log(|l| l.contains("\"code\":\"send_timeout\""))
            .expect("the stalled exchange is logged");
        assert!(logged.contains("\"status\":200"), "{logged}");
        // The connection serves on: only the stalled stream ended.
        assert_eq!(p.in_a_row(&["/"]), [200]);
    }
}

#[test]
fn a_stalled_http1_client_is_cut_off_and_logged() {
    let up = RecordingUpstream::start();
    let p = Proto::Http1.start(&yaml(&up), &[]);
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&p.addr.into()).expect("connect");
    let mut conn: std::net::TcpStream = socket.into();
    write!(conn, "GET {LARGE} HTTP/1.1\r\nHost: a\r\n\r\n").expect("write");
    // Read nothing until Rampart gives up on this client.
    let logged = p
        .wait_for_log(|l| l.contains("\"code\":\"send_timeout\""))
        .expect("the stalled exchange is logged");
    assert!(logged.contains("\"status\":200"), "{logged}");
    // What was already in flight drains, then the connection is closed.
    conn.set_read_timeout(Some(GUARD)).ok();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0usize;
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    assert!(total < 64 << 20, "the whole answer went out: {total} bytes");
}
