//! SLA clocks: the `sla` plugin, and the Rust API it is a thin layer over ([`clocks`],
//! [`clock`], [`Policy`], [`Event`], [`Clock`]).
//!
//! A clock replays a ticket's history against a policy's metric, on a business-hours
//! [`Calendar`] (or [`Calendar::always_open`] for 24x7), and reports it at an evaluation
//! instant `as_of` that is always an argument: the plugin never reads the clock. All the
//! business-time arithmetic is the calendar's (`add_business`, `business_time`), so windows,
//! holidays, DST and "a deadline at a window's end stays there" behave exactly as there.
//! The semantics follow DOMAIN.md ("SLA clocks and escalation").
//!
//! # The history
//!
//! An array of events, oldest first (equal instants keep their order; an earlier instant
//! after a later one is an error). An event is `#{ at, type, status, by }`, plus optional
//! `id` and `text` that are ignored; any other key is an error:
//!
//! | `type` | meaning | fields |
//! |---|---|---|
//! | `created` | the ticket is opened: first event, exactly once | `status` (initial, default `open`) |
//! | `status` | the status changes | `status` (required) |
//! | `reply` | a public reply | `by`: `agent` or `customer` (required) |
//! | `note`, `assigned` | recorded; only custom metrics look at them | `by` optional |
//! | anything in `policy.event_types` | the same, for custom metrics | |
//!
//! `at` is a `datetime` or an RFC 3339 text (without an offset, local time in the contract's
//! zone). Events after `as_of` are ignored (the history as it stood then), but the whole
//! history is checked.
//!
//! # The metrics
//!
//! - `first_response`: starts at `created`; stops at the first agent reply. One cycle.
//! - `next_response`: runs while a customer reply awaits an agent's answer once the first
//!   response is done: a cycle starts at a customer reply (or at the reopening of a ticket
//!   whose customer wrote while it was resolved) and stops at the next agent reply. Each such
//!   wait is a new cycle; the clock shows the latest.
//! - `resolution`: starts at `created`; stops when the ticket enters a resolved status
//!   (`policy.resolved_statuses`, default `resolved`, `closed`).
//! - custom metrics (`policy.metrics.<name>`): a cycle starts at an event matching one of
//!   `start` (when none is open and the ticket is not resolved) and stops at one matching
//!   `stop`. A condition is `#{ type, status, by }` (each optional; `status` a string or an
//!   array); besides event types, `type: "resolved"` matches the event that resolves the
//!   ticket and `type: "reopened"` the one that reopens it. After a stop, a new start begins a
//!   new cycle (`repeat: "new_cycle"`, default), continues the stopped one (`"resume"`), or is
//!   ignored (`"once"`).
//!
//! Entering a resolved status stops every running metric (as Zendesk fulfils every active
//! target when a ticket is solved). A customer reply to a resolved ticket does not reopen it:
//! the history must carry the status change, as helpdesks record one.
//!
//! # Pauses, reopening, breaches
//!
//! - **Pause**: while the status is in `policy.pause_statuses` (or the metric's own
//!   `pause_statuses`), the metric is *held*. With `pause_accounting: "business"` (Frappe
//!   Helpdesk) held time is simply not counted: on resuming, due = the resumption + the
//!   business time left. With `"wall_clock"` (ERPNext) the due is pushed by the wall-clock
//!   duration of the hold (a Friday 17:00 to Monday 10:00 hold pushes it 65 hours, wherever
//!   that lands, in or out of hours). Either way the due is not known while held (`()`); a
//!   cycle stopped while held is met unless it had already breached.
//! - **Reopen** (a `status` event leaving a resolved status), for `resolution`:
//!   `reopen: "resume"` continues the same cycle (same start; business time used before the
//!   resolution is kept; the time spent resolved is a hold, accounted as above), while
//!   `"new_cycle"` starts a cycle at the reopening with the full target.
//! - **Breach**: a cycle breaches when it is running at an instant after its due; the breach
//!   instant is the due. A stop at exactly the due is met. A breach is never taken back: a
//!   later pause, a wall-clock push, a stop or a new cycle leave it in `breaches` (every
//!   cycle) and, for its cycle, in `breached_at`.
//!
//! # What a clock reports
//!
//! `sla_clock(..)` returns a map (every key always present, `()` where unknown):
//!
//! | key | meaning |
//! |---|---|
//! | `metric`, `cycle` | the metric; the current (latest) cycle's number, from 1 (0: not started) |
//! | `state` | `not_started`, `running`, `paused`, `met` (stopped at or before due), `breached` (running past due, or stopped after it); a paused clock that had breached stays `paused` with `breached = true` |
//! | `start`, `due`, `stopped_at`, `paused_since` | instants of the current cycle; `start` is the event's instant (counting begins at the next opening); `due` is `()` while paused unless already breached |
//! | `target_seconds`, `target_minutes` | the policy's target |
//! | `allowed_seconds`, `allowed_minutes` | business time the cycle may run before its due: the target (`business`), or what the pushed due leaves (`wall_clock`; while paused, as it was when the pause began) |
//! | `elapsed_seconds`, `elapsed_minutes` | business time counted (running time only) |
//! | `remaining_seconds`, `remaining_minutes` | `allowed - elapsed`, at least 0; `()` while paused with `wall_clock` |
//! | `percent` | `elapsed / allowed` in whole percent, rounded down (an integer; over 100 once breached) |
//! | `percent_exact` | the same as a decimal with 2 places, rounded down (`62.50`) |
//! | `held_seconds` | wall-clock time the cycle spent on hold |
//! | `breached`, `breached_at` | whether (when) the current cycle breached |
//! | `ever_breached`, `breaches` | every breach recorded: `[#{cycle, at}]` |
//! | `thresholds` | per `policy.thresholds` percentage: `#{percent, at, crossed}`; `at` is the instant `elapsed` reaches that share of `allowed` (past, or future for a running clock), `()` when not known (paused) or never (stopped first); `crossed` is `at <= as_of` |
//! | `cycles` | every cycle: `[#{cycle, start, due, stopped_at, state, breached_at, elapsed_seconds}]` |
//!
//! Minutes are whole seconds divided by 60, rounded down. With `business` accounting, while
//! running, `elapsed + remaining = target` and the 100% threshold is the due. With
//! `wall_clock`, a due pushed into closed hours is reached (100%) at the last business instant
//! before it, but breaches only after it; a threshold crossed before a hold can move later
//! after it (percentages are of the current allowance). Durations are counted in nanoseconds
//! and reported in whole seconds.
//!
//! # Rust
//!
//! ```
//! use aftersale_core::DateTime;
//! use aftersale_domain::calendar::{Calendar, CalendarDef, WeeklyHours};
//! use aftersale_domain::sla::{clocks, Actor, Event, Metric, Policy, State};
//! use chrono::TimeDelta;
//!
//! let cal = Calendar::new(&CalendarDef {
//!     timezone: "Europe/Rome".into(),
//!     hours: WeeklyHours::weekdays(&["10:00-18:00"]),
//!     holidays: vec![],
//! }).unwrap();
//! let at = |t: &str| DateTime::parse(t, chrono_tz::Europe::Rome).unwrap();
//! let policy = Policy {
//!     metrics: vec![
//!         Metric::builtin("first_response", TimeDelta::minutes(30)).unwrap(),
//!         Metric::builtin("resolution", TimeDelta::hours(2)).unwrap(),
//!     ],
//!     pause_statuses: vec!["waiting_on_customer".into()],
//!     thresholds: vec![50, 75, 100],
//!     ..Policy::default()
//! };
//! // DOMAIN.md: an urgent ticket opened Friday 17:00.
//! let history = [
//!     Event::new(at("2025-06-06T17:00"), "created"),
//!     Event::new(at("2025-06-06T17:20"), "reply").with_author(Actor::Agent),
//! ];
//! let [response, resolution] = &clocks(&cal, &policy, &history, at("2025-06-09T10:30")).unwrap()[..]
//! else { unreachable!() };
//! assert_eq!(response.state, State::Met);
//! assert_eq!(response.due.unwrap().to_string(), "2025-06-06T17:30:00+02:00");
//! assert_eq!(resolution.due.unwrap().to_string(), "2025-06-09T11:00:00+02:00");
//! assert_eq!(resolution.percent(), Some(75));
//! ```
//!
//! # Script API (`plugins = ["calendar", "sla"]`)
//!
//! | function | meaning |
//! |---|---|
//! | `sla_clocks(cal, policy, events, as_of)` | every targeted metric's clock, as a map by metric name |
//! | `sla_clock(cal, policy, events, as_of, metric)` | one metric's clock; an unknown metric is an error |
//! | `sla_select(policies, ticket)` | the first policy whose `when` holds for the ticket map; an error when none does |
//! | `sla_select_all(policies, ticket)` | every policy whose `when` holds, in order (possibly none) |
//!
//! `cal` is a `calendar` of the calendar plugin (`calendar(#{..})` or `calendar_24x7(zone)`).
//! A policy is a map:
//!
//! ```text
//! #{
//!     targets: #{ first_response: 30, resolution: #{hours: 4}, triage: 15 },  // whole minutes or #{hours, minutes, seconds}, > 0
//!     metrics: #{ triage: #{ start: #{type: "created"}, stop: #{type: "assigned"}, repeat: "once" } },
//!     pause_statuses: ["waiting_on_customer"],       // default []
//!     resolved_statuses: ["resolved", "closed"],     // default
//!     pause_accounting: "business",                  // or "wall_clock"
//!     reopen: "resume",                              // or "new_cycle"
//!     thresholds: [50, 75, 100],                     // whole percent, 1 to 1000; default []
//!     event_types: ["escalated"],                    // extra event types; default []
//!     name: "..", description: "..", when: #{ priority: "urgent", tier: ["enterprise"] },
//! }
//! ```
//!
//! `when` is read only by `sla_select`: each key must equal the ticket's field, or be one of
//! an array's values; a ticket without the field does not match; no `when` matches every
//! ticket. `metrics.<built-in>` may only set `pause_statuses` (`[]`: never paused). Mistakes
//! (an unknown key, metric or event type, a target of 0 or less, events out of order, an
//! instant that does not parse, a reply without `by`) are runtime errors naming the field,
//! e.g. ``sla_clocks: `events[3].at`: events out of order: ...``.

mod clock;
mod error;
mod model;
mod script;
#[cfg(test)]
mod tests;

use aftersale_core::meter::Exhausted;
use aftersale_core::plugin::args::{lift_in, PluginError};
use aftersale_core::plugin::Registrar;
use aftersale_core::rhai::{Array, Dynamic, Map};
use aftersale_core::{DateTime, Plugin, PluginContext};
use chrono_tz::Tz;

pub use clock::{clock, clocks, Breach, Clock, Crossing, CycleSummary, State, MAX_CYCLES};
pub use error::SlaError;
pub use model::{
    check_history, Actor, CustomRule, Event, Matcher, Metric, MetricRule, PauseAccounting, Policy,
    Reopen, Repeat, DEFAULT_RESOLVED_STATUSES, EVENT_TYPES, INITIAL_STATUS, MAX_EVENTS,
    MAX_METRICS, MAX_THRESHOLDS,
};
pub use script::{clock_map, events_of, policy_of, select_all, select_first};

use crate::calendar::Calendar;

/// The `sla` plugin: SLA clocks and policy selection for scripts (see the module doc).
#[derive(Debug, Default, Clone, Copy)]
pub struct SlaPlugin;

impl PluginError for SlaError {
    fn exhausted(&self) -> Option<Exhausted> {
        match self {
            SlaError::Exhausted(limit) => Some(*limit),
            _ => None,
        }
    }

    fn names_plugin(&self) -> bool {
        matches!(self, SlaError::Args(_))
    }
}

fn all_clocks(
    cal: &Calendar,
    policy: &Map,
    events: &Array,
    as_of: DateTime,
    tz: Tz,
) -> Result<Map, SlaError> {
    let policy = policy_of(policy)?;
    let events = events_of(events, tz)?;
    Ok(clocks(cal, &policy, &events, as_of)?
        .iter()
        .map(|c| (c.metric.as_str().into(), Dynamic::from_map(clock_map(c))))
        .collect())
}

fn one_clock(
    cal: &Calendar,
    policy: &Map,
    events: &Array,
    as_of: DateTime,
    metric: &str,
    tz: Tz,
) -> Result<Map, SlaError> {
    let policy = policy_of(policy)?;
    let events = events_of(events, tz)?;
    clock(cal, &policy, &events, as_of, metric).map(|c| clock_map(&c))
}

impl Plugin for SlaPlugin {
    fn name(&self) -> &str {
        "sla"
    }

    fn description(&self) -> &str {
        "SLA clocks over a ticket history on a business calendar: first/next response, \
         resolution and custom metrics, pauses (business or wall clock), reopening, breaches, \
         thresholds; policy selection by conditions"
    }

    fn register(&self, engine: &mut Registrar<'_>, ctx: &PluginContext) {
        let tz = ctx.timezone;
        engine.register_fn(
            "sla_clocks",
            move |cal: &mut Calendar, policy: Map, events: Array, as_of: DateTime| {
                lift_in("sla_clocks", all_clocks(cal, &policy, &events, as_of, tz))
            },
        );
        engine.register_fn(
            "sla_clock",
            move |cal: &mut Calendar, policy: Map, events: Array, as_of: DateTime, metric: &str| {
                lift_in(
                    "sla_clock",
                    one_clock(cal, &policy, &events, as_of, metric, tz),
                )
            },
        );
        engine.register_fn("sla_select", |policies: Array, ticket: Map| {
            lift_in("sla_select", select_first(&policies, &ticket))
        });
        engine.register_fn("sla_select_all", |policies: Array, ticket: Map| {
            lift_in("sla_select_all", select_all(&policies, &ticket))
        });
    }
}
