//! The kit's own laws: generated facts pass the schema they came from, a bundle diffed with
//! itself shows no change, regressions replay exactly, shrinking reaches the boundary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod digests;

use std::path::Path;
use std::sync::OnceLock;

use aftersale_core::cases::{parse_case_file, run_case, Outcome};
use aftersale_core::{BundleSource, Contract, Engine};
use aftersale_testkit::{diff_bundles, facts_strategy, prop, regress, DiffConfig, PropConfig};
use proptest::prelude::*;

/// Every type, nested objects, arrays of objects with `sorted_by`, optional fields.
const EVERY_TYPE: &str = r#"
[contract]
id = "every-type"
version = "1"

[facts.flag]
type = "boolean"
[facts.count]
type = "integer"
min = -5
max = 5
[facts.big]
type = "integer"
[facts.amount]
type = "decimal"
min = 0
max = 99999.99
scale = 2
[facts.rate]
type = "decimal"
min = -1
max = 1
scale = 4
[facts.note]
type = "string"
optional = true
min_length = 2
max_length = 5
[facts.kind]
type = "enum"
values = ["a", "b", "c"]
[facts.day]
type = "date"
min = 2024-02-01
max = 2024-03-31
[facts.at]
type = "datetime"
optional = true
min = "2025-03-30T00:00:00+01:00"
max = "2025-03-31T00:00:00+02:00"
[facts.owner]
type = "object"
[facts.owner.fields.name]
type = "string"
[facts.owner.fields.since]
type = "date"
optional = true
[facts.history]
type = "array"
min_items = 1
max_items = 4
sorted_by = ["on", "km"]
items = { type = "object", fields = { on = { type = "date" }, km = { type = "integer", min = 0 }, tags = { type = "array", items = { type = "enum", values = ["x", "y"] } } } }

[as_of]
min = 2024-01-01
max = 2024-12-31

[invariants]
count_small = "facts.count < 4"

[terms.echo]
"#;

fn every_type() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| {
        let src = BundleSource::new("every-type")
            .with_file("contract.toml", EVERY_TYPE)
            .with_file(
                "terms/echo.rhai",
                "#{ count: facts.count, kind: facts.kind }",
            );
        Engine::default().load(&src).unwrap()
    })
}

fn engine() -> Engine {
    aftersale_domain::with_domain_plugins(Engine::builder()).build()
}

fn rules(name: &str) -> Contract {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../rules")
        .join(name);
    engine().load_dir(&dir).unwrap()
}

fn car_warranty() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| rules("car-warranty"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn generated_facts_pass_the_schema_they_came_from(facts in facts_strategy(every_type()).unwrap()) {
        let problems = every_type().facts_schema().unwrap().validate(&facts);
        prop_assert!(problems.is_empty(), "{facts}: {problems:?}");
    }

    #[test]
    fn generated_claims_pass_car_warranty_s_schema(facts in facts_strategy(car_warranty()).unwrap()) {
        let problems = car_warranty().facts_schema().unwrap().validate(&facts);
        prop_assert!(problems.is_empty(), "{facts}: {problems:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn diff_of_a_bundle_with_itself_is_empty(seed in any::<u64>()) {
        // Two loads of the same folder: nothing may differ, whatever the requests.
        let again = rules("car-warranty");
        let report = diff_bundles(
            car_warranty(),
            &again,
            &DiffConfig { cases: 40, seed, ..DiffConfig::default() },
        )
        .unwrap();
        prop_assert_eq!(report.cases, 40);
        prop_assert_eq!(report.changed, 0, "{:?}", report.groups);
    }
}

#[test]
fn boundary_values_show_up() {
    // The bounds, month ends and leap days are generated far more often than uniform draws
    // would give them.
    let strategy = facts_strategy(every_type()).unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..400 {
        let facts = strategy.new_tree(&mut runner).unwrap().current();
        seen.insert(facts["day"].as_str().unwrap().to_string());
        seen.insert(format!("count={}", facts["count"]));
    }
    for wanted in [
        "2024-02-01",
        "2024-02-29",
        "2024-03-01",
        "2024-03-31",
        "count=-5",
        "count=5",
    ] {
        assert!(seen.contains(wanted), "{wanted} never generated");
    }
}

#[test]
fn prop_shrinks_to_the_boundary_and_is_reproducible() {
    let config = PropConfig {
        cases: 500,
        seed: 3,
        as_of: None,
    };
    let report = prop::run(every_type(), &config).unwrap();
    let failure = report
        .failure
        .as_ref()
        .expect("count_small is broken for count 4 and 5");
    assert_eq!(failure.violation.invariant_names(), ["count_small"]);
    // Shrunk: count at the edge, everything optional dropped, one history entry.
    let facts = &failure.minimal.facts;
    assert_eq!(facts["count"], 4);
    assert!(
        facts.get("note").is_none() && facts.get("at").is_none(),
        "{facts}"
    );
    assert_eq!(facts["history"].as_array().unwrap().len(), 1, "{facts}");
    // The same seed, the same failure.
    let again = prop::run(every_type(), &config).unwrap();
    assert_eq!(again.failure.unwrap().minimal, failure.minimal);
}

#[test]
fn a_regression_case_replays_its_request_exactly() {
    let report = prop::run(
        every_type(),
        &PropConfig {
            cases: 500,
            seed: 11,
            as_of: None,
        },
    )
    .unwrap();
    let failure = report.failure.unwrap();
    let text = regress::case_text(
        &failure.original,
        &["count_small".into()],
        "why\nsecond line",
        11,
    )
    .unwrap();
    let cases = parse_case_file("regressions.toml", &text).unwrap();
    assert_eq!(cases.len(), 1);
    let case = &cases[0].case;
    // Facts come back with the generated digits, `as_of` unchanged.
    assert_eq!(
        serde_json::Value::Object(case.facts.clone()),
        failure.original.facts
    );
    assert_eq!(case.as_of, failure.original.as_of);
    match run_case(every_type(), case) {
        Outcome::InvariantsBroken(list) => assert_eq!(list[0].name, "count_small"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_shipped_car_warranty_keeps_its_invariants() {
    let report = prop::run(
        car_warranty(),
        &PropConfig {
            cases: 150,
            seed: 5,
            as_of: None,
        },
    )
    .unwrap();
    assert_eq!(report.cases, 150);
    assert!(report.failure.is_none(), "{:?}", report.failure);
}
