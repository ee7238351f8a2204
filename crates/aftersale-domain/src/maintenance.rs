//! The `maintenance` plugin: maintenance plans with time and meter intervals, grid or
//! last-completion anchoring, SAP-style tolerance and shift factor, due-soon thresholds,
//! forecasting from meter readings, the visits over a horizon, and a compliance verdict that
//! warranty terms can depend on ("coverage requires scheduled maintenance").
//!
//! The arithmetic lives in plain Rust ([`Plan`], [`Plan::next_due`], [`Plan::visits`],
//! [`Plan::compliance`]); the plugin only converts script values. Dates use the core's
//! [`Date`] and its month arithmetic (`add_months` clamps to the month's
//! last day).
//!
//! # The rules
//!
//! **Counters.** A task's `every` holds a time interval (days, weeks = 7 days, months,
//! years = 12 months; several add up) and/or meter intervals in free units (`km`, `hours`,
//! `cycles`). Each occurrence has a *due point*: a day for the time counter and a value per
//! meter. Counters combine by the task's `link`, and the same link decides *due*, *due soon*
//! and *beyond tolerance*:
//! - `"or"` (whichever comes first): true when any counter is;
//! - `"and"` (all must be reached): true when every counter is.
//!
//! Per counter, a point has *reached* a due point when its day is on or after the due day /
//! its meter is at or above the due value; it is *late* when strictly after / above; it is
//! *beyond tolerance* when strictly after the due day plus the tolerance span / strictly above
//! the due value plus the tolerance amount. Limits are inclusive: a service on the last day of
//! the tolerance, or at exactly the due km plus the tolerance km, is within tolerance. The
//! due-soon window of a counter starts at the due day minus its `due_soon` span (the due
//! value minus its `due_soon` amount), inclusive; a counter without a threshold enters its
//! window only when due.
//!
//! **Due points.** The first occurrence falls due at `start + every` (start meters + every).
//! Days are always computed from an anchor day in one step (`anchor + n x every`), never by
//! chaining, so a Jan 31 start with a 1-month interval gives Feb 29, Mar 31, Apr 30; a
//! Feb 29 start with 12 months gives Feb 28 in common years and Feb 29 in leap years.
//!
//! **Judging a service** against the occurrence it counts for: *on time* when not late (early
//! included), *late within tolerance* when late but not beyond tolerance, *late* when beyond.
//!
//! **Moving the plan after a service** (`f` = `shift_factor`; lateness `L` per counter =
//! service day - due day in days, service meter - due value):
//! - `anchor: "last_completion"`: a counter the service came early on (`L < 0`) restarts from
//!   the service (next due = service + every). A counter with `L = 0`, or with `L > 0` when the
//!   service is within tolerance, stays on the plan (next due = due + every, computed from the
//!   same anchor day). When the service is late beyond tolerance, each counter with `L > 0`
//!   shifts by `L x f` (days rounded half away from zero): next due = due + `L x f` + every.
//!   `f = 1` (the default) is "next due = service + every"; `f = 0` keeps the plan.
//! - `anchor: "grid"`: the plan stays on `start + n x every` whatever the lateness, except
//!   that a service late beyond tolerance shifts the grid by `L x f` per late counter, as
//!   above (default `f = 0`: the grid never moves). A service counts for the latest
//!   occurrence it has reached; the occurrences before it that had no service are *missed*
//!   and skipped (no catch-up visit). A service that has not reached the open occurrence
//!   counts for it early, provided it is on or after the previous grid point (for the first
//!   occurrence, the start); a second early service in one cycle is listed as `extra` and not
//!   counted.
//! - Either way, a service covers everything its own day and meters have reached: if the
//!   next due point computed above is already reached at the service (possible only with a
//!   tolerance longer than the interval or a shift factor below 1), it moves on by whole
//!   intervals until it is not. So the next due point is never one the last service had
//!   reached (`next_due_is_never_before_last_service`).
//!
//! **Meters and forecasts.** The evidence for each meter is the start meters (0 when not
//! given), the readings and the meters recorded at services, merged in date order; a meter
//! that goes back is an error. The value known on a day is the latest evidence on or before
//! it. The day a meter target *was* reached is interpolated linearly between the evidence just
//! below and just above it (first whole day on the line at or above the target). The day it
//! *will* be reached is extrapolated from the last evidence at the average daily usage
//! (last value - first value) / (days between them), first whole day at or above the target;
//! no usage (fewer than two days of evidence or a meter that does not move) gives no forecast.
//! A task's forecast due day is the earliest (`or`) or latest (`and`) of its time due day and
//! its meter forecasts; an `and` task with a meter that cannot be forecast has none.
//!
//! **History.** Services are taken oldest first (same-day ones in the order given); only those
//! on or before the day asked count. A service before the plan's start, or a second record of
//! the same task on the same day, is listed as `extra` and not counted. A compliance report
//! or a visit list holds at most [`MAX_SERVICES`] services; beyond that it is an error asking
//! for a shorter period.
//!
//! **States** on a day, from the time and the meters known that day: `overdue` beyond
//! tolerance, else `due` when reached, else `due_soon` in the window, else `ok`. Services and
//! readings after the day asked are ignored.
//!
//! # Script API
//!
//! | function | meaning |
//! |---|---|
//! | `maintenance_plan(#{ tasks: [..], start: date, start_meters: #{km: 0} })` | a plan (type `maintenance_plan`); a task is `#{ name, every: #{months: 12, km: 15000}, link: "or"\|"and", anchor: "last_completion"\|"grid", tolerance: #{months: 1, km: 1500}, shift_factor: 1.0, due_soon: #{days: 30, km: 1000}, description }`; defaults: `or`, `last_completion`, no tolerance, `shift_factor` 1 (0 on a grid), no due-soon |
//! | `plan.next_due(task, history, readings, as_of)` | `#{ task, number, due_on, due_at, due_soon_from, due_soon_at, tolerance_until, tolerance_at, meters, forecast: #{km: date}, forecast_on, trigger, days_left, state, last_done_on, last_done_at }` |
//! | `plan.next_due(history, readings, as_of)` | the same for every task, as a map by task name |
//! | `plan.visits(history, readings, from, to)` | every visit from `from` to `to`: `[#{ task, number, date, due_on, due_at, trigger, overdue }]` by date |
//! | `plan.compliance(history, readings, up_to)`, `plan.compliance(history, up_to)` | `#{ compliant, up_to, services: [#{ task, number, due_on, due_at, tolerance_until, tolerance_at, done_on, done_at, late_by, status, reason }], reasons, counts, extra }` |
//! | `plan.usage(history, readings, as_of)` | average daily usage per meter, `()` when unknown |
//! | `plan.start`, `plan.tasks` | the start date; the task names |
//!
//! `history` is an array of `#{ task, date, km: .. }` (a date or `YYYY-MM-DD` string, and the
//! meters the task counts, which are required); `readings` an array of `#{ date, km: .. }`
//! oldest first. Mistakes (unknown unit, zero or negative interval, link other than or/and,
//! negative tolerance, shift factor below 0, readings out of order, unknown task) are runtime
//! errors naming the field.

mod error;
mod meters;
mod plan;
mod schedule;
mod script;

use std::sync::Arc;

use aftersale_core::meter::Exhausted;
use aftersale_core::plugin::args::{lift_in, PluginError};
use aftersale_core::plugin::Registrar;
use aftersale_core::rhai::{Array, Dynamic, Map};
use aftersale_core::{Date, Plugin, PluginContext};

pub use error::MaintenanceError;
pub use meters::{Completion, Odometer, Reading};
pub use plan::{Anchor, Counters, Link, Meters, Plan, Span, Task};
pub use schedule::{
    check_history, Compliance, DuePoint, Extra, NextDue, Point, ServiceRecord, State, Status,
    Visit, MAX_SERVICES,
};

/// The `maintenance` plugin: maintenance plans for scripts (see the module doc).
#[derive(Debug, Default, Clone, Copy)]
pub struct MaintenancePlugin;

impl PluginError for MaintenanceError {
    fn exhausted(&self) -> Option<Exhausted> {
        match self {
            MaintenanceError::Exhausted(limit) => Some(*limit),
            _ => None,
        }
    }

    fn names_plugin(&self) -> bool {
        matches!(self, MaintenanceError::Args(_))
    }
}

fn inputs(
    history: &Array,
    readings: &Array,
) -> Result<(Vec<Completion>, Vec<Reading>), MaintenanceError> {
    Ok((script::history_of(history)?, script::readings_of(readings)?))
}

fn next_due_one(
    plan: &Plan,
    task: &str,
    history: &Array,
    readings: &Array,
    as_of: Date,
) -> Result<Dynamic, MaintenanceError> {
    let (history, readings) = inputs(history, readings)?;
    plan.next_due(task, &history, &readings, as_of)
        .map(|n| script::next_due_map(&n))
}

fn next_due_every(
    plan: &Plan,
    history: &Array,
    readings: &Array,
    as_of: Date,
) -> Result<Map, MaintenanceError> {
    let (history, readings) = inputs(history, readings)?;
    Ok(plan
        .next_due_all(&history, &readings, as_of)?
        .iter()
        .map(|n| (n.task.as_str().into(), script::next_due_map(n)))
        .collect())
}

fn visits(
    plan: &Plan,
    history: &Array,
    readings: &Array,
    from: Date,
    to: Date,
) -> Result<Array, MaintenanceError> {
    let (history, readings) = inputs(history, readings)?;
    Ok(plan
        .visits(&history, &readings, from, to)?
        .iter()
        .map(script::visit_map)
        .collect())
}

fn compliance(
    plan: &Plan,
    history: &Array,
    readings: &Array,
    up_to: Date,
) -> Result<Dynamic, MaintenanceError> {
    let (history, readings) = inputs(history, readings)?;
    plan.compliance(&history, &readings, up_to)
        .map(|c| script::compliance_map(&c))
}

fn usage(
    plan: &Plan,
    history: &Array,
    readings: &Array,
    as_of: Date,
) -> Result<Map, MaintenanceError> {
    let (history, readings) = inputs(history, readings)?;
    Ok(plan
        .daily_usage(&history, &readings, as_of)?
        .into_iter()
        .map(|(u, v)| {
            (
                u.as_str().into(),
                v.map_or(Dynamic::UNIT, |d| Dynamic::from_decimal(d.normalize())),
            )
        })
        .collect())
}

impl Plugin for MaintenancePlugin {
    fn name(&self) -> &str {
        "maintenance"
    }

    fn description(&self) -> &str {
        "maintenance plans: time and meter intervals (or/and), grid or last-completion anchoring, tolerance and shift factor, due-soon, forecasts, visits, compliance"
    }

    fn register(&self, engine: &mut Registrar<'_>, _ctx: &PluginContext) {
        engine.register_type::<Arc<Plan>>("maintenance_plan", |plan| Ok(script::plan_json(plan)));
        engine.register_fn("maintenance_plan", |spec: Map| {
            lift_in("maintenance_plan", script::plan_of(&spec).map(Arc::new))
        });
        engine.register_fn(
            "next_due",
            |plan: Arc<Plan>, task: &str, history: Array, readings: Array, as_of: Date| {
                lift_in(
                    "next_due",
                    next_due_one(&plan, task, &history, &readings, as_of),
                )
            },
        );
        engine.register_fn(
            "next_due",
            |plan: Arc<Plan>, history: Array, readings: Array, as_of: Date| {
                lift_in(
                    "next_due",
                    next_due_every(&plan, &history, &readings, as_of),
                )
            },
        );
        engine.register_fn(
            "visits",
            |plan: Arc<Plan>, history: Array, readings: Array, from: Date, to: Date| {
                lift_in("visits", visits(&plan, &history, &readings, from, to))
            },
        );
        engine.register_fn(
            "compliance",
            |plan: Arc<Plan>, history: Array, readings: Array, up_to: Date| {
                lift_in("compliance", compliance(&plan, &history, &readings, up_to))
            },
        );
        engine.register_fn(
            "compliance",
            |plan: Arc<Plan>, history: Array, up_to: Date| {
                lift_in(
                    "compliance",
                    compliance(&plan, &history, &Array::new(), up_to),
                )
            },
        );
        engine.register_fn(
            "usage",
            |plan: Arc<Plan>, history: Array, readings: Array, as_of: Date| {
                lift_in("usage", usage(&plan, &history, &readings, as_of))
            },
        );
        engine.register_get("start", |plan: &mut Arc<Plan>| plan.start);
        engine.register_get("tasks", |plan: &mut Arc<Plan>| {
            plan.task_names()
                .into_iter()
                .map(|n| Dynamic::from(n.to_string()))
                .collect::<Array>()
        });
        engine.register_fn("to_string", |plan: &mut Arc<Plan>| {
            script::plan_json(plan).to_string()
        });
        engine.register_fn("to_debug", |plan: &mut Arc<Plan>| {
            script::plan_json(plan).to_string()
        });
    }
}

#[cfg(test)]
mod tests;
