//! A host may call `Contract::evaluate` from any thread, whatever limits the contract sets:
//! scripts at the depth ceilings need tens of MiB of stack, and a stack overflow would abort
//! the whole process, so the core makes room itself (`src/stack.rs`).

use aftersale_core::limits::{MAX_CALL_DEPTH, MAX_EXPR_DEPTH};
use aftersale_core::{Decision, EvalError};

use crate::support::{eval_with, loaded};

/// The stack of a `std::thread`, tokio or rayon worker by default.
const WORKER_STACK: usize = 2 << 20;

/// `levels` nested binary operations around `inner`: the deepest-frame expression measured.
fn nested(levels: usize, inner: &str) -> String {
    format!(
        "{}{inner}{}",
        "v + (".repeat(levels),
        ") * v".repeat(levels)
    )
}

/// Recursion `calls` deep, each call nested in expressions as deep as the ceiling allows,
/// and the term's own expression as deep as well.
fn deepest_script(calls: usize) -> String {
    // Each `v + (..)` level counts two expression levels; leave room for the `if` and the
    // blocks around them.
    let levels = MAX_EXPR_DEPTH / 2 - 8;
    format!(
        "fn f(n) {{ let v = 1; if n <= 0 {{ 0 }} else {{ {} }} }}\nlet v = 1;\n{}\n",
        nested(levels, "f(n - 1)"),
        nested(levels, &format!("f({})", calls.saturating_sub(1)))
    )
}

fn ceiling_limits() -> String {
    format!(
        "[limits]\nmax_call_depth = {MAX_CALL_DEPTH}\nmax_expr_depth = {MAX_EXPR_DEPTH}\n\
         max_function_expr_depth = {MAX_EXPR_DEPTH}\nmax_operations = 100000000\n\
         max_duration_ms = 600000\n"
    )
}

/// Loads and evaluates `script` under the ceiling limits on a thread with a worker's stack.
fn on_worker_thread(script: String) -> Result<Decision, EvalError> {
    let contract = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || loaded(&ceiling_limits(), &[("deep", &script)]))
        .unwrap()
        .join()
        .unwrap();
    let worker = std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || eval_with(&contract, serde_json::json!({})))
        .unwrap();
    worker.join().unwrap()
}

#[test]
fn deepest_allowed_script_decides_on_a_2_mib_thread() {
    // 63 nested calls below the term: the deepest `max_call_depth` lets through.
    let decision = on_worker_thread(deepest_script(MAX_CALL_DEPTH - 1)).unwrap();
    assert!(decision.outputs["deep"].is_number(), "{decision:?}");
}

#[test]
fn recursion_past_the_ceiling_is_a_clean_error_on_a_2_mib_thread() {
    let err = on_worker_thread(deepest_script(MAX_CALL_DEPTH + 10)).unwrap_err();
    assert!(
        matches!(err, EvalError::Limit { .. }) && err.to_string().contains("max_call_depth"),
        "{err}"
    );
}

/// Parsing recurses once per expression level too: the deepest script the ceilings allow
/// loads, and then decides, on a worker's stack.
#[test]
fn deepest_allowed_script_loads_on_a_2_mib_thread() {
    let script = deepest_script(MAX_CALL_DEPTH - 1);
    let worker = std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let contract = loaded(&ceiling_limits(), &[("deep", &script)]);
            eval_with(&contract, serde_json::json!({}))
        })
        .unwrap();
    let decision = worker.join().unwrap().unwrap();
    assert!(decision.outputs["deep"].is_number(), "{decision:?}");
}

/// A script nested past the ceiling is a load error, not an overflow, on a worker's stack.
#[test]
fn a_script_nested_past_the_ceiling_is_a_load_error_on_a_2_mib_thread() {
    let script = nested(MAX_EXPR_DEPTH * 4, "1");
    let worker = std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || {
            crate::support::load(&ceiling_limits(), &[("deep", &script)])
                .err()
                .map(|e| e.to_string())
        })
        .unwrap();
    let err = worker.join().unwrap().unwrap_or_default();
    assert!(err.contains("deep"), "{err}");
}

/// rhai frees a chain of closures, each capturing the previous one, by recursion: one frame
/// per link. Under the default limits a script builds tens of thousands of links before a
/// limit stops it, far more than a 2 MiB worker (or an 8 MiB main thread) can free; the
/// evaluation's stack is sized for the longest chain `max_operations` allows.
#[test]
fn a_chain_of_closures_is_freed_without_overflowing_a_2_mib_thread() {
    let contract = loaded(
        "",
        &[(
            "chain",
            "let g = |y| y;\nloop { let h = g; g = |y| h.call(y); }",
        )],
    );
    let worker = std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || eval_with(&contract, serde_json::json!({})).map(|_| ()))
        .unwrap();
    let err = worker.join().unwrap().unwrap_err();
    assert!(matches!(err, EvalError::Limit { .. }), "{err}");
}
