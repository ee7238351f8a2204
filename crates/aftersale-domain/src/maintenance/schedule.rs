//! Scheduling: replaying a task's service history against its plan, one occurrence at a
//! time, to find the open occurrence (next due), judge each service (compliance) and project
//! future visits. The rules are stated in the module doc of [`crate::maintenance`].

use std::collections::BTreeMap;

use aftersale_core::meter::charge;
use aftersale_core::Date;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use super::error::MaintenanceError;
use super::meters::{Completion, Odometer, Reading};
use super::plan::{
    meter_text, meters_text, only_units, Anchor, Counters, Link, Meters, Plan, Span, Task,
};

/// Most services a compliance report or a visit list holds: far beyond any real plan, low
/// enough that a one-day interval over a century is refused rather than listed.
pub const MAX_SERVICES: usize = 5000;

/// A moment of the plan: a day and the meters on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// The day.
    pub date: Date,
    /// The meters on that day, by unit.
    pub meters: Meters,
}

/// Where an occurrence falls due, per counter: a day for the time counter and a value for
/// each meter counter. The same shape gives the end of its tolerance and the start of its
/// due-soon window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePoint {
    /// The day, when the task has a time counter.
    pub on: Option<Date>,
    /// The meter values, one per meter counter.
    pub at: Meters,
}

/// Where a task stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not due, not in the due-soon window.
    Ok,
    /// In the due-soon window (by the task's link), not yet due.
    DueSoon,
    /// Due (by the task's link), still within the tolerance.
    Due,
    /// Beyond the tolerance (by the task's link) and not done.
    Overdue,
}

impl State {
    /// `"ok"`, `"due_soon"`, `"due"` or `"overdue"`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::DueSoon => "due_soon",
            State::Due => "due",
            State::Overdue => "overdue",
        }
    }
}

/// The verdict on one occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Done no later than its due point (early included).
    OnTime,
    /// Done after its due point, within the tolerance.
    LateWithinTolerance,
    /// Done beyond the tolerance.
    Late,
    /// Not done: skipped on a grid because the next occurrence came due first, or still not
    /// done beyond the tolerance at the report's date.
    Missed,
    /// Due, not done yet, still within the tolerance at the report's date.
    Pending,
}

impl Status {
    /// `"on_time"`, `"late_within_tolerance"`, `"late"`, `"missed"` or `"pending"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::OnTime => "on_time",
            Status::LateWithinTolerance => "late_within_tolerance",
            Status::Late => "late",
            Status::Missed => "missed",
            Status::Pending => "pending",
        }
    }

    /// Whether the occurrence breaks compliance (late beyond tolerance or missed).
    pub fn breaks_compliance(self) -> bool {
        matches!(self, Status::Late | Status::Missed)
    }
}

/// A task's next due occurrence on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextDue {
    /// The task.
    pub task: String,
    /// The occurrence number, from 1 (on a grid, skipped occurrences count).
    pub number: u64,
    /// Where it falls due.
    pub due: DuePoint,
    /// Where its due-soon window starts.
    pub due_soon_from: DuePoint,
    /// The last day and meter values within its tolerance.
    pub tolerance_until: DuePoint,
    /// The task's meters known on the day.
    pub meters: Meters,
    /// Per meter counter, the day its target was or will be reached (`None`: no usage to
    /// forecast from).
    pub forecast: BTreeMap<String, Option<Date>>,
    /// The day the occurrence falls due, combining the time counter and the meter forecasts
    /// by the link (`None` when it cannot be told).
    pub forecast_on: Option<Date>,
    /// The counter that decides `forecast_on`: `"time"` or a meter unit.
    pub trigger: Option<String>,
    /// Days from the day asked to `forecast_on` (negative when past).
    pub days_left: Option<i64>,
    /// Where the task stands.
    pub state: State,
    /// The last service of the task counted by the plan, if any.
    pub last_done: Option<Point>,
}

/// One planned visit over a horizon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// The task.
    pub task: String,
    /// The occurrence number.
    pub number: u64,
    /// The day of the visit: the forecast due day, or the horizon's first day for an
    /// occurrence already overdue.
    pub date: Date,
    /// Where the occurrence falls due.
    pub due: DuePoint,
    /// The counter that decides the day: `"time"` or a meter unit.
    pub trigger: Option<String>,
    /// Whether the occurrence was already due before the horizon started.
    pub overdue: bool,
}

/// The verdict on one occurrence, for a compliance report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The task.
    pub task: String,
    /// The occurrence number.
    pub number: u64,
    /// Where it fell due.
    pub due: DuePoint,
    /// The last day and meter values within its tolerance.
    pub tolerance_until: DuePoint,
    /// The service that counted for it, if any.
    pub done: Option<Point>,
    /// Days the service came after the due day (negative: early), with a time counter.
    pub late_days: Option<i64>,
    /// Per meter, how far past the due value the service came (negative: before it).
    pub late_meters: Meters,
    /// The verdict.
    pub status: Status,
    /// The verdict in words, for a support agent.
    pub reason: String,
}

/// A service in the history the plan did not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    /// The task.
    pub task: String,
    /// The day of the service.
    pub date: Date,
    /// Why it was not counted.
    pub reason: String,
}

/// Whether every service due up to a day was done within tolerance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compliance {
    /// The day of the report.
    pub up_to: Date,
    /// No occurrence late beyond tolerance or missed.
    pub compliant: bool,
    /// Every occurrence done by `up_to` or due by then, task by task in plan order.
    pub services: Vec<ServiceRecord>,
    /// Services the plan did not count.
    pub extra: Vec<Extra>,
    /// Each task's open occurrence after `up_to` (the one the next service counts for), in
    /// plan order: where it falls due.
    pub open: Vec<DuePoint>,
}

impl Compliance {
    /// The reasons of the occurrences that break compliance.
    pub fn reasons(&self) -> Vec<&str> {
        self.services
            .iter()
            .filter(|s| s.status.breaks_compliance())
            .map(|s| s.reason.as_str())
            .collect()
    }
}

fn overflow(what: &str) -> MaintenanceError {
    MaintenanceError::Range(format!("meter arithmetic out of range while {what}"))
}

fn add(a: Decimal, b: Decimal, what: &str) -> Result<Decimal, MaintenanceError> {
    a.checked_add(b).ok_or_else(|| overflow(what))
}

/// The open occurrence of a task: its time anchor and step count (the due day is
/// `anchor + steps x every`, computed from the anchor so month ends do not drift) and the
/// meter values it falls due at.
#[derive(Debug, Clone)]
struct Cursor {
    number: u64,
    time: Option<(Date, i64)>,
    meters: Meters,
}

/// The result of matching one service to the plan.
struct Matched {
    number: u64,
    due: DuePoint,
}

/// Replays one task's history.
struct Walk<'a> {
    task: &'a Task,
    start: Date,
    cursor: Cursor,
    records: Option<Vec<ServiceRecord>>,
    extra: Vec<Extra>,
    last_done: Option<Point>,
}

fn round_days(days: i64, factor: Decimal) -> Result<i64, MaintenanceError> {
    Decimal::from(days)
        .checked_mul(factor)
        .map(|v| v.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero))
        .and_then(|v| v.to_i64())
        .ok_or_else(|| {
            MaintenanceError::Range(format!("shift of {days} days x {factor} is out of range"))
        })
}

impl<'a> Walk<'a> {
    fn new(plan: &'a Plan, task: &'a Task, keep_records: bool) -> Result<Self, MaintenanceError> {
        let mut meters = Meters::new();
        for (unit, every) in &task.every.meters {
            meters.insert(
                unit.clone(),
                add(plan.start_meter(unit), *every, "planning")?,
            );
        }
        Ok(Self {
            task,
            start: plan.start,
            cursor: Cursor {
                number: 1,
                time: task.every.time.map(|_| (plan.start, 1)),
                meters,
            },
            records: keep_records.then(Vec::new),
            extra: Vec::new(),
            last_done: None,
        })
    }

    fn span(&self) -> Span {
        self.task.every.time_or_zero()
    }

    fn due(&self) -> Result<DuePoint, MaintenanceError> {
        let on = match self.cursor.time {
            Some((anchor, steps)) => Some(self.span().times_after(anchor, steps)?),
            None => None,
        };
        Ok(DuePoint {
            on,
            at: self.cursor.meters.clone(),
        })
    }

    /// The due point one interval before the open one: where its cycle began.
    fn previous(&self) -> Result<DuePoint, MaintenanceError> {
        let on = match self.cursor.time {
            Some((anchor, steps)) => Some(self.span().times_after(anchor, steps - 1)?),
            None => None,
        };
        let mut at = Meters::new();
        for (unit, value) in &self.cursor.meters {
            let every = self.task.every.meter_or_zero(unit);
            at.insert(
                unit.clone(),
                value
                    .checked_sub(every)
                    .ok_or_else(|| overflow("planning"))?,
            );
        }
        Ok(DuePoint { on, at })
    }

    fn tolerance_until(&self, due: &DuePoint) -> Result<DuePoint, MaintenanceError> {
        margin(due, &self.task.tolerance, true)
    }

    /// Whether `point` is at or past `limit` (strictly past with `strict`), counter by
    /// counter, combined by the task's link. A meter with no known value is not past.
    fn past(&self, limit: &DuePoint, point: &Point, strict: bool) -> bool {
        let time = limit.on.map(|on| {
            if strict {
                point.date > on
            } else {
                point.date >= on
            }
        });
        let meters = limit.at.iter().map(|(unit, value)| {
            point
                .meters
                .get(unit)
                .is_some_and(|v| if strict { v > value } else { v >= value })
        });
        self.task.link.combine(time.into_iter().chain(meters))
    }

    /// How many occurrences after the open one `point` has also reached; `None` when it has
    /// not reached the open one.
    fn steps_reached(&self, point: &Point) -> Result<Option<u64>, MaintenanceError> {
        let due = self.due()?;
        let mut counters: Vec<Option<u64>> = Vec::new();
        if let (Some((anchor, steps)), Some(on)) = (self.cursor.time, due.on) {
            counters.push(if point.date >= on {
                Some(time_steps_reached(self.span(), anchor, steps, point.date))
            } else {
                None
            });
        }
        for (unit, target) in &due.at {
            let every = self.task.every.meter_or_zero(unit);
            let reached = match point.meters.get(unit) {
                Some(v) if v >= target => Some(
                    (*v - *target)
                        .checked_div(every)
                        .and_then(|q| q.floor().to_u64())
                        .ok_or_else(|| overflow("counting occurrences"))?,
                ),
                _ => None,
            };
            counters.push(reached);
        }
        Ok(match self.task.link {
            Link::Or => counters.into_iter().flatten().max(),
            Link::And => counters
                .into_iter()
                .collect::<Option<Vec<u64>>>()
                .and_then(|v| v.into_iter().min()),
        })
    }

    fn step(&mut self, n: u64) -> Result<(), MaintenanceError> {
        let too_far = || {
            MaintenanceError::Range(format!(
                "task `{}`: occurrence count out of range",
                self.task.name
            ))
        };
        let n_i64 = i64::try_from(n).map_err(|_| too_far())?;
        self.cursor.number = self.cursor.number.checked_add(n).ok_or_else(too_far)?;
        if let Some((anchor, steps)) = self.cursor.time {
            self.cursor.time = Some((anchor, steps.checked_add(n_i64).ok_or_else(too_far)?));
        }
        for (unit, value) in &mut self.cursor.meters {
            let every = self.task.every.meter_or_zero(unit);
            *value = every
                .checked_mul(Decimal::from(n))
                .and_then(|v| v.checked_add(*value))
                .ok_or_else(|| overflow("planning"))?;
        }
        Ok(())
    }

    fn push(&mut self, record: ServiceRecord) -> Result<(), MaintenanceError> {
        if let Some(records) = self.records.as_mut() {
            if records.len() >= MAX_SERVICES {
                return Err(MaintenanceError::TooMany {
                    what: format!("task `{}`", self.task.name),
                    limit: MAX_SERVICES,
                });
            }
            records.push(record);
        }
        Ok(())
    }

    /// Skips `n` occurrences on a grid, recording each as missed.
    fn miss(&mut self, n: u64) -> Result<(), MaintenanceError> {
        if self.records.is_none() {
            return self.step(n);
        }
        for _ in 0..n {
            charge(1)?;
            let due = self.due()?;
            let tolerance_until = self.tolerance_until(&due)?;
            let number = self.cursor.number;
            self.step(1)?;
            let next = self.due()?;
            let reason = format!(
                "`{}` #{number} due {} was missed: not done before #{} came due ({})",
                self.task.name,
                describe(&due, self.task.link),
                number + 1,
                describe(&next, self.task.link)
            );
            self.push(ServiceRecord {
                task: self.task.name.clone(),
                number,
                due,
                tolerance_until,
                done: None,
                late_days: None,
                late_meters: Meters::new(),
                status: Status::Missed,
                reason,
            })?;
        }
        Ok(())
    }

    /// On a grid, skips the occurrences `point` has passed without a service.
    fn skip_passed(&mut self, point: &Point) -> Result<(), MaintenanceError> {
        if self.task.anchor == Anchor::Grid {
            if let Some(s) = self.steps_reached(point)? {
                if s > 0 {
                    self.miss(s)?;
                }
            }
        }
        Ok(())
    }

    fn not_counted(&mut self, date: Date, reason: String) {
        self.extra.push(Extra {
            task: self.task.name.clone(),
            date,
            reason,
        });
    }

    /// Counts one service: matches it to an occurrence, judges it, moves the plan.
    fn complete(&mut self, done: &Point) -> Result<Option<Matched>, MaintenanceError> {
        if done.date < self.start {
            let reason = format!("done before the plan started ({})", self.start);
            self.not_counted(done.date, reason);
            return Ok(None);
        }
        if self
            .last_done
            .as_ref()
            .is_some_and(|last| last.date == done.date)
        {
            // Two records of one task on one day are one visit entered twice, not the next
            // occurrence done early.
            let reason = "a second service of the task on the same day".to_string();
            self.not_counted(done.date, reason);
            return Ok(None);
        }
        if self.task.anchor == Anchor::Grid {
            match self.steps_reached(done)? {
                Some(s) if s > 0 => self.miss(s)?,
                Some(_) => {}
                None => {
                    let previous = self.previous()?;
                    if !self.past(&previous, done, false) {
                        let reason = format!(
                            "done before the cycle of #{} began ({}): the grid counts one service per cycle",
                            self.cursor.number,
                            describe(&previous, self.task.link)
                        );
                        self.not_counted(done.date, reason);
                        return Ok(None);
                    }
                }
            }
        }
        let due = self.due()?;
        let tolerance_until = self.tolerance_until(&due)?;
        let status = if !self.past(&due, done, true) {
            Status::OnTime
        } else if self.past(&tolerance_until, done, true) {
            Status::Late
        } else {
            Status::LateWithinTolerance
        };
        let number = self.cursor.number;
        let late_days = due.on.map(|on| on.days_until(done.date));
        let mut late_meters = Meters::new();
        for (unit, target) in &due.at {
            let value = done.meters.get(unit).copied().unwrap_or(*target);
            late_meters.insert(unit.clone(), value - *target);
        }
        if self.records.is_some() {
            let at = meters_text(&only_units(&done.meters, self.task.meter_units()));
            let at = if at.is_empty() {
                String::new()
            } else {
                format!(" at {}", at.join(", "))
            };
            let verdict = match status {
                Status::OnTime => "on time".to_string(),
                Status::LateWithinTolerance => format!(
                    "late, within the tolerance (until {})",
                    describe(&tolerance_until, self.task.link)
                ),
                _ => format!(
                    "late, beyond the tolerance (until {})",
                    describe(&tolerance_until, self.task.link)
                ),
            };
            let reason = format!(
                "`{}` #{number} due {} was done on {}{at}: {verdict}",
                self.task.name,
                describe(&due, self.task.link),
                done.date
            );
            self.push(ServiceRecord {
                task: self.task.name.clone(),
                number,
                due: due.clone(),
                tolerance_until,
                done: Some(done.clone()),
                late_days,
                late_meters: late_meters.clone(),
                status,
                reason,
            })?;
        }
        self.advance(&due, done, status, late_days, &late_meters)?;
        self.last_done = Some(done.clone());
        Ok(Some(Matched { number, due }))
    }

    /// Moves the plan past a service (see the module doc of `maintenance` for the rules).
    fn advance(
        &mut self,
        due: &DuePoint,
        done: &Point,
        status: Status,
        late_days: Option<i64>,
        late_meters: &Meters,
    ) -> Result<(), MaintenanceError> {
        let follows_service = self.task.anchor == Anchor::LastCompletion;
        let factor = self.task.shift_factor;
        if let (Some((anchor, steps)), Some(on), Some(late)) = (self.cursor.time, due.on, late_days)
        {
            let shift = if late < 0 && follows_service {
                late
            } else if late > 0 && status == Status::Late {
                round_days(late, factor)?
            } else {
                0
            };
            self.cursor.time = Some(if shift == 0 {
                (anchor, steps + 1)
            } else {
                (on.add_days(shift).map_err(MaintenanceError::Range)?, 1)
            });
        }
        for (unit, target) in &due.at {
            let late = late_meters.get(unit).copied().unwrap_or(Decimal::ZERO);
            let shift = if late < Decimal::ZERO && follows_service {
                late
            } else if late > Decimal::ZERO && status == Status::Late {
                late.checked_mul(factor)
                    .ok_or_else(|| overflow("shifting the plan"))?
            } else {
                Decimal::ZERO
            };
            let every = self.task.every.meter_or_zero(unit);
            let next = add(add(*target, shift, "shifting the plan")?, every, "planning")?;
            self.cursor.meters.insert(unit.clone(), next);
        }
        self.cursor.number += 1;
        // A service covers whatever its own day and meters have already reached: the next
        // due point is always one the service had not reached.
        if let Some(s) = self.steps_reached(done)? {
            self.step(s + 1)?;
        }
        Ok(())
    }

    /// Ends a compliance replay on `point`: skips what a grid has passed, then records the
    /// open occurrence if it is due (pending within tolerance, missed beyond it).
    fn close(&mut self, point: &Point) -> Result<(), MaintenanceError> {
        self.skip_passed(point)?;
        let due = self.due()?;
        if !self.past(&due, point, false) {
            return Ok(());
        }
        let tolerance_until = self.tolerance_until(&due)?;
        let (status, reason) = if self.past(&tolerance_until, point, true) {
            (
                Status::Missed,
                format!(
                    "`{}` #{} due {} was missed: not done by {}, beyond the tolerance (until {})",
                    self.task.name,
                    self.cursor.number,
                    describe(&due, self.task.link),
                    point.date,
                    describe(&tolerance_until, self.task.link)
                ),
            )
        } else {
            (
                Status::Pending,
                format!(
                    "`{}` #{} due {} is not done yet; the tolerance runs until {}",
                    self.task.name,
                    self.cursor.number,
                    describe(&due, self.task.link),
                    describe(&tolerance_until, self.task.link)
                ),
            )
        };
        self.push(ServiceRecord {
            task: self.task.name.clone(),
            number: self.cursor.number,
            due,
            tolerance_until,
            done: None,
            late_days: None,
            late_meters: Meters::new(),
            status,
            reason,
        })
    }
}

/// Largest `k >= 0` such that `anchor + (steps + k) x span <= date`, for a positive span and
/// `anchor + steps x span <= date`. Exponential then binary search: the days grow
/// monotonically with the step count (month clamping never goes back).
fn time_steps_reached(span: Span, anchor: Date, steps: i64, date: Date) -> u64 {
    let fits = |k: i64| {
        steps
            .checked_add(k)
            .and_then(|n| span.times_after(anchor, n).ok())
            .is_some_and(|d| d <= date)
    };
    let (mut lo, mut hi) = (0_i64, 1_i64);
    while fits(hi) {
        lo = hi;
        match hi.checked_mul(2) {
            Some(h) => hi = h,
            None => break,
        }
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    u64::try_from(lo).unwrap_or(0)
}

/// A due point moved by a margin: forward (tolerance) or back (due-soon window).
fn margin(due: &DuePoint, by: &Counters, forward: bool) -> Result<DuePoint, MaintenanceError> {
    let span = by.time_or_zero();
    let on = match due.on {
        Some(on) if forward => Some(span.after(on)?),
        Some(on) => Some(span.before(on)?),
        None => None,
    };
    let mut at = Meters::new();
    for (unit, value) in &due.at {
        let m = by.meter_or_zero(unit);
        let moved = if forward {
            value.checked_add(m)
        } else {
            value.checked_sub(m)
        };
        at.insert(
            unit.clone(),
            moved.ok_or_else(|| overflow("applying a margin"))?,
        );
    }
    Ok(DuePoint { on, at })
}

/// `2025-01-15 or 15000 km` style text.
pub(crate) fn describe(point: &DuePoint, link: Link) -> String {
    let mut parts: Vec<String> = point.on.iter().map(ToString::to_string).collect();
    parts.extend(meters_text(&point.at));
    parts.join(&format!(" {} ", link.as_str()))
}

/// Checks a history against the plan: known tasks and units, and every meter a task counts
/// recorded at its services.
pub fn check_history(plan: &Plan, history: &[Completion]) -> Result<(), MaintenanceError> {
    for (i, done) in history.iter().enumerate() {
        let task = plan.task(&done.task, &format!("history[{i}].task"))?;
        for (unit, value) in &done.meters {
            plan.check_unit(unit, &format!("history[{i}].{unit}"))?;
            if *value < Decimal::ZERO {
                return Err(MaintenanceError::Negative {
                    field: format!("history[{i}].{unit}"),
                    value: meter_text(*value),
                });
            }
        }
        for unit in task.meter_units() {
            if !done.meters.contains_key(unit) {
                return Err(MaintenanceError::MissingMeter {
                    field: format!("history[{i}]"),
                    unit: unit.to_string(),
                    task: task.name.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The task's services on or before `until`, oldest first (same-day services in the order
/// given).
fn services_of(task: &Task, history: &[Completion], until: Date) -> Vec<Point> {
    let mut points: Vec<Point> = history
        .iter()
        .filter(|c| c.task == task.name && c.date <= until)
        .map(|c| Point {
            date: c.date,
            meters: c.meters.clone(),
        })
        .collect();
    points.sort_by_key(|p| p.date);
    points
}

/// Per counter, the day it was or will be reached; then the day the occurrence falls due by
/// the link (earliest for `or`, latest for `and`) and the counter that decides it.
type Forecast = (BTreeMap<String, Option<Date>>, Option<Date>, Option<String>);

fn forecast(
    task: &Task,
    due: &DuePoint,
    odometer: &Odometer,
    as_of: Date,
) -> Result<Forecast, MaintenanceError> {
    let mut per_meter = BTreeMap::new();
    let mut candidates: Vec<(String, Option<Date>)> = Vec::new();
    if let Some(on) = due.on {
        candidates.push(("time".to_string(), Some(on)));
    }
    for (unit, target) in &due.at {
        let day = odometer.reached_on(unit, *target, as_of)?;
        per_meter.insert(unit.clone(), day);
        candidates.push((unit.clone(), day));
    }
    let decided = match task.link {
        Link::Or => candidates
            .iter()
            .filter_map(|(c, d)| d.map(|d| (d, c)))
            .min_by_key(|(d, _)| *d),
        Link::And => {
            if candidates.iter().any(|(_, d)| d.is_none()) {
                None
            } else {
                candidates
                    .iter()
                    .filter_map(|(c, d)| d.map(|d| (d, c)))
                    .fold(None, |best: Option<(Date, &String)>, (d, c)| match best {
                        Some((bd, _)) if bd >= d => best,
                        _ => Some((d, c)),
                    })
            }
        }
    };
    Ok((
        per_meter,
        decided.map(|(d, _)| d),
        decided.map(|(_, c)| c.clone()),
    ))
}

impl Plan {
    fn evidence(
        &self,
        history: &[Completion],
        readings: &[Reading],
    ) -> Result<Odometer, MaintenanceError> {
        check_history(self, history)?;
        Odometer::new(self, readings, history)
    }

    /// Replays a task's services up to `until` and, on a grid, skips what `until` has passed.
    fn replay<'a>(
        &'a self,
        task: &'a Task,
        history: &[Completion],
        odometer: &Odometer,
        until: Date,
        keep_records: bool,
    ) -> Result<(Walk<'a>, Point), MaintenanceError> {
        let mut walk = Walk::new(self, task, keep_records)?;
        for done in services_of(task, history, until) {
            charge(1)?;
            walk.complete(&done)?;
        }
        let now = Point {
            date: until,
            meters: odometer.known_point(until),
        };
        Ok((walk, now))
    }

    /// The next due occurrence of `task` on `as_of`, from the services and readings on or
    /// before that day (later ones are ignored).
    pub fn next_due(
        &self,
        task: &str,
        history: &[Completion],
        readings: &[Reading],
        as_of: Date,
    ) -> Result<NextDue, MaintenanceError> {
        let task = self.task(task, "task")?;
        let odometer = self.evidence(history, readings)?;
        self.next_due_with(task, history, &odometer, as_of)
    }

    /// [`Plan::next_due`] for every task, in plan order.
    pub fn next_due_all(
        &self,
        history: &[Completion],
        readings: &[Reading],
        as_of: Date,
    ) -> Result<Vec<NextDue>, MaintenanceError> {
        let odometer = self.evidence(history, readings)?;
        self.tasks
            .iter()
            .map(|task| self.next_due_with(task, history, &odometer, as_of))
            .collect()
    }

    fn next_due_with(
        &self,
        task: &Task,
        history: &[Completion],
        odometer: &Odometer,
        as_of: Date,
    ) -> Result<NextDue, MaintenanceError> {
        let (mut walk, now) = self.replay(task, history, odometer, as_of, false)?;
        walk.skip_passed(&now)?;
        let due = walk.due()?;
        let tolerance_until = walk.tolerance_until(&due)?;
        let due_soon_from = margin(&due, &task.due_soon, false)?;
        let state = if walk.past(&tolerance_until, &now, true) {
            State::Overdue
        } else if walk.past(&due, &now, false) {
            State::Due
        } else if walk.past(&due_soon_from, &now, false) {
            State::DueSoon
        } else {
            State::Ok
        };
        let (per_meter, forecast_on, trigger) = forecast(task, &due, odometer, as_of)?;
        Ok(NextDue {
            task: task.name.clone(),
            number: walk.cursor.number,
            meters: only_units(&now.meters, task.meter_units()),
            days_left: forecast_on.map(|d| as_of.days_until(d)),
            forecast: per_meter,
            forecast_on,
            trigger,
            state,
            due,
            due_soon_from,
            tolerance_until,
            last_done: walk.last_done.map(|p| Point {
                date: p.date,
                meters: only_units(&p.meters, task.meter_units()),
            }),
        })
    }

    /// Every visit from `from` to `to` (both included), by day then plan order: each task's
    /// open occurrence, then the ones after it, assuming each visit is made on its forecast
    /// day with the meters projected at the average daily usage. An occurrence already due
    /// before `from` is listed on `from`, marked overdue. A task whose due day cannot be
    /// forecast (an `and` meter that does not move) has no visits.
    pub fn visits(
        &self,
        history: &[Completion],
        readings: &[Reading],
        from: Date,
        to: Date,
    ) -> Result<Vec<Visit>, MaintenanceError> {
        if to < from {
            return Err(MaintenanceError::Range(format!(
                "the horizon ends {to}, before it starts {from}"
            )));
        }
        let odometer = self.evidence(history, readings)?;
        let mut visits: Vec<(usize, Visit)> = Vec::new();
        for (index, task) in self.tasks.iter().enumerate() {
            let (mut walk, now) = self.replay(task, history, &odometer, from, false)?;
            walk.skip_passed(&now)?;
            let mut previous = from;
            loop {
                charge(1)?;
                let due = walk.due()?;
                let (per_meter, forecast_on, trigger) = forecast(task, &due, &odometer, from)?;
                let Some(day) = forecast_on else { break };
                // Never before the previous visit of the task, even if a forecast rounds onto
                // its day.
                let date = day.max(previous);
                if date > to {
                    break;
                }
                let mut meters = Meters::new();
                for unit in task.meter_units() {
                    let mut value = odometer
                        .projected(unit, from, date)?
                        .unwrap_or(Decimal::ZERO);
                    let reached = per_meter
                        .get(unit)
                        .copied()
                        .flatten()
                        .is_some_and(|d| d <= date);
                    if let (true, Some(target)) = (reached, due.at.get(unit)) {
                        value = value.max(*target);
                    }
                    meters.insert(unit.to_string(), value);
                }
                let Some(matched) = walk.complete(&Point { date, meters })? else {
                    break;
                };
                previous = date;
                if visits.len() >= MAX_SERVICES {
                    return Err(MaintenanceError::TooMany {
                        what: format!("visits from {from} to {to}"),
                        limit: MAX_SERVICES,
                    });
                }
                visits.push((
                    index,
                    Visit {
                        task: task.name.clone(),
                        number: matched.number,
                        date,
                        due: matched.due,
                        trigger,
                        overdue: day < from,
                    },
                ));
            }
        }
        visits.sort_by(|(ia, a), (ib, b)| {
            a.date
                .cmp(&b.date)
                .then(ia.cmp(ib))
                .then(a.number.cmp(&b.number))
        });
        Ok(visits.into_iter().map(|(_, v)| v).collect())
    }

    /// Whether every occurrence due up to `up_to` was done within tolerance: each service on
    /// or before `up_to` is matched to an occurrence and judged; then each task's open
    /// occurrence, if due on `up_to` (by time or by the meters known then), is pending within
    /// tolerance or missed beyond it; occurrences a grid skipped are missed.
    pub fn compliance(
        &self,
        history: &[Completion],
        readings: &[Reading],
        up_to: Date,
    ) -> Result<Compliance, MaintenanceError> {
        let odometer = self.evidence(history, readings)?;
        let mut services = Vec::new();
        let mut extra = Vec::new();
        let mut open = Vec::new();
        for task in &self.tasks {
            let (mut walk, now) = self.replay(task, history, &odometer, up_to, true)?;
            walk.close(&now)?;
            open.push(walk.due()?);
            services.extend(walk.records.take().unwrap_or_default());
            extra.append(&mut walk.extra);
            if services.len() > MAX_SERVICES {
                return Err(MaintenanceError::TooMany {
                    what: format!("compliance up to {up_to}"),
                    limit: MAX_SERVICES,
                });
            }
        }
        Ok(Compliance {
            up_to,
            compliant: !services.iter().any(|s| s.status.breaks_compliance()),
            services,
            extra,
            open,
        })
    }

    /// The average daily usage of each meter on `as_of` (see [`Odometer::daily_usage`]).
    pub fn daily_usage(
        &self,
        history: &[Completion],
        readings: &[Reading],
        as_of: Date,
    ) -> Result<BTreeMap<String, Option<Decimal>>, MaintenanceError> {
        let odometer = self.evidence(history, readings)?;
        Ok(self
            .meter_units()
            .into_iter()
            .map(|u| (u.to_string(), odometer.daily_usage(u, as_of)))
            .collect())
    }
}
