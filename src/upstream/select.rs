//! Endpoint choice: round-robin over the endpoints that are up.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Round-robin cursor shared by every request to one upstream.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// The next endpoint among `count` for which `is_up` holds, or None if none is.
    pub fn pick(&self, count: usize, is_up: impl Fn(usize) -> bool) -> Option<usize> {
        if count == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count).map(|i| (start + i) % count).find(|&i| is_up(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_over_all_endpoints() {
        let rr = RoundRobin::default();
        let picks: Vec<_> = (0..6).map(|_| rr.pick(3, |_| true).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn skips_endpoints_that_are_down() {
        let rr = RoundRobin::default();
        let picks: Vec<_> = (0..4).map(|_| rr.pick(3, |i| i != 1).unwrap()).collect();
        assert_eq!(picks, vec![0, 2, 2, 0]);
        assert_eq!(rr.pick(3, |_| false), None);
        assert_eq!(rr.pick(0, |_| true), None);
    }
}
