//! Bounded concurrency toward one upstream (`max_in_flight`, `queue`): at most
//! `max_in_flight` requests are with the app at once; the next ones wait, first come first
//! served, in a queue of at most `queue.max` for at most `queue.timeout`. Beyond either the
//! request is refused (503 `overloaded`), so a burst queues in Rampart, not in gunicorn's
//! backlog where it would time out unseen.
//!
//! A `Slot` is the right to talk to the app; it is released when dropped, so every way a
//! request can end (answer, client abort, upstream error, timeout, cancelled future) gives
//! it back exactly once. The state survives reloads; `set_capacity` applies a new cap
//! without ever letting more than the new cap in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The settings of one upstream (from the config; they change with reloads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// None: no cap (requests are only counted).
    pub max_in_flight: Option<usize>,
    pub queue_max: usize,
    pub queue_timeout: Duration,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `queue.max` requests are already waiting (or there is no queue).
    QueueFull,
    /// No slot freed within `queue.timeout`.
    QueueTimeout,
}

/// What an upstream's admission keeps across reloads.
#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    /// The cap the semaphore currently implements (0 while uncapped).
    capacity: AtomicUsize,
    /// Permits still to retire after the cap was lowered while they were in use.
    debt: AtomicUsize,
    in_flight: AtomicUsize,
    queued: AtomicUsize,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            slots: Arc::new(Semaphore::new(0)),
            capacity: AtomicUsize::new(0),
            debt: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
        }
    }
}

/// One admitted request; gives its slot back when dropped.
#[derive(Debug)]
pub struct Slot {
    admission: Arc<Admission>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            // A lowered cap is reached by retiring returning permits instead of reusing them.
            let retire = self
                .admission
                .debt
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1))
                .is_ok();
            if retire {
                permit.forget();
            }
        }
        self.admission.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One waiting request, counted in `queued` until it leaves the queue in any way.
struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// Requests currently holding a slot (with the app or about to be).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Requests waiting for a slot.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Makes the semaphore implement `cap` (None: uncapped). Called when a policy is built;
    /// requests holding slots keep them, and a lower cap is reached as they finish.
    pub fn set_capacity(&self, cap: Option<usize>) {
        let new = cap.unwrap_or(0);
        let old = self.capacity.swap(new, Ordering::AcqRel);
        if new > old {
            let mut grow = new - old;
            // First cancel permits still owed from an earlier decrease.
            let cancelled = self
                .debt
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                    Some(d.saturating_sub(grow))
                })
                .map_or(0, |d| d.min(grow));
            grow -= cancelled;
            self.slots.add_permits(grow);
        } else if new < old {
            let shrink = old - new;
            let forgotten = self.slots.forget_permits(shrink);
            self.debt.fetch_add(shrink - forgotten, Ordering::AcqRel);
        }
    }

    /// Waits for a slot under `limits`. Cancelling the future leaves the queue cleanly.
    pub async fn admit(self: &Arc<Self>, limits: &Limits) -> Result<Slot, Refusal> {
        let permit = match limits.max_in_flight {
            None => None,
            Some(_) => Some(self.acquire(limits).await?),
        };
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Ok(Slot {
            admission: Arc::clone(self),
            permit,
        })
    }

    async fn acquire(&self, limits: &Limits) -> Result<OwnedSemaphorePermit, Refusal> {
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => return Ok(permit),
            // Only `close()` yields Closed, and it is never called.
            Err(TryAcquireError::Closed) => return Err(Refusal::QueueFull),
            Err(TryAcquireError::NoPermits) => {}
        }
        let ahead = self.queued.fetch_add(1, Ordering::AcqRel);
        let _place = QueuePlace(&self.queued);
        if ahead >= limits.queue_max {
            return Err(Refusal::QueueFull);
        }
        // Tokio's semaphore is fair: waiters are served in arrival order.
        let wait = Arc::clone(&self.slots).acquire_owned();
        match tokio::time::timeout(limits.queue_timeout, wait).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(Refusal::QueueFull),
            Err(_elapsed) => Err(Refusal::QueueTimeout),
        }
    }
}

/// `Retry-After` for an overloaded answer: the queue's wait, in whole seconds, at least 1.
pub fn retry_after_secs(limits: &Limits) -> u64 {
    let t = limits.queue_timeout;
    (t.as_secs() + u64::from(t.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
