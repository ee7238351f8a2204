//! The core vocabulary every script has: `date`, `datetime`, period arithmetic on dates,
//! comparisons, and exact decimal rounding. Registered by [`CorePlugin`], which every
//! contract gets without naming it.

use rhai::{Dynamic, Engine, EvalAltResult, Position, INT};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::plugin::{Plugin, PluginContext};
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

    fn register(&self, engine: &mut Engine, ctx: &PluginContext) {
        register_dates(engine);
        register_datetimes(engine, ctx);
        register_mixed_comparisons(engine);
        register_rounding(engine);
    }
}

/// `==`, `!=`, `<`, `<=`, `>`, `>=` between two values of one ordered type.
fn register_ordering<T: Ord + Clone + Send + Sync + 'static>(engine: &mut Engine) {
    engine.register_fn("==", |a: T, b: T| a == b);
    engine.register_fn("!=", |a: T, b: T| a != b);
    engine.register_fn("<", |a: T, b: T| a < b);
    engine.register_fn("<=", |a: T, b: T| a <= b);
    engine.register_fn(">", |a: T, b: T| a > b);
    engine.register_fn(">=", |a: T, b: T| a >= b);
}

fn register_dates(engine: &mut Engine) {
    engine.register_type_with_name::<Date>("date");
    engine.register_fn("date", |text: &str| lift(Date::parse(text)));
    engine.register_fn("date", |d: Date| d);
    engine.register_fn("add_days", |d: &mut Date, n: INT| lift(d.add_days(n)));
    engine.register_fn("add_months", |d: &mut Date, n: INT| lift(d.add_months(n)));
    engine.register_fn("add_years", |d: &mut Date, n: INT| lift(d.add_years(n)));
    engine.register_fn("end_of_month", |d: &mut Date| d.end_of_month());
    engine.register_fn("days_between", |a: Date, b: Date| a.days_until(b));
    engine.register_fn("months_between", |a: Date, b: Date| a.whole_months_until(b));
    engine.register_get("year", |d: &mut Date| {
        INT::from(chrono::Datelike::year(&d.0))
    });
    engine.register_get("month", |d: &mut Date| {
        INT::from(chrono::Datelike::month(&d.0))
    });
    engine.register_get("day", |d: &mut Date| INT::from(chrono::Datelike::day(&d.0)));
    engine.register_get("weekday", |d: &mut Date| {
        INT::from(chrono::Datelike::weekday(&d.0).number_from_monday())
    });
    engine.register_fn("to_string", |d: &mut Date| d.to_string());
    engine.register_fn("to_debug", |d: &mut Date| d.to_string());
    register_ordering::<Date>(engine);
    engine.register_fn("min", |a: Date, b: Date| a.min(b));
    engine.register_fn("max", |a: Date, b: Date| a.max(b));
}

fn register_datetimes(engine: &mut Engine, ctx: &PluginContext) {
    let tz = ctx.timezone;
    engine.register_type_with_name::<DateTime>("datetime");
    engine.register_fn("datetime", move |text: &str| {
        lift(DateTime::parse(text, tz))
    });
    engine.register_fn("datetime", |t: DateTime| t);
    engine.register_fn("date", move |t: &mut DateTime| t.date_in(tz));
    engine.register_fn("start_of_day", move |d: Date| lift(d.start_in(tz)));
    engine.register_fn("add_seconds", |t: &mut DateTime, n: INT| {
        lift(t.add_seconds(n))
    });
    engine.register_fn("add_minutes", |t: &mut DateTime, n: INT| {
        match n.checked_mul(60) {
            Some(s) => lift(t.add_seconds(s)),
            None => fail(format!("datetime out of range: {t} + {n} min")),
        }
    });
    engine.register_fn("add_hours", |t: &mut DateTime, n: INT| {
        match n.checked_mul(3600) {
            Some(s) => lift(t.add_seconds(s)),
            None => fail(format!("datetime out of range: {t} + {n} h")),
        }
    });
    engine.register_fn("seconds_between", |a: DateTime, b: DateTime| {
        a.seconds_until(b)
    });
    engine.register_fn("minutes_between", |a: DateTime, b: DateTime| {
        a.seconds_until(b).div_euclid(60)
    });
    engine.register_fn("to_string", |t: &mut DateTime| t.to_string());
    engine.register_fn("to_debug", |t: &mut DateTime| t.to_string());
    register_ordering::<DateTime>(engine);
}

/// rhai answers `false` when comparing values of different types; for dates that hides
/// mistakes (`date(x) < "2024-01-01"` would never be true), so such comparisons are errors.
fn refuse_mixed_comparisons<A, B>(engine: &mut Engine, left: &'static str, right: &'static str)
where
    A: Clone + Send + Sync + 'static,
    B: Clone + Send + Sync + 'static,
{
    for op in ["==", "!=", "<", "<=", ">", ">="] {
        let message = move || {
            format!("cannot compare a {left} with a {right} using `{op}`: convert one side first (date(..), datetime(..), dt.date(), start_of_day(d))")
        };
        engine.register_fn(op, move |_: A, _: B| -> Fallible<bool> { fail(message()) });
        engine.register_fn(op, move |_: B, _: A| -> Fallible<bool> {
            fail(format!("cannot compare a {right} with a {left} using `{op}`: convert one side first (date(..), datetime(..), dt.date(), start_of_day(d))"))
        });
    }
}

fn register_mixed_comparisons(engine: &mut Engine) {
    refuse_mixed_comparisons::<Date, DateTime>(engine, "date", "datetime");
    refuse_mixed_comparisons::<Date, rhai::ImmutableString>(engine, "date", "string");
    refuse_mixed_comparisons::<DateTime, rhai::ImmutableString>(engine, "datetime", "string");
    refuse_mixed_comparisons::<Date, INT>(engine, "date", "integer");
    refuse_mixed_comparisons::<DateTime, INT>(engine, "datetime", "integer");
    refuse_mixed_comparisons::<Date, Decimal>(engine, "date", "decimal");
    refuse_mixed_comparisons::<DateTime, Decimal>(engine, "datetime", "decimal");
}

fn round_with(x: Decimal, places: INT, strategy: RoundingStrategy) -> Fallible<Decimal> {
    Ok(x.round_dp_with_strategy(digits(places)?, strategy))
}

fn register_rounding(engine: &mut Engine) {
    // Integers are already exact at any number of places.
    engine.register_fn("round", |x: Decimal, places: INT| {
        round_with(x, places, RoundingStrategy::MidpointNearestEven)
    });
    engine.register_fn("round", |x: INT, places: INT| digits(places).map(|_| x));
    engine.register_fn("round_half_up", |x: Decimal, places: INT| {
        round_with(x, places, RoundingStrategy::MidpointAwayFromZero)
    });
    engine.register_fn("round_half_up", |x: INT, places: INT| {
        digits(places).map(|_| x)
    });
    engine.register_fn("round_half_even", |x: Decimal, places: INT| {
        round_with(x, places, RoundingStrategy::MidpointNearestEven)
    });
    engine.register_fn("round_down", |x: Decimal, places: INT| {
        round_with(x, places, RoundingStrategy::ToZero)
    });
    engine.register_fn("round_up", |x: Decimal, places: INT| {
        round_with(x, places, RoundingStrategy::AwayFromZero)
    });
    engine.register_fn("decimal", |x: INT| Decimal::from(x));
    engine.register_fn("decimal", |x: Decimal| x);
    engine.register_fn("decimal", |text: &str| {
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
