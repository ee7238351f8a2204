//! Coverage windows: a time limit and any number of meter limits (km, engine hours, cycles)
//! linked by "whichever comes first". Every limit is inclusive: the end day is covered, and a
//! reading of exactly the limit is covered (100,000 km is inside "3 years or 100,000 km").

use std::fmt;

use aftersale_core::Date;
use rust_decimal::Decimal;

use super::error::{non_negative, WarrantyError};
use super::period::Period;

/// One meter limit of a window: cover ends when the meter has advanced more than `limit`
/// beyond its reading at the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterLimit {
    /// The meter's name, free: `km`, `miles`, `hours`, `cycles`, ...
    pub unit: String,
    /// How far the meter may advance from `at_start` and still be covered.
    pub limit: Decimal,
    /// The meter's reading when cover starts (0 for a new vehicle).
    pub at_start: Decimal,
}

impl MeterLimit {
    /// A limit of `limit` units from a reading of zero at the start.
    pub fn new(unit: impl Into<String>, limit: Decimal) -> Self {
        Self {
            unit: unit.into(),
            limit,
            at_start: Decimal::ZERO,
        }
    }

    /// The highest reading that is still covered: `at_start + limit`.
    pub fn ends_at(&self) -> Result<Decimal, WarrantyError> {
        self.at_start
            .checked_add(self.limit)
            .ok_or_else(|| WarrantyError::Overflow(format!("the `{}` limit", self.unit)))
    }
}

/// Why a date and reading fall outside a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitReached {
    /// The date is before the window starts.
    NotStarted,
    /// The date is after the last covered day.
    TimeLimit,
    /// A meter has gone past its limit (the first such meter, by name).
    MeterLimit {
        /// The meter's name.
        unit: String,
    },
}

impl LimitReached {
    /// The reason code scripts see: `not_started`, `time_limit` or `meter_limit`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::TimeLimit => "time_limit",
            Self::MeterLimit { .. } => "meter_limit",
        }
    }
}

/// The answer of [`CoverageWindow::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCheck {
    /// `Ok(())` when covered, else the limit that was reached.
    pub outcome: Result<(), LimitReached>,
    /// The window's last covered day, if it has a time limit.
    pub ends_on: Option<Date>,
}

impl WindowCheck {
    /// Whether the date and readings are inside every limit.
    pub fn covered(&self) -> bool {
        self.outcome.is_ok()
    }
}

/// The most meters a coverage window may limit (km, engine hours, cycles, ...).
pub const MAX_METERS: usize = 16;

/// A coverage window: from `start`, for a period and/or up to meter limits, whichever comes
/// first. Built once (validated), then asked about dates and readings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageWindow {
    start: Date,
    period: Option<Period>,
    ends_on: Option<Date>,
    meters: Vec<MeterLimit>,
}

impl CoverageWindow {
    /// A window from `start` for `period` (if any) and up to each meter limit. At least one
    /// limit is required, limits and start readings must not be negative, and meter names
    /// must be distinct.
    pub fn new(
        start: Date,
        period: Option<Period>,
        meters: Vec<MeterLimit>,
    ) -> Result<Self, WarrantyError> {
        if period.is_none() && meters.is_empty() {
            return Err(WarrantyError::invalid(
                "coverage_window",
                "give a time limit (days, months or years) or a meter limit (e.g. km), or both",
            ));
        }
        if meters.len() > MAX_METERS {
            return Err(WarrantyError::invalid(
                "coverage_window",
                format!("at most {MAX_METERS} meters, found {}", meters.len()),
            ));
        }
        for (i, m) in meters.iter().enumerate() {
            if m.unit.is_empty() {
                return Err(WarrantyError::invalid(
                    "coverage_window",
                    "a meter needs a name",
                ));
            }
            if meters[..i].iter().any(|other| other.unit == m.unit) {
                return Err(WarrantyError::invalid(
                    "coverage_window",
                    format!("meter `{}` is given twice", m.unit),
                ));
            }
            non_negative(&format!("the `{}` limit", m.unit), m.limit)?;
            non_negative(&format!("the `{}` reading at start", m.unit), m.at_start)?;
            m.ends_at()?;
        }
        let ends_on = period.map(|p| p.after(start)).transpose()?;
        Ok(Self {
            start,
            period,
            ends_on,
            meters,
        })
    }

    /// The first covered day.
    pub fn start(&self) -> Date {
        self.start
    }

    /// The time limit, if any.
    pub fn period(&self) -> Option<Period> {
        self.period
    }

    /// The last covered day, if the window has a time limit.
    pub fn ends_on(&self) -> Option<Date> {
        self.ends_on
    }

    /// The meter limits.
    pub fn meters(&self) -> &[MeterLimit] {
        &self.meters
    }

    /// The limit on the meter named `unit`.
    pub fn meter(&self, unit: &str) -> Option<&MeterLimit> {
        self.meters.iter().find(|m| m.unit == unit)
    }

    /// Whether `on`, with these meter readings, is inside the window. Every meter of the
    /// window needs a reading; a reading for a meter the window does not have is an error
    /// (a misspelt name would otherwise be ignored), and so is a reading below the one at
    /// the start. When several limits are passed, the first of "not started", the time limit,
    /// then the meters in order is reported.
    pub fn check(
        &self,
        on: Date,
        readings: &[(&str, Decimal)],
    ) -> Result<WindowCheck, WarrantyError> {
        for (unit, _) in readings {
            if self.meter(unit).is_none() {
                return Err(WarrantyError::invalid(
                    "within",
                    format!(
                        "the window has no meter `{unit}` (it has: {})",
                        self.meter_names()
                    ),
                ));
            }
        }
        let mut meter_reached = None;
        for m in &self.meters {
            let Some((_, reading)) = readings.iter().find(|(u, _)| *u == m.unit) else {
                return Err(WarrantyError::invalid(
                    "within",
                    format!("a reading of `{}` is needed", m.unit),
                ));
            };
            non_negative(&format!("the `{}` reading", m.unit), *reading)?;
            if *reading < m.at_start {
                return Err(WarrantyError::Inconsistent(format!(
                    "the `{}` reading `{reading}` is below the reading `{}` at the start of cover",
                    m.unit, m.at_start
                )));
            }
            if meter_reached.is_none() && *reading > m.ends_at()? {
                meter_reached = Some(m.unit.clone());
            }
        }
        let outcome = if on < self.start {
            Err(LimitReached::NotStarted)
        } else if self.ends_on.is_some_and(|end| on > end) {
            Err(LimitReached::TimeLimit)
        } else if let Some(unit) = meter_reached {
            Err(LimitReached::MeterLimit { unit })
        } else {
            Ok(())
        };
        Ok(WindowCheck {
            outcome,
            ends_on: self.ends_on,
        })
    }

    fn meter_names(&self) -> String {
        if self.meters.is_empty() {
            return "none".into();
        }
        self.meters
            .iter()
            .map(|m| format!("`{}`", m.unit))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for CoverageWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "coverage from {}", self.start)?;
        if let (Some(p), Some(end)) = (self.period, self.ends_on) {
            write!(f, " for {p} (through {end})")?;
        }
        for (i, m) in self.meters.iter().enumerate() {
            let joiner = if i == 0 && self.period.is_none() {
                " up to"
            } else {
                " or"
            };
            write!(f, "{joiner} {} {}", m.limit, m.unit)?;
            if !m.at_start.is_zero() {
                write!(f, " from {}", m.at_start)?;
            }
        }
        if self.period.is_some() && !self.meters.is_empty() {
            f.write_str(", whichever comes first")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warranty::period::PeriodUnit;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn three_years_100k() -> CoverageWindow {
        CoverageWindow::new(
            d("2024-01-15"),
            Some(Period::new(3, PeriodUnit::Years).unwrap()),
            vec![MeterLimit::new("km", Decimal::from(100_000))],
        )
        .unwrap()
    }

    #[test]
    fn domain_example_over_the_km_limit_at_two_and_a_half_years() {
        let w = three_years_100k();
        let check = w
            .check(d("2026-07-15"), &[("km", Decimal::from(100_001))])
            .unwrap();
        assert_eq!(
            check.outcome,
            Err(LimitReached::MeterLimit { unit: "km".into() })
        );
    }

    #[test]
    fn both_limits_are_inclusive() {
        let w = three_years_100k();
        assert!(w
            .check(d("2027-01-15"), &[("km", Decimal::from(100_000))])
            .unwrap()
            .covered());
        let after = w
            .check(d("2027-01-16"), &[("km", Decimal::from(10))])
            .unwrap();
        assert_eq!(after.outcome, Err(LimitReached::TimeLimit));
        assert_eq!(after.ends_on, Some(d("2027-01-15")));
    }

    #[test]
    fn before_the_start_is_not_covered() {
        let w = three_years_100k();
        let check = w.check(d("2024-01-14"), &[("km", Decimal::ZERO)]).unwrap();
        assert_eq!(check.outcome, Err(LimitReached::NotStarted));
    }

    #[test]
    fn a_meter_measured_from_a_reading_at_start() {
        let w = CoverageWindow::new(
            d("2025-03-01"),
            Some(Period::new(12, PeriodUnit::Months).unwrap()),
            vec![MeterLimit {
                unit: "km".into(),
                limit: Decimal::from(20_000),
                at_start: Decimal::from(85_000),
            }],
        )
        .unwrap();
        assert!(w
            .check(d("2025-06-01"), &[("km", Decimal::from(105_000))])
            .unwrap()
            .covered());
        assert!(!w
            .check(d("2025-06-01"), &[("km", Decimal::from(105_001))])
            .unwrap()
            .covered());
        assert!(matches!(
            w.check(d("2025-06-01"), &[("km", Decimal::from(84_000))]),
            Err(WarrantyError::Inconsistent(_))
        ));
    }

    #[test]
    fn readings_must_match_the_meters() {
        let w = three_years_100k();
        let missing = w.check(d("2025-01-01"), &[]).unwrap_err();
        assert_eq!(missing.to_string(), "within: a reading of `km` is needed");
        let unknown = w
            .check(
                d("2025-01-01"),
                &[("km", Decimal::ONE), ("kms", Decimal::ONE)],
            )
            .unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "within: the window has no meter `kms` (it has: `km`)"
        );
    }

    #[test]
    fn a_window_needs_a_limit() {
        assert!(CoverageWindow::new(d("2025-01-01"), None, vec![]).is_err());
        assert!(CoverageWindow::new(
            d("2025-01-01"),
            None,
            vec![MeterLimit::new("hours", Decimal::from(-1))]
        )
        .is_err());
    }

    #[test]
    fn display_reads_as_the_business_speaks() {
        assert_eq!(
            three_years_100k().to_string(),
            "coverage from 2024-01-15 for 3 years (through 2027-01-15) or 100000 km, whichever comes first"
        );
    }
}
