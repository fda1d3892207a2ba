//! Unit tests of the request-head checks.
use super::*;

const LIMITS: HeadLimits = HeadLimits {
    max_uri_bytes: 64,
    max_header_bytes: 256,
    max_headers: 4,
    underscores: Underscores::Drop,
};

fn check_with(raw: &str, limits: &HeadLimits) -> Result<HeadStatus, (Code, u16)> {
    let mut bytes = raw.as_bytes().to_vec();
    normalize_version(&mut bytes);
    check_head(&bytes, limits).map_err(|r| (r.code, r.status))
}

fn check(raw: &str) -> Result<HeadStatus, (Code, u16)> {
    check_with(raw, &LIMITS)
}

fn body(raw: &str) -> Option<BodyFraming> {
    match check(raw) {
        Ok(HeadStatus::Complete { head, .. }) => Some(head.body),
        _ => None,
    }
}

#[test]
fn complete_and_partial_heads() {
    let raw = "GET /x HTTP/1.1\r\nHost: a\r\n\r\nbody";
    let facts = HeadFacts {
        body: BodyFraming::None,
        drop_underscored: false,
        absolute: None,
    };
    assert_eq!(
        check(raw),
        Ok(HeadStatus::Complete {
            len: raw.len() - 4,
            head: facts
        })
    );
    let post = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 01\r\n\r\n";
    let zero = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 00\r\n\r\n";
    let chunked = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(body(post), Some(BodyFraming::Length(1)));
    assert_eq!(body(zero), Some(BodyFraming::None));
    assert_eq!(body(chunked), Some(BodyFraming::Chunked));
    assert_eq!(
        check("GET /x HTTP/1.1\r\nHost: a\r\n"),
        Ok(HeadStatus::Partial)
    );
    assert_eq!(check("GE"), Ok(HeadStatus::Partial));
}

#[test]
fn size_limits() {
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(64));
    assert_eq!(check(&long), Err((Code::UriTooLong, 414)));
    let partial_line = format!("GET /{}", "a".repeat(100));
    assert_eq!(check(&partial_line), Err((Code::UriTooLong, 414)));
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(300)
    );
    assert_eq!(check(&big), Err((Code::HeadersTooLarge, 431)));
    let big_partial = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "v".repeat(300));
    assert_eq!(check(&big_partial), Err((Code::HeadersTooLarge, 431)));
    let many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n";
    assert_eq!(check(many), Err((Code::HeadersTooLarge, 431)));
}

#[test]
fn ambiguous_framing_is_refused() {
    let cases = [
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
        "GET http://other/ HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\nHost: a\n\n",
        "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
        "get / HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.12\r\nHost: a\r\n\r\n",
    ];
    for raw in cases {
        assert_eq!(check(raw), Err((Code::BadRequest, 400)), "{raw:?}");
    }
    assert_eq!(
        check("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
        Err((Code::MethodNotAllowed, 405))
    );
    assert_eq!(
        check("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
        Err((Code::BadRequest, 400))
    );
    assert!(check("GET / HTTP/1.0\r\n\r\n").is_ok());
}

#[test]
fn compatible_where_nginx_is() {
    // Found on 0.1: each of these got 400 where NGINX serves it.
    assert_eq!(
        body("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"),
        Some(BodyFraming::Chunked)
    );
    assert_eq!(
        body("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"),
        Some(BodyFraming::Chunked)
    );
    for absolute in [
        "GET http://a/x?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET HTTPS://A:8080/x HTTP/1.1\r\nHost: a:8080\r\n\r\n",
        "GET http://a HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /x?next=http://b/ HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        assert!(check(absolute).is_ok(), "{absolute:?}");
    }
    for (target, origin) in [
        ("http://a/x?q=1", "/x?q=1"),
        ("HTTPS://A:8080", "/"),
        ("http://a?q", "/?q"),
    ] {
        let raw = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\n\r\n",
            &target[target.find("//").unwrap() + 2..]
                .split(['/', '?'])
                .next()
                .unwrap()
                .to_ascii_lowercase()
        );
        let Ok(HeadStatus::Complete { head, .. }) = check(&raw) else {
            panic!("{raw:?}");
        };
        let mut bytes = bytes::BytesMut::from(raw.as_bytes());
        to_origin_form(&mut bytes, head.absolute.expect("absolute"));
        assert!(
            bytes.starts_with(format!("GET {origin} HTTP/1.1\r\n").as_bytes()),
            "{bytes:?}"
        );
    }
    let mut line = b"GET / HTTP/1.2\r\nHost: a\r\n\r\n".to_vec();
    normalize_version(&mut line);
    assert!(line.starts_with(b"GET / HTTP/1.1\r\n"));
    assert!(check("GET / HTTP/1.9\r\nHost: a\r\n\r\n").is_ok());
}

#[test]
fn underscores_follow_the_setting() {
    let raw = "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n";
    let facts = |limits: &HeadLimits| match check_with(raw, limits) {
        Ok(HeadStatus::Complete { head, .. }) => Ok(head.drop_underscored),
        Ok(HeadStatus::Partial) => Err((Code::Internal, 0)),
        Err(e) => Err(e),
    };
    assert_eq!(facts(&LIMITS), Ok(true));
    let reject = HeadLimits {
        underscores: Underscores::Reject,
        ..LIMITS
    };
    assert_eq!(facts(&reject), Err((Code::BadRequest, 400)));
    let allow = HeadLimits {
        underscores: Underscores::Allow,
        ..LIMITS
    };
    assert_eq!(facts(&allow), Ok(false));
    // A dropped header is not read for framing either.
    let sneaky = "POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n";
    assert!(matches!(
        check(sneaky),
        Ok(HeadStatus::Complete {
            head: HeadFacts {
                body: BodyFraming::None,
                drop_underscored: true,
                absolute: None,
            },
            ..
        })
    ));
}

fn complete(raw: &str) -> bool {
    matches!(check(raw), Ok(HeadStatus::Complete { .. }))
}

/// Each size limit holds at exactly its value and refuses one byte more, for a head that is
/// complete and for one still arriving.
#[test]
fn limits_hold_at_exactly_their_value() {
    let target = |n: usize| format!("/{}", "a".repeat(n - 1));
    let head = |t: &str| format!("GET {t} HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(complete(&head(&target(64))));
    assert_eq!(check(&head(&target(65))), Err((Code::UriTooLong, 414)));
    // A request line still arriving, its target not yet ended: refused once it is longer
    // than any allowed target could make it (the target's limit plus 32 bytes).
    let line = |n: usize| format!("GET /{}", "a".repeat(n - 5));
    assert_eq!(check(&line(96)), Ok(HeadStatus::Partial));
    assert_eq!(check(&line(97)), Err((Code::UriTooLong, 414)));
    // A head of exactly max_header_bytes (256), complete or still arriving.
    let padded = |n: usize, end: &str| {
        let start = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
        format!("{start}{}{end}", "p".repeat(n - start.len() - end.len()))
    };
    assert!(complete(&padded(256, "\r\n\r\n")));
    assert_eq!(
        check(&padded(257, "\r\n\r\n")),
        Err((Code::HeadersTooLarge, 431))
    );
    assert_eq!(check(&padded(256, "")), Ok(HeadStatus::Partial));
    assert_eq!(check(&padded(257, "")), Err((Code::HeadersTooLarge, 431)));
}

#[test]
fn methods_may_carry_dashes_and_underscores() {
    assert!(complete("M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(complete("BASELINE_CONTROL / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert_eq!(
        check("Get / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Err((Code::BadRequest, 400))
    );
}

#[test]
fn an_empty_host_only_on_http10() {
    assert_eq!(
        check("GET / HTTP/1.1\r\nHost: \r\n\r\n"),
        Err((Code::BadRequest, 400))
    );
    assert!(complete("GET / HTTP/1.0\r\nHost: \r\n\r\n"));
}

#[test]
fn content_length_is_read_exactly() {
    let cl = |v: &str| {
        body(&format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\n"
        ))
    };
    assert_eq!(cl("12"), Some(BodyFraming::Length(12)));
    assert_eq!(cl("987654321"), Some(BodyFraming::Length(987_654_321)));
    // 18 digits fit in 64 bits whatever they are; a 19th is refused even as a leading zero.
    assert_eq!(cl("000000000000000005"), Some(BodyFraming::Length(5)));
    assert_eq!(cl("0000000000000000005"), None);
    assert_eq!(cl("5a"), None);
    assert_eq!(cl(""), None);
    assert!(BodyFraming::Length(1).is_some() && BodyFraming::Chunked.is_some());
    assert!(!BodyFraming::None.is_some());
}

#[test]
fn absolute_form_only_for_http_and_https() {
    for target in ["http://a/x", "HTTPS://a/x", "http://a"] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(complete(&raw), "{target}");
    }
    assert_eq!(
        check("GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n"),
        Err((Code::BadRequest, 400))
    );
}

/// A tab or DEL next to a framing header's value is refused (parsers disagree on it); in
/// any other header, or on the next line, it is the app's business.
#[test]
fn tabs_are_refused_around_framing_values_only() {
    for framing in [
        "Content-Length:\t5",
        "Content-Length: 5\t",
        "Content-Length: 5\x7f",
        "Transfer-Encoding: chunked\t",
    ] {
        let raw = format!("POST / HTTP/1.1\r\nHost: a\r\n{framing}\r\n\r\n");
        assert_eq!(check(&raw), Err((Code::BadRequest, 400)), "{framing:?}");
    }
    // The longest value a Content-Length may have, with a tab after it.
    let long = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 000000000000000005\t\r\n\r\n";
    assert_eq!(check(long), Err((Code::BadRequest, 400)));
    for fine in [
        "Content-Length: 5\r\nX-A:\tb",
        "X-A:\tb\t\r\nContent-Length: 5",
        "X-A: b\t",
    ] {
        let raw = format!("POST / HTTP/1.1\r\nHost: a\r\n{fine}\r\n\r\n");
        assert!(complete(&raw), "{fine:?}");
    }
}

/// An absolute-form target whose authority is no host name is refused as a target, before
/// its Host is compared.
#[test]
fn an_absolute_target_needs_a_host_name() {
    let raw = b"GET http://a@b/x HTTP/1.1\r\nHost: a@b\r\n\r\n";
    let detail = check_head(raw, &LIMITS)
        .err()
        .map(|r| r.detail.into_owned());
    assert_eq!(
        detail.as_deref(),
        Some("request target must be origin-form or absolute-form (http://host/path)")
    );
}

/// The scan `check_line_endings` replaced: every byte, in order.
fn line_endings_byte_by_byte(head: &[u8]) -> Result<(), &'static str> {
    let mut prev = 0u8;
    for &b in head {
        if b == b'\n' && prev != b'\r' {
            return Err("line ending without CR");
        }
        if prev == b'\r' && b != b'\n' {
            return Err("CR not followed by LF");
        }
        prev = b;
    }
    Ok(())
}

#[test]
fn line_endings_are_judged_as_a_byte_by_byte_scan_judges_them() {
    let mut rng = fastrand::Rng::with_seed(26);
    for _ in 0..20_000 {
        let len = rng.usize(0..12);
        let head: Vec<u8> = (0..len)
            .map(|_| [b'\r', b'\n', b'a'][rng.usize(0..3)])
            .collect();
        let expected = line_endings_byte_by_byte(&head);
        let got = check_line_endings(&head).map_err(|r| r.detail.into_owned());
        assert_eq!(
            got.as_ref().map_err(|detail| detail.as_str()).copied(),
            expected,
            "{:?}",
            head.escape_ascii().to_string()
        );
    }
}
