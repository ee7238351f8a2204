//! `aftersale test`: runs every `tests/*.toml` of each bundle and prints each failure with
//! what differs, closing with `N passed, N failed`.
//!
//! With `--coverage`, each bundle is loaded a second time with the coverage hook
//! ([`aftersale_core::EngineBuilder::coverage`]) and every case runs on that copy too, inside
//! [`Coverage::record`]: the verdicts still come from the contract as it is served, so the flag
//! cannot change a result or the exit status; the copy only observes.

use std::path::{Path, PathBuf};

use aftersale_core::cases::{run_case, CaseFiles};
use aftersale_core::coverage::{Coverage, CoverageReport};
use aftersale_core::{CaseFileError, CaseFileProblem, LoadError};
use aftersale_core::{Contract, Engine};
use serde_json::json;

use crate::render::{self, Format};
use crate::{load, print_out, report, Context, Failure};

/// A bundle's contract loaded for coverage, and what its cases visited.
struct Covered {
    contract: Contract,
    coverage: Coverage,
}

impl Covered {
    /// `None` (with a note) if the instrumented copy does not load, which the contract
    /// itself did.
    fn load(ctx: &Context<'_>, bundle: &Path) -> Option<Self> {
        let format = ctx.format;
        let engine: Engine = ctx.builder().coverage(true).build();
        match engine.load_dir(bundle) {
            Ok(contract) => Some(Self {
                contract,
                coverage: Coverage::new(),
            }),
            Err(errors) => {
                report(
                    format,
                    format!("note: no coverage for `{}`: {errors}\n", bundle.display()),
                    json!({"code": "coverage_unavailable", "message": errors.to_string()}),
                );
                None
            }
        }
    }
}

fn percent(done: usize, all: usize) -> Option<f64> {
    // Branch counts are far below 2^52: the conversions are exact.
    (all > 0).then(|| (done as f64) * 100.0 / (all as f64))
}

/// The coverage block printed after a bundle's cases.
fn coverage_text(report: &CoverageReport) -> String {
    let (done, all) = (report.branches_exercised(), report.branch_count());
    let share =
        percent(done, all).map_or_else(|| "no branches".to_string(), |p| format!("{p:.1}%"));
    let mut text = format!(
        "  coverage: terms exercised {}/{}, branches exercised {done}/{all} ({share})\n",
        report.terms_evaluated(),
        report.terms.len(),
    );
    for term in &report.terms {
        if !term.evaluated {
            text.push_str(&format!(
                "    {}: term `{}` never evaluated\n",
                term.file, term.term
            ));
            continue;
        }
        for b in term.branches.iter().filter(|b| !b.exercised) {
            text.push_str(&format!(
                "    {}:{}:{} {} (never taken)\n",
                term.file,
                b.line,
                b.column,
                b.kind.describe()
            ));
        }
    }
    text
}

/// The same as JSON: totals, and every term with every branch.
fn coverage_json(bundle: &str, report: &CoverageReport) -> serde_json::Value {
    let (done, all) = (report.branches_exercised(), report.branch_count());
    json!({
        "bundle": bundle,
        "terms_evaluated": report.terms_evaluated(),
        "term_count": report.terms.len(),
        "branches_exercised": done,
        "branch_count": all,
        "percent": percent(done, all).map(|p| (p * 10.0).round() / 10.0),
        "never_evaluated": report.terms.iter().filter(|t| !t.evaluated).map(|t| t.term.as_str()).collect::<Vec<_>>(),
        "terms": report.terms,
    })
}

/// A test file that cannot be read: bad input, as an unreadable bundle file is.
fn report_unreadable(format: Format, e: &LoadError, path: &Path) {
    report(
        format,
        format!("error: {e}\n"),
        json!({"code": "unreadable", "message": e.to_string(), "path": path.display().to_string()}),
    );
}

/// A test file that is not valid: a failure of the bundle's tests.
fn report_invalid(format: Format, bundle: &Path, e: &CaseFileError) {
    report(
        format,
        render::case_file_error_text(bundle, e),
        json!({"code": "invalid_test_file", "message": e.to_string()}),
    );
}

/// Runs the cases of every bundle; with `coverage`, reports what they exercised.
pub(crate) fn run(ctx: &Context<'_>, bundles: &[PathBuf], coverage: bool) -> Result<(), Failure> {
    let format = ctx.format;
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut bad_input = false;
    let mut results = Vec::new();
    let mut coverages = Vec::new();
    for bundle in bundles {
        let contract = match load(ctx, bundle) {
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
        let mut covered = if coverage {
            Covered::load(ctx, bundle)
        } else {
            None
        };
        let files = CaseFiles::from_dir(bundle);
        if files.is_empty() && format == Format::Text {
            print_out("  no test cases (add tests/*.toml)\n")?;
        }
        let outcome = files.run_with(&contract, |located| {
            if let Some(c) = covered.as_mut() {
                c.coverage.record(|| run_case(&c.contract, &located.case));
            }
        });
        for (file, report) in files.files.iter().zip(&outcome.files) {
            let cases = match &report.cases {
                Ok(cases) => cases,
                Err(CaseFileProblem::Unreadable(e)) => {
                    let path = bundle.join(&file.path);
                    report_unreadable(format, e, &path);
                    bad_input = true;
                    continue;
                }
                Err(CaseFileProblem::Invalid(e)) => {
                    report_invalid(format, bundle, e);
                    failed += 1;
                    continue;
                }
            };
            for case in cases {
                let (located, outcome) = (&case.located, &case.outcome);
                let details = outcome.problems();
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
        if let Some(c) = covered {
            let report = c.coverage.report(&c.contract);
            match format {
                Format::Text => print_out(&coverage_text(&report))?,
                Format::Json => coverages.push(coverage_json(contract.id(), &report)),
            }
        }
    }
    match format {
        Format::Text => print_out(&format!("{passed} passed, {failed} failed\n"))?,
        Format::Json => {
            let mut out = json!({"passed": passed, "failed": failed, "cases": results});
            if coverage {
                out["coverage"] = serde_json::Value::Array(coverages);
            }
            print_out(&(out.to_string() + "\n"))?;
        }
    }
    if bad_input {
        Err(Failure::BadInput)
    } else if failed > 0 {
        Err(Failure::Failed)
    } else {
        Ok(())
    }
}
