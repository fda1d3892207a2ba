//! The corpus, continued: header values, line endings, request lines, Host, sizes, clean
//! requests and what is accepted where NGINX accepts it.

use super::{case, clean, head, Case};

pub fn values_lines_and_clean(c: &mut Vec<Case>) {
    // --- Header values: NUL, CR, LF, control bytes, obs-fold ---
    for (i, v) in [
        "a\u{0}b", "a\rb", "a\u{1}b", "a\u{1b}b", "a\u{7f}b", "\u{0}", "a\u{8}b", "a\u{b}b",
        "a\u{c}b", "a\u{1f}b",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("value control {i} {v:?}"),
            head(&format!("GET /e HTTP/1.1\r\nHost: a\r\nX-A: {v}")),
            400,
        ));
    }
    c.push(case(
        "obs-fold space",
        head("GET /e HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two"),
        400,
    ));
    c.push(case(
        "obs-fold tab",
        head("GET /e HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo"),
        400,
    ));
    c.push(case(
        "obs-fold first header",
        head("GET /e HTTP/1.1\r\n X-A: v\r\nHost: a"),
        400,
    ));

    // --- Line endings ---
    c.push(case(
        "bare lf everywhere",
        "GET /e HTTP/1.1\nHost: a\n\n",
        400,
    ));
    c.push(case(
        "bare lf in one header",
        "GET /e HTTP/1.1\r\nHost: a\nX-A: v\r\n\r\n",
        400,
    ));
    c.push(case(
        "bare lf at the end",
        "GET /e HTTP/1.1\r\nHost: a\r\n\n",
        400,
    ));
    c.push(case("bare cr", "GET /e HTTP/1.1\rHost: a\r\n\r\n", 400));
    c.push(case(
        "lf request line",
        "GET /e HTTP/1.1\nHost: a\r\n\r\n",
        400,
    ));

    // --- Request line ---
    for (i, line) in [
        "GET http://other.example/ HTTP/1.1",
        "GET http://user@a/e HTTP/1.1",
        "GET ftp://a/e HTTP/1.1",
        "GET //a/e HTTP/1.1x",
        "GET a:80 HTTP/1.1",
        "GET * HTTP/1.1",
        "GET /e HTTP/1.2x",
        "GET /e HTTP/2.0",
        "GET /e http/1.1",
        "GET /e",
        "GET  /e HTTP/1.1",
        "GET /e  HTTP/1.1",
        "GET\t/e HTTP/1.1",
        "get /e HTTP/1.1",
        "Get /e HTTP/1.1",
        "G@T /e HTTP/1.1",
        " GET /e HTTP/1.1",
        "GET /e HTTP/1.1 extra",
        "GET /a b HTTP/1.1",
        "GET /e\u{0} HTTP/1.1",
        "GET e HTTP/1.1",
        "GET /bad%zz HTTP/1.1",
        "GET /bad%4 HTTP/1.1",
        "/e HTTP/1.1",
        "GET /e HTTP/1.1\u{1}",
        "GET /\u{7f} HTTP/1.1",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("request line {i} {line:?}"),
            head(&format!("{line}\r\nHost: a")),
            400,
        ));
    }
    c.push(case(
        "connect",
        head("CONNECT a:443 HTTP/1.1\r\nHost: a:443"),
        405,
    ));

    // --- Host ---
    c.push(case("no host on 1.1", head("GET /e HTTP/1.1"), 400));
    c.push(case(
        "two hosts",
        head("GET /e HTTP/1.1\r\nHost: a\r\nHost: b"),
        400,
    ));
    c.push(case(
        "same host twice",
        head("GET /e HTTP/1.1\r\nHost: a\r\nHost: a"),
        400,
    ));
    c.push(case(
        "host with userinfo",
        head("GET /e HTTP/1.1\r\nHost: user@a"),
        400,
    ));
    c.push(case(
        "host with path",
        head("GET /e HTTP/1.1\r\nHost: a/b"),
        400,
    ));
    c.push(case(
        "host with space",
        head("GET /e HTTP/1.1\r\nHost: a b"),
        400,
    ));
    c.push(case("empty host", head("GET /e HTTP/1.1\r\nHost: "), 400));
    c.push(case(
        "host with query",
        head("GET /e HTTP/1.1\r\nHost: a?b"),
        400,
    ));

    // --- Sizes ---
    c.push(case(
        "uri too long",
        head(&format!("GET /{} HTTP/1.1\r\nHost: a", "u".repeat(3000))),
        414,
    ));
    c.push(case(
        "header too large",
        head(&format!(
            "GET /e HTTP/1.1\r\nHost: a\r\nX-A: {}",
            "v".repeat(5000)
        )),
        431,
    ));
    let many: String = (0..30).map(|i| format!("\r\nX-H{i}: v")).collect();
    c.push(case(
        "too many headers",
        head(&format!("GET /e HTTP/1.1\r\nHost: a{many}")),
        431,
    ));
    c.push(case(
        "declared body too large",
        format!(
            "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            1 << 20
        ),
        413,
    ));

    // --- Clean requests the app must see exactly ---
    c.push(clean(
        "get",
        "GET /e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "get query",
        "GET /e?x=1&y=%20 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e?x=1&y=%20",
        b"",
    ));
    c.push(clean(
        "post cl",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        "POST",
        "/echo",
        b"hello",
    ));
    c.push(clean("post chunked", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "POST", "/echo", b"hello"));
    c.push(clean("post chunked two chunks", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", "POST", "/echo", b"hello"));
    c.push(clean(
        "put empty body",
        "PUT /e HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "PUT",
        "/e",
        b"",
    ));
    c.push(clean(
        "delete",
        "DELETE /e/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "DELETE",
        "/e/1",
        b"",
    ));
    c.push(clean(
        "patch",
        "PATCH /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        "PATCH",
        "/echo",
        b"{}",
    ));
    c.push(clean(
        "http/1.0 no host",
        "GET /e HTTP/1.0\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "host with port",
        "GET /e HTTP/1.1\r\nHost: a:8080\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "ipv6 host",
        "GET /e HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "space padded value",
        "GET /e HTTP/1.1\r\nHost: a\r\nX-A:    padded   \r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "tab in ordinary value",
        "GET /e HTTP/1.1\r\nHost: a\r\nX-A: a\tb\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "obs-text value",
        "GET /e HTTP/1.1\r\nHost: a\r\nX-A: caf\u{e9}\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "dot segments normalized",
        "GET /a/../e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "double slash normalized",
        "GET //e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "encoded unreserved normalized",
        "GET /%65 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "encoded slash kept",
        "GET /a%2fb HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/a%2Fb",
        b"",
    ));
    c.push(case(
        "options star",
        head("OPTIONS * HTTP/1.1\r\nHost: a"),
        400,
    ));
    c.push(clean(
        "leading zeros content-length",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\nConnection: close\r\n\r\nhello",
        "POST",
        "/echo",
        b"hello",
    ));
    c.push(clean(
        "custom method",
        "PURGE /e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "PURGE",
        "/e",
        b"",
    ));
    // --- Accepted where NGINX accepts them (found on 0.1: all refused with 400) ---
    for te in ["Chunked", "CHUNKED", "cHuNkEd"] {
        c.push(clean(
            &format!("te {te:?} in any case"),
            &format!("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            "POST",
            "/echo",
            b"hello",
        ));
    }
    c.push(clean("chunk sizes with leading zeros", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n00000000000000000005\r\nhello\r\n000\r\n\r\n", "POST", "/echo", b"hello"));
    c.push(clean(
        "absolute-form naming the host",
        "GET http://a/e?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e?x=1",
        b"",
    ));
    c.push(clean(
        "absolute-form https, host in another case",
        "GET HTTPS://A/e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "http/1.2 served as 1.1",
        "GET /e HTTP/1.2\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
    c.push(clean(
        "hyphenated header",
        "GET /e HTTP/1.1\r\nHost: a\r\nX-Api-Key: k\r\nConnection: close\r\n\r\n",
        "GET",
        "/e",
        b"",
    ));
}
