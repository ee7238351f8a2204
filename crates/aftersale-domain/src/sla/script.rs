//! The rhai side: reading policies and histories from script values, giving clocks back as
//! maps, and choosing a policy by its `when` conditions.

use aftersale_core::plugin::args::{describe, At, IntoDynamic, Options, ResultMap};
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

/// The plugin's name, as its argument errors start.
const PLUGIN: &str = "sla";

/// Where the field `field` of an argument stands.
fn at(field: &str) -> At<'static> {
    At::new(PLUGIN, field)
}

/// A string, or an array of strings.
fn one_or_more(value: &Dynamic, field: &str) -> Result<Vec<String>> {
    if value.is_string() {
        Ok(vec![value.to_string()])
    } else if value.is_array() {
        Ok(at(field).read::<Vec<String>>(value)?)
    } else {
        Err(SlaError::from(
            at(field).wrong_type("a string or an array of strings", value),
        ))
    }
}

fn one_of<T: Copy>(value: &Dynamic, field: &str, options: &[(&str, T)]) -> Result<T> {
    let text = at(field).read::<String>(value)?;
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
    Err(SlaError::from(
        at(field).wrong_type("a datetime or an RFC 3339 string", value),
    ))
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
        let options = Options::at(PLUGIN, field, &map, &DURATION_KEYS)?;
        let mut total: INT = 0;
        for (key, unit) in [("hours", 3600), ("minutes", 60), ("seconds", 1)] {
            if let Some(n) = options.optional::<INT>(key)? {
                let path = options.field(key).path().to_string();
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
        return Err(SlaError::from(at(field).wrong_type(
            "whole minutes or a map #{hours, minutes, seconds}",
            value,
        )));
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
        return Err(SlaError::from(
            at(field).wrong_type("a map #{type, status, by}", value),
        ));
    };
    let options = Options::at(PLUGIN, field, &map, &MATCHER_KEYS)?;
    let mut matcher = Matcher::default();
    if let Some(v) = options.get("type") {
        let path = format!("{field}.type");
        let k = at(&path).read::<String>(v)?;
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
    if let Some(v) = options.get("status") {
        matcher.status = Some(one_or_more(v, &format!("{field}.status"))?);
    }
    if let Some(v) = options.get("by") {
        matcher.by = Some(actor_of(v, &format!("{field}.by"))?);
    }
    Ok(matcher)
}

fn matchers_of(value: &Dynamic, field: &str, policy: &Policy) -> Result<Vec<Matcher>> {
    if value.is_map() {
        return Ok(vec![matcher_of(value, field, policy)?]);
    }
    let Some(items) = value.read_lock::<Array>() else {
        return Err(SlaError::from(
            at(field).wrong_type("a condition map or an array of them", value),
        ));
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
        return Err(SlaError::from(
            at(field).wrong_type("a map #{start, stop, repeat, pause_statuses}", value),
        ));
    };
    let options = Options::at(PLUGIN, field, &map, &METRIC_KEYS)?;
    if let Some(v) = options.get("pause_statuses") {
        metric.pause_statuses =
            Some(at(&format!("{field}.pause_statuses")).read::<Vec<String>>(v)?);
    }
    let custom = ["start", "stop", "repeat"]
        .iter()
        .any(|k| map.contains_key(*k));
    match &metric.rule {
        MetricRule::Custom(_) => {
            let start = match options.get("start") {
                Some(v) => matchers_of(v, &format!("{field}.start"), policy)?,
                None => Vec::new(),
            };
            if start.is_empty() {
                return Err(SlaError::BadMetric {
                    field: format!("{field}.start"),
                    message: "a custom metric needs at least one start condition".into(),
                });
            }
            let stop = match options.get("stop") {
                Some(v) => matchers_of(v, &format!("{field}.stop"), policy)?,
                None => Vec::new(),
            };
            let repeat = match options.get("repeat") {
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
    let options = Options::at(PLUGIN, "policy", map, &POLICY_KEYS)?;
    let mut policy = Policy::default();
    if let Some(v) = options.get("pause_statuses") {
        policy.pause_statuses = at("policy.pause_statuses").read::<Vec<String>>(v)?;
    }
    if let Some(v) = options.get("resolved_statuses") {
        policy.resolved_statuses = at("policy.resolved_statuses").read::<Vec<String>>(v)?;
    }
    if let Some(v) = options.get("event_types") {
        policy.event_types = at("policy.event_types").read::<Vec<String>>(v)?;
    }
    if let Some(v) = options.get("pause_accounting") {
        policy.accounting = one_of(
            v,
            "policy.pause_accounting",
            &[
                ("business", PauseAccounting::Business),
                ("wall_clock", PauseAccounting::WallClock),
            ],
        )?;
    }
    if let Some(v) = options.get("reopen") {
        policy.reopen = one_of(
            v,
            "policy.reopen",
            &[("resume", Reopen::Resume), ("new_cycle", Reopen::NewCycle)],
        )?;
    }
    if let Some(v) = options.get("thresholds") {
        let Some(items) = v.read_lock::<Array>() else {
            return Err(SlaError::from(
                at("policy.thresholds").wrong_type("an array of percentages", v),
            ));
        };
        let mut thresholds = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let field = format!("policy.thresholds[{i}]");
            let n = item
                .as_int()
                .map_err(|_| SlaError::from(at(&field).wrong_type("a whole percentage", item)))?;
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
    let Some(targets) = options.get("targets") else {
        return Err(SlaError::Missing {
            field: "policy.targets".into(),
        });
    };
    let Some(targets) = targets.read_lock::<Map>() else {
        return Err(SlaError::from(
            at("policy.targets").wrong_type("a map from metric to target", targets),
        ));
    };
    let definitions = match options.get("metrics") {
        Some(v) => match v.read_lock::<Map>() {
            Some(m) => m.clone(),
            None => {
                return Err(SlaError::from(
                    at("policy.metrics").wrong_type("a map from metric to definition", v),
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
                return Err(SlaError::from(
                    at(&field).wrong_type("a map #{at, type, status, by}", value),
                ));
            };
            let options = Options::at(PLUGIN, &field, &map, &EVENT_KEYS)?;
            let instant = match options.get("at") {
                Some(v) => instant_of(v, options.field("at").path(), tz)?,
                None => {
                    return Err(options
                        .field("at")
                        .missing("a datetime or an RFC 3339 string")
                        .into())
                }
            };
            let kind = options.required::<String>("type")?;
            let status = options.optional::<String>("status")?;
            let by = options
                .get("by")
                .map(|v| actor_of(v, &format!("{field}.by")))
                .transpose()?;
            Ok(Event {
                at: instant,
                kind,
                status,
                by,
            })
        })
        .collect()
}

fn seconds(d: TimeDelta) -> INT {
    d.num_seconds()
}

fn minutes(d: TimeDelta) -> INT {
    d.num_seconds().div_euclid(60)
}

fn crossing_map(c: &Crossing) -> Dynamic {
    ResultMap::new()
        .with("percent", c.percent)
        .with("at", c.at)
        .with("crossed", c.crossed)
        .into_dynamic()
}

fn cycle_map(c: &CycleSummary) -> Dynamic {
    ResultMap::new()
        .with("cycle", c.cycle)
        .with("start", c.start)
        .with("due", c.due)
        .with("stopped_at", c.stopped_at)
        .with("state", c.state.as_str())
        .with("breached_at", c.breached_at)
        .with("elapsed_seconds", seconds(c.elapsed))
        .into_dynamic()
}

/// A clock as a script map (see the module doc for the keys).
pub fn clock_map(c: &Clock) -> Map {
    let breaches: Vec<ResultMap> = c
        .breaches
        .iter()
        .map(|b| ResultMap::new().with("cycle", b.cycle).with("at", b.at))
        .collect();
    ResultMap::new()
        .with("metric", &c.metric)
        .with("state", c.state.as_str())
        .with("cycle", c.cycle)
        .with("start", c.start)
        .with("due", c.due)
        .with("stopped_at", c.stopped_at)
        .with("paused_since", c.paused_since)
        .with("target_seconds", seconds(c.target))
        .with("target_minutes", minutes(c.target))
        .with("allowed_seconds", c.allowed.map(seconds))
        .with("allowed_minutes", c.allowed.map(minutes))
        .with("elapsed_seconds", seconds(c.elapsed))
        .with("elapsed_minutes", minutes(c.elapsed))
        .with("remaining_seconds", c.remaining.map(seconds))
        .with("remaining_minutes", c.remaining.map(minutes))
        .with("percent", c.percent())
        .with("percent_exact", c.percent_exact())
        .with("held_seconds", seconds(c.held))
        .with("breached", c.breached_at.is_some())
        .with("breached_at", c.breached_at)
        .with("ever_breached", !c.breaches.is_empty())
        .with("breaches", breaches)
        .with(
            "thresholds",
            c.thresholds.iter().map(crossing_map).collect::<Array>(),
        )
        .with("cycles", c.cycles.iter().map(cycle_map).collect::<Array>())
        .build()
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
        return Err(SlaError::from(at(field).wrong_type("a policy map", policy)));
    };
    let Some(when) = Options::open(PLUGIN, field, &policy).get("when") else {
        return Ok(true);
    };
    let Some(when) = when.read_lock::<Map>() else {
        return Err(SlaError::from(
            at(&format!("{field}.when")).wrong_type("a map of conditions", when),
        ));
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
            if let Some(when) = Options::open(PLUGIN, "", &p)
                .get("when")
                .and_then(|w| w.read_lock::<Map>().map(|m| m.clone()))
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
            Some(v) => format!("{k} = {}", describe(v)),
            None => format!("{k} missing"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    Err(SlaError::NoPolicy { ticket })
}
