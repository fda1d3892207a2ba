//! Tests of vendor patch 16: a cloned request header keeps its maps' room, and a header built
//! on shared bytes shares its target instead of copying it. Both are about allocations, so
//! the allocations made on the test's own thread are counted.

use super::*;
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

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(|n| n.get());
    f();
    ALLOCATIONS.with(|n| n.get()) - before
}

/// Bytes that are already shared (what a slice of a split read buffer is): cloning them
/// only counts a reference.
fn shared(bytes: &'static [u8]) -> Bytes {
    let mut buf = bytes::BytesMut::from(bytes);
    buf.split_to(bytes.len()).freeze()
}

fn wire(header: &RequestHeader) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    header.header_to_h1_wire(&mut out);
    out.to_vec()
}

#[test]
fn a_clone_takes_the_headers_its_original_had_room_for_without_growing() {
    let mut original = RequestHeader::build("GET", b"/", Some(12)).unwrap();
    for (name, value) in [("Host", "a"), ("Accept", "*/*"), ("X-Mixed", "1")] {
        original.append_header(name, value).unwrap();
    }
    let added: Vec<_> = [
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-request-id",
    ]
    .into_iter()
    .map(|name| {
        (
            HeaderName::from_static(name),
            Bytes::from_static(name.as_bytes()),
        )
    })
    .collect();
    let value = HeaderValue::from_static("v");
    let mut upstream = original.clone();
    let added = allocations_in(|| {
        for (name, wire) in &added {
            upstream.insert_parsed_header(name, wire, value.clone());
        }
    });
    // The derived clone sized both maps' entries to three headers: adding four grew each
    // map twice.
    assert_eq!(added, 0);
}

#[test]
fn a_clone_writes_the_same_head_as_its_original() {
    let mut original = RequestHeader::build("POST", b"/a?b=c", Some(8)).unwrap();
    for (name, value) in [
        ("Host", "example.com"),
        ("x-Dup", "1"),
        ("Accept", "*/*"),
        ("X-DUP", "2"),
        ("Cookie", "a=b"),
        ("x-dup", "3"),
    ] {
        original.append_header(name, value).unwrap();
    }
    let clone = original.clone();
    assert_eq!(wire(&clone), wire(&original));
    assert_eq!(clone.headers, original.headers);
    assert_eq!(clone.uri, original.uri);
    // Without a case map (HTTP/2) too.
    let mut no_case = RequestHeader::build_no_case("GET", b"/", None).unwrap();
    no_case.append_header("a", "1").unwrap();
    no_case.append_header("b", "2").unwrap();
    no_case.append_header("a", "3").unwrap();
    assert_eq!(no_case.clone().headers, no_case.headers);
}

#[test]
fn a_header_built_on_shared_bytes_clones_its_target_without_allocating() {
    let shared_target =
        RequestHeader::build_shared("GET", &shared(b"/items?page=2"), None).unwrap();
    assert_eq!(allocations_in(|| drop(shared_target.uri.clone())), 0);
    // What build() does, for comparison: its copy of the target allocates again when cloned.
    let copied = RequestHeader::build("GET", b"/items?page=2", None).unwrap();
    assert_eq!(allocations_in(|| drop(copied.uri.clone())), 1);
}

#[test]
fn a_header_built_on_shared_bytes_is_the_header_build_makes() {
    let targets: [&'static [u8]; 12] = [
        b"/",
        b"/a/b?c=d&e",
        b"?only=query",
        b"",
        b"*",
        b"/frag#ment",
        b"#",
        b"/caf\xc3\xa9",
        b"/lossy\xff",
        b"http://example.com/x?y",
        b"example.com:443",
        b"/bad path",
    ];
    for target in targets {
        let built = RequestHeader::build("GET", target, None);
        let on_shared = RequestHeader::build_shared("GET", &shared(target), None);
        match (built, on_shared) {
            (Ok(built), Ok(on_shared)) => {
                assert_eq!(on_shared.uri, built.uri, "{target:?}");
                assert_eq!(on_shared.raw_path(), built.raw_path(), "{target:?}");
                assert_eq!(on_shared.raw_path_is_utf8(), built.raw_path_is_utf8());
                assert_eq!(wire(&on_shared), wire(&built), "{target:?}");
            }
            (Err(_), Err(_)) => {}
            (built, on_shared) => panic!(
                "{target:?}: build {:?}, build_shared {:?}",
                built.map(|_| ()),
                on_shared.map(|_| ())
            ),
        }
    }
}
