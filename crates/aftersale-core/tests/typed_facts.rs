//! Facts bound in one walk, typed facts and defaults (module of the `tests` binary).

use aftersale_core::schema::BindError;
use aftersale_core::{BundleSource, Contract, DateTime, Engine, EvalError, Request};
use serde_json::{json, Value};

use crate::schema::{bad_facts, FACTS};

/// The schema of `schema.rs` ([`FACTS`]), with or without `typed_facts`, and one term that
/// shows what scripts see.
fn contract(typed: bool, extra: &str, script: &str) -> Contract {
    let manifest = format!(
        r#"
[contract]
id = "typed"
version = "1"
timezone = "Europe/Rome"
typed_facts = {typed}
{FACTS}{extra}
[terms.out]
"#
    );
    let src = BundleSource::new("typed")
        .with_file("contract.toml", manifest)
        .with_file("terms/out.rhai", script);
    match Engine::default().load(&src) {
        Ok(c) => c,
        Err(e) => panic!("load failed: {e}"),
    }
}

fn load_error(typed: bool, extra: &str) -> String {
    let manifest = format!(
        "[contract]\nid = \"t\"\nversion = \"1\"\ntyped_facts = {typed}\n{extra}\n[terms.out]\n"
    );
    let src = BundleSource::new("t")
        .with_file("contract.toml", manifest)
        .with_file("terms/out.rhai", "1");
    match Engine::default().load(&src) {
        Ok(_) => panic!("loaded: {extra}"),
        Err(e) => e.to_string(),
    }
}

fn as_of() -> DateTime {
    DateTime::parse_as_of("2026-01-01", chrono_tz::UTC).unwrap()
}

fn valid() -> Value {
    json!({
        "flag": true, "km": 1000, "cost": 12.50, "kind": "a", "day": "2025-06-30",
        "at": "2025-06-30T10:15:00+02:00",
        "owner": {"name": "Ada", "since": "2020-02-29"},
        "events": [{"at": "2025-01-01", "km": 10}],
    })
}

fn out(c: &Contract, facts: Value) -> Value {
    match c.evaluate(&Request::new(facts, as_of())) {
        Ok(d) => d.outputs["out"].clone(),
        Err(e) => panic!("{e}"),
    }
}

const TYPES: &str = "[type_of(facts.day), type_of(facts.cost), type_of(facts.at), \
    type_of(facts.owner.since), type_of(facts.events[0].at), type_of(facts.km)]";

/// Every problem of one request, as the schema's separate check listed them before facts
/// were bound in one walk (captured from `validate` on main at 13fac49), in its order.
#[test]
fn one_walk_reports_the_problems_of_the_old_check_in_its_order() {
    let bad = bad_facts();
    let before = [
        "facts.at: expected an RFC 3339 datetime with offset >= 2020-01-01T00:00:00+00:00, found \"2021-01-01T00:00:00\"",
        "facts.cost: expected a decimal number between 0 and 99999.99 with at most 2 decimals, found 1.005",
        "facts.day: expected a date (YYYY-MM-DD) >= 2015-01-01, found \"2025-02-30\"",
        "facts.events[0].km: expected an integer >= 0, found 1.5",
        "facts.events[1].at: is required: expected a date (YYYY-MM-DD)",
        "facts.events[2]: expected an object, found 7",
        "facts.events[3].at: is required: expected a date (YYYY-MM-DD)",
        "facts.events[3].km: is required: expected an integer >= 0",
        "facts.events: expected an array of at most 3 of objects, found an array of 4 elements",
        "facts.flag: expected true or false, found \"yes\"",
        "facts.kind: expected one of \"a\", \"b\", found \"c\"",
        "facts.km: expected an integer between 0 and 400000, found -5",
        "facts.note: expected a string of at most 5 characters, found \"too long\"",
        "facts.owner.name: expected a string of at least 1 characters, found \"\"",
        "facts.owner.since: expected a date (YYYY-MM-DD), found 2020",
        "facts.owner.pet: is not a field of the schema (fields: name, since)",
        "facts.extra: is not a field of the schema (fields: at, cost, day, events, flag, kind, km, note, owner)",
    ];
    let missing = json!({"events": [{"at": "2025-03-01", "km": 5}], "owner": 3});
    let missing_before = [
        "facts.cost: is required: expected a decimal number between 0 and 99999.99 with at most 2 decimals",
        "facts.day: is required: expected a date (YYYY-MM-DD) >= 2015-01-01",
        "facts.flag: is required: expected true or false",
        "facts.kind: is required: expected one of \"a\", \"b\"",
        "facts.km: is required: expected an integer between 0 and 400000",
        "facts.owner: expected an object, found 3",
    ];
    for typed in [false, true] {
        let c = contract(typed, "", "1");
        let schema = c.facts_schema().unwrap();
        for (facts, expected) in [(&bad, &before[..]), (&missing, &missing_before[..])] {
            let listed: Vec<String> = schema
                .validate(facts)
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(listed, expected, "typed {typed}");
            let Err(BindError::Rejected(bound)) = schema.bind(facts) else {
                panic!("bound invalid facts");
            };
            assert_eq!(bound, schema.validate(facts));
            let Err(EvalError::FactsRejected { problems }) =
                c.evaluate(&Request::new(facts.clone(), as_of()))
            else {
                panic!("evaluated invalid facts");
            };
            assert_eq!(problems, bound);
            assert_eq!(c.validate_facts(facts, as_of()), bound);
        }
    }
}

#[test]
fn without_typed_facts_scripts_see_the_facts_as_their_json_writes_them() {
    let c = contract(false, "", TYPES);
    assert_eq!(
        out(&c, valid()),
        json!(["string", "decimal", "string", "string", "string", "i64"])
    );
    // A whole number in a decimal field is an integer, as it always was.
    let mut whole = valid();
    whole["cost"] = json!(1200);
    assert_eq!(out(&c, whole)[1], json!("i64"));
    // The bound value is the plain conversion's, value for value.
    let plain = aftersale_core::value::json_to_dynamic(&valid(), "facts").unwrap();
    let bound = c.facts_schema().unwrap().bind(&valid()).unwrap();
    assert_eq!(format!("{bound:?}"), format!("{plain:?}"));
}

#[test]
fn typed_facts_reach_scripts_as_dates_datetimes_and_decimals() {
    let c = contract(true, "", TYPES);
    assert_eq!(
        out(&c, valid()),
        json!(["date", "decimal", "datetime", "date", "date", "i64"])
    );
    let mut whole = valid();
    whole["cost"] = json!(1200);
    assert_eq!(out(&c, whole)[1], json!("decimal"));
    // Dates compare with dates and take date arithmetic, with no parsing in the script.
    let c = contract(
        true,
        "",
        "[facts.day < date(\"2025-07-01\"), facts.day.add_months(8), \
         facts.owner.since.add_years(1), facts.at > datetime(\"2025-06-30T08:00:00Z\"), \
         facts.cost * 2, date(facts.day) == facts.day, decimal(facts.cost) == facts.cost]",
    );
    assert_eq!(
        out(&c, valid()),
        json!([true, "2026-02-28", "2021-02-28", true, 25.00, true, true])
    );
}

#[test]
fn typed_facts_echo_the_json_untyped_facts_did() {
    let echo =
        "#{ day: facts.day, cost: facts.cost, since: facts.owner.since, events: facts.events, \
                 half: facts.cost / 2, km: facts.km, late: facts.day.add_days(1) }";
    let plain = contract(
        false,
        "",
        &echo.replace("facts.day.add_days(1)", "date(facts.day).add_days(1)"),
    );
    let typed = contract(true, "", echo);
    for cost in [json!(12.50), json!(1200), json!(0.05), json!(99999.99)] {
        let mut facts = valid();
        facts["cost"] = cost;
        let (a, b) = (out(&plain, facts.clone()), out(&typed, facts));
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
    }
}

#[test]
fn constraints_and_invariants_see_typed_facts() {
    let extra = r#"
[constraints]
day_not_after_as_of = "facts.day <= date(as_of)"
still_parses = "date(facts.day) <= date(as_of)"

[invariants]
echo = "date(outputs.out) == facts.day && type_of(facts.cost) == \"decimal\""
"#;
    let c = contract(true, extra, "facts.day");
    let request = Request::new(valid(), as_of());
    let d = c.evaluate(&request).unwrap();
    assert_eq!(d.outputs["out"], json!("2025-06-30"));
    assert!(c.check_invariants(&request, &d).is_empty());
    assert!(c.validate_facts(&valid(), as_of()).is_empty());
    let mut late = valid();
    late["day"] = json!("2026-05-01");
    let problems = c.validate_facts(&late, as_of());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].message.contains("day_not_after_as_of"),
        "{problems:?}"
    );
}

#[test]
fn a_default_is_taken_when_the_fact_is_absent_and_only_then() {
    let extra = r#"
[facts.late]
type = "boolean"
optional = true
default = false

[facts.paid]
type = "decimal"
optional = true
default = 0.00

[facts.since]
type = "date"
optional = true
default = 2020-01-01

[facts.tags]
type = "array"
optional = true
default = []
items = { type = "string" }
"#;
    let script = "[\"late\" in facts, facts.late, facts.paid, type_of(facts.paid), \
                  facts.since, type_of(facts.since), facts.tags.len(), \"note\" in facts]";
    let c = contract(true, extra, script);
    let text = |v: Value| serde_json::to_string(&v).unwrap();
    assert_eq!(
        text(out(&c, valid())),
        r#"[true,false,0.00,"decimal","2020-01-01","date",0,false]"#
    );
    let mut given = valid();
    given["late"] = json!(true);
    given["paid"] = json!(12.34);
    given["since"] = json!("2024-02-29");
    given["tags"] = json!(["x", "y"]);
    assert_eq!(
        text(out(&c, given)),
        r#"[true,true,12.34,"decimal","2024-02-29","date",2,false]"#
    );
    // The schema shows the defaults.
    let schema = serde_json::to_value(c.facts_schema().unwrap()).unwrap();
    let paid = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "paid")
        .unwrap();
    assert_eq!(text(paid["default"].clone()), "0.00");
}

#[test]
fn a_default_that_does_not_fit_or_belongs_to_a_required_field_is_a_load_error() {
    let cases = [
        ("[facts.a]\ntype = \"date\"\noptional = true\ndefault = \"2025-02-30\"\n", "contract.toml:8:11", "facts.a.default"),
        ("[facts.a]\ntype = \"integer\"\noptional = true\nmin = 0\ndefault = -1\n", "contract.toml:9:11", "expected an integer >= 0, found -1"),
        ("[facts.a]\ntype = \"integer\"\noptional = true\ndefault = 1.5\n", "contract.toml:8:11", "expected an integer, found 1.5"),
        ("[facts.a]\ntype = \"enum\"\nvalues = [\"x\"]\noptional = true\ndefault = \"y\"\n", "contract.toml:9:11", "expected one of \"x\", found \"y\""),
        ("[facts.a]\ntype = \"decimal\"\nscale = 2\noptional = true\ndefault = 0.001\n", "contract.toml:9:11", "with at most 2 decimals"),
        ("[facts.a]\ntype = \"boolean\"\ndefault = true\n", "contract.toml:7:11", "a required field has no default"),
        ("[facts.a]\ntype = \"object\"\noptional = true\nfields = { b = { type = \"integer\", default = 1 } }\n", "contract.toml:8:", "facts.a.b.default"),
    ];
    for (extra, at, needle) in cases {
        let err = load_error(true, extra);
        assert!(
            err.contains(at) && err.contains(needle),
            "{needle} at {at}: {err}"
        );
    }
    let err = load_error(
        true,
        "[facts.a]\ntype = \"integer\"\noptional = true\ndefault = \"one\"\n",
    );
    assert!(
        err.contains("the default does not fit the field: expected an integer, found \"one\""),
        "{err}"
    );
    // Defaults come with typed facts, and typed facts with a schema.
    let err = load_error(
        false,
        "[facts.a]\ntype = \"boolean\"\noptional = true\ndefault = true\n",
    );
    assert!(
        err.contains("a default needs `typed_facts = true`") && err.contains("contract.toml:8:11"),
        "{err}"
    );
    let err = load_error(true, "");
    assert!(
        err.contains("typed facts need a facts schema") && err.contains("contract.toml:4:"),
        "{err}"
    );
}
