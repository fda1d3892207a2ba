//! Endpoint health with hysteresis: an endpoint goes down after `unhealthy_after` failures
//! in a row and comes back after `healthy_after` successes in a row, so one lost probe or
//! one lucky one never flips it. Active probes and failed requests (passive) both report.
//! Endpoints start up. The request path reads one atomic.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub healthy_after: u32,
    pub unhealthy_after: u32,
}

#[derive(Debug, Default)]
struct Runs {
    successes: u32,
    failures: u32,
    last_check: Option<SystemTime>,
    last_error: Option<String>,
}

#[derive(Debug)]
pub struct EndpointHealth {
    up: AtomicBool,
    runs: Mutex<Runs>,
    pub schedule: Schedule,
}

impl Default for EndpointHealth {
    fn default() -> Self {
        EndpointHealth {
            up: AtomicBool::new(true),
            runs: Mutex::new(Runs::default()),
            schedule: Schedule::default(),
        }
    }
}

/// When a target is next probed, and whether a probe of it is running (one at a time: a
/// probe that hangs delays only its own target's next probe, up to its timeout).
#[derive(Debug, Default)]
pub struct Schedule {
    running: AtomicBool,
    next_due: Mutex<Option<Instant>>,
}

impl Schedule {
    /// True (and marked running) when a probe should start now.
    pub fn start_if_due(&self, now: Instant, interval: Duration) -> bool {
        let mut next = self.next_due.lock().unwrap_or_else(|e| e.into_inner());
        if next.is_some_and(|due| now < due) || self.running.swap(true, Ordering::AcqRel) {
            return false;
        }
        *next = Some(crate::time_math::after(now, interval));
        true
    }

    pub fn finished(&self) {
        self.running.store(false, Ordering::Release);
    }

    /// When the next probe is due (None: never started, due at once).
    pub fn next_due(&self) -> Option<Instant> {
        *self.next_due.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What `/health` shows of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub up: bool,
    pub last_check: Option<SystemTime>,
    pub last_error: Option<String>,
}

impl EndpointHealth {
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Records one outcome; Some(new state) when it changed. `probe`: an active check
    /// (sets `last_check`), else a request's failure seen in passing.
    pub fn record(
        &self,
        result: Result<(), String>,
        t: Thresholds,
        probe: Option<SystemTime>,
    ) -> Option<bool> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if probe.is_some() {
            runs.last_check = probe;
        }
        let up = self.is_up();
        let next = match result {
            Ok(()) => {
                runs.successes += 1;
                runs.failures = 0;
                runs.last_error = None;
                up || runs.successes >= t.healthy_after.max(1)
            }
            Err(e) => {
                runs.failures += 1;
                runs.successes = 0;
                runs.last_error = Some(e);
                up && runs.failures < t.unhealthy_after.max(1)
            }
        };
        if next != up {
            self.up.store(next, Ordering::Relaxed);
            runs.successes = 0;
            runs.failures = 0;
            return Some(next);
        }
        None
    }

    pub fn snapshot(&self) -> Snapshot {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        Snapshot {
            up: self.is_up(),
            last_check: runs.last_check,
            last_error: runs.last_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        healthy_after: 2,
        unhealthy_after: 3,
    };

    fn fail(h: &EndpointHealth) -> Option<bool> {
        h.record(Err("refused".into()), T, None)
    }
    fn pass(h: &EndpointHealth) -> Option<bool> {
        h.record(Ok(()), T, Some(SystemTime::now()))
    }

    #[test]
    fn starts_up_and_goes_down_after_the_threshold_in_a_row() {
        let h = EndpointHealth::default();
        assert!(h.is_up());
        assert_eq!(fail(&h), None);
        assert_eq!(fail(&h), None);
        assert_eq!(pass(&h), None, "a success breaks the run");
        assert_eq!(fail(&h), None);
        assert_eq!(fail(&h), None);
        assert_eq!(fail(&h), Some(false));
        assert!(!h.is_up());
        assert_eq!(h.snapshot().last_error.as_deref(), Some("refused"));
    }

    #[test]
    fn comes_back_only_after_healthy_after_successes_in_a_row() {
        let h = EndpointHealth::default();
        for _ in 0..3 {
            fail(&h);
        }
        assert_eq!(pass(&h), None);
        assert_eq!(fail(&h), None, "still down, run reset");
        assert_eq!(pass(&h), None);
        assert_eq!(pass(&h), Some(true));
        assert!(h.is_up());
        let s = h.snapshot();
        assert!(s.last_check.is_some());
        assert_eq!(s.last_error, None);
    }

    #[test]
    fn a_schedule_runs_one_probe_at_a_time_at_its_interval() {
        let s = Schedule::default();
        let t0 = Instant::now();
        let every = Duration::from_secs(5);
        assert!(s.start_if_due(t0, every));
        assert!(
            !s.start_if_due(t0 + Duration::from_secs(6), every),
            "still running"
        );
        s.finished();
        assert!(
            !s.start_if_due(t0 + Duration::from_secs(4), every),
            "not due"
        );
        assert!(s.start_if_due(t0 + Duration::from_secs(6), every));
    }

    #[test]
    fn alternating_results_never_flap() {
        let h = EndpointHealth::default();
        for _ in 0..100 {
            assert_eq!(fail(&h), None);
            assert_eq!(pass(&h), None);
        }
        assert!(h.is_up());
    }
}
