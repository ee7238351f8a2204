//! Unit tests of the maintenance rules, one per rule, with dates worked out by hand, and
//! property tests stating the laws the schedule keeps.

use std::collections::BTreeMap;

use aftersale_core::Date;
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;

fn d(text: &str) -> Date {
    Date::parse(text).unwrap()
}

fn meters(pairs: &[(&str, i64)]) -> Meters {
    pairs
        .iter()
        .map(|(u, v)| (u.to_string(), Decimal::from(*v)))
        .collect()
}

fn counters(months: i64, days: i64, meter: &[(&str, i64)]) -> Counters {
    Counters {
        time: (months != 0 || days != 0).then_some(Span { months, days }),
        meters: meters(meter),
    }
}

fn task(name: &str, every: Counters) -> Task {
    Task::new(name, every)
}

fn plan(start: &str, tasks: Vec<Task>) -> Plan {
    Plan::new(d(start), Meters::new(), tasks).unwrap()
}

fn done(task: &str, date: &str, km: Option<i64>) -> Completion {
    Completion {
        task: task.into(),
        date: d(date),
        meters: km.map(|k| meters(&[("km", k)])).unwrap_or_default(),
    }
}

fn read(date: &str, km: i64) -> Reading {
    Reading {
        date: d(date),
        meters: meters(&[("km", km)]),
    }
}

/// 12 months, tolerance 1 month, anchored on the last completion, shift factor `f`.
fn yearly(anchor: Anchor, f: Decimal) -> Plan {
    let mut t = task("service", counters(12, 0, &[]));
    t.anchor = anchor;
    t.tolerance = counters(1, 0, &[]);
    t.shift_factor = f;
    plan("2024-01-15", vec![t])
}

fn next_on(plan: &Plan, history: &[Completion], as_of: &str) -> NextDue {
    plan.next_due("service", history, &[], d(as_of)).unwrap()
}

fn statuses(report: &Compliance) -> Vec<&'static str> {
    report.services.iter().map(|s| s.status.as_str()).collect()
}

// ---- last completion, tolerance, shift factor ----

#[test]
fn first_due_is_start_plus_interval() {
    let p = yearly(Anchor::LastCompletion, Decimal::ONE);
    let n = next_on(&p, &[], "2024-06-01");
    assert_eq!(n.due.on, Some(d("2025-01-15")));
    assert_eq!(n.tolerance_until.on, Some(d("2025-02-15")));
    assert_eq!(n.state, State::Ok);
    assert_eq!(n.number, 1);
}

#[test]
fn last_completion_early_service_moves_the_plan_earlier() {
    let p = yearly(Anchor::LastCompletion, Decimal::ONE);
    let n = next_on(&p, &[done("service", "2024-12-01", None)], "2024-12-02");
    assert_eq!(n.due.on, Some(d("2025-12-01")));
    assert_eq!(n.number, 2);
}

#[test]
fn last_completion_late_within_tolerance_keeps_the_plan() {
    let p = yearly(Anchor::LastCompletion, Decimal::ONE);
    for day in ["2025-02-10", "2025-02-15"] {
        let history = [done("service", day, None)];
        assert_eq!(
            next_on(&p, &history, day).due.on,
            Some(d("2026-01-15")),
            "{day}"
        );
        let report = p.compliance(&history, &[], d(day)).unwrap();
        assert_eq!(statuses(&report), ["late_within_tolerance"], "{day}");
        assert!(report.compliant);
    }
}

#[test]
fn last_completion_late_beyond_tolerance_shifts_by_the_whole_lateness() {
    let p = yearly(Anchor::LastCompletion, Decimal::ONE);
    let history = [done("service", "2025-02-16", None)];
    assert_eq!(
        next_on(&p, &history, "2025-02-16").due.on,
        Some(d("2026-02-16"))
    );
    let report = p.compliance(&history, &[], d("2025-03-01")).unwrap();
    assert_eq!(statuses(&report), ["late"]);
    assert_eq!(report.services[0].late_days, Some(32));
    assert!(!report.compliant);
}

#[test]
fn shift_factor_half_moves_half_the_lateness_rounded_half_up() {
    let p = yearly(Anchor::LastCompletion, Decimal::new(5, 1));
    // 2025-01-15 -> 2025-03-16 is 60 days late: shift 30 days to 2025-02-14.
    let n = next_on(&p, &[done("service", "2025-03-16", None)], "2025-03-16");
    assert_eq!(n.due.on, Some(d("2026-02-14")));
    // 61 days late: 30.5 rounds to 31, 2025-02-15.
    let n = next_on(&p, &[done("service", "2025-03-17", None)], "2025-03-17");
    assert_eq!(n.due.on, Some(d("2026-02-15")));
}

#[test]
fn shift_factor_zero_keeps_the_plan_even_beyond_tolerance() {
    let p = yearly(Anchor::LastCompletion, Decimal::ZERO);
    let n = next_on(&p, &[done("service", "2025-04-01", None)], "2025-04-01");
    assert_eq!(n.due.on, Some(d("2026-01-15")));
}

// ---- grid ----

#[test]
fn grid_keeps_its_dates_after_a_late_visit() {
    let p = yearly(Anchor::Grid, Decimal::ZERO);
    let history = [done("service", "2025-03-01", None)];
    assert_eq!(
        next_on(&p, &history, "2025-03-01").due.on,
        Some(d("2026-01-15"))
    );
    let report = p.compliance(&history, &[], d("2025-03-01")).unwrap();
    assert_eq!(statuses(&report), ["late"]);
}

#[test]
fn grid_keeps_its_dates_after_an_early_visit() {
    let p = yearly(Anchor::Grid, Decimal::ZERO);
    let history = [done("service", "2024-12-01", None)];
    assert_eq!(
        next_on(&p, &history, "2024-12-01").due.on,
        Some(d("2026-01-15"))
    );
}

#[test]
fn grid_with_shift_factor_moves_the_grid_beyond_tolerance() {
    let p = yearly(Anchor::Grid, Decimal::ONE);
    // 45 days late: the grid restarts from 2025-03-01.
    let n = next_on(&p, &[done("service", "2025-03-01", None)], "2025-03-01");
    assert_eq!(n.due.on, Some(d("2026-03-01")));
    // Within tolerance it does not move.
    let n = next_on(&p, &[done("service", "2025-02-15", None)], "2025-02-15");
    assert_eq!(n.due.on, Some(d("2026-01-15")));
}

#[test]
fn grid_skips_missed_occurrences() {
    let p = yearly(Anchor::Grid, Decimal::ZERO);
    // Nothing done in 2025: on 2026-02-01, #2 (2026-01-15) is the one due, #1 was missed.
    let n = next_on(&p, &[], "2026-02-01");
    assert_eq!(
        (n.number, n.due.on, n.state),
        (2, Some(d("2026-01-15")), State::Due)
    );
    let report = p.compliance(&[], &[], d("2026-02-01")).unwrap();
    assert_eq!(statuses(&report), ["missed", "pending"]);
    // A service on 2026-01-20 counts for #2; #1 stays missed.
    let history = [done("service", "2026-01-20", None)];
    let report = p.compliance(&history, &[], d("2026-02-01")).unwrap();
    assert_eq!(statuses(&report), ["missed", "late_within_tolerance"]);
    assert_eq!(
        next_on(&p, &history, "2026-02-01").due.on,
        Some(d("2027-01-15"))
    );
}

#[test]
fn grid_counts_one_early_service_per_cycle() {
    let p = yearly(Anchor::Grid, Decimal::ZERO);
    let history = [
        done("service", "2024-06-01", None),
        done("service", "2024-09-01", None),
    ];
    let report = p.compliance(&history, &[], d("2024-10-01")).unwrap();
    assert_eq!(statuses(&report), ["on_time"]);
    assert_eq!(report.extra.len(), 1);
    assert_eq!(report.extra[0].date, d("2024-09-01"));
    assert_eq!(
        next_on(&p, &history, "2024-10-01").due.on,
        Some(d("2026-01-15"))
    );
}

#[test]
fn a_service_recorded_twice_on_one_day_counts_once() {
    for anchor in [Anchor::Grid, Anchor::LastCompletion] {
        let p = yearly(anchor, Decimal::ONE);
        let history = [
            done("service", "2025-01-20", None),
            done("service", "2025-01-20", None),
        ];
        let report = p.compliance(&history, &[], d("2025-01-21")).unwrap();
        assert_eq!(statuses(&report), ["late_within_tolerance"], "{anchor:?}");
        assert_eq!(report.extra.len(), 1, "{anchor:?}");
        assert_eq!(
            next_on(&p, &history, "2025-01-21").due.on,
            Some(d("2026-01-15")),
            "{anchor:?}"
        );
    }
}

#[test]
fn last_completion_open_occurrence_beyond_tolerance_is_missed() {
    let p = yearly(Anchor::LastCompletion, Decimal::ONE);
    let report = p.compliance(&[], &[], d("2025-02-15")).unwrap();
    assert_eq!(statuses(&report), ["pending"]);
    assert!(report.compliant);
    let report = p.compliance(&[], &[], d("2025-02-16")).unwrap();
    assert_eq!(statuses(&report), ["missed"]);
    assert!(!report.compliant);
    assert_eq!(next_on(&p, &[], "2025-02-16").state, State::Overdue);
}

// ---- OR and AND ----

/// 12 months or 15,000 km, last completion, tolerance 1 month / 1,500 km, due soon 30 days / 1,000 km.
fn service_plan() -> Plan {
    let mut t = task("service", counters(12, 0, &[("km", 15000)]));
    t.tolerance = counters(1, 0, &[("km", 1500)]);
    t.due_soon = counters(0, 30, &[("km", 1000)]);
    plan("2024-01-15", vec![t])
}

#[test]
fn or_km_first() {
    let p = service_plan();
    let readings = [read("2024-07-15", 15200)];
    let n = p
        .next_due("service", &[], &readings, d("2024-07-20"))
        .unwrap();
    assert_eq!(n.state, State::Due);
    // Interpolated: 0 km on 2024-01-15 to 15,200 km on 2024-07-15 (182 days): 15,000 km on
    // day ceil(15000 x 182 / 15200) = ceil(179.6) = 180, 2024-07-13.
    assert_eq!(n.forecast["km"], Some(d("2024-07-13")));
    assert_eq!(n.forecast_on, Some(d("2024-07-13")));
    assert_eq!(n.trigger.as_deref(), Some("km"));
    // Serviced at 15,300 km (late within tolerance on km, early on time): the time counter
    // restarts from the service, the km counter stays on the plan.
    let history = [done("service", "2024-07-20", Some(15300))];
    let n = p
        .next_due("service", &history, &readings, d("2024-07-20"))
        .unwrap();
    assert_eq!(n.due.on, Some(d("2025-07-20")));
    assert_eq!(n.due.at, meters(&[("km", 30000)]));
}

#[test]
fn or_months_first() {
    let p = service_plan();
    let readings = [read("2025-01-10", 8000)];
    let n = p
        .next_due("service", &[], &readings, d("2025-01-15"))
        .unwrap();
    assert_eq!((n.state, n.trigger.as_deref()), (State::Due, Some("time")));
    let n = p
        .next_due("service", &[], &readings, d("2025-01-14"))
        .unwrap();
    assert_eq!(n.state, State::DueSoon);
}

#[test]
fn or_beyond_tolerance_on_km_alone_is_overdue() {
    let p = service_plan();
    let readings = [read("2024-08-01", 16501)];
    assert_eq!(
        p.next_due("service", &[], &readings, d("2024-08-01"))
            .unwrap()
            .state,
        State::Overdue
    );
    let readings = [read("2024-08-01", 16500)];
    assert_eq!(
        p.next_due("service", &[], &readings, d("2024-08-01"))
            .unwrap()
            .state,
        State::Due
    );
}

#[test]
fn due_soon_boundaries_are_inclusive() {
    let p = service_plan();
    // 30 days before 2025-01-15 is 2024-12-16.
    let low = [read("2024-06-01", 100)];
    assert_eq!(
        p.next_due("service", &[], &low, d("2024-12-15"))
            .unwrap()
            .state,
        State::Ok
    );
    assert_eq!(
        p.next_due("service", &[], &low, d("2024-12-16"))
            .unwrap()
            .state,
        State::DueSoon
    );
    // 1,000 km before 15,000.
    let r = [read("2024-06-01", 13999)];
    assert_eq!(
        p.next_due("service", &[], &r, d("2024-06-01"))
            .unwrap()
            .state,
        State::Ok
    );
    let r = [read("2024-06-01", 14000)];
    assert_eq!(
        p.next_due("service", &[], &r, d("2024-06-01"))
            .unwrap()
            .state,
        State::DueSoon
    );
}

/// 12 months and 10,000 km on a grid, tolerance 1 month / 1,000 km, due soon 30 days / 1,000 km.
fn inspection_plan() -> Plan {
    let mut t = task("inspection", counters(12, 0, &[("km", 10000)]));
    t.link = Link::And;
    t.anchor = Anchor::Grid;
    t.shift_factor = Decimal::ZERO;
    t.tolerance = counters(1, 0, &[("km", 1000)]);
    t.due_soon = counters(0, 30, &[("km", 1000)]);
    plan("2024-01-15", vec![t])
}

#[test]
fn and_needs_every_counter() {
    let p = inspection_plan();
    let state = |km: i64, on: &str| {
        p.next_due("inspection", &[], &[read(on, km)], d(on))
            .unwrap()
            .state
    };
    // Time reached, km not (and not within 1,000 km): ok.
    assert_eq!(state(8000, "2025-01-20"), State::Ok);
    assert_eq!(state(9000, "2025-01-20"), State::DueSoon);
    assert_eq!(state(10000, "2025-01-20"), State::Due);
    // km reached, time not (and not within 30 days): ok.
    assert_eq!(state(12000, "2024-10-01"), State::Ok);
    // Beyond tolerance needs both: 2025-02-16 and 11,001 km.
    assert_eq!(state(11001, "2025-02-15"), State::Due);
    assert_eq!(state(11000, "2025-03-01"), State::Due);
    assert_eq!(state(11001, "2025-02-16"), State::Overdue);
}

#[test]
fn and_grid_waits_for_the_slow_counter() {
    let p = inspection_plan();
    // 5,000 km a year: 10,000 km on 2026-01-15, then the inspection falls due.
    let readings = [read("2025-01-15", 5000)];
    let n = p
        .next_due("inspection", &[], &readings, d("2025-01-15"))
        .unwrap();
    // 5,000 km in 366 days: 10,000 km after ceil(5000 x 366 / 5000) = 366 more days.
    assert_eq!(n.forecast["km"], Some(d("2026-01-16")));
    assert_eq!(n.forecast_on, Some(d("2026-01-16")));
    assert_eq!(n.trigger.as_deref(), Some("km"));
}

// ---- month ends ----

#[test]
fn jan_31_monthly_does_not_drift() {
    let mut t = task("service", counters(1, 0, &[]));
    t.anchor = Anchor::LastCompletion;
    let p = plan("2024-01-31", vec![t.clone()]);
    let history = [
        done("service", "2024-02-29", None),
        done("service", "2024-03-31", None),
    ];
    assert_eq!(
        next_on(&p, &history, "2024-03-31").due.on,
        Some(d("2024-04-30"))
    );
    let history = [
        done("service", "2024-02-29", None),
        done("service", "2024-03-31", None),
        done("service", "2024-04-30", None),
    ];
    assert_eq!(
        next_on(&p, &history, "2024-04-30").due.on,
        Some(d("2024-05-31"))
    );
    t.anchor = Anchor::Grid;
    let p = plan("2024-01-31", vec![t]);
    let visits = p
        .visits(&[], &[], d("2024-02-01"), d("2024-06-30"))
        .unwrap();
    let days: Vec<Date> = visits.iter().map(|v| v.date).collect();
    assert_eq!(
        days,
        [
            d("2024-02-29"),
            d("2024-03-31"),
            d("2024-04-30"),
            d("2024-05-31"),
            d("2024-06-30")
        ]
    );
}

#[test]
fn feb_29_yearly_falls_on_feb_28_then_feb_29_again() {
    let mut t = task("service", counters(12, 0, &[]));
    t.anchor = Anchor::Grid;
    let p = plan("2024-02-29", vec![t]);
    let visits = p
        .visits(&[], &[], d("2024-03-01"), d("2028-03-01"))
        .unwrap();
    let days: Vec<Date> = visits.iter().map(|v| v.date).collect();
    assert_eq!(
        days,
        [
            d("2025-02-28"),
            d("2026-02-28"),
            d("2027-02-28"),
            d("2028-02-29")
        ]
    );
}

// ---- forecasting and visits ----

#[test]
fn forecast_from_average_daily_usage() {
    let p = service_plan();
    let mut history = Vec::new();
    let readings = [read("2024-03-15", 6000)];
    // 6,000 km in 60 days (2024-01-15 -> 2024-03-15): 100 km/day; 9,000 km more in 90 days.
    let n = p
        .next_due("service", &history, &readings, d("2024-03-15"))
        .unwrap();
    assert_eq!(n.forecast["km"], Some(d("2024-06-13")));
    assert_eq!(n.days_left, Some(90));
    let usage = p.daily_usage(&history, &readings, d("2024-03-15")).unwrap();
    assert_eq!(usage["km"], Some(Decimal::from(100)));
    // Visits over a year: 15,000 km on 2024-06-13, 30,000 km 150 days after the last reading
    // ... 240 days after it: 2024-11-10; 45,000 km after 390 days: 2025-04-09, past the horizon.
    let visits = p
        .visits(&history, &readings, d("2024-03-15"), d("2025-03-15"))
        .unwrap();
    let days: Vec<(Date, Option<&str>)> = visits
        .iter()
        .map(|v| (v.date, v.trigger.as_deref()))
        .collect();
    assert_eq!(
        days,
        [(d("2024-06-13"), Some("km")), (d("2024-11-10"), Some("km"))]
    );
    history.push(done("service", "2024-06-10", Some(14700)));
    // Serviced early at 14,700 km: both counters restart from the service.
    let n = p
        .next_due("service", &history, &readings, d("2024-06-10"))
        .unwrap();
    assert_eq!(
        (n.due.on, n.due.at["km"]),
        (Some(d("2025-06-10")), Decimal::from(29700))
    );
}

#[test]
fn no_usage_means_no_meter_forecast() {
    let p = inspection_plan();
    let n = p.next_due("inspection", &[], &[], d("2024-02-01")).unwrap();
    assert_eq!(n.forecast["km"], None);
    assert_eq!(n.forecast_on, None);
    assert!(p
        .visits(&[], &[], d("2024-02-01"), d("2026-01-01"))
        .unwrap()
        .is_empty());
}

#[test]
fn overdue_occurrence_is_listed_on_the_first_day_of_the_horizon() {
    let p = yearly(Anchor::LastCompletion, Decimal::ONE);
    let visits = p
        .visits(&[], &[], d("2025-06-01"), d("2026-12-31"))
        .unwrap();
    assert_eq!(visits.len(), 2);
    assert!(visits[0].overdue);
    assert_eq!(
        (visits[0].date, visits[0].due.on),
        (d("2025-06-01"), Some(d("2025-01-15")))
    );
    // Done then (beyond tolerance, factor 1): the next one a year later.
    assert_eq!(visits[1].date, d("2026-06-01"));
}

// ---- errors ----

#[test]
fn invalid_plans_name_the_field() {
    let bad_every = Plan::new(
        d("2024-01-01"),
        Meters::new(),
        vec![task("s", counters(0, 0, &[("km", 0)]))],
    );
    assert!(
        matches!(bad_every, Err(MaintenanceError::NotPositive { ref field, .. }) if field == "tasks[0].every.km")
    );
    let empty = Plan::new(
        d("2024-01-01"),
        Meters::new(),
        vec![task("s", Counters::default())],
    );
    assert!(matches!(empty, Err(MaintenanceError::EmptyInterval { .. })));
    let mut t = task("s", counters(12, 0, &[]));
    t.tolerance = counters(0, 0, &[("km", 100)]);
    let unknown = Plan::new(d("2024-01-01"), Meters::new(), vec![t]);
    assert!(matches!(unknown, Err(MaintenanceError::UnknownUnit { ref unit, .. }) if unit == "km"));
    let mut t = task("s", counters(12, 0, &[]));
    t.shift_factor = Decimal::new(-1, 1);
    let negative = Plan::new(d("2024-01-01"), Meters::new(), vec![t]);
    assert!(
        matches!(negative, Err(MaintenanceError::Negative { ref field, .. }) if field == "tasks[0].shift_factor")
    );
    let twice = Plan::new(
        d("2024-01-01"),
        Meters::new(),
        vec![
            task("s", counters(1, 0, &[])),
            task("s", counters(2, 0, &[])),
        ],
    );
    assert!(matches!(twice, Err(MaintenanceError::DuplicateTask { .. })));
}

#[test]
fn readings_out_of_order_are_errors() {
    let p = service_plan();
    let err = p
        .next_due(
            "service",
            &[],
            &[read("2024-03-01", 10), read("2024-02-01", 5)],
            d("2024-04-01"),
        )
        .unwrap_err();
    assert!(
        matches!(err, MaintenanceError::ReadingsOutOfOrder { .. }),
        "{err}"
    );
    let err = p
        .next_due(
            "service",
            &[],
            &[read("2024-02-01", 500), read("2024-03-01", 400)],
            d("2024-04-01"),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("readings out of order: km goes back"),
        "{err}"
    );
    let err = p
        .next_due(
            "service",
            &[done("service", "2024-03-01", Some(100))],
            &[read("2024-02-01", 500)],
            d("2024-04-01"),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("history[0] on 2024-03-01"),
        "{err}"
    );
}

#[test]
fn history_must_name_known_tasks_and_their_meters() {
    let p = service_plan();
    let err = p
        .next_due(
            "service",
            &[done("oil", "2024-03-01", Some(1))],
            &[],
            d("2024-04-01"),
        )
        .unwrap_err();
    assert!(matches!(err, MaintenanceError::UnknownTask { .. }), "{err}");
    let err = p
        .next_due(
            "service",
            &[done("service", "2024-03-01", None)],
            &[],
            d("2024-04-01"),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`history[0]` has no `km`, which task `service` counts: record the meter at each service"
    );
    assert!(p.next_due("brakes", &[], &[], d("2024-04-01")).is_err());
}

#[test]
fn huge_values_are_errors_not_panics() {
    let mut t = task("s", counters(0, 1, &[("km", 1)]));
    t.anchor = Anchor::Grid;
    let p = Plan::new(d("2024-01-01"), meters(&[("km", 0)]), vec![t]).unwrap();
    let big = Reading {
        date: d("2024-01-02"),
        meters: [("km".to_string(), Decimal::MAX)]
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
    };
    assert!(p
        .compliance(&[], std::slice::from_ref(&big), d("2024-01-02"))
        .is_err());
    assert!(p.next_due("s", &[], &[big], d("9999-12-31")).is_err());
    assert!(p
        .visits(&[], &[], d("2024-01-01"), d("9999-12-31"))
        .is_err());
}

// ---- properties ----

fn arb_task() -> impl Strategy<Value = Task> {
    (
        prop_oneof![Just(0_i64), 1..=24_i64],
        0..=40_i64,
        prop::option::of(1000..=30000_i64),
        any::<bool>(),
        any::<bool>(),
        (0..=3_i64, 0..=20_i64, 0..=5000_i64),
        0..=20_i64,
    )
        .prop_filter("an interval", |(m, days, km, ..)| {
            *m != 0 || *days != 0 || km.is_some()
        })
        .prop_map(|(months, days, km, and, grid, (tm, td, tkm), f)| {
            let meter: Vec<(&str, i64)> = km.map(|k| ("km", k)).into_iter().collect();
            let mut t = task("service", counters(months, days, &meter));
            t.link = if and { Link::And } else { Link::Or };
            t.anchor = if grid {
                Anchor::Grid
            } else {
                Anchor::LastCompletion
            };
            t.tolerance = counters(
                if t.every.time.is_some() { tm } else { 0 },
                if t.every.time.is_some() { td } else { 0 },
                &if km.is_some() {
                    vec![("km", tkm)]
                } else {
                    vec![]
                },
            );
            t.shift_factor = Decimal::new(f, 1);
            t
        })
}

fn arb_history() -> impl Strategy<Value = Vec<(i64, i64)>> {
    prop::collection::vec((1..=700_i64, 0..=40000_i64), 1..8)
}

fn history_from(steps: &[(i64, i64)], start: Date) -> Vec<Completion> {
    let mut day = start;
    let mut km = 0;
    steps
        .iter()
        .map(|(days, driven)| {
            day = day.add_days(*days).unwrap();
            km += driven;
            done("service", &day.to_string(), Some(km))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// After any history, the next due point is one the last service had not reached: its
    /// forecast day is after the service, and with `or` (or a single counter) every counter
    /// is beyond the service's day and meters.
    #[test]
    fn next_due_is_never_before_last_service(t in arb_task(), steps in arb_history()) {
        let link = t.link;
        let has_km = !t.every.meters.is_empty();
        let start = d("2024-01-31");
        let p = Plan::new(start, meters(&[("km", 0)]).into_iter().filter(|_| has_km).collect(), vec![t]).unwrap();
        let history: Vec<Completion> = history_from(&steps, start)
            .into_iter()
            .map(|mut c| { if !has_km { c.meters.clear(); } c })
            .collect();
        let last = history.last().unwrap();
        let n = p.next_due("service", &history, &[], last.date).unwrap();
        if let Some(day) = n.forecast_on {
            prop_assert!(day > last.date, "forecast {day} not after the last service {}", last.date);
        }
        let single = n.due.on.is_some() as usize + n.due.at.len() == 1;
        if link == Link::Or || single {
            if let Some(on) = n.due.on {
                prop_assert!(on > last.date, "due {on} not after the last service {}", last.date);
            }
            for (unit, target) in &n.due.at {
                prop_assert!(*target > last.meters[unit], "due at {target} {unit} not beyond {}", last.meters[unit]);
            }
            prop_assert_ne!(n.state, State::Due);
            prop_assert_ne!(n.state, State::Overdue);
        }
    }

    /// A grid that never shifts keeps every due day on `start + n x every`.
    #[test]
    fn grid_due_days_stay_on_the_grid(months in 1..=24_i64, steps in arb_history()) {
        let mut t = task("service", counters(months, 0, &[]));
        t.anchor = Anchor::Grid;
        t.tolerance = counters(1, 0, &[]);
        t.shift_factor = Decimal::ZERO;
        let start = d("2024-01-31");
        let p = Plan::new(start, Meters::new(), vec![t]).unwrap();
        let history: Vec<Completion> = history_from(&steps, start)
            .into_iter()
            .map(|mut c| { c.meters.clear(); c })
            .collect();
        let as_of = history.last().unwrap().date;
        let n = p.next_due("service", &history, &[], as_of).unwrap();
        let steps_done = i64::try_from(n.number).unwrap();
        prop_assert_eq!(n.due.on, Some(start.add_months(months * steps_done).unwrap()));
    }

    /// Visits lie within the horizon, in date order, and each task's occurrence numbers rise.
    #[test]
    fn visits_lie_within_the_horizon_in_order(t in arb_task(), steps in arb_history(), span in 0..=1500_i64) {
        let has_km = !t.every.meters.is_empty();
        let start = d("2024-01-31");
        let p = Plan::new(start, Meters::new(), vec![t]).unwrap();
        let history: Vec<Completion> = history_from(&steps, start)
            .into_iter()
            .map(|mut c| { if !has_km { c.meters.clear(); } c })
            .collect();
        let from = history.last().unwrap().date;
        let to = from.add_days(span).unwrap();
        let visits = p.visits(&history, &[], from, to).unwrap();
        for pair in visits.windows(2) {
            prop_assert!(pair[0].date <= pair[1].date);
            prop_assert!(pair[0].number < pair[1].number);
        }
        for v in &visits {
            prop_assert!(v.date >= from && v.date <= to);
        }
    }

    /// Services made exactly at each due point (on the forecast day, with the triggering
    /// meter at its due value) are always on time.
    #[test]
    fn services_at_their_due_points_are_on_time(t in arb_task(), count in 1..6_usize) {
        let start = d("2024-01-31");
        let p = Plan::new(start, Meters::new(), vec![t]).unwrap();
        let has_km = !p.tasks[0].every.meters.is_empty();
        // 100 km a day, seen on the day after the start.
        let readings: Vec<Reading> = [Reading { date: d("2024-02-01"), meters: meters(&[("km", 100)]) }]
            .into_iter()
            .filter(|_| has_km)
            .collect();
        let mut history: Vec<Completion> = Vec::new();
        for _ in 0..count {
            let as_of = history.last().map_or(d("2024-02-01"), |c| c.date);
            let n = p.next_due("service", &history, &readings, as_of).unwrap();
            let Some(day) = n.forecast_on else { break };
            let odometer = Odometer::new(&p, &readings, &history).unwrap();
            let mut meters_at = Meters::new();
            for (unit, target) in &n.due.at {
                let value = if n.forecast.get(unit).copied().flatten() == Some(day) {
                    *target
                } else {
                    odometer.projected(unit, as_of, day).unwrap().unwrap()
                };
                meters_at.insert(unit.clone(), value);
            }
            history.push(Completion { task: "service".into(), date: day, meters: meters_at });
        }
        let up_to = history.last().map_or(d("2024-02-01"), |c| c.date);
        let report = p.compliance(&history, &readings, up_to).unwrap();
        prop_assert!(report.services.iter().all(|s| s.status == Status::OnTime), "{:?}", report.services);
        prop_assert!(report.compliant);
    }
}
