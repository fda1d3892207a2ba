//! Fuzz target: the admission queue (`upstream::admission`) under arbitrary arrivals,
//! releases, cancellations (a client hanging up, a queue timeout: both drop the waiting
//! future) and cap changes (reloads).
//!
//! Checked after every step: the slots held never grow beyond the current cap (a lowered cap
//! is reached as slots come back, never by letting more in); no one waits while a slot is
//! free; waiters are served in arrival order; the queue never holds more than `queue.max`;
//! the counters match what is really held and waiting. At the end, with everything dropped,
//! exactly the cap is available again: no slot leaked or minted.

use crate::upstream::admission::{Admission, Limits, Refusal, Slot};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

type Waiting = Pin<Box<dyn Future<Output = Result<Slot, Refusal>>>>;

/// Long enough that no wait times out during a run: timeouts are cancellations here.
const NEVER: Duration = Duration::from_secs(3600);

pub fn admission(data: &[u8]) {
    let Some((&setup, ops)) = data.split_first() else {
        return;
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    // The queue's timer needs a runtime in context; the futures are polled by hand.
    let _in_runtime = rt.enter();
    let queue_max = usize::from(setup % 4);
    let mut cap = usize::from(setup / 4 % 4) + 1;
    let limits = |cap: usize| Limits {
        max_in_flight: Some(cap),
        queue_max,
        queue_timeout: NEVER,
    };
    let admission = Arc::new(Admission::default());
    admission.set_capacity(Some(cap));
    let mut held: Vec<Slot> = Vec::new();
    let mut waiting: Vec<Waiting> = Vec::new();
    for &op in ops {
        let held_before = held.len();
        let pick = usize::from(op >> 2);
        match op & 3 {
            0 => {
                let mut fut: Waiting = {
                    let admission = Arc::clone(&admission);
                    let limits = limits(cap);
                    Box::pin(async move { admission.admit(&limits).await })
                };
                match poll(&mut fut) {
                    Poll::Ready(Ok(slot)) => held.push(slot),
                    Poll::Ready(Err(refusal)) => {
                        assert_eq!(refusal, Refusal::QueueFull);
                        assert!(waiting.len() >= queue_max, "refused with room in the queue");
                    }
                    Poll::Pending => waiting.push(fut),
                }
            }
            1 if !held.is_empty() => drop(held.remove(pick % held.len())),
            2 if !waiting.is_empty() => drop(waiting.remove(pick % waiting.len())),
            3 => {
                cap = pick % 4 + 1;
                admission.set_capacity(Some(cap));
            }
            _ => {}
        }
        // Whoever was granted a slot by this step takes it, in arrival order.
        let mut served = 0;
        while let Some(fut) = waiting.get_mut(served) {
            match poll(fut) {
                Poll::Ready(Ok(slot)) => held.push(slot),
                Poll::Ready(Err(refusal)) => panic!("a queued request was refused: {refusal:?}"),
                Poll::Pending => break,
            }
            served += 1;
        }
        waiting.drain(..served);
        for later in &mut waiting {
            assert!(poll(later).is_pending(), "served out of arrival order");
        }
        assert!(
            held.len() <= cap || held.len() <= held_before,
            "{} slots held under a cap of {cap} (was {held_before})",
            held.len()
        );
        assert!(
            waiting.is_empty() || held.len() >= cap,
            "waiting with a free slot"
        );
        assert!(waiting.len() <= queue_max);
        assert_eq!(admission.in_flight(), held.len());
        assert_eq!(admission.queued(), waiting.len());
    }
    drop(waiting);
    drop(held);
    assert_eq!(admission.in_flight(), 0);
    assert_eq!(admission.queued(), 0);
    let full = Limits {
        queue_max: 0,
        ..limits(cap)
    };
    let mut again = Vec::new();
    for _ in 0..cap {
        let mut fut: Waiting = {
            let admission = Arc::clone(&admission);
            Box::pin(async move { admission.admit(&full).await })
        };
        let Poll::Ready(Ok(slot)) = poll(&mut fut) else {
            panic!("a slot of the cap leaked");
        };
        again.push(slot);
    }
    let mut one_more: Waiting = Box::pin(async move { admission.admit(&full).await });
    assert!(
        matches!(poll(&mut one_more), Poll::Ready(Err(Refusal::QueueFull))),
        "a slot was minted beyond the cap"
    );
}

fn poll(fut: &mut Waiting) -> Poll<Result<Slot, Refusal>> {
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}
