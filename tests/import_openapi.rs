//! `rampart import-openapi` (SPEC §1): a real FastAPI app's live `/openapi.json` made into an
//! allowlist, Rampart started with it in front of the app; and a hand-written OpenAPI 3.0
//! YAML document (nullable, `$ref` chains, a base path).
mod common;
use common::tools::root;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

fn import(args: &[&str], out: &Path) -> Output {
    Command::new(rampart_bin())
        .arg("import-openapi")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// Every file under `dir`, with its bytes (to compare two runs).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all = vec![(
        "rampart.yaml".to_string(),
        std::fs::read(dir.join("rampart.yaml")).unwrap(),
    )];
    let mut schemas: Vec<_> = std::fs::read_dir(dir.join("schemas"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    schemas.sort();
    for s in schemas {
        all.push((s.display().to_string(), std::fs::read(&s).unwrap()));
    }
    all
}

/// Starts Rampart on the generated config, its listeners moved to free ports.
fn serve(dir: &Path) -> RampartProcess {
    let path = dir.join("rampart.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("listen: 0.0.0.0:8080", "listen: 127.0.0.1:0")
        .replace("admin_listen: 127.0.0.1:9901", "admin_listen: 127.0.0.1:0");
    let served = dir.join("served.yaml");
    std::fs::write(&served, text).unwrap();
    start_file(&served, &[])
}

fn app() -> Listening {
    let mut cmd = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()));
    cmd.arg(root().join("tests/support/openapi_app.py"));
    spawn_listening(
        cmd,
        "python3 with fastapi, uvicorn, python-multipart (./test installs them)",
    )
}

fn order(quantity: Value, status: &str) -> Value {
    json!({"lines": [{"sku": "ABC-1", "quantity": quantity}], "status": status,
           "ship_to": {"street": "1 Main St", "city": "Oslo", "note": null}})
}

#[test]
fn a_fastapi_apps_own_document_becomes_its_allowlist() {
    let app = app();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/openapi.json", app.addr);
    let upstream = app.addr.to_string();
    let out = import(&["--url", &url, "--upstream", &upstream], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(dir.path().join("rampart.yaml")).unwrap();
    assert!(
        config.contains("# Document: Shop (info.version 2.4.0, OpenAPI 3.1"),
        "{config}"
    );
    assert!(
        config.contains("parameter schemas not enforced: limit (query)"),
        "{config}"
    );
    assert!(config.contains("file fields: file"), "{config}");
    // `rampart check` takes it unchanged; a second run writes the same bytes.
    let check = Command::new(rampart_bin())
        .args(["check", "--config"])
        .arg(dir.path().join("rampart.yaml"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let first = files(dir.path());
    assert!(
        import(&["--url", &url, "--upstream", &upstream], dir.path())
            .status
            .success()
    );
    assert_eq!(files(dir.path()), first, "a second run changed the files");

    let p = serve(dir.path());
    let c = client();
    let reached = |resp: reqwest::blocking::Response| -> (u16, Value) {
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    };
    // Documented operations with valid bodies reach the app.
    let (s, body) = reached(
        c.post(p.url("/orders"))
            .json(&order(json!(2), "placed"))
            .send()
            .unwrap(),
    );
    assert_eq!((s, body["reached"].as_str()), (200, Some("order")));
    let (s, body) = reached(
        c.put(p.url("/orders/7"))
            .json(&order(json!(1), "draft"))
            .send()
            .unwrap(),
    );
    assert_eq!((s, body["reached"].as_str()), (200, Some("order 7")));
    assert_eq!(
        reached(c.get(p.url("/items/42")).send().unwrap()).1["reached"],
        "item 42"
    );
    assert_eq!(
        reached(c.get(p.url("/items/latest")).send().unwrap()).1["reached"],
        "latest"
    );
    assert_eq!(
        reached(c.get(p.url("/orders?limit=3")).send().unwrap()).1["reached"],
        "orders"
    );
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::bytes(b"hello".to_vec()).file_name("a.txt"),
    );
    let (s, body) = reached(c.post(p.url("/files")).multipart(form).send().unwrap());
    assert_eq!((s, body["reached"].as_str()), (200, Some("upload")));

    // Invalid bodies: 422 from Rampart, with the JSON pointer of what is wrong.
    for (bad, pointer) in [
        (order(json!(0), "placed"), "/lines/0/quantity"),
        (order(json!(1), "shipped"), "/status"),
        (
            json!({"lines": [], "ship_to": {"street": "x", "city": "y"}}),
            "/lines",
        ),
        (json!({"lines": [{"sku": "ABC-1", "quantity": 1}]}), ""),
    ] {
        let resp = c.post(p.url("/orders")).json(&bad).send().unwrap();
        assert_eq!(resp.status(), 422, "{bad}");
        let body: Value = resp.json().unwrap();
        assert_eq!(body["code"], "schema_violation");
        let pointers: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["pointer"].as_str())
            .collect();
        assert!(pointers.contains(&pointer), "{bad}: {pointers:?}");
    }
    // A wrong method 405, an undocumented endpoint 404: neither reaches the app.
    assert_eq!(c.delete(p.url("/orders")).send().unwrap().status(), 405);
    let hidden = c.get(p.url("/internal/debug")).send().unwrap();
    assert_eq!(hidden.status(), 404);
    assert_eq!(hidden.json::<Value>().unwrap()["code"], "not_found");
    assert_eq!(c.get(p.url("/docs")).send().unwrap().status(), 404);
}

#[test]
fn a_hand_written_3_0_document_with_nullable_and_ref_chains() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let doc = root().join("tests/fixtures/openapi/pets-3.0.yaml");
    let upstream = up.addr.to_string();
    let out = import(
        &["--file", doc.to_str().unwrap(), "--upstream", &upstream],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(dir.path().join("rampart.yaml")).unwrap();
    for note in [
        "security schemes (apiKey)",
        "extensions ignored: x-owner",
        "POST /pets: security requirements not enforced",
        "application/x-www-form-urlencoded body: only its content type is enforced",
    ] {
        assert!(config.contains(note), "missing note {note}:\n{config}");
    }
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("schemas/createPet.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(schema["$ref"], "#/$defs/Pet");
    assert_eq!(
        schema["$defs"]["Pet"]["properties"]["nickname"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(
        schema["$defs"]["Contact"]["type"],
        json!(["object", "null"])
    );

    let p = serve(dir.path());
    let c = client();
    let pet = |nickname: Value, age: u32, contact: Value| json!({"name": "Rex", "nickname": nickname, "age": age, "owner": {"contact": contact}});
    // The base path from `servers` is part of every route.
    let ok = c
        .post(p.url("/api/pets"))
        .json(&pet(Value::Null, 1, json!({"email": "a@b.c"})))
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        c.post(p.url("/api/pets"))
            .json(&pet(json!("R"), 1, Value::Null))
            .send()
            .unwrap()
            .status(),
        200
    );
    // exclusiveMinimum: true with minimum 0 refuses 0; a chained $ref is enforced.
    assert_eq!(
        c.post(p.url("/api/pets"))
            .json(&pet(Value::Null, 0, Value::Null))
            .send()
            .unwrap()
            .status(),
        422
    );
    let deep = c
        .post(p.url("/api/pets"))
        .json(&pet(Value::Null, 1, json!({"mail": 1})))
        .send()
        .unwrap();
    assert_eq!(deep.status(), 422);
    assert_eq!(
        c.post(p.url("/pets"))
            .json(&pet(Value::Null, 1, Value::Null))
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(c.get(p.url("/api/pets")).send().unwrap().status(), 200);
    assert_eq!(up.hits(), 3, "only the accepted requests reached the app");

    // Not an OpenAPI 3 document: a clear error, nothing written.
    let swagger = dir.path().join("swagger.json");
    std::fs::write(&swagger, r#"{"swagger": "2.0", "paths": {}}"#).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let refused = import(
        &["--file", swagger.to_str().unwrap(), "--upstream", &upstream],
        empty.path(),
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr)
        .contains("expected an OpenAPI 3.0 or 3.1 document, found Swagger 2.0"));
    assert!(!empty.path().join("rampart.yaml").exists());
}
