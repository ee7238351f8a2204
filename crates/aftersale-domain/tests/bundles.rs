//! Every test file of every bundle in `rules/`, as its own named test
//! (`bundles::car_warranty::claims`): `build.rs` finds them, [`run_test_file`] runs one
//! through the core's case runner with the domain plugins, as `aftersale test` does.

use std::path::{Path, PathBuf};

use aftersale_core::cases::CaseFiles;
use aftersale_core::Engine;

/// The workspace's `rules/` folder.
fn rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

/// Loads `rules/<bundle>` with the domain plugins and runs the cases of its file `path`
/// (`tests/claims.toml`); fails with every failure listed, or when the file has no case.
pub fn run_test_file(bundle: &str, path: &str) {
    let dir = rules().join(bundle);
    let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
    let contract = engine
        .load_dir(&dir)
        .unwrap_or_else(|e| panic!("rules/{bundle} does not load:\n{e}"));
    let mut files = CaseFiles::from_dir(&dir);
    files.files.retain(|f| f.path == path);
    assert_eq!(files.files.len(), 1, "rules/{bundle}/{path} is gone");
    let report = files.run(&contract);
    let failures = report.failures();
    assert!(
        failures.is_empty(),
        "rules/{bundle}/{path}:\n{}",
        failures.join("\n")
    );
    assert!(report.passed() > 0, "rules/{bundle}/{path} has no case");
}

include!(concat!(env!("OUT_DIR"), "/bundle_tests.rs"));

#[test]
fn every_bundle_in_rules_has_test_files() {
    let bundles: Vec<PathBuf> = std::fs::read_dir(rules())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("contract.toml").is_file())
        .collect();
    assert!(bundles.len() >= 5, "{bundles:?}");
    for bundle in bundles {
        assert!(
            !CaseFiles::from_dir(&bundle).is_empty(),
            "{} has no tests/*.toml",
            bundle.display()
        );
    }
}
