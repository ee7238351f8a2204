//! Hot reload: a broken bundle or a failing test is refused and reported while the previous
//! set keeps serving; a good one is swapped in, on request or on file changes (`--watch`).

use std::time::{Duration, Instant};

use aftersale_server::ServerConfig;
use serde_json::json;

use crate::common::{car_claim, copy_bundle, set_version, TestServer};

fn version_served(server: &TestServer) -> (u16, String) {
    let (status, body) = server.post(
        "/v1/contracts/car-warranty/evaluate",
        &json!({"facts": car_claim(), "as_of": "2026-03-01"}),
    );
    (
        status,
        body["version"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn a_broken_bundle_is_refused_and_the_old_version_keeps_serving_until_a_fixed_one_swaps_in() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("car-warranty");
    copy_bundle("car-warranty", &bundle, "2026.1", None, None);
    let server = TestServer::start(dir.path(), ServerConfig::default());
    assert_eq!(version_served(&server), (200, "2026.1".into()));

    // A syntax error in a term.
    set_version(&bundle, "2026.2", None, None);
    let terms = bundle.join("terms");
    let term = std::fs::read_dir(&terms)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let good_script = std::fs::read_to_string(&term).unwrap();
    std::fs::write(&term, format!("{good_script}\nlet = ;\n")).unwrap();
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "reload_failed");
    let problems = body["error"]["problems"].as_array().unwrap();
    let file_name = term.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        problems
            .iter()
            .any(|p| p["message"].as_str().unwrap().contains(&file_name)),
        "{body}"
    );
    assert_eq!(version_served(&server), (200, "2026.1".into()));
    let (_, ready) = server.get("/readyz");
    assert_eq!(ready["last_reload_failed"], true);

    // A bundle that loads but whose tests fail is refused too.
    std::fs::write(&term, &good_script).unwrap();
    let tests = bundle.join("tests").join("zz-wrong.toml");
    std::fs::write(
        &tests,
        "[[case]]\nname = \"wrong on purpose\"\nas_of = \"2026-03-01\"\nfacts = {}\nexpect = { coverage = 1 }\n",
    )
    .unwrap();
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("wrong on purpose"), "{body}");
    assert_eq!(version_served(&server), (200, "2026.1".into()));

    // Fixed: swapped in.
    std::fs::remove_file(&tests).unwrap();
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reloaded"], true);
    assert!(body["tests_passed"].as_u64().unwrap() > 10, "{body}");
    assert_eq!(version_served(&server), (200, "2026.2".into()));
    let (_, ready) = server.get("/readyz");
    assert_eq!(ready["last_reload_failed"], false);

    let (status, metrics) = server.get_text("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("aftersale_reloads_total{result=\"failed\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("aftersale_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("aftersale_contract_version_loaded{tenant=\"default\",contract=\"car-warranty\",version=\"2026.2\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("aftersale_http_request_duration_seconds_bucket{route=\"/v1/contracts/{id}/evaluate\",le=\"+Inf\"}"), "{metrics}");
}

#[test]
fn with_watch_a_changed_bundle_is_swapped_in_without_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("car-warranty");
    copy_bundle("car-warranty", &bundle, "2026.1", None, None);
    let server = TestServer::start_with(dir.path(), ServerConfig::default(), true);
    assert_eq!(version_served(&server), (200, "2026.1".into()));
    set_version(&bundle, "2026.3", None, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while version_served(&server).1 != "2026.3" {
        assert!(
            Instant::now() < deadline,
            "the change was not picked up in 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 13, item 5: a reload reads a bundle's files (test files included) only as regular
/// files inside the bundle. A FIFO used to hang the reload and leak a blocked thread; a
/// symlink to another tenant's contract let one tenant evaluate another's. (The client's own
/// 30 s timeout is the hang guard.)
#[cfg(unix)]
#[test]
fn r_reload_refuses_fifos_and_symlinks_out_of_the_bundle_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("tiny");
    std::fs::create_dir_all(bundle.join("terms")).unwrap();
    std::fs::create_dir_all(bundle.join("tests")).unwrap();
    std::fs::write(
        bundle.join("contract.toml"),
        "[contract]\nid = \"tiny\"\nversion = \"1\"\n[terms.x]\n",
    )
    .unwrap();
    std::fs::write(bundle.join("terms/x.rhai"), "1").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.toml"),
        "secret = \"their terms\"\n",
    )
    .unwrap();
    let server = TestServer::start(dir.path(), ServerConfig::default());

    let fifo = bundle.join("tests/a.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string()
            .contains("`tests/a.toml` is not a regular file"),
        "{body}"
    );
    std::fs::remove_file(&fifo).unwrap();

    std::os::unix::fs::symlink(outside.path().join("secret.toml"), &fifo).unwrap();
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, 422, "{body}");
    let text = body.to_string();
    assert!(
        text.contains("`tests/a.toml` is a symlink to outside the bundle"),
        "{body}"
    );
    assert!(!text.contains("secret"), "{body}");
    std::fs::remove_file(&fifo).unwrap();
    let (status, body) = server.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, 200, "{body}");
}

/// Issue 13, item 5, at the tenant level: a bundle folder one tenant links to another
/// tenant's bundle is refused, naming the link and not where it leads.
#[cfg(unix)]
#[test]
fn r_a_tenants_symlink_to_another_tenants_bundle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("globex/car-warranty");
    std::fs::create_dir_all(theirs.join("terms")).unwrap();
    std::fs::write(
        theirs.join("contract.toml"),
        "[contract]\nid = \"car-warranty\"\nversion = \"1\"\n[terms.x]\n",
    )
    .unwrap();
    std::fs::write(theirs.join("terms/x.rhai"), "\"globex terms\"").unwrap();
    std::fs::create_dir_all(dir.path().join("acme")).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("globex/car-warranty"),
        dir.path().join("acme/stolen"),
    )
    .unwrap();
    let engine = aftersale_core::Engine::default();
    let err =
        aftersale_server::load_catalog(&engine, dir.path(), aftersale_server::Layout::Tenants)
            .unwrap_err();
    let messages: Vec<_> = err
        .problems
        .iter()
        .map(|p| (p.tenant.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [(
            "acme",
            "`stolen` is a symbolic link to a folder outside tenant `acme`'s folder: not followed"
        )],
        "{err:?}"
    );
}
