//! SPEC 0.3 `client.idle_timeout`: a connection with no request in progress is closed on
//! every protocol. Found on 0.2: an HTTP/2 connection that sent only its preface, or stayed
//! open after its request, was never closed — 1,000 of them (with `max_connections: 1000`)
//! locked every other client out.
mod common;
use common::proto::Proto;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The guard against a connection that is never closed (the deadlines below are 1 s).
const GUARD: Duration = Duration::from_secs(20);

fn yaml(up: &RecordingUpstream) -> String {
    format!(
        "{}client:\n  header_timeout: 1s\n  idle_timeout: 1s\n",
        config(up.addr, DEFAULT_ROUTE)
    )
}

#[test]
fn idle_h2_connections_are_sent_away_and_closed() {
    for proto in [Proto::H2c, Proto::H2Tls] {
        let up = RecordingUpstream::start();
        let p = proto.start(&yaml(&up), &[]);
        let authority = p.authority();
        for requests in [0, 2] {
            let ended = h2_client::until_closed(p.addr, p.tls(), &authority, requests, GUARD);
            assert_eq!(ended, Ok(()), "{proto:?} after {requests} requests");
        }
        assert_eq!(up.hits(), 2, "{proto:?}");
    }
}

/// At the frame level: a client that sends only the preface and SETTINGS gets a GOAWAY
/// with NO_ERROR, then the connection closes.
#[test]
fn a_silent_h2c_connection_gets_a_goaway() {
    let up = RecordingUpstream::start();
    let p = Proto::H2c.start(&yaml(&up), &[]);
    let mut s = TcpStream::connect(p.addr).expect("connect");
    s.set_read_timeout(Some(GUARD)).ok();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .expect("preface");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) => panic!("not closed: {e} (read {} bytes)", bytes.len()),
        }
    }
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 9 <= bytes.len() {
        let len = usize::from(bytes[at]) << 16
            | usize::from(bytes[at + 1]) << 8
            | usize::from(bytes[at + 2]);
        let kind = bytes[at + 3];
        let payload = &bytes[at + 9..(at + 9 + len).min(bytes.len())];
        frames.push((kind, payload.to_vec()));
        at += 9 + len;
    }
    let goaway = frames
        .iter()
        .find(|(kind, _)| *kind == 0x7)
        .unwrap_or_else(|| {
            panic!(
                "no GOAWAY among {:?}",
                frames.iter().map(|f| f.0).collect::<Vec<_>>()
            )
        });
    assert_eq!(goaway.1.get(4..8), Some(&[0u8, 0, 0, 0][..]), "NO_ERROR");
}

#[test]
fn an_idle_http1_connection_closes_after_idle_timeout() {
    let up = RecordingUpstream::start();
    let p = Proto::Http1.start(&yaml(&up), &[]);
    let mut s = TcpStream::connect(p.addr).expect("connect");
    s.set_read_timeout(Some(GUARD)).ok();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!("kept open past idle_timeout: {e}"),
        }
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
