//! Property: any JSON as a request's facts, handed piece by piece to the domain plugins'
//! functions (calendar, SLA, maintenance, warranty), ends every call in a value or an error
//! within the evaluation's limits: never a panic, a stack overflow (on a production worker's
//! 2 MiB stack) or a hang. The plugins charge their loops to the evaluation's meter
//! (`aftersale_core::meter::charge`: calendar days walked, SLA events and segments,
//! maintenance occurrences, warranty services) and bound their inputs (SLA: 32 thresholds,
//! 16 metrics, 10,000 events, 1,000 cycles a metric; calendars: 48 windows a weekday,
//! 10,000 holidays; coverage windows: 16 meters), so no input may keep a call running past
//! `max_operations` or `max_duration_ms`.
//!
//! The contract is fixed and loaded once with the production engine (every domain plugin,
//! default limits). Each of its terms calls plugin functions on parts of `facts`, passed on
//! as the engine converted them from JSON (maps, arrays, strings, integers, decimals); only
//! the instants and days a function's signature types are converted, with `datetime(..)` and
//! `date(..)`. Each term is its own evaluation (`Request::with_outputs([term])`), so a term
//! that fails does not hide the others. What each term reads is in [`terms`]; the seeds in
//! `seeds/plugin_inputs_bounded/` show the shapes.
//!
//! Two hang detectors: libFuzzer's `-timeout` for the whole input (every term together; run.sh
//! and ci.sh give this target 30 s, since 21 evaluations may each run up to `max_duration_ms`),
//! and a check here that no single evaluation uses more than [`TERM_SECONDS`] of its thread's
//! CPU time (10 times `max_duration_ms`), which panics naming the term: a plugin call the
//! limits did not stop. CPU time, not wall time, so a busy machine cannot make a finding of a
//! good input. `AFTERSALE_FUZZ_TERM_SECONDS=<n>` overrides it (a debugger, say).
//! Invalid JSON is skipped: `facts_json_never_panics` covers parsing.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use aftersale_core::{BundleSource, Contract, DateTime, Request};
use aftersale_fuzz::{load_fixed, on_worker_stack, production_engine, show, DOMAIN_PLUGINS};
use libfuzzer_sys::fuzz_target;

/// A single evaluation using more CPU time than this is a finding: 10 times the default
/// `max_duration_ms` (500 ms), far past any slowness of instrumented code.
const TERM_SECONDS: u64 = 5;

/// The instant asked about: the night Rome's clocks go forward (02:00 -> 03:00 on
/// 2026-03-29), so a term reading `as_of` meets a DST change.
const AS_OF: &str = "2026-03-29T01:30:00+01:00";

// Shared preludes: the parts of `facts` several terms read, with defaults where a plugin
// argument is optional in spirit (`as_of`, days), none where it is the input under test.
const CAL: &str = r#"let cal = if "calendar" in facts { calendar(facts.calendar) } else { calendar_24x7("Europe/Rome") };
"#;
const START: &str = r#"let start = if "start" in facts { datetime(facts.start) } else { as_of };
"#;
const END: &str = r#"let end = if "end" in facts { datetime(facts.end) } else { as_of };
"#;
const AT: &str = r#"let at = if "as_of" in facts { datetime(facts.as_of) } else { as_of };
"#;
const ON: &str = r#"let on = if "on" in facts { date(facts.on) } else { as_of.date() };
"#;
const PLAN: &str = r#"let plan = maintenance_plan(facts.plan);
let history = if "history" in facts { facts.history } else { [] };
let readings = if "readings" in facts { facts.readings } else { [] };
"#;

/// Every term: its name and script (preludes first). Each calls plugin functions with parts
/// of `facts`:
///
/// - calendar: `calendar` (a definition map, else 24x7 in Rome), `start`/`end` (instants,
///   else `as_of`), `amount` (an integer of seconds/minutes/hours);
/// - SLA: `calendar`, `policy`, `events`, `as_of` (else the request's), `metric`;
///   `policies` and `ticket` for selection;
/// - maintenance: `plan` (`#{tasks, start, start_meters}`), `history`, `readings`, `task`,
///   `on` (a day, else `as_of`'s), `from`/`to` (the visits' span);
/// - warranty: `window` (a coverage window spec) and `reading` (an integer, decimal or map,
///   optional), `age_months` and `tiers` (pro rata; by days from `since` to `on` too), `cost`
///   and `settle` (terms), `money` (`#{cost, deductible, cap, used, price, life, options}`),
///   `guarantee` (a legal_guarantee spec), `service_plan`, `services` and `service_reading`
///   (optional: warranty maintenance compliance), `meter_readings`, `unit` and `meter_on`
///   (else `on`: `meter_at`), `period` (`#{start, n, unit}`).
fn terms() -> &'static [(&'static str, String)] {
    static TERMS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    TERMS.get_or_init(|| {
        let cal = |body: &str, parts: &[&str]| format!("{CAL}{}{body}", parts.concat());
        let plan = |body: &str, parts: &[&str]| format!("{PLAN}{}{body}", parts.concat());
        vec![
            // calendar
            (
                "cal_add_seconds",
                cal("cal.add_business_seconds(start, facts.amount)", &[START]),
            ),
            (
                "cal_add_minutes",
                cal("cal.add_business_minutes(start, facts.amount)", &[START]),
            ),
            (
                "cal_add_hours",
                cal("cal.add_business_hours(start, facts.amount)", &[START]),
            ),
            (
                "cal_between",
                cal(
                    "#{ seconds: cal.business_seconds(start, end), minutes: cal.business_minutes(start, end), reversed: cal.business_seconds(end, start) }",
                    &[START, END],
                ),
            ),
            (
                "cal_next_open",
                cal(
                    "#{ open: cal.is_open(start), next: cal.next_open(start), timezone: cal.timezone, text: cal.to_string() }",
                    &[START],
                ),
            ),
            // sla
            (
                "sla_clocks",
                cal("sla_clocks(cal, facts.policy, facts.events, at)", &[AT]),
            ),
            (
                "sla_clock",
                cal(
                    "sla_clock(cal, facts.policy, facts.events, at, facts.metric)",
                    &[AT],
                ),
            ),
            (
                "sla_select",
                "#{ all: sla_select_all(facts.policies, facts.ticket), first: sla_select(facts.policies, facts.ticket) }".to_string(),
            ),
            // maintenance
            (
                "maint_next_due_task",
                plan("plan.next_due(facts.task, history, readings, on)", &[ON]),
            ),
            (
                "maint_next_due",
                plan("#{ due: plan.next_due(history, readings, on), tasks: plan.tasks, start: plan.start, text: plan.to_string() }", &[ON]),
            ),
            (
                "maint_visits",
                plan(
                    "plan.visits(history, readings, date(facts.from), date(facts.to))",
                    &[],
                ),
            ),
            (
                "maint_compliance",
                plan(
                    r#"if "readings" in facts { plan.compliance(history, readings, on) } else { plan.compliance(history, on) }"#,
                    &[ON],
                ),
            ),
            (
                "maint_usage",
                plan("plan.usage(history, readings, on)", &[ON]),
            ),
            // warranty
            (
                "war_window",
                format!(
                    r#"{ON}let w = coverage_window(facts.window);
let ends = #{{}};
for m in w.meters {{ ends[m] = #{{ limit: w.limit(m), ends_at: w.ends_at(m) }}; }}
let check = if "reading" in facts {{ w.within(on, facts.reading) }} else {{ w.within(on) }};
#{{ window: w, start: w.start, ends_on: w.ends_on, meters: ends, check: check, text: w.to_string() }}"#
                ),
            ),
            (
                "war_pro_rata",
                format!(
                    r#"{ON}let by_age = pro_rata_share(facts.age_months, facts.tiers);
let by_days = if "since" in facts {{ pro_rata_share(date(facts.since), on, facts.tiers) }} else {{ () }};
#{{ by_age: by_age, by_days: by_days }}"#
                ),
            ),
            ("war_settle", "settle(facts.cost, facts.settle)".to_string()),
            (
                "war_money",
                r#"let m = facts.money;
#{
    deductible: deductible(m.cost, m.deductible),
    cap: cap(m.cost, m.cap),
    remaining_cap: remaining_cap(m.cap, m.used),
    credit: if "options" in m { linear_credit(m.price, m.used, m.life, m.options) } else { linear_credit(m.price, m.used, m.life) },
}"#
                .to_string(),
            ),
            (
                "war_legal_guarantee",
                "legal_guarantee(facts.guarantee)".to_string(),
            ),
            (
                "war_maintenance_compliance",
                format!(
                    r#"{ON}if "service_reading" in facts {{ maintenance_compliance(facts.service_plan, facts.services, on, facts.service_reading) }} else {{ maintenance_compliance(facts.service_plan, facts.services, on) }}"#
                ),
            ),
            (
                "war_meter_at",
                format!(
                    r#"{ON}let day = if "meter_on" in facts {{ date(facts.meter_on) }} else {{ on }};
meter_at(facts.meter_readings, day, facts.unit)"#
                ),
            ),
            (
                "war_period_end",
                "let p = facts.period; period_end(date(p.start), p.n, p.unit)".to_string(),
            ),
        ]
    })
}

fn manifest() -> String {
    let mut text = format!(
        r#"[contract]
id = "fuzz-plugin-inputs"
version = "1"
timezone = "Europe/Rome"
plugins = {DOMAIN_PLUGINS}
outputs = [{}]
"#,
        terms()
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (name, _) in terms() {
        text.push_str(&format!("\n[terms.{name}]\n"));
    }
    text
}

struct Fixture {
    contract: Contract,
    as_of: DateTime,
    term_limit: Duration,
}

/// The CPU time the calling thread has used so far (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut source =
            BundleSource::new("fuzz-plugin-inputs").with_file("contract.toml", manifest());
        for (name, script) in terms() {
            source = source.with_file(format!("terms/{name}.rhai"), script.as_str());
        }
        let contract = load_fixed(&production_engine(), &source);
        let as_of = contract
            .parse_as_of(AS_OF)
            .unwrap_or_else(|e| panic!("fixed as_of: {e}"));
        let seconds = std::env::var("AFTERSALE_FUZZ_TERM_SECONDS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(TERM_SECONDS);
        Fixture {
            contract,
            as_of,
            term_limit: Duration::from_secs(seconds),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(facts) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let fixture = fixture();
    on_worker_stack(move || {
        for (name, _) in terms() {
            let request = Request::new(facts.clone(), fixture.as_of).with_outputs([*name]);
            let started = thread_cpu_time();
            let result = fixture.contract.evaluate(&request);
            let took = thread_cpu_time().saturating_sub(started);
            let text = match &result {
                Ok(decision) => serde_json::to_string(decision).unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            show(format!("{name} ({} ms): {text}", took.as_millis()));
            assert!(
                took <= fixture.term_limit,
                "term `{name}` used {took:?} of CPU time, past {:?} (10 x max_duration_ms): a plugin call the limits did not stop; it ended with: {text:.500}",
                fixture.term_limit
            );
            drop(result);
        }
        drop(facts);
    });
});
