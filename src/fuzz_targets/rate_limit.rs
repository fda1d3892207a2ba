//! Fuzz target: the keyed rate limiter (`guards::rate_limit`) under arbitrary settings,
//! keys, clock steps and evictions.
//!
//! The promise checked: over any interval [t_i, t_j] a key is granted at most
//! `burst + floor((t_j - t_i) / period)` requests. While the key table is full, new keys
//! share the overflow bucket, so a key can be counted in two buckets over its life and the
//! bound doubles — but no key ever goes unlimited.

use crate::config::model::RateKey;
use crate::config::units::Rate;
use crate::guards::rate_limit::{ceil_secs, RouteLimit, Verdict};
use governor::clock::FakeRelativeClock;
use std::time::Duration;

/// Operations per input: the bound is checked against every earlier grant (quadratic).
const MAX_OPS: usize = 1024;
/// Distinct keys the operations pick from.
const KEYS: usize = 4;

pub fn rate_limit(data: &[u8]) {
    let Some((setup, ops)) = data.split_first_chunk::<9>() else {
        return;
    };
    let count = u32::from_le_bytes([setup[0], setup[1], setup[2], 0]);
    let per = [1, 60, 3600, 86_400, 31_536_000][usize::from(setup[3] % 5)];
    let burst = u32::from_le_bytes([setup[4], setup[5], 0, 0]);
    let burst = (burst != 0).then_some(burst);
    // A table smaller than the number of keys exercises the overflow bucket.
    let max_keys = usize::from(setup[6] % 8);
    let step_unit = [1, 1_000, 1_000_000, 1_000_000_000][usize::from(setup[7] % 4)];
    let evict_every = usize::from(setup[8] % 16);
    let rate = Rate {
        count,
        per: Duration::from_secs(per),
    };
    let clock = FakeRelativeClock::default();
    // A rate finer than a nanosecond is refused here as at config compile time.
    let Some(limit) = RouteLimit::new(rate, burst, RateKey::Global, max_keys, clock.clone()) else {
        return;
    };
    let period = limit.period();
    let bound_factor: u128 = if max_keys > KEYS { 1 } else { 2 };
    let mut now = Duration::ZERO;
    let mut grants: [Vec<Duration>; KEYS] = Default::default();
    let keys: Vec<_> = (0..KEYS)
        .map(|k| limit.ip_key(std::net::IpAddr::from([10, 0, 0, k as u8])))
        .collect();
    for (i, &op) in ops.iter().take(MAX_OPS).enumerate() {
        if evict_every > 0 && i % evict_every == 0 {
            limit.evict_idle();
        }
        if op & 1 == 1 {
            let step = Duration::from_nanos(u64::from(op >> 1) * step_unit);
            now += step;
            clock.advance(step);
            continue;
        }
        let k = usize::from(op >> 1) % KEYS;
        match limit.check(keys[k]) {
            Verdict::Allowed {
                remaining,
                reset_secs,
            } => {
                assert!(remaining < limit.burst, "remaining {remaining}");
                let full = period.as_nanos() * u128::from(limit.burst);
                assert!(u128::from(reset_secs) <= full / 1_000_000_000 + 1);
                let g = &mut grants[k];
                g.push(now);
                let n = g.len();
                for (earlier, &t) in g.iter().enumerate() {
                    let granted = (n - earlier) as u128;
                    let span = (now - t).as_nanos();
                    let allowed = u128::from(limit.burst) + span / period.as_nanos().max(1);
                    assert!(
                        granted <= bound_factor * allowed,
                        "key {k}: {granted} grants in {span} ns (allowed {allowed})"
                    );
                }
            }
            Verdict::Limited { retry_after_secs } => {
                assert!(retry_after_secs >= 1);
                assert!(retry_after_secs <= ceil_secs(period).max(1));
            }
        }
    }
}
