//! Unit tests of the shared head rules on decoded HTTP/2 heads.
use super::*;

const LIMITS: HeadLimits = HeadLimits {
    max_uri_bytes: 32,
    max_header_bytes: 128,
    max_headers: 3,
    underscores: Underscores::Drop,
};

fn h2(path: &str, headers: &[(&str, &str)]) -> RequestHeader {
    // As Pingora builds an h2 head: the pseudo-headers make an absolute URI.
    let mut req = RequestHeader::build("GET", path.as_bytes(), None).expect("head");
    let uri = http::Uri::try_from(format!("https://a.example{path}")).expect("uri");
    req.set_uri(uri);
    req.set_version(http::Version::HTTP_2);
    for (n, v) in headers {
        req.append_header(n.to_string(), *v).expect("header");
    }
    req
}

fn code(r: Result<Accepted, Reject>) -> Option<(Code, u16)> {
    r.err().map(|e| (e.code, e.status))
}

#[test]
fn the_target_limit_covers_path_and_query() {
    let ok = "/".to_string() + &"a".repeat(31);
    assert_eq!(code(check_h2(&h2(&ok, &[]), &LIMITS)), None);
    let long = format!("{ok}?q");
    assert_eq!(
        code(check_h2(&h2(&long, &[]), &LIMITS)),
        Some((Code::UriTooLong, 414))
    );
}

#[test]
fn the_list_size_counts_names_values_and_pseudo_headers() {
    // :method GET (10) + :scheme https (12) + :authority a.example (19) + :path /x (7) = 48.
    let fits = "v".repeat(128 - 48 - 1);
    assert_eq!(code(check_h2(&h2("/x", &[("x", &fits)]), &LIMITS)), None);
    let over = "v".repeat(128 - 48);
    assert_eq!(
        code(check_h2(&h2("/x", &[("x", &over)]), &LIMITS)),
        Some((Code::HeadersTooLarge, 431))
    );
}

#[test]
fn the_count_is_of_fields_each_cookie_crumb_one() {
    let three = [("cookie", "a=1"), ("cookie", "b=2"), ("x", "1")];
    assert_eq!(code(check_h2(&h2("/", &three), &LIMITS)), None);
    let four = [
        ("cookie", "a=1"),
        ("cookie", "b=2"),
        ("cookie", "c=3"),
        ("x", "1"),
    ];
    assert_eq!(
        code(check_h2(&h2("/", &four), &LIMITS)),
        Some((Code::HeadersTooLarge, 431))
    );
}

#[test]
fn underscores_follow_the_rule() {
    let head = h2("/", &[("x_api_key", "evil")]);
    assert_eq!(
        check_h2(&head, &LIMITS).ok(),
        Some(Accepted {
            drop_underscored: true
        })
    );
    let reject = HeadLimits {
        underscores: Underscores::Reject,
        ..LIMITS
    };
    assert_eq!(
        code(check_h2(&head, &reject)),
        Some((Code::BadRequest, 400))
    );
    let allow = HeadLimits {
        underscores: Underscores::Allow,
        ..LIMITS
    };
    assert_eq!(check_h2(&head, &allow).ok(), Some(Accepted::default()));
}

#[test]
fn padded_values_are_malformed() {
    for value in [" a", "a ", "\ta", "a\t"] {
        assert_eq!(
            code(check_h2(&h2("/", &[("x", value)]), &LIMITS)),
            Some((Code::BadRequest, 400)),
            "{value:?}"
        );
    }
    assert_eq!(code(check_h2(&h2("/", &[("x", "a b")]), &LIMITS)), None);
    assert_eq!(code(check_h2(&h2("/", &[("x", "")]), &LIMITS)), None);
}

/// Found by the HTTP/2 fuzz target: the `http` crate's HTTP/2 name table lets `"` through
/// (no token character), and such a name reached the app's HTTP/1.1 head, which its parser
/// then refused.
#[test]
fn names_that_are_not_tokens_are_malformed() {
    for name in [&b"exmp&&&&&\""[..], b"\"", b"a\"b"] {
        let name = HeaderName::from_lowercase(name).expect("HTTP/2 decodes this name");
        let request = http::Request::builder()
            .uri("https://a.example/")
            .version(http::Version::HTTP_2)
            .body(())
            .expect("request");
        let (mut parts, ()) = request.into_parts();
        parts
            .headers
            .append(name.clone(), http::HeaderValue::from_static("v"));
        let req = RequestHeader::from(parts);
        assert_eq!(
            code(check_h2(&req, &LIMITS)),
            Some((Code::BadRequest, 400)),
            "{name:?}"
        );
    }
    assert_eq!(
        code(check_h2(&h2("/", &[("x-a.b~c!", "v")]), &LIMITS)),
        None
    );
    assert!(b"!#$%&'*+-.^_`|~aZ09".iter().all(|b| is_tchar(*b)));
    assert!(!b"\"(),/:;<=>?@[\\]{} \t".iter().any(|b| is_tchar(*b)));
}
