//! Coverage periods from a start date, per Regulation 1182/71 as DOMAIN.md states it:
//! "N months/years from delivery" ends on the same date N later (the month's last day when
//! that date does not exist), "N days" ends N days later; the end day is covered.

use std::fmt;
use std::str::FromStr;

use aftersale_core::Date;

use super::error::WarrantyError;

/// The unit of a coverage period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodUnit {
    /// Calendar days.
    Days,
    /// Calendar months (month ends clamp).
    Months,
    /// Years, as 12 months each (Feb 29 clamps to Feb 28).
    Years,
}

impl PeriodUnit {
    /// The plural name scripts use: `days`, `months` or `years`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Days => "days",
            Self::Months => "months",
            Self::Years => "years",
        }
    }
}

impl fmt::Display for PeriodUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PeriodUnit {
    type Err = WarrantyError;

    /// Reads `days`, `months` or `years` (the singular is accepted too).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "days" | "day" => Ok(Self::Days),
            "months" | "month" => Ok(Self::Months),
            "years" | "year" => Ok(Self::Years),
            other => Err(WarrantyError::UnknownUnit(other.to_string())),
        }
    }
}

/// A length of time: `n` days, months or years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    /// How many units; never negative.
    pub count: i64,
    /// The unit.
    pub unit: PeriodUnit,
}

impl Period {
    /// A period of `count` units; a negative count is an error.
    pub fn new(count: i64, unit: PeriodUnit) -> Result<Self, WarrantyError> {
        if count < 0 {
            return Err(WarrantyError::Negative {
                what: format!("a period in {unit}"),
                value: count.into(),
            });
        }
        Ok(Self { count, unit })
    }

    /// The date `start` plus this period, with month ends clamped.
    pub fn after(self, start: Date) -> Result<Date, WarrantyError> {
        let end = match self.unit {
            PeriodUnit::Days => start.add_days(self.count),
            PeriodUnit::Months => start.add_months(self.count),
            PeriodUnit::Years => start.add_years(self.count),
        };
        end.map_err(WarrantyError::DateOutOfRange)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.count, self.unit)
    }
}

/// The last covered day of a period of `count` `unit`s starting on `start`.
///
/// "N months/years" ends on the same date N later, clamped to the month's last day; "N days"
/// ends N days later. The returned day is itself covered. A negative `count` is an error.
///
/// ```
/// use aftersale_core::Date;
/// use aftersale_domain::warranty::{period_end, PeriodUnit};
/// let d = |s| Date::parse(s).unwrap();
/// assert_eq!(period_end(d("2024-01-15"), 3, PeriodUnit::Years).unwrap(), d("2027-01-15"));
/// assert_eq!(period_end(d("2024-02-29"), 1, PeriodUnit::Years).unwrap(), d("2025-02-28"));
/// assert_eq!(period_end(d("2024-01-31"), 1, PeriodUnit::Months).unwrap(), d("2024-02-29"));
/// assert_eq!(period_end(d("2024-01-15"), 30, PeriodUnit::Days).unwrap(), d("2024-02-14"));
/// ```
pub fn period_end(start: Date, count: i64, unit: PeriodUnit) -> Result<Date, WarrantyError> {
    Period::new(count, unit)?.after(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn years_end_on_the_same_date_and_clamp_leap_days() {
        assert_eq!(
            period_end(d("2024-01-15"), 2, PeriodUnit::Years).unwrap(),
            d("2026-01-15")
        );
        assert_eq!(
            period_end(d("2024-02-29"), 1, PeriodUnit::Years).unwrap(),
            d("2025-02-28")
        );
        assert_eq!(
            period_end(d("2024-02-29"), 4, PeriodUnit::Years).unwrap(),
            d("2028-02-29")
        );
    }

    #[test]
    fn months_clamp_to_month_end_from_the_anchor() {
        assert_eq!(
            period_end(d("2024-01-31"), 1, PeriodUnit::Months).unwrap(),
            d("2024-02-29")
        );
        assert_eq!(
            period_end(d("2024-01-31"), 2, PeriodUnit::Months).unwrap(),
            d("2024-03-31")
        );
    }

    #[test]
    fn days_end_n_days_later() {
        assert_eq!(
            period_end(d("2024-12-20"), 30, PeriodUnit::Days).unwrap(),
            d("2025-01-19")
        );
        assert_eq!(
            period_end(d("2024-12-20"), 0, PeriodUnit::Days).unwrap(),
            d("2024-12-20")
        );
    }

    #[test]
    fn negative_periods_and_unknown_units_are_errors() {
        let err = period_end(d("2024-01-01"), -1, PeriodUnit::Months).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a period in months must not be negative (got `-1`)"
        );
        let err = "weeks".parse::<PeriodUnit>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown period unit `weeks`: use \"days\", \"months\" or \"years\""
        );
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        assert!(matches!(
            period_end(d("2024-01-01"), i64::MAX, PeriodUnit::Years),
            Err(WarrantyError::DateOutOfRange(_))
        ));
    }
}
