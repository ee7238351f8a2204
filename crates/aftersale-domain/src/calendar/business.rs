//! [`Calendar`]: business time on local working windows, counted in real elapsed time.
//!
//! Everything is computed on UTC seconds. A local day's open instants are found by splitting
//! the UTC span around the day at the zone's offset changes (rare: two a year at most in
//! real zones) and, within each piece of constant offset, shifting the local windows by that
//! offset. So a window keeps its local times when DST starts or ends, and a window spanning
//! the skipped or repeated hour counts the time that really elapses. Long spans jump whole
//! weeks using the precomputed weekly total whenever a week has no holiday and no offset
//! change, so a year costs about 60 steps, not 500,000 minutes.

use std::fmt;
use std::sync::Arc;

use aftersale_core::meter::charge;
use aftersale_core::DateTime;
use chrono::{NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone};
use chrono_tz::Tz;

use super::definition::{check, CalendarDef, WeeklyHours, DAY_SECONDS};
use super::error::CalendarError;

const NANOS: i128 = 1_000_000_000;
/// Wider than any UTC offset a zone has ever had, so `[midnight - MARGIN, midnight + 1 day +
/// MARGIN)` read as UTC contains every instant of a local day.
const MARGIN: i64 = 26 * 3600;
/// Local day numbers (days since 1970-01-01) of 0001-01-01 and 9999-12-31.
const FIRST_DAY: i64 = -719_162;
const LAST_DAY: i64 = 2_932_896;

/// A business-hours calendar: a time zone, working windows per weekday and holidays, or
/// open always (24x7). Cheap to clone (the definition is shared).
///
/// Windows are local, `[start, end)`: a window 09:00-17:00 opens at 09:00 local time on a DST
/// change day too, and a window containing the skipped (repeated) hour counts one hour less
/// (more). Holidays close whole local days.
///
/// ```
/// use aftersale_domain::calendar::{Calendar, CalendarDef, WeeklyHours};
/// use aftersale_core::DateTime;
///
/// let cal = Calendar::new(&CalendarDef {
///     timezone: "Europe/Rome".into(),
///     hours: WeeklyHours::weekdays(&["10:00-18:00"]),
///     holidays: vec![],
/// }).unwrap();
/// let friday = DateTime::parse("2025-06-06T17:00:00+02:00", chrono_tz::UTC).unwrap();
/// let due = cal.add_business(friday, chrono::TimeDelta::hours(2)).unwrap();
/// assert_eq!(due.to_string(), "2025-06-09T11:00:00+02:00");
/// assert_eq!(cal.business_seconds(friday, due).unwrap(), 7200);
/// ```
#[derive(Clone)]
pub struct Calendar {
    inner: Arc<Inner>,
}

struct Inner {
    timezone: Tz,
    /// Per weekday, Monday first: local seconds since midnight, sorted, touching merged.
    week: [Vec<(i64, i64)>; 7],
    /// Local day numbers, sorted.
    holidays: Vec<i64>,
    /// Sum of all windows' lengths, seconds: the business time of a week with no holiday and
    /// no offset change.
    weekly_seconds: i64,
    definition: CalendarDef,
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Calendar")
            .field(&self.inner.definition)
            .finish()
    }
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Self) -> bool {
        self.inner.definition == other.inner.definition
    }
}

impl Eq for Calendar {}

/// The local day number of a date (days since 1970-01-01).
fn day_number(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN)
        .and_utc()
        .timestamp()
        .div_euclid(DAY_SECONDS)
}

/// Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday).
fn weekday(day: i64) -> usize {
    // rem_euclid(7) is in 0..7.
    usize::try_from((day + 3).rem_euclid(7)).unwrap_or(0)
}

fn nanos_of(t: DateTime) -> i128 {
    i128::from(t.0.timestamp()) * NANOS + i128::from(t.0.timestamp_subsec_nanos())
}

fn duration_nanos(d: TimeDelta) -> i128 {
    i128::from(d.num_seconds()) * NANOS + i128::from(d.subsec_nanos())
}

/// A duration from nanoseconds; saturates (never reached for spans inside years 1-9999).
fn duration_of(nanos: i128) -> TimeDelta {
    let seconds = i64::try_from(nanos.div_euclid(NANOS)).unwrap_or(i64::MAX);
    let sub = u32::try_from(nanos.rem_euclid(NANOS)).unwrap_or(0);
    TimeDelta::new(seconds, sub).unwrap_or(TimeDelta::MAX)
}

/// Appends `[a, b)`, merging it with the previous interval when they touch.
fn push_merged(out: &mut Vec<(i64, i64)>, a: i64, b: i64) {
    match out.last_mut() {
        Some(last) if last.1 >= a => last.1 = last.1.max(b),
        _ => out.push((a, b)),
    }
}

impl Calendar {
    /// Checks a definition and builds the calendar. Errors name the field at fault:
    /// an unknown time zone, a window that is not `HH:MM-HH:MM` with its start before its
    /// end, overlapping windows, an invalid holiday date, or no window at all.
    pub fn new(def: &CalendarDef) -> Result<Self, CalendarError> {
        let checked = check(def)?;
        let week = checked
            .week
            .map(|windows| windows.iter().map(|w| (w.start, w.end)).collect::<Vec<_>>());
        let weekly_seconds = week.iter().flatten().map(|(s, e)| e - s).sum();
        Ok(Self {
            inner: Arc::new(Inner {
                timezone: checked.timezone,
                week,
                holidays: checked.holidays.into_iter().map(day_number).collect(),
                weekly_seconds,
                definition: checked.normalised,
            }),
        })
    }

    /// A calendar open always (24x7) in `timezone`, without holidays. Its days last 23 or 25
    /// hours when DST changes, since business time is real elapsed time.
    pub fn always_open(timezone: Tz) -> Self {
        let week: [Vec<(i64, i64)>; 7] = Default::default();
        let week = week.map(|_| vec![(0, DAY_SECONDS)]);
        Self {
            inner: Arc::new(Inner {
                timezone,
                week,
                holidays: Vec::new(),
                weekly_seconds: 7 * DAY_SECONDS,
                definition: CalendarDef {
                    timezone: timezone.name().to_string(),
                    hours: WeeklyHours::every_day(&["00:00-24:00"]),
                    holidays: Vec::new(),
                },
            }),
        }
    }

    /// The time zone the windows are local to.
    pub fn timezone(&self) -> Tz {
        self.inner.timezone
    }

    /// The normalised definition (windows sorted, holidays sorted without repeats), which
    /// [`Calendar::new`] turns back into this calendar; its JSON form is the calendar's.
    pub fn definition(&self) -> &CalendarDef {
        &self.inner.definition
    }

    /// Whether the calendar is open at `t`: its local time falls in a window (`[start,
    /// end)`) of its local weekday and its local date is not a holiday.
    pub fn is_open(&self, t: DateTime) -> bool {
        let ts = t.0.timestamp();
        let local = ts + self.offset_at(ts);
        let day = local.div_euclid(DAY_SECONDS);
        let second = local.rem_euclid(DAY_SECONDS);
        !self.is_holiday(day)
            && self
                .windows(day)
                .iter()
                .any(|&(s, e)| s <= second && second < e)
    }

    /// `t` itself when the calendar is open at `t`, else the next opening.
    pub fn next_open(&self, t: DateTime) -> Result<DateTime, CalendarError> {
        self.add_business(t, TimeDelta::zero())
    }

    /// The instant at which `amount` of business time has elapsed since `start`. A start
    /// outside hours counts from the next opening (so a zero amount gives the next opening);
    /// a result that falls exactly on a window's end stays there, it does not move to the
    /// next opening. The result carries the calendar zone's offset at that instant.
    pub fn add_business(
        &self,
        start: DateTime,
        amount: TimeDelta,
    ) -> Result<DateTime, CalendarError> {
        if amount < TimeDelta::zero() {
            return Err(CalendarError::NegativeDuration {
                seconds: amount.num_seconds(),
            });
        }
        let mut remaining = duration_nanos(amount);
        let mut cursor = nanos_of(start);
        let mut day = self.local_day(start)?;
        let weekly = i128::from(self.inner.weekly_seconds) * NANOS;
        let mut intervals = Vec::with_capacity(4);
        let mut first = true;
        loop {
            if !first {
                // A plain week from `day` lies wholly after `cursor`.
                while day <= LAST_DAY && weekly < remaining {
                    charge(1)?;
                    let Some((_, week_end)) = self.plain_week(day) else {
                        break;
                    };
                    remaining -= weekly;
                    cursor = i128::from(week_end) * NANOS;
                    day += 7;
                }
            }
            charge(1)?;
            if day > LAST_DAY {
                return Err(CalendarError::OutOfRange {
                    what: format!("{start} + {} s of business time", amount.num_seconds()),
                });
            }
            self.day_intervals(day, &mut intervals);
            for &(a, b) in &intervals {
                let a = (i128::from(a) * NANOS).max(cursor);
                let b = i128::from(b) * NANOS;
                if b <= a {
                    continue;
                }
                if remaining <= b - a {
                    return self.instant(a + remaining);
                }
                remaining -= b - a;
                cursor = b;
            }
            day += 1;
            first = false;
        }
    }

    /// The business time between `from` and `to`: how much of `[from, to)` the calendar is
    /// open. Zero when `to <= from`.
    pub fn business_time(&self, from: DateTime, to: DateTime) -> Result<TimeDelta, CalendarError> {
        let (start, end) = (nanos_of(from), nanos_of(to));
        if end <= start {
            return Ok(TimeDelta::zero());
        }
        let mut day = self.local_day(from)?;
        self.local_day(to)?;
        let weekly = i128::from(self.inner.weekly_seconds) * NANOS;
        let mut total: i128 = 0;
        let mut cursor = start;
        let mut intervals = Vec::with_capacity(4);
        let mut first = true;
        loop {
            if !first {
                while let Some((_, week_end)) = self.plain_week(day) {
                    charge(1)?;
                    if i128::from(week_end) * NANOS > end {
                        break;
                    }
                    total += weekly;
                    cursor = i128::from(week_end) * NANOS;
                    day += 7;
                }
            }
            if i128::from(day * DAY_SECONDS - MARGIN) * NANOS >= end {
                return Ok(duration_of(total));
            }
            charge(1)?;
            self.day_intervals(day, &mut intervals);
            for &(a, b) in &intervals {
                let a = (i128::from(a) * NANOS).max(cursor);
                let b = (i128::from(b) * NANOS).min(end);
                if b > a {
                    total += b - a;
                    cursor = b;
                }
            }
            day += 1;
            first = false;
        }
    }

    /// Whole seconds of business time between `from` and `to` (floor; 0 when `to <= from`).
    pub fn business_seconds(&self, from: DateTime, to: DateTime) -> Result<i64, CalendarError> {
        self.business_time(from, to).map(|d| d.num_seconds())
    }

    /// Whole minutes of business time between `from` and `to` (floor; 0 when `to <= from`).
    pub fn business_minutes(&self, from: DateTime, to: DateTime) -> Result<i64, CalendarError> {
        self.business_seconds(from, to).map(|s| s.div_euclid(60))
    }

    /// The UTC offset of the calendar's zone at UTC second `ts`, in seconds.
    fn offset_at(&self, ts: i64) -> i64 {
        chrono::DateTime::from_timestamp(ts, 0).map_or(0, |t| {
            i64::from(
                self.inner
                    .timezone
                    .offset_from_utc_datetime(&t.naive_utc())
                    .fix()
                    .local_minus_utc(),
            )
        })
    }

    fn windows(&self, day: i64) -> &[(i64, i64)] {
        self.inner.week.get(weekday(day)).map_or(&[], Vec::as_slice)
    }

    fn is_holiday(&self, day: i64) -> bool {
        self.inner.holidays.binary_search(&day).is_ok()
    }

    /// The local day number of `t`, checked to lie in years 0001-9999.
    fn local_day(&self, t: DateTime) -> Result<i64, CalendarError> {
        let ts = t.0.timestamp();
        let day = (ts + self.offset_at(ts)).div_euclid(DAY_SECONDS);
        if (FIRST_DAY..=LAST_DAY).contains(&day) {
            Ok(day)
        } else {
            Err(CalendarError::OutOfRange {
                what: t.to_string(),
            })
        }
    }

    /// The instant `nanos` after the epoch, with the calendar zone's offset.
    fn instant(&self, nanos: i128) -> Result<DateTime, CalendarError> {
        let out_of_range = || CalendarError::OutOfRange {
            what: "a business-time result".into(),
        };
        let seconds = i64::try_from(nanos.div_euclid(NANOS)).map_err(|_| out_of_range())?;
        let sub = u32::try_from(nanos.rem_euclid(NANOS)).map_err(|_| out_of_range())?;
        let utc = chrono::DateTime::from_timestamp(seconds, sub).ok_or_else(out_of_range)?;
        Ok(DateTime(
            utc.with_timezone(&self.inner.timezone).fixed_offset(),
        ))
    }

    /// When the seven local days from `day` have no holiday and no offset change near them,
    /// the UTC seconds at which they start and end; their business time is then the weekly
    /// total.
    fn plain_week(&self, day: i64) -> Option<(i64, i64)> {
        let holidays = &self.inner.holidays;
        let next = holidays.partition_point(|&h| h < day);
        if holidays.get(next).is_some_and(|&h| h < day + 7) {
            return None;
        }
        let offset = self.offset_at(day * DAY_SECONDS - MARGIN);
        if self.offset_at((day + 7) * DAY_SECONDS + MARGIN - 1) != offset {
            return None;
        }
        Some((day * DAY_SECONDS - offset, (day + 7) * DAY_SECONDS - offset))
    }

    /// The open instants of local day `day`, as sorted UTC `[start, end)` seconds.
    fn day_intervals(&self, day: i64, out: &mut Vec<(i64, i64)>) {
        out.clear();
        let windows = self.windows(day);
        if windows.is_empty() || self.is_holiday(day) {
            return;
        }
        let midnight = day * DAY_SECONDS;
        let last = midnight + DAY_SECONDS + MARGIN - 1;
        let mut piece_start = midnight - MARGIN;
        let mut offset = self.offset_at(piece_start);
        loop {
            // The piece of constant offset that starts at `piece_start`.
            let piece_end = if self.offset_at(last) == offset {
                last + 1
            } else {
                self.next_offset_change(piece_start, last, offset)
            };
            for &(s, e) in windows {
                let a = (midnight + s - offset).max(piece_start);
                let b = (midnight + e - offset).min(piece_end);
                if a < b {
                    push_merged(out, a, b);
                }
            }
            if piece_end > last {
                return;
            }
            piece_start = piece_end;
            offset = self.offset_at(piece_end);
        }
    }

    /// A second in `(same, differs]` at which the offset stops being `offset`, given that it
    /// is `offset` at `same` and not at `differs`.
    fn next_offset_change(&self, mut same: i64, mut differs: i64, offset: i64) -> i64 {
        while differs - same > 1 {
            let mid = same + (differs - same) / 2;
            if self.offset_at(mid) == offset {
                same = mid;
            } else {
                differs = mid;
            }
        }
        differs
    }
}

#[cfg(test)]
mod internal_tests {
    use super::*;

    #[test]
    fn day_numbers_and_weekdays_match_chrono() {
        use chrono::Datelike;
        for (y, m, d) in [
            (1, 1, 1),
            (9999, 12, 31),
            (1970, 1, 1),
            (2025, 3, 9),
            (1969, 12, 31),
        ] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let n = day_number(date);
            assert_eq!(
                weekday(n),
                date.weekday().num_days_from_monday() as usize,
                "{date}"
            );
        }
        assert_eq!(
            day_number(NaiveDate::from_ymd_opt(1, 1, 1).unwrap()),
            FIRST_DAY
        );
        assert_eq!(
            day_number(NaiveDate::from_ymd_opt(9999, 12, 31).unwrap()),
            LAST_DAY
        );
    }
}
