//! Replays every committed fuzz corpus file and every crash input (`fuzz/corpus/<target>/`,
//! `fuzz/artifacts/<target>/`) through the same bodies the fuzzers run
//! (`rampart::fuzz_targets`), on the stable toolchain: a crash once found stays fixed.
use std::path::Path;

/// A fuzz target's body.
type Target = fn(&[u8]);

fn replay(target: &str, run: Target) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).expect("corpus file");
            run(&data);
            count += 1;
        }
    }
    count
}

#[test]
fn every_corpus_and_crash_input_replays_cleanly() {
    let targets: [(&str, Target); 7] = [
        ("config", rampart::fuzz_targets::config),
        ("head", rampart::fuzz_targets::head),
        ("chunked", rampart::fuzz_targets::chunked),
        ("sniff", rampart::fuzz_targets::sniff),
        ("breaker", rampart::fuzz_targets::breaker),
        ("rate_limit", rampart::fuzz_targets::rate_limit),
        ("admission", rampart::fuzz_targets::admission),
    ];
    for (name, run) in targets {
        let n = replay(name, run);
        assert!(n > 0, "no corpus for {name}");
    }
}
