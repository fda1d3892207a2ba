//! The bodies of the fuzz targets (`fuzz/`, cargo-fuzz), kept in the library so that
//! `tests/fuzz_corpora.rs` replays every committed corpus file and past crash input on the
//! stable toolchain with exactly the code the fuzzers ran. Each takes arbitrary bytes,
//! must never panic, and asserts the invariants of what it drives.

use crate::front::chunked::ChunkedDecoder;
use crate::front::framing::{check_head, HeadLimits, HeadStatus};

mod admission;
mod breaker;
mod http2;
mod rate_limit;

pub use admission::admission;
pub use breaker::breaker;
pub use http2::{h2, outcome as h2_outcome, Outcome as H2Outcome};
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

/// The request-head check (after the version normalization the front door applies), with
/// each `underscores_in_headers` setting: a complete head is judged the same with anything
/// appended; no head announces a body both ways.
pub fn head(data: &[u8]) {
    use crate::config::model::Underscores;
    let Some((&setting, raw)) = data.split_first() else {
        return;
    };
    let limits = HeadLimits {
        max_uri_bytes: 256,
        max_header_bytes: 2048,
        max_headers: 32,
        underscores: [Underscores::Drop, Underscores::Reject, Underscores::Allow]
            [usize::from(setting % 3)],
    };
    let mut raw = raw.to_vec();
    crate::front::framing::normalize_version(&mut raw);
    let whole = check_head(&raw, &limits);
    if let Ok(HeadStatus::Complete { len, .. }) = whole {
        assert!(len <= raw.len());
        let mut more = raw[..len].to_vec();
        more.extend_from_slice(b"GARBAGE");
        assert_eq!(
            check_head(&more, &limits).ok(),
            whole.as_ref().ok().copied()
        );
    }
}

/// The strict chunked decoder: fed all at once or in two arbitrary pieces, the same outcome,
/// the same body, the same end; and its canonical re-framing decodes to the same body.
pub fn chunked(data: &[u8]) {
    use crate::front::chunked::{decode_into, frame, LAST_CHUNK};
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let limit = 4096;
    let mut whole = ChunkedDecoder::new(limit);
    let mut at_once = Vec::new();
    let whole_result = decode_into(&mut whole, body, &mut at_once).map_err(|r| r.code);
    let cut = usize::from(split).min(body.len());
    let mut parts = ChunkedDecoder::new(limit);
    let mut in_two = Vec::new();
    let split_result = match decode_into(&mut parts, &body[..cut], &mut in_two) {
        Ok((used, false)) => {
            assert_eq!(used, cut, "a partial step consumes everything it is given");
            decode_into(&mut parts, &body[cut..], &mut in_two).map(|(n, done)| (n + cut, done))
        }
        done => done,
    }
    .map_err(|r| r.code);
    assert_eq!(whole_result, split_result, "split at {cut}");
    if let Ok((end, true)) = whole_result {
        assert_eq!(at_once, in_two);
        assert!(at_once.len() as u64 <= limit);
        assert!(end <= body.len());
        let mut canonical = bytes::BytesMut::new();
        if !at_once.is_empty() {
            frame(&at_once, &mut canonical);
        }
        canonical.extend_from_slice(LAST_CHUNK);
        let mut again = Vec::new();
        let mut d = ChunkedDecoder::new(limit);
        assert_eq!(
            decode_into(&mut d, &canonical, &mut again).ok(),
            Some((canonical.len(), true))
        );
        assert_eq!(again, at_once);
    }
}

/// Upload sniffing: never panics, whatever the bytes.
pub fn sniff(data: &[u8]) {
    let _ = crate::guards::uploads::sniff(data);
}
