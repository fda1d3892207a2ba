//! The image builds from the tree: exactly the Docker build context the Dockerfile's build
//! stage copies (its COPY sources, less what `.dockerignore` leaves out) is assembled in a
//! temporary folder and checked there with `cargo check --locked --offline`, so a COPY the
//! build needs and the Dockerfile lacks fails `./test`. Found on 0.2: the Dockerfile did not
//! copy `vendor/`, which the workspace and `[patch.crates-io]` point into, and nothing noticed.
//! (No Docker engine here; the build stage's `cargo build --release` is what this stands for.)
mod common;
use common::tools::root;
use std::path::Path;
use std::process::Command;

/// `.dockerignore` patterns as Docker reads them (root-relative; `**/` for any depth; a
/// trailing `/` is ignored), enough for the file's own forms.
fn ignored(patterns: &[String], rel: &str) -> bool {
    patterns.iter().any(|p| {
        let p = p.trim_end_matches('/');
        match p.strip_prefix("**/") {
            Some(name) => rel.split('/').any(|part| part == name),
            None => rel == p || rel.starts_with(&format!("{p}/")),
        }
    })
}

fn copy_into(from: &Path, rel: &str, to: &Path, patterns: &[String]) {
    if ignored(patterns, rel) {
        return;
    }
    let source = from.join(rel);
    let target = to.join(rel);
    if source.is_dir() {
        std::fs::create_dir_all(&target).unwrap();
        for entry in std::fs::read_dir(&source).unwrap() {
            let name = entry.unwrap().file_name();
            let child = format!("{rel}/{}", name.to_string_lossy());
            copy_into(from, &child, to, patterns);
        }
    } else {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::copy(&source, &target).unwrap_or_else(|e| panic!("COPY {rel}: {e}"));
    }
}

/// The sources of the build stage's `COPY` lines (not `--from`), as context-relative paths.
/// Every one of them copies into the same relative place under WORKDIR (checked).
fn build_stage_copies(dockerfile: &str) -> Vec<String> {
    let mut in_build = false;
    let mut sources = Vec::new();
    for line in dockerfile.lines().map(str::trim) {
        if line.starts_with("FROM ") {
            in_build = line.to_ascii_lowercase().ends_with(" as build");
            continue;
        }
        let Some(args) = line.strip_prefix("COPY ") else {
            continue;
        };
        if !in_build || args.contains("--from") {
            continue;
        }
        let parts: Vec<&str> = args.split_whitespace().collect();
        let (dest, srcs) = parts.split_last().expect("COPY has a destination");
        for src in srcs {
            let expected = if srcs.len() > 1 || *dest == "./" {
                "./".to_string()
            } else {
                format!("./{src}")
            };
            assert_eq!(
                *dest,
                expected.as_str(),
                "COPY {src} keeps its place in the tree"
            );
            sources.push(src.to_string());
        }
    }
    sources
}

#[test]
fn the_image_builds_from_exactly_its_build_context() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let patterns: Vec<String> = std::fs::read_to_string(root().join(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let sources = build_stage_copies(&dockerfile);
    assert!(sources.iter().any(|s| s == "Cargo.toml"), "{sources:?}");
    let context = tempfile::tempdir().unwrap();
    for src in &sources {
        copy_into(root(), src, context.path(), &patterns);
    }
    // A target folder of its own, kept between runs: only the first check is slow.
    let out = Command::new(env!("CARGO"))
        .args([
            "check",
            "--locked",
            "--offline",
            "--quiet",
            "--bin",
            "rampart",
        ])
        .current_dir(context.path())
        .env("CARGO_TARGET_DIR", root().join("target/docker-context"))
        .output()
        .expect("cargo");
    assert!(
        out.status.success(),
        "the build stage's context does not build (COPY sources: {sources:?}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dockerignore_patterns_read_as_docker_reads_them() {
    let p: Vec<String> = [
        "target/",
        "**/__pycache__/",
        "bench/results/",
        "rampart.yaml",
    ]
    .map(String::from)
    .to_vec();
    assert!(ignored(&p, "target"));
    assert!(ignored(&p, "src/__pycache__/x.pyc"));
    assert!(ignored(&p, "bench/results/a.md"));
    assert!(!ignored(&p, "bench/bench.py"));
    assert!(ignored(&p, "rampart.yaml"));
    assert!(!ignored(&p, "conf/rampart.yaml"), "root-relative");
}
