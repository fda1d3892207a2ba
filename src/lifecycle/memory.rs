//! The allocator's settings (mimalloc, the binary's global allocator): memory a connection
//! storm took is handed back to the system once the connections are gone, instead of staying
//! at its peak (`bench/run storm`: 5,000 idle keep-alive connections, then closed).

use std::os::raw::c_long;

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
