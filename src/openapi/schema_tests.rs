use super::*;
use serde_json::json;

fn validator(schema: &Value) -> jsonschema::Validator {
    crate::config::schema_file::compile(schema).unwrap()
}

#[test]
fn refs_chains_and_cycles_resolve_into_defs() {
    let doc = json!({"components": {"schemas": {
        "Order": {"type": "object", "required": ["lines"], "properties": {
            "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
            "parent": {"$ref": "#/components/schemas/Order"}}},
        "Line": {"type": "object", "required": ["sku"], "properties": {
            "sku": {"$ref": "#/components/schemas/Sku"}}},
        "Sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
        "Unused": {"type": "integer"}
    }}});
    let s = standalone(&doc, &json!({"$ref": "#/components/schemas/Order"}), false).unwrap();
    assert_eq!(s["$schema"], DIALECT);
    let defs: Vec<&String> = s["$defs"].as_object().unwrap().keys().collect();
    assert_eq!(defs, ["Line", "Order", "Sku"], "sorted, unused left out");
    assert_eq!(
        s["$defs"]["Line"]["properties"]["sku"]["$ref"],
        "#/$defs/Sku"
    );
    let v = validator(&s);
    assert!(v.is_valid(&json!({"lines": [{"sku": "ABC-1"}], "parent": {"lines": []}})));
    assert!(!v.is_valid(&json!({"lines": [{"sku": "abc"}]})));
    let missing = standalone(&doc, &json!({"$ref": "#/components/schemas/Nope"}), false);
    assert!(missing.unwrap_err().contains("missing schema"));
    let outside = standalone(&doc, &json!({"$ref": "other.yaml#/X"}), false);
    assert!(outside.unwrap_err().contains("outside components/schemas"));
}

#[test]
fn openapi_3_0_idioms_are_translated() {
    let doc = json!({"components": {"schemas": {"Tag": {"type": "string", "enum": ["a", "b"], "nullable": true}}}});
    let schema = json!({"type": "object", "properties": {
        "note": {"type": "string", "nullable": true, "example": "hi", "x-internal": true},
        "qty": {"type": "integer", "minimum": 0, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": false},
        "tag": {"$ref": "#/components/schemas/Tag"},
        "any": {"nullable": true, "allOf": [{"type": "string"}]},
        "pet": {"discriminator": {"propertyName": "kind"}, "type": "object"}
    }});
    let s = standalone(&doc, &schema, true).unwrap();
    let p = &s["properties"];
    assert_eq!(
        p["note"],
        json!({"type": ["string", "null"], "examples": ["hi"]})
    );
    assert_eq!(
        p["qty"],
        json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 9})
    );
    assert_eq!(s["$defs"]["Tag"]["enum"], json!(["a", "b", null]));
    assert_eq!(p["pet"], json!({"type": "object"}));
    let v = validator(&s);
    assert!(v.is_valid(&json!({"note": null, "qty": 1, "tag": null, "any": null})));
    assert!(!v.is_valid(&json!({"qty": 0})));
    assert!(!v.is_valid(&json!({"tag": "c"})));
    assert!(!v.is_valid(&json!({"any": 3})));
    // 3.1 documents are JSON Schema already: `nullable` means nothing there.
    let s31 = standalone(&doc, &json!({"type": "string", "nullable": true}), false).unwrap();
    assert_eq!(s31["type"], "string");
}
