//! Unit tests of business time: the DOMAIN.md examples, window ends, lunch breaks, holidays,
//! DST weekends, bad definitions, and a year checked against an independent count.

use aftersale_core::DateTime;
use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};

use super::*;

fn def(timezone: &str, hours: WeeklyHours, holidays: &[&str]) -> CalendarDef {
    CalendarDef {
        timezone: timezone.into(),
        hours,
        holidays: holidays.iter().map(|h| (*h).to_string()).collect(),
    }
}

fn calendar(timezone: &str, hours: WeeklyHours, holidays: &[&str]) -> Calendar {
    Calendar::new(&def(timezone, hours, holidays)).unwrap()
}

/// DOMAIN.md's calendar: Mon-Fri 10:00-18:00.
fn domain_calendar() -> Calendar {
    calendar("Europe/Rome", WeeklyHours::weekdays(&["10:00-18:00"]), &[])
}

/// A local time (no offset) in the calendar's zone, or an RFC 3339 instant.
fn at(cal: &Calendar, text: &str) -> DateTime {
    DateTime::parse(text, cal.timezone()).unwrap()
}

fn plus_minutes(cal: &Calendar, start: &str, minutes: i64) -> String {
    cal.add_business(at(cal, start), TimeDelta::minutes(minutes))
        .unwrap()
        .to_string()
}

fn minutes_between(cal: &Calendar, a: &str, b: &str) -> i64 {
    cal.business_minutes(at(cal, a), at(cal, b)).unwrap()
}

fn error_of(def: &CalendarDef) -> String {
    Calendar::new(def).unwrap_err().to_string()
}

// 2025-06-02 is a Monday, 2025-06-06 a Friday.

#[test]
fn domain_high_ticket_monday_8am() {
    let cal = domain_calendar();
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T08:00", 60),
        "2025-06-02T11:00:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T08:00", 240),
        "2025-06-02T14:00:00+02:00"
    );
}

#[test]
fn domain_urgent_ticket_monday_8pm() {
    let cal = domain_calendar();
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T20:00", 30),
        "2025-06-03T10:30:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T20:00", 120),
        "2025-06-03T12:00:00+02:00"
    );
}

#[test]
fn domain_urgent_ticket_friday_5pm() {
    let cal = domain_calendar();
    assert_eq!(
        plus_minutes(&cal, "2025-06-06T17:00", 30),
        "2025-06-06T17:30:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-06T17:00", 120),
        "2025-06-09T11:00:00+02:00"
    );
    assert_eq!(
        minutes_between(&cal, "2025-06-06T17:00", "2025-06-09T11:00"),
        120
    );
}

#[test]
fn r_deadline_on_window_end_stays_there() {
    let cal = domain_calendar();
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T17:00", 60),
        "2025-06-02T18:00:00+02:00"
    );
    // Also when the amount fills whole days: Monday 10:00 + 8 h is Monday 18:00.
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T10:00", 480),
        "2025-06-02T18:00:00+02:00"
    );
    // Friday's end, not Monday's opening, after a full week.
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T10:00", 5 * 480),
        "2025-06-06T18:00:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T10:00", 10 * 480),
        "2025-06-13T18:00:00+02:00"
    );
    // A whole week jumped exactly uses up the amount: the deadline is that week's last end.
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T10:00", 6 * 480),
        "2025-06-09T18:00:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T10:00", 11 * 480),
        "2025-06-16T18:00:00+02:00"
    );
}

#[test]
fn zero_from_outside_hours_is_the_next_opening() {
    let cal = domain_calendar();
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T20:00", 0),
        "2025-06-03T10:00:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T18:00", 0),
        "2025-06-03T10:00:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-06T18:00", 0),
        "2025-06-09T10:00:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T11:15", 0),
        "2025-06-02T11:15:00+02:00"
    );
}

#[test]
fn is_open_and_next_open_use_half_open_windows() {
    let cal = domain_calendar();
    assert!(!cal.is_open(at(&cal, "2025-06-02T09:59:59")));
    assert!(cal.is_open(at(&cal, "2025-06-02T10:00")));
    assert!(cal.is_open(at(&cal, "2025-06-02T17:59:59")));
    assert!(!cal.is_open(at(&cal, "2025-06-02T18:00")));
    assert!(!cal.is_open(at(&cal, "2025-06-07T12:00")));
    let t = at(&cal, "2025-06-02T12:00");
    assert_eq!(cal.next_open(t).unwrap(), t);
    assert_eq!(
        cal.next_open(at(&cal, "2025-06-07T12:00"))
            .unwrap()
            .to_string(),
        "2025-06-09T10:00:00+02:00"
    );
    // An instant given in another offset is answered in the calendar's.
    let utc = DateTime::parse("2025-06-02T17:00:00Z", chrono_tz::UTC).unwrap();
    assert_eq!(
        cal.next_open(utc).unwrap().to_string(),
        "2025-06-03T10:00:00+02:00"
    );
}

#[test]
fn business_time_is_zero_when_the_end_is_not_after_the_start() {
    let cal = domain_calendar();
    assert_eq!(
        minutes_between(&cal, "2025-06-02T12:00", "2025-06-02T12:00"),
        0
    );
    assert_eq!(
        minutes_between(&cal, "2025-06-02T12:00", "2025-06-02T11:00"),
        0
    );
    assert_eq!(
        minutes_between(&cal, "2025-06-02T12:00", "2025-06-02T12:00:59"),
        0
    );
    assert_eq!(
        cal.business_seconds(
            at(&cal, "2025-06-02T12:00"),
            at(&cal, "2025-06-02T12:00:59")
        )
        .unwrap(),
        59
    );
}

#[test]
fn sub_second_instants_are_kept() {
    let cal = domain_calendar();
    let start = at(&cal, "2025-06-02T17:59:59.250");
    let due = cal.add_business(start, TimeDelta::seconds(2)).unwrap();
    assert_eq!(due.to_string(), "2025-06-03T10:00:01.250+02:00");
    assert_eq!(
        cal.business_time(start, due).unwrap(),
        TimeDelta::seconds(2)
    );
}

#[test]
fn lunch_break_is_skipped() {
    let cal = calendar(
        "Europe/Rome",
        WeeklyHours::weekdays(&["13:00-17:00", "09:00-12:00"]),
        &[],
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T11:30", 60),
        "2025-06-02T13:30:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T11:00", 60),
        "2025-06-02T12:00:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T12:15", 0),
        "2025-06-02T13:00:00+02:00"
    );
    assert_eq!(
        minutes_between(&cal, "2025-06-02T08:00", "2025-06-02T18:00"),
        7 * 60
    );
    assert!(!cal.is_open(at(&cal, "2025-06-02T12:30")));
    // The definition is normalised: windows sorted.
    assert_eq!(cal.definition().hours.mon, ["09:00-12:00", "13:00-17:00"]);
}

#[test]
fn touching_windows_and_24_00_ends() {
    let hours = WeeklyHours {
        mon: vec!["12:00-24:00".into(), "08:00-12:00".into()],
        tue: vec!["00:00-02:00".into()],
        ..WeeklyHours::default()
    };
    let cal = calendar("UTC", hours, &[]);
    assert!(cal.is_open(at(&cal, "2025-06-02T12:00")));
    assert!(cal.is_open(at(&cal, "2025-06-02T23:59")));
    assert!(cal.is_open(at(&cal, "2025-06-03T00:00")));
    // Monday 08:00 + 18 h runs through midnight into Tuesday's window.
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T08:00", 17 * 60),
        "2025-06-03T01:00:00+00:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-06-02T08:00", 16 * 60),
        "2025-06-03T00:00:00+00:00"
    );
    assert_eq!(
        minutes_between(&cal, "2025-06-02T00:00", "2025-06-04T00:00"),
        18 * 60
    );
}

#[test]
fn holiday_monday_is_skipped() {
    // 2025-04-21 is Easter Monday.
    let cal = calendar(
        "Europe/Rome",
        WeeklyHours::weekdays(&["10:00-18:00"]),
        &["2025-04-21"],
    );
    assert_eq!(
        plus_minutes(&cal, "2025-04-18T17:00", 120),
        "2025-04-22T11:00:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-04-19T09:00", 0),
        "2025-04-22T10:00:00+02:00"
    );
    assert!(!cal.is_open(at(&cal, "2025-04-21T12:00")));
    assert_eq!(
        minutes_between(&cal, "2025-04-18T17:00", "2025-04-22T11:00"),
        120
    );
    // A week that contains the holiday counts four days.
    assert_eq!(
        minutes_between(&cal, "2025-04-20T00:00", "2025-04-27T00:00"),
        4 * 480
    );
    assert_eq!(
        minutes_between(&cal, "2025-04-27T00:00", "2025-05-04T00:00"),
        5 * 480
    );
}

#[test]
fn holidays_are_normalised() {
    let cal = calendar(
        "Europe/Rome",
        WeeklyHours::weekdays(&["10:00-18:00"]),
        &["2025-12-26", "2025-12-25", "2025-12-26"],
    );
    assert_eq!(cal.definition().holidays, ["2025-12-25", "2025-12-26"]);
    let again = Calendar::new(cal.definition()).unwrap();
    assert_eq!(again, cal);
}

// DST: New York springs forward on Sunday 2025-03-09 (02:00 -> 03:00) and falls back on
// Sunday 2025-11-02 (02:00 -> 01:00); Rome on Sunday 2025-03-30 (02:00 -> 03:00) and Sunday
// 2025-10-26 (03:00 -> 02:00).

#[test]
fn dst_new_york_office_hours_keep_their_local_times() {
    let cal = calendar(
        "America/New_York",
        WeeklyHours::weekdays(&["09:00-17:00"]),
        &[],
    );
    // Friday before the change is EST, Monday after is EDT; both open at 09:00 local.
    assert_eq!(
        plus_minutes(&cal, "2025-03-07T16:00", 120),
        "2025-03-10T10:00:00-04:00"
    );
    assert_eq!(
        minutes_between(&cal, "2025-03-07T16:00", "2025-03-10T10:00"),
        120
    );
    assert_eq!(
        plus_minutes(&cal, "2025-10-31T16:00", 120),
        "2025-11-03T10:00:00-05:00"
    );
    assert_eq!(
        cal.next_open(at(&cal, "2025-03-08T12:00"))
            .unwrap()
            .to_string(),
        "2025-03-10T09:00:00-04:00"
    );
    // A whole week across each change is still 40 h.
    assert_eq!(
        minutes_between(&cal, "2025-03-03T00:00", "2025-03-17T00:00"),
        80 * 60
    );
    assert_eq!(
        minutes_between(&cal, "2025-10-27T00:00", "2025-11-10T00:00"),
        80 * 60
    );
}

#[test]
fn dst_window_on_the_change_day_shifts_its_utc_instants() {
    let cal = calendar(
        "America/New_York",
        WeeklyHours::every_day(&["09:00-17:00"]),
        &[],
    );
    // Saturday 09:00 EST = 14:00Z, Sunday 09:00 EDT = 13:00Z.
    let sat = cal.next_open(at(&cal, "2025-03-08T00:00")).unwrap();
    let sun = cal.next_open(at(&cal, "2025-03-09T00:00")).unwrap();
    assert_eq!(sat.to_string(), "2025-03-08T09:00:00-05:00");
    assert_eq!(sun.to_string(), "2025-03-09T09:00:00-04:00");
    assert_eq!(sat.0.naive_utc().to_string(), "2025-03-08 14:00:00");
    assert_eq!(sun.0.naive_utc().to_string(), "2025-03-09 13:00:00");
    assert_eq!(
        minutes_between(&cal, "2025-03-09T00:00", "2025-03-10T00:00"),
        8 * 60
    );
    assert_eq!(
        minutes_between(&cal, "2025-11-02T00:00", "2025-11-03T00:00"),
        8 * 60
    );
}

#[test]
fn dst_window_over_the_skipped_or_repeated_hour_counts_real_time() {
    let cal = calendar(
        "America/New_York",
        WeeklyHours::every_day(&["00:00-04:00"]),
        &[],
    );
    assert_eq!(
        minutes_between(&cal, "2025-03-08T00:00", "2025-03-09T00:00"),
        4 * 60
    );
    assert_eq!(
        minutes_between(&cal, "2025-03-09T00:00", "2025-03-10T00:00"),
        3 * 60
    );
    assert_eq!(
        minutes_between(&cal, "2025-11-02T00:00", "2025-11-03T00:00"),
        5 * 60
    );
    // Spring: 00:00 EST + 3 h is the window's end, 04:00 EDT.
    assert_eq!(
        plus_minutes(&cal, "2025-03-09T00:00", 180),
        "2025-03-09T04:00:00-04:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-03-09T00:00", 181),
        "2025-03-10T00:01:00-04:00"
    );
    // Autumn: 00:00 EDT + 4 h is 03:00 EST, the window still has an hour.
    assert_eq!(
        plus_minutes(&cal, "2025-11-02T00:00", 240),
        "2025-11-02T03:00:00-05:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-11-02T00:00", 300),
        "2025-11-02T04:00:00-05:00"
    );
    // Both 01:30s are open.
    assert!(cal.is_open(at(&cal, "2025-11-02T01:30:00-04:00")));
    assert!(cal.is_open(at(&cal, "2025-11-02T01:30:00-05:00")));
}

#[test]
fn dst_window_inside_the_skipped_hour_is_empty_that_day() {
    let cal = calendar("Europe/Rome", WeeklyHours::every_day(&["02:00-03:00"]), &[]);
    assert_eq!(
        minutes_between(&cal, "2025-03-29T00:00", "2025-03-30T00:00"),
        60
    );
    assert_eq!(
        minutes_between(&cal, "2025-03-30T00:00", "2025-03-31T00:00"),
        0
    );
    assert_eq!(
        minutes_between(&cal, "2025-10-26T00:00", "2025-10-27T00:00"),
        120
    );
    assert_eq!(
        plus_minutes(&cal, "2025-03-29T02:30", 60),
        "2025-03-31T02:30:00+02:00"
    );
}

#[test]
fn dst_rome_office_hours() {
    let cal = calendar("Europe/Rome", WeeklyHours::weekdays(&["10:00-18:00"]), &[]);
    assert_eq!(
        plus_minutes(&cal, "2025-03-28T17:00", 120),
        "2025-03-31T11:00:00+02:00"
    );
    assert_eq!(
        plus_minutes(&cal, "2025-10-24T17:00", 120),
        "2025-10-27T11:00:00+01:00"
    );
    assert_eq!(
        minutes_between(&cal, "2025-10-24T17:00", "2025-10-27T11:00"),
        120
    );
}

#[test]
fn dst_24x7_days_last_23_and_25_hours() {
    for (zone, spring, autumn) in [
        ("America/New_York", "2025-03-09", "2025-11-02"),
        ("Europe/Rome", "2025-03-30", "2025-10-26"),
    ] {
        let cal = Calendar::always_open(zone.parse().unwrap());
        let day = |date: &str| {
            let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
            let next = d.succ_opt().unwrap();
            cal.business_seconds(
                at(&cal, &format!("{d}T00:00")),
                at(&cal, &format!("{next}T00:00")),
            )
            .unwrap()
        };
        assert_eq!(day(spring), 23 * 3600, "{zone} {spring}");
        assert_eq!(day(autumn), 25 * 3600, "{zone} {autumn}");
        assert_eq!(day("2025-06-15"), 24 * 3600, "{zone}");
    }
    let rome = Calendar::always_open(chrono_tz::Europe::Rome);
    assert_eq!(
        plus_minutes(&rome, "2025-03-30T00:00", 24 * 60),
        "2025-03-31T01:00:00+02:00"
    );
    assert_eq!(
        plus_minutes(&rome, "2025-10-26T00:00", 24 * 60),
        "2025-10-26T23:00:00+01:00"
    );
    assert!(rome.is_open(at(&rome, "2025-10-26T02:30")));
    // A year that starts and ends in winter time has 8760 hours.
    assert_eq!(
        minutes_between(&rome, "2025-01-01T00:00", "2026-01-01T00:00"),
        8760 * 60
    );
}

#[test]
fn one_year_matches_working_days_times_hours() {
    let holidays = [
        "2025-01-01",
        "2025-01-20",
        "2025-02-17",
        "2025-05-26",
        "2025-06-19",
        "2025-07-04",
        "2025-09-01",
        "2025-10-13",
        "2025-11-11",
        "2025-11-27",
        "2025-12-25",
    ];
    let cal = calendar(
        "America/New_York",
        WeeklyHours::weekdays(&["09:00-12:00", "13:00-17:00"]),
        &holidays,
    );
    // Independent count: every date of 2025, Monday to Friday, not a holiday, 7 hours.
    let mut working_days = 0;
    let mut d = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    while d.year() == 2025 {
        let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        if !weekend && !holidays.contains(&d.format("%Y-%m-%d").to_string().as_str()) {
            working_days += 1;
        }
        d = d.succ_opt().unwrap();
    }
    assert_eq!(working_days, 261 - 11);
    let expected = working_days * 7 * 3600;
    let (start, end) = (at(&cal, "2025-01-01T00:00"), at(&cal, "2026-01-01T00:00"));
    assert_eq!(cal.business_seconds(start, end).unwrap(), expected);
    // The same amount added from New Year lands on the last window's end of the year.
    let due = cal
        .add_business(start, TimeDelta::seconds(expected))
        .unwrap();
    assert_eq!(due.to_string(), "2025-12-31T17:00:00-05:00");
    assert_eq!(cal.business_seconds(start, due).unwrap(), expected);
}

#[test]
fn negative_amounts_and_far_years_are_errors() {
    let cal = domain_calendar();
    let t = at(&cal, "2025-06-02T12:00");
    assert!(matches!(
        cal.add_business(t, TimeDelta::seconds(-1)),
        Err(CalendarError::NegativeDuration { seconds: -1 })
    ));
    let err = cal.add_business(t, TimeDelta::days(4_000_000)).unwrap_err();
    assert!(matches!(err, CalendarError::OutOfRange { .. }), "{err}");
    // About 10,000 years later.
    let far = t.add_seconds(315_000_000_000).unwrap();
    assert!(cal.business_seconds(t, far).is_err());
    assert!(cal.is_open(t));
}

fn weekdays(windows: &[&str]) -> WeeklyHours {
    WeeklyHours::weekdays(windows)
}

#[test]
fn bad_definitions_name_the_field() {
    let good = weekdays(&["09:00-17:00"]);
    assert_eq!(
        error_of(&def("Mars/Base", good.clone(), &[])),
        "calendar.timezone: unknown time zone `Mars/Base`"
    );
    let cases: [(&[&str], &str); 9] = [
        (&["25:00-26:00"], "calendar.hours.mon[0]: invalid window `25:00-26:00`: `25:00` is not a time of day"),
        (&["09:00-25:00"], "calendar.hours.mon[0]: invalid window `09:00-25:00`: `25:00` is not a time of day"),
        (&["9-5"], "calendar.hours.mon[0]: invalid window `9-5`: expected `HH:MM-HH:MM`, e.g. `09:00-17:00`"),
        (&["09:00"], "calendar.hours.mon[0]: invalid window `09:00`: expected `HH:MM-HH:MM`"),
        (&["09:60-10:00"], "minutes go from 00 to 59"),
        (&["17:00-09:00"], "calendar.hours.mon[0]: invalid window `17:00-09:00`: it must end after it starts"),
        (&["09:00-09:00"], "it must end after it starts"),
        (&["24:00-24:00"], "`24:00` may only end a window"),
        (&["09:00-12:00", "11:00-13:00"], "calendar.hours.mon: windows `09:00-12:00` and `11:00-13:00` overlap"),
    ];
    for (windows, expected) in cases {
        let mut hours = good.clone();
        hours.mon = windows.iter().map(|w| (*w).to_string()).collect();
        let err = error_of(&def("Europe/Rome", hours, &[]));
        assert!(
            err.starts_with(expected) || err.contains(expected),
            "{windows:?}: {err}"
        );
    }
    let mut hours = good.clone();
    hours.fri = vec!["08:00-09:00".into(), "bad".into()];
    assert!(error_of(&def("UTC", hours, &[]))
        .starts_with("calendar.hours.fri[1]: invalid window `bad`"));
    assert_eq!(
        error_of(&def("UTC", good.clone(), &["2025-01-01", "2025-02-30"])),
        "calendar.holidays[1]: invalid date `2025-02-30`: expected an existing date as YYYY-MM-DD"
    );
    assert!(error_of(&def("UTC", good, &["25/12/2025"])).contains("calendar.holidays[0]"));
    assert_eq!(
        error_of(&def("UTC", WeeklyHours::default(), &[])),
        "calendar.hours: no working window on any weekday, so the calendar never opens"
    );
}

#[test]
fn definitions_round_trip_through_json() {
    let json = serde_json::json!({
        "timezone": "America/New_York",
        "hours": {"mon": ["13:00-17:00", "09:00-12:00"], "sat": ["10:00-14:00"]},
        "holidays": ["2025-12-25"]
    });
    let def: CalendarDef = serde_json::from_value(json).unwrap();
    let cal = Calendar::new(&def).unwrap();
    assert_eq!(
        serde_json::to_value(cal.definition()).unwrap(),
        serde_json::json!({
            "timezone": "America/New_York",
            "hours": {"mon": ["09:00-12:00", "13:00-17:00"], "sat": ["10:00-14:00"]},
            "holidays": ["2025-12-25"]
        })
    );
    let typo = serde_json::json!({"timezone": "UTC", "hours": {"mnd": ["09:00-17:00"]}});
    assert!(serde_json::from_value::<CalendarDef>(typo).is_err());
    let always = Calendar::always_open(chrono_tz::Europe::Rome);
    assert_eq!(Calendar::new(always.definition()).unwrap(), always);
}
