//! The bodies of the fuzz targets (`fuzz/`, cargo-fuzz), kept in the library so that
//! `tests/fuzz_corpora.rs` replays every committed corpus file and past crash input on the
//! stable toolchain with exactly the code the fuzzers ran. Each takes arbitrary bytes,
//! must never panic, and asserts the invariants of what it drives.

use crate::front::chunked::ChunkedDecoder;
use crate::front::framing::{check_head, HeadLimits, HeadStatus};

mod admission;
mod breaker;
mod rate_limit;

pub use admission::admission;
pub use breaker::breaker;
pub use rate_limit::rate_limit;

/// The config loader: arbitrary YAML through parse, typed model and validation (no I/O
/// beyond the folder `base_dir`, which is empty).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let no_env = |_: &str| None;
    let dir = std::env::temp_dir().join("rampart-fuzz-empty");
    if let Ok(loaded) = crate::config::load_str(text, "fuzz.yaml", &dir, &no_env) {
        // Whatever validation accepted must be within the documented ranges.
        let c = &loaded.config;
        assert!(c.client.header_timeout.0 <= crate::config::units::MAX_DURATION);
        assert!(c.client.max_body_bytes.0 <= crate::config::units::MAX_SIZE);
        assert!(c.server.threads.is_none_or(|t| (1..=1024).contains(&t)));
    }
}

/// The request-head check on every prefix boundary a network read could produce.
pub fn head(data: &[u8]) {
    let limits = HeadLimits {
        max_uri_bytes: 256,
        max_header_bytes: 2048,
        max_headers: 32,
    };
    let whole = check_head(data, &limits);
    if let Ok(HeadStatus::Complete { len, .. }) = whole {
        assert!(len <= data.len());
        // A complete head is judged the same with anything appended after it.
        let mut more = data[..len].to_vec();
        more.extend_from_slice(b"GARBAGE");
        assert_eq!(
            check_head(&more, &limits).ok(),
            whole.as_ref().ok().copied()
        );
    }
}

/// The strict chunked decoder: fed all at once or in two arbitrary pieces, the same outcome.
pub fn chunked(data: &[u8]) {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let limit = 4096;
    let mut whole = ChunkedDecoder::new(limit);
    let at_once = whole.feed(body).map_err(|r| r.code);
    let cut = usize::from(split).min(body.len());
    let mut parts = ChunkedDecoder::new(limit);
    let first = parts.feed(&body[..cut]).map_err(|r| r.code);
    let in_two = match first {
        Ok(false) => parts.feed(body).map_err(|r| r.code),
        done => done,
    };
    assert_eq!(at_once, in_two, "split at {cut}");
    if at_once == Ok(true) {
        assert_eq!(whole.decoded, parts.decoded);
        assert!(whole.decoded.len() as u64 <= limit);
        assert!(whole.end().is_some_and(|e| e <= body.len()));
    }
}

/// Upload sniffing: never panics, whatever the bytes.
pub fn sniff(data: &[u8]) {
    let _ = crate::guards::uploads::sniff(data);
}
