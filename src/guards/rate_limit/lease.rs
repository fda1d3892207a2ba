//! `sharing: leased`: a replica takes a lease of a key's budget from the shared store and
//! spends it locally, so a busy key costs a Redis call per lease instead of per request.
//!
//! The bound (SPEC 0.3, README "Shared limits"): a replica asks for a new lease only when
//! it holds none, and a lease is at most `lease_max = max(1, burst / 10)` requests. Every
//! request admitted in a window was either held unspent at the window's start (at most
//! `replicas × lease_max`) or granted by the store's GCRA within it; so over any window T,
//! `admitted ≤ burst + floor(T / period) + replicas × lease_max`, the exact bound plus one
//! lease per replica. Unspent requests of an expired lease go back with the next request for
//! the key; a replica refused by the store, or whose grant drained it, does not ask again
//! before its next lease could be filled, so a key driven far past its limit costs about one
//! call per lease too.
//!
//! Pure: no I/O, time passed in as the time since the store's epoch.

use super::redis::scripts::Grant;
use super::Verdict;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The longest a lease may be held before what is left of it goes back.
const MAX_TERM: Duration = Duration::from_secs(1);

/// The largest lease of a limit: a tenth of its burst, at least one request.
pub fn lease_max(burst: u32) -> u32 {
    (burst / 10).max(1)
}

/// What to do with a request whose key is leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Spent from the lease held: admitted without asking the store.
    Spent(Verdict),
    /// The store refused a lease a moment ago and would refuse again.
    Refused(Verdict),
    /// Ask the store for `want` requests, giving back `give_back` unspent ones first.
    Ask { want: u32, give_back: u32 },
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    tokens: u32,
    /// When the tokens held stop being spendable (they go back with the next ask).
    until: Duration,
    /// The size of the next lease: doubles when one is used up within its term, halves
    /// when one expires unspent.
    size: u32,
    /// No lease is asked for before this (the store refused one, or the last grant drained
    /// it); requests beyond the lease held are refused locally until then.
    refused_until: Duration,
    /// What the shared bucket held after the last grant (for the `RateLimit` header).
    left: u32,
    /// Granted beyond one lease (two asks were in flight at once): goes back with the next ask.
    owed: u32,
}

/// The leases one replica holds, by store key. At most `max_keys` keys: past that a key
/// is decided one request at a time, like `sharing: exact`.
pub struct Leases {
    held: Mutex<HashMap<String, Lease>>,
    max_keys: usize,
}

/// The limit a lease is for, as the lease arithmetic needs it.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    pub period: Duration,
    pub burst: u32,
    pub window: Duration,
}

impl Terms {
    fn term(&self) -> Duration {
        self.window.min(MAX_TERM)
    }
    fn remaining(&self, left: u32, held: u32) -> Verdict {
        let remaining = left.saturating_add(held).min(self.burst);
        let used = self.burst.saturating_sub(remaining);
        Verdict::Allowed {
            remaining,
            reset_secs: super::ceil_secs(self.period.saturating_mul(used)),
        }
    }
    fn refused(&self, wait: Duration) -> Verdict {
        Verdict::Limited {
            retry_after_secs: super::ceil_secs(wait).max(1),
        }
    }
}

impl Leases {
    pub fn new(max_keys: usize) -> Leases {
        Leases {
            held: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
        }
    }

    /// One request for `key` at `now`.
    pub fn take(&self, key: &str, terms: Terms, now: Duration) -> Step {
        let Ok(mut held) = self.held.lock() else {
            return Step::Ask {
                want: 1,
                give_back: 0,
            };
        };
        let Some(lease) = held.get_mut(key) else {
            return Step::Ask {
                want: 1,
                give_back: 0,
            };
        };
        if lease.tokens > 0 && now < lease.until {
            lease.tokens -= 1;
            return Step::Spent(terms.remaining(lease.left, lease.tokens));
        }
        if lease.tokens == 0 && now < lease.refused_until {
            return Step::Refused(terms.refused(lease.refused_until.saturating_sub(now)));
        }
        // What is left of an expired lease goes back with this ask; the key was less busy
        // than the lease assumed.
        let unspent = std::mem::take(&mut lease.tokens);
        if unspent > 0 {
            lease.size = (lease.size / 2).max(1);
        }
        let give_back = unspent.saturating_add(std::mem::take(&mut lease.owed));
        Step::Ask {
            want: lease.size,
            give_back,
        }
    }

    /// What the store answered to an `Ask` at `now`: the request is admitted from the
    /// grant (the rest is held) or refused.
    pub fn answered(&self, key: &str, terms: Terms, now: Duration, grant: Grant) -> Verdict {
        let max = lease_max(terms.burst);
        let Ok(mut held) = self.held.lock() else {
            return match grant {
                Grant::Some { left, .. } => terms.remaining(left, 0),
                Grant::None { wait } => terms.refused(wait),
            };
        };
        if !held.contains_key(key) && held.len() >= self.max_keys {
            // Full: this key is not held; an unspent grant would be lost, so nothing
            // beyond this request was asked for (`take` asks for one).
            return match grant {
                Grant::Some { left, .. } => terms.remaining(left, 0),
                Grant::None { wait } => terms.refused(wait),
            };
        }
        let lease = held.entry(key.to_owned()).or_insert(Lease {
            tokens: 0,
            until: Duration::ZERO,
            size: 1,
            refused_until: Duration::ZERO,
            left: 0,
            owed: 0,
        });
        match grant {
            Grant::Some { granted, left } => {
                // The last lease was spent within its term (or this is the first): the key
                // is busy, lease more next time.
                if now < lease.until || lease.until == Duration::ZERO {
                    lease.size = lease.size.saturating_mul(2).min(max);
                }
                // Two asks in flight at once both land here: what exceeds one lease is not
                // held (the bound counts one lease a replica) but owed back to the store.
                let held = lease.tokens.saturating_add(granted.saturating_sub(1));
                lease.tokens = held.min(max);
                lease.owed = lease.owed.saturating_add(held.saturating_sub(max));
                lease.until = now.saturating_add(terms.term());
                lease.left = left;
                if left == 0 {
                    // The shared bucket is drained: the next ask waits until it could fill a
                    // whole lease (replicas sharing a hot key then ask in turn, not in a race
                    // for each request's refill).
                    let fill = terms.period.saturating_mul(lease.size);
                    lease.refused_until = now.saturating_add(fill);
                }
                terms.remaining(left, lease.tokens)
            }
            Grant::None { wait } => {
                // Come back when a whole lease could be filled, not for every request.
                let fill = terms.period.saturating_mul(lease.size.saturating_sub(1));
                lease.refused_until = now.saturating_add(wait).saturating_add(fill);
                lease.tokens = 0;
                terms.refused(lease.refused_until.saturating_sub(now))
            }
        }
    }

    /// Puts back one request spent from `key`'s lease (another limit of the route refused
    /// the request, so nothing of it may be spent).
    pub fn refund(&self, key: &str) {
        if let Ok(mut held) = self.held.lock() {
            if let Some(lease) = held.get_mut(key) {
                lease.tokens = lease.tokens.saturating_add(1);
            }
        }
    }

    /// Forgets keys with nothing held and no refusal pending (they are indistinguishable
    /// from new ones); expired unspent tokens are dropped with them, which only admits less.
    pub fn evict_idle(&self, now: Duration) {
        if let Ok(mut held) = self.held.lock() {
            held.retain(|_, l| now < l.until || now < l.refused_until);
            held.shrink_to_fit();
        }
    }

    /// Keys currently held.
    pub fn len(&self) -> usize {
        self.held.lock().map_or(0, |h| h.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
