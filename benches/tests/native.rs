//! The native `car-warranty` must decide exactly as the bundle does, or the benchmark's ratio
//! compares different work.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use aftersale_benches::{car_warranty_claim, native, Rng};
use aftersale_core::{Engine, Request};

#[test]
fn native_car_warranty_agrees_with_the_bundle_on_generated_claims() {
    let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules/car-warranty");
    let contract = engine.load_dir(std::path::Path::new(dir)).unwrap();
    let tz = contract.timezone();
    let as_of = contract.parse_as_of("2026-06-20").unwrap();
    let mut rng = Rng::new(11);
    let (mut compared, mut covered) = (0, 0);
    for _ in 0..400 {
        let facts = car_warranty_claim(&mut rng);
        // Claims dated after as_of are errors in both; compare the rest.
        let Ok(decision) = contract.evaluate(&Request::new(facts.clone(), as_of)) else {
            continue;
        };
        let native =
            native::car_warranty(&facts, as_of, tz).unwrap_or_else(|e| panic!("{e}: {facts}"));
        assert_eq!(decision.outputs["coverage"], native, "facts: {facts}");
        compared += 1;
        covered += usize::from(native["covered"] == serde_json::json!(true));
    }
    assert!(compared > 100, "only {compared} claims compared");
    assert!(
        covered > 10 && covered < compared,
        "{covered} of {compared} covered: the input does not vary enough"
    );
}

#[test]
fn the_sample_claim_decides_the_same() {
    let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules/car-warranty");
    let contract = engine.load_dir(std::path::Path::new(dir)).unwrap();
    let as_of = contract.parse_as_of(native::SAMPLE_AS_OF).unwrap();
    let facts: serde_json::Value =
        serde_json::from_str(&native::sample_car_warranty_facts()).unwrap();
    let decision = contract.evaluate(&Request::new(facts, as_of)).unwrap();
    let native: serde_json::Value = serde_json::from_str(&native::car_warranty_json(
        &native::sample_car_warranty_facts(),
    ))
    .unwrap();
    assert_eq!(serde_json::to_value(&decision).unwrap(), native);
}

#[test]
fn the_long_ticket_of_the_sla_benchmark_is_decided_not_refused() {
    let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules/helpdesk-sla");
    let contract = engine.load_dir(std::path::Path::new(dir)).unwrap();
    let as_of = contract.parse_as_of("2025-06-30T12:00:00+02:00").unwrap();
    let ticket = aftersale_benches::long_ticket();
    assert_eq!(ticket["ticket"]["events"].as_array().unwrap().len(), 200);
    let decision = contract
        .evaluate(&Request::new(ticket, as_of))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(decision.outputs.contains_key("clocks"), "{decision:?}");
}

#[test]
fn the_warranty_plugins_legal_guarantee_agrees_with_the_eu_bundle() {
    use aftersale_domain::warranty::{legal_guarantee, LegalGuaranteeRules};
    let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules/eu-legal-guarantee");
    let contract = engine.load_dir(std::path::Path::new(dir)).unwrap();
    let as_of = contract.parse_as_of("2026-06-01").unwrap();
    let mut rng = Rng::new(5);
    let mut compared = 0;
    for _ in 0..300 {
        let facts = aftersale_benches::eu_legal_guarantee_claim(&mut rng);
        let Ok(d) = contract.evaluate(&Request::new(facts.clone(), as_of)) else {
            continue;
        };
        let date = |k: &str| aftersale_core::Date::parse(facts[k].as_str().unwrap()).unwrap();
        let rules = LegalGuaranteeRules::for_state(facts["member_state"].as_str().unwrap());
        let g = legal_guarantee(
            &rules,
            date("delivery_date"),
            date("defect_noticed_on"),
            false,
            None,
        )
        .unwrap();
        let decision = &d.outputs["decision"];
        assert_eq!(
            decision["liability_ends"],
            serde_json::json!(g.liability_ends.to_string()),
            "{facts}"
        );
        assert_eq!(
            decision["presumption_ends"],
            serde_json::json!(g.presumption_ends.to_string()),
            "{facts}"
        );
        assert_eq!(
            decision["burden_of_proof"],
            serde_json::json!(g.burden_of_proof.name()),
            "{facts}"
        );
        compared += 1;
    }
    assert!(compared > 200, "only {compared} compared");
}
