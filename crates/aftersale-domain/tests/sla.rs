//! The sla plugin from outside: laws of the clock (proptest) on random histories and
//! calendars, the plugin evaluated through the engine as a contract uses it, and a timing of
//! a clock over a 200-event history (printed, not asserted: run it with
//! `cargo test --release -p aftersale-domain --test sla -- --nocapture timing`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use aftersale_core::{BundleSource, DateTime, Engine, EvalError, Request};
use aftersale_domain::calendar::{Calendar, CalendarDef, CalendarPlugin, WeeklyHours};
use aftersale_domain::sla::{
    clock, clocks, Actor, Event, Metric, PauseAccounting, Policy, Reopen, SlaPlugin, State,
};
use chrono::TimeDelta;
use proptest::prelude::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// Random calendars, policies and histories
// ---------------------------------------------------------------------------------------

fn rome_business() -> Calendar {
    Calendar::new(&CalendarDef {
        timezone: "Europe/Rome".into(),
        hours: WeeklyHours::weekdays(&["09:00-13:00", "14:00-18:00"]),
        holidays: vec![
            "2025-04-21".into(),
            "2025-04-25".into(),
            "2025-05-01".into(),
        ],
    })
    .unwrap()
}

fn new_york_business() -> Calendar {
    Calendar::new(&CalendarDef {
        timezone: "America/New_York".into(),
        hours: WeeklyHours::weekdays(&["09:00-17:00"]),
        holidays: vec!["2025-05-26".into(), "2025-07-04".into()],
    })
    .unwrap()
}

fn calendars() -> impl Strategy<Value = Calendar> {
    prop_oneof![
        Just(rome_business()),
        Just(new_york_business()),
        Just(Calendar::always_open(chrono_tz::Europe::Rome)),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Pause,
    Unpause,
    Agent,
    Customer,
    Resolve,
    Reopen,
    Note,
}

fn steps() -> impl Strategy<Value = Vec<(i64, Step)>> {
    let step = prop_oneof![
        Just(Step::Pause),
        Just(Step::Unpause),
        Just(Step::Agent),
        Just(Step::Customer),
        Just(Step::Resolve),
        Just(Step::Reopen),
        Just(Step::Note),
    ];
    prop::collection::vec((0i64..4000, step), 0..24)
}

/// 2025-03-01 00:00 UTC, so histories cross both DST changes and the holidays.
const BASE: i64 = 1_740_787_200;

fn instant(seconds: i64) -> DateTime {
    DateTime::parse("1970-01-01T00:00:00Z", chrono_tz::UTC)
        .unwrap()
        .add_seconds(seconds)
        .unwrap()
}

/// A history: created `start` minutes after BASE, then the steps `gap` minutes apart.
fn history(start: i64, steps: &[(i64, Step)]) -> Vec<Event> {
    let mut t = BASE + start * 60;
    let mut events = vec![Event::new(instant(t), "created")];
    for &(gap, step) in steps {
        t += gap * 60;
        let at = instant(t);
        events.push(match step {
            Step::Pause => Event::new(at, "status").with_status("waiting_on_customer"),
            Step::Unpause | Step::Reopen => Event::new(at, "status").with_status("open"),
            Step::Resolve => Event::new(at, "status").with_status("resolved"),
            Step::Agent => Event::new(at, "reply").with_author(Actor::Agent),
            Step::Customer => Event::new(at, "reply").with_author(Actor::Customer),
            Step::Note => Event::new(at, "note"),
        });
    }
    events
}

fn policy(targets: [i64; 3], accounting: PauseAccounting, reopen: Reopen) -> Policy {
    Policy {
        metrics: ["first_response", "next_response", "resolution"]
            .iter()
            .zip(targets)
            .map(|(name, minutes)| Metric::builtin(name, TimeDelta::minutes(minutes)).unwrap())
            .collect(),
        pause_statuses: vec!["waiting_on_customer".into()],
        accounting,
        reopen,
        thresholds: vec![25, 50, 75, 100, 150],
        ..Policy::default()
    }
}

fn accountings() -> impl Strategy<Value = PauseAccounting> {
    prop_oneof![
        Just(PauseAccounting::Business),
        Just(PauseAccounting::WallClock)
    ]
}

fn reopens() -> impl Strategy<Value = Reopen> {
    prop_oneof![Just(Reopen::Resume), Just(Reopen::NewCycle)]
}

fn case() -> impl Strategy<Value = (Calendar, Policy, Vec<Event>, DateTime, DateTime)> {
    (
        calendars(),
        [1i64..3000, 1i64..3000, 1i64..6000],
        accountings(),
        reopens(),
        0i64..200_000,
        steps(),
        0i64..20_000,
        0i64..20_000,
    )
        .prop_map(|(cal, targets, accounting, reopen, start, steps, a, b)| {
            let events = history(start, &steps);
            let first = events[0].at;
            let (early, late) = (a.min(b), a.max(b));
            (
                cal,
                policy(targets, accounting, reopen),
                events,
                first.add_seconds(early * 60).unwrap(),
                first.add_seconds(late * 60).unwrap(),
            )
        })
}

/// The business time during which the resolution clock runs in `resume` mode, counted
/// independently: from creation, whenever the status is neither a pause nor resolved.
fn running_business_time(cal: &Calendar, events: &[Event], as_of: DateTime) -> TimeDelta {
    let mut total = TimeDelta::zero();
    let mut running_since: Option<DateTime> = None;
    for event in events.iter().filter(|e| e.at <= as_of) {
        let status = match (event.kind.as_str(), &event.status) {
            ("created", _) => "open",
            ("status", Some(s)) => s.as_str(),
            _ => continue,
        };
        let runs = status != "waiting_on_customer" && status != "resolved";
        match (running_since, runs) {
            (None, true) => running_since = Some(event.at),
            (Some(since), false) => {
                total += cal.business_time(since, event.at).unwrap();
                running_since = None;
            }
            _ => {}
        }
    }
    if let Some(since) = running_since {
        total += cal.business_time(since, as_of).unwrap();
    }
    total
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn elapsed_plus_remaining_is_the_allowance_while_running(
        (cal, policy, events, as_of, _) in case()
    ) {
        for c in clocks(&cal, &policy, &events, as_of).unwrap() {
            if c.state == State::Running {
                prop_assert_eq!(c.elapsed + c.remaining.unwrap(), c.allowed.unwrap(), "{:?}", c);
                let due = c.due.unwrap();
                if as_of <= due {
                    prop_assert_eq!(cal.business_time(as_of, due).unwrap(), c.remaining.unwrap());
                }
                if policy.accounting == PauseAccounting::Business {
                    prop_assert_eq!(c.allowed.unwrap(), c.target);
                }
            }
        }
    }

    #[test]
    fn paused_time_is_not_counted(
        (cal, mut policy, events, as_of, _) in case()
    ) {
        policy.reopen = Reopen::Resume;
        let c = clock(&cal, &policy, &events, as_of, "resolution").unwrap();
        prop_assert_eq!(c.elapsed, running_business_time(&cal, &events, as_of));
    }

    #[test]
    fn a_breach_is_never_taken_back(
        (cal, policy, events, early, late) in case()
    ) {
        let before = clocks(&cal, &policy, &events, early).unwrap();
        let after = clocks(&cal, &policy, &events, late).unwrap();
        for (b, a) in before.iter().zip(&after) {
            prop_assert!(a.breaches.len() >= b.breaches.len());
            prop_assert_eq!(&a.breaches[..b.breaches.len()], &b.breaches[..], "{}", b.metric);
        }
    }

    #[test]
    fn thresholds_are_crossed_in_order(
        (cal, policy, events, as_of, _) in case()
    ) {
        for c in clocks(&cal, &policy, &events, as_of).unwrap() {
            let known: Vec<DateTime> = c.thresholds.iter().filter_map(|t| t.at).collect();
            prop_assert!(known.windows(2).all(|w| w[0] <= w[1]), "{:?}", c.thresholds);
            for t in &c.thresholds {
                let consumed = c.percent().unwrap_or(0) >= i64::from(t.percent);
                prop_assert_eq!(t.crossed, consumed, "{:?}", c);
            }
            if policy.accounting == PauseAccounting::Business && c.state == State::Running {
                let hundred = c.thresholds.iter().find(|t| t.percent == 100).unwrap();
                prop_assert_eq!(hundred.at, c.due);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Through the engine
// ---------------------------------------------------------------------------------------

const CONTRACT: &str = r#"
[contract]
id = "sla-demo"
version = "1"
timezone = "Europe/Rome"
plugins = ["calendar", "sla"]

[params]
policies = [
  { name = "urgent", when = { priority = "urgent" }, targets = { first_response = 30, resolution = 120 } },
  { name = "vip", when = { tier = ["gold", "platinum"] }, targets = { first_response = 15, resolution = 60 } },
  { name = "default", targets = { first_response = 60, resolution = 240 } },
]

[terms.hours]
[terms.policy]
[terms.all_policies]
[terms.clocks]
"#;

fn bundle(extra: &[(&str, &str)]) -> BundleSource {
    let mut source = BundleSource::new("sla-demo")
        .with_file("contract.toml", CONTRACT)
        .with_file(
            "terms/hours.rhai",
            r#"calendar(#{ hours: #{ mon: ["10:00-18:00"], tue: ["10:00-18:00"], wed: ["10:00-18:00"], thu: ["10:00-18:00"], fri: ["10:00-18:00"] } })"#,
        )
        .with_file(
            "terms/policy.rhai",
            "let p = sla_select(params.policies, facts.ticket); p.remove(\"name\"); p",
        )
        .with_file(
            "terms/all_policies.rhai",
            "sla_select_all(params.policies, facts.ticket).map(|p| p.name)",
        )
        .with_file(
            "terms/clocks.rhai",
            "sla_clocks(terms.hours, terms.policy, facts.ticket.events, as_of)",
        );
    for (path, text) in extra {
        source = source.with_file(*path, *text);
    }
    source
}

fn evaluate(
    source: &BundleSource,
    facts: Value,
    as_of: &str,
) -> Result<serde_json::Map<String, Value>, EvalError> {
    let engine = Engine::builder()
        .plugin(CalendarPlugin)
        .plugin(SlaPlugin)
        .build();
    let contract = engine.load(source).unwrap_or_else(|e| panic!("{e}"));
    let as_of = contract.parse_as_of(as_of).unwrap();
    contract
        .evaluate(&Request::new(facts, as_of).with_outputs(contract.term_names()))
        .map(|d| d.outputs)
}

fn ticket(priority: &str, tier: &str, events: Value) -> Value {
    json!({ "ticket": { "priority": priority, "tier": tier, "events": events } })
}

#[test]
fn engine_selects_the_first_matching_policy_and_runs_its_clocks() {
    let facts = ticket(
        "urgent",
        "gold",
        json!([
            { "at": "2025-06-06T17:00:00", "type": "created" },
            { "at": "2025-06-06T17:20:00+02:00", "type": "reply", "by": "agent" },
        ]),
    );
    let out = evaluate(&bundle(&[]), facts, "2025-06-09T10:30:00+02:00").unwrap();
    assert_eq!(out["all_policies"], json!(["urgent", "vip", "default"]));
    let fr = &out["clocks"]["first_response"];
    assert_eq!(fr["state"], json!("met"));
    assert_eq!(fr["due"], json!("2025-06-06T17:30:00+02:00"));
    assert_eq!(fr["stopped_at"], json!("2025-06-06T17:20:00+02:00"));
    assert_eq!(fr["elapsed_minutes"], json!(20));
    let res = &out["clocks"]["resolution"];
    assert_eq!(res["state"], json!("running"));
    assert_eq!(res["due"], json!("2025-06-09T11:00:00+02:00"));
    assert_eq!(res["elapsed_minutes"], json!(90));
    assert_eq!(res["remaining_minutes"], json!(30));
    assert_eq!(res["percent"], json!(75));
    assert_eq!(
        serde_json::to_string(&res["percent_exact"]).unwrap(),
        "75.00"
    );
    assert_eq!(res["paused_since"], Value::Null);
    assert_eq!(res["breaches"], json!([]));
}

#[test]
fn engine_falls_back_to_the_policy_without_conditions() {
    let facts = ticket(
        "normal",
        "bronze",
        json!([{ "at": "2025-06-02T08:00:00", "type": "created" }]),
    );
    let out = evaluate(&bundle(&[]), facts, "2025-06-02T09:00:00").unwrap();
    assert_eq!(out["all_policies"], json!(["default"]));
    assert_eq!(
        out["clocks"]["first_response"]["due"],
        json!("2025-06-02T11:00:00+02:00")
    );
    assert_eq!(
        out["clocks"]["resolution"]["due"],
        json!("2025-06-02T14:00:00+02:00")
    );
}

fn term_error(result: Result<serde_json::Map<String, Value>, EvalError>) -> String {
    match result {
        Err(e @ EvalError::Term { .. }) => e.to_string(),
        other => panic!("expected a term error, got {other:?}"),
    }
}

#[test]
fn engine_reports_bad_histories_as_runtime_errors_naming_the_field() {
    let out_of_order = ticket(
        "normal",
        "bronze",
        json!([
            { "at": "2025-06-02T10:00:00", "type": "created" },
            { "at": "2025-06-02T09:00:00", "type": "reply", "by": "agent" },
        ]),
    );
    let e = term_error(evaluate(&bundle(&[]), out_of_order, "2025-06-03"));
    assert!(
        e.contains("sla_clocks: `events[1].at`: events out of order"),
        "{e}"
    );

    let bad_instant = ticket(
        "normal",
        "bronze",
        json!([{ "at": "yesterday", "type": "created" }]),
    );
    let e = term_error(evaluate(&bundle(&[]), bad_instant, "2025-06-03"));
    assert!(
        e.contains("`events[0].at`: invalid datetime `yesterday`"),
        "{e}"
    );

    let unknown_type = ticket(
        "normal",
        "bronze",
        json!([
            { "at": "2025-06-02T10:00:00", "type": "created" },
            { "at": "2025-06-02T11:00:00", "type": "call" },
        ]),
    );
    let e = term_error(evaluate(&bundle(&[]), unknown_type, "2025-06-03"));
    assert!(
        e.contains("`events[1].type`: unknown event type `call`"),
        "{e}"
    );
}

#[test]
fn engine_reports_unknown_metrics_and_bad_targets() {
    let facts = ticket(
        "normal",
        "bronze",
        json!([{ "at": "2025-06-02T10:00:00", "type": "created" }]),
    );
    let one = bundle(&[(
        "terms/clocks.rhai",
        r#"sla_clock(terms.hours, terms.policy, facts.ticket.events, as_of, "resolutoin")"#,
    )]);
    let e = term_error(evaluate(&one, facts.clone(), "2025-06-03"));
    assert!(
        e.contains(
            "unknown metric `resolutoin`: the policy has targets for first_response, resolution"
        ),
        "{e}"
    );
    let zero = bundle(&[(
        "terms/clocks.rhai",
        r#"sla_clocks(terms.hours, #{ targets: #{ resolution: 0 } }, facts.ticket.events, as_of)"#,
    )]);
    let e = term_error(evaluate(&zero, facts.clone(), "2025-06-03"));
    assert!(
        e.contains("`policy.targets.resolution`: a target must be greater than 0"),
        "{e}"
    );
    let none = ticket(
        "normal",
        "bronze",
        json!([{ "at": "2025-06-02T10:00:00", "type": "created" }]),
    );
    let strict = bundle(&[(
        "terms/policy.rhai",
        "sla_select(params.policies.filter(|p| \"when\" in p), facts.ticket)",
    )]);
    let e = term_error(evaluate(&strict, none, "2025-06-03"));
    assert!(
        e.contains("no policy matches the ticket (priority = the string \"normal\", tier = the string \"bronze\")"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Bounds on the inputs, and work charged to the evaluation
// ---------------------------------------------------------------------------------------

mod bounds {
    use super::*;
    use aftersale_domain::sla::{SlaError, MAX_CYCLES, MAX_EVENTS, MAX_METRICS, MAX_THRESHOLDS};

    fn resolution_in(hours: i64) -> Policy {
        Policy {
            metrics: vec![Metric::builtin("resolution", TimeDelta::hours(hours)).unwrap()],
            ..Policy::default()
        }
    }

    fn too_many(err: SlaError) -> (String, usize, usize) {
        match err {
            SlaError::TooMany {
                field,
                limit,
                found,
                ..
            } => (field, limit, found),
            other => panic!("expected TooMany, got {other}"),
        }
    }

    #[test]
    fn a_policy_takes_at_most_32_thresholds_and_16_metrics() {
        let cal = rome_business();
        let events = history(0, &[]);
        let as_of = instant(BASE + 86_400);
        let mut policy = resolution_in(4);
        policy.thresholds = (1..=MAX_THRESHOLDS as u32).collect();
        assert!(clocks(&cal, &policy, &events, as_of).is_ok());
        policy.thresholds.push(MAX_THRESHOLDS as u32 + 1);
        let err = clocks(&cal, &policy, &events, as_of).unwrap_err();
        assert!(err.to_string().contains("at most 32 thresholds"), "{err}");
        assert_eq!(too_many(err), ("policy.thresholds".into(), 32, 33));

        let mut policy = resolution_in(4);
        policy.metrics = (0..=MAX_METRICS)
            .map(|i| Metric {
                name: format!("m{i}"),
                ..Metric::builtin("resolution", TimeDelta::hours(4)).unwrap()
            })
            .collect();
        let err = clocks(&cal, &policy, &events, as_of).unwrap_err();
        assert_eq!(too_many(err), ("policy.targets".into(), 16, 17));
    }

    #[test]
    fn a_history_takes_at_most_10000_events() {
        let cal = Calendar::always_open(chrono_tz::UTC);
        let mut events = history(0, &[]);
        while events.len() <= MAX_EVENTS {
            let at = instant(BASE + i64::try_from(events.len()).unwrap());
            events.push(Event::new(at, "note"));
        }
        let err = clocks(&cal, &resolution_in(4), &events, instant(BASE + (1 << 20))).unwrap_err();
        assert_eq!(too_many(err), ("events".into(), MAX_EVENTS, MAX_EVENTS + 1));
    }

    #[test]
    fn a_metric_runs_at_most_1000_cycles() {
        let cal = Calendar::always_open(chrono_tz::UTC);
        let policy = Policy {
            metrics: ["first_response", "next_response"]
                .iter()
                .map(|m| Metric::builtin(m, TimeDelta::hours(1)).unwrap())
                .collect(),
            ..Policy::default()
        };
        let mut events = history(0, &[]);
        for i in 0..=MAX_CYCLES as i64 {
            let at = |k: i64| instant(BASE + 60 * k);
            events.push(Event::new(at(2 * i + 1), "reply").with_author(Actor::Agent));
            events.push(Event::new(at(2 * i + 2), "reply").with_author(Actor::Customer));
        }
        let err = clocks(&cal, &policy, &events, instant(BASE + (1 << 30))).unwrap_err();
        let (field, limit, found) = too_many(err);
        assert_eq!((limit, found), (MAX_CYCLES, MAX_CYCLES + 1));
        assert!(field.contains("next_response"), "{field}");
    }

    /// A clock over a calendar open one minute a week, with a holiday every week for 150
    /// years, walks tens of thousands of days inside one rhai operation: the calendar
    /// charges each to the evaluation, which stops at its `max_operations` with the
    /// sandbox's own error. Under a wide limit the same clock is computed.
    #[test]
    fn clock_work_is_charged_to_the_evaluation() {
        let script = r#"let days = []; let d = date("2025-01-06");
for i in 0..7800 { days.push(d.add_days(7 * i).to_string()); }
let cal = calendar(#{ timezone: "UTC", hours: #{ sun: ["10:00-10:01"] }, holidays: days });
let events = [#{ at: "2025-01-06T09:00:00Z", type: "created" }];
sla_clocks(cal, #{ targets: #{ resolution: #{ hours: 100 } }, thresholds: [50, 100] }, events, as_of).len()"#;
        let run = |limits: &str| {
            let source = BundleSource::new("sparse")
                .with_file(
                    "contract.toml",
                    format!("[contract]\nid = \"sparse\"\nversion = \"1\"\nplugins = [\"calendar\", \"sla\"]\n[limits]\nmax_string_size = 1000000\nmax_duration_ms = 3600000\n{limits}\n[terms.clocks]\n"),
                )
                .with_file("terms/clocks.rhai", script);
            let engine = Engine::builder()
                .plugin(CalendarPlugin)
                .plugin(SlaPlugin)
                .build();
            let contract = engine.load(&source).unwrap_or_else(|e| panic!("{e}"));
            let as_of = contract.parse_as_of("2025-02-01").unwrap();
            contract.evaluate(&Request::new(json!({}), as_of))
        };
        let err = run("max_operations = 200000").unwrap_err();
        assert!(matches!(err, EvalError::Limit { .. }), "{err}");
        assert!(err.to_string().contains("max_operations"), "{err}");
        assert!(err.to_string().contains("term `clocks`"), "{err}");
        let decision = run("max_operations = 100000000").unwrap();
        assert_eq!(decision.outputs["clocks"], json!(1));
    }
}
