//! A meter's reading on a given day from a history of readings, for terms that depend on the
//! state at the end of another term ("the extension applies if the odometer was under
//! 60,000 km when base cover ended").

use aftersale_core::Date;
use rust_decimal::{Decimal, RoundingStrategy};

use super::error::{non_negative, WarrantyError};

/// One reading of a meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterReading {
    /// The day of the reading.
    pub date: Date,
    /// The meter's value that day.
    pub value: Decimal,
}

/// The meter's reading on `on`, from `readings` in any order:
///
/// - a reading taken that day (the highest, if several);
/// - else the straight line between the last reading before and the first after, by days,
///   rounded half-even to the finer of the two readings' decimal places (whole km for
///   whole-km readings);
/// - else `None`: the day is outside the history and no reading is guessed.
///
/// Readings must not be negative and must not go down as dates advance.
pub fn meter_at(readings: &[MeterReading], on: Date) -> Result<Option<Decimal>, WarrantyError> {
    let mut sorted = readings.to_vec();
    sorted.sort_by_key(|r| (r.date, r.value));
    for (i, r) in sorted.iter().enumerate() {
        non_negative(&format!("the reading on {}", r.date), r.value)?;
        if let Some(prev) = i.checked_sub(1).and_then(|p| sorted.get(p)) {
            if r.date > prev.date && r.value < prev.value {
                return Err(WarrantyError::Inconsistent(format!(
                    "the readings go down: `{}` on {} after `{}` on {}",
                    r.value, r.date, prev.value, prev.date
                )));
            }
        }
    }
    if let Some(same_day) = sorted.iter().rev().find(|r| r.date == on) {
        return Ok(Some(same_day.value));
    }
    let before = sorted.iter().rev().find(|r| r.date < on);
    let after = sorted.iter().find(|r| r.date > on);
    let (Some(a), Some(b)) = (before, after) else {
        return Ok(None);
    };
    let span = Decimal::from(a.date.days_until(b.date));
    let elapsed = Decimal::from(a.date.days_until(on));
    let rise = b.value - a.value;
    let exact = rise
        .checked_mul(elapsed)
        .and_then(|x| x.checked_div(span))
        .and_then(|x| a.value.checked_add(x))
        .ok_or_else(|| WarrantyError::Overflow("the interpolated reading".into()))?;
    let places = a.value.scale().max(b.value.scale());
    Ok(Some(exact.round_dp_with_strategy(
        places,
        RoundingStrategy::MidpointNearestEven,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(date: &str, value: i64) -> MeterReading {
        MeterReading {
            date: Date::parse(date).unwrap(),
            value: Decimal::from(value),
        }
    }

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn a_reading_that_day_is_taken_as_is() {
        let history = [r("2025-01-01", 100), r("2025-01-11", 200)];
        assert_eq!(
            meter_at(&history, d("2025-01-11")).unwrap(),
            Some(200.into())
        );
    }

    #[test]
    fn between_readings_the_line_is_rounded_half_even_to_whole_units() {
        let history = [r("2025-01-11", 200), r("2025-01-01", 100)];
        assert_eq!(
            meter_at(&history, d("2025-01-05")).unwrap(),
            Some(140.into())
        );
        // 100 + 5 x 3/6 = 102.5 -> 102 (half-even)
        let history = [r("2025-01-01", 100), r("2025-01-07", 105)];
        assert_eq!(
            meter_at(&history, d("2025-01-04")).unwrap(),
            Some(102.into())
        );
    }

    #[test]
    fn outside_the_history_there_is_no_reading() {
        let history = [r("2025-01-01", 100), r("2025-01-11", 200)];
        assert_eq!(meter_at(&history, d("2024-12-31")).unwrap(), None);
        assert_eq!(meter_at(&history, d("2025-01-12")).unwrap(), None);
        assert_eq!(meter_at(&[], d("2025-01-12")).unwrap(), None);
    }

    #[test]
    fn readings_that_go_down_are_errors() {
        let history = [r("2025-01-01", 100), r("2025-01-11", 90)];
        assert!(matches!(
            meter_at(&history, d("2025-01-05")),
            Err(WarrantyError::Inconsistent(_))
        ));
    }
}
