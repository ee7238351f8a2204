//! `aftersale test`: runs every `tests/*.toml` of each bundle and prints each failure with
//! what differs, closing with `N passed, N failed`.

use std::path::{Path, PathBuf};

use aftersale_core::cases::{parse_case_file, run_case, LocatedCase, Mismatch, Outcome};
use serde_json::json;

use crate::render::{self, Format};
use crate::{load, print_out, report, Failure};

/// The test files of a bundle, sorted.
fn test_files(bundle: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(bundle.join("tests"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn show(value: Option<&serde_json::Value>) -> String {
    value.map_or_else(|| "(missing)".to_string(), |v| v.to_string())
}

fn describe(outcome: &Outcome) -> Vec<String> {
    match outcome {
        Outcome::Passed => vec![],
        Outcome::Mismatched(list) => list
            .iter()
            .map(
                |Mismatch {
                     path,
                     expected,
                     actual,
                 }| {
                    format!("{path}: expected {expected}, got {}", show(actual.as_ref()))
                },
            )
            .collect(),
        Outcome::UnexpectedError(e) => vec![format!("expected a decision, got an error: {e}")],
        Outcome::WrongError {
            expected,
            actual: None,
        } => {
            vec![format!(
                "expected an error containing {expected:?}, got a decision"
            )]
        }
        Outcome::WrongError {
            expected,
            actual: Some(a),
        } => {
            vec![format!(
                "expected an error containing {expected:?}, got: {a}"
            )]
        }
        Outcome::Invalid(e) => vec![format!("the case cannot run: {e}")],
        Outcome::InvariantsBroken(list) => list.iter().map(|f| format!("invariant {f}")).collect(),
    }
}

/// Runs the cases of every bundle.
pub fn run(format: Format, bundles: &[PathBuf]) -> Result<(), Failure> {
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut bad_input = false;
    let mut results = Vec::new();
    for bundle in bundles {
        let contract = match load(format, bundle) {
            Ok(c) => c,
            Err(Failure::BadInput) => {
                bad_input = true;
                continue;
            }
            Err(Failure::Failed) => {
                failed += 1;
                continue;
            }
        };
        if format == Format::Text {
            print_out(&format!(
                "{} {} ({})\n",
                contract.id(),
                contract.version(),
                bundle.display()
            ))?;
        }
        let files = test_files(bundle);
        if files.is_empty() && format == Format::Text {
            print_out("  no test cases (add tests/*.toml)\n")?;
        }
        for file in files {
            let rel = file
                .strip_prefix(bundle)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            let cases: Vec<LocatedCase> = match std::fs::read_to_string(&file) {
                Err(e) => {
                    report(
                        format,
                        format!("error: cannot read `{}`: {e}\n", file.display()),
                        json!({"code": "unreadable", "message": e.to_string(), "path": file.display().to_string()}),
                    );
                    bad_input = true;
                    continue;
                }
                Ok(text) => match parse_case_file(&rel, &text) {
                    Ok(cases) => cases,
                    Err(e) => {
                        report(
                            format,
                            render::case_file_error_text(bundle, &e),
                            json!({"code": "invalid_test_file", "message": e.to_string()}),
                        );
                        failed += 1;
                        continue;
                    }
                },
            };
            for located in cases {
                let outcome = run_case(&contract, &located.case);
                let details = describe(&outcome);
                if outcome.passed() {
                    passed += 1;
                } else {
                    failed += 1;
                }
                match format {
                    Format::Text => {
                        let mut text = format!(
                            "  {} {} ({})\n",
                            if outcome.passed() { "ok  " } else { "FAIL" },
                            located.case.name,
                            located.location
                        );
                        for d in &details {
                            text.push_str(&format!("       {d}\n"));
                        }
                        print_out(&text)?;
                    }
                    Format::Json => results.push(json!({
                        "bundle": contract.id(),
                        "case": located.case.name,
                        "location": located.location.to_string(),
                        "passed": outcome.passed(),
                        "details": details,
                    })),
                }
            }
        }
    }
    match format {
        Format::Text => print_out(&format!("{passed} passed, {failed} failed\n"))?,
        Format::Json => print_out(
            &(json!({"passed": passed, "failed": failed, "cases": results}).to_string() + "\n"),
        )?,
    }
    if bad_input {
        Err(Failure::BadInput)
    } else if failed > 0 {
        Err(Failure::Failed)
    } else {
        Ok(())
    }
}
