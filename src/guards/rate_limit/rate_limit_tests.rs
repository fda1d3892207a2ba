//! Unit tests of the keyed limiter.
use super::*;
use crate::config::units::parse_rate;
use governor::clock::FakeRelativeClock;
use std::sync::Arc;

fn limit(
    rate: &str,
    burst: Option<u32>,
    clock: &FakeRelativeClock,
) -> RouteLimit<FakeRelativeClock> {
    RouteLimit::new(
        parse_rate(rate).unwrap(),
        burst,
        RateKey::Global,
        1000,
        clock.clone(),
    )
    .unwrap()
}

fn global(l: &RouteLimit<FakeRelativeClock>) -> LimitKey {
    l.key_for("127.0.0.1".parse().unwrap(), |_| None, None)
}

fn allowed(v: Verdict) -> bool {
    matches!(v, Verdict::Allowed { .. })
}

#[test]
fn at_most_burst_plus_rate_times_window() {
    // 60/minute, burst 10: over any window T, at most 10 + floor(T / 1s).
    for window_secs in [0u64, 1, 5, 30, 59, 120] {
        let clock = FakeRelativeClock::default();
        let l = limit("60/minute", Some(10), &clock);
        let mut granted = 0;
        // Hammer it every 100 ms for the whole window.
        for step in 0..=(window_secs * 10) {
            if step > 0 {
                clock.advance(Duration::from_millis(100));
            }
            while allowed(l.check(global(&l))) {
                granted += 1;
            }
        }
        assert_eq!(granted, 10 + window_secs, "window {window_secs}s");
    }
}

#[test]
fn a_client_that_paces_itself_gets_exactly_its_rate() {
    let clock = FakeRelativeClock::default();
    let l = limit("2/second", Some(1), &clock);
    for _ in 0..100 {
        assert!(allowed(l.check(global(&l))));
        clock.advance(Duration::from_millis(500));
    }
}

#[test]
fn verdicts_carry_remaining_reset_and_retry_after() {
    let clock = FakeRelativeClock::default();
    let l = limit("60/minute", Some(3), &clock);
    assert_eq!(
        l.check(global(&l)),
        Verdict::Allowed {
            remaining: 2,
            reset_secs: 1
        }
    );
    assert_eq!(
        l.check(global(&l)),
        Verdict::Allowed {
            remaining: 1,
            reset_secs: 2
        }
    );
    assert_eq!(
        l.check(global(&l)),
        Verdict::Allowed {
            remaining: 0,
            reset_secs: 3
        }
    );
    assert_eq!(
        l.check(global(&l)),
        Verdict::Limited {
            retry_after_secs: 1
        }
    );
    clock.advance(Duration::from_millis(400));
    assert_eq!(
        l.check(global(&l)),
        Verdict::Limited {
            retry_after_secs: 1
        },
        "0.6 s rounds up"
    );
    assert_eq!(l.policy_header("hooks"), "\"hooks\";q=60;w=60");
}

#[test]
fn keys_are_independent_and_missing_values_share_a_bucket() {
    let clock = FakeRelativeClock::default();
    let ip = RouteLimit::new(
        parse_rate("1/minute").unwrap(),
        None,
        RateKey::ClientIp,
        1000,
        clock.clone(),
    )
    .unwrap();
    let a: IpAddr = "192.0.2.1".parse().unwrap();
    let b: IpAddr = "192.0.2.2".parse().unwrap();
    assert!(allowed(ip.check(ip.key_for(a, |_| None, None))));
    assert!(!allowed(ip.check(ip.key_for(a, |_| None, None))));
    assert!(allowed(ip.check(ip.key_for(b, |_| None, None))));
    // One /64 is one client.
    let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
    let v6b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
    assert_eq!(
        ip.key_for(v6a, |_| None, None),
        ip.key_for(v6b, |_| None, None)
    );

    let header = RouteLimit::new(
        parse_rate("1/minute").unwrap(),
        None,
        RateKey::Header("X-API-Key".into()),
        1000,
        clock.clone(),
    )
    .unwrap();
    assert_eq!(
        header.key_for(a, |_| None, None),
        header.key_for(b, |_| None, None)
    );
    assert_ne!(
        header.key_for(a, |_| Some(b"k1"), None),
        header.key_for(a, |_| Some(b"k2"), None)
    );
    assert!(allowed(header.check(header.key_for(a, |_| None, None))));
    assert!(
        !allowed(header.check(header.key_for(b, |_| None, None))),
        "no key is not unlimited"
    );
    let query = RouteLimit::new(
        parse_rate("1/minute").unwrap(),
        None,
        RateKey::Query("tenant".into()),
        1000,
        clock,
    )
    .unwrap();
    let missing = query.key_for(a, |_| None, None);
    assert_eq!(query.key_for(a, |_| None, Some("tenant=")), missing);
    assert_ne!(query.key_for(a, |_| None, Some("x=1&tenant=acme")), missing);
    assert_eq!(
        query.key_for(a, |_| None, Some("x=1&tenant=acme")),
        query.key_for(b, |_| None, Some("tenant=acme"))
    );
}

#[test]
fn the_key_table_is_bounded_and_idle_keys_are_evicted() {
    let clock = FakeRelativeClock::default();
    let l = RouteLimit::new(
        parse_rate("10/second").unwrap(),
        None,
        RateKey::ClientIp,
        100,
        clock.clone(),
    )
    .unwrap();
    for i in 0..1000u32 {
        l.check(l.ip_key(IpAddr::from(i.to_be_bytes())));
    }
    assert!(l.tracked_keys() <= 101, "{} keys", l.tracked_keys());
    clock.advance(Duration::from_secs(5));
    l.evict_idle();
    assert_eq!(l.tracked_keys(), 0);
}

#[test]
fn grants_exactly_the_capacity_under_contention() {
    let clock = FakeRelativeClock::default();
    let l = Arc::new(limit("1/hour", Some(500), &clock));
    let granted = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..200 {
                    if allowed(l.check(global(&l))) {
                        granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(granted.into_inner(), 500);
}

#[test]
fn a_burst_that_would_outlast_the_clock_is_refused_not_wrapped() {
    // Found by the rate-limit fuzzer: governor multiplies period by burst in u64
    // nanoseconds; 1/day with a burst of 300,000 is 8.2 million years.
    let clock = FakeRelativeClock::default();
    let rate = parse_rate("1/day").unwrap();
    assert!(RouteLimit::new(rate, Some(300_000), RateKey::Global, 10, clock.clone()).is_none());
    assert!(RouteLimit::new(rate, Some(365), RateKey::Global, 10, clock).is_some());
}

/// A reload keeps a limit's buckets only when it counts exactly the same way: each setting
/// that differs makes it a new limit.
#[test]
fn same_settings_means_every_setting() {
    let clock = FakeRelativeClock::default();
    let make = |rate: &str, burst: Option<u32>, key: RateKey, max_keys: usize| {
        RouteLimit::new(
            parse_rate(rate).unwrap(),
            burst,
            key,
            max_keys,
            clock.clone(),
        )
        .unwrap()
    };
    let base = make("10/minute", Some(5), RateKey::Global, 1000);
    assert!(base.same_settings(&make("10/minute", Some(5), RateKey::Global, 1000)));
    let differing = [
        make("10/minute", Some(5), RateKey::ClientIp, 1000),
        make("11/minute", Some(5), RateKey::Global, 1000),
        make("10/hour", Some(5), RateKey::Global, 1000),
        make("10/minute", Some(6), RateKey::Global, 1000),
        make("10/minute", Some(5), RateKey::Global, 1001),
    ];
    for other in &differing {
        assert!(!base.same_settings(other), "{:?}", other.key);
    }
    let mut leased = make("10/minute", Some(5), RateKey::Global, 1000);
    leased.sharing = Sharing::Leased;
    assert!(!base.same_settings(&leased));
}

#[test]
fn what_a_limit_tells_about_itself() {
    let clock = FakeRelativeClock::default();
    let l = RouteLimit::new(
        parse_rate("30/minute").unwrap(),
        None,
        RateKey::Header("x-api-key".into()),
        10,
        clock.clone(),
    )
    .unwrap();
    assert_eq!(l.key_kind(), &RateKey::Header("x-api-key".into()));
    assert_eq!(l.period(), Duration::from_secs(2));
    assert_eq!(l.policy_header("api"), "\"api\";q=30;w=60");
    // The same limit on another clock: same settings, empty buckets.
    let replayed = l.with_clock(clock.clone()).expect("same limit");
    assert!(l.same_settings(&replayed));
    assert_eq!(limit_name("api", 0), "api");
    assert_eq!(limit_name("api", 1), "api.2");
}

/// IPv6 clients are counted by their /64; IPv4 ones by their address.
#[test]
fn ip_keys() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        ip_key(ip("2001:db8:1:2::1")),
        ip_key(ip("2001:db8:1:2:ffff::9"))
    );
    assert_ne!(ip_key(ip("2001:db8:1:2::1")), ip_key(ip("2001:db8:1:3::1")));
    assert_ne!(ip_key(ip("192.0.2.1")), ip_key(ip("192.0.2.2")));
    assert_eq!(ip_key(ip("::ffff:192.0.2.1")), ip_key(ip("192.0.2.1")));
}
