//! The allocator's settings (mimalloc, the binary's global allocator): memory a connection
//! storm took is handed back to the system once the connections are gone, instead of staying
//! at its peak (`bench/run storm`: 5,000 idle keep-alive connections, then closed).
//!
//! mimalloc purges freed memory lazily, from the thread that owns it, the next time that
//! thread allocates or frees after the purge delay. A worker thread that goes quiet when a
//! storm's connections close never gets there, so its heap kept the storm's peak. Each worker
//! thread (connections never change threads: no work stealing) therefore counts its own open
//! connections, and collects its heap when they fall to a quarter of the peak since its last
//! collection, once that peak was a storm, and once more when the storm's last one closed. A
//! handful of collections per storm and thread, none in steady traffic: the hot path pays two
//! thread-local counter updates per connection. Before each collection, the thread's timers
//! that nothing waits on any more are taken out of Pingora's timer wheel: a storm's finished
//! reads left thousands there (30 and 60 s ones), pinning the pages they sit on.

use std::cell::Cell;
use std::os::raw::c_long;

/// A peak of open connections on one thread below which nothing is collected (steady
/// traffic of a sidecar stays far below it).
const STORM: usize = 64;

/// One worker thread's open connections, their peak since its heap was last collected, and
/// whether a storm's last connections are still to close (one more collection when they have).
pub struct StormWatch {
    open: Cell<usize>,
    peak: Cell<usize>,
    tail: Cell<bool>,
}

thread_local! {
    pub static STORMS: StormWatch = const {
        StormWatch { open: Cell::new(0), peak: Cell::new(0), tail: Cell::new(false) }
    };
}

impl StormWatch {
    pub fn opened(&self) {
        let open = self.open.get().saturating_add(1);
        self.open.set(open);
        if open > self.peak.get() {
            self.peak.set(open);
        }
    }

    /// True when this close ended a storm's worth of connections (and collected the heap).
    pub fn closed(&self) -> bool {
        let open = self.open.get().saturating_sub(1);
        self.open.set(open);
        let ended = should_collect(open, self.peak.get()) || (self.tail.get() && open == 0);
        if ended {
            self.peak.set(open);
            self.tail.set(open > 0);
            // The storm's finished reads and writes left their timers in Pingora's wheel
            // until they fire (the upstream's 30 s read, 60 s idle): they go first, or the
            // memory they sit on stays pinned (vendor/PATCHES.md, patch 12).
            pingora_timeout::fast_timeout::prune_unwatched_timers();
            return_free_memory();
        }
        ended
    }
}

/// A storm (a peak of at least `STORM`) has fallen to a quarter.
fn should_collect(open: usize, peak: usize) -> bool {
    peak >= STORM && open <= peak / 4
}

// mimalloc v2's `mi_option_t` values (libmimalloc-sys names only some of them).
const ARENA_EAGER_COMMIT: i32 = 4;
const PURGE_DECOMMITS: i32 = 5;
const ABANDONED_PAGE_PURGE: i32 = 12;

/// The options as environment variables: mimalloc reads these when it initializes, before
/// `main`, which is the only time the first arena's commit policy can be set.
/// The purge delay stays mimalloc's 10 ms: purging at once (0) cost ~4 µs of CPU per proxied
/// request in the pinned benchmark; 100 ms left idle threads holding 2.7x the pre-storm RSS.
const ENV: [(&str, &str); 3] = [
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MIMALLOC_PURGE_DECOMMITS", "1"),
    ("MIMALLOC_ABANDONED_PAGE_PURGE", "1"),
];

/// When the process did not start with the allocator's settings in its environment, runs
/// itself again with them (same pid, same arguments: `exec`), so they apply from the first
/// allocation. Any failure keeps the current process (with `tune_allocator`'s settings).
/// Called first thing in `main`; `RAMPART_NO_ALLOC_TUNING=1` opts out.
pub fn reexec_with_allocator_settings() {
    use std::os::unix::process::CommandExt;
    let missing = ENV.iter().any(|(k, _)| std::env::var_os(k).is_none());
    if !missing || std::env::var_os("RAMPART_NO_ALLOC_TUNING").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1));
    for (k, v) in ENV {
        if std::env::var_os(k).is_none() {
            cmd.env(k, v);
        }
    }
    // Only returns on failure.
    let _ = cmd.exec();
}

/// Sets the same options in this process (for the ones read at run time).
pub fn tune_allocator() {
    let options: [(i32, c_long); 3] = [
        // Commit arena memory as it is used, not all at once.
        (ARENA_EAGER_COMMIT, 0),
        // Give pages that became free back to the OS by decommitting them (MADV_FREE pages
        // still count in RSS until the kernel wants them), also those of exited threads.
        (PURGE_DECOMMITS, 1),
        (ABANDONED_PAGE_PURGE, 1),
    ];
    for (option, value) in options {
        // SAFETY: plain integer options, set before the worker threads exist.
        unsafe { libmimalloc_sys::mi_option_set(option, value) }
    }
}

/// Asks mimalloc to give freed pages back to the system now, so RSS falls after a flood of
/// rate-limit keys is evicted instead of staying at its peak.
pub fn return_free_memory() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_storm_is_collected_as_it_falls_and_steady_traffic_never() {
        let w = StormWatch {
            open: Cell::new(0),
            peak: Cell::new(0),
            tail: Cell::new(false),
        };
        // Steady traffic: up to 40 open, opening and closing, never collects.
        for _ in 0..1000 {
            for _ in 0..40 {
                w.opened();
            }
            assert!((0..40).all(|_| !w.closed()));
        }
        // A storm of 2,000 closing: collected at 500, 125, 31 and 0 open, nowhere else.
        for _ in 0..2000 {
            w.opened();
        }
        let mut collected_at = Vec::new();
        for _ in 0..2000 {
            if w.closed() {
                collected_at.push(w.open.get());
            }
        }
        assert_eq!(collected_at, [500, 125, 31, 0]);
        // The storm is over: steady traffic again collects nothing.
        w.opened();
        assert!(!w.closed());
        assert!(!should_collect(15, 63));
        assert!(should_collect(16, 64));
    }

    /// The end of a storm also takes the thread's timers nothing waits on out of Pingora's
    /// wheel (a finished read's 60 s timeout would pin its memory until it fired).
    #[test]
    fn a_storm_ends_with_the_threads_unwatched_timers_pruned() {
        use futures_util::FutureExt;
        let sleep = pingora_timeout::fast_timeout::fast_sleep(Duration::from_secs(60));
        let mut sleep = Box::pin(sleep);
        assert!(
            sleep.as_mut().now_or_never().is_none(),
            "registered, pending"
        );
        drop(sleep);
        let w = StormWatch {
            open: Cell::new(0),
            peak: Cell::new(0),
            tail: Cell::new(false),
        };
        for _ in 0..STORM {
            w.opened();
        }
        while w.open.get() > 0 {
            w.closed();
        }
        assert_eq!(pingora_timeout::fast_timeout::prune_unwatched_timers(), 0);
    }
}
