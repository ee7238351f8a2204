//! The core vocabulary every script has: `date`, `datetime`, period arithmetic on dates,
//! comparisons, and exact decimal rounding. Registered by [`CorePlugin`], which every
//! contract gets without naming it.

use rhai::{Dynamic, EvalAltResult, Position, INT};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::plugin::{Plugin, PluginContext, Registrar};
use crate::time::{Date, DateTime};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn fail<T>(message: String) -> Fallible<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message),
        Position::NONE,
    )))
}

fn lift<T>(result: Result<T, String>) -> Fallible<T> {
    result.or_else(fail)
}

fn digits(places: INT) -> Fallible<u32> {
    match u32::try_from(places) {
        Ok(p) if p <= 28 => Ok(p),
        _ => fail(format!(
            "cannot round to {places} decimal places: use 0 to 28"
        )),
    }
}

/// The always-on plugin named `core`: dates, datetimes and decimal rounding.
#[derive(Debug, Default, Clone, Copy)]
pub struct CorePlugin;

impl Plugin for CorePlugin {
    fn name(&self) -> &str {
        "core"
    }

    fn description(&self) -> &str {
        "dates, datetimes, period arithmetic and exact decimal rounding (always on)"
    }

    fn register(&self, r: &mut Registrar<'_>, ctx: &PluginContext) {
        register_dates(r);
        register_datetimes(r, ctx);
        register_mixed_comparisons(r);
        register_rounding(r);
        for (signature, summary) in CORE_FUNCTIONS {
            r.doc(signature, summary);
        }
    }
}

/// The core vocabulary's function list, one line each (the comparisons `==` .. `>=` and
/// `min`/`max` of two dates or two datetimes go without saying).
const CORE_FUNCTIONS: &[(&str, &str)] = &[
    (
        "date(text: string) -> date",
        "a calendar date from `YYYY-MM-DD`",
    ),
    (
        "d.add_days(n: int) -> date",
        "n days later (earlier when negative)",
    ),
    (
        "d.add_months(n: int) -> date",
        "n months later; a day past the month's end becomes its last day (Jan 31 + 1 = Feb 28/29)",
    ),
    (
        "d.add_years(n: int) -> date",
        "n years later; Feb 29 becomes Feb 28 in a common year",
    ),
    ("d.end_of_month() -> date", "the last day of d's month"),
    (
        "days_between(a: date, b: date) -> int",
        "days from a to b (negative when b is before a)",
    ),
    (
        "months_between(a: date, b: date) -> int",
        "whole months from a to b",
    ),
    (
        "d.year, d.month, d.day, d.weekday -> int",
        "parts of a date (weekday: 1 = Monday .. 7 = Sunday)",
    ),
    (
        "datetime(text: string) -> datetime",
        "an instant from RFC 3339 text, or a local time in the contract's zone",
    ),
    (
        "t.date() -> date",
        "the instant's local date in the contract's zone",
    ),
    (
        "start_of_day(d: date) -> datetime",
        "midnight of d in the contract's zone",
    ),
    (
        "t.add_seconds(n: int) / add_minutes / add_hours -> datetime",
        "an instant n units later",
    ),
    (
        "seconds_between(a: datetime, b: datetime) / minutes_between -> int",
        "whole seconds or minutes from a to b",
    ),
    (
        "round(x: decimal, places: int) -> decimal",
        "rounded half-even (banker's rounding) to places decimals",
    ),
    (
        "round_half_up / round_half_even / round_down / round_up (x, places) -> decimal",
        "rounded with the named rule",
    ),
    (
        "decimal(x: int | string | decimal) -> decimal",
        "an exact decimal; text must fit exactly (28 significant digits)",
    ),
];

/// `==`, `!=`, `<`, `<=`, `>`, `>=` between two values of one ordered type.
fn register_ordering<T: Ord + Clone + Send + Sync + 'static>(r: &mut Registrar<'_>) {
    r.register_fn("==", |a: T, b: T| a == b);
    r.register_fn("!=", |a: T, b: T| a != b);
    r.register_fn("<", |a: T, b: T| a < b);
    r.register_fn("<=", |a: T, b: T| a <= b);
    r.register_fn(">", |a: T, b: T| a > b);
    r.register_fn(">=", |a: T, b: T| a >= b);
}

fn register_dates(r: &mut Registrar<'_>) {
    r.register_type::<Date>("date", |d| Ok(serde_json::Value::String(d.to_string())));
    r.register_fn("date", |text: &str| lift(Date::parse(text)));
    r.register_fn("date", |d: Date| d);
    r.register_fn("add_days", |d: &mut Date, n: INT| lift(d.add_days(n)));
    r.register_fn("add_months", |d: &mut Date, n: INT| lift(d.add_months(n)));
    r.register_fn("add_years", |d: &mut Date, n: INT| lift(d.add_years(n)));
    r.register_fn("end_of_month", |d: &mut Date| d.end_of_month());
    r.register_fn("days_between", |a: Date, b: Date| a.days_until(b));
    r.register_fn("months_between", |a: Date, b: Date| a.whole_months_until(b));
    r.register_get("year", |d: &mut Date| {
        INT::from(chrono::Datelike::year(&d.0))
    });
    r.register_get("month", |d: &mut Date| {
        INT::from(chrono::Datelike::month(&d.0))
    });
    r.register_get("day", |d: &mut Date| INT::from(chrono::Datelike::day(&d.0)));
    r.register_get("weekday", |d: &mut Date| {
        INT::from(chrono::Datelike::weekday(&d.0).number_from_monday())
    });
    r.register_fn("to_string", |d: &mut Date| d.to_string());
    r.register_fn("to_debug", |d: &mut Date| d.to_string());
    register_ordering::<Date>(r);
    r.register_fn("min", |a: Date, b: Date| a.min(b));
    r.register_fn("max", |a: Date, b: Date| a.max(b));
}

fn register_datetimes(r: &mut Registrar<'_>, ctx: &PluginContext) {
    let tz = ctx.timezone;
    r.register_type::<DateTime>("datetime", |t| Ok(serde_json::Value::String(t.to_string())));
    r.register_fn("datetime", move |text: &str| {
        lift(DateTime::parse(text, tz))
    });
    r.register_fn("datetime", |t: DateTime| t);
    r.register_fn("date", move |t: &mut DateTime| t.date_in(tz));
    r.register_fn("start_of_day", move |d: Date| lift(d.start_in(tz)));
    r.register_fn("add_seconds", |t: &mut DateTime, n: INT| {
        lift(t.add_seconds(n))
    });
    r.register_fn("add_minutes", |t: &mut DateTime, n: INT| {
        match n.checked_mul(60) {
            Some(s) => lift(t.add_seconds(s)),
            None => fail(format!("datetime out of range: {t} + {n} min")),
        }
    });
    r.register_fn("add_hours", |t: &mut DateTime, n: INT| {
        match n.checked_mul(3600) {
            Some(s) => lift(t.add_seconds(s)),
            None => fail(format!("datetime out of range: {t} + {n} h")),
        }
    });
    r.register_fn("seconds_between", |a: DateTime, b: DateTime| {
        a.seconds_until(b)
    });
    r.register_fn("minutes_between", |a: DateTime, b: DateTime| {
        a.seconds_until(b).div_euclid(60)
    });
    r.register_fn("to_string", |t: &mut DateTime| t.to_string());
    r.register_fn("to_debug", |t: &mut DateTime| t.to_string());
    register_ordering::<DateTime>(r);
}

/// rhai answers `false` when comparing values of different types; for dates that hides
/// mistakes (`date(x) < "2024-01-01"` would never be true), so such comparisons are errors.
fn refuse_mixed_comparisons<A, B>(r: &mut Registrar<'_>, left: &'static str, right: &'static str)
where
    A: Clone + Send + Sync + 'static,
    B: Clone + Send + Sync + 'static,
{
    for op in ["==", "!=", "<", "<=", ">", ">="] {
        let message = move || {
            format!("cannot compare a {left} with a {right} using `{op}`: convert one side first (date(..), datetime(..), dt.date(), start_of_day(d))")
        };
        r.register_fn(op, move |_: A, _: B| -> Fallible<bool> { fail(message()) });
        r.register_fn(op, move |_: B, _: A| -> Fallible<bool> {
            fail(format!("cannot compare a {right} with a {left} using `{op}`: convert one side first (date(..), datetime(..), dt.date(), start_of_day(d))"))
        });
    }
}

fn register_mixed_comparisons(r: &mut Registrar<'_>) {
    refuse_mixed_comparisons::<Date, DateTime>(r, "date", "datetime");
    refuse_mixed_comparisons::<Date, rhai::ImmutableString>(r, "date", "string");
    refuse_mixed_comparisons::<DateTime, rhai::ImmutableString>(r, "datetime", "string");
    refuse_mixed_comparisons::<Date, INT>(r, "date", "integer");
    refuse_mixed_comparisons::<DateTime, INT>(r, "datetime", "integer");
    refuse_mixed_comparisons::<Date, Decimal>(r, "date", "decimal");
    refuse_mixed_comparisons::<DateTime, Decimal>(r, "datetime", "decimal");
}

fn round_with(x: Decimal, places: INT, strategy: RoundingStrategy) -> Fallible<Decimal> {
    Ok(x.round_dp_with_strategy(digits(places)?, strategy))
}

fn register_rounding(r: &mut Registrar<'_>) {
    // Integers are already exact at any number of places.
    r.register_fn("round", |x: Decimal, places: INT| {
        round_with(x, places, RoundingStrategy::MidpointNearestEven)
    });
    r.register_fn("round", |x: INT, places: INT| digits(places).map(|_| x));
    r.register_fn("round_half_up", |x: Decimal, places: INT| {
        round_with(x, places, RoundingStrategy::MidpointAwayFromZero)
    });
    r.register_fn("round_half_up", |x: INT, places: INT| {
        digits(places).map(|_| x)
    });
    r.register_fn("round_half_even", |x: Decimal, places: INT| {
        round_with(x, places, RoundingStrategy::MidpointNearestEven)
    });
    r.register_fn("round_down", |x: Decimal, places: INT| {
        round_with(x, places, RoundingStrategy::ToZero)
    });
    r.register_fn("round_up", |x: Decimal, places: INT| {
        round_with(x, places, RoundingStrategy::AwayFromZero)
    });
    r.register_fn("decimal", |x: INT| Decimal::from(x));
    r.register_fn("decimal", |x: Decimal| x);
    r.register_fn("decimal", |text: &str| {
        // Exactly the digits written, or an error: never rounded to what a Decimal holds.
        match crate::value::exact_decimal(text.trim()) {
            Some(d) => Ok(d),
            None if text.trim().parse::<Decimal>().is_ok() => fail(format!(
                "decimal `{text}` has more digits than a decimal holds exactly (28 significant digits, 28 decimal places)"
            )),
            None => fail(format!("invalid decimal `{text}`")),
        }
    });
}
