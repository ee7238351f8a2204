//! Example cases: a bundle's `tests/*.toml` files, and running them against a contract.
//!
//! The format (one file holds any number of cases):
//!
//! ```toml
//! [[case]]
//! name = "covered on the last day"      # required, unique in the file
//! as_of = "2027-01-15"                  # required: a date (00:00 in the contract's zone) or a datetime
//! facts = { purchase_date = "2024-01-15", odometer_km = 42000 }
//! expect = { coverage = { covered = true } }   # subset match: only listed keys are compared
//! # or: expect_error = "substring of the error message"
//! # and/or: invariants = ["coverage_never_exceeds_cost"]   # these [invariants] must hold
//! # optional: outputs = ["coverage"] to decide other terms than the contract's outputs
//! ```
//!
//! Numbers compare by value (`3`, `3.0` and `3.00` are equal); objects compare only the keys
//! the expectation lists, recursively; arrays compare element by element and by length.
//!
//! Every adapter runs a bundle's cases the same way: [`CaseFiles`] lists, reads and parses
//! the files (from a folder or a [`BundleSource`]), [`CaseFiles::run`] runs every case and
//! tallies them in a [`CasesReport`], which the CLI's `aftersale test`, the server's reload
//! check and the test suites only render.

use serde::Deserialize;
use serde_json::Value;

use crate::bundle::BundleSource;
use crate::contract::Contract;
use crate::decision::Request;
use crate::error::{CaseFileError, CaseFileProblem, LoadError, Location};
use crate::manifest::line_col;
use crate::value::json_number_as_decimal;

/// One example case, its values converted to JSON with the digits written in the file.
#[derive(Debug, Clone)]
pub struct Case {
    /// What the case shows.
    pub name: String,
    /// Longer explanation.
    pub description: Option<String>,
    /// The evaluation instant.
    pub as_of: String,
    /// The facts.
    pub facts: serde_json::Map<String, Value>,
    /// Terms to decide instead of the contract's outputs.
    pub outputs: Option<Vec<String>>,
    /// The expected outputs (subset match).
    pub expect: Option<Value>,
    /// A substring the error message must contain.
    pub expect_error: Option<String>,
    /// Invariants of the contract that must hold for the decision (`aftersale prop` writes
    /// its regressions this way).
    pub invariants: Option<Vec<String>>,
}

/// A case as written, for checking the file's shape (unknown keys are errors).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseToml {
    name: String,
    #[serde(default)]
    description: Option<String>,
    as_of: String,
    #[serde(default)]
    #[allow(dead_code, reason = "read exactly from the source text instead")]
    facts: toml::Table,
    #[serde(default)]
    outputs: Option<Vec<String>>,
    #[serde(default)]
    expect: Option<toml::Table>,
    #[serde(default)]
    expect_error: Option<String>,
    #[serde(default)]
    invariants: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFileToml {
    #[serde(default)]
    case: Vec<toml::Spanned<CaseToml>>,
}

/// A case with the line it starts on.
#[derive(Debug, Clone)]
pub struct LocatedCase {
    /// The case.
    pub case: Case,
    /// Where it is.
    pub location: Location,
}

/// Parses one test file; `file` names it in errors and locations. A leading byte order mark
/// is skipped ([`crate::bundle::skip_bom`]).
pub fn parse_case_file(file: &str, text: &str) -> Result<Vec<LocatedCase>, CaseFileError> {
    let text = crate::bundle::skip_bom(text);
    let parsed: CaseFileToml = toml::from_str(text).map_err(|e| {
        let location = match e.span() {
            Some(span) => {
                let (line, column) = line_col(text, span.start);
                Location::at(file, line, column)
            }
            None => Location::file(file),
        };
        CaseFileError {
            location,
            message: e.message().trim().to_string(),
        }
    })?;
    // The same file again, keeping each value's written form, so numbers keep their digits.
    let exact = crate::value::parse_exact_toml(text)
        .and_then(|doc| {
            doc.get("case")
                .map_or(Ok(Value::Array(vec![])), crate::value::toml_item_to_json)
        })
        .map_err(|message| CaseFileError {
            location: Location::file(file),
            message,
        })?;
    let mut cases = Vec::with_capacity(parsed.case.len());
    for (i, spanned) in parsed.case.into_iter().enumerate() {
        let (line, column) = line_col(text, spanned.span().start);
        let location = Location::at(file, line, column);
        let written = spanned.into_inner();
        let both = written.expect.is_some() && written.expect_error.is_some();
        let neither = written.expect.is_none()
            && written.expect_error.is_none()
            && written.invariants.is_none();
        if both || neither {
            return Err(CaseFileError {
                location,
                message: format!(
                    "case `{}` needs one of `expect` and `expect_error`, or `invariants`",
                    written.name
                ),
            });
        }
        if written.expect_error.is_some() && written.invariants.is_some() {
            return Err(CaseFileError {
                location,
                message: format!(
                    "case `{}`: `invariants` are checked on a decision, not with `expect_error`",
                    written.name
                ),
            });
        }
        if cases
            .iter()
            .any(|c: &LocatedCase| c.case.name == written.name)
        {
            return Err(CaseFileError {
                location,
                message: format!("duplicate case name `{}`", written.name),
            });
        }
        let values = exact.get(i);
        let facts = match values.and_then(|c| c.get("facts")) {
            Some(Value::Object(f)) => f.clone(),
            _ => serde_json::Map::new(),
        };
        let expect = written
            .expect
            .as_ref()
            .and_then(|_| values.and_then(|c| c.get("expect")).cloned());
        let case = Case {
            name: written.name,
            description: written.description,
            as_of: written.as_of,
            facts,
            outputs: written.outputs,
            expect,
            expect_error: written.expect_error,
            invariants: written.invariants,
        };
        cases.push(LocatedCase { case, location });
    }
    Ok(cases)
}

/// One difference between what a case expects and what the decision says.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Where in the outputs, for example `coverage.covered`.
    pub path: String,
    /// What the case expects.
    pub expected: Value,
    /// What the decision has (`None` when the key is missing).
    pub actual: Option<Value>,
}

/// How a case went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// As expected.
    Passed,
    /// The decision differs from `expect`.
    Mismatched(Vec<Mismatch>),
    /// The evaluation failed but the case expected outputs.
    UnexpectedError(String),
    /// The case expected an error but got a decision, or a different error.
    WrongError {
        /// The substring expected.
        expected: String,
        /// The error message, or `None` if the evaluation succeeded.
        actual: Option<String>,
    },
    /// The case itself cannot run (bad `as_of`, facts that do not convert).
    Invalid(String),
    /// Invariants the case names do not hold for the decision.
    InvariantsBroken(Vec<crate::rules::RuleFailure>),
}

impl Outcome {
    /// True for [`Outcome::Passed`].
    pub fn passed(&self) -> bool {
        matches!(self, Self::Passed)
    }

    /// What went wrong, one line per problem (empty when the case passed).
    pub fn problems(&self) -> Vec<String> {
        let show =
            |v: Option<&Value>| v.map_or_else(|| "(missing)".to_string(), ToString::to_string);
        match self {
            Self::Passed => vec![],
            Self::Mismatched(list) => list
                .iter()
                .map(|m| {
                    format!(
                        "{}: expected {}, got {}",
                        m.path,
                        m.expected,
                        show(m.actual.as_ref())
                    )
                })
                .collect(),
            Self::UnexpectedError(e) => vec![format!("expected a decision, got an error: {e}")],
            Self::WrongError {
                expected,
                actual: None,
            } => vec![format!(
                "expected an error containing {expected:?}, got a decision"
            )],
            Self::WrongError {
                expected,
                actual: Some(a),
            } => vec![format!(
                "expected an error containing {expected:?}, got: {a}"
            )],
            Self::Invalid(e) => vec![format!("the case cannot run: {e}")],
            Self::InvariantsBroken(list) => list.iter().map(|f| format!("invariant {f}")).collect(),
        }
    }
}

/// Reads one test file of a bundle folder (a path [`test_files`] gave) by the rules every
/// file of a bundle is read by ([`crate::bundle::read_file`]): a regular file inside the
/// bundle, at most [`crate::bundle::MAX_FILE_BYTES`] bytes, never a FIFO opened.
pub fn read_test_file(
    bundle: &std::path::Path,
    file: &std::path::Path,
) -> Result<String, LoadError> {
    crate::bundle::read_file(bundle, file)
}

/// A bundle folder's test files (`tests/*.toml`), sorted; none when there is no `tests/`.
/// Listed whatever their type: [`read_test_file`] refuses what may not be read.
pub fn test_files(bundle: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(bundle.join("tests"))
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

/// One test file of a bundle: its path relative to the bundle folder (`tests/claims.toml`,
/// `/`-separated) and its cases, or why they cannot run.
#[derive(Debug, Clone)]
pub struct CaseFile {
    /// The path relative to the bundle folder.
    pub path: String,
    /// The cases in the order written, or why the file gives none.
    pub cases: Result<Vec<LocatedCase>, CaseFileProblem>,
}

/// A bundle's test files (`tests/*.toml`), read and parsed, sorted by path.
#[derive(Debug, Clone, Default)]
pub struct CaseFiles {
    /// The files, sorted by path.
    pub files: Vec<CaseFile>,
}

impl CaseFiles {
    /// Reads the test files of the bundle folder `bundle`, each by the rules of
    /// [`read_test_file`]; a folder without `tests/` has none.
    pub fn from_dir(bundle: &std::path::Path) -> Self {
        let files = test_files(bundle)
            .into_iter()
            .map(|file| {
                let path = file
                    .strip_prefix(bundle)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .replace('\\', "/");
                let cases = read_test_file(bundle, &file)
                    .map_err(CaseFileProblem::Unreadable)
                    .and_then(|text| {
                        parse_case_file(&path, &text).map_err(CaseFileProblem::Invalid)
                    });
                CaseFile { path, cases }
            })
            .collect();
        Self { files }
    }

    /// The test files of a bundle held in memory: its files named `tests/<name>.toml`.
    pub fn from_source(source: &BundleSource) -> Self {
        let files = source
            .files
            .iter()
            .filter(|(path, _)| {
                path.strip_prefix("tests/")
                    .is_some_and(|name| !name.contains('/') && name.ends_with(".toml"))
            })
            .map(|(path, text)| CaseFile {
                path: path.clone(),
                cases: parse_case_file(path, text).map_err(CaseFileProblem::Invalid),
            })
            .collect();
        Self { files }
    }

    /// True when the bundle has no test file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Runs every case of every file against `contract`.
    pub fn run(&self, contract: &Contract) -> CasesReport {
        self.run_with(contract, |_| {})
    }

    /// [`CaseFiles::run`], calling `each` with every case after it ran (the CLI's `test
    /// --coverage` runs it again on an instrumented copy of the contract there).
    pub fn run_with(&self, contract: &Contract, mut each: impl FnMut(&LocatedCase)) -> CasesReport {
        let files = self
            .files
            .iter()
            .map(|file| FileReport {
                path: file.path.clone(),
                cases: file.cases.clone().map(|cases| {
                    cases
                        .into_iter()
                        .map(|located| {
                            let outcome = run_case(contract, &located.case);
                            each(&located);
                            CaseReport { located, outcome }
                        })
                        .collect()
                }),
            })
            .collect();
        CasesReport { files }
    }
}

/// Reads the test files of the bundle folder `bundle` and runs them against `contract`
/// (the contract loaded from that folder).
pub fn run_bundle_cases(contract: &Contract, bundle: &std::path::Path) -> CasesReport {
    CaseFiles::from_dir(bundle).run(contract)
}

/// One case and how it went.
#[derive(Debug, Clone)]
pub struct CaseReport {
    /// The case, with where it is written.
    pub located: LocatedCase,
    /// How it went.
    pub outcome: Outcome,
}

/// The cases of one test file and how each went, or why the file gave none.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The path relative to the bundle folder.
    pub path: String,
    /// Every case in the order written, or why the file gives none.
    pub cases: Result<Vec<CaseReport>, CaseFileProblem>,
}

impl FileReport {
    /// The cases that ran and passed.
    pub fn passed(&self) -> usize {
        self.cases
            .as_ref()
            .map_or(0, |c| c.iter().filter(|r| r.outcome.passed()).count())
    }

    /// The cases that ran and did not pass.
    pub fn failed(&self) -> usize {
        self.cases
            .as_ref()
            .map_or(0, |c| c.iter().filter(|r| !r.outcome.passed()).count())
    }

    /// One line per failure: the file's problem, or each failed case with what differs
    /// (`test `name` (tests/a.toml:3:1) failed: coverage.covered: expected true, got false`).
    pub fn failures(&self) -> Vec<String> {
        match &self.cases {
            Err(problem) => vec![problem.to_string()],
            Ok(cases) => cases
                .iter()
                .filter(|r| !r.outcome.passed())
                .map(|r| {
                    format!(
                        "test `{}` ({}) failed: {}",
                        r.located.case.name,
                        r.located.location,
                        r.outcome.problems().join("; ")
                    )
                })
                .collect(),
        }
    }
}

/// What running a bundle's cases gave, file by file.
#[derive(Debug, Clone, Default)]
pub struct CasesReport {
    /// Every test file, sorted by path.
    pub files: Vec<FileReport>,
}

impl CasesReport {
    /// The cases that passed, over all files.
    pub fn passed(&self) -> usize {
        self.files.iter().map(FileReport::passed).sum()
    }

    /// The cases that failed, over all files (files that gave no cases not counted: see
    /// [`CasesReport::file_problems`]).
    pub fn failed(&self) -> usize {
        self.files.iter().map(FileReport::failed).sum()
    }

    /// The files whose cases could not run, with why.
    pub fn file_problems(&self) -> impl Iterator<Item = (&str, &CaseFileProblem)> {
        self.files
            .iter()
            .filter_map(|f| f.cases.as_ref().err().map(|p| (f.path.as_str(), p)))
    }

    /// True when every case of every file passed and every file could be read.
    pub fn all_passed(&self) -> bool {
        self.failed() == 0 && self.file_problems().next().is_none()
    }

    /// One line per failure over all files ([`FileReport::failures`]).
    pub fn failures(&self) -> Vec<String> {
        self.files.iter().flat_map(FileReport::failures).collect()
    }
}

fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    match (json_number_as_decimal(a), json_number_as_decimal(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.to_string() == b.to_string(),
    }
}

/// Compares `actual` against the subset `expected`, collecting every difference.
pub fn compare(path: &str, expected: &Value, actual: Option<&Value>, out: &mut Vec<Mismatch>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (expected, actual) {
        (Value::Object(exp), Some(Value::Object(act))) => {
            for (k, v) in exp {
                compare(&join(k), v, act.get(k), out);
            }
        }
        (Value::Array(exp), Some(Value::Array(act))) if exp.len() == act.len() => {
            for (i, (e, a)) in exp.iter().zip(act).enumerate() {
                compare(&format!("{path}[{i}]"), e, Some(a), out);
            }
        }
        (Value::Number(e), Some(Value::Number(a))) if numbers_equal(e, a) => {}
        (e, Some(a)) if e == a => {}
        (e, a) => out.push(Mismatch {
            path: path.to_string(),
            expected: e.clone(),
            actual: a.cloned(),
        }),
    }
}

/// Runs one case against a contract.
pub fn run_case(contract: &Contract, case: &Case) -> Outcome {
    let as_of = match contract.parse_as_of(&case.as_of) {
        Ok(t) => t,
        Err(e) => return Outcome::Invalid(e.to_string()),
    };
    let facts = Value::Object(case.facts.clone());
    let mut request = Request::new(facts, as_of);
    request.outputs.clone_from(&case.outputs);
    let result = contract.evaluate(&request);
    if let (Some(names), Ok(decision)) = (&case.invariants, &result) {
        let broken = contract.check_invariants_named(&request, decision, Some(names));
        if !broken.is_empty() {
            return Outcome::InvariantsBroken(broken);
        }
    }
    match (&case.expect, &case.expect_error, result) {
        (Some(expected), _, Ok(decision)) => {
            let mut mismatches = Vec::new();
            compare(
                "",
                expected,
                Some(&Value::Object(decision.outputs)),
                &mut mismatches,
            );
            if mismatches.is_empty() {
                Outcome::Passed
            } else {
                Outcome::Mismatched(mismatches)
            }
        }
        (Some(_), _, Err(e)) => Outcome::UnexpectedError(e.to_string()),
        (None, Some(expected), Ok(_)) => Outcome::WrongError {
            expected: expected.clone(),
            actual: None,
        },
        (None, Some(expected), Err(e)) => {
            let message = e.to_string();
            if message.contains(expected.as_str()) {
                Outcome::Passed
            } else {
                Outcome::WrongError {
                    expected: expected.clone(),
                    actual: Some(message),
                }
            }
        }
        (None, None, Ok(_)) if case.invariants.is_some() => Outcome::Passed,
        (None, None, Err(e)) if case.invariants.is_some() => {
            Outcome::UnexpectedError(e.to_string())
        }
        (None, None, _) => Outcome::Invalid("case has neither `expect` nor `expect_error`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_match_ignores_unlisted_keys_and_compares_numbers_by_value() {
        let mut out = Vec::new();
        compare(
            "",
            &json!({"a": {"b": 3}}),
            Some(&json!({"a": {"b": 3.00, "c": 1}, "d": 2})),
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn every_difference_is_reported_with_its_path() {
        let mut out = Vec::new();
        compare(
            "",
            &json!({"a": {"b": true, "x": 1}, "l": [1, 2]}),
            Some(&json!({"a": {"b": false}, "l": [1]})),
            &mut out,
        );
        let paths: Vec<_> = out.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["a.b", "a.x", "l"]);
        assert_eq!(out[1].actual, None);
    }

    #[test]
    fn r_case_values_keep_their_written_digits() {
        let cases = parse_case_file("t.toml", "[[case]]\nname='x'\nas_of='2025-01-01'\nfacts={p=1234567890123456.78}\nexpect={a={b=0.20}}\n").unwrap();
        assert_eq!(
            serde_json::to_string(&cases[0].case.facts).unwrap(),
            r#"{"p":1234567890123456.78}"#
        );
        assert_eq!(
            serde_json::to_string(&cases[0].case.expect).unwrap(),
            r#"{"a":{"b":0.20}}"#
        );
    }

    #[test]
    fn case_files_need_one_expectation() {
        let err =
            parse_case_file("t.toml", "[[case]]\nname='x'\nas_of='2025-01-01'\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("needs one of `expect` and `expect_error`, or `invariants`"),
            "{err}"
        );
        let err = parse_case_file(
            "t.toml",
            "[[case]]\nname='x'\nas_of='2025-01-01'\nexpct={}\n",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("expct") && err.to_string().contains("t.toml:"),
            "{err}"
        );
    }
}
