//! The `warranty` plugin as scripts see it: each function called from a one-term contract,
//! its errors as runtime errors with clear words, the laws of the money functions as
//! properties, and the `rules/car-warranty` bundle's example cases.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use aftersale_core::{BundleSource, Contract, Engine, Request};
use aftersale_domain::warranty::{
    pro_rata_share, settle, ProRataTier, ProRataTiers, Rounding, RoundingMode, SettlementTerms,
    WarrantyPlugin,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn contract(script: &str) -> Contract {
    let engine = Engine::builder().plugin(WarrantyPlugin).build();
    let bundle = BundleSource::new("t")
        .with_file(
            "contract.toml",
            "[contract]\nid = \"t\"\nversion = \"1\"\nplugins = [\"warranty\"]\n[terms.out]\n",
        )
        .with_file("terms/out.rhai", script);
    engine.load(&bundle).unwrap()
}

fn run(script: &str) -> Result<Value, String> {
    let c = contract(script);
    let as_of = c.parse_as_of("2026-01-01").unwrap();
    c.evaluate(&Request::new(json!({}), as_of))
        .map(|d| d.outputs["out"].clone())
        .map_err(|e| e.to_string())
}

fn eval(script: &str) -> Value {
    run(script).unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// JSON written with exact digits (`json!` would read `80.00` as a float and print `80.0`).
fn j(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn error(script: &str) -> String {
    match run(script) {
        Ok(v) => panic!("{script}: expected an error, got {v}"),
        Err(e) => e,
    }
}

#[test]
fn period_end_follows_the_period_rules() {
    assert_eq!(
        eval(r#"period_end(date("2024-01-15"), 3, "years")"#),
        json!("2027-01-15")
    );
    assert_eq!(
        eval(r#"period_end(date("2024-02-29"), 1, "years")"#),
        json!("2025-02-28")
    );
    assert_eq!(
        eval(r#"period_end(date("2024-01-31"), 1, "months")"#),
        json!("2024-02-29")
    );
    assert_eq!(
        eval(r#"period_end(date("2024-12-20"), 30, "days")"#),
        json!("2025-01-19")
    );
}

#[test]
fn whichever_comes_first_with_inclusive_limits() {
    let w = r#"let w = coverage_window(#{ start: date("2024-01-15"), years: 3, km: 100000 });"#;
    assert_eq!(
        eval(&format!(r#"{w} w.within(date("2026-07-15"), 100001)"#)),
        json!({"covered": false, "reason": "meter_limit", "meter": "km", "ends_on": "2027-01-15"})
    );
    assert_eq!(
        eval(&format!(r#"{w} within(w, date("2027-01-15"), 100000)"#)),
        json!({"covered": true, "reason": null, "meter": null, "ends_on": "2027-01-15"})
    );
    assert_eq!(
        eval(&format!(
            r#"{w} w.within(date("2027-01-16"), #{{ km: 5 }}).reason"#
        )),
        json!("time_limit")
    );
    assert_eq!(
        eval(&format!(r#"{w} w.within(date("2024-01-14"), 0).reason"#)),
        json!("not_started")
    );
    assert_eq!(
        eval(&format!(
            r#"{w} [w.ends_on, w.start, w.limit("km"), w.ends_at("km"), w.meters]"#
        )),
        json!(["2027-01-15", "2024-01-15", 100000, 100000, ["km"]])
    );
    // a window is a value of its own in decisions
    assert_eq!(
        eval(&format!("{w} w")),
        json!({"start": "2024-01-15", "ends_on": "2027-01-15", "limits": {"km": 100000}, "at_start": {"km": 0}})
    );
}

#[test]
fn meters_have_free_names_and_may_start_from_a_reading() {
    let script = r#"
        let w = coverage_window(#{ start: "2025-03-01", months: 12, hours: 2000, at_start: #{ hours: 350.5 } });
        [w.within(date("2025-09-01"), 2350.5).covered, w.within(date("2025-09-01"), 2350.6).covered, w.ends_at("hours")]
    "#;
    assert_eq!(eval(script), j("[true, false, 2350.5]"));
    let two = r#"
        let w = coverage_window(#{ start: date("2025-03-01"), km: 50000, cycles: 300 });
        w.within(date("2040-01-01"), #{ km: 10, cycles: 301 })
    "#;
    assert_eq!(
        eval(two),
        json!({"covered": false, "reason": "meter_limit", "meter": "cycles", "ends_on": null})
    );
}

#[test]
fn settle_splits_a_claim_with_half_even_cents() {
    assert_eq!(
        eval("settle(1000.05, #{ deductible: 100.00, customer_share: 0.5 })"),
        j(
            r#"{"covered_amount": 450.02, "customer_pays": 550.03, "deductible_applied": 100.00, "customer_share_amount": 450.03, "over_cap": 0.00}"#
        )
    );
    assert_eq!(
        eval(
            r#"settle(1000.05, #{ deductible: 100, customer_share: 0.5, rounding: "half_up" }).covered_amount"#
        ),
        j("450.03")
    );
    assert_eq!(
        eval("settle(12000, #{ deductible: 100, customer_share: 0.5, cap: 5000 })"),
        j(
            r#"{"covered_amount": 5000.00, "customer_pays": 7000.00, "deductible_applied": 100.00, "customer_share_amount": 5950.00, "over_cap": 950.00}"#
        )
    );
    assert_eq!(
        eval("settle(80, #{ deductible: 100 }).covered_amount"),
        j("0.00")
    );
}

#[test]
fn money_helpers() {
    assert_eq!(eval("deductible(80.00, 100.00)"), j("80.00"));
    assert_eq!(eval("cap(800, 500.00)"), j("500.00"));
    assert_eq!(eval("remaining_cap(10000.00, 7500.00)"), j("2500.00"));
    assert_eq!(eval("linear_credit(1000, 7, 12)"), j("416.67"));
    assert_eq!(eval("linear_credit(0.25, 1, 2)"), j("0.12"));
    assert_eq!(
        eval(r#"linear_credit(0.25, 1, 2, #{ rounding: "half_up" })"#),
        j("0.13")
    );
    assert_eq!(
        eval(r#"linear_credit(1000, 1, 3, #{ places: 0 })"#),
        j("667")
    );
}

#[test]
fn pro_rata_by_age_and_by_date() {
    let tiers =
        "[#{ upto_months: 12, customer_share: 0.0 }, #{ upto_months: 24, customer_share: 0.5 }]";
    assert_eq!(eval(&format!("pro_rata_share(12, {tiers})")), j("0.0"));
    assert_eq!(eval(&format!("pro_rata_share(12.5, {tiers})")), j("0.5"));
    assert_eq!(
        eval(&format!(
            r#"pro_rata_share(date("2024-02-29"), date("2025-02-28"), {tiers})"#
        )),
        j("0.0")
    );
    assert_eq!(
        eval(&format!(
            r#"pro_rata_share(date("2024-02-29"), date("2025-03-01"), {tiers})"#
        )),
        j("0.5")
    );
}

#[test]
fn maintenance_compliance_reports_each_missed_service() {
    let plan = r#"#{ start: date("2024-01-15"), every: #{ months: 12, km: 15000 }, tolerance: #{ months: 1, km: 1500 } }"#;
    // late within tolerance (due 2025-01-15 / 15,000 km): on time, and the plan does not move
    assert_eq!(
        eval(&format!(
            r#"maintenance_compliance({plan}, [#{{ date: "2025-02-10", km: 16200 }}], date("2025-06-01"), 20000)"#
        )),
        json!({"compliant": true, "missed": [], "services_counted": 1, "next_due_on": "2026-01-15", "next_due_km": 30000})
    );
    assert_eq!(
        eval(&format!(
            r#"maintenance_compliance({plan}, [#{{ date: "2025-02-20", km: 14000 }}], date("2025-06-01"), 20000).missed"#
        )),
        json!([{
            "reason": "late", "due_on": "2025-01-15", "deadline_on": "2025-02-15",
            "due_km": 15000, "deadline_km": 16500, "done_on": "2025-02-20", "done_km": 14000,
            "late_by": ["time"]
        }])
    );
    assert_eq!(
        eval(&format!(
            r#"maintenance_compliance({plan}, [], date("2024-12-01"), 16501).missed[0].late_by"#
        )),
        json!(["km"])
    );
}

#[test]
fn meter_at_reads_or_interpolates_a_history() {
    let history = r#"[#{ date: "2022-05-01", km: 45000 }, #{ date: "2023-04-20", km: 58000 }]"#;
    // 45000 + 13000 x 19 / 354 = 45697.74.. -> 45698
    assert_eq!(
        eval(&format!(r#"meter_at({history}, date("2022-05-20"), "km")"#)),
        json!(45698)
    );
    assert_eq!(
        eval(&format!(r#"meter_at({history}, date("2023-05-20"), "km")"#)),
        Value::Null
    );
}

#[test]
fn errors_are_runtime_errors_with_clear_words() {
    for (script, words) in [
        (
            r#"period_end(date("2024-01-15"), 3, "weeks")"#,
            "unknown period unit `weeks`",
        ),
        (
            r#"period_end(date("2024-01-15"), -3, "years")"#,
            "a period in years must not be negative (got `-3`)",
        ),
        ("settle(-5, #{})", "the cost must not be negative (got `-5`)"),
        (
            r#"settle(date("2024-01-01"), #{})"#,
            "warranty: settle.cost: expected a number, found the date 2024-01-01",
        ),
        (
            r#"settle("12.50", #{})"#,
            "warranty: settle.cost: expected a number, found the string \"12.50\"",
        ),
        (
            "settle(100, #{ customer_share: 1.2 })",
            "the customer share must be between 0 and 1 (got `1.2`)",
        ),
        (
            "settle(100, #{ deductable: 50 })",
            "warranty: settle.terms.deductable: unknown key (allowed: deductible, customer_share, cap, rounding, places)",
        ),
        (
            "deductible(100, -1)",
            "the deductible must not be negative (got `-1`)",
        ),
        (
            r#"pro_rata_share(30, [#{ upto_months: 24, customer_share: 0.5 }, #{ upto_months: 12, customer_share: 0 }])"#,
            "pro-rata tiers must be sorted by `upto_months`, each above the one before (got `24` then `12`)",
        ),
        (
            r#"pro_rata_share(30, [#{ upto_months: 24, customer_share: 0.5 }])"#,
            "an age of `30` months is beyond the last pro-rata tier (up to `24` months)",
        ),
        (
            r#"coverage_window(#{ start: date("2024-01-15"), year: 3 })"#,
            "warranty: coverage_window: unknown key `year`: time limits are `days`, `months` or `years`",
        ),
        (
            r#"coverage_window(#{ start: date("2024-01-15"), years: 3, months: 2 })"#,
            "warranty: coverage_window: give only one of `days`, `months`, `years`",
        ),
        (
            r#"coverage_window(#{ years: 3 })"#,
            "warranty: coverage_window.start: expected a date or a YYYY-MM-DD string, found nothing",
        ),
        (
            r#"coverage_window(#{ start: date("2024-01-15"), years: 3, km: 100 }).within(date("2025-01-01"))"#,
            "within: a reading of `km` is needed",
        ),
        (
            r#"linear_credit(100, 1, 12, #{ rounding: "nearest" })"#,
            "unknown rounding `nearest`",
        ),
        (
            r#"maintenance_compliance(#{ start: date("2024-01-15"), every: #{ months: 12, km: 15000 } }, [#{ date: "2025-01-10" }], date("2025-06-01"), 20000)"#,
            "warranty: maintenance_compliance.services[0].km: expected a number, found nothing",
        ),
        (
            r#"maintenance_compliance(#{ start: "2024-01-15", every: #{ months: 12 }, tolerance: #{ months: 1.5 } }, [], date("2025-06-01"))"#,
            "warranty: maintenance_compliance.plan.tolerance.months: expected an integer, found the decimal 1.5",
        ),
        (
            r#"coverage_window(#{ start: "2024-02-30", years: 3 })"#,
            "warranty: coverage_window.start: ",
        ),
        (
            r#"coverage_window(#{ start: date("2024-01-15"), km: 100 }).within(date("2025-01-01"), #{ km: "12k" })"#,
            "warranty: within.readings.km: expected a number, found the string \"12k\"",
        ),
        (
            r#"pro_rata_share(12, [#{ upto_months: 12, share: 0.5 }])"#,
            "warranty: pro_rata_share.tiers[0].share: unknown key (allowed: upto_months, customer_share)",
        ),
        (
            r#"pro_rata_share(12, [12])"#,
            "warranty: pro_rata_share.tiers[0]: expected a map, found the integer 12",
        ),
        (
            r#"linear_credit(100, 1, 12, #{ place: 0 })"#,
            "warranty: linear_credit.options.place: unknown key (allowed: rounding, places)",
        ),
        (
            r#"meter_at([#{ date: "2025-01-01" }], date("2025-01-01"), "km")"#,
            "warranty: meter_at.readings[0].km: expected a number, found nothing",
        ),
        (
            r#"legal_guarantee(#{ delivered: "2025-01-01", noticed: "2025-06-01", second_hand: "no" })"#,
            "warranty: legal_guarantee.second_hand: expected true or false, found the string \"no\"",
        ),
        (
            r#"legal_guarantee(#{ delivered: "2025-01-01", noticed: "2025-06-01", rules: #{ liability_months: "24" } })"#,
            "warranty: legal_guarantee.rules.liability_months: expected an integer, found the string \"24\"",
        ),
    ] {
        let e = error(script);
        assert!(e.contains(words), "{script}\n  got: {e}\n  want: {words}");
    }
}

fn dec(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

fn share() -> impl Strategy<Value = Decimal> {
    (0i64..=100).prop_map(|p| Decimal::new(p, 2))
}

proptest! {
    #[test]
    fn coverage_share_is_between_0_and_1(
        bounds in prop::collection::btree_set(0i64..240, 1..6),
        shares in prop::collection::vec(share(), 6),
        age_pick in 0usize..6,
        age_fraction in 0i64..100,
    ) {
        let tiers: Vec<ProRataTier> = bounds
            .iter()
            .zip(&shares)
            .map(|(&upto_months, &customer_share)| ProRataTier { upto_months, customer_share })
            .collect();
        let last = tiers.last().unwrap().upto_months;
        let tiers = ProRataTiers::new(tiers).unwrap();
        let age = (Decimal::from(last) * Decimal::new(age_fraction, 2))
            + Decimal::from(i64::try_from(age_pick).unwrap()).min(Decimal::from(last) * Decimal::new(1, 2));
        let share = pro_rata_share(age.min(Decimal::from(last)), &tiers).unwrap();
        prop_assert!(share >= Decimal::ZERO && share <= Decimal::ONE);
        // and the warrantor's part of a settled claim is a share of the cost in 0..1 too
        let s = settle(dec(123_456), &SettlementTerms { customer_share: share, ..SettlementTerms::default() }).unwrap();
        prop_assert!(s.covered_amount >= Decimal::ZERO && s.covered_amount <= dec(123_456));
    }

    #[test]
    fn settle_splits_the_whole_cost(
        cost in 0i64..10_000_000,
        cost_places in 0u32..4,
        deductible in 0i64..50_000,
        share in share(),
        cap in prop::option::of(0i64..2_000_000),
        mode in prop::sample::select(vec![RoundingMode::HalfEven, RoundingMode::HalfUp, RoundingMode::Down, RoundingMode::Up]),
    ) {
        let cost = Decimal::new(cost, cost_places);
        let terms = SettlementTerms {
            deductible: dec(deductible),
            customer_share: share,
            cap: cap.map(dec),
            rounding: Rounding { places: 2, mode },
        };
        let s = settle(cost, &terms).unwrap();
        prop_assert_eq!(s.covered_amount + s.customer_pays, cost);
        prop_assert!(s.covered_amount >= Decimal::ZERO);
        prop_assert!(s.customer_pays >= Decimal::ZERO);
        prop_assert!(s.covered_amount <= cost);
        if let Some(c) = cap {
            prop_assert!(s.covered_amount <= dec(c));
        }
    }
}
