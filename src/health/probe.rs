//! Health probes: an HTTP GET (2xx/3xx = up) or a TCP connect, each bounded by its timeout
//! as a whole (connect, write, read), so a target that accepts and then stays silent costs
//! one timeout and nothing else. Used for upstream endpoints and `health.dependencies`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a probe found: up (with its latency) or the reason it is down.
pub type Outcome = Result<Duration, String>;

/// `GET path` on `addr` (`host:port` or `unix:/path`, whose `Host` is `host`); up on a 2xx
/// or 3xx status.
pub async fn http(addr: &str, host: &str, path: &str, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let run = async {
        match addr.strip_prefix("unix:") {
            Some(socket) => {
                let stream = tokio::net::UnixStream::connect(socket)
                    .await
                    .map_err(|e| lower_first(&e.to_string()))?;
                get(stream, host, path).await
            }
            None => get(connect(addr).await?, host, path).await,
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {}ms", timeout.as_millis())),
    }
}

/// Sends the GET on `stream` and reads the status line.
async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    path: &str,
) -> Result<(), String> {
    {
        stream
            .write_all(&request(host, path))
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut buf = [0u8; 512];
        let mut filled = 0;
        loop {
            let n = stream
                .read(&mut buf[filled..])
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed before a status line".to_string());
            }
            filled += n;
            if let Some(line_end) = buf[..filled].iter().position(|&b| b == b'\n') {
                return match status(&buf[..line_end]) {
                    Some(code) if (200..400).contains(&code) => Ok(()),
                    Some(code) => Err(format!("status {code}")),
                    None => Err("not an HTTP response".to_string()),
                };
            }
            if filled == buf.len() {
                return Err("status line too long".to_string());
            }
        }
    }
}

/// A TCP connect to `addr`: up when it is accepted.
pub async fn tcp(addr: &str, timeout: Duration) -> Outcome {
    let started = Instant::now();
    match tokio::time::timeout(timeout, connect(addr)).await {
        Ok(Ok(_)) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no connection within {}ms", timeout.as_millis())),
    }
}

async fn connect(addr: &str) -> Result<TcpStream, String> {
    let target: Vec<SocketAddr> = match addr.parse::<SocketAddr>() {
        Ok(a) => vec![a],
        Err(_) => tokio::net::lookup_host(addr)
            .await
            .map_err(|e| format!("resolve {addr}: {e}"))?
            .collect(),
    };
    let mut last = format!("{addr}: no address");
    for a in target {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = lower_first(&e.to_string()),
        }
    }
    Err(last)
}

/// "Connection refused (os error 111)" -> "connection refused".
fn lower_first(message: &str) -> String {
    let trimmed = message.split(" (os error").next().unwrap_or(message);
    let mut chars = trimmed.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn request(host: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rampart-health-check\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The code of an `HTTP/1.x NNN reason` status line.
fn status(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// `http://host:port/path` -> (`host:port`, `host`, `/path`).
pub fn split_url(url: &str) -> Option<(String, String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return None;
    }
    let addr = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Some((addr, authority.to_string(), path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status(b"HTTP/1.1 200 OK\r"), Some(200));
        assert_eq!(status(b"HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(status(b"HTTP/1.1 204"), Some(204));
        assert_eq!(status(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(status(b"HTTP/1.1 2000 OK"), None);
    }

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8001/api/v1/heartbeat"),
            Some((
                "127.0.0.1:8001".into(),
                "127.0.0.1:8001".into(),
                "/api/v1/heartbeat".into()
            ))
        );
        assert_eq!(
            split_url("http://db.internal"),
            Some(("db.internal:80".into(), "db.internal".into(), "/".into()))
        );
        assert_eq!(split_url("https://x"), None);
        assert_eq!(split_url("http:///x"), None);
    }

    #[test]
    fn os_errors_read_as_words() {
        assert_eq!(
            lower_first("Connection refused (os error 111)"),
            "connection refused"
        );
    }

    #[tokio::test]
    async fn probes_answer_within_their_timeout() {
        // A listener that accepts and never answers: the HTTP probe times out, TCP is up.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap().to_string();
        let keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        });
        let t = Duration::from_millis(100);
        assert!(http(&addr, &addr, "/health", t)
            .await
            .unwrap_err()
            .starts_with("no answer within"));
        assert!(tcp(&addr, t).await.is_ok());
        keep.abort();
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        assert_eq!(tcp(&closed, t).await.unwrap_err(), "connection refused");
    }
}
