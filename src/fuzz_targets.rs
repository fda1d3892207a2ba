//! The bodies of the fuzz targets (`fuzz/`, cargo-fuzz), kept in the library so that
//! `tests/fuzz_corpora.rs` replays every committed corpus file and past crash input on the
//! stable toolchain with exactly the code the fuzzers ran. Each takes arbitrary bytes,
//! must never panic, and asserts the invariants of what it drives.

use crate::front::chunked::ChunkedDecoder;
use crate::front::framing::{check_head, HeadLimits, HeadStatus};

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

/// The circuit breaker under an arbitrary sequence of calls, outcomes and clock steps: only
/// the documented transitions happen, and half-open never lets more than
/// `half_open_requests` trials through at once.
pub fn breaker(data: &[u8]) {
    use crate::upstream::breaker::{Breaker, BreakerConfig, Call, State};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let Some((&setup, ops)) = data.split_first() else {
        return;
    };
    let config = BreakerConfig {
        consecutive_failures: u32::from(setup % 4) + 1,
        failure_ratio: 0.5,
        min_requests: u32::from(setup / 4 % 4) + 1,
        window: Duration::from_millis(100),
        open_for: Duration::from_millis(50),
        half_open_requests: u32::from(setup / 16 % 3) + 1,
    };
    let trials = config.half_open_requests as usize;
    let start = Instant::now();
    let mut now = start;
    let breaker = Arc::new(Breaker::new(config, now));
    // Each call, and whether it is a trial of the current half-open period.
    let mut calls: Vec<(Call, bool)> = Vec::new();
    let mut state = State::Closed;
    let check = |from: State, to: State| {
        let allowed = matches!(
            (from, to),
            (State::Closed, State::Open)
                | (State::Open, State::HalfOpen)
                | (State::HalfOpen, State::Closed)
                | (State::HalfOpen, State::Open)
        );
        assert!(allowed, "transition {from:?} -> {to:?}");
    };
    for &op in ops {
        let moved = match op % 4 {
            0 => {
                let (admitted, moved) = breaker.acquire(now);
                if let Some(to) = moved {
                    check(state, to);
                    state = to;
                    calls.iter_mut().for_each(|c| c.1 = false);
                }
                if let Ok(permit) = admitted {
                    let trial = state == State::HalfOpen;
                    calls.push((Call::new(Arc::clone(&breaker), permit), trial));
                }
                None
            }
            1 | 2 if !calls.is_empty() => {
                let (call, _) = calls.remove(usize::from(op / 4) % calls.len());
                call.finish(op % 4 == 1, now)
            }
            3 => {
                now += Duration::from_millis(u64::from(op / 4));
                None
            }
            _ => None,
        };
        if let Some(to) = moved {
            check(state, to);
            state = to;
            calls.iter_mut().for_each(|c| c.1 = false);
        }
        let trials_out = calls.iter().filter(|c| c.1).count();
        assert!(
            trials_out <= trials,
            "{trials_out} half-open trials at once"
        );
    }
}
