//! The OpenAPI document: generated from the code, served at `/openapi.json`, structurally
//! valid (every `$ref` resolves) and listing every endpoint.

use aftersale_server::ServerConfig;
use serde_json::Value;

use crate::common::{rules_dir, TestServer};

const ENDPOINTS: [(&str, &str); 10] = [
    ("get", "/v1/contracts"),
    ("get", "/v1/contracts/{id}"),
    ("get", "/v1/contracts/{id}/graph"),
    ("post", "/v1/contracts/{id}/evaluate"),
    ("post", "/v1/contracts/{id}/evaluate-batch"),
    ("post", "/v1/admin/reload"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_is_valid_and_lists_every_endpoint() {
    let server = TestServer::start(&rules_dir(), ServerConfig::default());
    let (status, doc) = server.get("/openapi.json");
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "aftersale");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        ENDPOINTS
            .iter()
            .map(|(_, p)| p)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        "{:?}",
        paths.keys()
    );
    for (method, path) in ENDPOINTS {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}: no success response"
        );
        assert!(operation["operationId"].is_string(), "{method} {path}");
        // Every path parameter of the template is declared.
        if path.contains("{id}") {
            let params = operation["parameters"].as_array().unwrap();
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == "id" && p["in"] == "path"),
                "{method} {path}"
            );
        }
        // Every served path answers with a route (never the router's 404 for "no such endpoint").
        if method == "get" {
            let concrete = path.replace("{id}", "car-warranty");
            let (code, _) = server.get_text(&concrete);
            assert_ne!(code, 404, "{concrete}");
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {r}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let evaluate = &doc["paths"]["/v1/contracts/{id}/evaluate"]["post"];
    for status in ["200", "400", "401", "404", "413", "422"] {
        assert!(
            evaluate["responses"][status].is_object(),
            "evaluate: no {status}"
        );
    }
    // The same document as the library generates.
    assert_eq!(
        doc,
        serde_json::to_value(aftersale_server::api::openapi()).unwrap()
    );
}
