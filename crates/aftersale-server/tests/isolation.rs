//! Tenants stay apart everywhere (issue 13, item 4): a tenant's admin sees only its tenant
//! in `/metrics` and in reload reports; one tenant's broken bundle does not hold back the
//! others' reloads, nor their start; a symbolic link out of a tenant's folder is that
//! tenant's catalog problem, never a way to serve another tenant's contract.

use std::path::Path;

use aftersale_core::Engine;
use aftersale_server::{load_tenants, Layout, ServerConfig};
use serde_json::json;

use crate::common::{car_claim, copy_bundle, set_version, tokens_toml, TestServer};

const TOKENS: [(&str, &str, &str, &str); 5] = [
    ("acme-app", "acme-secret", "evaluate", "acme"),
    ("acme-ops", "acme-admin-secret", "admin", "acme"),
    ("globex-app", "globex-secret", "evaluate", "globex"),
    ("globex-ops", "globex-admin-secret", "admin", "globex"),
    ("operator", "operator-secret", "admin", "*"),
];

/// `acme` with `car-warranty`, `globex` with `eu-legal-guarantee`.
fn two_tenants(dir: &Path) -> ServerConfig {
    copy_bundle(
        "car-warranty",
        &dir.join("acme/car-warranty"),
        "2026.1",
        None,
        None,
    );
    copy_bundle(
        "eu-legal-guarantee",
        &dir.join("globex/contracts/eu-legal-guarantee"),
        "1",
        None,
        None,
    );
    ServerConfig::parse(Path::new("server.toml"), &tokens_toml(&TOKENS)).unwrap()
}

/// Breaks a bundle: a syntax error in one of its terms.
fn break_bundle(bundle: &Path) {
    let term = std::fs::read_dir(bundle.join("terms"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&term).unwrap();
    std::fs::write(&term, format!("{text}\nlet = ;\n")).unwrap();
}

fn version_of(
    server: &TestServer,
    id: &str,
    facts: serde_json::Value,
    as_of: &str,
) -> (u16, String) {
    let (status, body) = server.post(
        &format!("/v1/contracts/{id}/evaluate"),
        &json!({"facts": facts, "as_of": as_of}),
    );
    (
        status,
        body["version"].as_str().unwrap_or_default().to_string(),
    )
}

fn eu_claim() -> serde_json::Value {
    crate::common::example_facts("eu-legal-guarantee")
}

#[test]
fn a_tenant_admin_sees_only_its_tenant_in_metrics_and_reload_reports() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_tenants(dir.path());
    let mut server = TestServer::start(dir.path(), config);
    // An evaluation error for each tenant.
    server.with_token(Some("acme-secret"));
    let (status, _) = server.post(
        "/v1/contracts/car-warranty/evaluate",
        &json!({"facts": [1], "as_of": "2026-03-01"}),
    );
    assert_eq!(status, 400);
    server.with_token(Some("globex-secret"));
    let (status, _) = server.post(
        "/v1/contracts/eu-legal-guarantee/evaluate",
        &json!({"facts": [1], "as_of": "2026-03-01"}),
    );
    assert_eq!(status, 400);

    server.with_token(Some("acme-admin-secret"));
    let (status, metrics) = server.get_text("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("aftersale_contract_version_loaded{tenant=\"acme\",contract=\"car-warranty\",version=\"2026.1\"} 1"),
        "{metrics}"
    );
    for other in [
        "globex",
        "eu-legal-guarantee",
        "aftersale_http_requests_total",
    ] {
        assert!(
            !metrics.contains(other),
            "`{other}` in acme's metrics:\n{metrics}"
        );
    }
    server.with_token(Some("operator-secret"));
    let (_, metrics) = server.get_text("/metrics");
    for both in [
        "tenant=\"acme\"",
        "tenant=\"globex\"",
        "aftersale_http_requests_total",
    ] {
        assert!(
            metrics.contains(both),
            "`{both}` not in the operator's metrics:\n{metrics}"
        );
    }

    // globex breaks its bundle; acme changes its version. acme's reload is not held back
    // and names nothing of globex.
    break_bundle(&dir.path().join("globex/contracts/eu-legal-guarantee"));
    set_version(&dir.path().join("acme/car-warranty"), "2026.2", None, None);
    server.with_token(Some("acme-admin-secret"));
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["versions"], 1, "{body}");
    let text = body.to_string();
    assert!(
        !text.contains("globex") && !text.contains("eu-legal"),
        "{text}"
    );
    server.with_token(Some("acme-secret"));
    assert_eq!(
        version_of(&server, "car-warranty", car_claim(), "2026-03-01"),
        (200, "2026.2".into())
    );

    // globex's admin hears of its own problem; its previous version keeps serving.
    server.with_token(Some("globex-admin-secret"));
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "reload_failed");
    let text = body.to_string();
    assert!(text.contains("eu-legal-guarantee"), "{text}");
    assert!(
        !text.contains("acme") && !text.contains("car-warranty"),
        "{text}"
    );
    server.with_token(Some("globex-secret"));
    assert_eq!(
        version_of(&server, "eu-legal-guarantee", eu_claim(), "2025-02-01"),
        (200, "1".into())
    );

    // The operator sees both: the failure, and that acme was swapped in.
    server.with_token(Some("operator-secret"));
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("swapped in: `acme`"),
        "{body}"
    );
    let (_, ready) = server.get("/readyz");
    assert_eq!(ready["failing_tenants"], json!(["globex"]), "{ready}");
    // Without a token: how many, not which.
    server.with_token(None);
    let (_, ready) = server.get("/readyz");
    assert_eq!(ready["failing_tenant_count"], 1, "{ready}");
    assert_eq!(ready["failing_tenants"], json!([]), "{ready}");
    server.with_token(Some("acme-admin-secret"));
    let (_, ready) = server.get("/readyz");
    assert_eq!(ready["failing_tenants"], json!([]), "{ready}");
}

#[test]
fn at_start_up_a_broken_tenant_is_refused_and_shown_while_the_others_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_tenants(dir.path());
    break_bundle(&dir.path().join("globex/contracts/eu-legal-guarantee"));
    let mut server = TestServer::start(dir.path(), config);
    server.with_token(Some("acme-secret"));
    assert_eq!(
        version_of(&server, "car-warranty", car_claim(), "2026-03-01"),
        (200, "2026.1".into())
    );
    server.with_token(Some("globex-secret"));
    let (status, body) = server.get("/v1/contracts/eu-legal-guarantee");
    assert_eq!(status, 404, "{body}");
    server.with_token(Some("operator-secret"));
    let (status, ready) = server.get("/readyz");
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["failing_tenants"], json!(["globex"]), "{ready}");
    server.wait_for_metric("aftersale_tenant_failing{tenant=\"globex\"} 1");
    server.with_token(Some("globex-admin-secret"));
    let (_, metrics) = server.get_text("/metrics");
    assert!(
        metrics.contains("aftersale_tenant_failing{tenant=\"globex\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("acme"), "{metrics}");
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_a_tenant_folder_is_that_tenants_catalog_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_tenants(dir.path());
    // acme links to globex's contract; initech's whole folder is a link into globex's.
    std::os::unix::fs::symlink(
        dir.path().join("globex/contracts/eu-legal-guarantee"),
        dir.path().join("acme/stolen"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("globex/contracts"),
        dir.path().join("initech"),
    )
    .unwrap();
    // A link that stays inside the tenant's folder is followed.
    std::os::unix::fs::symlink(
        dir.path().join("globex/contracts"),
        dir.path().join("globex/also"),
    )
    .unwrap();

    let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
    let loads = load_tenants(&engine, dir.path(), Layout::Tenants).unwrap();
    let acme = loads["acme"].as_ref().unwrap_err();
    assert_eq!(acme.len(), 1, "{acme:?}");
    assert!(
        acme[0]
            .message
            .contains("symbolic link to a folder outside tenant `acme`'s folder"),
        "{acme:?}"
    );
    assert!(!acme[0].message.contains("globex"), "{acme:?}");
    let initech = loads["initech"].as_ref().unwrap_err();
    assert!(
        initech[0]
            .message
            .contains("symbolic link into another tenant's folder"),
        "{initech:?}"
    );
    // globex's own link is inside its folder, so its contract is found twice: a version
    // conflict, not a link problem.
    let globex = loads["globex"].as_ref().unwrap_err();
    assert!(
        globex.iter().all(|p| !p.message.contains("symbolic link")),
        "{globex:?}"
    );
    std::fs::remove_file(dir.path().join("globex/also")).unwrap();

    let mut server = TestServer::start(dir.path(), config);
    server.with_token(Some("acme-secret"));
    let (status, _) = server.post(
        "/v1/contracts/eu-legal-guarantee/evaluate",
        &json!({"facts": eu_claim(), "as_of": "2025-02-01"}),
    );
    assert_eq!(status, 404);
    server.with_token(Some("operator-secret"));
    let (_, ready) = server.get("/readyz");
    assert_eq!(
        ready["failing_tenants"],
        json!(["acme", "initech"]),
        "{ready}"
    );
    server.with_token(Some("globex-secret"));
    assert_eq!(
        version_of(&server, "eu-legal-guarantee", eu_claim(), "2025-02-01"),
        (200, "1".into())
    );
}
