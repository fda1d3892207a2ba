//! Unit tests of the chunked decoder.
use super::*;

/// Decodes `input` whole: Ok(Some(body)) when complete, Ok(None) when more is needed.
fn decode(input: &[u8], limit: u64) -> Result<Option<Vec<u8>>, Code> {
    let mut d = ChunkedDecoder::new(limit);
    let mut out = Vec::new();
    let (used, done) = decode_into(&mut d, input, &mut out).map_err(|r| r.code)?;
    assert!(used <= input.len());
    Ok(done.then_some(out))
}

/// Feeds `input` one byte at a time.
fn decode_bytewise(input: &[u8], limit: u64) -> Result<Option<Vec<u8>>, Code> {
    let mut d = ChunkedDecoder::new(limit);
    let mut out = Vec::new();
    let mut done = false;
    for b in input {
        let (used, complete) =
            decode_into(&mut d, std::slice::from_ref(b), &mut out).map_err(|r| r.code)?;
        assert!(used == 1 || complete);
        done = complete;
        if done {
            break;
        }
    }
    Ok(done.then_some(out))
}

#[test]
fn decodes_whole_and_piecewise_alike() {
    let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n";
    assert_eq!(decode(body, 100), Ok(Some(b"hello world".to_vec())));
    assert_eq!(
        decode_bytewise(body, 100),
        Ok(Some(b"hello world".to_vec()))
    );
    assert_eq!(decode(b"5\r\nhel", 100), Ok(None));
    assert_eq!(decode(b"0\r\n\r\n", 0), Ok(Some(Vec::new())));
}

#[test]
fn the_end_of_the_body_is_found_exactly() {
    let body = b"3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n";
    let mut d = ChunkedDecoder::new(100);
    let mut out = Vec::new();
    let (used, done) = decode_into(&mut d, body, &mut out).unwrap();
    assert!(done);
    assert_eq!(&body[used..], b"GET /next HTTP/1.1\r\n");
}

#[test]
fn accepted_where_nginx_accepts() {
    // Found on 0.1: leading zeros in a chunk size were refused; NGINX takes any number.
    let zeros = b"00000000000000000000005\r\nhello\r\n000\r\n\r\n";
    assert_eq!(decode(zeros, 100), Ok(Some(b"hello".to_vec())));
    assert_eq!(
        decode(b"A\r\n0123456789\r\n0\r\n\r\n", 100).map(|b| b.map(|b| b.len())),
        Ok(Some(10))
    );
    assert_eq!(
        decode(b"5 ;a=\"b c\"\r\nhello\r\n0\r\n\r\n", 100),
        Ok(Some(b"hello".to_vec()))
    );
    assert_eq!(
        decode(b"5\t\r\nhello\r\n0\r\n\r\n", 100),
        Ok(Some(b"hello".to_vec()))
    );
}

#[test]
fn refuses_bad_framing() {
    for bad in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"-5\r\nhello\r\n",
        b"5 5\r\nhello\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5;a\nb\r\nhello\r\n0\r\n\r\n",
        b"5;\x00\r\nhello\r\n0\r\n\r\n",
        b"5\rhello\r\n",
        b"0\r\nbad trailer\r\n\r\n",
        b"0\r\nX: 1\n\r\n",
        b"5\r\nhello\r\n\r\n",
        b"10000000000000000\r\n",
        b";ext\r\nhello\r\n",
        // Data followed by something else than CR, or CR by something else than LF.
        b"5\r\nhelloX\n0\r\n\r\n",
        b"5\r\nhello\rX0\r\n\r\n",
    ] {
        let whole = decode(bad, 1 << 62);
        assert_eq!(
            whole,
            Err(Code::BadRequest),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(decode_bytewise(bad, 1 << 62), whole);
    }
    let long_line = [b"0".repeat(5000), b"5\r\n".to_vec()].concat();
    assert_eq!(decode(&long_line, 100), Err(Code::BadRequest));
}

#[test]
fn refuses_bodies_over_the_limit_before_their_data() {
    assert_eq!(
        decode(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 10),
        Err(Code::BodyTooLarge)
    );
    assert_eq!(
        decode(b"ffffffffffffffff\r\n", u64::MAX - 1),
        Err(Code::BodyTooLarge)
    );
}

#[test]
fn frames_canonically() {
    let mut out = bytes::BytesMut::new();
    frame(b"hello world!!!!!!", &mut out);
    out.extend_from_slice(LAST_CHUNK);
    assert_eq!(&out[..], b"11\r\nhello world!!!!!!\r\n0\r\n\r\n");
    assert_eq!(decode(&out, 100), Ok(Some(b"hello world!!!!!!".to_vec())));
}

#[test]
fn trailers_are_bounded_at_8_kib_in_all() {
    // Lines well under the line limit, adding up to just under and just over 8 KiB.
    let line = format!("X-T: {}\r\n", "a".repeat(1000));
    let under = format!("0\r\n{}\r\n", line.repeat(8));
    assert_eq!(decode(under.as_bytes(), 10), Ok(Some(Vec::new())));
    let over = format!("0\r\n{}\r\n", line.repeat(9));
    assert_eq!(decode(over.as_bytes(), 10), Err(Code::BadRequest));
}

#[test]
fn a_size_line_may_be_exactly_as_long_as_the_limit() {
    // Leading zeros, the digit, CR and LF: MAX_LINE bytes in all, then one more.
    let line = |zeros: usize| format!("{}5\r\nhello\r\n0\r\n\r\n", "0".repeat(zeros));
    assert_eq!(
        decode(line(MAX_LINE - 3).as_bytes(), 100),
        Ok(Some(b"hello".to_vec()))
    );
    assert_eq!(
        decode(line(MAX_LINE - 2).as_bytes(), 100),
        Err(Code::BadRequest)
    );
}

/// What the client is told names the fault (the problem's `detail`).
#[test]
fn each_refusal_says_what_was_wrong() {
    let detail = |input: &[u8]| {
        let mut d = ChunkedDecoder::new(100);
        let mut out = Vec::new();
        decode_into(&mut d, input, &mut out).map_err(|r| r.detail.into_owned())
    };
    for (input, said) in [
        (
            &b"5\nhello\r\n0\r\n\r\n"[..],
            "chunk size line not ended by CRLF",
        ),
        (b"5\rXhello\r\n", "chunk size line not ended by CRLF"),
        (b"5;a\nb\r\n", "chunk size line not ended by CRLF"),
        (b"5 5\r\n", "invalid byte in a chunk size line"),
        (b"\r\n", "empty chunk size line"),
        (b"zz\r\n", "chunk size is not a hex number"),
        (b"5\r\nhelloXX", "chunk data not followed by CRLF"),
        (b"10000000000000000\r\n", "chunk size too large"),
        (b"0\r\nbad trailer\r\n\r\n", "invalid trailer field"),
        (b";ext\r\n", "chunk size is not a hex number"),
        (b"0\r\nX: a\n\r\n", "trailer line not ended by CRLF"),
        (b"0\r\nX: a\rb", "trailer line not ended by CRLF"),
        (b" 5\r\n", "chunk size is not a hex number"),
        (b"0\r\nX: \x7f\r\n\r\n", "invalid trailer line"),
        (b"0\r\nX: \x01\r\n\r\n", "invalid trailer line"),
    ] {
        assert_eq!(
            detail(input).err().as_deref(),
            Some(said),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

/// Tabs and obs-text are field content (RFC 9110 §5.5) in trailers and chunk extensions.
#[test]
fn tabs_and_high_bytes_are_content() {
    assert_eq!(decode(b"0\r\nX:\ta\tb\r\n\r\n", 10), Ok(Some(Vec::new())));
    assert_eq!(
        decode(b"5;a=\x80\xff\r\nhello\r\n0\r\n\r\n", 10),
        Ok(Some(b"hello".to_vec()))
    );
}

#[test]
fn the_trailer_section_may_be_exactly_8_kib() {
    // Two lines (each within the line limit) and the final CRLF: 8,192 bytes, then one more.
    let section = |pad: usize| {
        let line = |n: usize| format!("X: {}\r\n", "a".repeat(n));
        format!("0\r\n{}{}\r\n", line(4090), line(pad))
    };
    assert_eq!(decode(section(4090).as_bytes(), 10), Ok(Some(Vec::new())));
    assert_eq!(decode(section(4091).as_bytes(), 10), Err(Code::BadRequest));
}
