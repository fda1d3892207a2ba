//! A route's `json_schema` file: read (a regular file of at most 1 MiB — `/dev/zero` or a
//! FIFO would hang the loader), parsed and compiled as JSON Schema draft 2020-12. `check`
//! (through validation) and the start (through `Policy::compile`) both call this, so they can
//! never disagree about a schema.

use std::io::Read;
use std::path::Path;

/// The largest schema file accepted (SPEC §2).
pub const MAX_SCHEMA_BYTES: u64 = 1 << 20;

pub fn load(base_dir: &Path, file: &str) -> Result<jsonschema::Validator, String> {
    let path = base_dir.join(file);
    let meta = std::fs::metadata(&path)
        .map_err(|e| format!("cannot read schema file \"{}\": {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "schema file \"{}\" is not a regular file",
            path.display()
        ));
    }
    let mut text = String::new();
    // Bounded even if the file grows between the check and the read.
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_SCHEMA_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| format!("cannot read schema file \"{}\": {e}", path.display()))?;
    if text.len() as u64 > MAX_SCHEMA_BYTES {
        return Err(format!(
            "schema file \"{}\" is larger than 1 MiB",
            path.display()
        ));
    }
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("schema file \"{}\" is not valid JSON: {e}", path.display()))?;
    compile(&value).map_err(|e| format!("schema file \"{}\": {e}", path.display()))
}

pub fn compile(schema: &serde_json::Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft202012::new(schema).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_that_compile() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok.json"), r#"{"type":"object"}"#).unwrap();
        assert!(load(dir.path(), "ok.json").is_ok());
        let e = load(Path::new("/"), "dev/zero").err().unwrap();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::write(
            dir.path().join("big.json"),
            vec![b' '; (MAX_SCHEMA_BYTES + 1) as usize],
        )
        .unwrap();
        assert!(load(dir.path(), "big.json")
            .err()
            .unwrap()
            .contains("1 MiB"));
        // An OpenAPI 3.0 habit, invalid in draft 2020-12: found by `check` too now.
        std::fs::write(
            dir.path().join("oas30.json"),
            r#"{"type":"number","minimum":1,"exclusiveMinimum":true}"#,
        )
        .unwrap();
        let e = load(dir.path(), "oas30.json").err().unwrap();
        assert!(e.contains("true is not of type"), "{e}");
        assert!(load(dir.path(), "missing.json").is_err());
    }
}
