//! A strict, incremental decoder of `Transfer-Encoding: chunked` request bodies.
//!
//! Every chunked body passes through it before Pingora or the app sees a byte: bodies read
//! ahead (schema, uploads, small limits) and streamed ones alike, so a malformed chunk is
//! refused before its bytes are forwarded and Pingora's looser decoder only ever parses the
//! canonical framing Rampart re-emits. Compatible where NGINX is: any number of leading
//! zeros in a chunk size, chunk extensions, bounded trailers (dropped). Strict where it
//! matters: no empty size line, no bare LF, no control bytes, no size over 16 hex digits.

use crate::reject::{Code, Reject};

/// The longest chunk-size line or trailer line (leading zeros and extensions included).
const MAX_LINE: usize = 4096;
/// Trailer fields are allowed but bounded (and never forwarded).
const MAX_TRAILER_BYTES: usize = 8 * 1024;
/// Significant hex digits of a chunk size (64 bits).
const MAX_SIZE_DIGITS: u8 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a chunk-size line: the size so far, its significant digits, whether any digit was
    /// seen, and where in the line we are.
    Size {
        value: u64,
        digits: u8,
        seen: bool,
        part: LinePart,
    },
    Data(u64),
    DataCr,
    DataLf,
    Trailer {
        colon: bool,
        empty: bool,
        cr: bool,
    },
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinePart {
    Digits,
    /// Whitespace after the digits: only more whitespace, `;` or CR may follow.
    Space,
    Extension,
    Cr,
}

/// What one step of decoding found.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Chunk data, borrowed from the input.
    Data(&'a [u8]),
    /// Everything given was consumed; more input is needed.
    Need,
    /// The last chunk and the trailer section are complete.
    Done,
}

#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    limit: u64,
    /// Body bytes decoded so far.
    total: u64,
    line: usize,
    trailer_bytes: usize,
}

fn bad(detail: &'static str) -> Reject {
    Reject::new(Code::BadRequest, detail)
}

const SIZE_START: State = State::Size {
    value: 0,
    digits: 0,
    seen: false,
    part: LinePart::Digits,
};

impl ChunkedDecoder {
    /// A decoder refusing bodies over `limit` bytes (413).
    pub fn new(limit: u64) -> Self {
        ChunkedDecoder {
            state: SIZE_START,
            limit,
            total: 0,
            line: 0,
            trailer_bytes: 0,
        }
    }

    /// Decodes from the start of `input`: how many bytes were consumed and what they were.
    /// Call again with the rest (and more input) until `Done`.
    pub fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Piece<'a>), Reject> {
        let mut used = 0;
        while used < input.len() {
            match self.state {
                State::Done => return Ok((used, Piece::Done)),
                State::Data(left) => {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(input.len() - used);
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data(left)
                    };
                    return Ok((used + take, Piece::Data(&input[used..used + take])));
                }
                _ => {
                    self.byte(input[used])?;
                    used += 1;
                }
            }
        }
        let piece = if self.state == State::Done {
            Piece::Done
        } else {
            Piece::Need
        };
        Ok((used, piece))
    }

    /// One byte of framing (size lines, CRLF after data, trailers).
    fn byte(&mut self, b: u8) -> Result<(), Reject> {
        self.line += 1;
        if self.line > MAX_LINE {
            return Err(bad("chunk size or trailer line too long"));
        }
        match self.state {
            State::Size {
                value,
                digits,
                seen,
                part,
            } => self.size_byte(b, value, digits, seen, part),
            State::DataCr if b == b'\r' => {
                self.state = State::DataLf;
                Ok(())
            }
            State::DataLf if b == b'\n' => {
                self.state = SIZE_START;
                self.line = 0;
                Ok(())
            }
            State::DataCr | State::DataLf => Err(bad("chunk data not followed by CRLF")),
            State::Trailer { colon, empty, cr } => self.trailer_byte(b, colon, empty, cr),
            State::Data(_) | State::Done => Ok(()),
        }
    }

    fn size_byte(
        &mut self,
        b: u8,
        value: u64,
        digits: u8,
        seen: bool,
        part: LinePart,
    ) -> Result<(), Reject> {
        let next = |value, digits, seen, part| State::Size {
            value,
            digits,
            seen,
            part,
        };
        self.state = match (part, b) {
            (LinePart::Digits, b) if b.is_ascii_hexdigit() => {
                let d = u64::from(hex_value(b));
                // Leading zeros are not significant: NGINX accepts any number of them.
                let digits = if value == 0 && d == 0 {
                    digits
                } else {
                    digits + 1
                };
                if digits > MAX_SIZE_DIGITS {
                    return Err(bad("chunk size too large"));
                }
                next(value << 4 | d, digits, true, LinePart::Digits)
            }
            (LinePart::Digits | LinePart::Space, b' ' | b'\t') if seen => {
                next(value, digits, seen, LinePart::Space)
            }
            (LinePart::Digits | LinePart::Space, b';') if seen => {
                next(value, digits, seen, LinePart::Extension)
            }
            (LinePart::Extension, b) if b == b'\t' || (0x20..0x7f).contains(&b) => {
                next(value, digits, seen, LinePart::Extension)
            }
            (LinePart::Extension, b) if b >= 0x80 => next(value, digits, seen, part),
            (LinePart::Digits | LinePart::Space | LinePart::Extension, b'\r') if seen => {
                next(value, digits, seen, LinePart::Cr)
            }
            (LinePart::Cr, b'\n') => return self.size_line_done(value),
            (_, b'\r' | b'\n') if !seen => return Err(bad("empty chunk size line")),
            (LinePart::Digits, _) if !seen => return Err(bad("chunk size is not a hex number")),
            (LinePart::Cr, _) | (_, b'\n') => return Err(bad("chunk size line not ended by CRLF")),
            _ => return Err(bad("invalid byte in a chunk size line")),
        };
        Ok(())
    }

    fn size_line_done(&mut self, size: u64) -> Result<(), Reject> {
        self.line = 0;
        if size == 0 {
            self.state = State::Trailer {
                colon: false,
                empty: true,
                cr: false,
            };
            return Ok(());
        }
        match self.total.checked_add(size) {
            Some(total) if total <= self.limit => self.total = total,
            _ => {
                return Err(Reject::new(
                    Code::BodyTooLarge,
                    format!("request body larger than {} bytes", self.limit),
                ))
            }
        }
        self.state = State::Data(size);
        Ok(())
    }

    fn trailer_byte(&mut self, b: u8, colon: bool, empty: bool, cr: bool) -> Result<(), Reject> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(bad("trailer section too large"));
        }
        self.state = match (cr, b) {
            (true, b'\n') if empty => State::Done,
            (true, b'\n') if colon => {
                self.line = 0;
                State::Trailer {
                    colon: false,
                    empty: true,
                    cr: false,
                }
            }
            (true, b'\n') => return Err(bad("invalid trailer field")),
            (true, _) | (false, b'\n') => return Err(bad("trailer line not ended by CRLF")),
            (false, b'\r') => State::Trailer {
                colon,
                empty,
                cr: true,
            },
            (false, b) if b == b'\t' || b >= 0x20 && b != 0x7f => State::Trailer {
                colon: colon || b == b':',
                empty: false,
                cr: false,
            },
            _ => return Err(bad("invalid trailer line")),
        };
        Ok(())
    }
}

fn hex_value(b: u8) -> u8 {
    char::from(b).to_digit(16).map_or(0, |d| d as u8)
}

/// Decodes what `input` holds into `out`: (bytes consumed, whether the body is complete).
/// Call again with the bytes that follow the consumed ones.
pub fn decode_into(
    d: &mut ChunkedDecoder,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(usize, bool), Reject> {
    let mut at = 0;
    loop {
        let (used, piece) = d.step(&input[at..])?;
        at += used;
        match piece {
            Piece::Data(data) => out.extend_from_slice(data),
            Piece::Need => return Ok((at, false)),
            Piece::Done => return Ok((at, true)),
        }
    }
}

/// The canonical chunked framing of one data piece: `<hex len>\r\n<data>\r\n`.
pub fn frame(data: &[u8], out: &mut bytes::BytesMut) {
    use std::fmt::Write;
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk, with no trailers (they are not forwarded).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
