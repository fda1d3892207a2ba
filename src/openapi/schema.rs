//! An OpenAPI Schema Object made into a standalone JSON Schema (draft 2020-12), the dialect
//! Rampart validates bodies with: every `$ref` into `components/schemas` resolved into
//! `$defs` (transitively, cycles included), and OpenAPI 3.0's own idioms translated —
//! `nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`, `example`. OpenAPI-only
//! annotations (`discriminator`, `xml`, `externalDocs`, `x-…`) are dropped: they constrain
//! nothing.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";
const COMPONENT: &str = "#/components/schemas/";

/// Keywords whose value is one schema.
const ONE: [&str; 11] = [
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
];
/// Keywords whose value is a map of schemas.
const MAP: [&str; 5] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
/// Keywords whose value is a list of schemas.
const LIST: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
/// OpenAPI annotations with no meaning for validation.
const DROPPED: [&str; 3] = ["discriminator", "xml", "externalDocs"];

/// The standalone schema of `schema`, a Schema Object of the document `doc`.
pub fn standalone(doc: &Value, schema: &Value, openapi30: bool) -> Result<Value, String> {
    let mut pending = Vec::new();
    let root = translate(schema, openapi30, &mut pending)?;
    let mut defs: BTreeMap<String, Value> = BTreeMap::new();
    while let Some(name) = pending.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        let target = doc["components"]["schemas"]
            .get(&name)
            .ok_or_else(|| format!("$ref to a missing schema: {COMPONENT}{name}"))?;
        // Placeholder first: a schema that refers to itself is resolved once.
        defs.insert(name.clone(), Value::Null);
        let translated = translate(target, openapi30, &mut pending)?;
        defs.insert(name, translated);
    }
    let mut out = Map::new();
    out.insert("$schema".into(), Value::String(DIALECT.into()));
    match root {
        Value::Object(m) => out.extend(m),
        Value::Bool(false) => {
            out.insert("not".into(), Value::Object(Map::new()));
        }
        _ => {}
    }
    if !defs.is_empty() {
        out.insert("$defs".into(), Value::Object(defs.into_iter().collect()));
    }
    Ok(Value::Object(out))
}

fn translate(v: &Value, openapi30: bool, pending: &mut Vec<String>) -> Result<Value, String> {
    let Value::Object(m) = v else {
        return Ok(v.clone());
    };
    let mut out = Map::new();
    for (k, val) in m {
        let key = k.as_str();
        if key == "$ref" {
            out.insert(k.clone(), Value::String(reference(val, pending)?));
        } else if DROPPED.contains(&key)
            || key.starts_with("x-")
            || (openapi30 && key == "nullable")
        {
            // Dropped: annotations, or 3.0's `nullable`, applied below.
        } else if openapi30 && key == "example" {
            out.insert("examples".into(), Value::Array(vec![val.clone()]));
        } else if ONE.contains(&key) && val.is_object() {
            out.insert(k.clone(), translate(val, openapi30, pending)?);
        } else if MAP.contains(&key) {
            let mut map = Map::new();
            for (name, s) in val.as_object().into_iter().flatten() {
                map.insert(name.clone(), translate(s, openapi30, pending)?);
            }
            out.insert(k.clone(), Value::Object(map));
        } else if LIST.contains(&key) {
            let mut list = Vec::new();
            for s in val.as_array().into_iter().flatten() {
                list.push(translate(s, openapi30, pending)?);
            }
            out.insert(k.clone(), Value::Array(list));
        } else {
            out.insert(k.clone(), val.clone());
        }
    }
    if openapi30 {
        exclusive_bound(&mut out, "minimum", "exclusiveMinimum");
        exclusive_bound(&mut out, "maximum", "exclusiveMaximum");
        if m.get("nullable") == Some(&Value::Bool(true)) {
            return Ok(nullable(out));
        }
    }
    Ok(Value::Object(out))
}

/// `#/components/schemas/Name` -> `#/$defs/Name`, remembering Name to resolve.
fn reference(val: &Value, pending: &mut Vec<String>) -> Result<String, String> {
    let target = val.as_str().ok_or("a $ref that is not a string")?;
    let escaped = target
        .strip_prefix(COMPONENT)
        .ok_or_else(|| format!("$ref outside components/schemas: {target}"))?;
    let name = escaped.replace("~1", "/").replace("~0", "~");
    pending.push(name);
    Ok(format!("#/$defs/{escaped}"))
}

/// 3.0: `exclusiveMinimum: true` qualifies `minimum`; 2020-12 carries the bound itself.
fn exclusive_bound(out: &mut Map<String, Value>, bound: &str, exclusive: &str) {
    match out.get(exclusive) {
        Some(Value::Bool(true)) => match out.remove(bound) {
            Some(value) => {
                out.insert(exclusive.into(), value);
            }
            None => {
                out.remove(exclusive);
            }
        },
        Some(Value::Bool(false)) => {
            out.remove(exclusive);
        }
        _ => {}
    }
}

/// 3.0 `nullable: true`: null is allowed too.
fn nullable(mut out: Map<String, Value>) -> Value {
    if let Some(Value::Array(values)) = out.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
    match out.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            out.insert(
                "type".into(),
                Value::Array(vec![Value::String(t), Value::String("null".into())]),
            );
            Value::Object(out)
        }
        Some(Value::Array(types)) => {
            let null = Value::String("null".into());
            if !types.contains(&null) {
                types.push(null);
            }
            Value::Object(out)
        }
        _ => serde_json::json!({"anyOf": [Value::Object(out), {"type": "null"}]}),
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
