//! Property: any text as a `tests/*.toml` file parses into cases or fails with an error
//! naming its location; each case parsed then runs against a small fixed contract and ends in
//! an outcome (passed, mismatched, wrong error, invalid), never a panic.
//!
//! The contract echoes the facts back (`echo`), so the subset comparison of `expect` meets
//! whatever structures the fuzzer writes, and it has a decimal (`total`) and a date (`day`)
//! output for numbers compared by value and dates compared as text.

#![no_main]

use std::sync::OnceLock;

use aftersale_core::cases::{parse_case_file, run_case};
use aftersale_core::{BundleSource, Contract};
use aftersale_fuzz::{load_fixed, on_worker_stack, production_engine, show};
use libfuzzer_sys::fuzz_target;

const MANIFEST: &str = r#"[contract]
id = "fuzz-cases"
version = "1"
timezone = "Europe/Rome"
plugins = ["warranty"]

[params]
rate = 0.15

[terms.echo]
[terms.total]
[terms.day]
[terms.ends]
"#;

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let source = BundleSource::new("fuzz-cases")
            .with_file("contract.toml", MANIFEST)
            .with_file("terms/echo.rhai", "facts")
            .with_file(
                "terms/total.rhai",
                r#"if "price" in facts { facts.price * (1.0 + params.rate) } else { 0.00 }"#,
            )
            .with_file("terms/day.rhai", "as_of.date()")
            .with_file(
                "terms/ends.rhai",
                r#"if "delivered" in facts { period_end(date(facts.delivered), 2, "years") } else { () }"#,
            );
        load_fixed(&production_engine(), &source)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let contract = contract();
    on_worker_stack(|| {
        let cases = match parse_case_file("tests/fuzz.toml", text) {
            Ok(cases) => cases,
            Err(e) => return show(e.to_string()),
        };
        for located in &cases {
            let outcome = run_case(contract, &located.case);
            show(format!("{}: {outcome:?}", located.location));
        }
    });
});
