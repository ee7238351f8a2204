//! The calendar as rhai scripts see it: the `calendar` type, its constructors and methods,
//! and reading a definition from a rhai map.

use aftersale_core::plugin::Registrar;
use aftersale_core::rhai::{Array, Dynamic, EvalAltResult, Map, Position, INT};
use aftersale_core::{Date, DateTime};
use chrono::TimeDelta;
use chrono_tz::Tz;

use super::business::Calendar;
use super::definition::{parse_timezone, CalendarDef, WeeklyHours};
use super::error::CalendarError;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// A rhai runtime error with the message only; the core adds the term and position.
fn fail(message: impl ToString) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.to_string()),
        Position::NONE,
    ))
}

fn lift<T>(result: Result<T, CalendarError>) -> Fallible<T> {
    result.map_err(|e| match e {
        // A limit of the evaluation: reported as the limit, like one the script reached.
        CalendarError::Exhausted(limit) => limit.into(),
        e => fail(e),
    })
}

/// How a value's type reads in an error message.
fn describe(value: &Dynamic) -> String {
    let what = if value.is_unit() {
        "nothing (`()`)"
    } else if value.is_int() {
        "an integer"
    } else if value.is_decimal() {
        "a decimal"
    } else if value.is_bool() {
        "a boolean"
    } else if value.is_string() {
        "a string"
    } else if value.is_char() {
        "a character"
    } else if value.is_array() {
        "an array"
    } else if value.is_map() {
        "a map"
    } else if value.is::<Date>() {
        "a date"
    } else if value.is::<DateTime>() {
        "a datetime"
    } else if value.is::<Calendar>() {
        "a calendar"
    } else {
        return format!("a `{}`", value.type_name());
    };
    what.to_string()
}

fn wrong_type(field: String, expected: &'static str, value: &Dynamic) -> CalendarError {
    CalendarError::WrongType {
        field,
        expected,
        found: describe(value),
    }
}

fn string_of(value: &Dynamic, field: &str) -> Result<String, CalendarError> {
    value
        .clone()
        .into_string()
        .map_err(|_| wrong_type(field.to_string(), "a string", value))
}

fn array_of(
    value: &Dynamic,
    field: &str,
    expected: &'static str,
) -> Result<Vec<Dynamic>, CalendarError> {
    match value.read_lock::<Array>() {
        Some(items) => Ok(items.iter().cloned().collect()),
        None => Err(wrong_type(field.to_string(), expected, value)),
    }
}

fn hours_of(value: &Dynamic) -> Result<WeeklyHours, CalendarError> {
    let Some(days) = value.read_lock::<Map>() else {
        return Err(wrong_type(
            "calendar.hours".into(),
            "a map from weekday (mon ... sun) to windows",
            value,
        ));
    };
    let mut hours = WeeklyHours::default();
    for (key, windows) in days.iter() {
        let field = format!("calendar.hours.{key}");
        let Some(slot) = hours.day_mut(key) else {
            return Err(CalendarError::UnknownWeekday {
                key: key.to_string(),
            });
        };
        let items = array_of(windows, &field, "an array of `HH:MM-HH:MM` strings")?;
        for (i, item) in items.iter().enumerate() {
            slot.push(string_of(item, &format!("{field}[{i}]"))?);
        }
    }
    Ok(hours)
}

fn holidays_of(value: &Dynamic) -> Result<Vec<String>, CalendarError> {
    let items = array_of(value, "calendar.holidays", "an array of `YYYY-MM-DD` dates")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.read_lock::<Date>() {
            Some(date) => Ok(date.to_string()),
            None => string_of(item, &format!("calendar.holidays[{i}]")),
        })
        .collect()
}

/// Reads a definition from a script map `#{timezone, hours, holidays}`. A missing
/// `timezone` means `default_timezone` (the contract's).
pub(crate) fn definition_of(map: &Map, default_timezone: Tz) -> Result<CalendarDef, CalendarError> {
    let mut def = CalendarDef {
        timezone: default_timezone.name().to_string(),
        ..CalendarDef::default()
    };
    for (key, value) in map {
        match key.as_str() {
            "timezone" => def.timezone = string_of(value, "calendar.timezone")?,
            "hours" => def.hours = hours_of(value)?,
            "holidays" => def.holidays = holidays_of(value)?,
            other => {
                return Err(CalendarError::UnknownField {
                    field: format!("calendar.{other}"),
                })
            }
        }
    }
    Ok(def)
}

fn seconds(name: &str, amount: INT, unit: INT, what: &str) -> Fallible<TimeDelta> {
    amount
        .checked_mul(unit)
        .and_then(TimeDelta::try_seconds)
        .ok_or_else(|| {
            fail(format!(
                "{name}: {amount} {what} of business time is out of range"
            ))
        })
}

/// Registers the `calendar` type and its functions.
pub(crate) fn register(engine: &mut Registrar<'_>, contract_timezone: Tz) {
    // A calendar's JSON form is its normalised definition:
    // `{"timezone": .., "hours": {"mon": ["09:00-17:00"], ..}, "holidays": [..]}`.
    engine.register_type::<Calendar>("calendar", |calendar| {
        serde_json::to_value(calendar.definition()).map_err(|e| e.to_string())
    });
    engine.register_fn("calendar", move |def: Map| -> Fallible<Calendar> {
        lift(definition_of(&def, contract_timezone).and_then(|d| Calendar::new(&d)))
    });
    engine.register_fn("calendar", |cal: Calendar| cal);
    engine.register_fn("calendar_24x7", |timezone: &str| -> Fallible<Calendar> {
        lift(parse_timezone(timezone).map(Calendar::always_open))
    });
    engine.register_get("timezone", |cal: &mut Calendar| {
        cal.timezone().name().to_string()
    });
    engine.register_fn("is_open", |cal: &mut Calendar, t: DateTime| cal.is_open(t));
    engine.register_fn("next_open", |cal: &mut Calendar, t: DateTime| {
        lift(cal.next_open(t))
    });
    for (name, unit, what) in [
        ("add_business_seconds", 1, "s"),
        ("add_business_minutes", 60, "min"),
        ("add_business_hours", 3600, "h"),
    ] {
        engine.register_fn(
            name,
            move |cal: &mut Calendar, start: DateTime, amount: INT| -> Fallible<DateTime> {
                if amount < 0 {
                    return Err(fail(format!(
                        "{name}: the amount must not be negative, got {amount} {what}"
                    )));
                }
                lift(cal.add_business(start, seconds(name, amount, unit, what)?))
            },
        );
    }
    engine.register_fn(
        "business_seconds",
        |cal: &mut Calendar, from: DateTime, to: DateTime| lift(cal.business_seconds(from, to)),
    );
    engine.register_fn(
        "business_minutes",
        |cal: &mut Calendar, from: DateTime, to: DateTime| lift(cal.business_minutes(from, to)),
    );
    engine.register_fn("to_string", |cal: &mut Calendar| display(cal));
    engine.register_fn("to_debug", |cal: &mut Calendar| display(cal));
}

fn display(cal: &Calendar) -> String {
    serde_json::to_string(cal.definition()).unwrap_or_else(|_| "calendar".into())
}
