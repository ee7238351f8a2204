//! Tokens, roles and tenants: 401 without a known token, 403 for a role that may not, 404
//! for another tenant's contract (its existence does not leak).

use std::net::SocketAddr;
use std::path::Path;

use aftersale_server::{hash_token, ServeOptions, Server, ServerConfig, StartError};
use serde_json::json;

use crate::common::{car_claim, copy_bundle, TestServer};

fn tenants() -> (tempfile::TempDir, ServerConfig) {
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(
        "car-warranty",
        &dir.path().join("acme/car-warranty"),
        "2026.1",
        None,
        None,
    );
    copy_bundle(
        "eu-legal-guarantee",
        &dir.path().join("globex/contracts/eu-legal-guarantee"),
        "1",
        None,
        None,
    );
    let token = |name: &str, secret: &str, role: &str, tenant: &str| {
        format!(
            "[[tokens]]\nname = \"{name}\"\nsha256 = \"{}\"\nrole = \"{role}\"\ntenant = \"{tenant}\"\n",
            hash_token(secret)
        )
    };
    let text = [
        token("acme-app", "acme-secret", "evaluate", "acme"),
        token("acme-ops", "acme-admin-secret", "admin", "acme"),
        token("globex-app", "globex-secret", "evaluate", "globex"),
        token("operator", "operator-secret", "admin", "*"),
    ]
    .concat();
    let config = ServerConfig::parse(Path::new("server.toml"), &text).unwrap();
    (dir, config)
}

#[test]
fn tokens_roles_and_tenants() {
    let (dir, config) = tenants();
    let mut server = TestServer::start(dir.path(), config);
    let evaluate = |server: &TestServer, id: &str| {
        server.post(
            &format!("/v1/contracts/{id}/evaluate"),
            &json!({"facts": car_claim(), "as_of": "2026-03-01"}),
        )
    };

    // Missing or unknown token: 401, before anything else is looked at.
    for token in [None, Some("nope")] {
        server.with_token(token);
        let (status, body) = server.get("/v1/contracts");
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{token:?}"
        );
        let (status, _) = evaluate(&server, "car-warranty");
        assert_eq!(status, 401);
        let (status, _) = server.post("/v1/admin/reload", &json!({}));
        assert_eq!(status, 401);
    }
    let response = server
        .client
        .get(format!("{}/v1/contracts", server.base))
        .send()
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let response = server
        .client
        .get(format!("{}/v1/contracts", server.base))
        .header("authorization", "Basic YWNtZTpzZWNyZXQ=")
        .send()
        .unwrap();
    assert_eq!(response.status(), 401);
    // Health needs no token.
    let (status, _) = server.get("/healthz");
    assert_eq!(status, 200);

    // A tenant sees its own contracts only; another's is 404, exactly as a missing one.
    server.with_token(Some("acme-secret"));
    let (status, list) = server.get("/v1/contracts");
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], "car-warranty");
    let (status, decision) = evaluate(&server, "car-warranty");
    assert_eq!(status, 200, "{decision}");
    let (status, other) = server.get("/v1/contracts/eu-legal-guarantee");
    let (_, missing) = server.get("/v1/contracts/no-such-contract");
    assert_eq!(status, 404);
    assert_eq!(other["error"]["code"], missing["error"]["code"]);
    let (status, _) = evaluate(&server, "eu-legal-guarantee");
    assert_eq!(status, 404);
    let (status, _) = server.get_text("/v1/contracts/eu-legal-guarantee/graph");
    assert_eq!(status, 404);

    // The evaluate role may not administer.
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = server.get_text("/metrics");
    assert_eq!(status, 403);

    server.with_token(Some("globex-secret"));
    let (status, list) = server.get("/v1/contracts");
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], "eu-legal-guarantee");
    let (status, _) = server.get("/v1/contracts/car-warranty");
    assert_eq!(status, 404);

    // Admin: reload and metrics; the all-tenants operator token administers only.
    server.with_token(Some("acme-admin-secret"));
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, 200, "{body}");
    // A tenant's admin hears of its own tenant only.
    assert_eq!(body["versions"], 1);
    let (status, _) = server.get_text("/metrics");
    assert_eq!(status, 200);
    let (status, _) = evaluate(&server, "car-warranty");
    assert_eq!(status, 200);
    server.with_token(Some("operator-secret"));
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, 200);
    assert_eq!(body["versions"], 2);
    let (status, _) = server.get("/v1/contracts");
    assert_eq!(status, 403);
}

#[test]
fn without_a_config_file_only_loopback_is_allowed() {
    let (dir, _) = tenants();
    let addr: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let error = Server::start(ServeOptions {
        rules: dir.path().to_path_buf(),
        addr,
        config: ServerConfig::default(),
        watch: false,
        workers: Some(1),
    })
    .unwrap_err();
    assert!(matches!(error, StartError::LoopbackOnly { .. }), "{error}");
    assert!(error.to_string().contains("loopback only"), "{error}");
}
