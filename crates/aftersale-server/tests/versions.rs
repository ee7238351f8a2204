//! Several versions of one contract: picked by `version`, by `effective_on`, or in force at
//! `as_of`; overlapping ranges refuse to load.

use aftersale_core::Engine;
use aftersale_server::{load_catalog, Layout, ServerConfig};
use serde_json::json;

use crate::common::{car_claim, copy_bundle, TestServer};

fn two_versions() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(
        "car-warranty",
        &dir.path().join("car-warranty-2025"),
        "2025.1",
        Some("2020-01-01"),
        Some("2025-12-31"),
    );
    copy_bundle(
        "car-warranty",
        &dir.path().join("car-warranty-2026"),
        "2026.1",
        Some("2026-01-01"),
        None,
    );
    dir
}

#[test]
fn versions_are_selected_by_effective_on_version_or_as_of() {
    let dir = two_versions();
    let server = TestServer::start(dir.path(), ServerConfig::default());
    let facts = car_claim();
    let version_of = |body: serde_json::Value| {
        let (status, decision) = server.post("/v1/contracts/car-warranty/evaluate", &body);
        assert_eq!(status, 200, "{body}: {decision}");
        decision["version"].as_str().unwrap().to_string()
    };
    // The purchase date decides which terms apply, whatever the evaluation date.
    let as_of = "2026-03-01";
    assert_eq!(
        version_of(json!({"facts": facts, "as_of": as_of, "effective_on": "2025-06-30"})),
        "2025.1"
    );
    assert_eq!(
        version_of(json!({"facts": facts, "as_of": as_of, "effective_on": "2025-12-31"})),
        "2025.1"
    );
    assert_eq!(
        version_of(json!({"facts": facts, "as_of": as_of, "effective_on": "2026-01-01"})),
        "2026.1"
    );
    assert_eq!(
        version_of(json!({"facts": facts, "as_of": as_of, "version": "2025.1"})),
        "2025.1"
    );
    // Without either: the version in force at as_of, read in the contract's zone
    // (Europe/Berlin: 23:30 UTC on Dec 31 is already Jan 1 there).
    assert_eq!(
        version_of(json!({"facts": facts, "as_of": "2025-12-31T22:30:00Z"})),
        "2025.1"
    );
    assert_eq!(
        version_of(json!({"facts": facts, "as_of": "2025-12-31T23:30:00Z"})),
        "2026.1"
    );
    assert_eq!(
        version_of(json!({"facts": facts, "as_of": as_of})),
        "2026.1"
    );

    let (status, body) = server.post(
        "/v1/contracts/car-warranty/evaluate",
        &json!({"facts": facts, "as_of": as_of, "effective_on": "2019-12-31"}),
    );
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "no_version_in_force");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("2019-12-31")
            && message.contains("2025.1 (from 2020-01-01 to 2025-12-31)"),
        "{message}"
    );

    let (status, body) = server.post(
        "/v1/contracts/car-warranty/evaluate",
        &json!({"facts": facts, "as_of": as_of, "version": "2024.9"}),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_version"))
    );
    let (status, body) = server.post(
        "/v1/contracts/car-warranty/evaluate",
        &json!({"facts": facts, "as_of": as_of, "version": "2025.1", "effective_on": "2025-01-01"}),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("ambiguous_version"))
    );
    let (status, body) = server.post(
        "/v1/contracts/car-warranty/evaluate",
        &json!({"facts": facts, "as_of": as_of, "effective_on": "2025-02-30"}),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_effective_on"))
    );
    let (status, body) = server.post(
        "/v1/contracts/car-warranty/evaluate",
        &json!({"facts": facts, "as_of": "yesterday"}),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_as_of"))
    );

    let (status, list) = server.get("/v1/contracts");
    assert_eq!(status, 200);
    assert_eq!(
        list[0]["versions"],
        json!([
            {"version": "2025.1", "description": list[0]["versions"][0]["description"], "effective_from": "2020-01-01", "effective_to": "2025-12-31"},
            {"version": "2026.1", "description": list[0]["versions"][1]["description"], "effective_from": "2026-01-01"},
        ])
    );
}

#[test]
fn overlapping_effective_ranges_are_a_load_error_naming_both_bundles() {
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(
        "car-warranty",
        &dir.path().join("a"),
        "2025.1",
        None,
        Some("2026-01-01"),
    );
    copy_bundle(
        "car-warranty",
        &dir.path().join("b"),
        "2026.1",
        Some("2026-01-01"),
        None,
    );
    let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
    let error = load_catalog(&engine, dir.path(), Layout::SingleTenant).unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    let message = &error.problems[0].message;
    assert!(message.contains("overlap"), "{message}");
    assert!(
        message.contains(&dir.path().join("a").display().to_string()),
        "{message}"
    );
    assert!(
        message.contains(&dir.path().join("b").display().to_string()),
        "{message}"
    );

    // Two open-ended versions overlap too, and the same version twice is refused.
    let dir = tempfile::tempdir().unwrap();
    copy_bundle("car-warranty", &dir.path().join("a"), "1", None, None);
    copy_bundle("car-warranty", &dir.path().join("b"), "2", None, None);
    copy_bundle(
        "car-warranty",
        &dir.path().join("c"),
        "2",
        Some("2030-01-01"),
        None,
    );
    let error = load_catalog(&engine, dir.path(), Layout::SingleTenant).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("overlap") && text.contains("defined twice"),
        "{text}"
    );
}
