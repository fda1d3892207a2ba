//! The circuit breaker of one upstream (SPEC §2 `circuit_breaker`): a pure state machine,
//! time passed in; `feature` is what the proxy asks of it at each phase.
//!
//! closed -> open after `consecutive_failures` in a row, or when `failure_ratio` of the calls
//! in the rolling `window` failed and at least `min_requests` were seen; open for `open_for`;
//! then half-open lets exactly `half_open_requests` trial calls through: one failure reopens,
//! all of them succeeding closes. A call admitted before a state change reports into a state
//! it no longer belongs to, so each permit carries the epoch it was issued in and stale
//! outcomes are ignored.

pub mod feature;

use crate::time_math::after;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Slices of the rolling window: old outcomes leave it a slice at a time.
const SLICES: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    pub consecutive_failures: u32,
    pub failure_ratio: f64,
    pub min_requests: u32,
    pub window: Duration,
    pub open_for: Duration,
    pub half_open_requests: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    /// The `rampart_circuit_breaker_state` value: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> i64 {
        match self {
            State::Closed => 0,
            State::HalfOpen => 1,
            State::Open => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::HalfOpen => "half_open",
            State::Open => "open",
        }
    }
}

/// The right to make one call; report its outcome with `Breaker::record`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    epoch: u64,
    trial: bool,
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// Bumped when the breaker opens and when it closes: a permit of an earlier epoch is
    /// stale (see `advance` for why entering half-open needs no bump).
    epoch: u64,
    opened_at: Instant,
    consecutive: u32,
    /// (slice start, calls, failures), oldest first.
    slices: Vec<(Instant, u32, u32)>,
    trials_issued: u32,
    trials_passed: u32,
}

#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(config: BreakerConfig, now: Instant) -> Breaker {
        Breaker {
            config,
            inner: Mutex::new(Inner {
                state: State::Closed,
                epoch: 0,
                opened_at: now,
                consecutive: 0,
                slices: Vec::with_capacity(SLICES as usize + 1),
                trials_issued: 0,
                trials_passed: 0,
            }),
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic cannot happen while the lock is held (no user code runs under it); if it
        // ever did, the counters are still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state at `now` as callers would find it, without changing anything (for
    /// `/health`, `/readyz` and metrics).
    pub fn peek(&self, now: Instant) -> State {
        let inner = self.lock();
        match inner.state {
            State::Open if now >= after(inner.opened_at, self.config.open_for) => State::HalfOpen,
            state => state,
        }
    }

    /// The state at `now` (open turns half-open once `open_for` has passed), and the
    /// transition that caused, if any.
    pub fn state(&self, now: Instant) -> (State, Option<State>) {
        let mut inner = self.lock();
        let moved = self.advance(&mut inner, now);
        (inner.state, moved)
    }

    fn advance(&self, inner: &mut Inner, now: Instant) -> Option<State> {
        if inner.state == State::Open && now >= after(inner.opened_at, self.config.open_for) {
            // The epoch stays: opening already retired every earlier permit, and an open
            // breaker issues none, so no permit of this epoch is out.
            inner.state = State::HalfOpen;
            inner.trials_issued = 0;
            inner.trials_passed = 0;
            return Some(State::HalfOpen);
        }
        None
    }

    /// Asks to make a call. Err: refused, with the time until the breaker lets trials in.
    /// The second value is a transition this caused (open -> half-open), for metrics.
    pub fn acquire(&self, now: Instant) -> (Result<Permit, Duration>, Option<State>) {
        let mut inner = self.lock();
        let moved = self.advance(&mut inner, now);
        let result = match inner.state {
            State::Closed => Ok(Permit {
                epoch: inner.epoch,
                trial: false,
            }),
            State::Open => {
                Err(after(inner.opened_at, self.config.open_for).saturating_duration_since(now))
            }
            State::HalfOpen if inner.trials_issued < self.config.half_open_requests => {
                inner.trials_issued += 1;
                Ok(Permit {
                    epoch: inner.epoch,
                    trial: true,
                })
            }
            // Every trial is out: the others wait for their verdict.
            State::HalfOpen => Err(Duration::from_secs(1)),
        };
        (result, moved)
    }

    /// A call ended without an outcome (client gone, refused by Rampart itself): a trial
    /// slot it held goes to the next caller.
    pub fn release(&self, permit: Permit) {
        let mut inner = self.lock();
        if permit.trial && permit.epoch == inner.epoch && inner.state == State::HalfOpen {
            inner.trials_issued = inner.trials_issued.saturating_sub(1);
        }
    }

    /// Reports a call's outcome; returns the state entered, if this changed it.
    pub fn record(&self, permit: Permit, failed: bool, now: Instant) -> Option<State> {
        let mut inner = self.lock();
        if permit.epoch != inner.epoch {
            return None;
        }
        match inner.state {
            State::Closed => {
                self.count(&mut inner, failed, now);
                let tripped = failed
                    && (inner.consecutive >= self.config.consecutive_failures
                        || self.ratio_exceeded(&inner));
                tripped.then(|| Self::open(&mut inner, now))
            }
            State::HalfOpen if failed => Some(Self::open(&mut inner, now)),
            State::HalfOpen => {
                inner.trials_passed += 1;
                (inner.trials_passed >= self.config.half_open_requests).then(|| {
                    inner.state = State::Closed;
                    inner.epoch += 1;
                    inner.consecutive = 0;
                    inner.slices.clear();
                    State::Closed
                })
            }
            State::Open => None,
        }
    }

    fn open(inner: &mut Inner, now: Instant) -> State {
        inner.state = State::Open;
        inner.epoch += 1;
        inner.opened_at = now;
        inner.consecutive = 0;
        inner.slices.clear();
        State::Open
    }

    fn count(&self, inner: &mut Inner, failed: bool, now: Instant) {
        inner.consecutive = if failed { inner.consecutive + 1 } else { 0 };
        let slice = (self.config.window / SLICES).max(Duration::from_millis(1));
        // Outcomes older than the window leave it.
        inner
            .slices
            .retain(|(start, _, _)| now.saturating_duration_since(*start) < self.config.window);
        match inner.slices.last_mut() {
            Some((start, calls, failures)) if now.saturating_duration_since(*start) < slice => {
                *calls += 1;
                *failures += u32::from(failed);
            }
            _ => inner.slices.push((now, 1, u32::from(failed))),
        }
    }

    fn ratio_exceeded(&self, inner: &Inner) -> bool {
        let (calls, failures) = inner
            .slices
            .iter()
            .fold((0u32, 0u32), |(c, f), s| (c + s.1, f + s.2));
        calls >= self.config.min_requests.max(1)
            && f64::from(failures) >= self.config.failure_ratio * f64::from(calls)
    }
}

/// One admitted call of a request; a call dropped without `finish` (the client left, Rampart
/// refused the request itself) gives a trial slot back instead of leaving half-open stuck.
#[derive(Debug)]
pub struct Call {
    breaker: Arc<Breaker>,
    permit: Option<Permit>,
}

impl Call {
    pub fn new(breaker: Arc<Breaker>, permit: Permit) -> Call {
        Call {
            breaker,
            permit: Some(permit),
        }
    }

    /// Reports the outcome; returns the state entered, if this changed it.
    pub fn finish(mut self, failed: bool, now: Instant) -> Option<State> {
        let permit = self.permit.take()?;
        self.breaker.record(permit, failed, now)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.breaker.release(permit);
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
