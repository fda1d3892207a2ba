//! Tests of vendor patch 17: a connection's timing digest, built for every session (every
//! request on a kept-alive connection), is kept inline. Counts the allocations made on the
//! test's own thread.

use super::*;
use crate::protocols::l4::stream::Stream;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations_in<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.with(|n| n.get());
    let out = f();
    (out, ALLOCATIONS.with(|n| n.get()) - before)
}

#[tokio::test(flavor = "current_thread")]
async fn a_connections_timing_digest_is_built_without_allocating() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stream: Stream = tokio::net::TcpStream::connect(addr).await.unwrap().into();
    let (digest, allocations) = allocations_in(|| stream.get_timing_digest());
    // A `Vec` allocated here, on every session built over the connection.
    assert_eq!(allocations, 0);
    assert_eq!(digest.len(), 1);
    assert!(digest[0].is_some());

    // A TLS layer adds its own entry on top (as the TLS streams do): still inline.
    let (layered, allocations) = allocations_in(|| {
        let mut layered = stream.get_timing_digest();
        layered.push(digest[0].clone());
        layered
    });
    assert_eq!(allocations, 0);
    assert_eq!(layered.len(), 2);

    // And a session's digest carries it as it was.
    let session_digest = Digest {
        timing_digest: layered.clone(),
        ..Default::default()
    };
    assert_eq!(session_digest.timing_digest.len(), 2);
}
