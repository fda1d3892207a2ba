//! Reading a config file: YAML -> typed model -> semantic validation, all problems at once.

use super::model::Config;
pub use super::problems::{ConfigError, ConfigErrors, Problems};
use super::validate;
use super::yaml;
use std::path::{Path, PathBuf};

/// A validated config and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// The file as named by the user (used in messages).
    pub file: String,
    /// The folder relative paths in the file (json_schema, ...) are resolved against.
    pub base_dir: PathBuf,
    /// The raw text, kept so a reload can tell whether the content changed.
    pub text: String,
}

/// Reads and validates the file at `path`, resolving `${VAR}` from the process environment.
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("cannot read the config file: {e}"),
        }])
    })?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    load_str(&text, &file, &base_dir, &|name| std::env::var(name).ok())
}

/// Validates `text` as if it were the file `file` in `base_dir`; `env` resolves `${VAR}`.
pub fn load_str(
    text: &str,
    file: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedConfig, ConfigErrors> {
    let parsed = yaml::parse(text, env).map_err(|problems| {
        ConfigErrors(
            problems
                .into_iter()
                .map(|p| ConfigError {
                    file: file.to_string(),
                    line: p.pos.line,
                    column: p.pos.column,
                    path: p.path,
                    message: p.message,
                })
                .collect(),
        )
    })?;
    let mut problems = Problems::new(file, &parsed.index);
    if !parsed.value.is_object() {
        problems.at("", "expected a mapping with at least `server:`");
        return Err(ConfigErrors(problems.errors));
    }

    let Some((config, removed)) = deserialize_all(parsed.value, &mut problems) else {
        problems.errors.sort_by_key(|e| (e.line, e.column));
        return Err(ConfigErrors(problems.errors));
    };
    let structural = problems.errors.len();
    validate::validate(&config, base_dir, &mut problems);
    // A value dropped to get past a type error may make its neighbours look wrong
    // (a default where the user wrote something): keep only the first report there.
    let mut index = 0;
    problems.errors.retain(|e| {
        index += 1;
        index <= structural
            || !removed
                .iter()
                .any(|r| e.path == *r || e.path.starts_with(&format!("{r}.")))
    });
    if problems.errors.is_empty() {
        Ok(LoadedConfig {
            config,
            file: file.to_string(),
            base_dir: base_dir.to_path_buf(),
            text: text.to_string(),
        })
    } else {
        problems.errors.sort_by_key(|e| (e.line, e.column));
        Err(ConfigErrors(problems.errors))
    }
}

/// Deserializes the model, collecting every unknown key and every type error.
///
/// serde stops at the first error, so after each one the offending value is dropped from
/// the tree (a sequence item becomes null first, then is removed) and deserialization runs
/// again, until it succeeds or a problem can't be stepped over (a missing required field).
/// Returns the config and the paths that were dropped, or None if it never succeeded.
fn deserialize_all(
    mut value: serde_json::Value,
    problems: &mut Problems,
) -> Option<(Config, Vec<String>)> {
    const MAX_PASSES: usize = 64;
    let mut unknown = std::collections::BTreeSet::new();
    let mut removed: Vec<String> = Vec::new();
    let mut result = None;
    for _ in 0..MAX_PASSES {
        let mut on_unknown = |path: serde_ignored::Path| {
            unknown.insert(ignored_path(&path));
        };
        let de = serde_ignored::Deserializer::new(value.clone(), &mut on_unknown);
        match serde_path_to_error::deserialize::<_, Config>(de) {
            Ok(config) => {
                result = Some(config);
                break;
            }
            Err(err) => {
                let path = error_path(err.path());
                let message = clean_serde_message(&err.inner().to_string());
                // A required field whose bad value was dropped in an earlier pass: not a
                // second problem. Drop the whole value that needs it and carry on, so later
                // problems (and cross-references) are still found.
                let derived = missing_field(&message)
                    .is_some_and(|f| removed.contains(&yaml::join_key(&path, f)));
                if !derived && !removed.contains(&path) {
                    problems.at(&path, message.clone());
                }
                let droppable = derived || missing_field(&message).is_none();
                if !droppable || !drop_value(&mut value, err.path()) {
                    break;
                }
                removed.push(path);
            }
        }
    }
    for path in &unknown {
        let key = path.rsplit(['.', '[']).next().unwrap_or(path);
        problems.at_key(path, format!("unknown key `{key}`"));
    }
    result.map(|c| (c, removed))
}

/// The field named by serde's "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Drops the value at `path` from the tree; false if there is nothing (more) to drop.
fn drop_value(value: &mut serde_json::Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = value;
    for seg in parents {
        node = match (seg, node) {
            (Segment::Map { key }, serde_json::Value::Object(map)) => match map.get_mut(key) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Seq { index }, serde_json::Value::Array(items)) => {
                match items.get_mut(*index) {
                    Some(v) => v,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    match (last, node) {
        (Segment::Map { key }, serde_json::Value::Object(map)) => map.remove(key).is_some(),
        (Segment::Seq { index }, serde_json::Value::Array(items)) if *index < items.len() => {
            if items[*index].is_null() {
                items.remove(*index);
            } else {
                items[*index] = serde_json::Value::Null;
            }
            true
        }
        _ => false,
    }
}

fn ignored_path(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => yaml::join_index(&ignored_path(parent), *index),
        P::Map { parent, key } => yaml::join_key(&ignored_path(parent), key),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}

fn error_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out = yaml::join_index(&out, *index),
            Segment::Map { key } => out = yaml::join_key(&out, key),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

/// serde_json's messages end with " at line 0 column 0" when deserializing a `Value`.
fn clean_serde_message(msg: &str) -> String {
    msg.split(" at line ").next().unwrap_or(msg).to_string()
}
