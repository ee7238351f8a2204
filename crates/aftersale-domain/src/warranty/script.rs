//! The rhai face of the warranty vocabulary: argument maps read through the core's
//! [`plugin::args`](aftersale_core::plugin::args) into the pure types of the sibling modules,
//! answers written back as [`ResultMap`]s a contract can return as-is.
//!
//! An argument's path starts at the function: the keys of its one map follow the name
//! (`coverage_window.start`), the parameters of a function of several follow it by name
//! (`settle.terms.cap`, `maintenance_compliance.services[2].km`). Argument problems are
//! [`ArgError`]s in the one wording (`warranty: <field>: expected .., found ..`); what the
//! computation refuses is a [`WarrantyError`] of its own, raised with its message.

use aftersale_core::plugin::args::{lift, At, IntoDynamic, Options, Quantity, ResultMap};
use aftersale_core::plugin::Registrar;
use aftersale_core::rhai::{Array, Dynamic, EvalAltResult, Map, INT};
use aftersale_core::Date;
use rust_decimal::Decimal;

use super::error::WarrantyError;
use super::legal::{legal_guarantee, LegalGuaranteeRules};
use super::maintenance::{
    maintenance_compliance, Compliance, MeterInterval, ServicePlan, ServiceRecord,
};
use super::money::{
    cap, deductible, linear_credit, pro_rata_share, pro_rata_share_on, remaining_cap, settle,
    ProRataTier, ProRataTiers, Rounding, RoundingMode, Settlement, SettlementTerms,
};
use super::period::{period_end, Period};
use super::readings::{meter_at, MeterReading};
use super::window::{CoverageWindow, LimitReached, MeterLimit, WindowCheck};

type Fallible<T> = std::result::Result<T, Box<EvalAltResult>>;
type Result<T> = std::result::Result<T, WarrantyError>;

/// The plugin's name, as its argument errors start.
const PLUGIN: &str = "warranty";

/// Where the argument `path` stands (`settle.cost`).
fn at(path: &str) -> At<'static> {
    At::new(PLUGIN, path)
}

const TIME_KEYS: [&str; 3] = ["days", "months", "years"];
/// Keys that look like time units but are not the accepted ones: a typo would otherwise be
/// read as a meter called `year`.
const NOT_METERS: [&str; 7] = ["day", "month", "year", "week", "weeks", "start_date", "end"];

/// The time part of a limits map: at most one of `days`, `months`, `years`.
fn time_part(limits: &Options<'_, '_>) -> Result<Option<Period>> {
    let mut found = None;
    for unit in TIME_KEYS {
        if let Some(v) = limits.get(unit) {
            if found.is_some() {
                return Err(limits
                    .here()
                    .invalid("give only one of `days`, `months`, `years`")
                    .into());
            }
            let count: INT = limits.field(unit).read(v)?;
            found = Some(Period::new(count, unit.parse()?)?);
        }
    }
    Ok(found)
}

/// The meter part of a limits map: every key that is not a time unit nor in `reserved`.
fn meter_part(map: &Map, here: &At<'_>, reserved: &[&str]) -> Result<Vec<(String, Decimal)>> {
    let mut meters = Vec::new();
    for (key, v) in map {
        let key = key.as_str();
        if TIME_KEYS.contains(&key) || reserved.contains(&key) {
            continue;
        }
        if NOT_METERS.contains(&key) {
            return Err(here
                .invalid(format!(
                    "unknown key `{key}`: time limits are `days`, `months` or `years`"
                ))
                .into());
        }
        let valid_name = key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err(here
                .invalid(format!(
                    "`{key}` is not a meter name: use lowercase letters, digits and `_`"
                ))
                .into());
        }
        if v.is_unit() {
            continue;
        }
        meters.push((key.to_string(), here.key(key).read(v)?));
    }
    Ok(meters)
}

/// Every value of the map `readings` at `here` as a meter reading, by meter name.
fn readings_in(readings: &Map, here: &At<'_>) -> Result<Vec<(String, Decimal)>> {
    readings
        .iter()
        .map(|(unit, v)| Ok((unit.to_string(), here.key(unit).read(v)?)))
        .collect()
}

/// `coverage_window(#{ start, years: 3, km: 100000, at_start: #{ km: 0 } })`.
fn window_from_map(spec: &Map) -> Result<CoverageWindow> {
    let options = Options::open(PLUGIN, "coverage_window", spec);
    let start: Date = options.required("start")?;
    let period = time_part(&options)?;
    let at_start = match options.optional::<Map>("at_start")? {
        Some(m) => readings_in(&m, &options.field("at_start"))?,
        None => Vec::new(),
    };
    let limits = meter_part(spec, options.here(), &["start", "at_start"])?;
    if let Some((unit, _)) = at_start
        .iter()
        .find(|(u, _)| !limits.iter().any(|(l, _)| l == u))
    {
        return Err(options
            .field("at_start")
            .invalid(format!("`{unit}` has no limit in this window"))
            .into());
    }
    let meters = limits
        .into_iter()
        .map(|(unit, limit)| {
            let at = at_start
                .iter()
                .find(|(u, _)| *u == unit)
                .map_or(Decimal::ZERO, |(_, v)| *v);
            MeterLimit {
                unit,
                limit,
                at_start: at,
            }
        })
        .collect();
    CoverageWindow::new(start, period, meters)
}

fn check_map(check: &WindowCheck) -> Map {
    let (reason, meter) = match &check.outcome {
        Ok(()) => (None, None),
        Err(reached) => (
            Some(reached.code()),
            match reached {
                LimitReached::MeterLimit { unit } => Some(unit.as_str()),
                _ => None,
            },
        ),
    };
    ResultMap::new()
        .with("covered", check.covered())
        .with("reason", reason)
        .with("meter", meter)
        .with("ends_on", check.ends_on)
        .build()
}

fn within_readings(
    window: &CoverageWindow,
    on: Date,
    readings: &[(String, Decimal)],
) -> Fallible<Map> {
    let pairs: Vec<(&str, Decimal)> = readings.iter().map(|(u, v)| (u.as_str(), *v)).collect();
    lift(window.check(on, &pairs).map(|c| check_map(&c)))
}

fn within_one(window: &CoverageWindow, on: Date, reading: Decimal) -> Fallible<Map> {
    match window.meters() {
        [only] => within_readings(window, on, &[(only.unit.clone(), reading)]),
        meters => lift(Err(WarrantyError::invalid(
            "within",
            format!(
                "a single reading needs a window with exactly one meter (this one has {}): pass a map such as #{{ km: 12000 }}",
                meters.len()
            ),
        ))),
    }
}

fn meter_of<'a>(window: &'a CoverageWindow, unit: &str) -> Result<&'a MeterLimit> {
    window
        .meter(unit)
        .ok_or_else(|| WarrantyError::invalid("coverage window", format!("has no meter `{unit}`")))
}

fn register_windows(engine: &mut Registrar<'_>) {
    engine.register_type::<CoverageWindow>("coverage_window", |window| Ok(window_json(window)));
    engine.register_fn("period_end", |start: Date, n: INT, unit: &str| {
        lift(unit.parse().and_then(|u| period_end(start, n, u)))
    });
    engine.register_fn("coverage_window", |spec: Map| lift(window_from_map(&spec)));
    engine.register_get("start", |w: &mut CoverageWindow| w.start());
    engine.register_get("ends_on", |w: &mut CoverageWindow| {
        w.ends_on().into_dynamic()
    });
    engine.register_get("meters", |w: &mut CoverageWindow| {
        w.meters()
            .iter()
            .map(|m| Dynamic::from(m.unit.clone()))
            .collect::<Array>()
    });
    engine.register_fn("limit", |w: &mut CoverageWindow, unit: &str| {
        lift(meter_of(w, unit).map(|m| Quantity(m.limit).into_dynamic()))
    });
    engine.register_fn("ends_at", |w: &mut CoverageWindow, unit: &str| {
        lift(
            meter_of(w, unit)
                .and_then(|m| m.ends_at())
                .map(|end| Quantity(end).into_dynamic()),
        )
    });
    engine.register_fn("within", |w: &mut CoverageWindow, on: Date| {
        within_readings(w, on, &[])
    });
    engine.register_fn("within", |w: &mut CoverageWindow, on: Date, km: INT| {
        within_one(w, on, Decimal::from(km))
    });
    engine.register_fn("within", |w: &mut CoverageWindow, on: Date, r: Decimal| {
        within_one(w, on, r)
    });
    engine.register_fn(
        "within",
        |w: &mut CoverageWindow, on: Date, readings: Map| {
            let readings = lift(readings_in(&readings, &at("within.readings")))?;
            within_readings(w, on, &readings)
        },
    );
    engine.register_fn("to_string", |w: &mut CoverageWindow| w.to_string());
    engine.register_fn("to_debug", |w: &mut CoverageWindow| w.to_string());
}

/// `rounding` (`"half_even"` unless given) and `places` (2 unless given) of `options`.
fn rounding_from(options: &Options<'_, '_>) -> Result<Rounding> {
    let mode = match options.optional::<String>("rounding")? {
        Some(name) => name.parse()?,
        None => RoundingMode::HalfEven,
    };
    Rounding::new(options.optional_with("places", 2)?, mode)
}

fn tiers_from(tiers: &Array, here: &At<'_>) -> Result<ProRataTiers> {
    let mut out = Vec::with_capacity(tiers.len());
    for (i, t) in tiers.iter().enumerate() {
        let tier = here
            .index(i)
            .options(t, &["upto_months", "customer_share"])?;
        let tier = tier.options();
        out.push(ProRataTier {
            upto_months: tier.required("upto_months")?,
            customer_share: tier.required("customer_share")?,
        });
    }
    ProRataTiers::new(out)
}

fn settlement_terms(map: &Map) -> Result<SettlementTerms> {
    let terms = Options::at(
        PLUGIN,
        "settle.terms",
        map,
        &["deductible", "customer_share", "cap", "rounding", "places"],
    )?;
    Ok(SettlementTerms {
        deductible: terms.optional_with("deductible", Decimal::ZERO)?,
        customer_share: terms.optional_with("customer_share", Decimal::ZERO)?,
        cap: terms.optional("cap")?,
        rounding: rounding_from(&terms)?,
    })
}

fn settlement_map(s: &Settlement) -> Map {
    ResultMap::new()
        .with("covered_amount", s.covered_amount)
        .with("customer_pays", s.customer_pays)
        .with("deductible_applied", s.deductible_applied)
        .with("customer_share_amount", s.customer_share_amount)
        .with("over_cap", s.over_cap)
        .build()
}

/// `f(a, b)` of two amounts, the arguments `function.<name>` of `names`.
fn two_amounts(
    f: fn(Decimal, Decimal) -> Result<Decimal>,
    a: &Dynamic,
    b: &Dynamic,
    names: (&str, &str),
) -> Fallible<Decimal> {
    lift((|| f(at(names.0).read(a)?, at(names.1).read(b)?))())
}

fn register_money(engine: &mut Registrar<'_>) {
    engine.register_fn("deductible", |cost: Dynamic, amount: Dynamic| {
        two_amounts(
            deductible,
            &cost,
            &amount,
            ("deductible.cost", "deductible.amount"),
        )
    });
    engine.register_fn("cap", |amount: Dynamic, limit: Dynamic| {
        two_amounts(cap, &amount, &limit, ("cap.amount", "cap.limit"))
    });
    engine.register_fn("remaining_cap", |total: Dynamic, used: Dynamic| {
        two_amounts(
            remaining_cap,
            &total,
            &used,
            ("remaining_cap.total", "remaining_cap.used"),
        )
    });
    engine.register_fn("pro_rata_share", |age: Dynamic, tiers: Array| {
        lift((|| {
            let age = at("pro_rata_share.age_months").read(&age)?;
            pro_rata_share(age, &tiers_from(&tiers, &at("pro_rata_share.tiers"))?)
        })())
    });
    engine.register_fn("pro_rata_share", |start: Date, on: Date, tiers: Array| {
        lift(
            tiers_from(&tiers, &at("pro_rata_share.tiers"))
                .and_then(|t| pro_rata_share_on(start, on, &t)),
        )
    });
    engine.register_fn(
        "linear_credit",
        |price: Dynamic, used: Dynamic, total: Dynamic| credit(&price, &used, &total, &Map::new()),
    );
    engine.register_fn(
        "linear_credit",
        |price: Dynamic, used: Dynamic, total: Dynamic, options: Map| {
            credit(&price, &used, &total, &options)
        },
    );
    engine.register_fn("settle", |cost: Dynamic, terms: Map| {
        lift((|| {
            let cost = at("settle.cost").read(&cost)?;
            settle(cost, &settlement_terms(&terms)?).map(|s| settlement_map(&s))
        })())
    });
}

fn credit(price: &Dynamic, used: &Dynamic, total: &Dynamic, options: &Map) -> Fallible<Decimal> {
    lift((|| {
        let options = Options::at(
            PLUGIN,
            "linear_credit.options",
            options,
            &["rounding", "places"],
        )?;
        linear_credit(
            at("linear_credit.price").read(price)?,
            at("linear_credit.used").read(used)?,
            at("linear_credit.total").read(total)?,
            rounding_from(&options)?,
        )
    })())
}

/// `#{ start, every: #{ months: 12, km: 15000 }, tolerance: #{ months: 1, km: 1500 }, at_start: #{ km: 0 } }`.
fn plan_from_map(spec: &Map) -> Result<ServicePlan> {
    let plan = Options::at(
        PLUGIN,
        "maintenance_compliance.plan",
        spec,
        &["start", "every", "tolerance", "at_start"],
    )?;
    let start: Date = plan.required("start")?;
    let every: Map = plan.required("every")?;
    let tolerance: Map = plan.optional_with("tolerance", Map::new())?;
    let (every_at, tolerance_at) = (plan.field("every"), plan.field("tolerance"));
    let period = time_part(&Options::open(PLUGIN, every_at.path(), &every))?;
    let time_tolerance = time_part(&Options::open(PLUGIN, tolerance_at.path(), &tolerance))?;
    let meters = meter_part(&every, &every_at, &[])?;
    let tolerance_meters = meter_part(&tolerance, &tolerance_at, &[])?;
    let at_start = match plan.optional::<Map>("at_start")? {
        Some(m) => readings_in(&m, &plan.field("at_start"))?,
        None => Vec::new(),
    };
    if meters.len() > 1 {
        return Err(every_at.invalid("give at most one meter interval").into());
    }
    let meter_name = meters.first().map(|(u, _)| u.clone());
    for (unit, _) in tolerance_meters.iter().chain(at_start.iter()) {
        if meter_name.as_deref() != Some(unit.as_str()) {
            return Err(plan
                .here()
                .invalid(format!("`{unit}` is not the meter named in `every`"))
                .into());
        }
    }
    let meter = meters
        .into_iter()
        .next()
        .map(|(unit, every)| MeterInterval {
            every,
            tolerance: tolerance_meters.first().map_or(Decimal::ZERO, |(_, t)| *t),
            at_start: at_start.first().map_or(Decimal::ZERO, |(_, a)| *a),
            unit,
        });
    ServicePlan::new(start, period, time_tolerance, meter)
}

fn services_from(services: &Array, plan: &ServicePlan) -> Result<Vec<ServiceRecord>> {
    let unit = plan.meter().map(|m| m.unit.as_str());
    let here = at("maintenance_compliance.services");
    services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let record = here.index(i).open(s)?;
            let record = record.options();
            Ok(ServiceRecord {
                date: record.required("date")?,
                reading: unit.map(|u| record.required(u)).transpose()?,
            })
        })
        .collect()
}

fn compliance_map(c: &Compliance, unit: Option<&str>) -> Map {
    let unit = unit.unwrap_or("meter");
    let (due, deadline, done) = (
        format!("due_{unit}"),
        format!("deadline_{unit}"),
        format!("done_{unit}"),
    );
    let missed: Vec<ResultMap> = c
        .missed
        .iter()
        .map(|m| {
            let mut late_by = Vec::new();
            if m.late_by_time {
                late_by.push("time");
            }
            if m.late_by_meter {
                late_by.push(unit);
            }
            ResultMap::new()
                .with("reason", m.reason())
                .with("due_on", m.due_on)
                .with("deadline_on", m.deadline_on)
                .with(&due, m.due_reading.map(Quantity))
                .with(&deadline, m.deadline_reading.map(Quantity))
                .with("done_on", m.done_on)
                .with(&done, m.done_reading.map(Quantity))
                .with("late_by", late_by)
        })
        .collect();
    ResultMap::new()
        .with("compliant", c.compliant())
        .with("missed", missed)
        .with("services_counted", c.services_counted)
        .with("next_due_on", c.next_due_on)
        .with(
            &format!("next_due_{unit}"),
            c.next_due_reading.map(Quantity),
        )
        .build()
}

fn compliance(plan: &Map, services: &Array, on: Date, reading: Option<&Dynamic>) -> Fallible<Map> {
    lift((|| {
        let plan = plan_from_map(plan)?;
        let records = services_from(services, &plan)?;
        let reading = reading
            .map(|r| at("maintenance_compliance.reading").read(r))
            .transpose()?;
        let unit = plan.meter().map(|m| m.unit.as_str());
        maintenance_compliance(&plan, &records, on, reading).map(|c| compliance_map(&c, unit))
    })())
}

fn readings_from(readings: &Array, unit: &str) -> Result<Vec<MeterReading>> {
    let here = at("meter_at.readings");
    readings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let reading = here.index(i).open(r)?;
            let reading = reading.options();
            Ok(MeterReading {
                date: reading.required("date")?,
                value: reading.required(unit)?,
            })
        })
        .collect()
}

fn register_maintenance(engine: &mut Registrar<'_>) {
    engine.register_fn(
        "maintenance_compliance",
        |plan: Map, services: Array, on: Date| compliance(&plan, &services, on, None),
    );
    engine.register_fn(
        "maintenance_compliance",
        |plan: Map, services: Array, on: Date, reading: Dynamic| {
            compliance(&plan, &services, on, Some(&reading))
        },
    );
    engine.register_fn("meter_at", |readings: Array, on: Date, unit: &str| {
        lift(
            readings_from(&readings, unit)
                .and_then(|r| meter_at(&r, on))
                .map(|value| value.map(Quantity).into_dynamic()),
        )
    });
}

/// Registers every warranty function and the `coverage_window` type.
pub(super) fn register(engine: &mut Registrar<'_>) {
    register_windows(engine);
    register_money(engine);
    register_maintenance(engine);
    engine.register_fn("legal_guarantee", |spec: Map| {
        lift(legal_guarantee_map(&spec))
    });
}

const RULE_KEYS: [&str; 5] = [
    "liability_months",
    "presumption_months",
    "presumption_months_second_hand",
    "second_hand_min_months",
    "notice_months",
];

/// `legal_guarantee(#{ delivered, noticed, member_state, second_hand?, agreed_months?, rules? })`:
/// the member state's figures (or `rules` overriding some of them) applied to one defect.
fn legal_guarantee_map(spec: &Map) -> Result<Map> {
    let options = Options::at(
        PLUGIN,
        "legal_guarantee",
        spec,
        &[
            "delivered",
            "noticed",
            "member_state",
            "second_hand",
            "agreed_months",
            "rules",
        ],
    )?;
    let delivered: Date = options.required("delivered")?;
    let noticed: Date = options.required("noticed")?;
    let state: String = options.optional_with("member_state", String::new())?;
    let mut rules = LegalGuaranteeRules::for_state(&state);
    if let Some(overrides) = options.nested("rules", &RULE_KEYS)? {
        let overrides = overrides.options();
        for key in RULE_KEYS {
            let Some(months) = overrides.optional(key)? else {
                continue;
            };
            match key {
                "liability_months" => rules.liability_months = months,
                "presumption_months" => rules.presumption_months = months,
                "presumption_months_second_hand" => rules.presumption_months_second_hand = months,
                "second_hand_min_months" => rules.second_hand_min_months = months,
                _ => rules.notice_months = months,
            }
        }
    }
    let second_hand = options.optional_with("second_hand", false)?;
    let agreed = options.optional("agreed_months")?;
    let g = legal_guarantee(&rules, delivered, noticed, second_hand, agreed)?;
    Ok(ResultMap::new()
        .with("member_state", state.to_ascii_uppercase())
        .with("liability_ends", g.liability_ends)
        .with("presumption_ends", g.presumption_ends)
        .with("within_liability", g.within_liability)
        .with("reason", g.reason)
        .with("burden_of_proof", g.burden_of_proof.name())
        .with("notice_deadline", g.notice_deadline)
        .build())
}

/// The JSON form of a coverage window:
/// `{"start": .., "ends_on": .., "limits": {"km": ..}, "at_start": {"km": ..}}`.
pub(super) fn window_json(w: &CoverageWindow) -> serde_json::Value {
    use aftersale_core::value::decimal_to_json;
    let limits: serde_json::Map<String, serde_json::Value> = w
        .meters()
        .iter()
        .map(|m| (m.unit.clone(), decimal_to_json(m.limit)))
        .collect();
    let at_start: serde_json::Map<String, serde_json::Value> = w
        .meters()
        .iter()
        .map(|m| (m.unit.clone(), decimal_to_json(m.at_start)))
        .collect();
    serde_json::json!({
        "start": w.start().to_string(),
        "ends_on": w.ends_on().map(|d| d.to_string()),
        "limits": limits,
        "at_start": at_start,
    })
}
