//! The rhai side: reading plans, histories and readings from script values (maps, arrays,
//! dates or `YYYY-MM-DD` strings, integers or decimals), and giving results back as maps.

use std::sync::Arc;

use aftersale_core::plugin::args::{At, IntoDynamic, Options, Quantity, ResultMap};
use aftersale_core::rhai::{Array, Dynamic, Map};
use aftersale_core::Date;
use rust_decimal::Decimal;

use super::error::MaintenanceError;
use super::meters::{Completion, Reading};
use super::plan::{Anchor, Counters, Link, Meters, Plan, Span, Task};
use super::schedule::{Compliance, DuePoint, NextDue, Point, ServiceRecord, Visit};

type Result<T> = std::result::Result<T, MaintenanceError>;

/// The time units a counter map may hold; any other key names a meter.
const TIME_UNITS: [&str; 4] = ["days", "weeks", "months", "years"];

/// The plugin's name, as its argument errors start.
const PLUGIN: &str = "maintenance";

/// Where the field `field` of an argument stands.
fn at(field: &str) -> At<'static> {
    At::new(PLUGIN, field)
}

/// Meter unit names are lowercase words; a singular time unit is almost surely a typo.
fn check_meter_name(unit: &str, field: &str) -> Result<()> {
    if let Some(plural) = ["day", "week", "month", "year"]
        .iter()
        .find(|s| **s == unit)
    {
        return Err(MaintenanceError::UnknownUnit {
            field: field.to_string(),
            unit: unit.to_string(),
            hint: format!("write `{plural}s`"),
        });
    }
    let mut chars = unit.chars();
    let well_formed = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if well_formed {
        Ok(())
    } else {
        Err(MaintenanceError::UnknownUnit {
            field: field.to_string(),
            unit: unit.to_string(),
            hint: "time units are days, weeks, months, years; meter names are lowercase letters, digits and _".into(),
        })
    }
}

fn whole(value: Decimal, field: &str) -> Result<i64> {
    use rust_decimal::prelude::ToPrimitive;
    if !value.fract().is_zero() {
        return Err(MaintenanceError::NotWhole {
            field: field.to_string(),
            value: value.normalize().to_string(),
        });
    }
    value
        .to_i64()
        .ok_or_else(|| MaintenanceError::Range(format!("`{field}` is out of range")))
}

/// A counter map: time units add up into one span; other keys are meters. In `every`
/// (`positive`) each value must be greater than zero, elsewhere not negative.
fn counters_of(value: &Dynamic, field: &str, positive: bool) -> Result<Counters> {
    let map = at(field).read::<Map>(value)?;
    let mut counters = Counters::default();
    for (key, value) in &map {
        let key = key.as_str();
        let path = format!("{field}.{key}");
        let amount = at(&path).read::<Decimal>(value)?;
        if positive && amount <= Decimal::ZERO {
            return Err(MaintenanceError::NotPositive {
                field: path,
                value: amount.normalize().to_string(),
            });
        }
        if amount < Decimal::ZERO {
            return Err(MaintenanceError::Negative {
                field: path,
                value: amount.normalize().to_string(),
            });
        }
        if TIME_UNITS.contains(&key) {
            let n = whole(amount, &path)?;
            let span = counters.time.get_or_insert(Span::ZERO);
            let out_of_range = || MaintenanceError::Range(format!("`{path}` is out of range"));
            match key {
                "days" => span.days = span.days.checked_add(n).ok_or_else(out_of_range)?,
                "weeks" => {
                    span.days = n
                        .checked_mul(7)
                        .and_then(|d| d.checked_add(span.days))
                        .ok_or_else(out_of_range)?;
                }
                "months" => span.months = span.months.checked_add(n).ok_or_else(out_of_range)?,
                _ => {
                    span.months = n
                        .checked_mul(12)
                        .and_then(|m| m.checked_add(span.months))
                        .ok_or_else(out_of_range)?;
                }
            }
        } else {
            check_meter_name(key, &path)?;
            counters.meters.insert(key.to_string(), amount);
        }
    }
    Ok(counters)
}

fn meters_of(value: &Dynamic, field: &str) -> Result<Meters> {
    let map = at(field).read::<Map>(value)?;
    if let Some(unit) = map.keys().find(|k| TIME_UNITS.contains(&k.as_str())) {
        return Err(MaintenanceError::UnknownUnit {
            field: format!("{field}.{unit}"),
            unit: unit.to_string(),
            hint: "start meters are meter values such as km".into(),
        });
    }
    Ok(counters_of(value, field, false)?.meters)
}

const TASK_KEYS: [&str; 8] = [
    "name",
    "description",
    "every",
    "link",
    "anchor",
    "tolerance",
    "shift_factor",
    "due_soon",
];

fn task_of(value: &Dynamic, field: &str) -> Result<Task> {
    let map = at(field).read::<Map>(value)?;
    let options = Options::at(PLUGIN, field, &map, &TASK_KEYS)?;
    let name = options.required::<String>("name")?;
    let every = counters_of(
        options
            .get("every")
            .ok_or_else(|| options.field("every").missing("a map of counters"))?,
        &format!("{field}.every"),
        true,
    )?;
    let mut task = Task::new(name, every);
    if let Some(d) = options.get("description") {
        task.description = Some(at(&format!("{field}.description")).read::<String>(d)?);
    }
    if let Some(link) = options.get("link") {
        let path = format!("{field}.link");
        task.link = match at(&path).read::<String>(link)?.as_str() {
            "or" => Link::Or,
            "and" => Link::And,
            other => {
                return Err(MaintenanceError::UnknownLink {
                    field: path,
                    value: other.to_string(),
                })
            }
        };
    }
    if let Some(anchor) = options.get("anchor") {
        let path = format!("{field}.anchor");
        task.anchor = match at(&path).read::<String>(anchor)?.as_str() {
            "grid" => Anchor::Grid,
            "last_completion" => Anchor::LastCompletion,
            other => {
                return Err(MaintenanceError::UnknownAnchor {
                    field: path,
                    value: other.to_string(),
                })
            }
        };
    }
    if let Some(t) = options.get("tolerance") {
        task.tolerance = counters_of(t, &format!("{field}.tolerance"), false)?;
    }
    if let Some(d) = options.get("due_soon") {
        task.due_soon = counters_of(d, &format!("{field}.due_soon"), false)?;
    }
    task.shift_factor = match options.get("shift_factor") {
        Some(f) => {
            let path = format!("{field}.shift_factor");
            let factor = at(&path).read::<Decimal>(f)?;
            if factor < Decimal::ZERO {
                return Err(MaintenanceError::Negative {
                    field: path,
                    value: factor.normalize().to_string(),
                });
            }
            factor
        }
        None if task.anchor == Anchor::Grid => Decimal::ZERO,
        None => Decimal::ONE,
    };
    Ok(task)
}

/// Reads `maintenance_plan(#{ tasks, start, start_meters })`.
pub(crate) fn plan_of(spec: &Map) -> Result<Plan> {
    let options = Options::new(PLUGIN, spec, &["tasks", "start", "start_meters"])?;
    let tasks_value = options
        .get("tasks")
        .ok_or_else(|| options.field("tasks").missing("an array of tasks"))?;
    let tasks = at("tasks")
        .read::<Array>(tasks_value)?
        .iter()
        .enumerate()
        .map(|(i, t)| task_of(t, &format!("tasks[{i}]")))
        .collect::<Result<Vec<_>>>()?;
    let start: Date = options.required("start")?;
    let start_meters = match options.get("start_meters") {
        Some(m) => meters_of(m, "start_meters")?,
        None => Meters::new(),
    };
    Plan::new(start, start_meters, tasks)
}

/// Reads a history: an array of `#{ task, date, <meter>: value, ... }`.
pub(crate) fn history_of(value: &Array) -> Result<Vec<Completion>> {
    value
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let field = format!("history[{i}]");
            let map = at(&field).read::<Map>(entry)?;
            let task = Options::open(PLUGIN, &field, &map).required::<String>("task")?;
            let date = Options::open(PLUGIN, &field, &map).required::<Date>("date")?;
            let mut meters = Meters::new();
            for (key, v) in &map {
                if key == "task" || key == "date" {
                    continue;
                }
                let path = format!("{field}.{key}");
                check_meter_name(key, &path)?;
                meters.insert(key.to_string(), at(&path).read::<Decimal>(v)?);
            }
            Ok(Completion { task, date, meters })
        })
        .collect()
}

/// Reads readings: an array of `#{ date, <meter>: value, ... }`, oldest first.
pub(crate) fn readings_of(value: &Array) -> Result<Vec<Reading>> {
    value
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let field = format!("readings[{i}]");
            let map = at(&field).read::<Map>(entry)?;
            let date = Options::open(PLUGIN, &field, &map).required::<Date>("date")?;
            let mut meters = Meters::new();
            for (key, v) in &map {
                if key == "date" {
                    continue;
                }
                let path = format!("{field}.{key}");
                check_meter_name(key, &path)?;
                meters.insert(key.to_string(), at(&path).read::<Decimal>(v)?);
            }
            if meters.is_empty() {
                return Err(MaintenanceError::Missing {
                    field: format!("{field}.<meter>"),
                });
            }
            Ok(Reading { date, meters })
        })
        .collect()
}

/// Meter amounts as scripts like them: integers when whole, else exact decimals.
fn meters_map(meters: &Meters) -> ResultMap {
    meters
        .iter()
        .map(|(unit, v)| (unit, Quantity(v.normalize())))
        .collect()
}

/// Sets `<prefix>_on` and `<prefix>_at` to a due point's date and meters.
fn insert_due(map: &mut ResultMap, prefix: &str, point: &DuePoint) {
    map.insert(&format!("{prefix}_on"), point.on)
        .insert(&format!("{prefix}_at"), meters_map(&point.at));
}

/// Sets `<prefix>_on` and `<prefix>_at` to a service's date and meters, `()` when not done.
fn insert_done(map: &mut ResultMap, prefix: &str, point: Option<&Point>) {
    map.insert(&format!("{prefix}_on"), point.map(|p| p.date))
        .insert(
            &format!("{prefix}_at"),
            point.map(|p| meters_map(&p.meters)),
        );
}

/// The map `plan.next_due(..)` returns.
pub(crate) fn next_due_map(next: &NextDue) -> Dynamic {
    let mut map = ResultMap::new()
        .with("task", &next.task)
        .with("number", next.number);
    insert_due(&mut map, "due", &next.due);
    map.insert("due_soon_from", next.due_soon_from.on)
        .insert("due_soon_at", meters_map(&next.due_soon_from.at))
        .insert("tolerance_until", next.tolerance_until.on)
        .insert("tolerance_at", meters_map(&next.tolerance_until.at))
        .insert("meters", meters_map(&next.meters))
        .insert(
            "forecast",
            next.forecast
                .iter()
                .map(|(unit, on)| (unit, *on))
                .collect::<ResultMap>(),
        )
        .insert("forecast_on", next.forecast_on)
        .insert("trigger", next.trigger.as_deref())
        .insert("days_left", next.days_left)
        .insert("state", next.state.as_str());
    insert_done(&mut map, "last_done", next.last_done.as_ref());
    map.into_dynamic()
}

/// One element of `plan.visits(..)`.
pub(crate) fn visit_map(visit: &Visit) -> Dynamic {
    let mut map = ResultMap::new()
        .with("task", &visit.task)
        .with("number", visit.number)
        .with("date", visit.date);
    insert_due(&mut map, "due", &visit.due);
    map.with("trigger", visit.trigger.as_deref())
        .with("overdue", visit.overdue)
        .into_dynamic()
}

fn record_map(record: &ServiceRecord) -> ResultMap {
    let mut map = ResultMap::new()
        .with("task", &record.task)
        .with("number", record.number);
    insert_due(&mut map, "due", &record.due);
    map.insert("tolerance_until", record.tolerance_until.on)
        .insert("tolerance_at", meters_map(&record.tolerance_until.at));
    insert_done(&mut map, "done", record.done.as_ref());
    let mut late_by = ResultMap::new();
    if let Some(days) = record.late_days {
        late_by.insert("days", days);
    }
    for (unit, v) in &record.late_meters {
        late_by.insert(unit, Quantity(v.normalize()));
    }
    map.with("late_by", record.done.is_some().then_some(late_by))
        .with("status", record.status.as_str())
        .with("reason", &record.reason)
}

/// The map `plan.compliance(..)` returns.
pub(crate) fn compliance_map(report: &Compliance) -> Dynamic {
    let counts: ResultMap = [
        "on_time",
        "late_within_tolerance",
        "late",
        "missed",
        "pending",
    ]
    .into_iter()
    .map(|status| {
        let n = report
            .services
            .iter()
            .filter(|s| s.status.as_str() == status)
            .count();
        (status, n)
    })
    .collect();
    let extra: Vec<ResultMap> = report
        .extra
        .iter()
        .map(|e| {
            ResultMap::new()
                .with("task", &e.task)
                .with("date", e.date)
                .with("reason", &e.reason)
        })
        .collect();
    ResultMap::new()
        .with("up_to", report.up_to)
        .with("compliant", report.compliant)
        .with(
            "services",
            report.services.iter().map(record_map).collect::<Vec<_>>(),
        )
        .with("reasons", report.reasons())
        .with("counts", counts)
        .with("extra", extra)
        .into_dynamic()
}

fn span_json(span: Span) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if span.months != 0 || span.days == 0 {
        out.insert("months".into(), span.months.into());
    }
    if span.days != 0 {
        out.insert("days".into(), span.days.into());
    }
    serde_json::Value::Object(out)
}

fn counters_json(counters: &Counters) -> serde_json::Value {
    let mut out = match counters.time.map(span_json) {
        Some(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    for (unit, v) in &counters.meters {
        out.insert(
            unit.clone(),
            aftersale_core::value::decimal_to_json(v.normalize()),
        );
    }
    serde_json::Value::Object(out)
}

/// The JSON form of a plan, for decisions and traces.
pub(crate) fn plan_json(plan: &Arc<Plan>) -> serde_json::Value {
    let tasks: Vec<serde_json::Value> = plan
        .tasks
        .iter()
        .map(|t| {
            let mut m = serde_json::Map::new();
            m.insert("name".into(), t.name.clone().into());
            if let Some(d) = &t.description {
                m.insert("description".into(), d.clone().into());
            }
            m.insert("every".into(), counters_json(&t.every));
            m.insert("link".into(), t.link.as_str().into());
            m.insert("anchor".into(), t.anchor.as_str().into());
            m.insert("tolerance".into(), counters_json(&t.tolerance));
            m.insert(
                "shift_factor".into(),
                aftersale_core::value::decimal_to_json(t.shift_factor.normalize()),
            );
            m.insert("due_soon".into(), counters_json(&t.due_soon));
            serde_json::Value::Object(m)
        })
        .collect();
    let start_meters: serde_json::Map<String, serde_json::Value> = plan
        .start_meters
        .iter()
        .map(|(u, v)| {
            (
                u.clone(),
                aftersale_core::value::decimal_to_json(v.normalize()),
            )
        })
        .collect();
    serde_json::json!({
        "start": plan.start.to_string(),
        "start_meters": start_meters,
        "tasks": tasks,
    })
}
