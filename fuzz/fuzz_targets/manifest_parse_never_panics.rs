//! Property: any text as `contract.toml` loads or fails with errors; it never panics,
//! overflows the stack or hangs. A manifest that loads is evaluated once, so `[params]`
//! (exact TOML numbers into rhai and back to JSON) and `[limits]` are exercised too.
//!
//! The bundle has one fixed script, `terms/value.rhai`, whose value is `params`: a manifest
//! declaring `[terms.value]` loads; one declaring other terms reports their scripts missing,
//! and one not declaring it reports the script undeclared (all load errors, all fine).
//!
//! It also holds `lib/deep.rhai`, outside `terms/` so that no manifest has to declare it: the
//! deepest recursion a script can write, each call nested 120 expressions deep, 100 calls
//! down. It compiles only under a `[limits]` that raises `max_function_expr_depth` past 240,
//! and then it checks that the limits a manifest may set (`max_call_depth` and the depths, up
//! to their ceilings) stop it with an error before the stack overflows, on a default worker's
//! 2 MiB stack, as the CLI and the server run it. A manifest
//! uses it with `[terms.deep]` and `script = "lib/deep.rhai"` (a seed does).

#![no_main]

use aftersale_core::{BundleSource, Request};
use aftersale_fuzz::{on_worker_stack, production_engine, show};
use libfuzzer_sys::fuzz_target;

const SCRIPT: &str = "params";

/// Recursion as deep and as wide as limits allow: `fn f(n) { .. abs(abs(.. f(n - 1) ..)) }`.
fn deep_script() -> String {
    let k = 120;
    format!(
        "fn f(n) {{ if n <= 0 {{ 0 }} else {{ {}f(n - 1){} }} }}\nf(100)\n",
        "abs(".repeat(k),
        ")".repeat(k)
    )
}

fuzz_target!(|data: &[u8]| {
    // Lossy, so that every input is a manifest rather than most being rejected up front.
    let text = String::from_utf8_lossy(data).into_owned();
    on_worker_stack(move || {
        let source = BundleSource::new("fuzz")
            .with_file("contract.toml", text)
            .with_file("terms/value.rhai", SCRIPT)
            .with_file("lib/deep.rhai", deep_script());
        // Errors are rendered too: their text (locations, snippets) is what a user reads.
        let contract = match production_engine().load(&source) {
            Ok(contract) => contract,
            Err(errors) => return show(errors.to_string()),
        };
        if let Ok(as_of) = contract.parse_as_of("2026-01-15") {
            let request = Request::new(serde_json::json!({}), as_of).with_trace(true);
            match contract.evaluate(&request) {
                Ok(decision) => show(serde_json::to_string(&decision).unwrap_or_default()),
                Err(e) => show(e.to_string()),
            }
        }
        drop(contract.to_dot());
    });
});
