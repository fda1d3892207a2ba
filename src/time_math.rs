//! Time arithmetic that cannot panic: `Instant + Duration` aborts a release build when it
//! overflows, and config ranges are the only thing standing between a typo and that. These
//! saturate instead, so a value that slipped through still cannot take the process down.

use std::time::{Duration, Instant};

/// `now + d`, or as far as an `Instant` goes (never earlier than `now`).
pub fn after(now: Instant, d: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 86_400);
    now.checked_add(d)
        .or_else(|| now.checked_add(YEAR))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_overflows() {
        let now = Instant::now();
        assert_eq!(
            after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert!(after(now, Duration::MAX) >= now);
        assert!(after(now, Duration::from_secs(u64::MAX / 2)) >= now);
    }
}
