use super::*;

fn limits(max_in_flight: usize, queue_max: usize, queue_ms: u64) -> Limits {
    Limits {
        max_in_flight: Some(max_in_flight),
        queue_max,
        queue_timeout: Duration::from_millis(queue_ms),
    }
}

fn capped(cap: usize) -> Arc<Admission> {
    let a = Arc::new(Admission::default());
    a.set_capacity(Some(cap));
    a
}

#[tokio::test(start_paused = true)]
async fn admits_up_to_the_cap_then_queues_then_refuses() {
    let a = capped(2);
    let l = limits(2, 1, 1000);
    let s1 = a.admit(&l).await.unwrap();
    let _s2 = a.admit(&l).await.unwrap();
    assert_eq!(a.in_flight(), 2);
    let waiter = tokio::spawn({
        let a = Arc::clone(&a);
        async move { a.admit(&l).await.map(|_| ()) }
    });
    while a.queued() == 0 {
        tokio::task::yield_now().await;
    }
    // The queue (max 1) is full: the next one is refused at once.
    assert_eq!(a.admit(&l).await.unwrap_err(), Refusal::QueueFull);
    assert_eq!(a.queued(), 1);
    drop(s1);
    assert_eq!(waiter.await.unwrap(), Ok(()));
    assert_eq!(a.queued(), 0);
    assert_eq!(a.in_flight(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_gives_up_after_the_queue_timeout() {
    let a = capped(1);
    let l = limits(1, 10, 2000);
    let _held = a.admit(&l).await.unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(a.admit(&l).await.unwrap_err(), Refusal::QueueTimeout);
    assert_eq!(started.elapsed(), Duration::from_millis(2000));
    assert_eq!(a.queued(), 0);
    assert_eq!(a.in_flight(), 1);
}

#[tokio::test(start_paused = true)]
async fn no_queue_means_immediate_refusal() {
    let a = capped(1);
    let l = limits(1, 0, 2000);
    let _held = a.admit(&l).await.unwrap();
    assert_eq!(a.admit(&l).await.unwrap_err(), Refusal::QueueFull);
    assert_eq!(a.queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_arrival_order() {
    let a = capped(1);
    let l = limits(1, 10, 60_000);
    let held = a.admit(&l).await.unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (task_a, order) = (Arc::clone(&a), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            let slot = task_a.admit(&l).await.unwrap();
            order.lock().unwrap().push(i);
            tokio::task::yield_now().await;
            drop(slot);
        }));
        // Each one is queued before the next arrives.
        while a.queued() <= i {
            tokio::task::yield_now().await;
        }
    }
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!((a.in_flight(), a.queued()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_leaves_the_queue_and_takes_no_slot() {
    let a = capped(1);
    let l = limits(1, 10, 60_000);
    let held = a.admit(&l).await.unwrap();
    let waiter = tokio::spawn({
        let a = Arc::clone(&a);
        async move { a.admit(&l).await.map(|_| ()) }
    });
    while a.queued() == 0 {
        tokio::task::yield_now().await;
    }
    waiter.abort();
    assert!(waiter.await.unwrap_err().is_cancelled());
    assert_eq!(a.queued(), 0);
    drop(held);
    assert_eq!(a.in_flight(), 0);
    // The slot is free again for the next request, at once.
    let again = tokio::time::timeout(Duration::ZERO, a.admit(&l)).await;
    assert!(matches!(again, Ok(Ok(_))));
}

#[tokio::test(start_paused = true)]
async fn many_tasks_never_exceed_the_cap() {
    let a = capped(3);
    let l = limits(3, 1000, 60_000);
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (a, peak) = (Arc::clone(&a), Arc::clone(&peak));
        tasks.push(tokio::spawn(async move {
            let _slot = a.admit(&l).await.unwrap();
            peak.fetch_max(a.in_flight(), Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!((a.in_flight(), a.queued()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn lowering_the_cap_retires_slots_as_they_return() {
    let a = capped(3);
    let l3 = limits(3, 0, 1000);
    let slots: Vec<Slot> = vec![
        a.admit(&l3).await.unwrap(),
        a.admit(&l3).await.unwrap(),
        a.admit(&l3).await.unwrap(),
    ];
    a.set_capacity(Some(1));
    let l1 = limits(1, 0, 1000);
    let mut slots = slots.into_iter();
    drop(slots.next());
    // Two are still out and the cap is one: still full.
    assert_eq!(a.admit(&l1).await.unwrap_err(), Refusal::QueueFull);
    drop(slots.next());
    assert_eq!(a.admit(&l1).await.unwrap_err(), Refusal::QueueFull);
    drop(slots.next());
    let one = a.admit(&l1).await.unwrap();
    assert_eq!(a.admit(&l1).await.unwrap_err(), Refusal::QueueFull);
    drop(one);
    // Raising it again adds exactly the difference.
    a.set_capacity(Some(2));
    let _x = a.admit(&l1).await.unwrap();
    let _y = a.admit(&l1).await.unwrap();
    assert_eq!(a.admit(&l1).await.unwrap_err(), Refusal::QueueFull);
}

#[tokio::test(start_paused = true)]
async fn raising_the_cap_cancels_pending_retirements_first() {
    let a = capped(2);
    let l = limits(2, 0, 1000);
    let s1 = a.admit(&l).await.unwrap();
    let s2 = a.admit(&l).await.unwrap();
    a.set_capacity(Some(1)); // one permit owed
    a.set_capacity(Some(2)); // owed permit cancelled, none added
    drop(s1);
    drop(s2);
    let _x = a.admit(&l).await.unwrap();
    let _y = a.admit(&l).await.unwrap();
    assert_eq!(a.admit(&l).await.unwrap_err(), Refusal::QueueFull);
}

#[tokio::test]
async fn uncapped_only_counts() {
    let a = Arc::new(Admission::default());
    let l = Limits {
        max_in_flight: None,
        queue_max: 0,
        queue_timeout: Duration::ZERO,
    };
    let s: Vec<Slot> = admit_many(&a, &l, 50).await;
    assert_eq!(a.in_flight(), 50);
    drop(s);
    assert_eq!(a.in_flight(), 0);
}

async fn admit_many(a: &Arc<Admission>, l: &Limits, n: usize) -> Vec<Slot> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(a.admit(l).await.unwrap());
    }
    out
}

#[test]
fn retry_after_rounds_the_queue_timeout_up() {
    assert_eq!(retry_after_secs(&limits(1, 1, 2000)), 2);
    assert_eq!(retry_after_secs(&limits(1, 1, 2001)), 3);
    assert_eq!(retry_after_secs(&limits(1, 1, 0)), 1);
}

/// Slots retired while none was in use are gone at once: nothing is owed, and raising the cap
/// again brings every slot back.
#[test]
fn lowering_an_idle_cap_owes_nothing() {
    let a = capped(4);
    a.set_capacity(Some(2));
    assert_eq!(a.slots.available_permits(), 2);
    assert_eq!(a.debt.load(Ordering::Acquire), 0);
    a.set_capacity(Some(4));
    assert_eq!(a.slots.available_permits(), 4);
}
