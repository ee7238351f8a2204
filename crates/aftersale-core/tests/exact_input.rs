//! Numbers and text come in exactly or are refused: exponent forms are never rounded (facts,
//! params, test values, `decimal(..)`), `as_of` keeps its fraction and its year, datetimes
//! their nanoseconds.

use aftersale_core::cases::{parse_case_file, run_case, Outcome};
use aftersale_core::{EvalError, Request};
use serde_json::json;

use crate::support::{eval_with, load, loaded, value_of};

/// Facts parsed from JSON text, as every adapter reads them.
fn facts(text: &str) -> serde_json::Value {
    aftersale_core::value::parse_json(text, "facts").unwrap()
}

#[test]
fn r_exponent_fact_just_over_a_schema_max_is_refused_not_rounded_to_it() {
    let contract = loaded(
        "[facts.share]\ntype = \"decimal\"\nmax = 1",
        &[("x", "facts.share")],
    );
    let err = eval_with(
        &contract,
        facts(r#"{"share": 1.00000000000000000000000000001e0}"#),
    )
    .unwrap_err();
    assert!(err.is_bad_request(), "{err}");
    assert!(err.to_string().contains("facts.share"), "{err}");
    // Exactly 1 in exponent form is 1, within the bound.
    let ok = eval_with(&contract, facts(r#"{"share": 1.0e0}"#)).unwrap();
    assert_eq!(ok.outputs["x"].to_string(), "1.0");
}

#[test]
fn exponent_facts_are_exact_without_a_schema_too() {
    let contract = loaded("", &[("x", "facts.a * 2")]);
    let d = eval_with(&contract, facts(r#"{"a": 1.25e3}"#)).unwrap();
    assert_eq!(d.outputs["x"].to_string(), "2500");
    let d = eval_with(&contract, facts(r#"{"a": 25E-3}"#)).unwrap();
    assert_eq!(d.outputs["x"].to_string(), "0.050");
    let err = eval_with(
        &contract,
        facts(r#"{"a": 1.00000000000000000000000000001e0}"#),
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::InvalidFacts { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("facts.a: number `1.00000000000000000000000000001e"),
        "{err}"
    );
}

#[test]
fn exponent_params_are_exact_or_a_load_error() {
    let contract = loaded("[params]\nrate = 2.5e-1", &[("x", "params.rate")]);
    let d = eval_with(&contract, json!({})).unwrap();
    assert_eq!(d.outputs["x"].to_string(), "0.25");
    let err = load(
        "[params]\nrate = 1.00000000000000000000000000001e0",
        &[("x", "params.rate")],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("1.00000000000000000000000000001e"),
        "{err}"
    );
}

#[test]
fn exponent_test_values_are_exact_or_the_case_cannot_run() {
    let contract = loaded("", &[("x", "facts.a")]);
    let cases = parse_case_file(
        "tests/a.toml",
        "[[case]]\nname = \"exact\"\nas_of = \"2025-01-01\"\nfacts = { a = 1.5e3 }\nexpect = { x = 1500 }\n\
         [[case]]\nname = \"inexact fact\"\nas_of = \"2025-01-01\"\nfacts = { a = 1.00000000000000000000000000001e0 }\nexpect = { x = 1 }\n\
         [[case]]\nname = \"inexact expectation\"\nas_of = \"2025-01-01\"\nfacts = { a = 1 }\nexpect = { x = 1.00000000000000000000000000001e0 }\n",
    )
    .unwrap();
    assert_eq!(run_case(&contract, &cases[0].case), Outcome::Passed);
    let outcome = run_case(&contract, &cases[1].case);
    assert!(!outcome.passed(), "{outcome:?}");
    let outcome = run_case(&contract, &cases[2].case);
    assert!(matches!(outcome, Outcome::Mismatched(_)), "{outcome:?}");
}

#[test]
fn decimal_of_text_is_exact_or_an_error() {
    assert_eq!(value_of("decimal(\"1.5e3\")").to_string(), "1500");
    assert_eq!(value_of("decimal(\" 12.50 \")").to_string(), "12.50");
    let err = crate::support::error_of("decimal(\"1.00000000000000000000000000001\")");
    assert!(
        err.to_string()
            .contains("more digits than a decimal holds exactly"),
        "{err}"
    );
}

#[test]
fn as_of_outside_years_1_to_9999_is_refused() {
    let utc = loaded("", &[("x", "as_of")]);
    for text in [
        "0000-06-01",
        "0000-12-31T23:00:00Z",
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:00:00-05:00",
    ] {
        let err = utc.parse_as_of(text).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid as_of `{text}`: the instant must fall in the years 1 to 9999 (as written, in UTC and in the contract's time zone UTC)")
        );
    }
    for text in ["0001-01-01", "9999-12-31", "9999-12-31T23:59:59.999999999Z"] {
        let as_of = utc.parse_as_of(text).unwrap();
        let d = utc.evaluate(&Request::new(json!({}), as_of)).unwrap();
        assert_eq!(utc.parse_as_of(&d.as_of).unwrap(), as_of);
    }
    // In the contract's zone too: 9999-12-31T23:30Z is year 10000 in Rome.
    let rome = loaded("timezone = \"Europe/Rome\"", &[("x", "as_of")]);
    assert!(rome.parse_as_of("9999-12-31T23:30:00Z").is_err());
    // A text that is no date keeps its message.
    assert_eq!(
        utc.parse_as_of("soon").unwrap_err().to_string(),
        "invalid as_of `soon`: expected a date (2025-03-07) or an RFC 3339 datetime (2025-03-07T16:00:00-05:00)"
    );
}

#[test]
fn more_than_nine_fractional_second_digits_are_an_error_not_truncated() {
    let utc = loaded("", &[("x", "as_of")]);
    let nine = utc.parse_as_of("2025-01-01T00:00:00.123456789Z").unwrap();
    assert_eq!(nine.to_string(), "2025-01-01T00:00:00.123456789+00:00");
    let err = utc
        .parse_as_of("2025-01-01T00:00:00.1234567891Z")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid as_of `2025-01-01T00:00:00.1234567891Z`: 10 fractional-second digits, more than the 9 (nanoseconds) an instant keeps"
    );
    assert!(utc.parse_as_of("2025-01-01T00:00:00.1234567891").is_err());
    // In scripts and in datetime facts of a schema alike.
    let err = crate::support::error_of("datetime(\"2025-01-01T00:00:00.0000000001Z\")");
    assert!(
        err.to_string().contains("fractional-second digits"),
        "{err}"
    );
    let contract = loaded("[facts.at]\ntype = \"datetime\"", &[("x", "facts.at")]);
    let err = eval_with(&contract, json!({"at": "2025-01-01T00:00:00.1234567891Z"})).unwrap_err();
    assert!(
        err.is_bad_request() && err.to_string().contains("facts.at"),
        "{err}"
    );
    assert!(eval_with(&contract, json!({"at": "2025-01-01T00:00:00.123456789Z"})).is_ok());
}

#[test]
fn duplicate_keys_in_facts_json_are_errors_naming_the_key() {
    let err = aftersale_core::value::parse_json(
        r#"{"vehicle": {"km": 10, "vin": "x", "km": 90000}}"#,
        "facts",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("duplicate key `km` in `facts.vehicle` at line 1 column"),
        "{err}"
    );
}

#[test]
fn r_a_decimal_literal_rhai_would_round_is_a_load_error() {
    let err = load(
        "",
        &[(
            "x",
            "let share = 1.00000000000000000000000000001;\nshare <= 1",
        )],
    )
    .unwrap_err();
    assert_eq!(
        err.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["term `x` does not compile at terms/x.rhai:1:13: decimal literal `1.00000000000000000000000000001` has more digits than a decimal holds exactly (28 significant digits, 28 decimal places)"]
    );
    assert_eq!(value_of("1.50 + 0.25").to_string(), "1.75");
}

#[test]
fn a_decimal_literal_rhai_would_round_in_a_rule_is_a_load_error() {
    let err = load(
        "[facts.share]\ntype = \"decimal\"\n[constraints]\nat_most_one = \"facts.share <= 1.00000000000000000000000000001\"",
        &[("x", "1")],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("invalid constraints.at_most_one")
            && err
                .to_string()
                .contains("decimal literal `1.00000000000000000000000000001`"),
        "{err}"
    );
}
