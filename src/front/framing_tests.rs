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
