//! Who the client is and what the app is told about it: the client address behind trusted
//! proxies, the `X-Forwarded-For` chain and `X-Request-Id` (trace context: `trace.rs`).

use ipnet::IpNet;
use std::net::IpAddr;

/// How many headers the app is told at most: `X-Forwarded-For`, `-Proto`, `-Host`,
/// `X-Request-Id` and `traceparent`. The request header is built with room for them.
pub const HEADERS_ADDED: usize = 5;

pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(&ip))
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is treated as the IPv4 address it carries.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most address in `X-Forwarded-For` (then `X-Real-IP`) that is not itself trusted.
/// Unparseable entries stop the walk: what is left of them can't be believed.
pub fn client_ip(
    peer: IpAddr,
    trusted: &[IpNet],
    forwarded_for: &[&[u8]],
    real_ip: Option<&[u8]>,
) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut last = peer;
    let mut saw_any = false;
    for value in forwarded_for.iter().rev() {
        let Ok(value) = std::str::from_utf8(value) else {
            return last;
        };
        for entry in value.rsplit(',') {
            let Some(ip) = parse_forwarded_ip(entry.trim()) else {
                return last;
            };
            saw_any = true;
            if !is_trusted(ip, trusted) {
                return ip;
            }
            last = ip;
        }
    }
    if !saw_any {
        if let Some(ip) = real_ip
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| parse_forwarded_ip(v.trim()))
        {
            return ip;
        }
    }
    last
}

/// Accepts `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` and `[2001:db8::1]:443`.
fn parse_forwarded_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    None
}

/// The `X-Forwarded-For` sent to the app: the client's chain is kept only when the peer is
/// a trusted proxy (else it is spoofable and replaced); the peer is appended.
pub fn forwarded_for_value(peer: IpAddr, peer_trusted: bool, existing: &[&[u8]]) -> String {
    let peer = canonical(peer);
    let mut out = String::new();
    if peer_trusted {
        for v in existing {
            if let Ok(v) = std::str::from_utf8(v) {
                let v = v.trim();
                if !v.is_empty() {
                    if !out.is_empty() {
                        out.push_str(", ");
                    }
                    out.push_str(v);
                }
            }
        }
    }
    if !out.is_empty() {
        out.push_str(", ");
    }
    use std::fmt::Write;
    let _ = write!(out, "{peer}");
    out
}

/// `X-Forwarded-For` for an untrusted peer (the common case): just the peer's address,
/// formatted on the stack into the one allocation the value owns. Its clones count references
/// (a copied, vector-backed value allocates again on its first clone): a connection makes it
/// once for all of its requests.
pub fn peer_forwarded_for(peer: IpAddr) -> http::HeaderValue {
    use std::io::Write;
    let mut address = PeerAddress {
        text: [0u8; 64],
        len: 0,
    };
    let mut cursor = std::io::Cursor::new(&mut address.text[..]);
    let _ = write!(cursor, "{}", canonical(peer));
    address.len = usize::try_from(cursor.position()).unwrap_or(0);
    http::HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(address))
        .unwrap_or(http::HeaderValue::from_static("unknown"))
}

/// An address as text, owned by the `Bytes` of a header value.
struct PeerAddress {
    text: [u8; 64],
    len: usize,
}

impl AsRef<[u8]> for PeerAddress {
    fn as_ref(&self) -> &[u8] {
        self.text.get(..self.len).unwrap_or_default()
    }
}

/// A client-sent request id is kept when it is 1-200 visible characters of a safe set.
pub fn is_sane_request_id(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= 200
        && v.iter().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=' | b'@')
        })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(super) fn write_hex(out: &mut [u8], mut value: u128) {
    for slot in out.iter_mut().rev() {
        *slot = HEX[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// A new random request id in UUID v4 form, from `random` (passed in: no RNG here).
/// Returned on the stack: the caller makes the one `HeaderValue` it needs.
pub fn new_request_id(random: u128) -> [u8; 36] {
    // Set the version (4) and variant (10xx) bits so it is a well-formed UUID.
    let v = (random & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let mut hex = [0u8; 32];
    write_hex(&mut hex, v);
    let mut out = [b'-'; 36];
    out[0..8].copy_from_slice(&hex[0..8]);
    out[9..13].copy_from_slice(&hex[8..12]);
    out[14..18].copy_from_slice(&hex[12..16]);
    out[19..23].copy_from_slice(&hex[16..20]);
    out[24..36].copy_from_slice(&hex[20..32]);
    out
}

/// The ASCII of an id made above as `&str`.
pub fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("-")
}

/// A fresh request id, for every writer of answers and logs (one place mints them).
pub fn mint_request_id() -> http::HeaderValue {
    let id = new_request_id(fastrand::u128(..));
    // Owned behind a reference count from the start: the id is cloned into the app's request,
    // the response and the log, and a copied (vector-backed) value allocates again on its
    // first clone.
    http::HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(id))
        .unwrap_or(http::HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn peer_value_matches_the_general_one() {
        for ip in ["10.1.2.3", "::ffff:10.1.2.3", "2001:db8::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(
                peer_forwarded_for(ip).to_str().unwrap(),
                forwarded_for_value(ip, false, &[])
            );
        }
    }

    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &t, &[b"1.1.1.1"], None),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_peer_walks_xff_from_the_right() {
        let t = nets(&["10.0.0.0/8"]);
        let xff: &[&[u8]] = &[b"6.6.6.6, 198.51.100.7", b"10.1.1.1"];
        assert_eq!(client_ip(ip("10.0.0.2"), &t, xff, None), ip("198.51.100.7"));
        // All trusted: the left-most trusted hop is the best we know.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &t, &[b"10.9.9.9"], None),
            ip("10.9.9.9")
        );
        // Garbage stops the walk.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &t, &[b"1.1.1.1, junk"], None),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &t, &[], Some(b"192.0.2.1")),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), &t, &[b"[2001:db8::1]:443"], None),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn xff_value() {
        assert_eq!(
            forwarded_for_value(ip("10.0.0.2"), true, &[b"1.1.1.1"]),
            "1.1.1.1, 10.0.0.2"
        );
        assert_eq!(
            forwarded_for_value(ip("203.0.113.9"), false, &[b"1.1.1.1"]),
            "203.0.113.9"
        );
        assert_eq!(forwarded_for_value(ip("10.0.0.2"), true, &[]), "10.0.0.2");
    }

    #[test]
    fn request_ids() {
        assert!(is_sane_request_id(b"abc-123_XYZ"));
        assert!(!is_sane_request_id(b""));
        assert!(!is_sane_request_id(b"has space"));
        assert!(!is_sane_request_id(b"<script>"));
        assert!(!is_sane_request_id(&[b'a'; 201]));
        let id = new_request_id(u128::MAX);
        let id = ascii(&id);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(new_request_id(1), new_request_id(2));
        let minted = mint_request_id();
        assert_eq!(minted.len(), 36);
        assert_eq!(&minted.as_bytes()[14..15], b"4");
        assert!(is_sane_request_id(minted.as_bytes()));
        assert_ne!(minted, mint_request_id());
    }
}
