//! Coverage: which terms and which branches of `if` and `switch` evaluations took, on small
//! bundles whose every path is known.

use aftersale_core::coverage::{BranchKind, Coverage, CoverageReport};
use aftersale_core::{Contract, Engine, Request};
use serde_json::{json, Value};

use crate::support::bundle;

use BranchKind::{IfElse, IfNoElse, IfThen, SwitchCase, SwitchDefault, SwitchNoMatch};

fn covered(extra_manifest: &str, terms: &[(&str, &str)]) -> Contract {
    let engine = Engine::builder().coverage(true).build();
    match engine.load(&bundle(extra_manifest, terms)) {
        Ok(c) => c,
        Err(e) => panic!("load failed: {e}"),
    }
}

/// Evaluates every facts object under one recording; errors are fine (they are covered too).
fn report_after(contract: &Contract, facts: &[Value]) -> CoverageReport {
    let as_of = contract.parse_as_of("2025-06-15").unwrap();
    let mut coverage = Coverage::new();
    for f in facts {
        let _ = coverage.record(|| contract.evaluate(&Request::new(f.clone(), as_of)));
    }
    coverage.report(contract)
}

/// `(line, kind, exercised)` of every branch of `term`.
fn branches(report: &CoverageReport, term: &str) -> Vec<(usize, BranchKind, bool)> {
    let t = report.terms.iter().find(|t| t.term == term).unwrap();
    t.branches
        .iter()
        .map(|b| (b.line, b.kind, b.exercised))
        .collect()
}

const IF_ELSE: &str = "if facts.n > 10 {\n    \"big\"\n} else {\n    \"small\"\n}";

#[test]
fn if_else_counts_each_way_taken() {
    let contract = covered("", &[("size", IF_ELSE)]);
    let report = report_after(&contract, &[json!({"n": 5})]);
    assert_eq!(
        branches(&report, "size"),
        [(1, IfThen, false), (1, IfElse, true)]
    );
    let report = report_after(&contract, &[json!({"n": 5}), json!({"n": 50})]);
    assert_eq!(
        branches(&report, "size"),
        [(1, IfThen, true), (1, IfElse, true)]
    );
    assert_eq!(report.terms_evaluated(), 1);
    assert_eq!((report.branches_exercised(), report.branch_count()), (2, 2));
}

#[test]
fn else_if_chains_are_one_if_per_link() {
    let script = "if facts.n > 10 {\n  \"big\"\n} else if facts.n > 5 {\n  \"mid\"\n} else {\n  \"small\"\n}";
    let contract = covered("", &[("size", script)]);
    let report = report_after(&contract, &[json!({"n": 7})]);
    assert_eq!(
        branches(&report, "size"),
        [
            (1, IfThen, false),
            (1, IfElse, true),
            (3, IfThen, true),
            (3, IfElse, false),
        ]
    );
    let report = report_after(&contract, &[json!({"n": 7}), json!({"n": 1})]);
    assert_eq!(report.branches_exercised(), 3);
}

#[test]
fn nested_ifs_without_else_see_the_condition_false() {
    // Unoptimised, the inner `if` stays an `if` (the optimiser would fold it into `a && b`).
    let script = "let fee = 0;\nif facts.a {\n    if facts.b {\n        fee = 2;\n    }\n}\nfee";
    let contract = covered("", &[("fee", script)]);
    let report = report_after(&contract, &[json!({"a": true, "b": false})]);
    assert_eq!(
        branches(&report, "fee"),
        [
            (2, IfThen, true),
            (2, IfNoElse, false),
            (3, IfThen, false),
            (3, IfNoElse, true),
        ]
    );
    let report = report_after(
        &contract,
        &[
            json!({"a": false, "b": true}),
            json!({"a": true, "b": true}),
        ],
    );
    assert_eq!(
        branches(&report, "fee"),
        [
            (2, IfThen, true),
            (2, IfNoElse, true),
            (3, IfThen, true),
            (3, IfNoElse, false),
        ]
    );
}

#[test]
fn an_if_last_in_a_script_or_a_loop_is_decided_too() {
    let contract = covered(
        "",
        &[
            ("last", "if facts.n > 1 {\n  print(\"big\");\n}"),
            (
                "looped",
                "let n = 0;\nfor i in 0..facts.n {\n  if i == 1 {\n    n += 1;\n  }\n}\nn",
            ),
        ],
    );
    let report = report_after(&contract, &[json!({"n": 0})]);
    assert_eq!(
        branches(&report, "last"),
        [(1, IfThen, false), (1, IfNoElse, true)]
    );
    // No iteration: the `if` never ran, neither way counts.
    assert_eq!(
        branches(&report, "looped"),
        [(3, IfThen, false), (3, IfNoElse, false)]
    );
    let report = report_after(&contract, &[json!({"n": 3})]);
    assert_eq!(
        branches(&report, "looped"),
        [(3, IfThen, true), (3, IfNoElse, true)]
    );
    assert_eq!(
        branches(&report, "last"),
        [(1, IfThen, true), (1, IfNoElse, false)]
    );
}

#[test]
fn switch_cases_default_and_no_match() {
    let with_default =
        "switch facts.tier {\n  \"gold\" => 30,\n  \"silver\" => { let x = 10; x * 2 }\n  _ => 0\n}";
    let without = "switch facts.tier {\n  \"gold\" => 30,\n  \"silver\" => 20\n}";
    let contract = covered("", &[("with", with_default), ("without", without)]);
    let report = report_after(&contract, &[json!({"tier": "gold"})]);
    assert_eq!(
        branches(&report, "with"),
        [
            (2, SwitchCase, true),
            (3, SwitchCase, false),
            (4, SwitchDefault, false)
        ]
    );
    assert_eq!(
        branches(&report, "without"),
        [
            (1, SwitchNoMatch, false),
            (2, SwitchCase, true),
            (3, SwitchCase, false)
        ]
    );
    let report = report_after(
        &contract,
        &[json!({"tier": "silver"}), json!({"tier": "bronze"})],
    );
    assert_eq!(
        branches(&report, "with"),
        [
            (2, SwitchCase, false),
            (3, SwitchCase, true),
            (4, SwitchDefault, true)
        ]
    );
    assert_eq!(
        branches(&report, "without"),
        [
            (1, SwitchNoMatch, true),
            (2, SwitchCase, false),
            (3, SwitchCase, true)
        ]
    );
}

#[test]
fn branches_inside_script_functions_count() {
    let script = "fn rate(km) {\n  if km > 1000 {\n    return 2;\n  }\n  1\n}\nfn note(x) {\n  if x > 100 {\n    print(\"big\");\n  }\n}\nnote(facts.km);\nrate(facts.km)";
    let contract = covered("", &[("rate", script)]);
    let report = report_after(&contract, &[json!({"km": 5})]);
    assert_eq!(
        branches(&report, "rate"),
        [
            (2, IfThen, false),
            (2, IfNoElse, true),
            (8, IfThen, false),
            // Last in its function: decided when the call returns.
            (8, IfNoElse, true),
        ]
    );
    let report = report_after(&contract, &[json!({"km": 5000})]);
    assert_eq!(
        branches(&report, "rate"),
        [
            (2, IfThen, true),
            (2, IfNoElse, false),
            (8, IfThen, true),
            (8, IfNoElse, false),
        ]
    );
}

#[test]
fn a_condition_calling_a_function_is_not_mistaken_for_a_branch() {
    let script = "fn big(n) {\n  let limit = 10;\n  n > limit\n}\nlet x = 0;\nif big(facts.n) {\n  x = 1;\n}\nx";
    let contract = covered("", &[("x", script)]);
    let report = report_after(&contract, &[json!({"n": 50})]);
    assert_eq!(
        branches(&report, "x"),
        [(6, IfThen, true), (6, IfNoElse, false)]
    );
}

#[test]
fn a_branch_that_throws_is_covered_and_a_failing_condition_decides_nothing() {
    let script = "if facts.n > 1 {\n  throw \"too big\";\n}\n0";
    let contract = covered("", &[("x", script)]);
    let report = report_after(&contract, &[json!({"n": 5})]);
    assert_eq!(
        branches(&report, "x"),
        [(1, IfThen, true), (1, IfNoElse, false)]
    );
    // `facts.n` is missing: the condition fails, neither way was taken.
    let report = report_after(&contract, &[json!({})]);
    assert_eq!(
        branches(&report, "x"),
        [(1, IfThen, false), (1, IfNoElse, false)]
    );
    assert_eq!(report.terms_evaluated(), 1);
}

#[test]
fn terms_never_evaluated_are_listed() {
    let contract = covered(
        "outputs = [\"a\"]",
        &[("a", "facts.n + 1"), ("b", IF_ELSE), ("c", "{}")],
    );
    let report = report_after(&contract, &[json!({"n": 1})]);
    let evaluated: Vec<_> = report
        .terms
        .iter()
        .map(|t| (t.term.as_str(), t.evaluated))
        .collect();
    assert_eq!(evaluated, [("a", true), ("b", false), ("c", false)]);
    assert_eq!(report.terms_evaluated(), 1);
    assert_eq!((report.branches_exercised(), report.branch_count()), (0, 2));
    assert_eq!(report.terms[1].file, "terms/b.rhai");
}

#[test]
fn only_evaluations_inside_record_are_seen() {
    let contract = covered("", &[("size", IF_ELSE)]);
    assert!(contract.records_coverage());
    let as_of = contract.parse_as_of("2025-06-15").unwrap();
    // Outside `record`: not seen.
    contract
        .evaluate(&Request::new(json!({"n": 50}), as_of))
        .unwrap();
    let mut coverage = Coverage::new();
    let seen_elsewhere = std::thread::scope(|s| {
        s.spawn(|| contract.evaluate(&Request::new(json!({"n": 50}), as_of)))
            .join()
            .unwrap()
    });
    assert!(seen_elsewhere.is_ok());
    let decision = coverage
        .record(|| contract.evaluate(&Request::new(json!({"n": 5}), as_of)))
        .unwrap();
    assert_eq!(decision.outputs["size"], json!("small"));
    assert_eq!(
        branches(&coverage.report(&contract), "size"),
        [(1, IfThen, false), (1, IfElse, true)]
    );
}

#[test]
fn contracts_loaded_normally_carry_no_hook_and_decide_the_same() {
    let plain = Engine::default()
        .load(&bundle("", &[("size", IF_ELSE)]))
        .unwrap();
    assert!(!plain.records_coverage());
    let instrumented = covered("", &[("size", IF_ELSE)]);
    let as_of = plain.parse_as_of("2025-06-15").unwrap();
    for n in [1, 11] {
        let req = Request::new(json!({ "n": n }), as_of);
        assert_eq!(
            plain.evaluate(&req).unwrap().outputs,
            instrumented.evaluate(&req).unwrap().outputs
        );
    }
    let mut coverage = Coverage::new();
    let _ = coverage.record(|| plain.evaluate(&Request::new(json!({"n": 1}), as_of)));
    let report = coverage.report(&plain);
    assert_eq!(
        (report.terms_evaluated(), report.branches_exercised()),
        (0, 0)
    );
}
