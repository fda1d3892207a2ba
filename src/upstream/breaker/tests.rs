use super::*;

fn config() -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: 3,
        failure_ratio: 0.5,
        min_requests: 10,
        window: Duration::from_secs(10),
        open_for: Duration::from_secs(30),
        half_open_requests: 2,
    }
}

fn call(b: &Breaker, failed: bool, now: Instant) -> Option<State> {
    let permit = b.acquire(now).0.expect("admitted");
    b.record(permit, failed, now)
}

#[test]
fn consecutive_failures_open_it_and_a_success_resets_the_run() {
    let t0 = Instant::now();
    let b = Breaker::new(config(), t0);
    assert_eq!(call(&b, true, t0), None);
    assert_eq!(call(&b, true, t0), None);
    assert_eq!(call(&b, false, t0), None);
    assert_eq!(call(&b, true, t0), None);
    assert_eq!(call(&b, true, t0), None);
    assert_eq!(call(&b, true, t0), Some(State::Open));
    assert_eq!(b.state(t0).0, State::Open);
}

#[test]
fn open_refuses_with_the_time_until_half_open_then_lets_trials_in() {
    let t0 = Instant::now();
    let b = Breaker::new(config(), t0);
    for _ in 0..3 {
        call(&b, true, t0);
    }
    let (r, _) = b.acquire(t0 + Duration::from_secs(10));
    assert_eq!(r.unwrap_err(), Duration::from_secs(20));
    let (r, moved) = b.acquire(t0 + Duration::from_secs(30));
    assert!(r.is_ok());
    assert_eq!(moved, Some(State::HalfOpen));
}

#[test]
fn half_open_admits_exactly_the_trials_and_closes_when_all_pass() {
    let t0 = Instant::now();
    let b = Breaker::new(config(), t0);
    for _ in 0..3 {
        call(&b, true, t0);
    }
    let t1 = t0 + Duration::from_secs(30);
    let p1 = b.acquire(t1).0.unwrap();
    let p2 = b.acquire(t1).0.unwrap();
    assert!(b.acquire(t1).0.is_err(), "only two trials");
    assert_eq!(b.record(p1, false, t1), None);
    assert_eq!(b.record(p2, false, t1), Some(State::Closed));
    assert_eq!(b.state(t1).0, State::Closed);
}

#[test]
fn one_failed_trial_reopens_for_a_full_period() {
    let t0 = Instant::now();
    let b = Breaker::new(config(), t0);
    for _ in 0..3 {
        call(&b, true, t0);
    }
    let t1 = t0 + Duration::from_secs(30);
    let p1 = b.acquire(t1).0.unwrap();
    let p2 = b.acquire(t1).0.unwrap();
    assert_eq!(b.record(p1, true, t1), Some(State::Open));
    // The other trial's late success belongs to a state that is gone.
    assert_eq!(b.record(p2, false, t1), None);
    assert_eq!(
        b.acquire(t1 + Duration::from_secs(29)).0.unwrap_err(),
        Duration::from_secs(1)
    );
}

#[test]
fn an_abandoned_trial_frees_its_place() {
    let t0 = Instant::now();
    let b = Breaker::new(
        BreakerConfig {
            half_open_requests: 1,
            ..config()
        },
        t0,
    );
    for _ in 0..3 {
        call(&b, true, t0);
    }
    let t1 = t0 + Duration::from_secs(30);
    let p = b.acquire(t1).0.unwrap();
    assert!(b.acquire(t1).0.is_err());
    b.release(p);
    let p = b.acquire(t1).0.unwrap();
    assert_eq!(b.record(p, false, t1), Some(State::Closed));
}

#[test]
fn the_failure_ratio_needs_min_requests_within_the_window() {
    let t0 = Instant::now();
    let b = Breaker::new(
        BreakerConfig {
            consecutive_failures: 100,
            ..config()
        },
        t0,
    );
    // 9 calls, 5 failed (never 3 in a row... here alternating): below min_requests.
    for i in 0..9 {
        assert_eq!(call(&b, i % 2 == 0, t0), None);
    }
    // The 10th call, a failure: 6 of 10 failed -> open.
    assert_eq!(call(&b, true, t0), Some(State::Open));
}

#[test]
fn outcomes_older_than_the_window_no_longer_count() {
    let t0 = Instant::now();
    let b = Breaker::new(
        BreakerConfig {
            consecutive_failures: 100,
            ..config()
        },
        t0,
    );
    for i in 0..9 {
        call(&b, i % 2 == 0, t0);
    }
    // Ten seconds later the nine are out of the window: one more failure is 1 of 1 < min.
    let later = t0 + Duration::from_secs(10);
    assert_eq!(call(&b, true, later), None);
    // Just inside the window they would have counted.
    let b = Breaker::new(
        BreakerConfig {
            consecutive_failures: 100,
            ..config()
        },
        t0,
    );
    for i in 0..9 {
        call(&b, i % 2 == 0, t0);
    }
    assert_eq!(
        call(&b, true, t0 + Duration::from_millis(9_999)),
        Some(State::Open)
    );
}

#[test]
fn a_ratio_below_the_threshold_stays_closed() {
    let t0 = Instant::now();
    let b = Breaker::new(
        BreakerConfig {
            consecutive_failures: 100,
            ..config()
        },
        t0,
    );
    for i in 0..100 {
        // 1 in 3 failed: 33 % < 50 %.
        assert_eq!(call(&b, i % 3 == 0, t0 + Duration::from_millis(i)), None);
    }
}

#[test]
fn exactly_n_trials_under_1000_concurrent_callers() {
    let t0 = Instant::now();
    let b = Arc::new(Breaker::new(
        BreakerConfig {
            half_open_requests: 3,
            ..config()
        },
        t0,
    ));
    for _ in 0..3 {
        call(&b, true, t0);
    }
    let t1 = t0 + Duration::from_secs(31);
    let handles: Vec<_> = (0..1000)
        .map(|_| {
            let b = Arc::clone(&b);
            std::thread::spawn(move || b.acquire(t1).0.is_ok())
        })
        .collect();
    let admitted = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(admitted, 3);
}

#[test]
fn stale_outcomes_from_before_a_transition_are_ignored() {
    let t0 = Instant::now();
    let b = Breaker::new(config(), t0);
    let early = b.acquire(t0).0.unwrap();
    for _ in 0..3 {
        call(&b, true, t0);
    }
    // Admitted while closed, finishing while open: no effect.
    assert_eq!(b.record(early, true, t0), None);
    assert_eq!(b.state(t0).0, State::Open);
}

#[test]
fn a_call_admitted_while_closed_is_no_trial_when_it_ends_half_open() {
    let t0 = Instant::now();
    let b = Breaker::new(config(), t0);
    let early = b.acquire(t0).0.unwrap();
    for _ in 0..3 {
        call(&b, true, t0);
    }
    let later = t0 + Duration::from_secs(31);
    assert_eq!(b.state(later).0, State::HalfOpen);
    // Neither its failure reopens the breaker nor would its success close it.
    assert_eq!(b.record(early, true, later), None);
    assert_eq!(b.state(later).0, State::HalfOpen);
    assert_eq!(call(&b, false, later), None);
    assert_eq!(call(&b, false, later), Some(State::Closed));
}

#[test]
fn only_a_current_trial_gives_its_place_back() {
    let t0 = Instant::now();
    let b = Breaker::new(config(), t0);
    let closed_era = b.acquire(t0).0.unwrap();
    for _ in 0..3 {
        call(&b, true, t0);
    }
    let t1 = t0 + Duration::from_secs(31);
    let failing = b.acquire(t1).0.unwrap();
    let stale_trial = b.acquire(t1).0.unwrap();
    assert_eq!(b.record(failing, true, t1), Some(State::Open));
    let t2 = t1 + Duration::from_secs(31);
    let trials = [b.acquire(t2).0.unwrap(), b.acquire(t2).0.unwrap()];
    assert!(b.acquire(t2).0.is_err(), "both trials are out");
    // Neither an earlier round's trial nor a call from before the breaker opened frees a
    // place in this round.
    b.release(stale_trial);
    b.release(closed_era);
    assert!(
        b.acquire(t2).0.is_err(),
        "a place was freed by a permit of another round"
    );
    let [first, _] = trials;
    b.release(first);
    assert!(
        b.acquire(t2).0.is_ok(),
        "the current trial's place is free again"
    );
}

#[test]
fn a_call_from_before_the_breaker_opened_does_not_count_once_it_closed_again() {
    let t0 = Instant::now();
    let b = Breaker::new(config(), t0);
    let before_open = b.acquire(t0).0.unwrap();
    for _ in 0..3 {
        call(&b, true, t0);
    }
    let t1 = t0 + Duration::from_secs(31);
    assert_eq!(call(&b, false, t1), None);
    assert_eq!(call(&b, false, t1), Some(State::Closed));
    assert_eq!(call(&b, true, t1), None);
    assert_eq!(call(&b, true, t1), None);
    // Two failures in a row since closing: the old call's failure would be the third.
    assert_eq!(b.record(before_open, true, t1), None);
    assert_eq!(b.state(t1).0, State::Closed);
}

#[test]
fn outcomes_leave_the_window_a_slice_at_a_time() {
    let t0 = Instant::now();
    let b = Breaker::new(config(), t0);
    for _ in 0..5 {
        call(&b, false, t0);
    }
    let t8 = t0 + Duration::from_secs(8);
    for failed in [true, false].repeat(5) {
        assert_eq!(call(&b, failed, t8), None, "5 of 15 failed: closed");
    }
    // At 11 s the five successes of t0 have left; the ten of t8 are still in: with one
    // more failure, 6 of 11 failed.
    let t11 = t0 + Duration::from_secs(11);
    assert_eq!(call(&b, true, t11), Some(State::Open));
}

#[test]
fn outcomes_within_a_tenth_of_the_window_share_a_slice() {
    let t0 = Instant::now();
    let b = Breaker::new(config(), t0);
    let slice = config().window / 10;
    for at in [
        Duration::ZERO,
        Duration::ZERO,
        slice / 2,
        slice,
        slice + slice / 2,
    ] {
        call(&b, false, t0 + at);
    }
    let slices: Vec<u32> = b.lock().slices.iter().map(|s| s.1).collect();
    assert_eq!(slices, [3, 2], "the outcomes per slice");
}

#[test]
fn retry_after_rounds_the_wait_up_to_whole_seconds() {
    use super::feature::retry_after_secs;
    assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
    assert_eq!(retry_after_secs(Duration::from_millis(29_001)), 30);
    assert_eq!(retry_after_secs(Duration::from_millis(1_500)), 2);
    assert_eq!(retry_after_secs(Duration::from_millis(200)), 1);
    assert_eq!(retry_after_secs(Duration::ZERO), 1);
}

#[test]
fn a_call_dropped_without_an_outcome_frees_its_trial() {
    let t0 = Instant::now();
    let b = Arc::new(Breaker::new(config(), t0));
    for _ in 0..3 {
        call(&b, true, t0);
    }
    let t1 = t0 + Duration::from_secs(31);
    let calls: Vec<Call> = (0..2)
        .map(|_| Call::new(Arc::clone(&b), b.acquire(t1).0.unwrap()))
        .collect();
    assert!(b.acquire(t1).0.is_err(), "both trials are out");
    drop(calls);
    assert!(
        b.acquire(t1).0.is_ok(),
        "the client left: its trial goes to the next caller"
    );
}
