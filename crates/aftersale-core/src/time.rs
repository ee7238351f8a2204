//! Calendar dates and zoned instants as scripts see them, with the period arithmetic of
//! DOMAIN.md: adding months clamps to the last day of the month (Jan 31 + 1 month = Feb 28
//! or 29), and whole months between two dates count how far one can add months without
//! passing the later date.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, FixedOffset, LocalResult, Months, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// A calendar date with no time of day and no zone (`date("2024-02-29")` in scripts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

/// An instant with the UTC offset it was given in (`datetime(...)` and `as_of` in scripts).
/// Comparisons compare instants, whatever the offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(pub chrono::DateTime<FixedOffset>);

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written: chrono's formatter parses its pattern on every call.
        let (y, m, d) = (self.0.year(), self.0.month(), self.0.day());
        if (0..=9999).contains(&y) {
            write!(f, "{y:04}-{m:02}-{d:02}")
        } else {
            write!(f, "{y:+05}-{m:02}-{d:02}")
        }
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
    }
}

/// `YYYY-MM-DD`, exactly ten ASCII characters, read directly; `None` for any other text or
/// a day that does not exist.
fn canonical_date(b: &[u8]) -> Option<NaiveDate> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = *b else {
        return None;
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| u32::from(c - b'0'));
    let year = digit(y1)? * 1000 + digit(y2)? * 100 + digit(y3)? * 10 + digit(y4)?;
    let month = digit(m1)? * 10 + digit(m2)?;
    let day = digit(d1)? * 10 + digit(d2)?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

impl Date {
    /// Reads an ISO date, `YYYY-MM-DD`. `2025-02-30` is an error, not March 2nd.
    pub fn parse(text: &str) -> Result<Self, String> {
        // The canonical form without chrono's format machinery (a hot path: facts hold
        // dates); anything else goes through chrono, which also words the error.
        if let Some(date) = canonical_date(text.as_bytes()) {
            return Ok(Self(date));
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Self)
            .map_err(|e| format!("invalid date `{text}` ({e}): expected YYYY-MM-DD"))
    }

    /// Adds (or with a negative `days`, subtracts) calendar days.
    pub fn add_days(self, days: i64) -> Result<Self, String> {
        chrono::Duration::try_days(days)
            .and_then(|d| self.0.checked_add_signed(d))
            .map(Self)
            .ok_or_else(|| format!("date out of range: {self} + {days} days"))
    }

    /// Adds calendar months; a day that does not exist in the target month becomes that
    /// month's last day (2024-01-31 + 1 month = 2024-02-29).
    pub fn add_months(self, months: i64) -> Result<Self, String> {
        let magnitude = u32::try_from(months.unsigned_abs()).ok().map(Months::new);
        let result = match magnitude {
            Some(m) if months >= 0 => self.0.checked_add_months(m),
            Some(m) => self.0.checked_sub_months(m),
            None => None,
        };
        result
            .map(Self)
            .ok_or_else(|| format!("date out of range: {self} + {months} months"))
    }

    /// Adds years as 12 months each, so Feb 29 + 1 year = Feb 28.
    pub fn add_years(self, years: i64) -> Result<Self, String> {
        let months = years
            .checked_mul(12)
            .ok_or_else(|| format!("date out of range: {self} + {years} years"))?;
        self.add_months(months)
    }

    /// `later - self` in days (negative when `later` is earlier).
    pub fn days_until(self, later: Self) -> i64 {
        (later.0 - self.0).num_days()
    }

    /// Whole calendar months from `self` to `other`: the largest `n` such that
    /// `self.add_months(n) <= other` (negated when `other` is earlier).
    pub fn whole_months_until(self, other: Self) -> i64 {
        if other < self {
            return -other.whole_months_until(self);
        }
        let guess = (i64::from(other.0.year()) - i64::from(self.0.year())) * 12
            + i64::from(other.0.month())
            - i64::from(self.0.month());
        match self.add_months(guess) {
            Ok(d) if d <= other => guess,
            _ => guess - 1,
        }
    }

    /// The last day of this date's month.
    pub fn end_of_month(self) -> Self {
        let first = self.0.with_day(1).unwrap_or(self.0);
        match first
            .checked_add_months(Months::new(1))
            .and_then(|d| d.pred_opt())
        {
            Some(d) => Self(d),
            None => self,
        }
    }

    /// The instant this date starts in `tz` (00:00, or the first instant after a gap when a
    /// DST change skips midnight).
    pub fn start_in(self, tz: Tz) -> Result<DateTime, String> {
        let midnight = self.0.and_hms_opt(0, 0, 0).unwrap_or_default();
        local_to_instant(midnight, tz).ok_or_else(|| format!("no instant for {self} in {tz}"))
    }
}

/// Resolves a local wall-clock time in `tz` to an instant: ambiguous times (DST fall back)
/// take the earlier instant, times in a gap (DST spring forward) move past the gap.
pub(crate) fn local_to_instant(local: NaiveDateTime, tz: Tz) -> Option<DateTime> {
    let resolved = match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t),
        LocalResult::None => (1..=4).find_map(|h| {
            tz.from_local_datetime(&(local + chrono::Duration::hours(h)))
                .earliest()
        }),
    }?;
    Some(DateTime(resolved.fixed_offset()))
}

impl DateTime {
    /// Reads an RFC 3339 datetime with an offset (`2025-03-07T16:00:00-05:00`), or a local
    /// datetime without one (`2025-03-07T16:00:00`), which is taken in `tz`.
    /// More than 9 fractional-second digits is an error: an instant keeps nanoseconds, and
    /// chrono would drop the rest silently.
    pub fn parse(text: &str, tz: Tz) -> Result<Self, String> {
        check_fraction_digits(text)?;
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
            return Ok(Self(t));
        }
        let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
            .map_err(|_| {
                format!(
                    "invalid datetime `{text}`: expected RFC 3339, e.g. 2025-03-07T16:00:00-05:00"
                )
            })?;
        local_to_instant(local, tz).ok_or_else(|| format!("no instant for `{text}` in {tz}"))
    }

    /// Reads an `as_of` text: a datetime as [`DateTime::parse`] does, or a bare date, which
    /// means the start of that day in `tz`.
    pub fn parse_as_of(text: &str, tz: Tz) -> Result<Self, String> {
        match Date::parse(text) {
            Ok(d) => d.start_in(tz),
            Err(_) => Self::parse(text, tz),
        }
    }

    /// Whether this instant's year is within [`AS_OF_YEARS`] as written (in its own offset),
    /// in UTC and in `tz`: a decision's `as_of` must read back as the same instant.
    pub fn years_within_as_of_range(self, tz: Tz) -> bool {
        [
            self.0.year(),
            self.0.naive_utc().year(),
            self.0.with_timezone(&tz).year(),
        ]
        .iter()
        .all(|y| AS_OF_YEARS.contains(y))
    }

    /// The local calendar date of this instant in `tz`.
    pub fn date_in(self, tz: Tz) -> Date {
        Date(self.0.with_timezone(&tz).date_naive())
    }

    /// This instant expressed in `tz` (same instant, that zone's offset).
    pub fn in_zone(self, tz: Tz) -> Self {
        Self(self.0.with_timezone(&tz).fixed_offset())
    }

    /// Adds seconds (negative subtracts).
    pub fn add_seconds(self, seconds: i64) -> Result<Self, String> {
        chrono::Duration::try_seconds(seconds)
            .and_then(|d| self.0.checked_add_signed(d))
            .map(Self)
            .ok_or_else(|| format!("datetime out of range: {self} + {seconds} s"))
    }

    /// Whole seconds from `self` to `later` (negative when `later` is earlier).
    pub fn seconds_until(self, later: Self) -> i64 {
        (later.0 - self.0).num_seconds()
    }
}

/// The years an `as_of` may fall in: those RFC 3339 and `YYYY-MM-DD` write with four digits
/// (year 0 and years past 9999 would print as text no reader of a decision takes back).
pub const AS_OF_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// The most fractional-second digits an instant keeps (nanoseconds).
pub const MAX_FRACTION_DIGITS: usize = 9;

/// Refuses a datetime text with more fractional-second digits than an instant keeps, rather
/// than letting the parser truncate them.
pub(crate) fn check_fraction_digits(text: &str) -> Result<(), String> {
    match too_many_fraction_digits(text) {
        Some(why) => Err(format!("invalid datetime `{text}`: {why}")),
        None => Ok(()),
    }
}

/// Why a datetime text has more fractional-second digits than kept, if it has. A datetime's
/// only `.` is the one before its fraction.
fn too_many_fraction_digits(text: &str) -> Option<String> {
    let (_, after) = text.split_once('.')?;
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    (digits > MAX_FRACTION_DIGITS).then(|| {
        format!("{digits} fractional-second digits, more than the {MAX_FRACTION_DIGITS} (nanoseconds) an instant keeps")
    })
}

/// Reads an `as_of` text for a contract in `tz`, as [`DateTime::parse_as_of`] does, and
/// refuses what it cannot keep exactly: more than 9 fractional-second digits, or an instant
/// outside [`AS_OF_YEARS`]. The one reading of `as_of` (`Contract::parse_as_of`), for the CLI,
/// the server, test cases and the testkit alike.
pub(crate) fn read_as_of(text: &str, tz: Tz) -> Result<DateTime, crate::error::AsOfError> {
    let refused = |reason: String| crate::error::AsOfError {
        text: text.to_string(),
        reason: Some(reason),
    };
    if let Some(why) = too_many_fraction_digits(text) {
        return Err(refused(why));
    }
    let t = DateTime::parse_as_of(text, tz).map_err(|_| crate::error::AsOfError {
        text: text.to_string(),
        reason: None,
    })?;
    if !t.years_within_as_of_range(tz) {
        return Err(refused(format!(
            "the instant must fall in the years {} to {} (as written, in UTC and in the contract's time zone {tz})",
            AS_OF_YEARS.start(),
            AS_OF_YEARS.end()
        )));
    }
    Ok(t)
}

impl FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn r_month_end_add_months_clamps() {
        assert_eq!(d("2024-01-31").add_months(1).unwrap(), d("2024-02-29"));
        assert_eq!(d("2023-01-31").add_months(1).unwrap(), d("2023-02-28"));
        assert_eq!(d("2024-01-31").add_months(2).unwrap(), d("2024-03-31"));
        assert_eq!(d("2024-03-31").add_months(-1).unwrap(), d("2024-02-29"));
        assert_eq!(d("2024-01-15").add_months(24).unwrap(), d("2026-01-15"));
    }

    #[test]
    fn r_leap_day_add_years_clamps() {
        assert_eq!(d("2024-02-29").add_years(1).unwrap(), d("2025-02-28"));
        assert_eq!(d("2024-02-29").add_years(4).unwrap(), d("2028-02-29"));
        assert_eq!(d("2024-02-29").add_years(-1).unwrap(), d("2023-02-28"));
    }

    #[test]
    fn chained_months_drift_but_anchored_do_not() {
        let chained = d("2024-01-31")
            .add_months(1)
            .unwrap()
            .add_months(1)
            .unwrap();
        assert_eq!(chained, d("2024-03-29"));
        assert_eq!(d("2024-01-31").add_months(2).unwrap(), d("2024-03-31"));
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        assert!(d("2024-01-31").add_months(i64::MAX).is_err());
        assert!(d("2024-01-31").add_years(i64::MAX).is_err());
        assert!(d("2024-01-31").add_days(i64::MAX).is_err());
        assert!(d("2024-01-31").add_days(i64::MIN).is_err());
    }

    #[test]
    fn invalid_dates_are_rejected() {
        assert!(Date::parse("2025-02-30").is_err());
        assert!(Date::parse("2025-13-01").is_err());
        assert!(Date::parse("20250101").is_err());
        assert!(Date::parse("2024-02-29").is_ok());
    }

    #[test]
    fn days_between_is_signed() {
        assert_eq!(d("2024-01-01").days_until(d("2024-03-01")), 60);
        assert_eq!(d("2024-03-01").days_until(d("2024-01-01")), -60);
    }

    #[test]
    fn whole_months_follow_the_clamping_rule() {
        assert_eq!(d("2024-01-31").whole_months_until(d("2024-02-29")), 1);
        assert_eq!(d("2024-01-31").whole_months_until(d("2024-02-28")), 0);
        assert_eq!(d("2024-02-29").whole_months_until(d("2025-02-28")), 12);
        assert_eq!(d("2024-01-15").whole_months_until(d("2026-01-14")), 23);
        assert_eq!(d("2024-01-15").whole_months_until(d("2026-01-15")), 24);
        assert_eq!(d("2026-01-15").whole_months_until(d("2024-01-15")), -24);
        assert_eq!(d("2024-05-10").whole_months_until(d("2024-05-10")), 0);
    }

    #[test]
    fn end_of_month_handles_february() {
        assert_eq!(d("2024-02-10").end_of_month(), d("2024-02-29"));
        assert_eq!(d("2023-02-10").end_of_month(), d("2023-02-28"));
        assert_eq!(d("2023-12-31").end_of_month(), d("2023-12-31"));
    }

    #[test]
    fn as_of_bare_date_is_local_midnight() {
        let t = DateTime::parse_as_of("2025-03-07", chrono_tz::Europe::Rome).unwrap();
        assert_eq!(t.to_string(), "2025-03-07T00:00:00+01:00");
        let t = DateTime::parse_as_of("2025-07-07", chrono_tz::Europe::Rome).unwrap();
        assert_eq!(t.to_string(), "2025-07-07T00:00:00+02:00");
    }

    #[test]
    fn local_date_depends_on_the_zone() {
        let t = DateTime::parse("2025-03-07T23:30:00-05:00", chrono_tz::UTC).unwrap();
        assert_eq!(t.date_in(chrono_tz::America::New_York), d("2025-03-07"));
        assert_eq!(t.date_in(chrono_tz::Europe::Rome), d("2025-03-08"));
    }

    #[test]
    fn local_time_in_a_dst_gap_moves_past_it() {
        // 2025-03-30 02:30 does not exist in Rome (clocks jump 02:00 -> 03:00).
        let t = DateTime::parse("2025-03-30T02:30:00", chrono_tz::Europe::Rome).unwrap();
        assert_eq!(t.to_string(), "2025-03-30T03:30:00+02:00");
    }

    #[test]
    fn comparisons_use_instants_not_offsets() {
        let a = DateTime::parse("2025-03-07T16:00:00-05:00", chrono_tz::UTC).unwrap();
        let b = DateTime::parse("2025-03-07T21:00:00Z", chrono_tz::UTC).unwrap();
        assert_eq!(a, b);
    }
}
