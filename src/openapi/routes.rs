//! The document's paths as Rampart routes: one route per path for its operations without a
//! request body, and one per operation with a body (a route carries one schema and one set
//! of content types). Static paths come before templated ones, so `/items/latest` wins over
//! `/items/{id}`. Whatever a route cannot express is kept as a note on it.

use super::schema;
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    Exact(String),
    Regex(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoutePlan {
    pub name: String,
    pub matcher: Matcher,
    pub methods: Vec<String>,
    pub content_types: Option<Vec<String>>,
    /// (file name under schemas/, the standalone schema).
    pub schema: Option<(String, Value)>,
    /// What this route does not enforce, one line each (written as comments).
    pub notes: Vec<String>,
}

/// The routes of `doc`, static paths first; names and schema files unique.
pub fn plan(doc: &Value) -> Vec<RoutePlan> {
    let openapi30 = doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.0"));
    let base = base_path(&doc["servers"]);
    let mut static_routes = Vec::new();
    let mut templated = Vec::new();
    let mut names = Names::default();
    let mut files = Names::default();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let path_base =
            base_path(&item["servers"]).unwrap_or_else(|| base.clone().unwrap_or_default());
        // Operations without a body, grouped by their base path (an operation's own
        // `servers` may differ from its path's).
        let mut plain: Vec<(String, Vec<String>)> = Vec::new();
        let mut notes = Vec::new();
        let mut routes = Vec::new();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let upper = method.to_ascii_uppercase();
            let op_base = base_path(&op["servers"]).unwrap_or_else(|| path_base.clone());
            let label = format!("{upper} {path}");
            notes.extend(operation_notes(&label, item, op));
            notes.extend(extension_note(doc, &label, item, op));
            let body = resolve(doc, &op["requestBody"]);
            let content = body["content"].as_object();
            match content.filter(|c| !c.is_empty()) {
                None => match plain.iter_mut().find(|(b, _)| *b == op_base) {
                    Some((_, methods)) => methods.push(upper),
                    None => plain.push((op_base, vec![upper])),
                },
                Some(content) => {
                    let id = op["operationId"]
                        .as_str()
                        .map_or_else(|| format!("{method}_{path}"), str::to_string);
                    let mut route = RoutePlan {
                        name: names.unique(&slug(&id)),
                        matcher: matcher(&op_base, path),
                        methods: vec![upper],
                        content_types: Some(content.keys().cloned().collect()),
                        schema: None,
                        notes: Vec::new(),
                    };
                    body_rules(doc, openapi30, &label, &id, body, &mut route, &mut files);
                    routes.push(route);
                }
            }
        }
        for (i, (op_base, methods)) in plain.into_iter().enumerate() {
            let route = RoutePlan {
                name: names.unique(&slug(path)),
                matcher: matcher(&op_base, path),
                methods,
                content_types: None,
                schema: None,
                notes: Vec::new(),
            };
            routes.insert(i, route);
        }
        if let Some(first) = routes.first_mut() {
            first.notes.splice(0..0, notes);
        }
        if path.contains('{') {
            templated.extend(routes);
        } else {
            static_routes.extend(routes);
        }
    }
    static_routes.extend(templated);
    static_routes
}

/// The JSON body's schema (required bodies only: an absent body fails a schema), the
/// multipart fields to sniff, the other types as notes.
fn body_rules(
    doc: &Value,
    openapi30: bool,
    label: &str,
    id: &str,
    body: &Value,
    route: &mut RoutePlan,
    files: &mut Names,
) {
    let required = body["required"].as_bool().unwrap_or(false);
    for (ctype, media) in body["content"].as_object().into_iter().flatten() {
        let media_schema = resolve(doc, &media["schema"]);
        if ctype == "application/json" || ctype.ends_with("+json") {
            if !required {
                route.notes.push(format!("{label}: the JSON body is optional, so it is not validated (a schema refuses an absent body)"));
                continue;
            }
            match schema::standalone(doc, &media["schema"], openapi30) {
                Ok(s) => route.schema = Some((format!("{}.json", files.unique(&slug(id))), s)),
                Err(e) => route
                    .notes
                    .push(format!("{label}: body schema not enforced: {e}")),
            }
        } else if ctype == "multipart/form-data" {
            let fields: Vec<String> = media_schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, p)| {
                    p["format"] == "binary"
                        || p["items"]["format"] == "binary"
                        || p["contentMediaType"].is_string()
                })
                .map(|(name, _)| name.clone())
                .collect();
            route.notes.push(format!("{label}: multipart upload, file fields: {}; to sniff them, add  uploads: {{ allow: [pdf, png, …] }}", if fields.is_empty() { "none declared".to_string() } else { fields.join(", ") }));
        } else {
            route.notes.push(format!(
                "{label}: {ctype} body: only its content type is enforced"
            ));
        }
    }
}

/// What an operation declares that no route rule enforces.
/// The `x-` extensions an operation carries — on its path item, on itself, and anywhere in
/// what it holds (parameters, body, responses, the schemas they reference): none is
/// enforced, and each is named rather than silently dropped (SPEC §1 `import-openapi`).
fn extension_note(doc: &Value, label: &str, item: &Value, op: &Value) -> Option<String> {
    let mut found = std::collections::BTreeSet::new();
    let mut seen = std::collections::BTreeSet::new();
    for key in item.as_object().into_iter().flatten().map(|(k, _)| k) {
        if key.starts_with("x-") {
            found.insert(key.clone());
        }
    }
    extensions(doc, op, &mut seen, &mut found);
    (!found.is_empty()).then(|| {
        let names: Vec<&str> = found.iter().map(String::as_str).collect();
        format!("{label}: extensions ignored: {}", names.join(", "))
    })
}

/// Every `x-` key under `v`, following local `$ref`s (each once: cycles end).
fn extensions(
    doc: &Value,
    v: &Value,
    seen: &mut std::collections::BTreeSet<String>,
    found: &mut std::collections::BTreeSet<String>,
) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                if k.starts_with("x-") {
                    found.insert(k.clone());
                } else if k == "$ref" {
                    let Some(target) = val.as_str() else { continue };
                    if seen.insert(target.to_string()) {
                        if let Some(resolved) =
                            target.strip_prefix('#').and_then(|p| doc.pointer(p))
                        {
                            extensions(doc, resolved, seen, found);
                        }
                    }
                } else {
                    extensions(doc, val, seen, found);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                extensions(doc, item, seen, found);
            }
        }
        _ => {}
    }
}

fn operation_notes(label: &str, item: &Value, op: &Value) -> Vec<String> {
    let mut notes = Vec::new();
    let params: Vec<String> = item["parameters"]
        .as_array()
        .into_iter()
        .chain(op["parameters"].as_array())
        .flatten()
        .filter_map(|p| Some(format!("{} ({})", p["name"].as_str()?, p["in"].as_str()?)))
        .collect();
    if !params.is_empty() {
        notes.push(format!(
            "{label}: parameter schemas not enforced: {}",
            params.join(", ")
        ));
    }
    if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
        notes.push(format!(
            "{label}: security requirements not enforced (authentication stays in the app)"
        ));
    }
    if op["callbacks"].is_object() {
        notes.push(format!(
            "{label}: callbacks not applicable (requests the app makes)"
        ));
    }
    notes
}

/// A `$ref` to `components/requestBodies` (or the value itself).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/"))
    {
        Some(rest) => rest
            .split('/')
            .fold(&doc["components"], |node, part| &node[part]),
        None => v,
    }
}

/// The path part of `servers[0].url` (its variables at their defaults), without a trailing
/// slash; None when there are no servers.
fn base_path(servers: &Value) -> Option<String> {
    let server = servers.as_array()?.first()?;
    let mut url = server["url"].as_str()?.to_string();
    for (name, var) in server["variables"].as_object().into_iter().flatten() {
        if let Some(default) = var["default"].as_str() {
            url = url.replace(&format!("{{{name}}}"), default);
        }
    }
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |at| &rest[at..]).to_string(),
        None => url,
    };
    Some(path.trim_end_matches('/').to_string())
}

/// `/items/{id}` -> a regex of one segment per template; a static path -> exact.
fn matcher(base: &str, path: &str) -> Matcher {
    let full = format!("{base}{path}");
    if !full.contains('{') {
        return Matcher::Exact(full);
    }
    let mut regex = String::from("^");
    let mut rest = full.as_str();
    while let Some(open) = rest.find('{') {
        regex.push_str(&regex::escape(&rest[..open]));
        regex.push_str("[^/]+");
        rest = rest[open..]
            .find('}')
            .map_or("", |close| &rest[open + close + 1..]);
    }
    regex.push_str(&regex::escape(rest));
    regex.push('$');
    Matcher::Regex(regex)
}

/// A route or file name: `[A-Za-z0-9_.-]`, 1-60 characters.
fn slug(text: &str) -> String {
    let s: String = text
        .trim_matches('/')
        .replace('/', ".")
        .chars()
        .filter(|c| *c != '{' && *c != '}')
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('.');
    let s = if s.is_empty() { "root" } else { s };
    s.chars().take(60).collect()
}

#[derive(Default)]
struct Names(BTreeSet<String>);

impl Names {
    /// `base`, or `base-2`, `base-3`… when taken.
    fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 2;
        while !self.0.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
