#![no_main]
//! See `rampart::fuzz_targets::admission` (the same body replays the corpus in `cargo test`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart::fuzz_targets::admission(data));
