//! Retries toward the app (SPEC §2 `retry`): which requests may be retried, the backoff
//! between attempts, and the budget that keeps a storm of failures from multiplying traffic.
//! Pure: time and randomness are passed in.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Retries always allowed per second, whatever the traffic (SPEC: "at least 3").
const MIN_PER_SECOND: f64 = 3.0;
/// The most retries saved up in calm times (ten seconds of the minimum).
const MAX_SAVED: f64 = MIN_PER_SECOND * 10.0;

/// What failed, in `retry_on`'s words; also the `reason` label of `rampart_retries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ConnectFailure,
    Timeout,
    Status(u16),
}

impl Reason {
    pub fn label(self) -> std::borrow::Cow<'static, str> {
        match self {
            Reason::ConnectFailure => "connect_failure".into(),
            Reason::Timeout => "timeout".into(),
            Reason::Status(code) => code.to_string().into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub on_connect_failure: bool,
    pub on_timeout: bool,
    pub on_statuses: Vec<u16>,
    pub budget_ratio: f64,
}

impl RetryPolicy {
    /// Whether `reason` is listed in `retry_on`.
    pub fn covers(&self, reason: Reason) -> bool {
        match reason {
            Reason::ConnectFailure => self.on_connect_failure,
            Reason::Timeout => self.on_timeout,
            Reason::Status(code) => self.on_statuses.contains(&code),
        }
    }

    /// The wait before retry number `retry` (1-based): full jitter over an exponential
    /// ceiling, `random01` in [0, 1).
    pub fn backoff(&self, retry: u32, random01: f64) -> Duration {
        let exp = 2u32.saturating_pow(retry.saturating_sub(1));
        let ceiling = self.backoff.saturating_mul(exp).min(self.max_backoff);
        ceiling.mul_f64(random01.clamp(0.0, 1.0))
    }
}

/// Methods that may be sent twice (RFC 9110 §9.2.2); others only with `Idempotency-Key`.
/// Retries' slice of a request: what its attempts so far were.
#[derive(Debug, Default)]
pub struct Attempts {
    /// Retries made so far (`retry.attempts` bounds them).
    pub retries: u32,
    /// Endpoints tried (bit i: endpoint i), so a retry prefers another.
    pub tried: u64,
    /// A response status this request is being retried for.
    pub retrying_status: Option<u16>,
    /// Whether the first attempt was counted in the retry budget.
    pub attempted: bool,
}

pub fn is_retryable(method: &http::Method, has_idempotency_key: bool) -> bool {
    use http::Method;
    has_idempotency_key
        || matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        )
}

/// A token bucket per upstream: every first attempt adds `budget_ratio` of a retry, time adds
/// three per second, each retry takes one. Retries thus add at most `budget_ratio` of the
/// load (plus the small floor) however many requests fail.
#[derive(Debug)]
pub struct RetryBudget {
    state: Mutex<(f64, Instant)>,
}

impl RetryBudget {
    pub fn new(now: Instant) -> RetryBudget {
        RetryBudget {
            state: Mutex::new((MAX_SAVED, now)),
        }
    }

    fn refill(tokens: &mut f64, last: &mut Instant, now: Instant) {
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * MIN_PER_SECOND).min(MAX_SAVED);
        *last = now.max(*last);
    }

    /// A first attempt was made.
    pub fn deposit(&self, ratio: f64, now: Instant) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = &mut *s;
        Self::refill(tokens, last, now);
        // Capped: a calm hour must not save up a budget that a storm could spend at once.
        *tokens = (*tokens + ratio).min(MAX_SAVED);
    }

    /// Takes one retry from the budget; false when it is spent.
    pub fn withdraw(&self, now: Instant) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = &mut *s;
        Self::refill(tokens, last, now);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
