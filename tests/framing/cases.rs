//! The raw-request corpus of `tests/framing_corpus.rs`: each case, the status Rampart answers
//! and what the app may see.

pub struct Case {
    pub name: String,
    pub raw: Vec<u8>,
    pub status: u16,
    /// The app sees the request (with exactly this method, target and body).
    pub forwarded: Option<(&'static str, &'static str, &'static [u8])>,
    /// A header (sent by the client) the app must not see.
    pub absent: Option<&'static str>,
}

fn case(name: impl Into<String>, raw: impl Into<Vec<u8>>, status: u16) -> Case {
    Case {
        name: name.into(),
        raw: raw.into(),
        status,
        forwarded: None,
        absent: None,
    }
}

fn clean(
    name: &str,
    raw: &str,
    method: &'static str,
    target: &'static str,
    body: &'static [u8],
) -> Case {
    Case {
        name: name.into(),
        raw: raw.as_bytes().to_vec(),
        status: 200,
        forwarded: Some((method, target, body)),
        absent: None,
    }
}

fn head(lines: &str) -> Vec<u8> {
    format!("{lines}\r\n\r\n").into_bytes()
}

pub fn corpus() -> Vec<Case> {
    let mut c = Vec::new();

    // --- Content-Length and Transfer-Encoding together or repeated ---
    for (i, (cl, te)) in [
        ("5", "chunked"),
        ("0", "chunked"),
        ("5", "identity"),
        ("5", "Chunked"),
        ("5", "chunked, identity"),
    ]
    .iter()
    .enumerate()
    {
        c.push(case(format!("cl+te {i}"), format!("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: {cl}\r\nTransfer-Encoding: {te}\r\n\r\nhello"), 400));
        c.push(case(format!("te+cl {i}"), format!("POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\nContent-Length: {cl}\r\n\r\nhello"), 400));
    }
    for (i, pair) in [("5", "5"), ("5", "6"), ("0", "5"), ("5", "")]
        .iter()
        .enumerate()
    {
        c.push(case(format!("two content-length {i}"), format!("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nContent-Length: {}\r\n\r\nhello", pair.0, pair.1), 400));
    }
    c.push(case("two transfer-encoding", "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400));
    c.push(case("te chunked then identity", "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", 400));

    // --- Invalid Content-Length values ---
    for (i, v) in [
        "+5",
        "-5",
        "0x5",
        "5,5",
        "5, 5",
        "5 5",
        "five",
        "1e3",
        "5.0",
        "99999999999999999999",
        "",
        "\u{0}5",
        "5;",
        "05a",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("bad content-length {i} {v:?}"),
            format!("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\nhello"),
            400,
        ));
    }

    // --- Transfer-Encoding obfuscations ---
    for (i, v) in [
        "xchunked",
        "chunkedx",
        "chunked, identity",
        "identity, chunked",
        "gzip, chunked",
        "chunked;q=1",
        "chunk",
        "\tchunked",
        "chunked\t",
        "identity",
        "gzip",
        "\"chunked\"",
        "chunked,",
        ", chunked",
        "chunked chunked",
        "x-chunked",
        "chunked\u{7f}",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("te obfuscation {i} {v:?}"),
            format!("POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {v}\r\n\r\n0\r\n\r\n"),
            400,
        ));
    }
    c.push(case(
        "te header name with space before colon",
        "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        400,
    ));
    c.push(case(
        "te on http/1.0",
        "POST /e HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ));
    c.push(case(
        "te folded",
        "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        400,
    ));

    // --- Chunked framing (the corpus route buffers bodies: the app sees none of these) ---
    for (i, body) in [
        "zz\r\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "5 5\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
        "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        "5\nhello\n0\n\n",
        "5;\u{0}\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n\r\n",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("bad chunk {i} {body:?}"),
            format!("POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}"),
            400,
        ));
    }
    c.push(case("chunked over the limit", format!("POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10001\r\n{}\r\n0\r\n\r\n", "x".repeat(65537)), 413));

    // --- Header names ---
    // Names with `_`: dropped, the request served (`underscores_in_headers: drop`, as NGINX).
    for name in [
        "X_Forwarded_For",
        "Content_Length",
        "Transfer_Encoding",
        "X_Real_IP",
        "x_api_key",
        "_",
        "A_B",
    ] {
        let mut dropped = clean(
            &format!("underscore header {name:?} dropped"),
            &format!("GET /e HTTP/1.1\r\nHost: a\r\n{name}: 5\r\nConnection: close\r\n\r\n"),
            "GET",
            "/e",
            b"",
        );
        dropped.absent = Some(name);
        c.push(dropped);
    }
    for (i, name) in [
        "Bad Header",
        "Bad(Header)",
        "Bad@Header",
        "Bad[Header]",
        "Bad\"Header",
        "Bad/Header",
        "Bad;Header",
        "Bad=Header",
        "Bad{Header}",
        "Bad\\Header",
        "Bad?Header",
        "Bad,Header",
        "Héader",
    ]
    .iter()
    .enumerate()
    {
        c.push(case(
            format!("header name {i} {name:?}"),
            head(&format!("GET /e HTTP/1.1\r\nHost: a\r\n{name}: v")),
            400,
        ));
    }
    c.push(case(
        "empty header name",
        head("GET /e HTTP/1.1\r\nHost: a\r\n: v"),
        400,
    ));
    c.push(case(
        "header without colon",
        head("GET /e HTTP/1.1\r\nHost: a\r\nNoColon"),
        400,
    ));
    c.push(case(
        "space before colon",
        head("GET /e HTTP/1.1\r\nHost: a\r\nX-A : v"),
        400,
    ));

    values_lines_and_clean(&mut c);
    c
}

#[path = "more_cases.rs"]
mod more_cases;
use more_cases::values_lines_and_clean;
