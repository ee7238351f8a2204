//! The rhai face of the warranty vocabulary: argument maps read into the pure types of the
//! sibling modules, answers written back as maps a contract can return as-is. Every problem
//! becomes a rhai runtime error carrying the [`WarrantyError`] message.

use aftersale_core::plugin::Registrar;
use aftersale_core::rhai::{Array, Dynamic, EvalAltResult, Map, Position, INT};
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
use super::period::{period_end, Period, PeriodUnit};
use super::readings::{meter_at, MeterReading};
use super::window::{CoverageWindow, MeterLimit, WindowCheck};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn raise(e: WarrantyError) -> Box<EvalAltResult> {
    match e {
        // A limit of the evaluation: reported as the limit, like one the script reached.
        WarrantyError::Exhausted(limit) => limit.into(),
        e => Box::new(EvalAltResult::ErrorRuntime(
            Dynamic::from(e.to_string()),
            Position::NONE,
        )),
    }
}

fn lift<T>(result: Result<T, WarrantyError>) -> Fallible<T> {
    result.map_err(raise)
}

/// A value as an error message shows it: strings quoted, other values as written.
fn shown(v: &Dynamic) -> String {
    if v.is_unit() {
        "nothing".into()
    } else if v.is_string() {
        format!("\"{v}\"")
    } else if v.is_map() {
        "a map".into()
    } else if v.is_array() {
        "an array".into()
    } else if let Some(d) = v.read_lock::<Date>() {
        format!("the date {}", *d)
    } else if v.is_int() || v.is_decimal() || v.is_bool() {
        v.to_string()
    } else {
        format!("a value of type `{}`", v.type_name())
    }
}

fn number(v: &Dynamic, what: &str) -> Result<Decimal, WarrantyError> {
    if let Ok(i) = v.as_int() {
        return Ok(Decimal::from(i));
    }
    v.as_decimal()
        .map_err(|_| WarrantyError::invalid(what, format!("expected a number, got {}", shown(v))))
}

fn whole(v: &Dynamic, what: &str) -> Result<i64, WarrantyError> {
    v.as_int().map_err(|_| {
        WarrantyError::invalid(what, format!("expected a whole number, got {}", shown(v)))
    })
}

/// A date, or a `YYYY-MM-DD` text (as facts carry them).
fn date_value(v: &Dynamic, what: &str) -> Result<Date, WarrantyError> {
    if let Some(d) = v.read_lock::<Date>() {
        return Ok(*d);
    }
    if v.is_string() {
        let text = v.to_string();
        return Date::parse(&text).map_err(|e| WarrantyError::invalid(what, e));
    }
    Err(WarrantyError::invalid(
        what,
        format!("expected a date, got {}", shown(v)),
    ))
}

fn text(v: &Dynamic, what: &str) -> Result<String, WarrantyError> {
    if v.is_string() {
        Ok(v.to_string())
    } else {
        Err(WarrantyError::invalid(
            what,
            format!("expected a text, got {}", shown(v)),
        ))
    }
}

fn map_value(v: &Dynamic, what: &str) -> Result<Map, WarrantyError> {
    v.read_lock::<Map>()
        .map(|m| m.clone())
        .ok_or_else(|| WarrantyError::invalid(what, format!("expected a map, got {}", shown(v))))
}

/// A field of a map, where `()` counts as absent.
fn get<'a>(map: &'a Map, key: &str) -> Option<&'a Dynamic> {
    map.get(key).filter(|v| !v.is_unit())
}

fn required<'a>(map: &'a Map, key: &str, what: &str) -> Result<&'a Dynamic, WarrantyError> {
    get(map, key).ok_or_else(|| WarrantyError::invalid(what, format!("`{key}` is required")))
}

fn only_keys(map: &Map, allowed: &[&str], what: &str) -> Result<(), WarrantyError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(WarrantyError::invalid(
            what,
            format!(
                "unknown key `{k}` (allowed: {})",
                allowed
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// A meter value back to scripts: whole values as integers, so `km` stays an integer.
fn meter_dynamic(d: Decimal) -> Dynamic {
    if d.fract().is_zero() {
        if let Ok(i) = INT::try_from(d.trunc()) {
            return Dynamic::from_int(i);
        }
    }
    Dynamic::from_decimal(d)
}

fn opt_date(d: Option<Date>) -> Dynamic {
    d.map_or(Dynamic::UNIT, Dynamic::from)
}

fn opt_meter(d: Option<Decimal>) -> Dynamic {
    d.map_or(Dynamic::UNIT, meter_dynamic)
}

const TIME_KEYS: [&str; 3] = ["days", "months", "years"];
/// Keys that look like time units but are not the accepted ones: a typo would otherwise be
/// read as a meter called `year`.
const NOT_METERS: [&str; 7] = ["day", "month", "year", "week", "weeks", "start_date", "end"];

/// The time part of a limits map: at most one of `days`, `months`, `years`.
fn time_part(map: &Map, what: &str) -> Result<Option<Period>, WarrantyError> {
    let mut found = None;
    for unit in TIME_KEYS {
        if let Some(v) = get(map, unit) {
            if found.is_some() {
                return Err(WarrantyError::invalid(
                    what,
                    "give only one of `days`, `months`, `years`",
                ));
            }
            let count = whole(v, &format!("{what}.{unit}"))?;
            let unit: PeriodUnit = unit.parse()?;
            found = Some(Period::new(count, unit)?);
        }
    }
    Ok(found)
}

/// The meter part of a limits map: every key that is not a time unit nor in `reserved`.
fn meter_part(
    map: &Map,
    reserved: &[&str],
    what: &str,
) -> Result<Vec<(String, Decimal)>, WarrantyError> {
    let mut meters = Vec::new();
    for (key, v) in map {
        let key = key.as_str();
        if TIME_KEYS.contains(&key) || reserved.contains(&key) {
            continue;
        }
        if NOT_METERS.contains(&key) {
            return Err(WarrantyError::invalid(
                what,
                format!("unknown key `{key}`: time limits are `days`, `months` or `years`"),
            ));
        }
        let valid_name = key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err(WarrantyError::invalid(
                what,
                format!("`{key}` is not a meter name: use lowercase letters, digits and `_`"),
            ));
        }
        if v.is_unit() {
            continue;
        }
        meters.push((key.to_string(), number(v, &format!("{what}.{key}"))?));
    }
    Ok(meters)
}

fn readings_at_start(map: &Map, what: &str) -> Result<Vec<(String, Decimal)>, WarrantyError> {
    match get(map, "at_start") {
        None => Ok(Vec::new()),
        Some(v) => {
            let at = map_value(v, &format!("{what}.at_start"))?;
            at.iter()
                .map(|(k, v)| Ok((k.to_string(), number(v, &format!("{what}.at_start.{k}"))?)))
                .collect()
        }
    }
}

/// `coverage_window(#{ start, years: 3, km: 100000, at_start: #{ km: 0 } })`.
fn window_from_map(spec: &Map) -> Result<CoverageWindow, WarrantyError> {
    const WHAT: &str = "coverage_window";
    let start = date_value(required(spec, "start", WHAT)?, "coverage_window.start")?;
    let period = time_part(spec, WHAT)?;
    let at_start = readings_at_start(spec, WHAT)?;
    let limits = meter_part(spec, &["start", "at_start"], WHAT)?;
    if let Some((unit, _)) = at_start
        .iter()
        .find(|(u, _)| !limits.iter().any(|(l, _)| l == u))
    {
        return Err(WarrantyError::invalid(
            "coverage_window.at_start",
            format!("`{unit}` has no limit in this window"),
        ));
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
    let mut out = Map::new();
    out.insert("covered".into(), Dynamic::from_bool(check.covered()));
    let (reason, meter) = match &check.outcome {
        Ok(()) => (Dynamic::UNIT, Dynamic::UNIT),
        Err(reached) => (
            Dynamic::from(reached.code().to_string()),
            match reached {
                super::window::LimitReached::MeterLimit { unit } => Dynamic::from(unit.clone()),
                _ => Dynamic::UNIT,
            },
        ),
    };
    out.insert("reason".into(), reason);
    out.insert("meter".into(), meter);
    out.insert("ends_on".into(), opt_date(check.ends_on));
    out
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
        meters => Err(raise(WarrantyError::invalid(
            "within",
            format!(
                "a single reading needs a window with exactly one meter (this one has {}): pass a map such as #{{ km: 12000 }}",
                meters.len()
            ),
        ))),
    }
}

fn meter_of<'a>(window: &'a CoverageWindow, unit: &str) -> Result<&'a MeterLimit, WarrantyError> {
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
    engine.register_get("ends_on", |w: &mut CoverageWindow| opt_date(w.ends_on()));
    engine.register_get("meters", |w: &mut CoverageWindow| {
        w.meters()
            .iter()
            .map(|m| Dynamic::from(m.unit.clone()))
            .collect::<Array>()
    });
    engine.register_fn("limit", |w: &mut CoverageWindow, unit: &str| {
        lift(meter_of(w, unit).map(|m| meter_dynamic(m.limit)))
    });
    engine.register_fn("ends_at", |w: &mut CoverageWindow, unit: &str| {
        lift(
            meter_of(w, unit)
                .and_then(|m| m.ends_at())
                .map(meter_dynamic),
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
            let readings = lift(
                readings
                    .iter()
                    .map(|(k, v)| Ok((k.to_string(), number(v, &format!("within readings.{k}"))?)))
                    .collect::<Result<Vec<_>, WarrantyError>>(),
            )?;
            within_readings(w, on, &readings)
        },
    );
    engine.register_fn("to_string", |w: &mut CoverageWindow| w.to_string());
    engine.register_fn("to_debug", |w: &mut CoverageWindow| w.to_string());
}

fn rounding_from(map: &Map, what: &str) -> Result<Rounding, WarrantyError> {
    let mode = match get(map, "rounding") {
        Some(v) => text(v, &format!("{what}.rounding"))?.parse()?,
        None => RoundingMode::HalfEven,
    };
    let places = match get(map, "places") {
        Some(v) => whole(v, &format!("{what}.places"))?,
        None => 2,
    };
    Rounding::new(places, mode)
}

fn tiers_from(tiers: &Array) -> Result<ProRataTiers, WarrantyError> {
    let mut out = Vec::with_capacity(tiers.len());
    for (i, t) in tiers.iter().enumerate() {
        let what = format!("pro-rata tier {}", i + 1);
        let map = map_value(t, &what)?;
        only_keys(&map, &["upto_months", "customer_share"], &what)?;
        out.push(ProRataTier {
            upto_months: whole(
                required(&map, "upto_months", &what)?,
                &format!("{what}.upto_months"),
            )?,
            customer_share: number(
                required(&map, "customer_share", &what)?,
                &format!("{what}.customer_share"),
            )?,
        });
    }
    ProRataTiers::new(out)
}

fn settlement_terms(map: &Map) -> Result<SettlementTerms, WarrantyError> {
    const WHAT: &str = "settle terms";
    only_keys(
        map,
        &["deductible", "customer_share", "cap", "rounding", "places"],
        WHAT,
    )?;
    let amount = |key: &str| -> Result<Option<Decimal>, WarrantyError> {
        get(map, key)
            .map(|v| number(v, &format!("{WHAT}.{key}")))
            .transpose()
    };
    Ok(SettlementTerms {
        deductible: amount("deductible")?.unwrap_or_default(),
        customer_share: amount("customer_share")?.unwrap_or_default(),
        cap: amount("cap")?,
        rounding: rounding_from(map, WHAT)?,
    })
}

fn settlement_map(s: &Settlement) -> Map {
    let mut out = Map::new();
    out.insert(
        "covered_amount".into(),
        Dynamic::from_decimal(s.covered_amount),
    );
    out.insert(
        "customer_pays".into(),
        Dynamic::from_decimal(s.customer_pays),
    );
    out.insert(
        "deductible_applied".into(),
        Dynamic::from_decimal(s.deductible_applied),
    );
    out.insert(
        "customer_share_amount".into(),
        Dynamic::from_decimal(s.customer_share_amount),
    );
    out.insert("over_cap".into(), Dynamic::from_decimal(s.over_cap));
    out
}

fn two_amounts(
    f: fn(Decimal, Decimal) -> Result<Decimal, WarrantyError>,
    a: &Dynamic,
    b: &Dynamic,
    names: (&str, &str),
) -> Fallible<Decimal> {
    lift(number(a, names.0).and_then(|a| number(b, names.1).and_then(|b| f(a, b))))
}

fn register_money(engine: &mut Registrar<'_>) {
    engine.register_fn("deductible", |cost: Dynamic, amount: Dynamic| {
        two_amounts(
            deductible,
            &cost,
            &amount,
            ("deductible(cost, ..)", "deductible(.., amount)"),
        )
    });
    engine.register_fn("cap", |amount: Dynamic, limit: Dynamic| {
        two_amounts(cap, &amount, &limit, ("cap(amount, ..)", "cap(.., limit)"))
    });
    engine.register_fn("remaining_cap", |total: Dynamic, used: Dynamic| {
        two_amounts(
            remaining_cap,
            &total,
            &used,
            ("remaining_cap(total, ..)", "remaining_cap(.., used)"),
        )
    });
    engine.register_fn("pro_rata_share", |age: Dynamic, tiers: Array| {
        lift(
            number(&age, "pro_rata_share(age_months, ..)")
                .and_then(|age| pro_rata_share(age, &tiers_from(&tiers)?)),
        )
    });
    engine.register_fn("pro_rata_share", |start: Date, on: Date, tiers: Array| {
        lift(tiers_from(&tiers).and_then(|t| pro_rata_share_on(start, on, &t)))
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
        lift(
            number(&cost, "settle(cost, ..)")
                .and_then(|cost| settle(cost, &settlement_terms(&terms)?))
                .map(|s| settlement_map(&s)),
        )
    });
}

fn credit(price: &Dynamic, used: &Dynamic, total: &Dynamic, options: &Map) -> Fallible<Decimal> {
    lift((|| {
        only_keys(options, &["rounding", "places"], "linear_credit options")?;
        linear_credit(
            number(price, "linear_credit(price, ..)")?,
            number(used, "linear_credit(.., used, ..)")?,
            number(total, "linear_credit(.., total)")?,
            rounding_from(options, "linear_credit options")?,
        )
    })())
}

/// `#{ start, every: #{ months: 12, km: 15000 }, tolerance: #{ months: 1, km: 1500 }, at_start: #{ km: 0 } }`.
fn plan_from_map(spec: &Map) -> Result<ServicePlan, WarrantyError> {
    const WHAT: &str = "maintenance plan";
    only_keys(spec, &["start", "every", "tolerance", "at_start"], WHAT)?;
    let start = date_value(required(spec, "start", WHAT)?, "maintenance plan.start")?;
    let every = map_value(required(spec, "every", WHAT)?, "maintenance plan.every")?;
    let tolerance = match get(spec, "tolerance") {
        Some(v) => map_value(v, "maintenance plan.tolerance")?,
        None => Map::new(),
    };
    let period = time_part(&every, "maintenance plan.every")?;
    let time_tolerance = time_part(&tolerance, "maintenance plan.tolerance")?;
    let meters = meter_part(&every, &[], "maintenance plan.every")?;
    let tolerance_meters = meter_part(&tolerance, &[], "maintenance plan.tolerance")?;
    let at_start = readings_at_start(spec, WHAT)?;
    if meters.len() > 1 {
        return Err(WarrantyError::invalid(
            "maintenance plan.every",
            "give at most one meter interval",
        ));
    }
    let meter_name = meters.first().map(|(u, _)| u.clone());
    for (unit, _) in tolerance_meters.iter().chain(at_start.iter()) {
        if meter_name.as_deref() != Some(unit.as_str()) {
            return Err(WarrantyError::invalid(
                WHAT,
                format!("`{unit}` is not the meter named in `every`"),
            ));
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

fn services_from(
    services: &Array,
    plan: &ServicePlan,
) -> Result<Vec<ServiceRecord>, WarrantyError> {
    let unit = plan.meter().map(|m| m.unit.clone());
    services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let what = format!("services[{i}]");
            let map = map_value(s, &what)?;
            let date = date_value(required(&map, "date", &what)?, &format!("{what}.date"))?;
            let reading = match &unit {
                Some(u) => Some(number(required(&map, u, &what)?, &format!("{what}.{u}"))?),
                None => None,
            };
            Ok(ServiceRecord { date, reading })
        })
        .collect()
}

fn compliance_map(c: &Compliance, unit: Option<&str>) -> Map {
    let unit = unit.unwrap_or("meter");
    let missed: Array = c
        .missed
        .iter()
        .map(|m| {
            let mut out = Map::new();
            out.insert("reason".into(), Dynamic::from(m.reason().to_string()));
            out.insert("due_on".into(), opt_date(m.due_on));
            out.insert("deadline_on".into(), opt_date(m.deadline_on));
            out.insert(format!("due_{unit}").into(), opt_meter(m.due_reading));
            out.insert(
                format!("deadline_{unit}").into(),
                opt_meter(m.deadline_reading),
            );
            out.insert("done_on".into(), opt_date(m.done_on));
            out.insert(format!("done_{unit}").into(), opt_meter(m.done_reading));
            let mut late_by = Array::new();
            if m.late_by_time {
                late_by.push(Dynamic::from("time".to_string()));
            }
            if m.late_by_meter {
                late_by.push(Dynamic::from(unit.to_string()));
            }
            out.insert("late_by".into(), Dynamic::from_array(late_by));
            Dynamic::from_map(out)
        })
        .collect();
    let mut out = Map::new();
    out.insert("compliant".into(), Dynamic::from_bool(c.compliant()));
    out.insert("missed".into(), Dynamic::from_array(missed));
    out.insert(
        "services_counted".into(),
        Dynamic::from_int(INT::try_from(c.services_counted).unwrap_or(INT::MAX)),
    );
    out.insert("next_due_on".into(), opt_date(c.next_due_on));
    out.insert(
        format!("next_due_{unit}").into(),
        opt_meter(c.next_due_reading),
    );
    out
}

fn compliance(plan: &Map, services: &Array, on: Date, reading: Option<&Dynamic>) -> Fallible<Map> {
    lift((|| {
        let plan = plan_from_map(plan)?;
        let records = services_from(services, &plan)?;
        let reading = reading
            .map(|r| number(r, "maintenance_compliance(.., reading)"))
            .transpose()?;
        let unit = plan.meter().map(|m| m.unit.clone());
        maintenance_compliance(&plan, &records, on, reading)
            .map(|c| compliance_map(&c, unit.as_deref()))
    })())
}

fn readings_from(readings: &Array, unit: &str) -> Result<Vec<MeterReading>, WarrantyError> {
    readings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let what = format!("readings[{i}]");
            let map = map_value(r, &what)?;
            Ok(MeterReading {
                date: date_value(required(&map, "date", &what)?, &format!("{what}.date"))?,
                value: number(required(&map, unit, &what)?, &format!("{what}.{unit}"))?,
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
                .map(opt_meter),
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
fn legal_guarantee_map(spec: &Map) -> Result<Map, WarrantyError> {
    const WHAT: &str = "legal_guarantee";
    only_keys(
        spec,
        &[
            "delivered",
            "noticed",
            "member_state",
            "second_hand",
            "agreed_months",
            "rules",
        ],
        WHAT,
    )?;
    let delivered = date_value(
        required(spec, "delivered", WHAT)?,
        "legal_guarantee.delivered",
    )?;
    let noticed = date_value(required(spec, "noticed", WHAT)?, "legal_guarantee.noticed")?;
    let state = match get(spec, "member_state") {
        Some(v) => text(v, "legal_guarantee.member_state")?,
        None => String::new(),
    };
    let mut rules = LegalGuaranteeRules::for_state(&state);
    if let Some(v) = get(spec, "rules") {
        let overrides = map_value(v, "legal_guarantee.rules")?;
        only_keys(&overrides, &RULE_KEYS, "legal_guarantee.rules")?;
        for key in RULE_KEYS {
            let Some(v) = get(&overrides, key) else {
                continue;
            };
            let months = whole(v, &format!("legal_guarantee.rules.{key}"))?;
            match key {
                "liability_months" => rules.liability_months = months,
                "presumption_months" => rules.presumption_months = months,
                "presumption_months_second_hand" => rules.presumption_months_second_hand = months,
                "second_hand_min_months" => rules.second_hand_min_months = months,
                _ => rules.notice_months = months,
            }
        }
    }
    let second_hand = match get(spec, "second_hand") {
        Some(v) => v.as_bool().map_err(|_| {
            WarrantyError::invalid(
                "legal_guarantee.second_hand",
                format!("expected true or false, got {}", shown(v)),
            )
        })?,
        None => false,
    };
    let agreed = get(spec, "agreed_months")
        .map(|v| whole(v, "legal_guarantee.agreed_months"))
        .transpose()?;
    let g = legal_guarantee(&rules, delivered, noticed, second_hand, agreed)?;
    let mut out = Map::new();
    out.insert(
        "member_state".into(),
        Dynamic::from(state.to_ascii_uppercase()),
    );
    out.insert("liability_ends".into(), Dynamic::from(g.liability_ends));
    out.insert("presumption_ends".into(), Dynamic::from(g.presumption_ends));
    out.insert(
        "within_liability".into(),
        Dynamic::from_bool(g.within_liability),
    );
    out.insert(
        "reason".into(),
        g.reason
            .map_or(Dynamic::UNIT, |r| Dynamic::from(r.to_string())),
    );
    out.insert(
        "burden_of_proof".into(),
        Dynamic::from(g.burden_of_proof.name().to_string()),
    );
    out.insert("notice_deadline".into(), opt_date(g.notice_deadline));
    Ok(out)
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
