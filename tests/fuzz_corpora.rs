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
    let targets: [(&str, Target); 8] = [
        ("config", rampart::fuzz_targets::config),
        ("head", rampart::fuzz_targets::head),
        ("chunked", rampart::fuzz_targets::chunked),
        ("sniff", rampart::fuzz_targets::sniff),
        ("breaker", rampart::fuzz_targets::breaker),
        ("rate_limit", rampart::fuzz_targets::rate_limit),
        ("admission", rampart::fuzz_targets::admission),
        ("h2", rampart::fuzz_targets::h2),
    ];
    for (name, run) in targets {
        let n = replay(name, run);
        assert!(n > 0, "no corpus for {name}");
    }
}

/// The h2 seeds do reach the app, or are stopped, as their names say: the target is not
/// vacuous (a harness whose requests never got through would prove nothing).
#[test]
fn the_h2_seeds_reach_the_app_only_when_well_formed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/h2");
    let seed = |name: &str| {
        let data = std::fs::read(dir.join(name)).expect("seed");
        rampart::fuzz_targets::h2_outcome(&data)
    };
    let reached = |accepted, forwarded| rampart::fuzz_targets::H2Outcome {
        accepted,
        forwarded,
    };
    assert_eq!(seed("get"), reached(1, 1));
    assert_eq!(seed("two_streams"), reached(2, 2));
    assert_eq!(seed("continuation"), reached(1, 1));
    assert_eq!(seed("underscore_drop"), reached(1, 1));
    assert_eq!(seed("underscore_reject").forwarded, 0);
    assert_eq!(seed("padded").forwarded, 0, "RFC 9113 8.2.1");
    assert_eq!(seed("long_path").forwarded, 0, "414");
    for refused in ["crlf", "te_chunked", "connection", "upper"] {
        assert_eq!(seed(refused).forwarded, 0, "{refused} reached the app");
    }
}
