//! The configuration reference (docs/configuration.md) cannot drift from the config model:
//! its YAML block loads without a single error, and every field of the model appears in it.
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn reference_block() -> String {
    let doc = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let start = doc.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + doc[start..].find("```").expect("its end");
    doc[start..end].to_string()
}

#[test]
fn the_reference_block_is_a_valid_config() {
    let env = |name: &str| {
        (name == "RAMPART_ADMIN_TOKEN").then(|| "9f8a7c6b5d4e3f2a1b0c9d8e7f6a5b4c".to_string())
    };
    // Relative paths (json_schema) resolve against conf/, where the example schema lives.
    let result = rampart::config::load_str(
        &reference_block(),
        "docs/configuration.md",
        &root().join("conf"),
        &env,
    );
    // The example certificate paths are not on this machine; that is the only problem allowed.
    if let Err(errors) = result {
        let real: Vec<String> = errors
            .0
            .iter()
            .filter(|e| {
                !(e.path.starts_with("server.tls.") && e.message.contains("does not exist"))
            })
            .map(ToString::to_string)
            .collect();
        assert!(
            real.is_empty(),
            "docs/configuration.md does not load:\n{}",
            real.join("\n")
        );
    }
}

#[test]
fn every_field_of_the_model_is_documented() {
    let block = reference_block();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("src/config/model")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rename: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if let Some(r) = line.strip_prefix("#[serde(rename = \"") {
                rename = r.split('"').next().map(str::to_string);
                continue;
            }
            let Some(field) = line
                .strip_prefix("pub ")
                .and_then(|l| l.split_once(':'))
                .map(|(f, _)| f)
            else {
                // A rename on an enum variant (`"1.2"`) is a value, not a key.
                if !line.starts_with("#[") && !line.starts_with("///") {
                    rename = None;
                }
                continue;
            };
            if field.contains(' ') || field.contains('(') {
                continue;
            }
            let key = rename.take().unwrap_or_else(|| field.to_string());
            if !block.contains(&format!("{key}:")) {
                missing.push(key);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys missing from docs/configuration.md: {missing:?}"
    );
}
