//! One helper for every protocol a client can use (SPEC 0.3: every rule, every protocol):
//! a test written against [`Served`] runs over HTTP/1.1, h2c and h2 over TLS by looping
//! over [`Proto::ALL`]. Requests go through curl, which speaks all three; each answer is
//! checked to have come back in the protocol asked for, so a test cannot quietly fall back
//! to HTTP/1.1.

use super::{self_signed, start_with_files, RampartProcess};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http1,
    /// Cleartext HTTP/2 with prior knowledge (`server.h2c: true`).
    H2c,
    /// HTTP/2 negotiated by ALPN on a TLS listener (`server.tls`).
    H2Tls,
}

impl Proto {
    pub const ALL: [Proto; 3] = [Proto::Http1, Proto::H2c, Proto::H2Tls];

    /// curl's `%{http_version}` for this protocol.
    fn version(self) -> &'static str {
        match self {
            Proto::Http1 => "1.1",
            Proto::H2c | Proto::H2Tls => "2",
        }
    }

    fn curl_flag(self) -> &'static str {
        match self {
            Proto::Http1 => "--http1.1",
            Proto::H2c => "--http2-prior-knowledge",
            Proto::H2Tls => "--http2",
        }
    }

    pub fn is_h2(self) -> bool {
        self != Proto::Http1
    }

    /// Starts Rampart on `yaml` (as made by `config()`, with `files` beside it), its public
    /// listener set up for this protocol.
    pub fn start(self, yaml: &str, files: &[(&str, &str)]) -> Served {
        let certs = tempfile::tempdir().expect("tempdir");
        let listener = match self {
            Proto::Http1 => String::new(),
            Proto::H2c => "  h2c: true\n".to_string(),
            Proto::H2Tls => {
                let (cert, key) = self_signed(certs.path(), "tls");
                format!(
                    "  tls:\n    cert_file: {}\n    key_file: {}\n",
                    cert.display(),
                    key.display()
                )
            }
        };
        let marker = "server:\n";
        assert!(yaml.contains(marker), "a config with a server section");
        let yaml = yaml.replacen(marker, &format!("{marker}{listener}"), 1);
        Served {
            process: start_with_files(&yaml, files),
            proto: self,
            _certs: certs,
        }
    }
}

/// A Rampart started for one protocol, and a client speaking it.
pub struct Served {
    pub process: RampartProcess,
    pub proto: Proto,
    _certs: tempfile::TempDir,
}

impl std::ops::Deref for Served {
    type Target = RampartProcess;
    fn deref(&self) -> &RampartProcess {
        &self.process
    }
}

/// One exchange as the client saw it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The response head, names in lower case, one `name: value` a line (no CR).
    pub headers: String,
    pub body: String,
}

impl Answer {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}:");
        self.headers
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(str::trim)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Asserts this is Rampart's problem+json with `status` and `code` (SPEC §5).
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        assert!(self.header("server").is_none(), "no Server header");
        let body = self.json();
        assert_eq!(body["code"], code, "{self:?}");
        assert_eq!(body["status"], status);
        assert_eq!(
            body["request_id"].as_str(),
            self.header("x-request-id"),
            "the body names the request id the head carries"
        );
    }
}

impl Served {
    /// `host:port` as the client names it (the URL's authority).
    pub fn authority(&self) -> String {
        match self.proto {
            Proto::H2Tls => format!("localhost:{}", self.process.addr.port()),
            _ => self.process.addr.to_string(),
        }
    }

    pub fn tls(&self) -> bool {
        self.proto == Proto::H2Tls
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.authority())
    }

    pub fn get(&self, path: &str) -> Answer {
        self.send(path, &[])
    }

    /// HTTP/2 only: a GET with `headers` sent exactly as given (curl tidies some values).
    pub fn h2_get(&self, path: &str, headers: &[(&str, &str)]) -> u16 {
        assert!(self.proto.is_h2(), "an HTTP/2 exchange");
        super::h2_client::get(
            self.process.addr,
            self.tls(),
            &self.authority(),
            path,
            headers,
        )
    }

    /// GETs `paths` one after the other, each sent the moment the head of the answer
    /// before it has arrived: on HTTP/2 as streams of one connection (`h2_client`), on
    /// HTTP/1.1 each on a new connection (the one before still receiving its body). Their
    /// statuses (0: no answer).
    pub fn in_a_row(&self, paths: &[&str]) -> Vec<u16> {
        if self.proto.is_h2() {
            let (addr, authority) = (self.process.addr, self.authority());
            return super::h2_client::in_a_row(addr, self.tls(), &authority, paths);
        }
        let mut open = Vec::new();
        let statuses = paths
            .iter()
            .map(|path| {
                let mut conn = TcpStream::connect(self.process.addr).expect("connect");
                conn.set_read_timeout(Some(Duration::from_secs(20))).ok();
                let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
                conn.write_all(request.as_bytes()).expect("write");
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                open.push(conn);
                super::raw_status(&String::from_utf8_lossy(&head))
            })
            .collect();
        drop(open);
        statuses
    }

    /// A request to `path` with curl arguments `args` (`-H`, `--data-binary`, `-X`…).
    pub fn send(&self, path: &str, args: &[&str]) -> Answer {
        let out = Command::new("curl")
            .args(["-sk", "-D", "-", "-o", "-", "--max-time", "30"])
            .args(["-w", "\n%{http_version} %{http_code}"])
            // No `Expect: 100-continue` (its interim head would come first in the output).
            .args(["-H", "Expect:"])
            .arg(self.proto.curl_flag())
            .args(args)
            .arg(self.url(path))
            .output()
            .expect("curl (installed by ./test)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (rest, last) = text.rsplit_once('\n').unwrap_or(("", ""));
        let mut parts = last.split(' ');
        let version = parts.next().unwrap_or("");
        let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let (headers, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        if status != 0 {
            assert_eq!(
                version,
                self.proto.version(),
                "{:?}: answered in another protocol",
                self.proto
            );
        }
        let headers = headers
            .lines()
            .map(|l| match l.split_once(':') {
                Some((name, value)) => format!("{}:{value}", name.to_ascii_lowercase()),
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        Answer {
            status,
            headers,
            body: body.to_string(),
        }
    }
}
