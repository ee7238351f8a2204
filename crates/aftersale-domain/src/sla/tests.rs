//! Unit tests of the clock rules: the DOMAIN.md examples, pauses in business and wall-clock
//! accounting, reopening in resume and new-cycle modes, breaches that stay recorded,
//! thresholds, next response, custom metrics, and errors naming their field.

use aftersale_core::rhai::{Array, Dynamic, Map};
use aftersale_core::DateTime;
use chrono::TimeDelta;

use super::*;
use crate::calendar::{Calendar, CalendarDef, WeeklyHours};

const ROME: chrono_tz::Tz = chrono_tz::Europe::Rome;

/// DOMAIN.md's calendar: Mon-Fri 10:00-18:00, Europe/Rome. 2025-06-02 is a Monday.
fn domain_calendar() -> Calendar {
    Calendar::new(&CalendarDef {
        timezone: "Europe/Rome".into(),
        hours: WeeklyHours::weekdays(&["10:00-18:00"]),
        holidays: vec![],
    })
    .unwrap()
}

fn at(text: &str) -> DateTime {
    DateTime::parse(text, ROME).unwrap()
}

fn created(t: &str) -> Event {
    Event::new(at(t), "created")
}

fn status(t: &str, s: &str) -> Event {
    Event::new(at(t), "status").with_status(s)
}

fn agent(t: &str) -> Event {
    Event::new(at(t), "reply").with_author(Actor::Agent)
}

fn customer(t: &str) -> Event {
    Event::new(at(t), "reply").with_author(Actor::Customer)
}

fn policy(targets: &[(&str, i64)]) -> Policy {
    Policy {
        metrics: targets
            .iter()
            .map(|(name, minutes)| Metric::builtin(name, TimeDelta::minutes(*minutes)).unwrap())
            .collect(),
        pause_statuses: vec!["waiting_on_customer".into()],
        thresholds: vec![50, 75, 100],
        ..Policy::default()
    }
}

fn clock_of(p: &Policy, events: &[Event], as_of: &str, metric: &str) -> Clock {
    clock(&domain_calendar(), p, events, at(as_of), metric).unwrap()
}

fn text(t: Option<DateTime>) -> String {
    t.map_or_else(|| "()".into(), |t| t.to_string())
}

fn minutes(d: Option<TimeDelta>) -> Option<i64> {
    d.map(|d| d.num_minutes())
}

fn crossings(c: &Clock) -> Vec<(u32, String, bool)> {
    c.thresholds
        .iter()
        .map(|x| (x.percent, text(x.at), x.crossed))
        .collect()
}

// ---------------------------------------------------------------------------------------
// DOMAIN.md examples: High = 1 h / 4 h, Urgent = 30 min / 2 h
// ---------------------------------------------------------------------------------------

#[test]
fn domain_high_ticket_monday_8am() {
    let p = policy(&[("first_response", 60), ("resolution", 240)]);
    let events = [created("2025-06-02T08:00")];
    let all = clocks(&domain_calendar(), &p, &events, at("2025-06-02T09:00")).unwrap();
    assert_eq!(text(all[0].due), "2025-06-02T11:00:00+02:00");
    assert_eq!(text(all[1].due), "2025-06-02T14:00:00+02:00");
    assert_eq!(all[0].start, Some(at("2025-06-02T08:00")));
    assert_eq!(all[0].state, State::Running);
    assert_eq!(all[0].elapsed, TimeDelta::zero());
}

#[test]
fn domain_urgent_ticket_monday_8pm() {
    let p = policy(&[("first_response", 30), ("resolution", 120)]);
    let events = [created("2025-06-02T20:00")];
    let fr = clock_of(&p, &events, "2025-06-02T23:00", "first_response");
    let res = clock_of(&p, &events, "2025-06-02T23:00", "resolution");
    assert_eq!(text(fr.due), "2025-06-03T10:30:00+02:00");
    assert_eq!(text(res.due), "2025-06-03T12:00:00+02:00");
}

#[test]
fn domain_urgent_ticket_friday_5pm() {
    let p = policy(&[("first_response", 30), ("resolution", 120)]);
    let events = [created("2025-06-06T17:00")];
    let fr = clock_of(&p, &events, "2025-06-06T17:10", "first_response");
    let res = clock_of(&p, &events, "2025-06-06T17:10", "resolution");
    assert_eq!(text(fr.due), "2025-06-06T17:30:00+02:00");
    assert_eq!(text(res.due), "2025-06-09T11:00:00+02:00");
    assert_eq!(minutes(fr.remaining), Some(20));
    assert_eq!(fr.percent(), Some(33));
    assert_eq!(fr.percent_exact().unwrap().to_string(), "33.33");
}

// ---------------------------------------------------------------------------------------
// Stops, window ends, breaches
// ---------------------------------------------------------------------------------------

#[test]
fn a_reply_exactly_at_the_due_is_met_and_one_second_later_breached() {
    let p = policy(&[("first_response", 480)]);
    let on_time = [created("2025-06-02T10:00"), agent("2025-06-02T18:00:00")];
    let c = clock_of(&p, &on_time, "2025-06-03T09:00", "first_response");
    assert_eq!(text(c.due), "2025-06-02T18:00:00+02:00");
    assert_eq!(c.state, State::Met);
    assert_eq!(c.breached_at, None);
    assert_eq!(c.percent(), Some(100));

    let late = [created("2025-06-02T10:00"), agent("2025-06-02T18:00:01")];
    let c = clock_of(&p, &late, "2025-06-03T09:00", "first_response");
    assert_eq!(c.state, State::Breached);
    assert_eq!(text(c.breached_at), "2025-06-02T18:00:00+02:00");
    // The second after 18:00 is closed: no business time was added.
    assert_eq!(c.elapsed, TimeDelta::hours(8));
}

#[test]
fn running_at_the_due_is_not_yet_a_breach() {
    let p = policy(&[("resolution", 480)]);
    let events = [created("2025-06-02T10:00")];
    let c = clock_of(&p, &events, "2025-06-02T18:00", "resolution");
    assert_eq!(c.state, State::Running);
    assert_eq!(c.remaining, Some(TimeDelta::zero()));
    let c = clock_of(&p, &events, "2025-06-02T18:00:01", "resolution");
    assert_eq!(c.state, State::Breached);
    assert_eq!(text(c.breached_at), "2025-06-02T18:00:00+02:00");
    // Overdue time counts on: Tuesday 12:00 is 10 h of 8 h.
    let c = clock_of(&p, &events, "2025-06-03T12:00", "resolution");
    assert_eq!(c.percent(), Some(125));
    assert_eq!(c.remaining, Some(TimeDelta::zero()));
}

#[test]
fn resolving_stops_every_clock() {
    let p = policy(&[("first_response", 60), ("resolution", 240)]);
    let events = [
        created("2025-06-02T10:00"),
        status("2025-06-02T10:40", "resolved"),
    ];
    let all = clocks(&domain_calendar(), &p, &events, at("2025-06-02T12:00")).unwrap();
    for c in &all {
        assert_eq!(c.state, State::Met, "{}", c.metric);
        assert_eq!(text(c.stopped_at), "2025-06-02T10:40:00+02:00");
        assert_eq!(c.elapsed, TimeDelta::minutes(40));
    }
}

#[test]
fn events_after_as_of_are_ignored() {
    let p = policy(&[("first_response", 60)]);
    let events = [created("2025-06-02T10:00"), agent("2025-06-02T10:30")];
    let c = clock_of(&p, &events, "2025-06-02T10:20", "first_response");
    assert_eq!(c.state, State::Running);
    assert_eq!(c.elapsed, TimeDelta::minutes(20));
}

// ---------------------------------------------------------------------------------------
// Pauses: business vs wall clock
// ---------------------------------------------------------------------------------------

/// Resolution 4 h from Mon 10:00; on hold Mon 12:00-17:00 (2 h used before).
fn held_history() -> Vec<Event> {
    vec![
        created("2025-06-02T10:00"),
        status("2025-06-02T12:00", "waiting_on_customer"),
        status("2025-06-02T17:00", "open"),
    ]
}

#[test]
fn pause_business_does_not_count_the_hold() {
    let p = policy(&[("resolution", 240)]);
    let c = clock_of(&p, &held_history(), "2025-06-02T18:00", "resolution");
    // 2 h left at 17:00: 17:00-18:00, then Tuesday 10:00-11:00.
    assert_eq!(text(c.due), "2025-06-03T11:00:00+02:00");
    assert_eq!(c.elapsed, TimeDelta::hours(3));
    assert_eq!(c.remaining, Some(TimeDelta::hours(1)));
    assert_eq!(c.held, TimeDelta::hours(5));
    assert_eq!(c.state, State::Running);
}

#[test]
fn pause_wall_clock_pushes_the_due_by_the_hold() {
    let mut p = policy(&[("resolution", 240)]);
    p.accounting = PauseAccounting::WallClock;
    // Base due Mon 14:00, pushed by the 5 h hold: Mon 19:00, in closed hours.
    let c = clock_of(&p, &held_history(), "2025-06-02T18:30", "resolution");
    assert_eq!(text(c.due), "2025-06-02T19:00:00+02:00");
    assert_eq!(c.elapsed, TimeDelta::hours(3));
    assert_eq!(c.allowed, Some(TimeDelta::hours(3)));
    assert_eq!(c.remaining, Some(TimeDelta::zero()));
    assert_eq!(c.state, State::Running);
    assert_eq!(c.percent(), Some(100));
    // The allowance is used up at 18:00, but the breach is at the pushed due.
    assert_eq!(
        crossings(&c)[2],
        (100, "2025-06-02T18:00:00+02:00".into(), true)
    );
    let c = clock_of(&p, &held_history(), "2025-06-03T09:00", "resolution");
    assert_eq!(c.state, State::Breached);
    assert_eq!(text(c.breached_at), "2025-06-02T19:00:00+02:00");
}

#[test]
fn while_paused_the_due_and_future_thresholds_are_unknown() {
    for accounting in [PauseAccounting::Business, PauseAccounting::WallClock] {
        let mut p = policy(&[("resolution", 240)]);
        p.accounting = accounting;
        let c = clock_of(&p, &held_history()[..2], "2025-06-02T15:00", "resolution");
        assert_eq!(c.state, State::Paused);
        assert_eq!(c.due, None);
        assert_eq!(text(c.paused_since), "2025-06-02T12:00:00+02:00");
        assert_eq!(c.elapsed, TimeDelta::hours(2));
        assert_eq!(c.held, TimeDelta::hours(3));
        assert_eq!(
            crossings(&c),
            vec![
                (50, "2025-06-02T12:00:00+02:00".into(), true),
                (75, "()".into(), false),
                (100, "()".into(), false),
            ]
        );
        let remaining = minutes(c.remaining);
        match accounting {
            PauseAccounting::Business => assert_eq!(remaining, Some(120)),
            PauseAccounting::WallClock => assert_eq!(remaining, None),
        }
    }
}

#[test]
fn a_ticket_created_on_hold_starts_counting_when_released() {
    let p = policy(&[("resolution", 60)]);
    let events = [
        created("2025-06-02T10:00").with_status("waiting_on_customer"),
        status("2025-06-02T15:00", "open"),
    ];
    let c = clock_of(&p, &events, "2025-06-02T15:30", "resolution");
    assert_eq!(text(c.due), "2025-06-02T16:00:00+02:00");
    assert_eq!(c.elapsed, TimeDelta::minutes(30));
}

#[test]
fn a_metric_with_no_pause_statuses_ignores_holds() {
    let mut p = policy(&[("first_response", 240), ("resolution", 240)]);
    p.metrics[0].pause_statuses = Some(vec![]);
    let all = clocks(
        &domain_calendar(),
        &p,
        &held_history(),
        at("2025-06-02T17:30"),
    )
    .unwrap();
    assert_eq!(all[0].elapsed, TimeDelta::minutes(450));
    assert_eq!(all[0].state, State::Breached);
    assert_eq!(all[1].elapsed, TimeDelta::minutes(150));
}

// ---------------------------------------------------------------------------------------
// Reopening: resume vs new cycle; breaches stay recorded
// ---------------------------------------------------------------------------------------

/// Resolution 4 h from Mon 10:00, resolved Mon 11:00, reopened Tue 10:00.
fn reopened_history() -> Vec<Event> {
    vec![
        created("2025-06-02T10:00"),
        status("2025-06-02T11:00", "resolved"),
        status("2025-06-03T10:00", "open"),
    ]
}

#[test]
fn reopen_resume_keeps_the_cycle_and_the_time_used() {
    let p = policy(&[("resolution", 240)]);
    let c = clock_of(&p, &reopened_history(), "2025-06-03T11:00", "resolution");
    assert_eq!(c.cycle, 1);
    assert_eq!(text(c.start), "2025-06-02T10:00:00+02:00");
    assert_eq!(text(c.due), "2025-06-03T13:00:00+02:00");
    assert_eq!(c.elapsed, TimeDelta::hours(2));
    assert_eq!(c.state, State::Running);
    assert_eq!(c.held, TimeDelta::hours(23));
    // Before the reopening the cycle was met.
    let c = clock_of(&p, &reopened_history(), "2025-06-02T20:00", "resolution");
    assert_eq!(c.state, State::Met);
    assert_eq!(text(c.due), "2025-06-02T14:00:00+02:00");
}

#[test]
fn reopen_new_cycle_starts_with_the_full_target() {
    let mut p = policy(&[("resolution", 240)]);
    p.reopen = Reopen::NewCycle;
    let c = clock_of(&p, &reopened_history(), "2025-06-03T11:00", "resolution");
    assert_eq!(c.cycle, 2);
    assert_eq!(text(c.start), "2025-06-03T10:00:00+02:00");
    assert_eq!(text(c.due), "2025-06-03T14:00:00+02:00");
    assert_eq!(c.elapsed, TimeDelta::hours(1));
    assert_eq!(c.cycles.len(), 2);
    assert_eq!(c.cycles[0].state, State::Met);
    assert_eq!(c.cycles[0].elapsed, TimeDelta::hours(1));
}

/// Resolution 2 h from Mon 10:00: breached at 12:00, resolved 13:00, reopened Tue 10:00.
fn breached_then_reopened() -> Vec<Event> {
    vec![
        created("2025-06-02T10:00"),
        status("2025-06-02T13:00", "resolved"),
        status("2025-06-03T10:00", "open"),
    ]
}

#[test]
fn a_breach_stays_recorded_through_a_new_cycle() {
    let mut p = policy(&[("resolution", 120)]);
    p.reopen = Reopen::NewCycle;
    let c = clock_of(
        &p,
        &breached_then_reopened(),
        "2025-06-02T15:00",
        "resolution",
    );
    assert_eq!(c.state, State::Breached);
    assert_eq!(text(c.breached_at), "2025-06-02T12:00:00+02:00");
    assert_eq!(text(c.stopped_at), "2025-06-02T13:00:00+02:00");

    let c = clock_of(
        &p,
        &breached_then_reopened(),
        "2025-06-03T11:00",
        "resolution",
    );
    assert_eq!(c.cycle, 2);
    assert_eq!(c.state, State::Running);
    assert_eq!(c.breached_at, None);
    assert_eq!(text(c.due), "2025-06-03T12:00:00+02:00");
    assert_eq!(c.breaches.len(), 1);
    assert_eq!(c.breaches[0].cycle, 1);
    assert_eq!(c.breaches[0].at.to_string(), "2025-06-02T12:00:00+02:00");
    assert_eq!(c.cycles[0].state, State::Breached);
}

#[test]
fn a_breach_stays_recorded_when_the_cycle_resumes() {
    for accounting in [PauseAccounting::Business, PauseAccounting::WallClock] {
        let mut p = policy(&[("resolution", 120)]);
        p.accounting = accounting;
        let c = clock_of(
            &p,
            &breached_then_reopened(),
            "2025-06-03T11:00",
            "resolution",
        );
        assert_eq!(c.cycle, 1);
        assert_eq!(c.state, State::Breached);
        assert_eq!(text(c.breached_at), "2025-06-02T12:00:00+02:00");
        assert_eq!(text(c.due), "2025-06-02T12:00:00+02:00");
        assert_eq!(c.elapsed, TimeDelta::hours(4));
        assert_eq!(c.remaining, Some(TimeDelta::zero()));
    }
}

#[test]
fn a_breach_stays_recorded_through_a_pause() {
    for accounting in [PauseAccounting::Business, PauseAccounting::WallClock] {
        let mut p = policy(&[("resolution", 60)]);
        p.accounting = accounting;
        let events = [
            created("2025-06-02T10:00"),
            status("2025-06-02T12:00", "waiting_on_customer"),
            status("2025-06-03T10:00", "open"),
        ];
        let paused = clock_of(&p, &events[..2], "2025-06-02T15:00", "resolution");
        assert_eq!(paused.state, State::Paused);
        assert_eq!(text(paused.breached_at), "2025-06-02T11:00:00+02:00");
        assert_eq!(text(paused.due), "2025-06-02T11:00:00+02:00");
        let resumed = clock_of(&p, &events, "2025-06-03T10:30", "resolution");
        assert_eq!(resumed.state, State::Breached);
        assert_eq!(text(resumed.due), "2025-06-02T11:00:00+02:00");
        assert_eq!(resumed.elapsed, TimeDelta::minutes(150));
    }
}

// ---------------------------------------------------------------------------------------
// Thresholds
// ---------------------------------------------------------------------------------------

#[test]
fn thresholds_are_instants_past_and_future() {
    let mut p = policy(&[("resolution", 240)]);
    p.thresholds = vec![50, 75, 100, 150];
    let events = [created("2025-06-02T10:00")];
    let c = clock_of(&p, &events, "2025-06-02T12:30", "resolution");
    assert_eq!(
        crossings(&c),
        vec![
            (50, "2025-06-02T12:00:00+02:00".into(), true),
            (75, "2025-06-02T13:00:00+02:00".into(), false),
            (100, "2025-06-02T14:00:00+02:00".into(), false),
            (150, "2025-06-02T16:00:00+02:00".into(), false),
        ]
    );
    assert_eq!(c.percent(), Some(62));
    assert_eq!(c.percent_exact().unwrap().to_string(), "62.50");
}

#[test]
fn thresholds_skip_closed_hours_and_holds() {
    let p = policy(&[("resolution", 240)]);
    // Fri 16:00: 2 h on Friday, 2 h on Monday; held Mon 10:30-11:00.
    let events = [
        created("2025-06-06T16:00"),
        status("2025-06-09T10:30", "waiting_on_customer"),
        status("2025-06-09T11:00", "open"),
    ];
    let c = clock_of(&p, &events, "2025-06-09T11:00", "resolution");
    assert_eq!(
        crossings(&c),
        vec![
            (50, "2025-06-06T18:00:00+02:00".into(), true),
            (75, "2025-06-09T11:30:00+02:00".into(), false),
            (100, "2025-06-09T12:30:00+02:00".into(), false),
        ]
    );
    assert_eq!(text(c.due), "2025-06-09T12:30:00+02:00");
}

#[test]
fn a_met_clock_never_crosses_its_remaining_thresholds() {
    let p = policy(&[("first_response", 60)]);
    let events = [created("2025-06-02T10:00"), agent("2025-06-02T10:40")];
    let c = clock_of(&p, &events, "2025-06-02T17:00", "first_response");
    assert_eq!(
        crossings(&c),
        vec![
            (50, "2025-06-02T10:30:00+02:00".into(), true),
            (75, "()".into(), false),
            (100, "()".into(), false),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Next response and custom metrics
// ---------------------------------------------------------------------------------------

#[test]
fn next_response_runs_while_the_customer_waits_for_an_answer() {
    let p = policy(&[("first_response", 60), ("next_response", 120)]);
    let events = [
        created("2025-06-02T10:00"),
        customer("2025-06-02T10:05"), // before the first response: first_response covers it
        agent("2025-06-02T10:30"),
        customer("2025-06-02T11:00"),
        agent("2025-06-02T12:00"),
        customer("2025-06-02T17:00"),
        customer("2025-06-02T17:30"), // the same wait
    ];
    let before = clock_of(&p, &events[..3], "2025-06-02T10:45", "next_response");
    assert_eq!(before.state, State::NotStarted);
    assert_eq!(before.cycle, 0);
    let c = clock_of(&p, &events, "2025-06-03T10:00", "next_response");
    assert_eq!(c.cycle, 2);
    assert_eq!(text(c.start), "2025-06-02T17:00:00+02:00");
    assert_eq!(text(c.due), "2025-06-03T11:00:00+02:00");
    assert_eq!(c.elapsed, TimeDelta::hours(1));
    assert_eq!(c.cycles[0].state, State::Met);
    assert_eq!(c.cycles[0].elapsed, TimeDelta::hours(1));
}

#[test]
fn a_customer_reply_while_resolved_waits_for_the_reopening() {
    let p = policy(&[("first_response", 60), ("next_response", 60)]);
    let events = [
        created("2025-06-02T10:00"),
        agent("2025-06-02T10:10"),
        status("2025-06-02T10:20", "resolved"),
        customer("2025-06-02T11:00"),
        status("2025-06-02T14:00", "open"),
    ];
    let c = clock_of(&p, &events[..4], "2025-06-02T12:00", "next_response");
    assert_eq!(c.state, State::NotStarted);
    let c = clock_of(&p, &events, "2025-06-02T14:30", "next_response");
    assert_eq!(text(c.start), "2025-06-02T14:00:00+02:00");
    assert_eq!(text(c.due), "2025-06-02T15:00:00+02:00");
}

#[test]
fn a_custom_metric_runs_between_its_conditions() {
    let mut p = policy(&[]);
    p.event_types = vec!["escalated".into()];
    p.metrics.push(Metric {
        name: "time_to_assign".into(),
        target: TimeDelta::minutes(30),
        rule: MetricRule::Custom(CustomRule {
            start: vec![Matcher {
                kind: Some("created".into()),
                ..Matcher::default()
            }],
            stop: vec![Matcher {
                kind: Some("assigned".into()),
                ..Matcher::default()
            }],
            repeat: Repeat::Once,
        }),
        pause_statuses: Some(vec![]),
    });
    let events = [
        created("2025-06-02T09:00"),
        Event::new(at("2025-06-02T10:20"), "escalated"),
        Event::new(at("2025-06-02T10:40"), "assigned"),
    ];
    let c = clock_of(&p, &events, "2025-06-02T12:00", "time_to_assign");
    assert_eq!(c.state, State::Breached);
    assert_eq!(text(c.breached_at), "2025-06-02T10:30:00+02:00");
    assert_eq!(c.elapsed, TimeDelta::minutes(40));
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

fn error(p: &Policy, events: &[Event], metric: &str) -> String {
    clock(
        &domain_calendar(),
        p,
        events,
        at("2025-06-03T10:00"),
        metric,
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn errors_name_the_field() {
    let p = policy(&[("resolution", 60)]);
    let ok = [created("2025-06-02T10:00")];
    assert!(error(&p, &ok, "resoluton").contains("unknown metric `resoluton`"));

    let out_of_order = [created("2025-06-02T10:00"), agent("2025-06-02T09:00")];
    let e = error(&p, &out_of_order, "resolution");
    assert!(e.contains("`events[1].at`: events out of order"), "{e}");

    let unknown = [
        created("2025-06-02T10:00"),
        Event::new(at("2025-06-02T11:00"), "call"),
    ];
    let e = error(&p, &unknown, "resolution");
    assert!(
        e.contains("`events[1].type`: unknown event type `call`"),
        "{e}"
    );

    let no_author = [
        created("2025-06-02T10:00"),
        Event::new(at("2025-06-02T11:00"), "reply"),
    ];
    assert!(error(&p, &no_author, "resolution").contains("`events[1].by` is required"));

    let not_first = [agent("2025-06-02T10:00")];
    assert!(error(&p, &not_first, "resolution").contains("`events[0].type`"));
    assert!(error(&p, &[], "resolution").contains("the history is empty"));

    let mut zero = policy(&[("resolution", 60)]);
    zero.metrics[0].target = TimeDelta::zero();
    let e = error(&zero, &ok, "resolution");
    assert!(
        e.contains("`policy.targets.resolution`: a target must be greater than 0"),
        "{e}"
    );
}

fn script_policy(entries: &[(&str, Dynamic)]) -> Map {
    entries
        .iter()
        .map(|(k, v)| ((*k).into(), v.clone()))
        .collect()
}

fn targets(pairs: &[(&str, i64)]) -> Dynamic {
    Dynamic::from_map(
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), Dynamic::from_int(*v)))
            .collect(),
    )
}

#[test]
fn script_values_are_checked_with_their_path() {
    let bad_target = script_policy(&[("targets", targets(&[("resolution", 0)]))]);
    let e = policy_of(&bad_target).unwrap_err().to_string();
    assert!(
        e.contains("`policy.targets.resolution`: a target must be greater than 0"),
        "{e}"
    );

    let unknown_metric = script_policy(&[("targets", targets(&[("resolve", 60)]))]);
    let e = policy_of(&unknown_metric).unwrap_err().to_string();
    assert!(e.contains("unknown metric `resolve`"), "{e}");

    let typo = script_policy(&[
        ("targets", targets(&[("resolution", 60)])),
        ("pause_status", Dynamic::from_array(vec![])),
    ]);
    let e = policy_of(&typo).unwrap_err().to_string();
    assert!(
        e.starts_with("sla: policy.pause_status: unknown key (allowed: name, description"),
        "{e}"
    );

    let accounting = script_policy(&[
        ("targets", targets(&[("resolution", 60)])),
        ("pause_accounting", Dynamic::from("wallclock".to_string())),
    ]);
    let e = policy_of(&accounting).unwrap_err().to_string();
    assert!(
        e.contains("`policy.pause_accounting` must be one of \"business\", \"wall_clock\""),
        "{e}"
    );

    let event = |entries: &[(&str, &str)]| -> Array {
        vec![Dynamic::from_map(
            entries
                .iter()
                .map(|(k, v)| ((*k).into(), Dynamic::from((*v).to_string())))
                .collect(),
        )]
    };
    let e = events_of(
        &event(&[("at", "2025-13-01T10:00"), ("type", "created")]),
        ROME,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("`events[0].at`: invalid datetime"), "{e}");
    let e = events_of(&event(&[("type", "created")]), ROME)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "sla: events[0].at: expected a datetime or an RFC 3339 string, found nothing"
    );
    let e = events_of(
        &event(&[("at", "2025-06-02T10:00"), ("type", "reply"), ("by", "bot")]),
        ROME,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`events[0].by` must be one of \"agent\", \"customer\""),
        "{e}"
    );
}

#[test]
fn a_zero_allowance_is_past_every_threshold() {
    // Found by the `thresholds_are_crossed_in_order` law: a wall-clock cycle held before any
    // business time ran can be left with nothing allowed; `crossing` then puts every
    // threshold, 150% included, at the start, so the share must be past all of them.
    let mut p = policy(&[("first_response", 480)]);
    p.thresholds = vec![50, 100, 150];
    let events = [created("2025-06-02T10:00"), agent("2025-06-02T10:00:00")];
    let mut c = clock_of(&p, &events, "2025-06-02T10:00", "first_response");
    c.allowed = Some(TimeDelta::zero());
    c.elapsed = TimeDelta::zero();
    assert!(c.percent().unwrap() >= 150, "{:?}", c.percent());
    assert_eq!(c.percent(), Some(i64::from(u32::MAX)));
}
