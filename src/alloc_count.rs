//! Heap allocations counted, for the benchmark only (`--features alloc-count`; never in a
//! shipped build). Wraps mimalloc; every `alloc`/`realloc` adds one. With the environment
//! variable `RAMPART_ALLOC_COUNT_FILE` set, a thread writes the running total to that file
//! every 100 ms, so `bench/bench.py` can divide the difference by the requests served.
//! The same line then carries the bytes live on the heap, in all and by size class (powers of
//! two): `bench/storm.py --alloc-count` divides their growth by the idle connections open,
//! which says what an idle connection keeps, and in what sizes.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub struct Counting;

static COUNT: AtomicU64 = AtomicU64::new(0);
/// Live bytes by size class: class `i` holds allocations of 2^i..2^(i+1) bytes.
static LIVE: [AtomicI64; 32] = [const { AtomicI64::new(0) }; 32];

fn live(size: usize, delta: i64) {
    let class = usize::BITS - size.max(1).leading_zeros() - 1;
    if let Some(slot) = LIVE.get(class as usize) {
        slot.fetch_add(delta, Ordering::Relaxed);
    }
}

fn bytes(size: usize) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        COUNT.fetch_add(1, Ordering::Relaxed);
        live(layout.size(), bytes(layout.size()));
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live(layout.size(), -bytes(layout.size()));
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        COUNT.fetch_add(1, Ordering::Relaxed);
        live(layout.size(), bytes(layout.size()));
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        COUNT.fetch_add(1, Ordering::Relaxed);
        live(layout.size(), -bytes(layout.size()));
        live(new_size, bytes(new_size));
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// Starts the reporting thread when `RAMPART_ALLOC_COUNT_FILE` names a file.
pub fn report() {
    let Some(path) = std::env::var_os("RAMPART_ALLOC_COUNT_FILE") else {
        return;
    };
    // Written beside and renamed over: a reader never sees the file truncated and empty.
    let mut beside = path.clone();
    beside.push(".tmp");
    std::thread::spawn(move || loop {
        // "<allocations> <live bytes of class 0> <class 1> ...": the first number alone is
        // what bench.py reads.
        let mut line = COUNT.load(Ordering::Relaxed).to_string();
        for class in &LIVE {
            line.push(' ');
            line.push_str(&class.load(Ordering::Relaxed).to_string());
        }
        if std::fs::write(&beside, line).is_ok() {
            let _ = std::fs::rename(&beside, &path);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    });
}
