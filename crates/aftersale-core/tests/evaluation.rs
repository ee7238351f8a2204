//! Evaluation: plans, outputs, traces, errors, and sharing a contract across threads.

use std::sync::atomic::{AtomicUsize, Ordering};

use aftersale_core::{Contract, Decision, EvalError, Request};
use serde_json::json;

use crate::support::{error_of, eval_with, loaded, value_of};

#[test]
fn only_the_terms_outputs_need_are_run() {
    // `b` would fail if it ran.
    let contract = loaded(
        "outputs = [\"a\"]",
        &[("a", "terms.c + 1"), ("b", "throw \"ran\""), ("c", "1")],
    );
    let d = eval_with(&contract, json!({})).unwrap();
    assert_eq!(d.outputs["a"], json!(2));
    let as_of = contract.parse_as_of("2025-01-01").unwrap();
    let req = Request::new(json!({}), as_of).with_outputs(["b"]);
    assert!(matches!(
        contract.evaluate(&req),
        Err(EvalError::Term { .. })
    ));
}

#[test]
fn trace_lists_each_term_once_in_dependency_order() {
    let contract = loaded(
        "",
        &[
            ("top", "terms.left + terms.right"),
            ("left", "terms.base * 2"),
            ("right", "print(`r`); terms.base * 3"),
            ("base", "facts.n"),
        ],
    );
    let as_of = contract.parse_as_of("2025-01-01").unwrap();
    let d = contract
        .evaluate(&Request::new(json!({"n": 2}), as_of).with_trace(true))
        .unwrap();
    assert_eq!(d.outputs["top"], json!(10));
    let trace = d.trace.unwrap();
    let order: Vec<_> = trace.iter().map(|t| t.term.as_str()).collect();
    assert_eq!(order.len(), 4);
    assert_eq!(order[0], "base");
    assert_eq!(order[3], "top");
    let top = &trace[3];
    assert_eq!(top.reads, vec!["left", "right"]);
    let right = trace.iter().find(|t| t.term == "right").unwrap();
    assert_eq!(right.logs, vec!["r"]);
    assert_eq!(trace[0].facts, vec!["n"]);
}

#[test]
fn no_trace_unless_asked() {
    let contract = loaded("", &[("a", "1")]);
    let d = eval_with(&contract, json!({})).unwrap();
    assert!(d.trace.is_none());
    assert!(!serde_json::to_string(&d).unwrap().contains("trace"));
}

#[test]
fn decision_json_has_the_documented_shape_and_round_trips() {
    let contract = loaded(
        "",
        &[(
            "a",
            "#{ amount: 12.50, when: date(\"2024-02-29\"), n: 3, none: () }",
        )],
    );
    let as_of = contract.parse_as_of("2025-03-07T16:00:00-05:00").unwrap();
    let d = contract
        .evaluate(&Request::new(json!({}), as_of).with_trace(true))
        .unwrap();
    let text = serde_json::to_string(&d).unwrap();
    assert!(text.starts_with(r#"{"contract":"t","version":"1","as_of":"2025-03-07T16:00:00-05:00","outputs":{"a":{"amount":12.50,"n":3,"none":null,"when":"2024-02-29"}},"trace":["#), "{text}");
    let back: Decision = serde_json::from_str(&text).unwrap();
    assert_eq!(back, d);
}

#[test]
fn runtime_error_names_term_file_line_column_and_the_scripts_words() {
    let contract = loaded(
        "",
        &[(
            "coverage",
            "let a = 1;\nif facts.km > 100 {\n  throw \"odometer beyond limit\"\n}\na",
        )],
    );
    let err = eval_with(&contract, json!({"km": 200})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "term `coverage` failed at terms/coverage.rhai:3:3: odometer beyond limit"
    );
}

#[test]
fn missing_fact_is_a_clear_error() {
    let contract = loaded("", &[("a", "facts.odometer_km + 1")]);
    let err = eval_with(&contract, json!({})).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("term `a`") && msg.contains("odometer_km"),
        "{msg}"
    );
}

#[test]
fn type_error_is_a_clear_error() {
    let contract = loaded("", &[("a", "facts.odometer_km - 1")]);
    let err = eval_with(&contract, json!({"odometer_km": "lots"})).unwrap_err();
    assert!(err.to_string().contains("terms/a.rhai:1:"), "{err}");
}

#[test]
fn errors_inside_script_functions_point_at_the_failing_line() {
    let err = error_of("fn f(x) {\n  x / 0\n}\nf(1)");
    let loc = err.location().unwrap();
    assert_eq!(loc.line, Some(2), "{err}");
}

#[test]
fn facts_must_be_an_object() {
    let contract = loaded("", &[("a", "1")]);
    assert!(matches!(
        eval_with(&contract, json!([1])),
        Err(EvalError::InvalidFacts { .. })
    ));
    let err = eval_with(&contract, serde_json::from_str(r#"{"x": 1e999}"#).unwrap()).unwrap_err();
    assert!(err.to_string().contains("facts.x"), "{err}");
}

#[test]
fn unknown_output_is_a_bad_request() {
    let contract = loaded("", &[("a", "1")]);
    let as_of = contract.parse_as_of("2025-01-01").unwrap();
    let err = contract
        .evaluate(&Request::new(json!({}), as_of).with_outputs(["nope"]))
        .unwrap_err();
    assert!(err.is_bad_request(), "{err}");
}

#[test]
fn scripts_cannot_change_their_inputs() {
    // Assignments into inputs are refused at load (see loading.rs); mutating methods at run
    // time, by rhai's constants.
    for script in [
        "facts.list.push(3); 1",
        "params.p.clear(); 1",
        "terms.b.clear(); 1",
    ] {
        let contract = loaded("[params]\np = [0]", &[("a", script), ("b", "#{ v: 1 }")]);
        let err = eval_with(&contract, json!({"x": 1, "list": [1]})).unwrap_err();
        assert!(err.to_string().contains("constant"), "{script}: {err}");
    }
}

#[test]
fn integers_stay_integers_and_fractions_are_decimals() {
    assert_eq!(value_of("7 / 2"), json!(3));
    assert_eq!(serde_json::to_string(&value_of("7.0 / 2")).unwrap(), "3.5");
    assert_eq!(
        serde_json::to_string(&value_of("0.1 + 0.2")).unwrap(),
        "0.3"
    );
}

fn car_contract() -> Contract {
    loaded(
        "[params]\nmax_km = 100000\nyears = 3",
        &[
            (
                "coverage",
                "#{ covered: terms.in_time && terms.in_km, ends: terms.ends }",
            ),
            ("ends", "date(facts.purchase_date).add_years(params.years)"),
            ("in_time", "as_of.date() <= terms.ends"),
            ("in_km", "facts.km <= params.max_km"),
        ],
    )
}

#[test]
fn the_same_contract_from_two_threads_gives_identical_decisions() {
    let contract = car_contract();
    let requests: Vec<Request> = (0..200)
        .map(|i| {
            let as_of = contract
                .parse_as_of(&format!("2026-{:02}-15", i % 12 + 1))
                .unwrap();
            Request::new(
                json!({"purchase_date": "2024-01-15", "km": 99_000 + i * 10}),
                as_of,
            )
        })
        .collect();
    let serial: Vec<Decision> = requests
        .iter()
        .map(|r| contract.evaluate(r).unwrap())
        .collect();
    let agree = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for (r, expected) in requests.iter().zip(&serial) {
                    if &contract.evaluate(r).unwrap() == expected {
                        agree.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(agree.load(Ordering::Relaxed), 400);
    assert_eq!(
        serial[0].outputs["coverage"],
        json!({"covered": true, "ends": "2027-01-15"})
    );
    assert_eq!(serial[199].outputs["coverage"]["covered"], json!(false));
}

#[test]
fn contract_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Contract>();
}

#[test]
fn a_copy_changed_in_one_term_leaves_the_original_for_others() {
    let contract = loaded(
        "[params]\nlimits = { km = 100 }",
        &[
            ("a", "let p = params.limits; p.km = 5; let f = facts.car; f.km = 7; let b = terms.base; b.v = 9; [p.km, f.km, b.v]"),
            ("base", "#{ v: 1 }"),
            ("z", "let seen = terms.a; [params.limits.km, facts.car.km, terms.base.v, seen]"),
        ],
    );
    let d = eval_with(&contract, json!({"car": {"km": 42}})).unwrap();
    assert_eq!(d.outputs["z"], json!([100, 42, 1, [5, 7, 9]]));
}

#[test]
fn r_params_keep_their_written_digits() {
    let contract = loaded(
        "[params]\nbig = 1234567890123456.78\nshare = 0.20",
        &[("a", "[params.big + 0.01, params.share]")],
    );
    let d = eval_with(&contract, json!({})).unwrap();
    assert_eq!(
        serde_json::to_string(&d.outputs["a"]).unwrap(),
        "[1234567890123456.79,0.20]"
    );
}

/// Scripts that try to change `params`, each of which fails or changes only a copy; whatever
/// they did, the next evaluation sees the params as written (params are converted once at
/// load and lent to each evaluation, not copied for it).
#[test]
fn no_script_leaks_a_params_change_into_a_later_evaluation() {
    let attempts = [
        "params.list.push(9); 0",
        "params.list += [9]; 0",
        "params.limits.km = 5; 0",
        "params.limits.remove(\"km\"); 0",
        "params.limits.nested.clear(); 0",
        "params.list.clear(); 0",
        "fn grow() { this.push(9); 0 } params.list.grow()",
        "fn grow() { this += [9]; 0 } params.list.grow()",
        "fn set() { this.km = 5; 0 } params.limits.set()",
        "fn set() { this.km = 5; 0 } params.set()",
        "fn wipe() { this.nested.clear(); 0 } params.limits.wipe()",
        "fn change(p) { p.list.push(9); p.limits.km = 5; 0 } change(params)",
        "fn change(l) { l.push(9); 0 } change(params.list)",
        "let p = params; p.list.push(9); p.limits.km = 5; 0",
        "let l = params.list; l.push(9); params.list.len() - 2",
        "params.list.for_each(|| this.push(9)); 0",
        "params.list.map(|x| x + params.limits.km).len() - 2",
        "params.list.sort(); params.list.reverse(); 0",
    ];
    let untouched = json!([[1, 2], 100, [3]]);
    let mut refused_at_load = Vec::new();
    for script in attempts {
        let loading = crate::support::load(
            "[params]\nlist = [1, 2]\nlimits = { km = 100, nested = [3] }",
            &[
                ("attempt", script),
                (
                    "seen",
                    "[params.list, params.limits.km, params.limits.nested]",
                ),
            ],
        );
        // Assignments to inputs are refused at load already.
        let contract = match loading {
            Ok(c) => c,
            Err(e) => {
                assert!(e.to_string().contains("read-only"), "{script}: {e}");
                refused_at_load.push(script);
                continue;
            }
        };
        // Several rounds, from two threads, so that any copy the pool lends out again was
        // used by an attempt before.
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..4 {
                        let _ = eval_with(&contract, json!({}));
                        let seen =
                            Request::new(json!({}), contract.parse_as_of("2025-01-01").unwrap())
                                .with_outputs(["seen"]);
                        let d = contract.evaluate(&seen).unwrap();
                        assert_eq!(d.outputs["seen"], untouched, "after `{script}`");
                    }
                });
            }
        });
        assert_eq!(contract.params_json()["list"], json!([1, 2]), "{script}");
    }
    // Most attempts get as far as running; the rest are assignments.
    assert!(refused_at_load.len() <= 4, "{refused_at_load:?}");
}
