//! A misbehaving HTTP/1.1 upstream, written on raw sockets so it can break the protocol.
//! The fault is chosen by the request path:
//! `/reset` (partial response, then a TCP reset), `/silent` (reads, never answers),
//! `/slow-headers` (status line, then nothing), `/truncated` (Content-Length 100, 10 bytes,
//! close), `/malformed` (a status line that is not HTTP), `/huge-headers` (a 200 KiB header),
//! `/health-fail` (503), malformed response framing (`/cl-list`, `/cl-twice`, `/cl-invalid`,
//! `/te-xchunked`, `/unsolicited-101`, `/continue-with-body`), `/fail-slowly/<code>` (that
//! status and half its body at once, the rest 300 ms later), anything else 200 "ok". Counts
//! the requests it read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct FaultyUpstream {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FaultyUpstream {
    pub fn start() -> FaultyUpstream {
        Self::start_on("127.0.0.1:0".parse().unwrap())
    }

    /// Listens on `addr` (to bring an "app" back on the port it had before a restart).
    pub fn start_on(addr: SocketAddr) -> FaultyUpstream {
        let listener = TcpListener::bind(addr).expect("bind faulty upstream");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let count = Arc::clone(&count);
                std::thread::spawn(move || serve(conn, &count));
            }
        });
        FaultyUpstream {
            addr,
            requests,
            stop,
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FaultyUpstream {
    /// Stops accepting: the port is closed once the accept loop sees the flag.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect(self.addr);
    }
}

fn read_head(conn: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn serve(mut conn: TcpStream, count: &AtomicUsize) {
    while let Some(head) = read_head(&mut conn) {
        count.fetch_add(1, Ordering::SeqCst);
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let done = match path.as_str() {
            "/reset" => {
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
                // SO_LINGER 0: close sends a reset instead of a FIN.
                let _ = socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO));
                true
            }
            "/silent" | "/slow-headers" => {
                if path == "/slow-headers" {
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\n");
                }
                // Hold the connection until the peer gives up.
                let mut sink = [0u8; 1024];
                while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
                true
            }
            "/truncated" => {
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
                true
            }
            "/malformed" => {
                let _ = conn.write_all(b"HTTP/1.1 2x0 Fine\r\nContent-Length: 2\r\n\r\nok");
                true
            }
            "/huge-headers" => {
                let big = "a".repeat(200 * 1024);
                let _ = conn.write_all(
                    format!("HTTP/1.1 200 OK\r\nX-Big: {big}\r\nContent-Length: 2\r\n\r\nok")
                        .as_bytes(),
                );
                true
            }
            "/cl-list" => {
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok");
                false
            }
            "/cl-twice" => {
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
                );
                false
            }
            "/cl-invalid" => {
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\nok");
                true
            }
            "/te-xchunked" => {
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
                );
                false
            }
            "/unsolicited-101" => {
                let _ = conn.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: upgrade\r\n\r\nRAW BYTES",
                );
                true
            }
            "/continue-with-body" => {
                let _ = conn.write_all(
                    b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                );
                true
            }
            slow if slow.starts_with("/fail-slowly/") => {
                // The head (with the status in the path) at once, the body's end later: a
                // breaker that waits for the end learns the failure late.
                let code = &slow["/fail-slowly/".len()..];
                let head = format!("HTTP/1.1 {code} Failing\r\nContent-Length: 10\r\n\r\nfailu");
                let _ = conn.write_all(head.as_bytes());
                std::thread::sleep(Duration::from_millis(300));
                let _ = conn.write_all(b"re...");
                false
            }
            "/health-fail" => {
                let _ = conn.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown",
                );
                false
            }
            _ => {
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                false
            }
        };
        if done {
            return;
        }
    }
}
