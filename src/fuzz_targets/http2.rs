//! The HTTP/2 front door: arbitrary frame sequences (HEADERS, CONTINUATION, DATA,
//! RST_STREAM, SETTINGS, PING, WINDOW_UPDATE, PRIORITY, GOAWAY and raw frames of any type)
//! into Pingora's h2 server with Rampart's limits (`tls::h2_limits`), every request it
//! accepts through the request model's head rules (`request::rules::check_h2`), and what
//! passes turned into the HTTP/1.1 head the app would get. Invariants: no panic, no hang,
//! a bounded number of requests per connection, and every head that would reach the app
//! parses back as one well-formed HTTP/1.1 request with the same method and target.

use crate::config::model::Underscores;
use crate::policy::HeadLimits;
use crate::request::rules;
use bytes::{BufMut, BytesMut};
use pingora::protocols::http::v2::server::{handshake, H2Accept, HttpSession};
use pingora::protocols::Digest;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The client's last frame is a PING with this payload: its ACK says the server has read
/// everything before it, so the client may close without cutting off what is in flight.
const LAST_PING: &[u8; 8] = b"rampart!";

/// Names a hostile client reaches for first; anything else comes from the input.
const NAMES: [&[u8]; 16] = [
    b":method",
    b":path",
    b":scheme",
    b":authority",
    b":protocol",
    b":status",
    b"host",
    b"content-length",
    b"transfer-encoding",
    b"te",
    b"connection",
    b"cookie",
    b"x_under",
    b"upgrade",
    b"Upper-Case",
    b"x-ok",
];
const VALUES: [&[u8]; 12] = [
    b"GET",
    b"POST",
    b"/",
    b"/a?b=c",
    b"http",
    b"https",
    b"example.com",
    b"0",
    b"chunked",
    b"trailers",
    b"a\r\nb",
    b" padded ",
];

/// Reads the input a byte (or a few) at a time; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn frame(out: &mut BytesMut, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len().min(0xff_ffff);
    out.put_uint(len as u64, 3);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream & 0x7fff_ffff);
    out.put_slice(&payload[..len]);
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn hpack_int(out: &mut BytesMut, first: u8, n: u32, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.put_u8(first | value as u8);
        return;
    }
    out.put_u8(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.put_u8((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.put_u8(rest as u8);
}

/// A header block of literal fields without indexing, names and values from the input.
fn header_block(input: &mut Input) -> BytesMut {
    let mut block = BytesMut::new();
    for _ in 0..input.byte() % 8 {
        let pick = input.byte();
        let name = match NAMES.get(usize::from(pick % 24)) {
            Some(n) => n.to_vec(),
            None => input.bytes(usize::from(pick % 12)).to_vec(),
        };
        let pick = input.byte();
        let value = match VALUES.get(usize::from(pick % 20)) {
            Some(v) => v.to_vec(),
            None => input.bytes(usize::from(pick % 48)).to_vec(),
        };
        block.put_u8(0);
        hpack_int(&mut block, 0, 7, name.len());
        block.put_slice(&name);
        hpack_int(&mut block, 0, 7, value.len());
        block.put_slice(&value);
    }
    if input.byte() % 8 == 0 {
        // Raw bytes where a field should be: the decoder's own error paths.
        let n = usize::from(input.byte() % 16);
        block.put_slice(input.bytes(n));
    }
    block
}

/// The client's bytes: the preface, then one frame per step the input describes.
pub fn client_bytes(data: &[u8]) -> BytesMut {
    let mut input = Input(data);
    let mut out = BytesMut::from(PREFACE);
    frame(&mut out, 0x4, 0, 0, &[]);
    while !input.is_empty() && out.len() < 256 * 1024 {
        let op = input.byte();
        let stream = u32::from(input.byte() % 8) * 2 + 1;
        let flags = input.byte();
        match op % 10 {
            0 => {
                let block = header_block(&mut input);
                frame(&mut out, 0x1, flags & 0x0d, stream, &block);
            }
            1 => {
                let block = header_block(&mut input);
                frame(&mut out, 0x9, flags & 0x04, stream, &block);
            }
            2 => {
                let n = usize::from(input.byte());
                frame(&mut out, 0x0, flags & 0x01, stream, &vec![b'x'; n]);
            }
            3 => frame(&mut out, 0x3, 0, stream, &input.u32().to_be_bytes()),
            4 => {
                let mut settings = BytesMut::new();
                for _ in 0..input.byte() % 4 {
                    settings.put_u16(u16::from(input.byte() % 8));
                    settings.put_u32(input.u32());
                }
                frame(&mut out, 0x4, flags & 0x01, 0, &settings);
            }
            5 => {
                let ping = input.bytes(8).to_vec();
                frame(&mut out, 0x6, flags & 0x01, 0, &ping);
            }
            6 => {
                let on = if flags & 1 == 0 { 0 } else { stream };
                frame(&mut out, 0x8, 0, on, &input.u32().to_be_bytes());
            }
            7 => {
                let mut p = input.u32().to_be_bytes().to_vec();
                p.push(input.byte());
                frame(&mut out, 0x2, 0, stream, &p);
            }
            8 => {
                let mut p = BytesMut::new();
                p.put_u32(input.u32());
                p.put_u32(input.u32());
                frame(&mut out, 0x7, 0, 0, &p);
            }
            _ => {
                let kind = input.byte();
                let n = usize::from(input.byte());
                let payload = input.bytes(n).to_vec();
                frame(&mut out, kind, flags, input.u32(), &payload);
            }
        }
    }
    frame(&mut out, 0x6, 0, 0, LAST_PING);
    out
}

/// Whether the server's bytes hold the ACK of [`LAST_PING`] (a PING frame, flag ACK).
fn acked(server: &[u8]) -> bool {
    let mut ack = [0u8; 17];
    ack[..9].copy_from_slice(&[0, 0, 8, 0x6, 0x1, 0, 0, 0, 0]);
    ack[9..].copy_from_slice(LAST_PING);
    server.windows(ack.len()).any(|w| w == ack)
}

/// The HTTP/1.1 head the app would get for an accepted h2 request: HTTP/1.1, `Host` from
/// `:authority` (as Pingora's h2 → h1 path does), underscored names dropped when the rule
/// says so. `None` when Pingora's writer itself refuses the target.
fn upstream_head(session: &HttpSession, accepted: rules::Accepted) -> Option<BytesMut> {
    let mut req = session.req_header().clone();
    req.set_version(http::Version::HTTP_11);
    if let Some(authority) = req.uri.authority().map(|a| a.as_str().to_owned()) {
        req.insert_header(http::header::HOST, authority).ok()?;
    }
    if accepted.drop_underscored {
        rules::drop_underscored(&mut req);
    }
    pingora::protocols::http::v1::client::http_req_header_to_wire(&req)
}

/// What the app would parse: one complete request, the same method and target, names that
/// are tokens, values free of CR, LF and NUL, one `Host`, and no header HTTP/2 forbids.
fn assert_well_formed(wire: &[u8], session: &HttpSession) {
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Request::new(&mut fields);
    let status = parsed.parse(wire);
    assert!(
        matches!(status, Ok(httparse::Status::Complete(n)) if n == wire.len()),
        "not one HTTP/1.1 head: {status:?} {:?}",
        String::from_utf8_lossy(wire)
    );
    let req = session.req_header();
    assert_eq!(parsed.method, Some(req.method.as_str()));
    assert_eq!(parsed.path.map(str::as_bytes), Some(req.raw_path()));
    let mut hosts = 0;
    for field in parsed.headers.iter() {
        let name = field.name.to_ascii_lowercase();
        assert!(
            !field.value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "{name}: a CR, LF or NUL would reach the app"
        );
        assert!(
            !matches!(
                name.as_str(),
                "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
            ),
            "{name} reached the app from HTTP/2"
        );
        hosts += usize::from(name == "host");
    }
    assert!(hosts <= 1, "{hosts} Host headers");
}

/// The limits the fuzzer runs with: small, so the inputs reach them.
fn limits(pick: u8) -> HeadLimits {
    HeadLimits {
        max_uri_bytes: 32,
        max_header_bytes: 512,
        max_headers: 8,
        underscores: [Underscores::Drop, Underscores::Reject, Underscores::Allow]
            [usize::from(pick % 3)],
    }
}

/// What one connection came to: requests the h2 server accepted, heads that would reach
/// the app.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub accepted: usize,
    pub forwarded: usize,
}

/// The target: `data[0]` picks the underscore rule, the rest the frames.
pub fn h2(data: &[u8]) {
    outcome(data);
}

/// [`h2`], saying what came of the connection (for tests that the seeds reach the app).
pub fn outcome(data: &[u8]) -> Outcome {
    let Some((&pick, frames)) = data.split_first() else {
        return Outcome::default();
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Outcome::default();
    };
    let limits = limits(pick);
    let wire = client_bytes(frames);
    runtime.block_on(async move {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let writer = async move {
            let _ = to_server.write_all(&wire).await;
            let _ = done_rx.await;
            let _ = to_server.shutdown().await;
        };
        let reader = async move {
            let mut seen = Vec::new();
            let mut chunk = vec![0; 16 * 1024];
            while let Ok(n @ 1..) = from_server.read(&mut chunk).await {
                seen.extend_from_slice(&chunk[..n]);
                if acked(&seen) {
                    break;
                }
                // Keep only what may hold the start of the ACK.
                let keep = seen.len().saturating_sub(64);
                seen.drain(..keep);
            }
            let _ = done_tx.send(());
            while let Ok(1..) = from_server.read(&mut chunk).await {}
        };
        let serve = async {
            let options = crate::tls::h2_limits(&limits);
            let mut seen = Outcome::default();
            let Ok(mut conn) = handshake(Box::new(server), Some(options)).await else {
                return seen;
            };
            let digest = Arc::new(Digest::default());
            while let Ok(Some(next)) = HttpSession::from_h2_conn(&mut conn, digest.clone()).await {
                let H2Accept::Session(session) = next else {
                    continue;
                };
                seen.accepted += 1;
                if let Ok(ok) = rules::check_h2(session.req_header(), &limits) {
                    if let Some(head) = upstream_head(&session, ok) {
                        assert_well_formed(&head, &session);
                        seen.forwarded += 1;
                    }
                }
            }
            seen
        };
        let all = async { tokio::join!(writer, reader, serve).2 };
        let done = tokio::time::timeout(std::time::Duration::from_secs(10), all).await;
        let seen = done.expect("the h2 connection hung after the client closed");
        // Every stream id the input can name is one of 8: at most 8 requests per connection.
        assert!(seen.accepted <= 8, "{seen:?} from 8 stream ids");
        seen
    })
}
