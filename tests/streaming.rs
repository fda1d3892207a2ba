//! Streaming responses (SPEC §2 route notes): once the response head has been forwarded the
//! route `timeout` no longer applies, gaps stay bounded by the read timeout, and a stream
//! ended by such a gap is logged `stream_idle` without counting as a breaker failure.
mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

/// A Server-Sent Events app on a raw socket: sends `events` events, each only after the test
/// said the previous one arrived (`next`), `gap` apart; then ends the stream, or with
/// `then_idle` keeps it open and silent.
fn sse_app(events: usize, gap: Duration, then_idle: bool) -> (SocketAddr, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (next, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            if conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
                .is_err()
            {
                continue;
            }
            for i in 0..events {
                if i > 0 {
                    // The previous event reached the client before this one is sent.
                    if wait.recv().is_err() {
                        return;
                    }
                    std::thread::sleep(gap);
                }
                let event = format!("data: {i}\n\n");
                let _ = conn.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes());
            }
            if then_idle {
                let mut sink = [0u8; 64];
                while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
            } else {
                let _ = conn.write_all(b"0\r\n\r\n");
            }
        }
    });
    (addr, next)
}

/// Reads the chunked SSE body event by event, telling the app after each.
fn read_events(stream: &mut TcpStream, next: &mpsc::Sender<()>, count: usize) -> Vec<String> {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let mut events = Vec::new();
    while events.len() < count {
        let mut size = String::new();
        if reader.read_line(&mut size).unwrap_or(0) == 0 {
            break;
        }
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 {
            break;
        }
        let mut data = vec![0u8; n + 2];
        if reader.read_exact(&mut data).is_err() {
            break;
        }
        events.push(String::from_utf8_lossy(&data[..n]).into_owned());
        let _ = next.send(());
    }
    events
}

#[test]
fn a_stream_outlives_the_route_timeout_and_arrives_event_by_event() {
    // Found on 0.1: a route `timeout` cut Server-Sent Events (LLM token streams) short.
    let (app, next) = sse_app(5, Duration::from_millis(700), false);
    let routes = "  - { name: sse, match: { path_prefix: / }, upstream: app, timeout: 2s }";
    let p = start(&config(app, routes));
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let events = read_events(&mut s, &next, 5);
    assert_eq!(
        events.len(),
        5,
        "every event of a ~2.8 s stream arrived: {events:?}"
    );
    assert_eq!(events[4], "data: 4\n\n");
}

#[test]
fn an_idle_stream_ends_as_stream_idle_and_the_breaker_stays_closed() {
    let (app, next) = sse_app(2, Duration::from_millis(10), true);
    let routes = "  - { name: sse, match: { path_prefix: / }, upstream: app, timeout: 10s }";
    let yaml = config(app, routes).replace(
        "    read_timeout: 5s\n",
        "    read_timeout: 300ms\n    circuit_breaker: { consecutive_failures: 1, open_for: 1m }\n",
    );
    let p = start(&yaml);
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: a\r\nX-Request-Id: idle-stream\r\n\r\n")
        .unwrap();
    let events = read_events(&mut s, &next, 3);
    assert_eq!(
        events.len(),
        2,
        "the stream ended after its idle gap: {events:?}"
    );
    let line = p
        .wait_for_log(|l| l.contains("\"request_id\":\"idle-stream\""))
        .expect("logged");
    let record: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(record["code"], "stream_idle", "{line}");
    assert_eq!(
        metric(&p, "rampart_circuit_breaker_state{upstream=\"app\"}"),
        Some(0.0),
        "an idle stream is not an app failure"
    );
}
