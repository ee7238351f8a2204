//! The plugin point: what a plugin registers through its `Registrar`, how its types reach
//! decisions, and the function list.

use aftersale_core::plugin::Registrar;
use aftersale_core::{Engine, Plugin, PluginContext, Request};
use serde_json::json;

use crate::support::bundle;

/// A plugin's value with a JSON form.
#[derive(Debug, Clone)]
struct Badge {
    level: i64,
}

/// A plugin's value decisions never carry.
#[derive(Debug, Clone)]
struct Secret;

struct Loyalty;

impl Plugin for Loyalty {
    fn name(&self) -> &str {
        "loyalty"
    }

    fn register(&self, r: &mut Registrar<'_>, ctx: &PluginContext) {
        let contract = ctx.contract_id.clone();
        r.register_type::<Badge>("badge", |b| {
            if b.level < 0 {
                return Err(format!("a badge of level {} is not shown", b.level));
            }
            Ok(json!({ "level": b.level }))
        });
        r.register_opaque_type::<Secret>("secret");
        r.register_fn("badge", |level: i64| Badge { level })
            .doc("badge(level: int) -> badge", "a loyalty badge");
        r.register_get("level", |b: &mut Badge| b.level)
            .doc("b.level -> int", "the badge's level");
        r.register_fn("secret", || Secret);
        r.register_fn("+", |a: Badge, b: Badge| Badge {
            level: a.level + b.level,
        })
        .doc("a + b -> badge", "badges add up");
        r.register_fn("issuer", move || contract.clone());
    }
}

fn contract(script: &str) -> aftersale_core::Contract {
    Engine::builder()
        .plugin(Loyalty)
        .build()
        .load(&bundle("plugins = [\"loyalty\"]", &[("t", script)]))
        .unwrap()
}

fn decide(script: &str) -> Result<serde_json::Value, aftersale_core::EvalError> {
    let c = contract(script);
    let as_of = c.parse_as_of("2026-01-01").unwrap();
    c.evaluate(&Request::new(json!({}), as_of))
        .map(|d| d.outputs["t"].clone())
}

#[test]
fn a_registered_type_reaches_the_decision_in_its_json_form() {
    assert_eq!(
        decide("let b = badge(2) + badge(3); #{ badge: b, level: b.level, of: issuer() }").unwrap(),
        json!({ "badge": { "level": 5 }, "level": 5, "of": "t" })
    );
    // Also through a closure's captured (shared) variable.
    assert_eq!(
        decide("let b = badge(1); let f = || b.level; [b, f.call()]").unwrap(),
        json!([{ "level": 1 }, 1])
    );
}

#[test]
fn a_refused_or_opaque_value_fails_the_term_with_its_type_named() {
    let refused = decide("badge(-1)").unwrap_err().to_string();
    assert!(
        refused.contains("a badge of level -1 is not shown"),
        "{refused}"
    );
    let opaque = decide("#{ s: secret() }").unwrap_err().to_string();
    assert!(
        opaque.contains("field `s`") && opaque.contains("has no JSON form"),
        "{opaque}"
    );
}

#[test]
fn the_core_types_reach_json_through_the_same_registry() {
    assert_eq!(
        decide("[date(\"2024-02-29\").add_years(1), datetime(\"2026-03-01T10:00:00Z\")]").unwrap(),
        json!(["2025-02-28", "2026-03-01T10:00:00+00:00"])
    );
}

#[test]
fn the_function_list_has_the_core_first_then_each_plugins_docs() {
    let functions = Engine::builder().plugin(Loyalty).build().functions();
    let first = functions.first().unwrap();
    assert_eq!(first.plugin, "core");
    let loyalty: Vec<_> = functions
        .iter()
        .filter(|f| f.plugin == "loyalty")
        .map(|f| f.signature.as_str())
        .collect();
    assert_eq!(
        loyalty,
        [
            "badge(level: int) -> badge",
            "b.level -> int",
            "a + b -> badge"
        ]
    );
    assert!(functions
        .iter()
        .any(|f| f.signature.starts_with("d.add_months") && f.summary.contains("last day")));
}

#[test]
fn a_plugin_cannot_lift_the_sandbox_it_is_registered_into() {
    // A registrar offers no way to reach rhai's engine (the compile_fail doctest of
    // `aftersale_core::plugin` shows the attempt failing to compile); the contract's limits
    // hold for scripts that use the plugin.
    let c = Engine::builder()
        .plugin(Loyalty)
        .build()
        .load(&bundle(
            "plugins = [\"loyalty\"]\n[limits]\nmax_operations = 1000",
            &[("t", "let b = badge(0); loop { b = b + badge(1); }")],
        ))
        .unwrap();
    let as_of = c.parse_as_of("2026-01-01").unwrap();
    let err = c
        .evaluate(&Request::new(json!({}), as_of))
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_operations"), "{err}");
}
