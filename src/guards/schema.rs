//! JSON bodies checked against the route's JSON Schema (draft 2020-12), compiled at load.

use crate::reject::{Code, Reject, SchemaError};

/// At most this many errors are listed in a 422 (the rest are counted in `detail`).
const MAX_LISTED_ERRORS: usize = 20;

pub use crate::config::schema_file::{compile, load};

/// 400 when the body is not JSON, 422 with each error's pointer and message when it does not
/// match the schema.
pub fn check_json(validator: &jsonschema::Validator, body: &[u8]) -> Result<(), Reject> {
    let instance: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Reject::new(
            Code::BadRequest,
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    let mut errors = Vec::new();
    let mut total = 0usize;
    for e in validator.iter_errors(&instance) {
        total += 1;
        if errors.len() < MAX_LISTED_ERRORS {
            errors.push(SchemaError {
                pointer: e.instance_path().to_string(),
                message: e.to_string(),
            });
        }
    }
    if total == 0 {
        return Ok(());
    }
    Err(Reject::new(
        Code::SchemaViolation,
        format!("request body does not match the schema ({total} errors)"),
    )
    .with_schema_errors(errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_invalid_and_malformed_bodies() {
        let v = compile(&serde_json::json!({
            "type": "object", "required": ["entry"],
            "properties": {"entry": {"type": "array", "items": {"type": "string"}}},
            "additionalProperties": false
        }))
        .unwrap();
        assert!(check_json(&v, br#"{"entry": ["a"]}"#).is_ok());
        let r = check_json(&v, br#"{"entry": [1, "b", 2]}"#).unwrap_err();
        assert_eq!((r.code, r.status), (Code::SchemaViolation, 422));
        let body: serde_json::Value = serde_json::from_slice(&r.body("i")).unwrap();
        let pointers: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        assert_eq!(pointers, vec!["/entry/0", "/entry/2"]);
        let r = check_json(&v, b"{not json").unwrap_err();
        assert_eq!((r.code, r.status), (Code::BadRequest, 400));
    }

    #[test]
    fn invalid_schemas_do_not_compile() {
        assert!(compile(&serde_json::json!({"type": "no-such-type"})).is_err());
    }

    #[test]
    fn at_most_twenty_errors_are_listed() {
        let v =
            compile(&serde_json::json!({"type": "array", "items": {"type": "string"}})).unwrap();
        let many = serde_json::to_vec(&(0..30).collect::<Vec<i32>>()).unwrap();
        let r = check_json(&v, &many).unwrap_err();
        let body: serde_json::Value = serde_json::from_slice(&r.body("i")).unwrap();
        assert_eq!(body["errors"].as_array().unwrap().len(), MAX_LISTED_ERRORS);
    }
}
