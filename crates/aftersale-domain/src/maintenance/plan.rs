//! The plan: tasks with their intervals, link, anchoring, tolerance, shift factor and due-soon
//! thresholds, validated once when the plan is built so that scheduling never meets a zero
//! interval or a negative tolerance.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use aftersale_core::Date;
use rust_decimal::Decimal;

use super::error::MaintenanceError;

/// Meter values by unit name (`km`, `hours`, `cycles`, ...).
pub type Meters = BTreeMap<String, Decimal>;

/// A length of calendar time: whole months (a year counts 12) and days (a week counts 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Calendar months.
    pub months: i64,
    /// Days, added after the months.
    pub days: i64,
}

impl Span {
    /// No time at all.
    pub const ZERO: Span = Span { months: 0, days: 0 };

    /// Whether the span is empty.
    pub fn is_zero(self) -> bool {
        self.months == 0 && self.days == 0
    }

    /// `from` moved by `times` spans (negative moves back), computed from `from` in one step
    /// (months first, clamping to the month's last day, then days), so that a plan anchored on
    /// Jan 31 gives Feb 28/29, Mar 31, Apr 30 rather than drifting.
    pub fn times_after(self, from: Date, times: i64) -> Result<Date, MaintenanceError> {
        let (Some(months), Some(days)) =
            (self.months.checked_mul(times), self.days.checked_mul(times))
        else {
            return Err(MaintenanceError::Range(format!(
                "date out of range: {from} + {times} x {self}"
            )));
        };
        from.add_months(months)
            .and_then(|d| d.add_days(days))
            .map_err(MaintenanceError::Range)
    }

    /// `from` plus one span.
    pub fn after(self, from: Date) -> Result<Date, MaintenanceError> {
        self.times_after(from, 1)
    }

    /// `from` minus one span.
    pub fn before(self, from: Date) -> Result<Date, MaintenanceError> {
        self.times_after(from, -1)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: i64, one: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {one}s")
            }
        };
        let mut parts = Vec::new();
        if self.months != 0 {
            if self.months % 12 == 0 {
                parts.push(plural(self.months / 12, "year"));
            } else {
                parts.push(plural(self.months, "month"));
            }
        }
        if self.days != 0 || parts.is_empty() {
            parts.push(plural(self.days, "day"));
        }
        f.write_str(&parts.join(" and "))
    }
}

/// One value per counter: a time span and meter amounts. Used for a task's interval
/// (`every`), its tolerance and its due-soon thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counters {
    /// The time counter, if any.
    pub time: Option<Span>,
    /// The meter counters by unit.
    pub meters: Meters,
}

impl Counters {
    /// The time span, or zero when there is none.
    pub fn time_or_zero(&self) -> Span {
        self.time.unwrap_or(Span::ZERO)
    }

    /// The amount for a meter, or zero when it is not given.
    pub fn meter_or_zero(&self, unit: &str) -> Decimal {
        self.meters.get(unit).copied().unwrap_or(Decimal::ZERO)
    }
}

/// How several counters of one task combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Link {
    /// Whichever comes first: due when any counter is reached.
    #[default]
    Or,
    /// All must be reached: due when every counter is reached.
    And,
}

impl Link {
    /// `"or"` or `"and"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Or => "or",
            Link::And => "and",
        }
    }

    /// Combines the answers of each counter.
    pub fn combine(self, answers: impl IntoIterator<Item = bool>) -> bool {
        let mut answers = answers.into_iter();
        match self {
            Link::Or => answers.any(|a| a),
            Link::And => answers.all(|a| a),
        }
    }
}

/// Where each next due point is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Anchor {
    /// A fixed grid from the plan's start: early or late work does not move it (unless a late
    /// service beyond tolerance is shifted by a non-zero shift factor); occurrences passed
    /// without a service are missed and skipped.
    Grid,
    /// From the last service: an early service moves the next due point with it; a late one
    /// moves it only beyond the tolerance, by the lateness times the shift factor.
    #[default]
    LastCompletion,
}

impl Anchor {
    /// `"grid"` or `"last_completion"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Anchor::Grid => "grid",
            Anchor::LastCompletion => "last_completion",
        }
    }
}

/// One recurring task of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The name history entries use.
    pub name: String,
    /// What the task is, for people.
    pub description: Option<String>,
    /// The interval: a time span and/or meter amounts, each greater than zero.
    pub every: Counters,
    /// How the counters of `every` combine.
    pub link: Link,
    /// Grid or last completion.
    pub anchor: Anchor,
    /// How late a service may be, per counter, and still count as done in time (zero when
    /// absent). Only counters of `every` may appear.
    pub tolerance: Counters,
    /// By how much of its lateness a service beyond tolerance moves the plan (0 = not at all,
    /// 1 = to the service). Defaults: 1 for last completion, 0 for grid.
    pub shift_factor: Decimal,
    /// How long before each counter's due point the task is "due soon" (zero when absent).
    pub due_soon: Counters,
}

impl Task {
    /// A task with the defaults: `or` link, anchored on the last completion, no tolerance,
    /// shift factor 1, no due-soon thresholds.
    pub fn new(name: impl Into<String>, every: Counters) -> Self {
        Self {
            name: name.into(),
            description: None,
            every,
            link: Link::Or,
            anchor: Anchor::LastCompletion,
            tolerance: Counters::default(),
            shift_factor: Decimal::ONE,
            due_soon: Counters::default(),
        }
    }

    /// The units of this task's meter counters.
    pub fn meter_units(&self) -> impl Iterator<Item = &str> {
        self.every.meters.keys().map(String::as_str)
    }
}

/// A maintenance plan: its tasks, the day it starts and the meters on that day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The day counting starts: the first due points are `start + every`.
    pub start: Date,
    /// The meters on the start day; a unit not given starts at 0.
    pub start_meters: Meters,
    /// The tasks, in the order visits are listed on one day.
    pub tasks: Vec<Task>,
}

fn check_span(span: Span, field: &str, positive: bool) -> Result<(), MaintenanceError> {
    for (unit, value) in [("months", span.months), ("days", span.days)] {
        if value < 0 {
            return Err(MaintenanceError::Negative {
                field: format!("{field}.{unit}"),
                value: value.to_string(),
            });
        }
    }
    if positive && span.is_zero() {
        return Err(MaintenanceError::NotPositive {
            field: field.to_string(),
            value: span.to_string(),
        });
    }
    Ok(())
}

/// Checks a tolerance or due-soon threshold: not negative, and only on counters the task has.
fn check_margin(task: &Task, margin: &Counters, field: &str) -> Result<(), MaintenanceError> {
    if let Some(span) = margin.time {
        if task.every.time.is_none() {
            return Err(MaintenanceError::UnknownUnit {
                field: field.to_string(),
                unit: if span.months != 0 { "months" } else { "days" }.to_string(),
                hint: format!(
                    "task `{}` has no time interval; its counters are: {}",
                    task.name,
                    counter_names(task)
                ),
            });
        }
        check_span(span, field, false)?;
    }
    for (unit, value) in &margin.meters {
        if !task.every.meters.contains_key(unit) {
            return Err(MaintenanceError::UnknownUnit {
                field: format!("{field}.{unit}"),
                unit: unit.clone(),
                hint: format!("task `{}` counts: {}", task.name, counter_names(task)),
            });
        }
        if value.is_sign_negative() && !value.is_zero() {
            return Err(MaintenanceError::Negative {
                field: format!("{field}.{unit}"),
                value: value.normalize().to_string(),
            });
        }
    }
    Ok(())
}

fn counter_names(task: &Task) -> String {
    let mut names: Vec<&str> = Vec::new();
    if task.every.time.is_some() {
        names.push("time (days, weeks, months, years)");
    }
    names.extend(task.meter_units());
    names.join(", ")
}

impl Plan {
    /// Builds a plan, checking every rule: at least one task, unique names, every interval
    /// greater than zero, tolerances, due-soon thresholds and start meters not negative and
    /// only on counters that exist, shift factors not negative.
    pub fn new(
        start: Date,
        start_meters: Meters,
        tasks: Vec<Task>,
    ) -> Result<Self, MaintenanceError> {
        if tasks.is_empty() {
            return Err(MaintenanceError::NoTasks);
        }
        let mut names = BTreeSet::new();
        for (i, task) in tasks.iter().enumerate() {
            let field = format!("tasks[{i}]");
            if task.name.trim().is_empty() {
                return Err(MaintenanceError::Missing {
                    field: format!("{field}.name"),
                });
            }
            if !names.insert(task.name.as_str()) {
                return Err(MaintenanceError::DuplicateTask {
                    field,
                    name: task.name.clone(),
                });
            }
            if task.every.time.is_none() && task.every.meters.is_empty() {
                return Err(MaintenanceError::EmptyInterval {
                    field: format!("{field}.every"),
                });
            }
            if let Some(span) = task.every.time {
                check_span(span, &format!("{field}.every"), true)?;
            }
            for (unit, value) in &task.every.meters {
                if *value <= Decimal::ZERO {
                    return Err(MaintenanceError::NotPositive {
                        field: format!("{field}.every.{unit}"),
                        value: value.normalize().to_string(),
                    });
                }
            }
            check_margin(task, &task.tolerance, &format!("{field}.tolerance"))?;
            check_margin(task, &task.due_soon, &format!("{field}.due_soon"))?;
            if task.shift_factor < Decimal::ZERO {
                return Err(MaintenanceError::Negative {
                    field: format!("{field}.shift_factor"),
                    value: task.shift_factor.normalize().to_string(),
                });
            }
        }
        let plan = Self {
            start,
            start_meters,
            tasks,
        };
        for (unit, value) in &plan.start_meters {
            plan.check_unit(unit, &format!("start_meters.{unit}"))?;
            if *value < Decimal::ZERO {
                return Err(MaintenanceError::Negative {
                    field: format!("start_meters.{unit}"),
                    value: value.normalize().to_string(),
                });
            }
        }
        Ok(plan)
    }

    /// Every meter unit some task counts.
    pub fn meter_units(&self) -> BTreeSet<&str> {
        self.tasks.iter().flat_map(Task::meter_units).collect()
    }

    /// The task named `name`; `field` says where the name came from, for the error.
    pub fn task(&self, name: &str, field: &str) -> Result<&Task, MaintenanceError> {
        self.tasks
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| MaintenanceError::UnknownTask {
                field: field.to_string(),
                task: name.to_string(),
                known: self.task_names().join(", "),
            })
    }

    /// The task names in plan order.
    pub fn task_names(&self) -> Vec<&str> {
        self.tasks.iter().map(|t| t.name.as_str()).collect()
    }

    /// The meter value at the start for `unit` (0 when not given).
    pub fn start_meter(&self, unit: &str) -> Decimal {
        self.start_meters
            .get(unit)
            .copied()
            .unwrap_or(Decimal::ZERO)
    }

    /// Refuses a meter unit that no task counts (a typo such as `kms` would otherwise be
    /// silently ignored).
    pub fn check_unit(&self, unit: &str, field: &str) -> Result<(), MaintenanceError> {
        if self.tasks.iter().any(|t| t.every.meters.contains_key(unit)) {
            return Ok(());
        }
        let units: Vec<&str> = self.meter_units().into_iter().collect();
        Err(MaintenanceError::UnknownUnit {
            field: field.to_string(),
            unit: unit.to_string(),
            hint: if units.is_empty() {
                "no task of the plan counts a meter".to_string()
            } else {
                format!("the plan's meters are: {}", units.join(", "))
            },
        })
    }
}

/// Normalised text of a meter amount (`15000`, `12.5`).
pub(crate) fn meter_text(value: Decimal) -> String {
    value.normalize().to_string()
}

/// `15000 km` style text for a set of meter values.
pub(crate) fn meters_text(meters: &Meters) -> Vec<String> {
    meters
        .iter()
        .map(|(unit, v)| format!("{} {unit}", meter_text(*v)))
        .collect()
}

/// Keeps only the units in `units`.
pub(crate) fn only_units<'a>(meters: &Meters, units: impl IntoIterator<Item = &'a str>) -> Meters {
    units
        .into_iter()
        .filter_map(|u| meters.get(u).map(|v| (u.to_string(), *v)))
        .collect::<BTreeMap<_, _>>()
}
