//! The calendar as rhai scripts see it: the `calendar` type, its constructors and methods,
//! and reading a definition from a rhai map.

use aftersale_core::meter::Exhausted;
use aftersale_core::plugin::args::{lift, raise, ArgError, At, FromArg, Options, PluginError};
use aftersale_core::plugin::Registrar;
use aftersale_core::rhai::{Array, Dynamic, EvalAltResult, Map, INT};
use aftersale_core::{Date, DateTime};
use chrono::TimeDelta;
use chrono_tz::Tz;

use super::business::Calendar;
use super::definition::{parse_timezone, CalendarDef, WeeklyHours};
use super::error::CalendarError;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// The plugin's name, as its argument errors start.
const PLUGIN: &str = "calendar";

impl PluginError for CalendarError {
    fn exhausted(&self) -> Option<Exhausted> {
        match self {
            CalendarError::Exhausted(limit) => Some(*limit),
            _ => None,
        }
    }

    fn names_plugin(&self) -> bool {
        matches!(self, CalendarError::Args(_))
    }
}

/// An array, with what its elements are for the error message when it is not one.
fn array_of(value: &Dynamic, at: &At<'_>, expected: &'static str) -> Result<Array, ArgError> {
    if value.is_array() {
        at.read(value)
    } else {
        Err(at.wrong_type(expected, value))
    }
}

fn hours_of(value: &Dynamic, at: &At<'_>) -> Result<WeeklyHours, CalendarError> {
    let Some(days) = value.read_lock::<Map>() else {
        return Err(at
            .wrong_type("a map from weekday (mon ... sun) to windows", value)
            .into());
    };
    let mut hours = WeeklyHours::default();
    for (key, windows) in days.iter() {
        let Some(slot) = hours.day_mut(key) else {
            return Err(CalendarError::UnknownWeekday {
                key: key.to_string(),
            });
        };
        let day = at.key(key);
        let items = array_of(windows, &day, "an array of `HH:MM-HH:MM` strings")?;
        for (i, item) in items.iter().enumerate() {
            slot.push(String::from_arg(item, &day.index(i))?);
        }
    }
    Ok(hours)
}

fn holidays_of(value: &Dynamic, at: &At<'_>) -> Result<Vec<String>, ArgError> {
    let items = array_of(value, at, "an array of `YYYY-MM-DD` dates")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.read_lock::<Date>() {
            Some(date) => Ok(date.to_string()),
            None => String::from_arg(item, &at.index(i)),
        })
        .collect()
}

/// Reads a definition from a script map `#{timezone, hours, holidays}`. A missing
/// `timezone` means `default_timezone` (the contract's).
pub(crate) fn definition_of(map: &Map, default_timezone: Tz) -> Result<CalendarDef, CalendarError> {
    let options = Options::at(PLUGIN, "calendar", map, &["timezone", "hours", "holidays"])?;
    let hours = match options.get("hours") {
        Some(v) => hours_of(v, &options.field("hours"))?,
        None => WeeklyHours::default(),
    };
    let holidays = match options.get("holidays") {
        Some(v) => holidays_of(v, &options.field("holidays"))?,
        None => Vec::new(),
    };
    Ok(CalendarDef {
        timezone: options.optional_with("timezone", default_timezone.name().to_string())?,
        hours,
        holidays,
    })
}

fn seconds(name: &str, amount: INT, unit: INT, what: &str) -> Fallible<TimeDelta> {
    amount
        .checked_mul(unit)
        .and_then(TimeDelta::try_seconds)
        .ok_or_else(|| {
            raise(format!(
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
                    return Err(raise(format!(
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
