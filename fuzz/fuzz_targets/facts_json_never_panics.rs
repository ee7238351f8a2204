//! Property: any JSON as a request's facts, evaluated against every bundle of `rules/`, gives
//! a decision or an error; it never panics, overflows the stack or hangs. This is what the
//! CLI's `eval` and `batch` (and the coming HTTP service) feed untrusted input through: JSON
//! into rhai values, the real scripts and plugins over them, the decision back into JSON.

#![no_main]

use std::sync::OnceLock;

use aftersale_core::{Contract, DateTime, Request};
use aftersale_fuzz::{load_rules, on_worker_stack, show};
use libfuzzer_sys::fuzz_target;

/// The instant every bundle is asked about: inside the periods of every example.
const AS_OF: &str = "2026-01-15";

fn bundles() -> &'static [(String, Contract, DateTime)] {
    static BUNDLES: OnceLock<Vec<(String, Contract, DateTime)>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        load_rules()
            .into_iter()
            .map(|(name, contract)| {
                let as_of = contract
                    .parse_as_of(AS_OF)
                    .unwrap_or_else(|e| panic!("fixed as_of: {e}"));
                (name, contract, as_of)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(facts) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let bundles = bundles();
    on_worker_stack(move || {
        for (_name, contract, as_of) in bundles {
            let request = Request::new(facts.clone(), *as_of).with_trace(true);
            match contract.evaluate(&request) {
                Ok(decision) => show(serde_json::to_string(&decision).unwrap_or_default()),
                Err(e) => show(e.to_string()),
            }
        }
        // Dropped here, on the worker's stack, like a request's facts in production.
        drop(facts);
    });
});
