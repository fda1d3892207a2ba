//! Fuzz target: the circuit breaker (`upstream::breaker`).

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
