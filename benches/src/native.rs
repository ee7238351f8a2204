//! `rules/car-warranty` written by hand in Rust, as a team without a rules engine would: the
//! same terms, figures and domain arithmetic (`aftersale_domain::warranty`), compiled. The
//! benchmarks run it on the same facts as the engine, JSON in and out, to print the ratio
//! engine / native; a test checks both give the same `coverage` on generated claims.

use std::str::FromStr;

use aftersale_core::{Date, DateTime};
use aftersale_domain::warranty::{
    maintenance_compliance, meter_at, pro_rata_share_on, settle, Compliance, CoverageWindow,
    MeterInterval, MeterLimit, MeterReading, Period, PeriodUnit, ProRataTier, ProRataTiers,
    ServicePlan, ServiceRecord, SettlementTerms, WindowCheck,
};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

/// The `as_of` of [`sample_car_warranty_facts`].
pub const SAMPLE_AS_OF: &str = "2026-06-20";

/// The bundle's example claim (`rules/car-warranty/examples/claim.json`), as JSON text.
pub fn sample_car_warranty_facts() -> String {
    include_str!("../../rules/car-warranty/examples/claim.json").to_string()
}

const POWERTRAIN: [&str; 3] = ["engine", "transmission", "drivetrain"];
const GENERAL: [&str; 9] = [
    "electrical",
    "body",
    "brakes",
    "suspension",
    "steering",
    "climate",
    "infotainment",
    "fuel_system",
    "exhaust",
];
const WEAR: [&str; 4] = ["brake_pads", "tyres", "wiper_blades", "clutch"];

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_default()
}

fn number(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        _ => None,
    }
}

fn date_of(v: Option<&Value>, what: &str) -> Result<Date, String> {
    v.and_then(Value::as_str)
        .ok_or_else(|| format!("facts.{what} is required"))
        .and_then(Date::parse)
}

fn meter_json(d: Decimal) -> Value {
    if d.fract().is_zero() {
        if let Ok(i) = i64::try_from(d.trunc()) {
            return json!(i);
        }
    }
    aftersale_core::value::decimal_to_json(d)
}

fn opt_date(d: Option<Date>) -> Value {
    d.map_or(Value::Null, |d| Value::String(d.to_string()))
}

fn window(start: Date, years: i64, km: i64) -> Result<CoverageWindow, String> {
    let period = Period::new(years, PeriodUnit::Years).map_err(|e| e.to_string())?;
    CoverageWindow::new(
        start,
        Some(period),
        vec![MeterLimit::new("km", Decimal::from(km))],
    )
    .map_err(|e| e.to_string())
}

fn check(w: &CoverageWindow, on: Date, km: i64) -> Result<WindowCheck, String> {
    w.check(on, &[("km", Decimal::from(km))])
        .map_err(|e| e.to_string())
}

fn limit_code(cover: &str, c: &WindowCheck) -> String {
    match &c.outcome {
        Ok(()) => String::new(),
        Err(reached) if reached.code() == "meter_limit" => format!("{cover}_km_limit"),
        Err(reached) => format!("{cover}_{}", reached.code()),
    }
}

struct Cover {
    term: &'static str,
    within: bool,
    reasons: Vec<String>,
    window: CoverageWindow,
}

/// The `coverage` output for one claim.
pub fn car_warranty(facts: &Value, as_of: DateTime, tz: chrono_tz::Tz) -> Result<Value, String> {
    let f = facts.as_object().ok_or("facts must be an object")?;
    let in_service = date_of(f.get("in_service_date"), "in_service_date")?;
    let owner = f
        .get("owner")
        .and_then(Value::as_str)
        .filter(|o| *o == "original" || *o == "subsequent")
        .ok_or("facts.owner must be original or subsequent")?;
    let today = as_of.date_in(tz);
    let claim_date = match f.get("claim_date") {
        Some(Value::Null) | None => today,
        v => date_of(v, "claim_date")?,
    };
    if claim_date > today || claim_date < in_service {
        return Err("the claim date must be between the in-service date and today".into());
    }
    let km = f
        .get("odometer_km")
        .and_then(Value::as_i64)
        .filter(|k| *k >= 0)
        .ok_or("facts.odometer_km is required")?;
    let component = f
        .get("component")
        .and_then(Value::as_str)
        .ok_or("facts.component is required")?;
    let class = if POWERTRAIN.contains(&component) {
        "powertrain"
    } else if WEAR.contains(&component) {
        "wear"
    } else if GENERAL.contains(&component) {
        "general"
    } else {
        return Err(format!("unknown component `{component}`"));
    };
    let cost = f
        .get("repair_cost")
        .and_then(number)
        .filter(|c| !c.is_sign_negative())
        .ok_or("facts.repair_cost is required")?;
    let flag = |name: &str, default: bool| f.get(name).and_then(Value::as_bool).unwrap_or(default);
    let (commercial, misuse, genuine) = (
        flag("commercial_use", false),
        flag("misuse", false),
        flag("genuine_parts", true),
    );
    let services: Vec<(Date, i64)> = match f.get("services") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| {
                Ok((
                    date_of(s.get("date"), "services.date")?,
                    s.get("km")
                        .and_then(Value::as_i64)
                        .ok_or("services.km is required")?,
                ))
            })
            .collect::<Result<_, String>>()?,
        _ => Vec::new(),
    };

    let base = window(in_service, 3, 100_000)?;
    let powertrain_km = if owner == "original" {
        160_000
    } else {
        100_000
    };
    let powertrain = window(in_service, 5, powertrain_km)?;

    // Extension: granted only if the odometer was under 60,000 km when base cover ended.
    let base_end = base.ends_on().ok_or("base cover has no end")?;
    let (km_at_base_end, source) = match f.get("odometer_at_base_end").and_then(Value::as_i64) {
        Some(k) => (Some(Decimal::from(k)), "fact"),
        None => {
            let mut readings = vec![MeterReading {
                date: in_service,
                value: Decimal::ZERO,
            }];
            readings.extend(services.iter().map(|(d, k)| MeterReading {
                date: *d,
                value: Decimal::from(*k),
            }));
            readings.push(MeterReading {
                date: claim_date,
                value: Decimal::from(km),
            });
            let k = meter_at(&readings, base_end).map_err(|e| e.to_string())?;
            (k, if k.is_some() { "history" } else { "unknown" })
        }
    };
    let granted = km_at_base_end.is_some_and(|k| k < Decimal::from(60_000));
    let extension_reason = match (granted, km_at_base_end) {
        (true, _) => Value::Null,
        (false, None) => json!("km_at_base_end_unknown"),
        (false, Some(_)) => json!("km_at_base_end_over_limit"),
    };
    let extension = window(in_service, 7, powertrain_km)?;

    // Maintenance: every 12 months or 15,000 km, tolerance 1 month / 1,500 km.
    let plan = ServicePlan::new(
        in_service,
        Some(Period::new(12, PeriodUnit::Months).map_err(|e| e.to_string())?),
        Some(Period::new(1, PeriodUnit::Months).map_err(|e| e.to_string())?),
        Some(MeterInterval {
            unit: "km".into(),
            every: Decimal::from(15_000),
            tolerance: Decimal::from(1_500),
            at_start: Decimal::ZERO,
        }),
    )
    .map_err(|e| e.to_string())?;
    let records: Vec<ServiceRecord> = services
        .iter()
        .map(|(d, k)| ServiceRecord {
            date: *d,
            reading: Some(Decimal::from(*k)),
        })
        .collect();
    let compliance: Compliance =
        maintenance_compliance(&plan, &records, claim_date, Some(Decimal::from(km)))
            .map_err(|e| e.to_string())?;

    let mut exclusions = Vec::new();
    if class == "wear" {
        exclusions.push("wear_item".to_string());
    }
    for (on, code) in [
        (misuse, "misuse"),
        (commercial, "commercial_use"),
        (!genuine, "non_genuine_parts"),
        (!compliance.compliant(), "missed_maintenance"),
    ] {
        if on {
            exclusions.push(code.to_string());
        }
    }

    let b = check(&base, claim_date, km)?;
    let cover = if b.covered() || class != "powertrain" {
        Cover {
            term: "base",
            within: b.covered(),
            reasons: if b.covered() {
                vec![]
            } else {
                vec![limit_code("base", &b)]
            },
            window: base,
        }
    } else {
        let p = check(&powertrain, claim_date, km)?;
        if p.covered() {
            Cover {
                term: "powertrain",
                within: true,
                reasons: vec![],
                window: powertrain,
            }
        } else if limit_code("", &p) != "_time_limit" {
            Cover {
                term: "powertrain",
                within: false,
                reasons: vec![limit_code("powertrain", &p)],
                window: powertrain,
            }
        } else if !granted {
            Cover {
                term: "powertrain",
                within: false,
                reasons: vec![
                    "powertrain_time_limit".into(),
                    "extension_not_granted".into(),
                ],
                window: powertrain,
            }
        } else {
            let e = check(&extension, claim_date, km)?;
            Cover {
                term: "extension",
                within: e.covered(),
                reasons: if e.covered() {
                    vec![]
                } else {
                    vec![limit_code("extension", &e)]
                },
                window: extension,
            }
        }
    };

    let tiers = ProRataTiers::new(
        [(48, "0.00"), (60, "0.20"), (72, "0.35"), (84, "0.50")]
            .iter()
            .map(|(m, s)| ProRataTier {
                upto_months: *m,
                customer_share: dec(s),
            })
            .collect(),
    )
    .map_err(|e| e.to_string())?;
    let share = match (cover.within, cover.term) {
        (false, _) => None,
        (true, "base") => Some(dec("0.00")),
        _ => Some(pro_rata_share_on(in_service, claim_date, &tiers).map_err(|e| e.to_string())?),
    };

    let zero = dec("0.00");
    let paid = f
        .get("extension_paid_to_date")
        .and_then(number)
        .unwrap_or(Decimal::ZERO);
    let settlement = if !cover.within || !exclusions.is_empty() {
        None
    } else {
        let mut terms = SettlementTerms {
            customer_share: share.unwrap_or(Decimal::ZERO),
            ..SettlementTerms::default()
        };
        match cover.term {
            "base" => terms.deductible = dec("0.00"),
            "powertrain" => terms.deductible = dec("100.00"),
            _ => {
                terms.deductible = dec("100.00");
                terms.cap = Some(dec("5000.00").min((dec("10000.00") - paid).max(Decimal::ZERO)));
            }
        }
        Some(settle(cost, &terms).map_err(|e| e.to_string())?)
    };
    let (deductible, covered_amount, customer_pays) = match settlement {
        Some(s) => (s.deductible_applied, s.covered_amount, s.customer_pays),
        None => (zero, zero, cost),
    };

    let mut reasons = cover.reasons.clone();
    reasons.extend(exclusions);
    let covered = reasons.is_empty();
    let missed: Vec<Value> = compliance
        .missed
        .iter()
        .map(|m| {
            let mut late_by = Vec::new();
            if m.late_by_time {
                late_by.push(json!("time"));
            }
            if m.late_by_meter {
                late_by.push(json!("km"));
            }
            json!({
                "reason": m.reason(),
                "due_on": opt_date(m.due_on),
                "deadline_on": opt_date(m.deadline_on),
                "due_km": m.due_reading.map_or(Value::Null, meter_json),
                "deadline_km": m.deadline_reading.map_or(Value::Null, meter_json),
                "done_on": opt_date(m.done_on),
                "done_km": m.done_reading.map_or(Value::Null, meter_json),
                "late_by": late_by,
            })
        })
        .collect();
    let money = aftersale_core::value::decimal_to_json;
    let mut out = Map::new();
    out.insert("covered".into(), json!(covered));
    out.insert("term".into(), json!(cover.term));
    out.insert("reasons".into(), json!(reasons));
    out.insert("ends_on".into(), opt_date(cover.window.ends_on()));
    out.insert(
        "km_limit".into(),
        cover
            .window
            .meter("km")
            .map_or(Value::Null, |m| meter_json(m.limit)),
    );
    out.insert("component_class".into(), json!(class));
    out.insert(
        "customer_share".into(),
        if covered {
            share.map_or(Value::Null, money)
        } else {
            Value::Null
        },
    );
    out.insert("deductible".into(), money(deductible));
    out.insert("covered_amount".into(), money(covered_amount));
    out.insert("customer_pays".into(), money(customer_pays));
    out.insert("currency".into(), json!("EUR"));
    out.insert(
        "extension".into(),
        json!({"granted": granted, "reason": extension_reason, "km_at_base_end": km_at_base_end.map_or(Value::Null, meter_json), "source": source}),
    );
    out.insert("missed_services".into(), Value::Array(missed));
    Ok(Value::Object(out))
}

/// One decision, JSON in and out, in the shape of the engine's decision.
pub fn car_warranty_json(facts_json: &str) -> String {
    let tz = chrono_tz::Europe::Berlin;
    let Ok(as_of) = DateTime::parse_as_of(SAMPLE_AS_OF, tz) else {
        return String::new();
    };
    car_warranty_decision_json(facts_json, as_of, tz)
}

/// One decision at `as_of`, JSON in and out.
pub fn car_warranty_decision_json(facts_json: &str, as_of: DateTime, tz: chrono_tz::Tz) -> String {
    let facts: Value = match serde_json::from_str(facts_json) {
        Ok(v) => v,
        Err(e) => return json!({"error": e.to_string()}).to_string(),
    };
    match car_warranty(&facts, as_of, tz) {
        Ok(coverage) => json!({
            "contract": "car-warranty",
            "version": "2026.1",
            "as_of": as_of.to_string(),
            "outputs": {"coverage": coverage},
        })
        .to_string(),
        Err(e) => json!({"error": e}).to_string(),
    }
}
