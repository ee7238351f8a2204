//! The sandbox: limits stop hostile scripts with clear errors, and nothing reaches the
//! outside world.

use aftersale_core::EvalError;
use serde_json::json;

use crate::support::{error_of, eval_with, loaded};

fn limit_error(script: &str) -> EvalError {
    let err = error_of(script);
    assert!(
        matches!(err, EvalError::Limit { .. }),
        "{script}: expected a limit error, got {err}"
    );
    err
}

#[test]
fn endless_loop_hits_the_operation_limit() {
    let err = limit_error("loop { }");
    assert!(err.to_string().contains("max_operations"), "{err}");
}

#[test]
fn deep_recursion_hits_the_call_depth_limit() {
    let err = limit_error("fn f(n) { f(n + 1) }\nf(0)");
    assert!(err.to_string().contains("max_call_depth"), "{err}");
}

#[test]
fn string_growth_hits_the_size_limit() {
    limit_error("let s = \"xx\"; loop { s += s; }");
}

#[test]
fn array_and_map_growth_hit_their_limits() {
    limit_error("let a = []; loop { a.push(1); }");
    limit_error("let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }");
}

#[test]
fn r_work_inside_callbacks_counts_towards_max_operations() {
    // rhai runs callbacks on a copy of the run's state and never adds their operations back.
    let contract = loaded(
        "[limits]\nmax_operations = 20000",
        &[(
            "a",
            "let a = []; a.pad(100, 0); a.map(|x| { let s = 0; for i in 0..100 { s += i; } s }).len()",
        )],
    );
    let err = eval_with(&contract, json!({})).unwrap_err();
    assert!(matches!(err, EvalError::Limit { .. }), "{err}");
    assert!(err.to_string().contains("max_operations"), "{err}");
    // Each term's count starts afresh: two terms of 15,000 operations each pass.
    let contract = loaded(
        "[limits]\nmax_operations = 20000",
        &[
            ("a", "let a = []; a.pad(50, 0); a.map(|x| { let s = 0; for i in 0..100 { s += i; } s }).len()"),
            ("b", "let a = []; a.pad(50, 0); a.map(|x| { let s = 0; for i in 0..100 { s += i; } s }).len() + terms.a"),
        ],
    );
    assert_eq!(
        eval_with(&contract, json!({})).unwrap().outputs["b"],
        json!(100)
    );
}

#[test]
fn max_memory_bytes_is_a_limit_like_the_others() {
    let err = crate::support::load("[limits]\nmax_memory_bytes = 0", &[("a", "1")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("max_memory_bytes must be at least 1"),
        "{err}"
    );
    // Without a counting allocator (this test binary has none) nothing is counted, so even
    // a tiny limit stops nothing.
    let contract = loaded(
        "[limits]\nmax_memory_bytes = 1",
        &[("a", "let a = []; a.pad(1000, \"x\"); a.len()")],
    );
    assert_eq!(
        eval_with(&contract, json!({})).unwrap().outputs["a"],
        json!(1000)
    );
}

#[test]
fn contract_limits_override_the_defaults() {
    let contract = loaded(
        "[limits]\nmax_operations = 50",
        &[("a", "let s = 0; for i in 0..100 { s += i; } s")],
    );
    let err = eval_with(&contract, json!({})).unwrap_err();
    assert!(matches!(err, EvalError::Limit { .. }), "{err}");
    let contract = loaded(
        "[limits]\nmax_operations = 100000",
        &[("a", "let s = 0; for i in 0..100 { s += i; } s")],
    );
    assert_eq!(
        eval_with(&contract, json!({})).unwrap().outputs["a"],
        json!(4950)
    );
}

#[test]
fn expression_depth_is_limited_at_load() {
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let err = crate::support::load("", &[("a", &deep)]).unwrap_err();
    assert!(err.to_string().contains("term `a`"), "{err}");
}

#[test]
fn oversized_scripts_are_refused_at_load() {
    let long = "1 + ".repeat(100_000) + "1";
    let err = crate::support::load("", &[("a", &long)]).unwrap_err();
    assert!(err.to_string().contains("script size"), "{err}");
}

#[test]
fn integer_overflow_and_division_by_zero_are_errors() {
    assert!(error_of("9223372036854775807 + 1")
        .to_string()
        .contains("term `x`"));
    assert!(error_of("1 / 0").to_string().contains("term `x`"));
    assert!(error_of("1.5 / 0").to_string().contains("term `x`"));
}

#[test]
fn no_clock_no_sleep_no_exit_no_eval() {
    for script in ["timestamp()", "sleep(10)", "exit(1)", "parse_json(\"{}\")"] {
        let err = error_of(script);
        assert!(err.to_string().contains("not found"), "{script}: {err}");
    }
}

#[test]
fn print_goes_to_the_trace_not_stdout() {
    let contract = loaded("", &[("a", "print(\"hello\"); debug(42); 1")]);
    let as_of = contract.parse_as_of("2025-01-01").unwrap();
    let d = contract
        .evaluate(&aftersale_core::Request::new(json!({}), as_of).with_trace(true))
        .unwrap();
    let logs = &d.trace.unwrap()[0].logs;
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0], "hello");
    assert!(logs[1].contains("42"), "{logs:?}");
}

#[test]
fn zero_limits_are_refused() {
    let err = crate::support::load("[limits]\nmax_call_depth = 0", &[("a", "1")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("max_call_depth must be at least 1"),
        "{err}"
    );
}

#[test]
fn the_engine_stays_healthy_after_a_hostile_script() {
    let contract = loaded(
        "outputs = [\"good\"]",
        &[("bad", "loop {}"), ("good", "facts.n * 2")],
    );
    let as_of = contract.parse_as_of("2025-01-01").unwrap();
    let bad = aftersale_core::Request::new(json!({"n": 1}), as_of).with_outputs(["bad"]);
    assert!(contract.evaluate(&bad).is_err());
    assert_eq!(
        eval_with(&contract, json!({"n": 21})).unwrap().outputs["good"],
        json!(42)
    );
}

#[test]
fn map_growth_hits_the_map_size_limit() {
    let contract = loaded(
        "[limits]\nmax_map_size = 50",
        &[(
            "a",
            "let m = #{}; for i in 0..100 { m[`k${i}`] = i; } m.len()",
        )],
    );
    let err = eval_with(&contract, json!({})).unwrap_err();
    assert!(err.to_string().contains("max_map_size"), "{err}");
}

#[test]
fn variables_and_functions_are_limited() {
    let contract = loaded(
        "[limits]\nmax_variables = 5",
        &[(
            "a",
            "let a = 1; let b = 2; let c = 3; let d = 4; let e = 5; let f = 6; a",
        )],
    );
    let err = eval_with(&contract, json!({})).unwrap_err();
    assert!(err.to_string().contains("max_variables"), "{err}");
    let fns: String = (0..5).map(|i| format!("fn f{i}() {{ {i} }}\n")).collect();
    let err = crate::support::load(
        "[limits]\nmax_functions = 3",
        &[("a", &format!("{fns}f0()"))],
    )
    .unwrap_err();
    assert!(err.to_string().contains("term `a`"), "{err}");
}

#[test]
fn the_wall_clock_limit_stops_what_operations_do_not() {
    let contract = loaded(
        "[limits]\nmax_operations = 100000000000\nmax_duration_ms = 50",
        &[("a", "loop { }")],
    );
    let err = eval_with(&contract, json!({})).unwrap_err();
    assert!(err.to_string().contains("max_duration_ms"), "{err}");
}

#[test]
fn the_cpu_time_limit_stops_what_operations_do_not() {
    let contract = loaded(
        "[limits]\nmax_operations = 100000000000\nmax_cpu_ms = 50",
        &[("a", "loop { }")],
    );
    assert_eq!(contract.limits().max_cpu_ms, Some(50));
    let err = eval_with(&contract, json!({})).unwrap_err();
    assert!(err.to_string().contains("max_cpu_ms"), "{err}");
    assert!(err.to_string().contains("term `a`"), "{err}");
}

#[test]
fn depth_limits_have_a_ceiling_so_the_stack_cannot_overflow() {
    let err = crate::support::load("[limits]\nmax_call_depth = 100000", &[("a", "1")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("max_call_depth must be at most 64"),
        "{err}"
    );
    let err = crate::support::load("[limits]\nmax_expr_depth = 5000", &[("a", "1")]).unwrap_err();
    assert!(
        err.to_string().contains("max_expr_depth must be at most"),
        "{err}"
    );
}

#[test]
fn values_nested_too_deep_for_json_are_an_error() {
    let err = error_of("let a = []; for i in 0..200 { a = [a]; } a");
    assert!(err.to_string().contains("deeper than 128"), "{err}");
}

#[test]
fn r_sort_comparer_errors_fail_the_term() {
    let err = error_of("let a = [3, 1, 2]; a.sort(|x, y| throw \"cmp\"); a");
    assert!(err.to_string().contains("cmp"), "{err}");
    assert_eq!(
        crate::support::value_of("let a = [3, 1, 2]; a.sort(|x, y| x - y); a"),
        json!([1, 2, 3])
    );
    assert_eq!(
        crate::support::value_of("let a = [3, 1, 2]; a.sort(|x, y| y - x); a"),
        json!([3, 2, 1])
    );
    // Not a total order: some order, no panic.
    let v = crate::support::value_of(
        "let a = []; for i in 0..200 { a.push(i % 7); } a.sort(|x, y| 1); a.len()",
    );
    assert_eq!(v, json!(200));
}

#[test]
fn a_decision_larger_than_max_output_bytes_is_a_limit_error() {
    let contract = loaded(
        "[limits]\nmax_output_bytes = 1000",
        &[("big", "let s = \"\"; s.pad(600, \"x\"); s")],
    );
    let decision = eval_with(&contract, json!({})).unwrap();
    assert_eq!(decision.outputs["big"].as_str().map(str::len), Some(600));
    // With a trace the value is in the decision twice.
    let as_of = contract.parse_as_of("2025-06-15").unwrap();
    let err = contract
        .evaluate(&aftersale_core::Request::new(json!({}), as_of).with_trace(true))
        .unwrap_err();
    assert!(matches!(err, EvalError::Limit { .. }), "{err}");
    assert!(err.to_string().contains("max_output_bytes"), "{err}");
    assert!(err.to_string().contains("term `big`"), "{err}");
}
