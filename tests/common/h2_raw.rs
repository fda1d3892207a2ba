//! HTTP/2 requests written frame by frame, for header fields no HTTP/2 library will send
//! (names HTTP/2 decoders accept but HTTP/1.1 does not). Over h2c or h2 over TLS, through
//! the same connection set-up as `h2_client`.

use super::h2_client::{on_connection, Io};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One GET of `path` with `fields` as HPACK literals, names and values byte for byte: the
/// status of the answer (0 when the stream or connection ended without one).
pub fn get(
    addr: SocketAddr,
    tls: bool,
    authority: &str,
    path: &str,
    fields: &[(&[u8], &[u8])],
) -> u16 {
    let mut block = Vec::new();
    let pseudo: [(&[u8], &[u8]); 4] = [
        (b":method", b"GET"),
        (b":scheme", if tls { b"https" } else { b"http" }),
        (b":authority", authority.as_bytes()),
        (b":path", path.as_bytes()),
    ];
    for (name, value) in pseudo.iter().chain(fields) {
        // Literal without indexing, new name; lengths below 127 (one byte each).
        block.push(0);
        block.push(u8::try_from(name.len()).expect("short name"));
        block.extend_from_slice(name);
        block.push(u8::try_from(value.len()).expect("short value"));
        block.extend_from_slice(value);
    }
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&frame(0x4, 0, 0, &[]));
    // HEADERS, END_STREAM | END_HEADERS, stream 1.
    out.extend_from_slice(&frame(0x1, 0x5, 1, &block));
    on_connection(addr, tls, async |mut io: Box<dyn Io>, _| {
        io.write_all(&out).await.expect("write");
        status_of_stream_1(&mut io).await
    })
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .expect("small frame")
        .to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Reads frames until stream 1's HEADERS: its `:status`, from the static table's indexed
/// entries (the first answer on a connection is encoded that way), or 0.
async fn status_of_stream_1(io: &mut Box<dyn Io>) -> u16 {
    let read = async {
        loop {
            let mut head = [0u8; 9];
            io.read_exact(&mut head).await.ok()?;
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let mut payload = vec![0u8; len];
            io.read_exact(&mut payload).await.ok()?;
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            match head[3] {
                0x1 if stream == 1 => {
                    // RFC 7541 Appendix A: indexed :status entries 8-14.
                    let statuses = [200, 204, 206, 304, 400, 404, 500];
                    let first = *payload.first()?;
                    return (first & 0x80 != 0)
                        .then(|| {
                            statuses
                                .get(usize::from(first & 0x7f).checked_sub(8)?)
                                .copied()
                        })
                        .flatten();
                }
                0x3 if stream == 1 => return None, // RST_STREAM
                0x7 => return None,                // GOAWAY
                _ => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), read)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}
