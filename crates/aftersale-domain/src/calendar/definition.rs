//! The text form of a calendar ([`CalendarDef`]) and its validation into the parts a
//! [`Calendar`](super::Calendar) counts with.

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::error::CalendarError;

/// Seconds in a local day without a DST change (and the `24:00` end of a window).
pub(crate) const DAY_SECONDS: i64 = 86_400;

/// The weekday keys of [`WeeklyHours`], Monday first.
pub const WEEKDAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A calendar as written in a script, `contract.toml` or JSON:
/// `{"timezone": "America/New_York", "hours": {"mon": ["09:00-12:00", "13:00-17:00"]},
/// "holidays": ["2025-12-25"]}`.
///
/// It is only text; [`Calendar::new`](super::Calendar::new) checks it. A calendar's
/// [`definition`](super::Calendar::definition) is this form again, normalised (windows sorted,
/// holidays sorted without repeats), and builds the same calendar.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarDef {
    /// The IANA time zone the working windows are local to, e.g. `Europe/Rome`.
    pub timezone: String,
    /// The working windows of each weekday; a weekday without windows is closed.
    #[serde(default)]
    pub hours: WeeklyHours,
    /// Local dates that are closed all day, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// Working windows per weekday, each `HH:MM-HH:MM` in local time, the end excluded
/// (`24:00` may end a window). Several windows per day are allowed (a lunch break is the gap
/// between two); they must not overlap.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    /// Monday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mon: Vec<String>,
    /// Tuesday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tue: Vec<String>,
    /// Wednesday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wed: Vec<String>,
    /// Thursday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thu: Vec<String>,
    /// Friday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fri: Vec<String>,
    /// Saturday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sat: Vec<String>,
    /// Sunday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sun: Vec<String>,
}

impl WeeklyHours {
    /// The same windows on every day of the week.
    pub fn every_day(windows: &[&str]) -> Self {
        let day = || windows.iter().map(|w| (*w).to_string()).collect::<Vec<_>>();
        Self {
            mon: day(),
            tue: day(),
            wed: day(),
            thu: day(),
            fri: day(),
            sat: day(),
            sun: day(),
        }
    }

    /// The same windows Monday to Friday; the weekend closed.
    pub fn weekdays(windows: &[&str]) -> Self {
        let mut hours = Self::every_day(windows);
        hours.sat.clear();
        hours.sun.clear();
        hours
    }

    /// The windows of each weekday, Monday first.
    pub fn days(&self) -> [&Vec<String>; 7] {
        [
            &self.mon, &self.tue, &self.wed, &self.thu, &self.fri, &self.sat, &self.sun,
        ]
    }

    /// The windows of the weekday named `key` (`mon` ... `sun`), if it is one.
    pub fn day_mut(&mut self, key: &str) -> Option<&mut Vec<String>> {
        match key {
            "mon" => Some(&mut self.mon),
            "tue" => Some(&mut self.tue),
            "wed" => Some(&mut self.wed),
            "thu" => Some(&mut self.thu),
            "fri" => Some(&mut self.fri),
            "sat" => Some(&mut self.sat),
            "sun" => Some(&mut self.sun),
            _ => None,
        }
    }
}

/// A working window: local seconds since midnight, `start < end <= 86_400`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Window {
    pub(crate) start: i64,
    pub(crate) end: i64,
}

impl Window {
    fn text(self) -> String {
        format!("{}-{}", clock_text(self.start), clock_text(self.end))
    }
}

/// A checked definition: what a calendar counts with.
pub(crate) struct Checked {
    pub(crate) timezone: Tz,
    /// Per weekday (Monday first), sorted, with touching windows merged.
    pub(crate) week: [Vec<Window>; 7],
    /// Sorted, without repeats.
    pub(crate) holidays: Vec<NaiveDate>,
    /// The definition, normalised.
    pub(crate) normalised: CalendarDef,
}

const WINDOW_FORMAT: &str = "expected `HH:MM-HH:MM`, e.g. `09:00-17:00`";

fn clock_text(seconds: i64) -> String {
    format!("{:02}:{:02}", seconds / 3600, seconds % 3600 / 60)
}

/// Reads `HH:MM` as seconds since midnight; `24:00` only when it ends a window.
fn parse_clock(text: &str, is_end: bool) -> Result<i64, String> {
    let bytes = text.as_bytes();
    let digits = |i: usize, j: usize| -> Option<i64> {
        let pair = bytes.get(i..=j)?;
        pair.iter()
            .all(u8::is_ascii_digit)
            .then(|| pair.iter().fold(0, |n, b| n * 10 + i64::from(b - b'0')))
    };
    let (Some(hours), Some(minutes), 5, Some(b':')) = (
        digits(0, 1),
        digits(3, 4),
        bytes.len(),
        bytes.get(2).copied(),
    ) else {
        return Err(WINDOW_FORMAT.into());
    };
    match (hours, minutes) {
        (24, 0) if is_end => Ok(DAY_SECONDS),
        (24, 0) => Err("`24:00` may only end a window".into()),
        (h, _) if h > 23 => Err(format!(
            "`{text}` is not a time of day (hours go from 00 to 23; `24:00` may end a window)"
        )),
        (_, m) if m > 59 => Err(format!(
            "`{text}` is not a time of day (minutes go from 00 to 59)"
        )),
        (h, m) => Ok(h * 3600 + m * 60),
    }
}

/// Reads one `HH:MM-HH:MM` window; the error is the reason only.
fn parse_window(text: &str) -> Result<Window, String> {
    let Some((start, end)) = text.split_once('-') else {
        return Err(WINDOW_FORMAT.into());
    };
    let start = parse_clock(start.trim(), false)?;
    let end = parse_clock(end.trim(), true)?;
    if end <= start {
        return Err("it must end after it starts".into());
    }
    Ok(Window { start, end })
}

/// The most working windows one weekday may have (one every half hour).
pub const MAX_WINDOWS_PER_DAY: usize = 48;
/// The most holidays a calendar may list (forty years of a country's holidays several times
/// over): each is looked up while counting, and a script could otherwise pass any number.
pub const MAX_HOLIDAYS: usize = 10_000;

/// Fails when a list holds more than `limit` entries.
fn at_most(
    field: impl FnOnce() -> String,
    limit: usize,
    found: usize,
) -> Result<(), CalendarError> {
    if found > limit {
        return Err(CalendarError::TooMany {
            field: field(),
            limit,
            found,
        });
    }
    Ok(())
}

/// Reads a weekday's windows: sorted, checked for overlaps; touching windows are kept apart
/// in the returned text form and merged in the returned working form.
fn parse_day(key: &str, texts: &[String]) -> Result<(Vec<Window>, Vec<Window>), CalendarError> {
    at_most(
        || format!("calendar.hours.{key}"),
        MAX_WINDOWS_PER_DAY,
        texts.len(),
    )?;
    let mut windows = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let window = parse_window(text).map_err(|reason| CalendarError::InvalidWindow {
            field: format!("calendar.hours.{key}[{i}]"),
            text: text.clone(),
            reason,
        })?;
        windows.push((window, text));
    }
    windows.sort();
    let mut merged: Vec<Window> = Vec::with_capacity(windows.len());
    for pair in windows.windows(2) {
        if let [(a, a_text), (b, b_text)] = pair {
            if b.start < a.end {
                return Err(CalendarError::OverlappingWindows {
                    field: format!("calendar.hours.{key}"),
                    first: (*a_text).clone(),
                    second: (*b_text).clone(),
                });
            }
        }
    }
    for (w, _) in &windows {
        match merged.last_mut() {
            Some(last) if last.end == w.start => last.end = w.end,
            _ => merged.push(*w),
        }
    }
    Ok((windows.into_iter().map(|(w, _)| w).collect(), merged))
}

/// Parses an IANA time zone name.
pub(crate) fn parse_timezone(name: &str) -> Result<Tz, CalendarError> {
    name.parse::<Tz>()
        .map_err(|_| CalendarError::UnknownTimeZone { name: name.into() })
}

/// Checks a definition: time zone, windows, holidays.
pub(crate) fn check(def: &CalendarDef) -> Result<Checked, CalendarError> {
    let timezone = parse_timezone(&def.timezone)?;
    let mut week: [Vec<Window>; 7] = Default::default();
    let mut normalised = CalendarDef {
        timezone: timezone.name().to_string(),
        ..CalendarDef::default()
    };
    for (i, (key, texts)) in WEEKDAY_KEYS.iter().zip(def.hours.days()).enumerate() {
        let (sorted, merged) = parse_day(key, texts)?;
        if let (Some(slot), Some(text)) = (week.get_mut(i), normalised.hours.day_mut(key)) {
            *slot = merged;
            *text = sorted.into_iter().map(Window::text).collect();
        }
    }
    if week.iter().all(Vec::is_empty) {
        return Err(CalendarError::NeverOpen);
    }
    at_most(
        || "calendar.holidays".into(),
        MAX_HOLIDAYS,
        def.holidays.len(),
    )?;
    let mut holidays = Vec::with_capacity(def.holidays.len());
    for (i, text) in def.holidays.iter().enumerate() {
        let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
            CalendarError::InvalidHoliday {
                field: format!("calendar.holidays[{i}]"),
                text: text.clone(),
            }
        })?;
        holidays.push(date);
    }
    holidays.sort_unstable();
    holidays.dedup();
    normalised.holidays = holidays
        .iter()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    Ok(Checked {
        timezone,
        week,
        holidays,
        normalised,
    })
}
