//! The rhai side: reading policies and histories from script values, giving clocks back as
//! maps, and choosing a policy by its `when` conditions.

use aftersale_core::rhai::{Array, Dynamic, Map, INT};
use aftersale_core::DateTime;
use chrono::TimeDelta;
use chrono_tz::Tz;

use super::clock::{Clock, Crossing, CycleSummary};
use super::error::SlaError;
use super::model::{
    Actor, CustomRule, Event, Matcher, Metric, MetricRule, PauseAccounting, Policy, Reopen, Repeat,
    EVENT_TYPES,
};

type Result<T> = std::result::Result<T, SlaError>;

const POLICY_KEYS: [&str; 11] = [
    "name",
    "description",
    "when",
    "targets",
    "metrics",
    "pause_statuses",
    "resolved_statuses",
    "pause_accounting",
    "reopen",
    "thresholds",
    "event_types",
];
const EVENT_KEYS: [&str; 6] = ["at", "type", "status", "by", "id", "text"];
const METRIC_KEYS: [&str; 4] = ["start", "stop", "repeat", "pause_statuses"];
const MATCHER_KEYS: [&str; 3] = ["type", "status", "by"];
const DURATION_KEYS: [&str; 3] = ["hours", "minutes", "seconds"];
/// Matcher types that are not event types: derived from status changes.
const DERIVED_TYPES: [&str; 2] = ["resolved", "reopened"];

fn wrong(field: &str, expected: &'static str, value: &Dynamic) -> SlaError {
    SlaError::WrongType {
        field: field.to_string(),
        expected,
        found: crate::describe(value),
    }
}

fn check_keys(map: &Map, field: &str, allowed: &[&str]) -> Result<()> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(SlaError::UnknownKey {
            field: field.to_string(),
            key: key.to_string(),
            allowed: allowed.join(", "),
        }),
        None => Ok(()),
    }
}

fn string_of(value: &Dynamic, field: &str) -> Result<String> {
    if value.is_string() {
        Ok(value.to_string())
    } else {
        Err(wrong(field, "a string", value))
    }
}

/// A present value that is not `()`.
fn present<'m>(map: &'m Map, key: &str) -> Option<&'m Dynamic> {
    map.get(key).filter(|v| !v.is_unit())
}

fn strings_of(value: &Dynamic, field: &str) -> Result<Vec<String>> {
    let Some(items) = value.read_lock::<Array>() else {
        return Err(wrong(field, "an array of strings", value));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| string_of(v, &format!("{field}[{i}]")))
        .collect()
}

/// A string, or an array of strings.
fn one_or_more(value: &Dynamic, field: &str) -> Result<Vec<String>> {
    if value.is_string() {
        Ok(vec![value.to_string()])
    } else if value.is_array() {
        strings_of(value, field)
    } else {
        Err(wrong(field, "a string or an array of strings", value))
    }
}

fn one_of<T: Copy>(value: &Dynamic, field: &str, options: &[(&str, T)]) -> Result<T> {
    let text = string_of(value, field)?;
    options
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, v)| *v)
        .ok_or_else(|| SlaError::NotOneOf {
            field: field.to_string(),
            allowed: options
                .iter()
                .map(|(n, _)| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", "),
            found: text,
        })
}

fn actor_of(value: &Dynamic, field: &str) -> Result<Actor> {
    one_of(
        value,
        field,
        &[("agent", Actor::Agent), ("customer", Actor::Customer)],
    )
}

/// A datetime, or a text read as RFC 3339 (without an offset: local time in `tz`).
pub(crate) fn instant_of(value: &Dynamic, field: &str, tz: Tz) -> Result<DateTime> {
    if let Some(t) = value.read_lock::<DateTime>() {
        return Ok(*t);
    }
    if value.is_string() {
        return DateTime::parse(&value.to_string(), tz).map_err(|message| {
            SlaError::InvalidInstant {
                field: field.to_string(),
                message,
            }
        });
    }
    Err(wrong(field, "a datetime or an RFC 3339 string", value))
}

/// A target: whole minutes, or `#{hours, minutes, seconds}` (whole numbers, added up).
fn duration_of(value: &Dynamic, field: &str) -> Result<TimeDelta> {
    let out_of_range = || SlaError::NotPositive {
        field: field.to_string(),
        value: "an out-of-range duration".into(),
    };
    let seconds = if let Ok(minutes) = value.as_int() {
        minutes.checked_mul(60).ok_or_else(out_of_range)?
    } else if let Some(map) = value.read_lock::<Map>() {
        check_keys(&map, field, &DURATION_KEYS)?;
        let mut total: INT = 0;
        for (key, unit) in [("hours", 3600), ("minutes", 60), ("seconds", 1)] {
            if let Some(v) = map.get(key) {
                let path = format!("{field}.{key}");
                let n = v.as_int().map_err(|_| wrong(&path, "a whole number", v))?;
                if n < 0 {
                    return Err(SlaError::NotPositive {
                        field: path,
                        value: n.to_string(),
                    });
                }
                total = n
                    .checked_mul(unit)
                    .and_then(|s| total.checked_add(s))
                    .ok_or_else(out_of_range)?;
            }
        }
        total
    } else {
        return Err(wrong(
            field,
            "whole minutes or a map #{hours, minutes, seconds}",
            value,
        ));
    };
    if seconds <= 0 {
        return Err(SlaError::NotPositive {
            field: field.to_string(),
            value: if value.is_int() {
                format!("{seconds} s ({} min)", seconds / 60)
            } else {
                format!("{seconds} s")
            },
        });
    }
    TimeDelta::try_seconds(seconds).ok_or_else(out_of_range)
}

fn matcher_of(value: &Dynamic, field: &str, policy: &Policy) -> Result<Matcher> {
    let Some(map) = value.read_lock::<Map>() else {
        return Err(wrong(field, "a map #{type, status, by}", value));
    };
    check_keys(&map, field, &MATCHER_KEYS)?;
    let mut matcher = Matcher::default();
    if let Some(v) = present(&map, "type") {
        let path = format!("{field}.type");
        let k = string_of(v, &path)?;
        if !policy.knows_event_type(&k) && !DERIVED_TYPES.contains(&k.as_str()) {
            let mut known: Vec<&str> = EVENT_TYPES.to_vec();
            known.extend(policy.event_types.iter().map(String::as_str));
            known.extend(DERIVED_TYPES);
            return Err(SlaError::UnknownEventType {
                field: path,
                found: k,
                known: known.join(", "),
            });
        }
        matcher.kind = Some(k);
    }
    if let Some(v) = present(&map, "status") {
        matcher.status = Some(one_or_more(v, &format!("{field}.status"))?);
    }
    if let Some(v) = present(&map, "by") {
        matcher.by = Some(actor_of(v, &format!("{field}.by"))?);
    }
    Ok(matcher)
}

fn matchers_of(value: &Dynamic, field: &str, policy: &Policy) -> Result<Vec<Matcher>> {
    if value.is_map() {
        return Ok(vec![matcher_of(value, field, policy)?]);
    }
    let Some(items) = value.read_lock::<Array>() else {
        return Err(wrong(field, "a condition map or an array of them", value));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| matcher_of(v, &format!("{field}[{i}]"), policy))
        .collect()
}

/// Applies `policy.metrics.<name>` to a metric: its own pause statuses, and for a custom
/// metric its start and stop conditions.
fn define_metric(metric: &mut Metric, value: &Dynamic, field: &str, policy: &Policy) -> Result<()> {
    let Some(map) = value.read_lock::<Map>() else {
        return Err(wrong(
            field,
            "a map #{start, stop, repeat, pause_statuses}",
            value,
        ));
    };
    check_keys(&map, field, &METRIC_KEYS)?;
    if let Some(v) = present(&map, "pause_statuses") {
        metric.pause_statuses = Some(strings_of(v, &format!("{field}.pause_statuses"))?);
    }
    let custom = ["start", "stop", "repeat"]
        .iter()
        .any(|k| map.contains_key(*k));
    match &metric.rule {
        MetricRule::Custom(_) => {
            let start = match present(&map, "start") {
                Some(v) => matchers_of(v, &format!("{field}.start"), policy)?,
                None => Vec::new(),
            };
            if start.is_empty() {
                return Err(SlaError::BadMetric {
                    field: format!("{field}.start"),
                    message: "a custom metric needs at least one start condition".into(),
                });
            }
            let stop = match present(&map, "stop") {
                Some(v) => matchers_of(v, &format!("{field}.stop"), policy)?,
                None => Vec::new(),
            };
            let repeat = match present(&map, "repeat") {
                Some(v) => one_of(
                    v,
                    &format!("{field}.repeat"),
                    &[
                        ("new_cycle", Repeat::NewCycle),
                        ("resume", Repeat::Resume),
                        ("once", Repeat::Once),
                    ],
                )?,
                None => Repeat::default(),
            };
            metric.rule = MetricRule::Custom(CustomRule {
                start,
                stop,
                repeat,
            });
        }
        _ if custom => {
            return Err(SlaError::BadMetric {
                field: field.to_string(),
                message: format!(
                    "`{}` is a built-in metric: only its pause_statuses can be set",
                    metric.name
                ),
            })
        }
        _ => {}
    }
    Ok(())
}

/// Reads a policy map (see the module doc).
pub fn policy_of(map: &Map) -> Result<Policy> {
    check_keys(map, "policy", &POLICY_KEYS)?;
    let mut policy = Policy::default();
    if let Some(v) = present(map, "pause_statuses") {
        policy.pause_statuses = strings_of(v, "policy.pause_statuses")?;
    }
    if let Some(v) = present(map, "resolved_statuses") {
        policy.resolved_statuses = strings_of(v, "policy.resolved_statuses")?;
    }
    if let Some(v) = present(map, "event_types") {
        policy.event_types = strings_of(v, "policy.event_types")?;
    }
    if let Some(v) = present(map, "pause_accounting") {
        policy.accounting = one_of(
            v,
            "policy.pause_accounting",
            &[
                ("business", PauseAccounting::Business),
                ("wall_clock", PauseAccounting::WallClock),
            ],
        )?;
    }
    if let Some(v) = present(map, "reopen") {
        policy.reopen = one_of(
            v,
            "policy.reopen",
            &[("resume", Reopen::Resume), ("new_cycle", Reopen::NewCycle)],
        )?;
    }
    if let Some(v) = present(map, "thresholds") {
        let Some(items) = v.read_lock::<Array>() else {
            return Err(wrong("policy.thresholds", "an array of percentages", v));
        };
        let mut thresholds = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let field = format!("policy.thresholds[{i}]");
            let n = item
                .as_int()
                .map_err(|_| wrong(&field, "a whole percentage", item))?;
            let percent = u32::try_from(n)
                .ok()
                .filter(|p| (1..=1000).contains(p))
                .ok_or_else(|| SlaError::BadThreshold {
                    field,
                    value: n.to_string(),
                })?;
            thresholds.push(percent);
        }
        thresholds.sort_unstable();
        thresholds.dedup();
        policy.thresholds = thresholds;
    }
    let Some(targets) = present(map, "targets") else {
        return Err(SlaError::Missing {
            field: "policy.targets".into(),
        });
    };
    let Some(targets) = targets.read_lock::<Map>() else {
        return Err(wrong(
            "policy.targets",
            "a map from metric to target",
            targets,
        ));
    };
    let definitions = match present(map, "metrics") {
        Some(v) => match v.read_lock::<Map>() {
            Some(m) => m.clone(),
            None => {
                return Err(wrong(
                    "policy.metrics",
                    "a map from metric to definition",
                    v,
                ))
            }
        },
        None => Map::new(),
    };
    for name in definitions.keys() {
        if !targets.contains_key(name) {
            return Err(SlaError::BadMetric {
                field: format!("policy.metrics.{name}"),
                message: format!("the metric has no target: add policy.targets.{name}"),
            });
        }
    }
    for (name, value) in targets.iter() {
        let field = format!("policy.targets.{name}");
        let target = duration_of(value, &field)?;
        let mut metric = match Metric::builtin(name, target) {
            Some(m) => m,
            None if definitions.contains_key(name) => Metric {
                name: name.to_string(),
                target,
                rule: MetricRule::Custom(CustomRule::default()),
                pause_statuses: None,
            },
            None => {
                return Err(SlaError::BadMetric {
                    field,
                    message: format!(
                        "unknown metric `{name}`: the built-in metrics are first_response, next_response and resolution; define others in policy.metrics.{name}"
                    ),
                })
            }
        };
        if let Some(definition) = definitions.get(name) {
            define_metric(
                &mut metric,
                definition,
                &format!("policy.metrics.{name}"),
                &policy,
            )?;
        }
        policy.metrics.push(metric);
    }
    policy.check()?;
    Ok(policy)
}

/// Reads a history: an array of `#{at, type, status, by}` maps.
pub fn events_of(events: &Array, tz: Tz) -> Result<Vec<Event>> {
    events
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let field = format!("events[{i}]");
            let Some(map) = value.read_lock::<Map>() else {
                return Err(wrong(&field, "a map #{at, type, status, by}", value));
            };
            check_keys(&map, &field, &EVENT_KEYS)?;
            let at = match map.get("at") {
                Some(v) => instant_of(v, &format!("{field}.at"), tz)?,
                None => {
                    return Err(SlaError::Missing {
                        field: format!("{field}.at"),
                    })
                }
            };
            let kind = match map.get("type") {
                Some(v) => string_of(v, &format!("{field}.type"))?,
                None => {
                    return Err(SlaError::Missing {
                        field: format!("{field}.type"),
                    })
                }
            };
            let status = present(&map, "status")
                .map(|v| string_of(v, &format!("{field}.status")))
                .transpose()?;
            let by = present(&map, "by")
                .map(|v| actor_of(v, &format!("{field}.by")))
                .transpose()?;
            Ok(Event {
                at,
                kind,
                status,
                by,
            })
        })
        .collect()
}

fn opt_instant(t: Option<DateTime>) -> Dynamic {
    t.map_or(Dynamic::UNIT, Dynamic::from)
}

fn seconds(d: TimeDelta) -> INT {
    d.num_seconds()
}

fn minutes(d: TimeDelta) -> INT {
    d.num_seconds().div_euclid(60)
}

fn put(map: &mut Map, key: &str, value: Dynamic) {
    map.insert(key.into(), value);
}

fn crossing_map(c: &Crossing) -> Dynamic {
    let mut m = Map::new();
    put(&mut m, "percent", Dynamic::from_int(INT::from(c.percent)));
    put(&mut m, "at", opt_instant(c.at));
    put(&mut m, "crossed", Dynamic::from_bool(c.crossed));
    Dynamic::from_map(m)
}

fn cycle_map(c: &CycleSummary) -> Dynamic {
    let mut m = Map::new();
    put(&mut m, "cycle", Dynamic::from_int(INT::from(c.cycle)));
    put(&mut m, "start", Dynamic::from(c.start));
    put(&mut m, "due", opt_instant(c.due));
    put(&mut m, "stopped_at", opt_instant(c.stopped_at));
    put(&mut m, "state", Dynamic::from(c.state.as_str().to_string()));
    put(&mut m, "breached_at", opt_instant(c.breached_at));
    put(
        &mut m,
        "elapsed_seconds",
        Dynamic::from_int(seconds(c.elapsed)),
    );
    Dynamic::from_map(m)
}

/// A clock as a script map (see the module doc for the keys).
pub fn clock_map(c: &Clock) -> Map {
    let mut m = Map::new();
    let opt_int = |v: Option<INT>| v.map_or(Dynamic::UNIT, Dynamic::from_int);
    put(&mut m, "metric", Dynamic::from(c.metric.clone()));
    put(&mut m, "state", Dynamic::from(c.state.as_str().to_string()));
    put(&mut m, "cycle", Dynamic::from_int(INT::from(c.cycle)));
    put(&mut m, "start", opt_instant(c.start));
    put(&mut m, "due", opt_instant(c.due));
    put(&mut m, "stopped_at", opt_instant(c.stopped_at));
    put(&mut m, "paused_since", opt_instant(c.paused_since));
    put(
        &mut m,
        "target_seconds",
        Dynamic::from_int(seconds(c.target)),
    );
    put(
        &mut m,
        "target_minutes",
        Dynamic::from_int(minutes(c.target)),
    );
    put(&mut m, "allowed_seconds", opt_int(c.allowed.map(seconds)));
    put(&mut m, "allowed_minutes", opt_int(c.allowed.map(minutes)));
    put(
        &mut m,
        "elapsed_seconds",
        Dynamic::from_int(seconds(c.elapsed)),
    );
    put(
        &mut m,
        "elapsed_minutes",
        Dynamic::from_int(minutes(c.elapsed)),
    );
    put(
        &mut m,
        "remaining_seconds",
        opt_int(c.remaining.map(seconds)),
    );
    put(
        &mut m,
        "remaining_minutes",
        opt_int(c.remaining.map(minutes)),
    );
    put(&mut m, "percent", opt_int(c.percent()));
    put(
        &mut m,
        "percent_exact",
        c.percent_exact()
            .map_or(Dynamic::UNIT, Dynamic::from_decimal),
    );
    put(&mut m, "held_seconds", Dynamic::from_int(seconds(c.held)));
    put(
        &mut m,
        "breached",
        Dynamic::from_bool(c.breached_at.is_some()),
    );
    put(&mut m, "breached_at", opt_instant(c.breached_at));
    put(
        &mut m,
        "ever_breached",
        Dynamic::from_bool(!c.breaches.is_empty()),
    );
    let breaches: Array = c
        .breaches
        .iter()
        .map(|b| {
            let mut bm = Map::new();
            put(&mut bm, "cycle", Dynamic::from_int(INT::from(b.cycle)));
            put(&mut bm, "at", Dynamic::from(b.at));
            Dynamic::from_map(bm)
        })
        .collect();
    put(&mut m, "breaches", Dynamic::from_array(breaches));
    put(
        &mut m,
        "thresholds",
        Dynamic::from_array(c.thresholds.iter().map(crossing_map).collect()),
    );
    put(
        &mut m,
        "cycles",
        Dynamic::from_array(c.cycles.iter().map(cycle_map).collect()),
    );
    m
}

/// Whether two plain values are equal (strings, integers, decimals, booleans); values of
/// different types are not.
fn same(a: &Dynamic, b: &Dynamic) -> bool {
    if a.is_string() && b.is_string() {
        return a.to_string() == b.to_string();
    }
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        return x == y;
    }
    let number = |v: &Dynamic| {
        v.as_int()
            .map(rust_decimal::Decimal::from)
            .or_else(|_| v.as_decimal())
            .ok()
    };
    matches!((number(a), number(b)), (Some(x), Some(y)) if x == y)
}

/// Whether `policy.when` holds for `ticket`: every key's value equals the ticket's field (or
/// is one of an array's values). No `when` (or an empty one) matches every ticket; a field
/// the ticket lacks does not match.
fn applies(policy: &Dynamic, ticket: &Map, field: &str) -> Result<bool> {
    let Some(policy) = policy.read_lock::<Map>() else {
        return Err(wrong(field, "a policy map", policy));
    };
    let Some(when) = present(&policy, "when") else {
        return Ok(true);
    };
    let Some(when) = when.read_lock::<Map>() else {
        return Err(wrong(&format!("{field}.when"), "a map of conditions", when));
    };
    Ok(when.iter().all(|(key, expected)| {
        let Some(actual) = ticket.get(key.as_str()) else {
            return false;
        };
        match expected.read_lock::<Array>() {
            Some(options) => options.iter().any(|o| same(o, actual)),
            None => same(expected, actual),
        }
    }))
}

/// The policies (in order) whose `when` holds for the ticket.
pub fn select_all(policies: &Array, ticket: &Map) -> Result<Array> {
    let mut out = Array::new();
    for (i, policy) in policies.iter().enumerate() {
        if applies(policy, ticket, &format!("policies[{i}]"))? {
            out.push(policy.clone());
        }
    }
    Ok(out)
}

/// The first policy whose `when` holds for the ticket; an error naming the ticket's
/// tested fields when none does.
pub fn select_first(policies: &Array, ticket: &Map) -> Result<Dynamic> {
    for (i, policy) in policies.iter().enumerate() {
        if applies(policy, ticket, &format!("policies[{i}]"))? {
            return Ok(policy.clone());
        }
    }
    let mut keys: Vec<String> = Vec::new();
    for policy in policies {
        if let Some(p) = policy.read_lock::<Map>() {
            if let Some(when) =
                present(&p, "when").and_then(|w| w.read_lock::<Map>().map(|m| m.clone()))
            {
                for key in when.keys() {
                    if !keys.iter().any(|k| k == key.as_str()) {
                        keys.push(key.to_string());
                    }
                }
            }
        }
    }
    let ticket = keys
        .iter()
        .map(|k| match ticket.get(k.as_str()) {
            Some(v) => format!("{k} = {}", crate::describe(v)),
            None => format!("{k} missing"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    Err(SlaError::NoPolicy { ticket })
}
