//! The calendar plugin from outside: laws of business time (proptest) on random calendars,
//! and calendars evaluated through the engine as a contract uses them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use aftersale_core::{BundleSource, DateTime, Engine, EvalError, Request};
use aftersale_domain::calendar::{Calendar, CalendarDef, CalendarPlugin, WeeklyHours};
use chrono::TimeDelta;
use proptest::prelude::*;
use serde_json::json;

// ---------------------------------------------------------------------------------------
// Random calendars and instants
// ---------------------------------------------------------------------------------------

/// Zones with DST in spring/autumn (NY, Rome), a 30-minute DST shift (Lord Howe), changes at
/// midnight (Santiago), and none (UTC, Kolkata).
const ZONES: [&str; 6] = [
    "America/New_York",
    "Europe/Rome",
    "Australia/Lord_Howe",
    "America/Santiago",
    "UTC",
    "Asia/Kolkata",
];

const YEAR: i64 = 365 * 86_400;

fn clock(quarters: i64) -> String {
    let seconds = quarters * 900;
    format!("{:02}:{:02}", seconds / 3600, seconds % 3600 / 60)
}

/// A weekday's windows: up to three, on quarter hours, not overlapping.
fn day_windows() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(0i64..=96, 0..=6).prop_map(|bounds| {
        let bounds: Vec<i64> = bounds.into_iter().collect();
        bounds
            .chunks_exact(2)
            .map(|pair| format!("{}-{}", clock(pair[0]), clock(pair[1])))
            .collect()
    })
}

fn date_text(days_after_base: i64) -> String {
    DateTime::parse("2024-01-01T00:00:00Z", chrono_tz::UTC)
        .unwrap()
        .add_seconds(days_after_base * 86_400)
        .unwrap()
        .date_in(chrono_tz::UTC)
        .to_string()
}

fn calendars() -> impl Strategy<Value = Calendar> {
    let defined = (
        prop::sample::select(ZONES.to_vec()),
        prop::collection::vec(day_windows(), 7),
        prop::collection::vec(0i64..1200, 0..12),
    )
        .prop_filter("a calendar must open some time", |(_, days, _)| {
            days.iter().any(|d| !d.is_empty())
        })
        .prop_map(|(zone, days, holidays)| {
            let mut hours = WeeklyHours::default();
            for (key, windows) in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .into_iter()
                .zip(days)
            {
                *hours.day_mut(key).unwrap() = windows;
            }
            let def = CalendarDef {
                timezone: zone.into(),
                hours,
                holidays: holidays.into_iter().map(date_text).collect(),
            };
            Calendar::new(&def).unwrap_or_else(|e| panic!("{def:?}: {e}"))
        });
    let always = prop::sample::select(ZONES.to_vec())
        .prop_map(|zone| Calendar::always_open(zone.parse().unwrap()));
    prop_oneof![4 => defined, 1 => always]
}

/// An instant in 2024-2026, whole seconds, given in UTC.
fn instant(seconds_after_base: i64) -> DateTime {
    DateTime::parse("2024-01-01T00:00:00Z", chrono_tz::UTC)
        .unwrap()
        .add_seconds(seconds_after_base)
        .unwrap()
}

fn instants() -> impl Strategy<Value = DateTime> {
    (0..3 * YEAR).prop_map(instant)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn add_business_then_business_minutes_round_trips(
        cal in calendars(),
        start in instants(),
        seconds in prop_oneof![0i64..=3 * 86_400, 0i64..=90 * 86_400],
    ) {
        let due = cal.add_business(start, TimeDelta::seconds(seconds)).unwrap();
        prop_assert!(due >= start);
        prop_assert_eq!(cal.business_seconds(start, due).unwrap(), seconds);
        prop_assert_eq!(cal.business_minutes(start, due).unwrap(), seconds.div_euclid(60));
        // The deadline is the earliest instant with that much business time: never a later
        // opening when the amount runs out exactly at a window's end.
        if seconds > 0 {
            let just_before = due.add_seconds(-1).unwrap();
            prop_assert_eq!(cal.business_seconds(start, just_before).unwrap(), seconds - 1);
        }
        let opening = cal.next_open(start).unwrap();
        prop_assert!(cal.is_open(opening));
        if cal.is_open(start) {
            prop_assert_eq!(opening, start);
        } else {
            prop_assert!(opening > start);
            prop_assert_eq!(cal.business_seconds(start, opening).unwrap(), 0);
            prop_assert_eq!(cal.business_seconds(opening, due).unwrap(), seconds);
        }
        // The calendar zone's offset at the result.
        prop_assert_eq!(due.to_string(), due.in_zone(cal.timezone()).to_string());
    }

    #[test]
    fn business_minutes_is_additive_over_splits(
        cal in calendars(),
        points in prop::collection::vec(instants(), 3),
    ) {
        let mut points = points;
        points.sort();
        let (a, m, b) = (points[0], points[1], points[2]);
        let left = cal.business_seconds(a, m).unwrap();
        let right = cal.business_seconds(m, b).unwrap();
        prop_assert_eq!(left + right, cal.business_seconds(a, b).unwrap());
    }

    #[test]
    fn business_minutes_never_exceeds_wall_minutes(
        cal in calendars(),
        a in instants(),
        b in instants(),
    ) {
        let wall = a.seconds_until(b).max(0);
        let business = cal.business_seconds(a, b).unwrap();
        prop_assert!((0..=wall).contains(&business), "{business} > {wall}");
        prop_assert!(cal.business_minutes(a, b).unwrap() <= wall.div_euclid(60));
    }

    /// An independent oracle: walking minute by minute with `is_open` around DST changes.
    #[test]
    fn business_seconds_agrees_with_is_open_minute_by_minute(
        cal in calendars(),
        change_day in prop::sample::select(vec![
            "2025-03-09", "2025-11-02", "2025-03-30", "2025-10-26",
            "2025-04-06", "2025-09-07", "2025-10-05",
        ]),
        shift_minutes in -2880i64..1440,
        span_minutes in 0i64..4 * 1440,
    ) {
        let day = DateTime::parse(&format!("{change_day}T00:00:00Z"), chrono_tz::UTC).unwrap();
        let a = day.add_seconds(shift_minutes * 60).unwrap();
        let b = a.add_seconds(span_minutes * 60).unwrap();
        let walked = (0..span_minutes)
            .filter(|m| cal.is_open(a.add_seconds(m * 60).unwrap()))
            .count();
        prop_assert_eq!(cal.business_seconds(a, b).unwrap(), i64::try_from(walked).unwrap() * 60);
    }
}

// ---------------------------------------------------------------------------------------
// Through the engine
// ---------------------------------------------------------------------------------------

fn bundle(params: &str, terms: &[(&str, &str)]) -> BundleSource {
    let mut manifest = format!(
        "[contract]\nid = \"sla\"\nversion = \"1\"\ntimezone = \"Europe/Rome\"\nplugins = [\"calendar\"]\n{params}\n"
    );
    let mut source = BundleSource::new("sla");
    for (name, script) in terms {
        manifest.push_str(&format!("[terms.{name}]\n"));
        source = source.with_file(format!("terms/{name}.rhai"), *script);
    }
    source.with_file("contract.toml", manifest)
}

const PARAMS: &str = r#"
[params.calendar]
timezone = "Europe/Rome"
holidays = [2025-04-21]   # a TOML date: Easter Monday

[params.calendar.hours]
mon = ["10:00-18:00"]
tue = ["10:00-18:00"]
wed = ["10:00-18:00"]
thu = ["10:00-18:00"]
fri = ["10:00-18:00"]
"#;

fn evaluate(
    source: &BundleSource,
    facts: serde_json::Value,
) -> Result<serde_json::Map<String, serde_json::Value>, EvalError> {
    let engine = Engine::builder().plugin(CalendarPlugin).build();
    let contract = engine.load(source).unwrap_or_else(|e| panic!("{e}"));
    let as_of = contract.parse_as_of("2025-04-22T10:30:00+02:00").unwrap();
    contract
        .evaluate(&Request::new(facts, as_of).with_outputs(contract.term_names()))
        .map(|d| d.outputs)
}

#[test]
fn engine_computes_a_deadline_from_params() {
    let source = bundle(
        PARAMS,
        &[
            ("hours", "calendar(params.calendar)"),
            (
                "due",
                "terms.hours.add_business_minutes(datetime(facts.opened), facts.minutes)",
            ),
            (
                "clock",
                r#"let cal = terms.hours;
#{
    open: cal.is_open(as_of),
    next: cal.next_open(datetime("2025-04-19T09:00:00")),
    zone: cal.timezone,
    used_minutes: cal.business_minutes(datetime(facts.opened), as_of),
    used_seconds: business_seconds(cal, datetime(facts.opened), as_of),
    by_hours: cal.add_business_hours(datetime(facts.opened), 2),
    always: calendar_24x7("Europe/Rome").add_business_seconds(datetime(facts.opened), 3600),
    text: cal.to_string(),
}"#,
            ),
        ],
    );
    let outputs = evaluate(
        &source,
        json!({"opened": "2025-04-18T17:00:00+02:00", "minutes": 120}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outputs["due"], json!("2025-04-22T11:00:00+02:00"));
    assert_eq!(
        outputs["hours"],
        json!({
            "timezone": "Europe/Rome",
            "hours": {
                "mon": ["10:00-18:00"], "tue": ["10:00-18:00"], "wed": ["10:00-18:00"],
                "thu": ["10:00-18:00"], "fri": ["10:00-18:00"]
            },
            "holidays": ["2025-04-21"]
        })
    );
    let clock = &outputs["clock"];
    assert_eq!(clock["open"], json!(true));
    assert_eq!(clock["next"], json!("2025-04-22T10:00:00+02:00"));
    assert_eq!(clock["zone"], json!("Europe/Rome"));
    assert_eq!(clock["used_minutes"], json!(90));
    assert_eq!(clock["used_seconds"], json!(5400));
    assert_eq!(clock["by_hours"], json!("2025-04-22T11:00:00+02:00"));
    assert_eq!(clock["always"], json!("2025-04-18T18:00:00+02:00"));
    assert!(clock["text"]
        .as_str()
        .unwrap()
        .contains("\"holidays\":[\"2025-04-21\"]"));
}

#[test]
fn engine_script_built_calendar_defaults_to_the_contract_zone() {
    let source = bundle(
        "",
        &[(
            "due",
            r#"let cal = calendar(#{ hours: #{ mon: ["09:00-12:00", "13:00-17:00"] }, holidays: [date("2025-06-09")] });
[cal.timezone, cal.add_business_minutes(datetime("2025-06-02T11:30:00"), 60), cal.next_open(datetime("2025-06-07T00:00:00"))]"#,
        )],
    );
    let outputs = evaluate(&source, json!({})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        outputs["due"],
        json!([
            "Europe/Rome",
            "2025-06-02T13:30:00+02:00",
            "2025-06-16T09:00:00+02:00"
        ])
    );
}

fn term_error(params: &str, script: &str) -> (String, String) {
    let source = bundle(params, &[("deadline", script)]);
    match evaluate(&source, json!({})) {
        Err(EvalError::Term {
            term,
            location,
            message,
        }) => {
            assert_eq!(location.file, "terms/deadline.rhai");
            assert!(location.line.is_some(), "{location}");
            (term, message)
        }
        other => panic!("expected a term error, got {other:?}"),
    }
}

#[test]
fn engine_bad_definition_is_an_evaluation_error_naming_the_term() {
    let (term, message) = term_error(
        "[params.calendar]\ntimezone = \"Mars/Base\"\nhours = { mon = [\"09:00-17:00\"] }\n",
        "calendar(params.calendar)",
    );
    assert_eq!(term, "deadline");
    assert_eq!(message, "calendar.timezone: unknown time zone `Mars/Base`");

    let cases = [
        (
            r#"calendar(#{ timezone: "UTC", hours: #{ mnd: ["09:00-17:00"] } })"#,
            "calendar.hours.mnd: unknown weekday",
        ),
        (
            r#"calendar(#{ hours: #{ mon: [9] } })"#,
            "calendar: calendar.hours.mon[0]: expected a string, found the integer 9",
        ),
        (
            r#"calendar(#{ hours: #{ mon: "09:00-17:00" } })"#,
            "calendar: calendar.hours.mon: expected an array",
        ),
        (
            r#"calendar(#{ hours: #{ mon: ["09:00-17:00"] }, holidays: ["2025-02-30"] })"#,
            "calendar.holidays[0]: invalid date `2025-02-30`",
        ),
        (
            r#"calendar(#{ hours: #{ mon: ["09:00-17:00"] }, holidays: [20250101] })"#,
            "calendar: calendar.holidays[0]: expected a string, found the integer 20250101",
        ),
        (
            r#"calendar(#{ timezone: 1, hours: #{ mon: ["09:00-17:00"] } })"#,
            "calendar: calendar.timezone: expected a string, found the integer 1",
        ),
        (
            r#"calendar(#{ hours: #{ mon: ["09:00-17:00"] }, hollidays: [] })"#,
            "calendar: calendar.hollidays: unknown key (allowed: timezone, hours, holidays)",
        ),
        (
            r#"calendar(#{ hours: #{ tue: ["25:00-26:00"] } })"#,
            "calendar.hours.tue[0]: invalid window `25:00-26:00`",
        ),
        (r#"calendar(#{})"#, "calendar.hours: no working window"),
        (
            r#"calendar_24x7("Mars/Base")"#,
            "calendar.timezone: unknown time zone `Mars/Base`",
        ),
        (
            r#"calendar_24x7("UTC").add_business_minutes(datetime("2025-01-01T00:00:00Z"), -1)"#,
            "add_business_minutes: the amount must not be negative",
        ),
        (
            r#"calendar_24x7("UTC").add_business_hours(datetime("2025-01-01T00:00:00Z"), 9223372036854775807)"#,
            "add_business_hours: 9223372036854775807 h of business time is out of range",
        ),
    ];
    for (script, expected) in cases {
        let (term, message) = term_error("", script);
        assert_eq!(term, "deadline");
        assert!(message.starts_with(expected), "{script}: {message}");
    }
}

// ---------------------------------------------------------------------------------------
// Timing (not an assertion): `cargo test --release -p aftersale-domain --test calendar
// timing -- --nocapture`
// ---------------------------------------------------------------------------------------

#[test]
fn timing_business_seconds_across_one_year() {
    let def: CalendarDef = serde_json::from_value(json!({
        "timezone": "America/New_York",
        "hours": {"mon": ["09:00-12:00", "13:00-17:00"], "tue": ["09:00-12:00", "13:00-17:00"],
                  "wed": ["09:00-12:00", "13:00-17:00"], "thu": ["09:00-12:00", "13:00-17:00"],
                  "fri": ["09:00-12:00", "13:00-17:00"]},
        "holidays": ["2025-01-01", "2025-05-26", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25"]
    }))
    .unwrap();
    let cal = Calendar::new(&def).unwrap();
    let always = Calendar::always_open(chrono_tz::Europe::Rome);
    let a = DateTime::parse("2025-01-01T08:00:00-05:00", chrono_tz::UTC).unwrap();
    let b = DateTime::parse("2026-01-01T08:00:00-05:00", chrono_tz::UTC).unwrap();
    // Few rounds in debug builds: this only prints, it asserts nothing.
    let rounds = if cfg!(debug_assertions) { 20 } else { 2_000 };
    for (name, cal) in [("office hours, NY", &cal), ("24x7, Rome", &always)] {
        let started = std::time::Instant::now();
        let mut total = 0;
        for _ in 0..rounds {
            total += cal.business_seconds(std::hint::black_box(a), b).unwrap();
        }
        let per_call = started.elapsed() / rounds;
        let started = std::time::Instant::now();
        let amount = TimeDelta::seconds(total / i64::from(rounds));
        for _ in 0..rounds {
            std::hint::black_box(cal.add_business(std::hint::black_box(a), amount).unwrap());
        }
        let per_add = started.elapsed() / rounds;
        println!("{name}: business_seconds over one year {per_call:?}/call, add_business of that amount {per_add:?}/call");
    }
    // The worst case a script can ask for: the whole supported range, week by week.
    let far = DateTime::parse("9999-12-01T00:00:00Z", chrono_tz::UTC).unwrap();
    let started = std::time::Instant::now();
    let total = cal.business_seconds(a, far).unwrap();
    println!(
        "office hours, NY: business_seconds from 2025 to 9999 ({total} s) {:?}",
        started.elapsed()
    );
}

mod bounds {
    use super::*;
    use aftersale_domain::calendar::{CalendarError, MAX_HOLIDAYS, MAX_WINDOWS_PER_DAY};

    #[test]
    fn a_weekday_takes_at_most_48_windows() {
        let windows: Vec<String> = (0..=MAX_WINDOWS_PER_DAY)
            .map(|i| {
                format!(
                    "{:02}:{:02}-{:02}:{:02}",
                    i / 2,
                    (i % 2) * 30,
                    i / 2,
                    (i % 2) * 30 + 10
                )
            })
            .collect();
        let refs: Vec<&str> = windows.iter().map(String::as_str).collect();
        let def = CalendarDef {
            timezone: "UTC".into(),
            hours: WeeklyHours::weekdays(&refs),
            holidays: vec![],
        };
        let err = Calendar::new(&def).unwrap_err();
        assert!(
            matches!(
                err,
                CalendarError::TooMany {
                    limit: 48,
                    found: 49,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("calendar.hours.mon: at most 48"),
            "{err}"
        );
        let def = CalendarDef {
            hours: WeeklyHours::weekdays(&refs[..MAX_WINDOWS_PER_DAY]),
            ..def
        };
        assert!(Calendar::new(&def).is_ok());
    }

    #[test]
    fn a_calendar_takes_at_most_10000_holidays() {
        let first = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        let holidays: Vec<String> = (0..=MAX_HOLIDAYS as u64)
            .map(|i| (first + chrono::Days::new(i)).to_string())
            .collect();
        let def = CalendarDef {
            timezone: "UTC".into(),
            hours: WeeklyHours::weekdays(&["09:00-17:00"]),
            holidays,
        };
        let err = Calendar::new(&def).unwrap_err();
        assert!(
            err.to_string()
                .contains("calendar.holidays: at most 10000 entries, found 10001"),
            "{err}"
        );
    }

    /// Walking the calendar is charged to the evaluation's meter: ten thousand years of a
    /// 24x7 calendar in one call is half a million weeks, past a limit of 100,000
    /// operations; outside an evaluation nothing is metered and the call completes.
    #[test]
    fn calendar_work_is_charged_to_the_evaluation() {
        let source = BundleSource::new("span")
            .with_file(
                "contract.toml",
                "[contract]\nid = \"span\"\nversion = \"1\"\nplugins = [\"calendar\"]\n[limits]\nmax_operations = 100000\nmax_duration_ms = 3600000\n[terms.span]\n",
            )
            .with_file(
                "terms/span.rhai",
                r#"calendar_24x7("UTC").business_seconds(datetime("0001-01-01T00:00:00Z"), datetime("9999-01-01T00:00:00Z"))"#,
            );
        let engine = Engine::builder().plugin(CalendarPlugin).build();
        let contract = engine.load(&source).unwrap_or_else(|e| panic!("{e}"));
        let as_of = contract.parse_as_of("2025-01-01").unwrap();
        let err = contract
            .evaluate(&Request::new(json!({}), as_of))
            .unwrap_err();
        assert!(matches!(err, EvalError::Limit { .. }), "{err}");
        assert!(err.to_string().contains("max_operations"), "{err}");
        let cal = Calendar::always_open(chrono_tz::UTC);
        let from = DateTime::parse("0001-01-01T00:00:00Z", chrono_tz::UTC).unwrap();
        let to = DateTime::parse("9999-01-01T00:00:00Z", chrono_tz::UTC).unwrap();
        assert!(cal.business_seconds(from, to).unwrap() > 0);
    }
}
