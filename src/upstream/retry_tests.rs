use super::*;

fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        on_connect_failure: true,
        on_timeout: true,
        on_statuses: vec![502, 503, 504],
        budget_ratio: 0.2,
    }
}

#[test]
fn backoff_is_exponential_with_full_jitter_and_capped() {
    let p = policy();
    assert_eq!(
        p.backoff(1, 0.999_999),
        Duration::from_millis(100).mul_f64(0.999_999)
    );
    assert_eq!(p.backoff(2, 0.5), Duration::from_millis(100));
    assert_eq!(p.backoff(3, 0.5), Duration::from_millis(200));
    assert_eq!(
        p.backoff(10, 0.5),
        Duration::from_millis(500),
        "capped at max_backoff"
    );
    assert_eq!(p.backoff(40, 1.0), Duration::from_secs(1), "no overflow");
    assert_eq!(p.backoff(1, 0.0), Duration::ZERO);
}

#[test]
fn only_idempotent_methods_or_an_idempotency_key() {
    use http::Method;
    for m in [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ] {
        assert!(is_retryable(&m, false), "{m}");
    }
    assert!(!is_retryable(&Method::POST, false));
    assert!(!is_retryable(&Method::PATCH, false));
    assert!(is_retryable(&Method::POST, true));
}

#[test]
fn retry_on_lists_the_conditions() {
    let mut p = policy();
    assert!(p.covers(Reason::Status(503)));
    assert!(!p.covers(Reason::Status(500)));
    p.on_timeout = false;
    assert!(!p.covers(Reason::Timeout));
    assert_eq!(Reason::Status(502).label(), "502");
    assert_eq!(Reason::ConnectFailure.label(), "connect_failure");
}

#[test]
fn a_storm_of_failures_gets_at_most_the_ratio_plus_the_floor() {
    let t0 = Instant::now();
    let b = RetryBudget::new(t0);
    let mut retries = 0;
    // 10 s at 1000 requests/s, every one failing and asking for a retry.
    for i in 0..10_000u64 {
        let now = t0 + Duration::from_millis(i);
        b.deposit(0.2, now);
        if b.withdraw(now) {
            retries += 1;
        }
    }
    // 20 % of 10,000, plus 3/s for 10 s, plus the 30 saved at the start.
    assert!(retries <= 2000 + 30 + 30, "{retries}");
    assert!(retries >= 2000, "the ratio is available: {retries}");
}

#[test]
fn a_quiet_upstream_still_gets_three_retries_a_second() {
    let t0 = Instant::now();
    let b = RetryBudget::new(t0);
    // Spend what was saved.
    while b.withdraw(t0) {}
    assert!(!b.withdraw(t0));
    let t1 = t0 + Duration::from_secs(1);
    let granted = (0..10).filter(|_| b.withdraw(t1)).count();
    assert_eq!(granted, 3);
}

/// Calm times save up to ten seconds of the floor (30 retries), and no more.
#[test]
fn calm_times_save_thirty_retries() {
    let t0 = Instant::now();
    let b = RetryBudget::new(t0);
    let later = t0 + Duration::from_secs(60);
    let granted = (0..100).filter(|_| b.withdraw(later)).count();
    assert_eq!(granted, 30);
}
