//! `rampart import-openapi` (SPEC §1): the app's own OpenAPI document (3.0 or 3.1, JSON or
//! YAML, from a file or its URL) made into an allowlist config — a route per documented path
//! with exactly its methods, content types and JSON Schemas for request bodies — that passes
//! `rampart check` unchanged. The same document always gives byte-identical files.

pub mod emit;
pub mod routes;
pub mod schema;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Documents larger than this are refused (a FastAPI app with hundreds of models is ~1 MiB).
const MAX_DOCUMENT: u64 = 32 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The files to write: `rampart.yaml` and `schemas/<name>.json`.
pub struct Generated {
    pub config: String,
    pub schemas: Vec<(String, String)>,
    pub routes: usize,
    pub notes: usize,
}

/// Reads the document at `--file` or `--url`.
pub fn read(file: Option<&Path>, url: Option<&str>) -> Result<(String, String), String> {
    match (file, url) {
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Ok((text, path.display().to_string()))
        }
        (None, Some(url)) => Ok((fetch(url)?, url.to_string())),
        _ => Err("give the document with exactly one of --file or --url".into()),
    }
}

fn fetch(url: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .header(
            "Accept",
            "application/json, application/yaml;q=0.9, */*;q=0.1",
        )
        .call()
        .map_err(|e| format!("cannot fetch {url}: {e}"))?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_DOCUMENT)
        .read_to_string()
        .map_err(|e| format!("cannot read {url}: {e}"))
}

/// Parses JSON or YAML (JSON first: it is what FastAPI serves). `${…}` in the document is
/// text, never an environment variable.
pub fn parse(text: &str) -> Result<Value, String> {
    let doc = match serde_json::from_str::<Value>(text) {
        Ok(doc) => doc,
        Err(_) => {
            let keep = |name: &str| Some(format!("${{{name}}}"));
            crate::config::yaml::parse(text, &keep)
                .map_err(|problems| {
                    let first = problems.first();
                    format!(
                        "not JSON or YAML: line {}: {}",
                        first.map_or(0, |p| p.pos.line),
                        first.map_or("", |p| p.message.as_str())
                    )
                })?
                .value
        }
    };
    let version = doc["openapi"].as_str().unwrap_or("");
    if !(version.starts_with("3.0") || version.starts_with("3.1")) {
        let found = if version.is_empty() {
            doc["swagger"]
                .as_str()
                .map_or("no `openapi` field".to_string(), |v| format!("Swagger {v}"))
        } else {
            format!("OpenAPI {version}")
        };
        return Err(format!(
            "expected an OpenAPI 3.0 or 3.1 document, found {found}"
        ));
    }
    if !doc["paths"].is_object() {
        return Err("the document has no `paths`".into());
    }
    Ok(doc)
}

/// The config and schema files for `doc`.
pub fn generate(doc: &Value, location: &str, upstream: &str) -> Result<Generated, String> {
    let planned = routes::plan(doc);
    if planned.is_empty() {
        return Err("the document has no operations".into());
    }
    let notes = emit::document_notes(doc);
    let source = emit::Source { location, doc };
    let config = emit::config(&source, upstream, &planned, &notes);
    let mut schemas = Vec::new();
    for r in &planned {
        if let Some((file, s)) = &r.schema {
            let text = serde_json::to_string_pretty(s).map_err(|e| e.to_string())?;
            schemas.push((file.clone(), text + "\n"));
        }
    }
    Ok(Generated {
        config,
        schemas,
        routes: planned.len(),
        notes: notes.len() + planned.iter().map(|r| r.notes.len()).sum::<usize>(),
    })
}

/// Writes the files into `out` (created if missing) and proves the config loads as
/// `rampart check` would.
pub fn write(out: &Path, generated: &Generated) -> Result<(), String> {
    let schemas = out.join("schemas");
    std::fs::create_dir_all(&schemas)
        .map_err(|e| format!("cannot create {}: {e}", schemas.display()))?;
    for (file, text) in &generated.schemas {
        let path = schemas.join(file);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let config = out.join("rampart.yaml");
    std::fs::write(&config, &generated.config)
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    crate::config::load_file(&config)
        .map(|_| ())
        .map_err(|errors| format!("the generated config does not load (a bug: please report it with the document):\n{errors}"))
}
