//! Heap allocations counted, for the benchmark only (`--features alloc-count`; never in a
//! shipped build). Wraps mimalloc; every `alloc`/`realloc` adds one. With the environment
//! variable `RAMPART_ALLOC_COUNT_FILE` set, a thread writes the running total to that file
//! every 100 ms, so `bench/bench.py` can divide the difference by the requests served.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Counting;

static COUNT: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        COUNT.fetch_add(1, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        COUNT.fetch_add(1, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        COUNT.fetch_add(1, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// Starts the reporting thread when `RAMPART_ALLOC_COUNT_FILE` names a file.
pub fn report() {
    let Some(path) = std::env::var_os("RAMPART_ALLOC_COUNT_FILE") else {
        return;
    };
    std::thread::spawn(move || loop {
        let _ = std::fs::write(&path, COUNT.load(Ordering::Relaxed).to_string());
        std::thread::sleep(std::time::Duration::from_millis(100));
    });
}
