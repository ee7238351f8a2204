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
//! # optional: outputs = ["coverage"] to decide other terms than the contract's outputs
//! ```
//!
//! Numbers compare by value (`3`, `3.0` and `3.00` are equal); objects compare only the keys
//! the expectation lists, recursively; arrays compare element by element and by length.

use serde::Deserialize;
use serde_json::Value;

use crate::contract::Contract;
use crate::decision::Request;
use crate::error::{CaseFileError, Location};
use crate::manifest::line_col;
use crate::value::{json_number_as_decimal, toml_table_to_json};

/// One example case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    pub name: String,
    /// Longer explanation.
    #[serde(default)]
    pub description: Option<String>,
    /// The evaluation instant.
    pub as_of: String,
    /// The facts.
    #[serde(default)]
    pub facts: toml::Table,
    /// Terms to decide instead of the contract's outputs.
    #[serde(default)]
    pub outputs: Option<Vec<String>>,
    /// The expected outputs (subset match).
    #[serde(default)]
    pub expect: Option<toml::Table>,
    /// A substring the error message must contain.
    #[serde(default)]
    pub expect_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFileToml {
    #[serde(default)]
    case: Vec<toml::Spanned<Case>>,
}

/// A case with the line it starts on.
#[derive(Debug, Clone)]
pub struct LocatedCase {
    /// The case.
    pub case: Case,
    /// Where it is.
    pub location: Location,
}

/// Parses one test file; `file` names it in errors and locations.
pub fn parse_case_file(file: &str, text: &str) -> Result<Vec<LocatedCase>, CaseFileError> {
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
    let mut cases = Vec::with_capacity(parsed.case.len());
    for spanned in parsed.case {
        let (line, column) = line_col(text, spanned.span().start);
        let location = Location::at(file, line, column);
        let case = spanned.into_inner();
        if case.expect.is_some() == case.expect_error.is_some() {
            return Err(CaseFileError {
                location,
                message: format!(
                    "case `{}` needs exactly one of `expect` and `expect_error`",
                    case.name
                ),
            });
        }
        if cases.iter().any(|c: &LocatedCase| c.case.name == case.name) {
            return Err(CaseFileError {
                location,
                message: format!("duplicate case name `{}`", case.name),
            });
        }
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
}

impl Outcome {
    /// True for [`Outcome::Passed`].
    pub fn passed(&self) -> bool {
        matches!(self, Self::Passed)
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
    let facts = match toml_table_to_json(&case.facts) {
        Ok(f) => Value::Object(f),
        Err(e) => return Outcome::Invalid(format!("facts: {e}")),
    };
    let mut request = Request::new(facts, as_of);
    request.outputs.clone_from(&case.outputs);
    let result = contract.evaluate(&request);
    match (&case.expect, &case.expect_error, result) {
        (Some(expect), _, Ok(decision)) => {
            let expected = match toml_table_to_json(expect) {
                Ok(e) => Value::Object(e),
                Err(e) => return Outcome::Invalid(format!("expect: {e}")),
            };
            let mut mismatches = Vec::new();
            compare(
                "",
                &expected,
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
    fn case_files_need_one_expectation() {
        let err =
            parse_case_file("t.toml", "[[case]]\nname='x'\nas_of='2025-01-01'\n").unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
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
