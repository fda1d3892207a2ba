//! An in-process HTTP/1.1 upstream that records what it receives: hits, headers, body
//! bytes, connections and the concurrency high-water mark. Its behaviour is chosen per
//! request by path: `/status/<code>`, `/delay/<ms>`, `/bytes/<n>`, `/echo`, `/hold` (waits
//! until the test calls `release`), `/app-headers` (a CSP and banners of its own); anything
//! else answers 200 with a small JSON body.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    pub connection: usize,
}

pub struct Record {
    pub seen: Mutex<Vec<Seen>>,
    pub connections: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub high_water: AtomicUsize,
    /// Requests to `/hold` waiting for `release`.
    pub held: AtomicUsize,
    gate: tokio::sync::Semaphore,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            seen: Mutex::default(),
            connections: AtomicUsize::default(),
            in_flight: AtomicUsize::default(),
            high_water: AtomicUsize::default(),
            held: AtomicUsize::default(),
            gate: tokio::sync::Semaphore::new(0),
        }
    }
}

/// Counts one request in a counter until dropped (also when the client aborts it).
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct RecordingUpstream {
    pub addr: SocketAddr,
    pub record: Arc<Record>,
    _runtime: tokio::runtime::Runtime,
}

impl RecordingUpstream {
    pub fn start() -> RecordingUpstream {
        Self::start_on("127.0.0.1:0".parse().expect("addr"))
    }

    /// Listens on `addr` (to bring an "app" back on the port it had before a restart).
    pub fn start_on(addr: SocketAddr) -> RecordingUpstream {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let record = Arc::new(Record::default());
        let rec = Arc::clone(&record);
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let conn_id = rec.connections.fetch_add(1, Ordering::SeqCst) + 1;
                let rec = Arc::clone(&rec);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        handle(Arc::clone(&rec), conn_id, req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RecordingUpstream {
            addr,
            record,
            _runtime: runtime,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.record
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    pub fn hits(&self) -> usize {
        self.record.seen.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Lets `n` requests waiting at (or later reaching) `/hold` answer.
    pub fn release(&self, n: usize) {
        self.record.gate.add_permits(n);
    }

    /// Requests now waiting at `/hold`.
    pub fn held(&self) -> usize {
        self.record.held.load(Ordering::SeqCst)
    }

    /// Requests now being handled.
    pub fn in_flight(&self) -> usize {
        self.record.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests ever handled at once.
    pub fn high_water(&self) -> usize {
        self.record.high_water.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream saw no request")
    }
}

async fn handle(
    rec: Arc<Record>,
    connection: usize,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let now = rec.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _in_flight = Counted(&rec.in_flight);
    rec.high_water.fetch_max(now, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    if let Ok(mut seen) = rec.seen.lock() {
        seen.push(Seen {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            headers: parts.headers.clone(),
            body: body.to_vec(),
            connection,
        });
    }
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    let resp = match (segments.next(), segments.next()) {
        (Some("status"), Some(code)) => {
            let code: u16 = code.parse().unwrap_or(500);
            Response::builder()
                .status(code)
                .header("server", "gunicorn")
                .body(Full::new(Bytes::from_static(b"status")))
        }
        (Some("delay"), Some(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            Response::builder().body(Full::new(Bytes::from_static(b"slow ok")))
        }
        (Some("bytes"), Some(n)) => {
            let n: usize = n.parse().unwrap_or(0);
            let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            Response::builder()
                .header("content-type", "application/octet-stream")
                .body(Full::new(Bytes::from(data)))
        }
        (Some("hold"), _) => {
            rec.held.fetch_add(1, Ordering::SeqCst);
            let _held = Counted(&rec.held);
            if let Ok(permit) = rec.gate.acquire().await {
                permit.forget();
            }
            Response::builder().body(Full::new(Bytes::from_static(b"released")))
        }
        (Some("app-headers"), _) => Response::builder()
            .header("content-type", "text/html")
            .header("content-security-policy", "default-src 'self'")
            .header("x-powered-by", "Flask")
            .header("server", "gunicorn/21.2.0")
            .header("x-debug-token", "abc")
            .body(Full::new(Bytes::from_static(b"<p>app</p>"))),
        (Some("echo"), _) => Response::builder()
            .header("content-type", "application/octet-stream")
            .body(Full::new(body)),
        _ => Response::builder()
            .header("content-type", "application/json")
            .header("server", "Werkzeug/3.0.1 Python/3.11")
            .body(Full::new(Bytes::from_static(b"{\"ok\":true}"))),
    };
    Ok(resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}
