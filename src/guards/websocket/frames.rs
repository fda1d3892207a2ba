//! Where WebSocket frames begin and end in one direction of an upgraded connection (RFC 6455
//! §5.2), followed byte for byte as they pass. Rampart never buffers or alters a frame; it only
//! needs to know when the next byte would start a new frame, so that at the end of a shutdown's
//! grace period a close frame (1001 "going away") can be slipped in between two frames instead
//! of cutting one in half.

/// The close frame Rampart sends a client: FIN + close, no mask, status 1001 (going away).
pub const CLIENT_GOING_AWAY: [u8; 4] = [0x88, 0x02, 0x03, 0xE9];

/// The same frame toward the app: frames from a client must be masked (RFC 6455 §5.3).
pub fn app_going_away(key: [u8; 4]) -> [u8; 8] {
    [
        0x88,
        0x82,
        key[0],
        key[1],
        key[2],
        key[3],
        0x03 ^ key[0],
        0xE9 ^ key[1],
    ]
}

/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte masking key.
const MAX_HEADER: usize = 14;
const OPCODE_CLOSE: u8 = 0x8;

/// One direction's position in the frame sequence.
#[derive(Debug, Clone)]
pub struct FrameCursor {
    /// Before the first frame: the HTTP head still to pass (`\r\n\r\n` matched so far).
    /// Used toward the client, where the 101 head goes through the same stream.
    head_matched: Option<u8>,
    header: [u8; MAX_HEADER],
    header_len: usize,
    payload_left: u64,
    close_seen: bool,
    /// Not a frame sequence we can follow (a length with its top bit set): never interrupt.
    lost: bool,
}

impl FrameCursor {
    /// Frames start with the first byte.
    pub fn frames() -> FrameCursor {
        FrameCursor {
            head_matched: None,
            header: [0; MAX_HEADER],
            header_len: 0,
            payload_left: 0,
            close_seen: false,
            lost: false,
        }
    }

    /// Frames start after an HTTP head (the 101 on its way to the client).
    pub fn after_head() -> FrameCursor {
        FrameCursor {
            head_matched: Some(0),
            ..FrameCursor::frames()
        }
    }

    /// The next byte starts a frame, and a close frame may go there.
    pub fn at_boundary(&self) -> bool {
        !self.lost && self.head_matched.is_none() && self.header_len == 0 && self.payload_left == 0
    }

    /// A close frame already went this way (sending another would break the protocol).
    pub fn close_seen(&self) -> bool {
        self.close_seen
    }

    /// Follows `bytes` as they pass.
    pub fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.lost {
            if let Some(matched) = self.head_matched {
                bytes = self.skip_head(matched, bytes);
            } else if self.payload_left > 0 {
                let n = usize::try_from(self.payload_left)
                    .map_or(bytes.len(), |left| left.min(bytes.len()));
                self.payload_left -= n as u64;
                bytes = &bytes[n..];
            } else {
                bytes = self.take_header(bytes);
            }
        }
    }

    fn skip_head<'a>(&mut self, mut matched: u8, bytes: &'a [u8]) -> &'a [u8] {
        const END: &[u8; 4] = b"\r\n\r\n";
        for (i, &b) in bytes.iter().enumerate() {
            matched = if b == END[usize::from(matched)] {
                matched + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
            if matched == 4 {
                self.head_matched = None;
                return &bytes[i + 1..];
            }
        }
        self.head_matched = Some(matched);
        &[]
    }

    fn take_header<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        let need = self.header_needed();
        let n = need.saturating_sub(self.header_len).min(bytes.len());
        self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
        self.header_len += n;
        if self.header_len == self.header_needed() {
            self.finish_header();
        }
        &bytes[n..]
    }

    /// The header's length as far as its first two bytes tell (2 until they are known).
    fn header_needed(&self) -> usize {
        if self.header_len < 2 {
            return 2;
        }
        let mask = if self.header[1] & 0x80 != 0 { 4 } else { 0 };
        let extended = match self.header[1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + extended + mask
    }

    fn finish_header(&mut self) {
        let h = &self.header;
        let length = match h[1] & 0x7F {
            126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            127 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
            short => u64::from(short),
        };
        if length >> 63 != 0 {
            self.lost = true;
            return;
        }
        if h[0] & 0x0F == OPCODE_CLOSE {
            self.close_seen = true;
        }
        self.payload_left = length;
        self.header_len = 0;
    }
}

#[cfg(test)]
#[path = "frames_tests.rs"]
mod tests;
