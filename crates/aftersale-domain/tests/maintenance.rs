//! The `maintenance` plugin as scripts see it: a contract that names it, its functions called
//! from terms (also on a plan another term built), its errors as rhai runtime errors that
//! name the field, and the plan's JSON form in decisions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use aftersale_core::{BundleSource, Contract, Engine, Request};
use aftersale_domain::maintenance::MaintenancePlugin;
use serde_json::{json, Value};

const PLAN: &str = r#"maintenance_plan(#{
    tasks: [
        #{ name: "service", every: #{ months: 12, km: 15000 }, link: "or", anchor: "last_completion",
           tolerance: #{ months: 1, km: 1500 }, shift_factor: 1.0, due_soon: #{ days: 30, km: 1000 } },
        #{ name: "inspection", every: #{ years: 1, km: 10000 }, link: "and", anchor: "grid",
           tolerance: #{ months: 1, km: 1000 } },
    ],
    start: facts.start,
    start_meters: #{ km: 0 },
})"#;

fn contract(plan: &str, term: &str) -> Contract {
    let engine = Engine::builder().plugin(MaintenancePlugin).build();
    let manifest = r#"
[contract]
id = "maintenance-test"
version = "1"
plugins = ["maintenance"]
outputs = ["plan", "result"]
[terms.plan]
[terms.result]
"#;
    let source = BundleSource::new("maintenance-test")
        .with_file("contract.toml", manifest)
        .with_file("terms/plan.rhai", plan)
        .with_file("terms/result.rhai", term);
    engine.load(&source).unwrap()
}

fn run(
    plan: &str,
    term: &str,
    facts: Value,
    as_of: &str,
) -> Result<serde_json::Map<String, Value>, String> {
    let c = contract(plan, term);
    let as_of = c.parse_as_of(as_of).unwrap();
    c.evaluate(&Request::new(facts, as_of))
        .map(|d| d.outputs)
        .map_err(|e| e.to_string())
}

#[test]
fn next_due_from_a_plan_built_by_another_term() {
    let out = run(
        PLAN,
        r#"terms.plan.next_due("service", facts.history, facts.readings, as_of.date())"#,
        json!({
            "start": "2024-01-15",
            "history": [{"task": "service", "date": "2024-07-20", "km": 15300}],
            "readings": [{"date": "2024-07-15", "km": 15200}]
        }),
        "2024-07-20",
    )
    .unwrap();
    let r = &out["result"];
    assert_eq!(r["due_on"], json!("2025-07-20"));
    assert_eq!(r["due_at"], json!({"km": 30000}));
    assert_eq!(r["tolerance_until"], json!("2025-08-20"));
    assert_eq!(r["tolerance_at"], json!({"km": 31500}));
    assert_eq!(r["due_soon_from"], json!("2025-06-20"));
    assert_eq!(r["state"], json!("ok"));
    assert_eq!(r["last_done_on"], json!("2024-07-20"));
    assert_eq!(
        out["plan"]["tasks"][1]["every"],
        json!({"months": 12, "km": 10000})
    );
    assert_eq!(out["plan"]["tasks"][1]["shift_factor"], json!(0));
}

#[test]
fn every_function_is_callable_from_a_script() {
    let term = r#"
let p = terms.plan;
let h = [#{ task: "service", date: date("2025-01-10"), km: 14000 }];
let r = [#{ date: "2024-07-15", km: 7000 }];
#{
    all: p.next_due(h, r, as_of.date()),
    visits: p.visits(h, r, as_of.date(), as_of.date().add_months(12)),
    compliance: p.compliance(h, r, as_of.date()),
    time_only: p.compliance([], as_of.date()),
    usage: p.usage(h, r, as_of.date()),
    start: p.start,
    tasks: p.tasks,
}"#;
    let out = run(PLAN, term, json!({"start": "2024-01-15"}), "2025-02-01").unwrap();
    let r = &out["result"];
    assert_eq!(r["all"]["service"]["due_on"], json!("2026-01-10"));
    assert_eq!(r["all"]["inspection"]["state"], json!("due"));
    assert_eq!(r["compliance"]["compliant"], json!(true));
    assert_eq!(r["compliance"]["counts"]["pending"], json!(1));
    // 14,000 km from 2024-01-15 to 2025-01-10 (361 days): 38.78... km a day.
    assert!(
        r["usage"]["km"].to_string().starts_with("38.7811634"),
        "{}",
        r["usage"]
    );
    assert_eq!(r["start"], json!("2024-01-15"));
    assert_eq!(r["tasks"], json!(["service", "inspection"]));
    assert!(r["visits"].as_array().is_some_and(|v| !v.is_empty()));
}

fn plan_error(task: &str) -> String {
    let plan = format!(r#"maintenance_plan(#{{ tasks: [{task}], start: "2024-01-01" }})"#);
    run(&plan, "1", json!({}), "2024-06-01").unwrap_err()
}

#[test]
fn mistakes_are_runtime_errors_naming_the_field() {
    let cases = [
        (
            r#"#{ name: "s", every: #{ km: 0 } }"#,
            "`tasks[0].every.km` must be greater than 0, got 0",
        ),
        (
            r#"#{ name: "s", every: #{ months: -12 } }"#,
            "`tasks[0].every.months` must be greater than 0, got -12",
        ),
        (
            r#"#{ name: "s", every: #{ month: 12 } }"#,
            "`tasks[0].every.month`: unknown unit `month` (write `months`)",
        ),
        (
            r#"#{ name: "s", every: #{ months: 12 }, tolerance: #{ km: 100 } }"#,
            "`tasks[0].tolerance.km`: unknown unit `km`",
        ),
        (
            r#"#{ name: "s", every: #{ months: 12 }, link: "xor" }"#,
            "`tasks[0].link` must be \"or\"",
        ),
        (
            r#"#{ name: "s", every: #{ months: 12 }, anchor: "fixed" }"#,
            "`tasks[0].anchor` must be \"grid\" or \"last_completion\", got `fixed`",
        ),
        (
            r#"#{ name: "s", every: #{ months: 12 }, tolerance: #{ days: -1 } }"#,
            "`tasks[0].tolerance.days` must not be negative, got -1",
        ),
        (
            r#"#{ name: "s", every: #{ months: 12 }, shift_factor: -0.5 }"#,
            "`tasks[0].shift_factor` must not be negative, got -0.5",
        ),
        (
            r#"#{ name: "s", every: #{ months: 1.5 } }"#,
            "`tasks[0].every.months` must be a whole number, got 1.5",
        ),
        (
            r#"#{ name: "s", every: #{} }"#,
            "`tasks[0].every` has no interval",
        ),
        (
            r#"#{ name: "s", every: #{ months: 12 }, tolerence: #{} }"#,
            "maintenance: tasks[0].tolerence: unknown key (allowed: name, description",
        ),
    ];
    for (task, expected) in cases {
        let err = plan_error(task);
        assert!(
            err.contains("maintenance_plan: ") || err.contains("maintenance: "),
            "{err}"
        );
        assert!(err.contains(expected), "{task}: {err}");
    }
}

#[test]
fn input_mistakes_are_runtime_errors() {
    let call = |history: &str, readings: &str| {
        run(
            PLAN,
            &format!(r#"terms.plan.next_due("service", {history}, {readings}, as_of.date())"#),
            json!({"start": "2024-01-15"}),
            "2024-06-01",
        )
        .unwrap_err()
    };
    let err = call(
        "[]",
        r#"[#{date: "2024-03-01", km: 10}, #{date: "2024-02-01", km: 20}]"#,
    );
    assert!(
        err.contains("next_due: readings out of order: `readings[1]` is dated 2024-02-01"),
        "{err}"
    );
    let err = call(
        "[]",
        r#"[#{date: "2024-02-01", km: 20}, #{date: "2024-03-01", km: 10}]"#,
    );
    assert!(
        err.contains("readings out of order: km goes back from 20"),
        "{err}"
    );
    let err = call("[]", r#"[#{date: "2024-02-01", kms: 20}]"#);
    assert!(
        err.contains("`readings[0].kms`: unknown unit `kms` (the plan's meters are: km)"),
        "{err}"
    );
    let err = call(r#"[#{task: "oil", date: "2024-02-01", km: 20}]"#, "[]");
    assert!(
        err.contains("`history[0].task`: the plan has no task `oil` (tasks: service, inspection)"),
        "{err}"
    );
    let err = call(r#"[#{task: "service", date: "2024-02-30", km: 20}]"#, "[]");
    assert!(
        err.contains("maintenance: history[0].date: invalid date `2024-02-30`"),
        "{err}"
    );
    let err = run(
        PLAN,
        r#"terms.plan.next_due("brakes", [], [], as_of.date())"#,
        json!({"start": "2024-01-15"}),
        "2024-06-01",
    )
    .unwrap_err();
    assert!(err.contains("the plan has no task `brakes`"), "{err}");
    let err = run(
        PLAN,
        r#"terms.plan.visits([], [], as_of.date(), as_of.date().add_days(-1))"#,
        json!({"start": "2024-01-15"}),
        "2024-06-01",
    )
    .unwrap_err();
    assert!(
        err.contains("the horizon ends 2024-05-31, before it starts 2024-06-01"),
        "{err}"
    );
}
