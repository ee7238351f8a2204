//! Finds the example cases of every bundle in the workspace's `rules/` and writes one named
//! test per test file (`bundles::car_warranty::claims`) for `tests/tests.rs` to include, so
//! that `cargo test` reports each file of each bundle on its own line, and a bundle or file
//! added to `rules/` becomes a test without anyone listing it.

use std::fmt::Write as _;
use std::path::Path;

fn ident(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if id.starts_with(|c: char| c.is_ascii_digit()) || id.is_empty() {
        id.insert(0, '_');
    }
    id
}

fn sorted(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
}

fn main() -> std::process::ExitCode {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let rules = Path::new(&manifest_dir).join("../../rules");
    println!("cargo:rerun-if-changed={}", rules.display());
    println!("cargo:rerun-if-changed=build.rs");
    let mut out = String::from("// Written by build.rs from the bundles in rules/: do not edit.\n");
    for bundle in sorted(&rules) {
        if !bundle.join("contract.toml").is_file() {
            continue;
        }
        let Some(name) = bundle.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let _ = writeln!(out, "pub mod {} {{", ident(&name));
        for file in sorted(&bundle.join("tests")) {
            if !file.extension().is_some_and(|e| e == "toml") {
                continue;
            }
            let Some(stem) = file.file_stem().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let _ = writeln!(
                out,
                "    #[test]\n    fn {}() {{\n        crate::bundles::run_test_file({name:?}, \"tests/{stem}.toml\");\n    }}",
                ident(&stem)
            );
        }
        out.push_str("}\n");
    }
    let target =
        Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("bundle_tests.rs");
    match std::fs::write(&target, out) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write {}: {e}", target.display());
            std::process::ExitCode::FAILURE
        }
    }
}
