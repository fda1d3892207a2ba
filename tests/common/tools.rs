//! The external tools the packaging tests drive (installed by `./test`, scripts/deps.sh).
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project's root folder.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from PATH or from `.tools/bin` (where deps.sh puts helm).
pub fn tool(name: &str) -> PathBuf {
    let local = root().join(".tools/bin").join(name);
    if local.exists() {
        return local;
    }
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    found.unwrap_or_else(|| panic!("{name} is not installed: run ./test, which installs it"))
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The documents of a multi-document YAML stream, parsed.
pub fn documents(yaml: &str) -> Vec<serde_json::Value> {
    yaml.split("\n---")
        .filter_map(|d| {
            let v: serde_json::Value = parse_yaml(d)?;
            (!v.is_null()).then_some(v)
        })
        .collect()
}

/// Parses one YAML document through Rampart's own YAML layer (saphyr), as JSON; `${VAR}`
/// is left as written.
pub fn parse_yaml(doc: &str) -> Option<serde_json::Value> {
    let keep = |name: &str| Some(format!("${{{name}}}"));
    rampart::config::yaml::parse(doc, &keep)
        .ok()
        .map(|p| p.value)
}

/// `rampart check --config FILE` with `env` set as the pod or container sets it; asserts it
/// passes, showing `what` and the problems otherwise.
pub fn assert_checks(file: &Path, env: &[(&str, &str)], what: &str) {
    let out = Command::new(super::rampart_bin())
        .args(["check", "--config"])
        .arg(file)
        .envs(env.iter().copied())
        .output()
        .expect("run rampart check");
    assert!(
        out.status.success(),
        "{what}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
