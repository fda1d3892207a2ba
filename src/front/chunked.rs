//! An incremental decoder of `Transfer-Encoding: chunked` request bodies, for bodies that
//! Rampart buffers before connecting to the app (so a bad chunk or an oversize body is
//! refused while the app has seen nothing).

use crate::reject::{Code, Reject};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// Feed it the body bytes as they arrive (always the whole buffer received so far; it
/// remembers how far it got). `decoded` holds the body without its framing.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    pos: usize,
    limit: u64,
    trailer_bytes: usize,
    pub decoded: Vec<u8>,
}

/// Trailer fields are allowed but bounded.
const MAX_TRAILER_BYTES: usize = 8 * 1024;

impl ChunkedDecoder {
    pub fn new(limit: u64) -> Self {
        ChunkedDecoder {
            state: State::Size,
            pos: 0,
            limit,
            trailer_bytes: 0,
            decoded: Vec::new(),
        }
    }

    /// Where the framed body ends in `buf`, once complete.
    pub fn end(&self) -> Option<usize> {
        (self.state == State::Done).then_some(self.pos)
    }

    /// Decodes what `buf[self.pos..]` adds. Ok(true) when the last chunk and trailers are in.
    pub fn feed(&mut self, buf: &[u8]) -> Result<bool, Reject> {
        let bad = |detail: &'static str| Reject::new(Code::BadRequest, detail);
        loop {
            let rest = &buf[self.pos.min(buf.len())..];
            match self.state {
                State::Done => return Ok(true),
                State::Size if rest.first().is_some_and(|b| !b.is_ascii_hexdigit()) => {
                    return Err(bad("chunk size is not a hex number"));
                }
                State::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        // httparse skips chunk extensions without looking at them.
                        if rest[..used.saturating_sub(2)]
                            .iter()
                            .any(|b| *b < 0x20 && *b != b'\t' || *b == 0x7f)
                        {
                            return Err(bad("control character in a chunk size line"));
                        }
                        self.pos += used;
                        if self.decoded.len() as u64 + size > self.limit {
                            return Err(Reject::new(
                                Code::BodyTooLarge,
                                format!("request body larger than {} bytes", self.limit),
                            ));
                        }
                        self.state = if size == 0 {
                            State::Trailer
                        } else {
                            State::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) => {
                        if rest.len() > 1024 {
                            return Err(bad("chunk size line too long"));
                        }
                        return Ok(false);
                    }
                    Err(_) => return Err(bad("invalid chunk size")),
                },
                State::Data(left) => {
                    if rest.is_empty() {
                        return Ok(false);
                    }
                    let take = (left as usize).min(rest.len());
                    self.decoded.extend_from_slice(&rest[..take]);
                    self.pos += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(false);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(bad("chunk data not followed by CRLF"));
                    }
                    self.pos += 2;
                    self.state = State::Size;
                }
                State::Trailer => {
                    let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() + self.trailer_bytes > MAX_TRAILER_BYTES {
                            return Err(bad("trailer section too large"));
                        }
                        return Ok(false);
                    };
                    let line = &rest[..eol];
                    if line.iter().any(|b| *b == b'\n' || *b == b'\r' || *b == 0) {
                        return Err(bad("invalid trailer line"));
                    }
                    self.pos += eol + 2;
                    self.trailer_bytes += eol + 2;
                    if self.trailer_bytes > MAX_TRAILER_BYTES {
                        return Err(bad("trailer section too large"));
                    }
                    if line.is_empty() {
                        self.state = State::Done;
                    } else if !line.contains(&b':') {
                        return Err(bad("invalid trailer field"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &[u8], limit: u64) -> Result<(bool, Vec<u8>), Code> {
        let mut d = ChunkedDecoder::new(limit);
        d.feed(input)
            .map(|done| (done, d.decoded))
            .map_err(|r| r.code)
    }

    #[test]
    fn decodes_whole_and_piecewise() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n";
        assert_eq!(decode(body, 100), Ok((true, b"hello world".to_vec())));
        // Byte by byte gives the same result.
        let mut d = ChunkedDecoder::new(100);
        let mut done = false;
        for i in 1..=body.len() {
            done = d.feed(&body[..i]).unwrap();
        }
        assert!(done);
        assert_eq!(d.decoded, b"hello world");
        assert_eq!(d.end(), Some(body.len()));
        assert_eq!(decode(b"5\r\nhel", 100), Ok((false, b"hel".to_vec())));
    }

    #[test]
    fn refuses_bad_framing_and_oversize_bodies() {
        for bad in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloXX0\r\n\r\n",
            b"-5\r\nhello\r\n",
            b"5 5\r\nhello\r\n",
            b"0\r\nbad trailer\r\n\r\n",
            b"ffffffffffffffffffff\r\n",
            b"5;\x00\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n\r\n",
        ] {
            assert!(
                matches!(
                    decode(bad, 100),
                    Err(Code::BadRequest) | Err(Code::BodyTooLarge)
                ),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            decode(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 10),
            Err(Code::BodyTooLarge)
        );
        assert_eq!(decode(b"0\r\n\r\n", 0), Ok((true, Vec::new())));
    }
}
