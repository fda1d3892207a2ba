//! The JSON Schema files the routes name, as loaded: a changed one is reloaded like the
//! config (SPEC 0.3 §3), so the reload watcher needs to know which files they are and
//! whether what is on disk is still what was compiled.

use crate::config::LoadedConfig;
use std::path::PathBuf;

/// Each schema file a route names, with the SHA-256 of what was compiled.
#[derive(Debug, Default)]
pub struct SchemaFiles(Vec<(PathBuf, Option<[u8; 32]>)>);

impl SchemaFiles {
    pub fn of(loaded: &LoadedConfig) -> SchemaFiles {
        let mut files: Vec<PathBuf> = loaded
            .config
            .routes
            .iter()
            .filter_map(|r| r.json_schema.as_ref())
            .map(|file| loaded.base_dir.join(file))
            .collect();
        files.sort();
        files.dedup();
        SchemaFiles(files.into_iter().map(|f| (f.clone(), digest(&f))).collect())
    }

    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.0.iter().map(|(path, _)| path)
    }

    /// Whether a file on disk now holds something else than what was compiled.
    pub fn changed(&self) -> bool {
        self.0.iter().any(|(path, loaded)| digest(path) != *loaded)
    }
}

fn digest(path: &std::path::Path) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    std::fs::read(path)
        .ok()
        .map(|bytes| Sha256::digest(bytes).into())
}
