//! Config problems: each one located (file, line, column, field path), all collected before
//! any is reported. Shared by loading and validation, which both add to it.

use super::yaml::{self, SpanIndex};
use std::fmt;

/// One problem in a config file, printed as `FILE:LINE:COLUMN: PATH: MESSAGE` (SPEC §1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(document)"
        } else {
            &self.path
        };
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, path, self.message
        )
    }
}

/// Every problem found in one file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Collects problems keyed by field path and resolves their positions in one place.
pub struct Problems<'a> {
    file: &'a str,
    index: &'a SpanIndex,
    pub errors: Vec<ConfigError>,
}

impl<'a> Problems<'a> {
    pub fn new(file: &'a str, index: &'a SpanIndex) -> Self {
        Problems {
            file,
            index,
            errors: Vec::new(),
        }
    }

    /// A problem with the value at `path`.
    pub fn at(&mut self, path: &str, message: impl Into<String>) {
        let pos = self.index.value(path);
        self.push(pos, path, message.into());
    }

    /// A problem with the key at `path` (unknown keys).
    pub fn at_key(&mut self, path: &str, message: impl Into<String>) {
        let pos = self.index.key(path);
        self.push(pos, path, message.into());
    }

    fn push(&mut self, pos: yaml::Pos, path: &str, message: String) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message,
        });
    }
}
