//! Meter evidence: the plan's start meters, the readings and the meters recorded at services,
//! merged per unit into one series in date order. From it: the value known on a day, the
//! average daily usage, the day a target was reached (interpolated between the two readings
//! around it) and the day it will be reached (extrapolated at the average daily usage).

use std::collections::BTreeMap;

use aftersale_core::Date;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::error::MaintenanceError;
use super::plan::{meter_text, Meters, Plan};

/// A meter reading: a date and one or more meter values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The day of the reading.
    pub date: Date,
    /// The values read, by unit.
    pub meters: Meters,
}

/// A service done: the task, the day and the meters at the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The task's name.
    pub task: String,
    /// The day of the service.
    pub date: Date,
    /// The meters at the service; every unit the task counts must be present.
    pub meters: Meters,
}

#[derive(Debug, Clone, Copy)]
enum Source {
    Start,
    Reading(usize),
    Service(usize),
}

impl Source {
    fn describe(self, date: Date) -> String {
        match self {
            Source::Start => format!("start_meters on {date}"),
            Source::Reading(i) => format!("readings[{i}] on {date}"),
            Source::Service(i) => format!("history[{i}] on {date}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Mark {
    date: Date,
    value: Decimal,
    source: Source,
}

fn overflow(what: &str) -> MaintenanceError {
    MaintenanceError::Range(format!("meter arithmetic out of range while {what}"))
}

/// Smallest whole `n >= 0` with `slope * n >= need`, for `slope > 0`: the number of days
/// until a linear meter reaches a target, computed with multiplications only so that exact
/// arithmetic decides the boundary day.
fn days_to_reach(need: Decimal, slope: Decimal) -> Result<i64, MaintenanceError> {
    if need <= Decimal::ZERO {
        return Ok(0);
    }
    let guess = need
        .checked_div(slope)
        .ok_or_else(|| overflow("forecasting"))?
        .ceil();
    let mut n = guess
        .to_i64()
        .ok_or_else(|| overflow("forecasting"))?
        .max(0);
    let reaches = |n: i64| slope.checked_mul(Decimal::from(n)).map(|v| v >= need);
    while n > 0 && reaches(n - 1) == Some(true) {
        n -= 1;
    }
    while reaches(n) == Some(false) {
        n += 1;
    }
    if reaches(n).is_none() {
        return Err(overflow("forecasting"));
    }
    Ok(n)
}

/// The merged meter series of a plan's start, readings and service history.
#[derive(Debug, Clone, Default)]
pub struct Odometer {
    series: BTreeMap<String, Vec<Mark>>,
}

impl Odometer {
    /// Merges the evidence and checks it: readings are given oldest first, name only units the
    /// plan counts, and no meter goes back (a later value below an earlier one, across
    /// readings, services and the start meters, is "readings out of order").
    pub fn new(
        plan: &Plan,
        readings: &[Reading],
        history: &[Completion],
    ) -> Result<Self, MaintenanceError> {
        let mut series: BTreeMap<String, Vec<Mark>> = BTreeMap::new();
        for unit in plan.meter_units() {
            series.entry(unit.to_string()).or_default().push(Mark {
                date: plan.start,
                value: plan.start_meter(unit),
                source: Source::Start,
            });
        }
        let mut previous: Option<Date> = None;
        for (i, reading) in readings.iter().enumerate() {
            if let Some(earlier) = previous {
                if reading.date < earlier {
                    return Err(MaintenanceError::ReadingsOutOfOrder {
                        field: format!("readings[{i}]"),
                        earlier,
                        later: reading.date,
                    });
                }
            }
            previous = Some(reading.date);
            for (unit, value) in &reading.meters {
                plan.check_unit(unit, &format!("readings[{i}].{unit}"))?;
                if *value < Decimal::ZERO {
                    return Err(MaintenanceError::Negative {
                        field: format!("readings[{i}].{unit}"),
                        value: meter_text(*value),
                    });
                }
                series.entry(unit.clone()).or_default().push(Mark {
                    date: reading.date,
                    value: *value,
                    source: Source::Reading(i),
                });
            }
        }
        for (i, done) in history.iter().enumerate() {
            for (unit, value) in &done.meters {
                if let Some(marks) = series.get_mut(unit) {
                    marks.push(Mark {
                        date: done.date,
                        value: *value,
                        source: Source::Service(i),
                    });
                }
            }
        }
        for (unit, marks) in &mut series {
            // Same-day values may come in any order (a reading in the morning, a service in
            // the afternoon); across days a meter never goes back.
            marks.sort_by(|a, b| a.date.cmp(&b.date).then(a.value.cmp(&b.value)));
            for pair in marks.windows(2) {
                if let [a, b] = pair {
                    if b.value < a.value {
                        return Err(MaintenanceError::MeterWentBack {
                            unit: unit.clone(),
                            earlier: a.source.describe(a.date),
                            earlier_value: meter_text(a.value),
                            later: b.source.describe(b.date),
                            later_value: meter_text(b.value),
                        });
                    }
                }
            }
        }
        Ok(Self { series })
    }

    fn marks_until(&self, unit: &str, as_of: Date) -> &[Mark] {
        let marks = self.series.get(unit).map(Vec::as_slice).unwrap_or_default();
        let end = marks.partition_point(|m| m.date <= as_of);
        marks.get(..end).unwrap_or_default()
    }

    /// The highest value of `unit` known on `as_of` (readings, services and the start on or
    /// before that day); `None` before the first of them.
    pub fn known_at(&self, unit: &str, as_of: Date) -> Option<Decimal> {
        self.marks_until(unit, as_of).last().map(|m| m.value)
    }

    /// Every unit's value known on `as_of`.
    pub fn known_point(&self, as_of: Date) -> Meters {
        self.series
            .keys()
            .filter_map(|u| self.known_at(u, as_of).map(|v| (u.clone(), v)))
            .collect()
    }

    /// The first and last marks on or before `as_of` that span at least one day, as the
    /// (value gained, days) of the average: `None` with fewer than two days of evidence.
    fn slope(&self, unit: &str, as_of: Date) -> Option<(Mark, Decimal, Decimal)> {
        let marks = self.marks_until(unit, as_of);
        let (first, last) = (marks.first()?, marks.last()?);
        let days = first.date.days_until(last.date);
        if days <= 0 {
            return None;
        }
        Some((*last, last.value - first.value, Decimal::from(days)))
    }

    /// The average daily usage of `unit` on `as_of`: (last value - first value) / days between
    /// them, over the start meters, readings and services on or before `as_of`. `None` when
    /// the evidence spans less than a day.
    pub fn daily_usage(&self, unit: &str, as_of: Date) -> Option<Decimal> {
        let (_, gained, days) = self.slope(unit, as_of)?;
        gained.checked_div(days)
    }

    /// The value of `unit` projected to `date` (after the evidence of `as_of`) at the
    /// average daily usage; the known value when there is no usage to project.
    pub fn projected(
        &self,
        unit: &str,
        as_of: Date,
        date: Date,
    ) -> Result<Option<Decimal>, MaintenanceError> {
        let Some(known) = self.known_at(unit, as_of) else {
            return Ok(None);
        };
        let Some((last, gained, days)) = self.slope(unit, as_of) else {
            return Ok(Some(known));
        };
        let ahead = last.date.days_until(date).max(0);
        let added = gained
            .checked_mul(Decimal::from(ahead))
            .and_then(|v| v.checked_div(days))
            .ok_or_else(|| overflow("projecting a meter"))?;
        last.value
            .checked_add(added)
            .map(Some)
            .ok_or_else(|| overflow("projecting a meter"))
    }

    /// The day `unit` reached or will reach `target`, on the evidence up to `as_of`:
    /// - reached already: the first whole day on which the straight line between the last mark
    ///   below the target and the first mark at or above it reaches it (the first mark's day if
    ///   there is nothing before it);
    /// - not yet: the first whole day after the last mark on which the average daily usage
    ///   takes the meter to the target; `None` when there is no usage (a meter that does not
    ///   move never reaches it) or the day is beyond the calendar.
    pub fn reached_on(
        &self,
        unit: &str,
        target: Decimal,
        as_of: Date,
    ) -> Result<Option<Date>, MaintenanceError> {
        let marks = self.marks_until(unit, as_of);
        let at = marks.partition_point(|m| m.value < target);
        if let Some(hit) = marks.get(at) {
            let Some(before) = at.checked_sub(1).and_then(|i| marks.get(i)) else {
                return Ok(Some(hit.date));
            };
            let span = before.date.days_until(hit.date);
            let need = (target - before.value)
                .checked_mul(Decimal::from(span))
                .ok_or_else(|| overflow("interpolating readings"))?;
            let n = days_to_reach(need, hit.value - before.value)?;
            return before
                .date
                .add_days(n)
                .map(Some)
                .map_err(MaintenanceError::Range);
        }
        let Some((last, gained, days)) = self.slope(unit, as_of) else {
            return Ok(None);
        };
        if gained <= Decimal::ZERO {
            return Ok(None);
        }
        let need = (target - last.value)
            .checked_mul(days)
            .ok_or_else(|| overflow("forecasting"))?;
        let n = days_to_reach(need, gained)?;
        Ok(last.date.add_days(n).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_to_reach_is_exact_at_the_boundary() {
        assert_eq!(
            days_to_reach(Decimal::from(100), Decimal::from(10)).unwrap(),
            10
        );
        assert_eq!(
            days_to_reach(Decimal::from(101), Decimal::from(10)).unwrap(),
            11
        );
        assert_eq!(days_to_reach(Decimal::ZERO, Decimal::from(10)).unwrap(), 0);
        // 1 unit gained over 3 days, target 1 unit away: need = 1 x 3 days, slope 1 -> day 3,
        // where dividing first (1 / 0.333..) would have given day 4.
        assert_eq!(days_to_reach(Decimal::from(3), Decimal::ONE).unwrap(), 3);
        assert_eq!(
            days_to_reach(Decimal::from(10), Decimal::from(3)).unwrap(),
            4
        );
    }
}
