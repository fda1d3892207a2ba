//! The app's response head, checked before anything of it reaches the client (SPEC §5
//! `bad_gateway`): a response whose framing the client could read another way than Rampart
//! did — several or invalid `Content-Length`s (RFC 9112 §6.3: a proxy must refuse them), a
//! `Transfer-Encoding` other than `chunked`, a `101` nobody asked for (raw bytes would follow
//! on a connection the client still reads as HTTP), an informational response announcing a
//! body, or a head over 64 KiB — becomes 502 with `Connection: close`.

use crate::reject::{Code, Reject};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::HeaderMap;

/// The largest response head accepted from the app (Envoy's default is 60 KiB).
pub const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;

fn bad(detail: &'static str) -> Reject {
    Reject::new(Code::BadGateway, detail)
}

/// Checks a response head. `asked_upgrade`: the request asked to switch protocols.
pub fn check(status: u16, headers: &HeaderMap, asked_upgrade: bool) -> Result<(), Reject> {
    let head_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if head_bytes > MAX_RESPONSE_HEAD_BYTES {
        return Err(bad("the app's response head is over 64 KiB"));
    }
    if status == 101 && !asked_upgrade {
        return Err(bad(
            "the app switched protocols on a request that asked for no upgrade",
        ));
    }
    let mut lengths = headers.get_all(CONTENT_LENGTH).iter();
    let length = lengths.next();
    if lengths.next().is_some() {
        return Err(bad("the app's response has several Content-Length headers"));
    }
    if let Some(cl) = length {
        let digits = cl.as_bytes();
        if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad("the app's response has an invalid Content-Length"));
        }
    }
    let mut codings = headers.get_all(TRANSFER_ENCODING).iter();
    let coding = codings.next();
    if codings.next().is_some()
        || coding.is_some_and(|te| !te.as_bytes().eq_ignore_ascii_case(b"chunked"))
    {
        return Err(bad(
            "the app's response has a Transfer-Encoding other than chunked",
        ));
    }
    if (100..200).contains(&status) && status != 101 && (length.is_some() || coding.is_some()) {
        return Err(bad("the app sent an informational response with a body"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn well_formed_heads_pass() {
        for pairs in [
            &[("content-length", "2")][..],
            &[("transfer-encoding", "chunked")],
            &[("transfer-encoding", "Chunked")],
            &[],
        ] {
            assert_eq!(check(200, &headers(pairs), false), Ok(()), "{pairs:?}");
        }
        assert_eq!(
            check(101, &headers(&[("upgrade", "websocket")]), true),
            Ok(())
        );
        assert_eq!(check(103, &headers(&[("link", "</a>")]), false), Ok(()));
    }

    #[test]
    fn malformed_heads_are_bad_gateway() {
        for (status, pairs, upgrade) in [
            (200, &[("content-length", "2, 2")][..], false),
            (
                200,
                &[("content-length", "2"), ("content-length", "2")],
                false,
            ),
            (200, &[("content-length", "-1")], false),
            (200, &[("content-length", "")], false),
            (200, &[("transfer-encoding", "xchunked")], false),
            (200, &[("transfer-encoding", "gzip, chunked")], false),
            (
                200,
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ],
                false,
            ),
            (101, &[("upgrade", "raw")], false),
            (100, &[("content-length", "5")], false),
        ] {
            let err = check(status, &headers(pairs), upgrade).expect_err("refused");
            assert_eq!((err.code, err.status), (Code::BadGateway, 502), "{pairs:?}");
        }
        let big = "x".repeat(70 * 1024);
        let mut map = HeaderMap::new();
        map.insert("x-big", HeaderValue::from_str(&big).unwrap());
        assert!(check(200, &map, false).is_err());
    }
}
