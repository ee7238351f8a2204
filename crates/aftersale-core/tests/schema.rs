//! The facts schema, `[constraints]` and `[invariants]` (module of the `tests` binary).

use aftersale_core::{BundleSource, Contract, DateTime, Engine, EvalError, Request};
use serde_json::json;

/// The facts schema the module's contract declares (every field type), shared with
/// `typed_facts.rs`.
pub(crate) const FACTS: &str = r#"
[facts.flag]
type = "boolean"

[facts.km]
type = "integer"
min = 0
max = 400000

[facts.cost]
type = "decimal"
min = 0
max = 99999.99
scale = 2

[facts.note]
type = "string"
optional = true
max_length = 5

[facts.kind]
type = "enum"
values = ["a", "b"]

[facts.day]
type = "date"
min = 2015-01-01

[facts.at]
type = "datetime"
optional = true
min = "2020-01-01T00:00:00Z"

[facts.owner]
type = "object"
[facts.owner.fields.name]
type = "string"
min_length = 1
[facts.owner.fields.since]
type = "date"
optional = true

[facts.events]
type = "array"
max_items = 3
items = { type = "object", fields = { at = { type = "date" }, km = { type = "integer", min = 0 } } }
"#;

/// [`FACTS`], constraints, invariants and one term.
const RULES: &str = r#"
[constraints]
day_not_after_as_of = { expr = "date(facts.day) <= date(as_of)", description = "the day is not in the future" }

[invariants]
echo_km = "outputs.out.km == facts.km"
never = "false"

[terms.out]
"#;

/// Facts that break every rule of [`FACTS`] at least once, nested paths and arrays included.
pub(crate) fn bad_facts() -> serde_json::Value {
    json!({
        "flag": "yes", "km": -5, "cost": 1.005, "note": "too long", "kind": "c",
        "day": "2025-02-30", "at": "2021-01-01T00:00:00",
        "owner": {"name": "", "since": 2020, "pet": "cat"},
        "events": [{"at": "2025-01-01", "km": 1.5}, {"km": 3}, 7, {}],
        "extra": 1,
    })
}

fn contract() -> Contract {
    let src = BundleSource::new("typed")
        .with_file(
            "contract.toml",
            format!("[contract]\nid = \"typed\"\nversion = \"1\"\n{FACTS}{RULES}"),
        )
        .with_file("terms/out.rhai", "#{ km: facts.km }");
    Engine::default().load(&src).unwrap()
}

fn as_of() -> DateTime {
    DateTime::parse_as_of("2026-01-01", chrono_tz::UTC).unwrap()
}

fn valid() -> serde_json::Value {
    json!({
        "flag": true, "km": 1000, "cost": 12.50, "kind": "a", "day": "2025-06-30",
        "owner": {"name": "Ada"},
        "events": [{"at": "2025-01-01", "km": 10}],
    })
}

#[test]
fn valid_facts_pass_and_evaluate() {
    let c = contract();
    assert!(c.validate_facts(&valid(), as_of()).is_empty());
    let d = c.evaluate(&Request::new(valid(), as_of())).unwrap();
    assert_eq!(d.outputs["out"]["km"], json!(1000));
}

#[test]
fn every_type_nested_paths_and_arrays_are_reported_at_once() {
    let c = contract();
    let facts = bad_facts();
    let problems: Vec<String> = c
        .validate_facts(&facts, as_of())
        .iter()
        .map(ToString::to_string)
        .collect();
    let expected = [
        "facts.flag: expected true or false, found \"yes\"",
        "facts.km: expected an integer between 0 and 400000, found -5",
        "facts.cost: expected a decimal number between 0 and 99999.99 with at most 2 decimals, found 1.005",
        "facts.note: expected a string of at most 5 characters, found \"too long\"",
        "facts.kind: expected one of \"a\", \"b\", found \"c\"",
        "facts.day: expected a date (YYYY-MM-DD) >= 2015-01-01, found \"2025-02-30\"",
        "facts.at: expected an RFC 3339 datetime with offset >= 2020-01-01T00:00:00+00:00, found \"2021-01-01T00:00:00\"",
        "facts.owner.name: expected a string of at least 1 characters, found \"\"",
        "facts.owner.since: expected a date (YYYY-MM-DD), found 2020",
        "facts.owner.pet: is not a field of the schema (fields: name, since)",
        "facts.events[0].km: expected an integer >= 0, found 1.5",
        "facts.events[1].at: is required: expected a date (YYYY-MM-DD)",
        "facts.events[2]: expected an object, found 7",
        "facts.events[3].at: is required: expected a date (YYYY-MM-DD)",
        "facts.events[3].km: is required: expected an integer >= 0",
        "facts.events: expected an array of at most 3 of objects, found an array of 4 elements",
        "facts.extra: is not a field of the schema",
    ];
    for e in expected {
        assert!(
            problems.iter().any(|p| p.starts_with(e)),
            "missing {e:?} in\n{}",
            problems.join("\n")
        );
    }
    // Evaluation refuses them all in one error, as a bad request.
    let err = c.evaluate(&Request::new(facts, as_of())).unwrap_err();
    assert!(
        matches!(&err, EvalError::FactsRejected { problems } if problems.len() >= expected.len())
    );
    assert!(err.is_bad_request());
    assert_eq!(err.code(), "invalid_facts");
}

#[test]
fn a_missing_required_fact_is_named_with_its_type() {
    let mut facts = valid();
    facts.as_object_mut().unwrap().remove("km");
    let problems = contract().validate_facts(&facts, as_of());
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].to_string(),
        "facts.km: is required: expected an integer between 0 and 400000"
    );
}

#[test]
fn constraints_run_after_the_schema_and_name_themselves() {
    let mut facts = valid();
    facts["day"] = json!("2026-05-01");
    let err = contract()
        .evaluate(&Request::new(facts, as_of()))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid facts: facts: constraint `day_not_after_as_of` does not hold: the day is not in the future"
    );
}

#[test]
fn invariants_are_checked_against_a_decision() {
    let c = contract();
    let request = Request::new(valid(), as_of());
    let d = c.evaluate(&request).unwrap();
    let failures = c.check_invariants(&request, &d);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].name, "never");
    assert_eq!(failures[0].message, "returned false");
    let only = c.check_invariants_named(&request, &d, Some(&["echo_km".to_string()]));
    assert!(only.is_empty(), "{only:?}");
    let unknown = c.check_invariants_named(&request, &d, Some(&["nope".to_string()]));
    assert_eq!(unknown[0].message, "is not an invariant of the contract");
}

#[test]
fn schema_mistakes_are_load_errors_with_positions() {
    let bad = r#"
[contract]
id = "typed"
version = "1"

[facts.a]
type = "integr"

[facts.b]
type = "integer"
values = ["x"]

[facts.c]
type = "date"
min = "2025-02-30"

[facts.d]
type = "array"

[facts.e]
type = "integer"
min = 10
max = 1

[invariants]
broken = "outputs.x +"

[terms.out]
"#;
    let src = BundleSource::new("typed")
        .with_file("contract.toml", bad)
        .with_file("terms/out.rhai", "1");
    let err = Engine::default().load(&src).unwrap_err().to_string();
    for needle in [
        "`integr` is not a fact type",
        "contract.toml:7:",
        "`values` does not apply to type `integer`",
        "facts.c.min",
        "an array needs `items`",
        "the lower bound is above the upper bound",
        "invariants.broken",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
}

#[test]
fn the_schema_serialises_for_adapters() {
    let c = contract();
    let json = serde_json::to_value(c.facts_schema().unwrap()).unwrap();
    assert_eq!(json["fields"][3]["name"], json!("events"));
    let km = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "km")
        .unwrap();
    assert_eq!(
        km,
        &json!({"name": "km", "type": "integer", "min": 0, "max": 400000})
    );
}

#[test]
fn a_local_datetime_is_read_in_the_contract_zone() {
    let manifest = r#"
[contract]
id = "local"
version = "1"
timezone = "Europe/Rome"

[facts.at]
type = "datetime"
local = true
min = "2025-06-02T09:00:00+02:00"

[facts.strict]
type = "datetime"
optional = true

[terms.out]
"#;
    let src = BundleSource::new("local")
        .with_file("contract.toml", manifest)
        .with_file("terms/out.rhai", "1");
    let c = Engine::default().load(&src).unwrap();
    let ok = |facts: serde_json::Value| c.validate_facts(&facts, as_of()).is_empty();
    // 09:00 in Rome is the minimum itself; 08:59 local is before it.
    assert!(ok(json!({"at": "2025-06-02T09:00:00"})));
    assert!(ok(json!({"at": "2025-06-02T07:00:00Z"})));
    assert!(!ok(json!({"at": "2025-06-02T08:59:00"})));
    // Without `local`, the offset is required.
    let problems = c.validate_facts(
        &json!({"at": "2025-06-02T10:00:00", "strict": "2025-06-02T10:00:00"}),
        as_of(),
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "facts.strict");
}
