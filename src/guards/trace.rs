//! W3C Trace Context (`traceparent`): a valid one from the client is forwarded unchanged; a
//! missing or invalid one is replaced by a new trace whose flags follow `tracing.sampled`
//! (default sampled, `01`, so the app's parent-based OpenTelemetry sampler records traces
//! that start at Rampart). The trace id is known from the first step on, so every access-log
//! line carries it, refusals included.

use super::forwarded::write_hex;

/// `tracing:` compiled.
#[derive(Debug, Clone, Copy)]
pub struct TracePolicy {
    pub sampled: bool,
}

/// This request's trace.
#[derive(Debug, Clone, Copy)]
pub struct Trace {
    /// The traceparent to send the app, when the client's is missing or invalid.
    started: Option<[u8; 55]>,
    /// The trace id in lower-case hex.
    id: [u8; 32],
}

impl Trace {
    /// The trace of a request whose only `traceparent` is `incoming` (None when it sent none,
    /// or several). `random`: bits for a new trace id and parent id.
    pub fn of(incoming: Option<&[u8]>, policy: TracePolicy, random: (u128, u64)) -> Trace {
        match incoming {
            Some(v) if is_valid_traceparent(v) => {
                let mut id = [0u8; 32];
                id.copy_from_slice(&v[3..35]);
                Trace { started: None, id }
            }
            _ => {
                let started = new_traceparent(random.0, random.1, policy.sampled);
                let mut id = [0u8; 32];
                id.copy_from_slice(&started[3..35]);
                Trace {
                    started: Some(started),
                    id,
                }
            }
        }
    }

    /// The trace id (32 lower-case hex digits).
    pub fn id(&self) -> &str {
        std::str::from_utf8(&self.id).unwrap_or("")
    }

    /// The traceparent Rampart starts, when the client's does not stand.
    pub fn started(&self) -> Option<&[u8; 55]> {
        self.started.as_ref()
    }
}

/// Whether `v` is a valid W3C `traceparent` (version 00, or a later version's prefix).
pub fn is_valid_traceparent(v: &[u8]) -> bool {
    if v.len() < 55 {
        return false;
    }
    let lower_hex = |s: &[u8]| {
        s.iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    };
    let (version, trace, parent, flags) = (&v[0..2], &v[3..35], &v[36..52], &v[53..55]);
    let dashes = v[2] == b'-' && v[35] == b'-' && v[52] == b'-';
    if !dashes
        || !lower_hex(version)
        || !lower_hex(trace)
        || !lower_hex(parent)
        || !lower_hex(flags)
    {
        return false;
    }
    if version == b"ff" || trace.iter().all(|b| *b == b'0') || parent.iter().all(|b| *b == b'0') {
        return false;
    }
    if version == b"00" {
        v.len() == 55
    } else {
        v.len() == 55 || v[55] == b'-'
    }
}

/// A new `traceparent` starting a trace: `00-<trace id>-<parent id>-<01|00>`.
pub fn new_traceparent(trace: u128, parent: u64, sampled: bool) -> [u8; 55] {
    let trace = if trace == 0 { 1 } else { trace };
    let parent = if parent == 0 { 1 } else { parent };
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
    write_hex(&mut out[3..35], trace);
    write_hex(&mut out[36..52], u128::from(parent));
    if sampled {
        out[54] = b'1';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLED: TracePolicy = TracePolicy { sampled: true };

    #[test]
    fn traceparents() {
        let good = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(is_valid_traceparent(good));
        for bad in [
            &b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"[..],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"garbage",
        ] {
            assert!(
                !is_valid_traceparent(bad),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(is_valid_traceparent(
            b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
        ));
    }

    #[test]
    fn new_traces_carry_the_sampling_decision() {
        let on = new_traceparent(0xab, 0xcd, true);
        assert!(is_valid_traceparent(&on));
        assert!(on.ends_with(b"-01"));
        let off = new_traceparent(0, 0, false);
        assert!(is_valid_traceparent(&off), "zero ids are never sent");
        assert!(off.ends_with(b"-00"));
    }

    #[test]
    fn a_valid_parent_stands_and_names_the_trace() {
        let good = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let t = Trace::of(Some(good), SAMPLED, (1, 1));
        assert!(t.started().is_none());
        assert_eq!(t.id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let t = Trace::of(Some(b"00-zzz"), SAMPLED, (0xfeed, 1));
        let started = t.started().expect("a new trace");
        assert_eq!(&started[3..35], t.id().as_bytes());
        assert!(t.id().ends_with("feed"));
        assert!(Trace::of(None, SAMPLED, (5, 5)).started().is_some());
    }

    /// Each part is checked on its own: one bad dash, one part in upper case, is enough.
    #[test]
    fn every_part_of_a_traceparent_counts() {
        let good = *b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        for at in [2, 35, 52] {
            let mut v = good;
            v[at] = b'_';
            assert!(!is_valid_traceparent(&v), "dash {at}");
        }
        for at in [1, 10, 40, 54] {
            let mut v = good;
            v[at] = b'A';
            assert!(!is_valid_traceparent(&v), "upper case at {at}");
        }
        // A later version: exactly 55 bytes, or more after a dash.
        let mut later = good;
        later[1] = b'1';
        assert!(is_valid_traceparent(&later));
        let mut longer = later.to_vec();
        longer.push(b'x');
        assert!(!is_valid_traceparent(&longer));
    }
}
