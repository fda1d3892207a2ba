#![no_main]
//! See `rampart::fuzz_targets::h2` (the same body replays the corpus in `cargo test`). Here
//! the heap is counted too: one connection, whatever its frames, may not grow it by more
//! than PER_CONNECTION at any moment (h2's header-list, stream and buffer limits hold).
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

const PER_CONNECTION: usize = 16 * 1024 * 1024;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    rampart::fuzz_targets::h2(data);
    let grew = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    assert!(grew <= PER_CONNECTION, "one connection took {grew} bytes of heap");
});
