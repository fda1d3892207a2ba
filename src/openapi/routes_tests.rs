use super::*;
use serde_json::json;

#[test]
fn paths_become_ordered_routes_split_by_body() {
    let doc = json!({
        "openapi": "3.0.3",
        "servers": [{"url": "https://api.example.com/{ver}", "variables": {"ver": {"default": "v1"}}}],
        "paths": {
            "/items/{item_id}": {
                "parameters": [{"name": "item_id", "in": "path"}],
                "get": {"operationId": "read_item"},
                "put": {"operationId": "update_item", "requestBody": {"required": true,
                    "content": {"application/json": {"schema": {"type": "object"}}}}}
            },
            "/items": {
                "get": {"operationId": "list_items", "security": [{"key": []}]},
                "post": {"operationId": "create item!", "requestBody": {"$ref": "#/components/requestBodies/Item"}}
            },
            "/files/{name}.{ext}": {"post": {"requestBody": {"content": {"multipart/form-data": {"schema": {
                "properties": {"upload": {"type": "string", "format": "binary"}, "note": {"type": "string"}}}}}}}},
            "/items/latest": {"get": {}, "delete": {"servers": [{"url": "/internal"}]}}
        },
        "components": {"requestBodies": {"Item": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}}}}
    });
    let routes = plan(&doc);
    let shape: Vec<(&str, &Matcher, Vec<&str>)> = routes
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                &r.matcher,
                r.methods.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("items", &Matcher::Exact("/v1/items".into()), vec!["GET"]),
            (
                "create_item_",
                &Matcher::Exact("/v1/items".into()),
                vec!["POST"]
            ),
            (
                "items.latest",
                &Matcher::Exact("/v1/items/latest".into()),
                vec!["GET"]
            ),
            (
                "items.latest-2",
                &Matcher::Exact("/internal/items/latest".into()),
                vec!["DELETE"]
            ),
            (
                "items.item_id",
                &Matcher::Regex("^/v1/items/[^/]+$".into()),
                vec!["GET"]
            ),
            (
                "update_item",
                &Matcher::Regex("^/v1/items/[^/]+$".into()),
                vec!["PUT"]
            ),
            (
                "post_.files.name.ext",
                &Matcher::Regex("^/v1/files/[^/]+\\.[^/]+$".into()),
                vec!["POST"]
            ),
        ]
    );
    assert_eq!(routes[1].schema.as_ref().unwrap().0, "create_item_.json");
    assert!(routes[0].notes[0].contains("security requirements"));
    assert!(routes[4].notes[0].contains("item_id (path)"));
    let upload = &routes[6];
    assert_eq!(
        upload.content_types.as_deref(),
        Some(&["multipart/form-data".to_string()][..])
    );
    assert!(
        upload.notes[0].contains("file fields: upload;"),
        "{:?}",
        upload.notes
    );
    let re = regex::Regex::new(match &routes[4].matcher {
        Matcher::Regex(r) => r,
        _ => "",
    })
    .unwrap();
    assert!(
        re.is_match("/v1/items/42") && !re.is_match("/v1/items/42/x") && !re.is_match("/v1/items/")
    );
}

#[test]
fn optional_and_unresolvable_bodies_are_notes_not_schemas() {
    let doc = json!({"openapi": "3.1.0", "paths": {"/a": {
        "post": {"operationId": "a", "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}},
        "put": {"operationId": "b", "requestBody": {"required": true, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Gone"}},
            "application/x-www-form-urlencoded": {}}}}
    }}});
    let routes = plan(&doc);
    assert!(routes.iter().all(|r| r.schema.is_none()));
    let notes: Vec<&String> = routes.iter().flat_map(|r| &r.notes).collect();
    assert!(notes.iter().any(|n| n.contains("optional")));
    assert!(notes.iter().any(|n| n.contains("missing schema")));
    assert!(notes
        .iter()
        .any(|n| n.contains("x-www-form-urlencoded body: only its content type")));
}

/// `x-` extensions below the document root are named, never silently dropped (0.2 listed
/// only the root's).
#[test]
fn extensions_below_the_root_are_listed() {
    let doc = json!({"openapi": "3.1.0",
        "components": {"schemas": {"Order": {"type": "object", "x-internal": true,
            "properties": {"next": {"$ref": "#/components/schemas/Order"}}}}},
        "paths": {"/orders": {"x-owner": "shop",
            "post": {"operationId": "order", "x-rate-tier": "gold",
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Order"}}}}},
            "get": {"operationId": "list"}}}});
    let notes: Vec<String> = plan(&doc).into_iter().flat_map(|r| r.notes).collect();
    assert!(
        notes
            .iter()
            .any(|n| n == "POST /orders: extensions ignored: x-internal, x-owner, x-rate-tier"),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n == "GET /orders: extensions ignored: x-owner"),
        "{notes:?}"
    );
}
