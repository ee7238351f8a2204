//! Integration tests of the core, one binary with a module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod support {
    use aftersale_core::{
        BundleSource, Contract, Decision, Engine, EvalError, Limits, LoadErrors, Request,
    };

    /// A bundle from `(term, script)` pairs plus extra manifest lines.
    pub fn bundle(extra_manifest: &str, terms: &[(&str, &str)]) -> BundleSource {
        let mut manifest = format!("[contract]\nid = \"t\"\nversion = \"1\"\n{extra_manifest}\n");
        let mut source = BundleSource::new("t");
        for (name, script) in terms {
            manifest.push_str(&format!("[terms.{name}]\n"));
            source = source.with_file(format!("terms/{name}.rhai"), *script);
        }
        source.with_file("contract.toml", manifest)
    }

    /// Loads a bundle on an engine whose wall-clock limit is out of reach unless the bundle
    /// sets one: on a busy machine `max_duration_ms` could otherwise stop a script before the
    /// limit a test expects (every other limit is the default).
    pub fn load(extra_manifest: &str, terms: &[(&str, &str)]) -> Result<Contract, LoadErrors> {
        let limits = Limits {
            max_duration_ms: 3_600_000,
            ..Limits::default()
        };
        Engine::builder()
            .limits(limits)
            .build()
            .load(&bundle(extra_manifest, terms))
    }

    pub fn loaded(extra_manifest: &str, terms: &[(&str, &str)]) -> Contract {
        match load(extra_manifest, terms) {
            Ok(c) => c,
            Err(e) => panic!("load failed: {e}"),
        }
    }

    pub fn eval_with(contract: &Contract, facts: serde_json::Value) -> Result<Decision, EvalError> {
        let as_of = contract.parse_as_of("2025-06-15T10:00:00+02:00").unwrap();
        contract.evaluate(&Request::new(facts, as_of))
    }

    /// The value of a one-term contract whose script is `script`.
    pub fn value_of(script: &str) -> serde_json::Value {
        let contract = loaded("", &[("x", script)]);
        let decision =
            eval_with(&contract, serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
        decision.outputs["x"].clone()
    }

    pub fn error_of(script: &str) -> EvalError {
        let contract = loaded("", &[("x", script)]);
        eval_with(&contract, serde_json::json!({})).expect_err("expected an evaluation error")
    }
}

mod cases;
mod coverage;
mod evaluation;
mod exact_input;
mod files;
mod laws;
mod loading;
mod plugins;
mod sandbox;
mod schema;
mod stack;
mod typed_facts;
mod vocabulary;
