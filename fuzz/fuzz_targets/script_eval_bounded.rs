//! Property: any text as a term's script, under the production sandbox (default limits, every
//! domain plugin), loads or fails, and evaluates to a value or an error within the limits.
//! A panic, a stack overflow (on a production worker's 2 MiB stack) or a hang (libFuzzer's
//! `-timeout`, far above `max_duration_ms`) is a finding.
//!
//! The script is term `fuzzed` of a fixed contract; it may read `terms.helper` (a fixed term
//! whose value is a map with a date, a decimal and a list), `facts`, `params` and `as_of`.

#![no_main]

use std::sync::OnceLock;

use aftersale_core::{BundleSource, DateTime, Engine, Request};
use aftersale_fuzz::{on_worker_stack, production_engine, show, DOMAIN_PLUGINS};
use libfuzzer_sys::fuzz_target;

fn manifest() -> String {
    format!(
        r#"[contract]
id = "fuzz-script"
version = "1"
timezone = "Europe/Rome"
plugins = {DOMAIN_PLUGINS}
outputs = ["fuzzed"]

[params]
base_years = 2
rate = 0.15
countries = ["IT", "DE", "FR"]
calendar = {{ timezone = "Europe/Rome", hours = {{ mon = ["09:00-13:00", "14:00-18:00"], fri = ["09:00-17:00"] }}, holidays = ["2026-04-06"] }}
policy = {{ targets = {{ first_response = 30, resolution = 240 }}, pause_statuses = ["waiting_on_customer"] }}

[terms.helper]
[terms.fuzzed]
"#
    )
}

const HELPER: &str = r#"#{ since: date(facts.delivered), price: facts.price, tiers: [1, 2, 3] }"#;

/// The facts every evaluation gets: each kind of value a real request carries (read as
/// text so that `499.99` keeps its exact digits).
const FACTS: &str = r#"{
    "delivered": "2024-02-29",
    "price": 499.99,
    "quantity": 3,
    "country": "IT",
    "second_hand": false,
    "odometer_km": 42000,
    "services": [
        { "date": "2024-08-10", "km": 15000 },
        { "date": "2025-02-10", "km": 30000 }
    ],
    "events": [
        { "at": "2026-03-27T16:30:00+01:00", "type": "created" },
        { "at": "2026-03-27T17:10:00+01:00", "type": "reply", "by": "agent" },
        { "at": "2026-03-28T09:00:00+01:00", "type": "status", "status": "waiting_on_customer" }
    ],
    "note": null
}"#;

struct Fixture {
    engine: Engine,
    manifest: String,
    facts: serde_json::Value,
    as_of: DateTime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let engine = production_engine();
        let manifest = manifest();
        let probe = BundleSource::new("fuzz")
            .with_file("contract.toml", manifest.as_str())
            .with_file("terms/helper.rhai", HELPER)
            .with_file("terms/fuzzed.rhai", "terms.helper");
        let contract = aftersale_fuzz::load_fixed(&engine, &probe);
        // The Sunday clocks go forward in Rome, at 01:30 local time (before the jump).
        let as_of = contract
            .parse_as_of("2026-03-29T01:30:00+01:00")
            .unwrap_or_else(|e| panic!("fixed as_of: {e}"));
        let facts: serde_json::Value =
            serde_json::from_str(FACTS).unwrap_or_else(|e| panic!("fixed facts: {e}"));
        let request = Request::new(facts.clone(), as_of);
        if let Err(e) = contract.evaluate(&request) {
            panic!("the fixed contract fails on the fixed facts: {e}");
        }
        Fixture {
            engine,
            manifest,
            facts,
            as_of,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(script) = std::str::from_utf8(data) else {
        return;
    };
    let fixture = fixture();
    on_worker_stack(|| {
        let source = BundleSource::new("fuzz")
            .with_file("contract.toml", fixture.manifest.as_str())
            .with_file("terms/helper.rhai", HELPER)
            .with_file("terms/fuzzed.rhai", script);
        let contract = match fixture.engine.load(&source) {
            Ok(contract) => contract,
            Err(errors) => return show(errors.to_string()),
        };
        let request = Request::new(fixture.facts.clone(), fixture.as_of).with_trace(true);
        match contract.evaluate(&request) {
            Ok(decision) => show(serde_json::to_string(&decision).unwrap_or_default()),
            Err(e) => show(e.to_string()),
        }
    });
});
