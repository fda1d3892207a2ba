use super::*;

const MS: Duration = Duration::from_millis(1);

/// 100/second, burst 100: one request every 10 ms, leases of up to 10.
fn terms() -> Terms {
    Terms {
        period: 10 * MS,
        burst: 100,
        window: Duration::from_secs(1),
    }
}

fn ask(l: &Leases, now: Duration) -> (u32, u32) {
    match l.take("k", terms(), now) {
        Step::Ask { want, give_back } => (want, give_back),
        other => panic!("expected an ask, got {other:?}"),
    }
}

#[test]
fn a_busy_key_leases_more_each_time_up_to_a_tenth_of_its_burst() {
    let l = Leases::new(10);
    let mut now = Duration::ZERO;
    let mut sizes = Vec::new();
    for _ in 0..6 {
        let (want, give_back) = ask(&l, now);
        assert_eq!(give_back, 0);
        sizes.push(want);
        let grant = Grant::Some {
            granted: want,
            left: 50,
        };
        assert!(matches!(
            l.answered("k", terms(), now, grant),
            Verdict::Allowed { .. }
        ));
        // The rest of the lease is spent locally, without asking.
        for _ in 1..want {
            now += MS;
            assert!(matches!(l.take("k", terms(), now), Step::Spent(_)));
        }
        now += MS;
    }
    assert_eq!(sizes, [1, 2, 4, 8, 10, 10]);
    assert_eq!(lease_max(100), 10);
    assert_eq!(lease_max(5), 1);
}

#[test]
fn an_expired_lease_goes_back_with_the_next_ask_and_the_next_lease_is_smaller() {
    let l = Leases::new(10);
    for _ in 0..3 {
        let (want, _) = ask(&l, Duration::ZERO);
        l.answered(
            "k",
            terms(),
            Duration::ZERO,
            Grant::Some {
                granted: want,
                left: 50,
            },
        );
        while matches!(l.take("k", terms(), Duration::ZERO), Step::Spent(_)) {}
    }
    // A lease of 8 now; one request spent, then the key goes quiet past the term (1 s).
    let (want, _) = ask(&l, Duration::ZERO);
    assert_eq!(want, 8);
    l.answered(
        "k",
        terms(),
        Duration::ZERO,
        Grant::Some {
            granted: 8,
            left: 50,
        },
    );
    let later = Duration::from_secs(2);
    // The grant raised the next size to 10; the unspent 7 halve it.
    assert_eq!(ask(&l, later), (5, 7));
}

#[test]
fn a_refused_key_is_not_asked_again_before_its_next_lease_could_be_filled() {
    let l = Leases::new(10);
    let (want, _) = ask(&l, Duration::ZERO);
    l.answered(
        "k",
        terms(),
        Duration::ZERO,
        Grant::Some {
            granted: want,
            left: 50,
        },
    );
    // Lease size is 2 now; the store is empty for 30 ms.
    let (want, _) = ask(&l, MS);
    assert_eq!(want, 2);
    let refused = l.answered("k", terms(), MS, Grant::None { wait: 30 * MS });
    assert_eq!(
        refused,
        Verdict::Limited {
            retry_after_secs: 1
        }
    );
    // 30 ms for one request, 10 more for the second of a lease of two.
    assert!(matches!(l.take("k", terms(), 40 * MS), Step::Refused(_)));
    assert!(matches!(
        l.take("k", terms(), 41 * MS),
        Step::Ask { want: 2, .. }
    ));
}

#[test]
fn a_refund_puts_the_request_back_in_the_lease() {
    let l = Leases::new(10);
    let (want, _) = ask(&l, Duration::ZERO);
    let g = Grant::Some {
        granted: want,
        left: 9,
    };
    l.answered("k", terms(), Duration::ZERO, g);
    l.refund("k");
    assert_eq!(
        l.take("k", terms(), MS),
        Step::Spent(Verdict::Allowed {
            remaining: 9,
            reset_secs: 1
        })
    );
    assert!(matches!(l.take("k", terms(), MS), Step::Ask { .. }));
}

#[test]
fn a_full_table_decides_new_keys_one_request_at_a_time_and_eviction_frees_it() {
    let l = Leases::new(1);
    let g = Grant::Some {
        granted: 1,
        left: 5,
    };
    l.answered("a", terms(), Duration::ZERO, g);
    assert_eq!(l.len(), 1);
    // "b" does not fit: admitted from this grant alone, nothing held for it.
    let g = Grant::Some {
        granted: 1,
        left: 5,
    };
    assert!(matches!(
        l.answered("b", terms(), Duration::ZERO, g),
        Verdict::Allowed { remaining: 5, .. }
    ));
    assert_eq!(l.len(), 1);
    assert!(matches!(
        l.take("b", terms(), MS),
        Step::Ask {
            want: 1,
            give_back: 0
        }
    ));
    // Past the term "a" is forgotten.
    l.evict_idle(Duration::from_secs(2));
    assert!(l.is_empty());
}

#[test]
fn two_grants_in_flight_never_hold_more_than_one_lease() {
    let l = Leases::new(10);
    for _ in 0..2 {
        l.answered(
            "k",
            terms(),
            Duration::ZERO,
            Grant::Some {
                granted: 10,
                left: 50,
            },
        );
    }
    let mut spent = 0;
    let next = loop {
        match l.take("k", terms(), MS) {
            Step::Spent(_) => spent += 1,
            other => break other,
        }
    };
    assert!(spent <= lease_max(100), "{spent}");
    // What was not held goes back with the next ask: 2 x 10 granted, each admitting its own
    // request; 18 to hold, 10 held (and spent), 8 owed.
    assert!(matches!(next, Step::Ask { give_back: 8, .. }), "{next:?}");
}

#[test]
fn a_grant_that_drains_the_store_holds_the_next_ask_until_a_lease_could_fill() {
    let l = Leases::new(10);
    let (want, _) = ask(&l, Duration::ZERO);
    let drained = Grant::Some {
        granted: want,
        left: 0,
    };
    assert!(matches!(
        l.answered("k", terms(), Duration::ZERO, drained),
        Verdict::Allowed { remaining: 0, .. }
    ));
    // The next lease is 2: refused locally for 2 x 10 ms, then asked for.
    assert_eq!(
        l.take("k", terms(), 19 * MS),
        Step::Refused(Verdict::Limited {
            retry_after_secs: 1
        })
    );
    assert!(matches!(
        l.take("k", terms(), 20 * MS),
        Step::Ask { want: 2, .. }
    ));
}

/// A lease's term ends exactly at its end: a request then asks, and a grant arriving then is
/// not "spent within its term" (the next lease does not grow).
#[test]
fn a_term_ends_exactly_at_its_end() {
    let l = Leases::new(10);
    let term = terms().term();
    let some = |granted| Grant::Some { granted, left: 50 };
    assert_eq!(ask(&l, Duration::ZERO).0, 1);
    l.answered("k", terms(), Duration::ZERO, some(1));
    assert!(!l.is_empty());
    // At the end of the term: asked for, not spent from the old lease.
    assert_eq!(ask(&l, term).0, 2);
    l.answered("k", terms(), term, some(2));
    assert!(matches!(l.take("k", terms(), term), Step::Spent(_)));
    // The lease granted at the very end of the last one's term did not double.
    assert_eq!(ask(&l, term + MS).0, 2);
}

/// A key is kept while its lease runs or its refusal holds, and forgotten at their end.
#[test]
fn eviction_keeps_running_leases_and_pending_refusals() {
    let term = terms().term();
    let leased = Leases::new(10);
    leased.answered(
        "k",
        terms(),
        Duration::ZERO,
        Grant::Some {
            granted: 1,
            left: 5,
        },
    );
    leased.evict_idle(term - MS);
    assert_eq!(leased.len(), 1);
    leased.evict_idle(term);
    assert!(leased.is_empty());

    let refused = Leases::new(10);
    let wait = 50 * MS;
    refused.answered("k", terms(), Duration::ZERO, Grant::None { wait });
    assert!(matches!(
        refused.take("k", terms(), Duration::ZERO),
        Step::Refused(Verdict::Limited { .. })
    ));
    refused.evict_idle(wait - MS);
    assert_eq!(refused.len(), 1);
    refused.evict_idle(wait);
    assert!(refused.is_empty());
}

#[test]
fn tokens_left_when_the_term_ends_are_not_spent() {
    let l = Leases::new(10);
    let term = terms().term();
    ask(&l, Duration::ZERO);
    let grant = Grant::Some {
        granted: 3,
        left: 50,
    };
    l.answered("k", terms(), Duration::ZERO, grant);
    assert!(matches!(l.take("k", terms(), term - MS), Step::Spent(_)));
    assert!(matches!(l.take("k", terms(), term), Step::Ask { .. }));
}
