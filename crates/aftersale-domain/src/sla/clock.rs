//! The clock: a ticket's history replayed, event by event, against each metric of a policy.
//!
//! A metric's time is split into *cycles* (one per start; a reopened resolution in
//! `new_cycle` mode or a new customer message for `next_response` start another). A cycle is
//! always in one phase: *running* (counting business time), *held* (a pause status, or a
//! resolved ticket waiting to be resumed) or *stopped*. The business time of each running
//! segment is counted on the calendar; the due instant is recomputed when a hold ends, by
//! the business time left (`business`) or by pushing it by the hold's wall-clock duration
//! (`wall_clock`). A cycle breaches when it is running at an instant after its due; the
//! breach instant is that due, and it is never taken back.

use aftersale_core::meter::charge;
use aftersale_core::DateTime;
use chrono::TimeDelta;
use rust_decimal::Decimal;

use super::error::SlaError;
use super::model::{
    check_history, Actor, Event, Matcher, Metric, MetricRule, PauseAccounting, Policy, Reopen,
    Repeat,
};
use crate::calendar::Calendar;

const NANOS: i128 = 1_000_000_000;

/// The most cycles one metric may run through in a history (a reply cycle per customer
/// message for `next_response`): far above any real ticket, and each costs calendar work.
pub const MAX_CYCLES: usize = 1_000;

/// The state of a clock at the evaluation instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No cycle has started (a `next_response` before any customer message awaits an answer).
    NotStarted,
    /// Counting, due not yet passed.
    Running,
    /// Held by a pause status (or, in `resume` mode, never: a resolved ticket is stopped).
    /// A breach recorded before the pause stays recorded (`breached_at`).
    Paused,
    /// Stopped on time: at or before the due instant.
    Met,
    /// Running past the due instant, or stopped after it.
    Breached,
}

impl State {
    /// The script spelling: `not_started`, `running`, `paused`, `met`, `breached`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Met => "met",
            Self::Breached => "breached",
        }
    }
}

/// When a threshold (a percentage of the allowed time) is or will be crossed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossing {
    /// The threshold, in percent of the allowed business time.
    pub percent: u32,
    /// The instant the consumed time reaches it: past, or future for a running clock;
    /// `None` when not known (a paused clock, whose resumption is not known) or never (a
    /// clock stopped before reaching it).
    pub at: Option<DateTime>,
    /// Whether it has been crossed at the evaluation instant (`at <= as_of`).
    pub crossed: bool,
}

/// A recorded breach: the cycle, and its due instant, when it breached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// The cycle's number, from 1.
    pub cycle: u32,
    /// The instant of the breach (the cycle's due).
    pub at: DateTime,
}

/// One cycle of a metric, as it stands at the evaluation instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleSummary {
    /// Its number, from 1.
    pub cycle: u32,
    /// When it started.
    pub start: DateTime,
    /// Its due instant (`None` while paused, unless already breached).
    pub due: Option<DateTime>,
    /// When it stopped.
    pub stopped_at: Option<DateTime>,
    /// Its state.
    pub state: State,
    /// When it breached.
    pub breached_at: Option<DateTime>,
    /// Business time counted.
    pub elapsed: TimeDelta,
}

/// A metric's clock at the evaluation instant: its current (latest) cycle in detail, every
/// cycle in summary, every breach ever recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    /// The metric.
    pub metric: String,
    /// The current cycle's state.
    pub state: State,
    /// The current cycle's number (0 when not started).
    pub cycle: u32,
    /// When the current cycle started (the event's instant, even outside business hours:
    /// counting then starts at the next opening).
    pub start: Option<DateTime>,
    /// When the current cycle is due. `None` when not started, and while paused (the due
    /// depends on when the pause ends) unless the cycle has already breached.
    pub due: Option<DateTime>,
    /// When the current cycle stopped.
    pub stopped_at: Option<DateTime>,
    /// When the current pause began.
    pub paused_since: Option<DateTime>,
    /// The policy's target.
    pub target: TimeDelta,
    /// The business time the cycle may run before it is due: the target with `business`
    /// accounting; with `wall_clock`, the business time the pushed due leaves (while paused,
    /// as it was when the pause began). `None` when not started.
    pub allowed: Option<TimeDelta>,
    /// Business time counted in the current cycle (running time only).
    pub elapsed: TimeDelta,
    /// `allowed - elapsed`, never below zero; `None` when not started, and while paused with
    /// `wall_clock` accounting (the push is not known until the pause ends).
    pub remaining: Option<TimeDelta>,
    /// Wall-clock time the current cycle has spent on hold (closed holds and the open one).
    pub held: TimeDelta,
    /// When the current cycle breached.
    pub breached_at: Option<DateTime>,
    /// Every breach of every cycle, oldest first.
    pub breaches: Vec<Breach>,
    /// The policy's thresholds for the current cycle.
    pub thresholds: Vec<Crossing>,
    /// Every cycle, oldest first (the current one last).
    pub cycles: Vec<CycleSummary>,
}

fn nanos(d: TimeDelta) -> i128 {
    i128::from(d.num_seconds()) * NANOS + i128::from(d.subsec_nanos())
}

fn delta(nanos: i128) -> TimeDelta {
    let seconds = i64::try_from(nanos.div_euclid(NANOS)).unwrap_or(i64::MAX);
    let sub = u32::try_from(nanos.rem_euclid(NANOS)).unwrap_or(0);
    TimeDelta::new(seconds, sub).unwrap_or(TimeDelta::MAX)
}

impl Clock {
    /// The share of the allowed time consumed, in whole percent rounded down (so
    /// `percent >= 75` exactly when the 75% threshold is crossed); above 100 once breached;
    /// `u32::MAX` for a zero allowance, which every threshold crosses at once. `None` when
    /// not started.
    pub fn percent(&self) -> Option<i64> {
        self.hundredths()
            .map(|h| i64::try_from(h.div_euclid(100)).unwrap_or(i64::MAX))
    }

    /// The same share as an exact decimal with two places, rounded down (`62.50`).
    pub fn percent_exact(&self) -> Option<Decimal> {
        self.hundredths()
            .and_then(|h| Decimal::try_from_i128_with_scale(h, 2).ok())
    }

    fn hundredths(&self) -> Option<i128> {
        let allowed = nanos(self.allowed?);
        if allowed == 0 {
            // A zero allowance is used up at the start: every threshold, 150% as much as
            // 100%, is crossed there (see `crossing`), so the share is past any of them.
            return Some(i128::from(u32::MAX) * 100);
        }
        Some(nanos(self.elapsed) * 10_000 / allowed)
    }

    fn not_started(metric: &Metric, thresholds: &[u32]) -> Self {
        Self {
            metric: metric.name.clone(),
            state: State::NotStarted,
            cycle: 0,
            start: None,
            due: None,
            stopped_at: None,
            paused_since: None,
            target: metric.target,
            allowed: None,
            elapsed: TimeDelta::zero(),
            remaining: None,
            held: TimeDelta::zero(),
            breached_at: None,
            breaches: Vec::new(),
            thresholds: thresholds
                .iter()
                .map(|&percent| Crossing {
                    percent,
                    at: None,
                    crossed: false,
                })
                .collect(),
            cycles: Vec::new(),
        }
    }
}

fn calendar_error(context: String) -> impl FnOnce(crate::calendar::CalendarError) -> SlaError {
    move |source| match source {
        crate::calendar::CalendarError::Exhausted(limit) => SlaError::Exhausted(limit),
        source => SlaError::Calendar { context, source },
    }
}

fn business(cal: &Calendar, from: DateTime, to: DateTime) -> Result<TimeDelta, SlaError> {
    cal.business_time(from, to)
        .map_err(calendar_error(format!("business time from {from} to {to}")))
}

fn add_business(cal: &Calendar, from: DateTime, amount: TimeDelta) -> Result<DateTime, SlaError> {
    cal.add_business(from, amount)
        .map_err(calendar_error(format!(
            "{from} + {} s of business time",
            amount.num_seconds()
        )))
}

fn wall(from: DateTime, to: DateTime) -> TimeDelta {
    to.0 - from.0
}

/// The instant `amount` of wall-clock time after `t`, in the calendar's zone.
fn push(cal: &Calendar, t: DateTime, amount: TimeDelta) -> Result<DateTime, SlaError> {
    t.0.checked_add_signed(amount)
        .map(|x| DateTime(x).in_zone(cal.timezone()))
        .ok_or_else(|| SlaError::InvalidInstant {
            field: "due".into(),
            message: format!("{t} pushed by {} s is out of range", amount.num_seconds()),
        })
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Running(DateTime),
    Held(DateTime),
    Stopped(DateTime),
}

/// A running stretch: where it started, the business time counted before it, and its
/// business length once closed.
#[derive(Debug, Clone, Copy)]
struct Segment {
    from: DateTime,
    before: TimeDelta,
    length: Option<TimeDelta>,
}

#[derive(Debug, Clone)]
struct Cycle {
    number: u32,
    start: DateTime,
    phase: Phase,
    elapsed: TimeDelta,
    due: DateTime,
    allowed: TimeDelta,
    held: TimeDelta,
    breached_at: Option<DateTime>,
    segments: Vec<Segment>,
}

/// What the ticket is, after each event: what metrics react to.
#[derive(Debug, Clone)]
struct Ticket {
    status: String,
    resolved: bool,
    first_responded: bool,
    /// A customer reply is waiting for an agent's answer.
    awaiting: bool,
}

impl Ticket {
    fn new() -> Self {
        Self {
            status: super::model::INITIAL_STATUS.to_string(),
            resolved: false,
            first_responded: false,
            awaiting: false,
        }
    }

    fn apply(&mut self, event: &Event, policy: &Policy) {
        match event.kind.as_str() {
            "created" | "status" => {
                if let Some(status) = &event.status {
                    self.status.clone_from(status);
                }
            }
            "reply" => match event.by {
                Some(Actor::Agent) => {
                    self.first_responded = true;
                    self.awaiting = false;
                }
                Some(Actor::Customer) => self.awaiting = true,
                None => {}
            },
            _ => {}
        }
        let resolved = policy.is_resolved(&self.status);
        if resolved && !self.resolved {
            self.awaiting = false;
        }
        self.resolved = resolved;
    }

    /// The condition under which `next_response` runs.
    fn awaits_next_response(&self) -> bool {
        self.awaiting && self.first_responded && !self.resolved
    }
}

/// How one event changed the ticket.
struct Change<'e> {
    event: &'e Event,
    before: &'e Ticket,
    after: &'e Ticket,
}

impl Change<'_> {
    fn resolved(&self) -> bool {
        !self.before.resolved && self.after.resolved
    }

    fn reopened(&self) -> bool {
        self.before.resolved && !self.after.resolved
    }

    fn matches(&self, m: &Matcher) -> bool {
        let kind = m.kind.as_deref().map_or(true, |k| match k {
            "resolved" => self.resolved(),
            "reopened" => self.reopened(),
            k => self.event.kind == k,
        });
        let status = m.status.as_ref().map_or(true, |list| {
            self.event
                .status
                .as_ref()
                .is_some_and(|s| list.iter().any(|x| x == s))
        });
        let by = m.by.map_or(true, |a| self.event.by == Some(a));
        kind && status && by
    }
}

/// One metric's cycles, built event by event.
struct Tracker<'a> {
    cal: &'a Calendar,
    metric: &'a Metric,
    accounting: PauseAccounting,
    reopen: Reopen,
    pauses: &'a [String],
    cycles: Vec<Cycle>,
}

impl<'a> Tracker<'a> {
    fn new(cal: &'a Calendar, policy: &'a Policy, metric: &'a Metric) -> Self {
        Self {
            cal,
            metric,
            accounting: policy.accounting,
            reopen: policy.reopen,
            pauses: metric
                .pause_statuses
                .as_deref()
                .unwrap_or(&policy.pause_statuses),
            cycles: Vec::new(),
        }
    }

    fn is_open(&self) -> bool {
        self.cycles
            .last()
            .is_some_and(|c| !matches!(c.phase, Phase::Stopped(_)))
    }

    fn on(&mut self, change: &Change<'_>) -> Result<(), SlaError> {
        let t = change.event.at;
        let open = self.is_open();
        match &self.metric.rule {
            MetricRule::FirstResponse => {
                if change.event.kind == "created" {
                    self.start(t)?;
                } else if open
                    && ((change.event.kind == "reply" && change.event.by == Some(Actor::Agent))
                        || change.resolved())
                {
                    self.stop(t)?;
                }
            }
            MetricRule::Resolution => {
                if change.event.kind == "created" {
                    if !change.after.resolved {
                        self.start(t)?;
                    }
                } else if open && change.resolved() {
                    self.stop(t)?;
                } else if change.reopened() {
                    match (self.reopen, self.cycles.is_empty()) {
                        (Reopen::Resume, false) => self.resume(),
                        _ => self.start(t)?,
                    }
                }
            }
            MetricRule::NextResponse => {
                let was = change.before.awaits_next_response();
                let now = change.after.awaits_next_response();
                if !was && now {
                    self.start(t)?;
                } else if was && !now && open {
                    self.stop(t)?;
                }
            }
            MetricRule::Custom(rule) => {
                if open && (change.resolved() || rule.stop.iter().any(|m| change.matches(m))) {
                    self.stop(t)?;
                }
                if !self.is_open()
                    && !change.after.resolved
                    && rule.start.iter().any(|m| change.matches(m))
                {
                    match (rule.repeat, self.cycles.is_empty()) {
                        (_, true) | (Repeat::NewCycle, false) => self.start(t)?,
                        (Repeat::Resume, false) => self.resume(),
                        (Repeat::Once, false) => {}
                    }
                }
            }
        }
        self.sync_pause(t, &change.after.status)
    }

    /// A new cycle at `t`, held until [`sync_pause`](Self::sync_pause) runs it (at once
    /// unless the status pauses it).
    fn start(&mut self, t: DateTime) -> Result<(), SlaError> {
        if self.cycles.len() >= MAX_CYCLES {
            return Err(SlaError::TooMany {
                field: format!("cycles of `{}`", self.metric.name),
                what: "cycles per metric",
                limit: MAX_CYCLES,
                found: self.cycles.len() + 1,
            });
        }
        let due = add_business(self.cal, t, self.metric.target)?;
        self.cycles.push(Cycle {
            number: u32::try_from(self.cycles.len() + 1).unwrap_or(u32::MAX),
            start: t,
            phase: Phase::Held(t),
            elapsed: TimeDelta::zero(),
            due,
            allowed: self.metric.target,
            held: TimeDelta::zero(),
            breached_at: None,
            segments: Vec::new(),
        });
        Ok(())
    }

    /// The stopped cycle continues: the time since it stopped becomes a hold.
    fn resume(&mut self) {
        if let Some(cycle) = self.cycles.last_mut() {
            if let Phase::Stopped(at) = cycle.phase {
                cycle.phase = Phase::Held(at);
            }
        }
    }

    fn stop(&mut self, t: DateTime) -> Result<(), SlaError> {
        let (cal, accounting) = (self.cal, self.accounting);
        let Some(cycle) = self.cycles.last_mut() else {
            return Ok(());
        };
        match cycle.phase {
            Phase::Running(_) => close_segment(cal, cycle, t)?,
            Phase::Held(since) => {
                let hold = wall(since, t);
                cycle.held += hold;
                if accounting == PauseAccounting::WallClock && cycle.breached_at.is_none() {
                    cycle.due = push(cal, cycle.due, hold)?;
                    cycle.allowed = cycle.elapsed + business(cal, t, cycle.due)?;
                }
            }
            Phase::Stopped(_) => return Ok(()),
        }
        cycle.phase = Phase::Stopped(t);
        Ok(())
    }

    fn sync_pause(&mut self, t: DateTime, status: &str) -> Result<(), SlaError> {
        let paused = self.pauses.iter().any(|s| s == status);
        let (cal, accounting, target) = (self.cal, self.accounting, self.metric.target);
        let Some(cycle) = self.cycles.last_mut() else {
            return Ok(());
        };
        match (cycle.phase, paused) {
            (Phase::Running(_), true) => {
                close_segment(cal, cycle, t)?;
                cycle.phase = Phase::Held(t);
            }
            (Phase::Held(since), false) => {
                let hold = wall(since, t);
                cycle.held += hold;
                if cycle.breached_at.is_none() {
                    match accounting {
                        PauseAccounting::Business => {
                            let left = (target - cycle.elapsed).max(TimeDelta::zero());
                            cycle.due = add_business(cal, t, left)?;
                        }
                        PauseAccounting::WallClock => {
                            cycle.due = push(cal, cycle.due, hold)?;
                            cycle.allowed = cycle.elapsed + business(cal, t, cycle.due)?;
                        }
                    }
                }
                cycle.phase = Phase::Running(t);
                cycle.segments.push(Segment {
                    from: t,
                    before: cycle.elapsed,
                    length: None,
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(mut self, as_of: DateTime, thresholds: &[u32]) -> Result<Clock, SlaError> {
        let (cal, accounting) = (self.cal, self.accounting);
        let Some(last) = self.cycles.last_mut() else {
            return Ok(Clock::not_started(self.metric, thresholds));
        };
        let mut open_hold = TimeDelta::zero();
        match last.phase {
            Phase::Running(since) => {
                last.elapsed += business(cal, since, as_of)?;
                if last.breached_at.is_none() && as_of > last.due {
                    last.breached_at = Some(last.due);
                }
            }
            Phase::Held(since) => open_hold = wall(since, as_of),
            Phase::Stopped(_) => {}
        }
        let summaries: Vec<CycleSummary> = self.cycles.iter().map(summary).collect();
        let breaches = self
            .cycles
            .iter()
            .filter_map(|c| {
                c.breached_at.map(|at| Breach {
                    cycle: c.number,
                    at,
                })
            })
            .collect();
        let Some(cycle) = self.cycles.last() else {
            return Ok(Clock::not_started(self.metric, thresholds));
        };
        let current = summary(cycle);
        let held_unknown = matches!(cycle.phase, Phase::Held(_))
            && accounting == PauseAccounting::WallClock
            && cycle.breached_at.is_none();
        let allowed = match accounting {
            PauseAccounting::Business => self.metric.target,
            PauseAccounting::WallClock => cycle.allowed,
        };
        let remaining = (!held_unknown).then(|| (allowed - cycle.elapsed).max(TimeDelta::zero()));
        let crossings = thresholds
            .iter()
            .map(|&percent| {
                let at = crossing(cal, cycle, allowed, percent)?;
                Ok(Crossing {
                    percent,
                    at,
                    crossed: at.is_some_and(|t| t <= as_of),
                })
            })
            .collect::<Result<Vec<_>, SlaError>>()?;
        Ok(Clock {
            metric: self.metric.name.clone(),
            state: current.state,
            cycle: cycle.number,
            start: Some(cycle.start),
            due: current.due,
            stopped_at: current.stopped_at,
            paused_since: match cycle.phase {
                Phase::Held(since) => Some(since),
                _ => None,
            },
            target: self.metric.target,
            allowed: Some(allowed),
            elapsed: cycle.elapsed,
            remaining,
            held: cycle.held + open_hold,
            breached_at: cycle.breached_at,
            breaches,
            thresholds: crossings,
            cycles: summaries,
        })
    }
}

/// Closes the running segment at `t`: counts its business time and records a breach if it
/// ran past the due.
fn close_segment(cal: &Calendar, cycle: &mut Cycle, t: DateTime) -> Result<(), SlaError> {
    let Phase::Running(since) = cycle.phase else {
        return Ok(());
    };
    let length = business(cal, since, t)?;
    if let Some(segment) = cycle.segments.last_mut() {
        segment.length = Some(length);
    }
    cycle.elapsed += length;
    if cycle.breached_at.is_none() && t > cycle.due {
        cycle.breached_at = Some(cycle.due);
    }
    Ok(())
}

fn summary(cycle: &Cycle) -> CycleSummary {
    let breached = cycle.breached_at.is_some();
    let (state, due, stopped_at) = match cycle.phase {
        Phase::Running(_) if breached => (State::Breached, Some(cycle.due), None),
        Phase::Running(_) => (State::Running, Some(cycle.due), None),
        Phase::Held(_) => (State::Paused, breached.then_some(cycle.due), None),
        Phase::Stopped(at) if breached => (State::Breached, Some(cycle.due), Some(at)),
        Phase::Stopped(at) => (State::Met, Some(cycle.due), Some(at)),
    };
    CycleSummary {
        cycle: cycle.number,
        start: cycle.start,
        due,
        stopped_at,
        state,
        breached_at: cycle.breached_at,
        elapsed: cycle.elapsed,
    }
}

/// The first instant at which the cycle's running time reaches `percent` of `allowed`: in a
/// closed segment, or in the open running one (a future instant when not yet reached).
fn crossing(
    cal: &Calendar,
    cycle: &Cycle,
    allowed: TimeDelta,
    percent: u32,
) -> Result<Option<DateTime>, SlaError> {
    // Rounded up: the first nanosecond at which the share is at least `percent`.
    let amount = (nanos(allowed) * i128::from(percent) + 99) / 100;
    if amount == 0 {
        return Ok(Some(cycle.start));
    }
    let running = matches!(cycle.phase, Phase::Running(_));
    let count = cycle.segments.len();
    for (i, segment) in cycle.segments.iter().enumerate() {
        charge(1)?;
        let before = nanos(segment.before);
        let open_end = running && i + 1 == count;
        let reaches = match segment.length {
            _ if open_end => true,
            Some(length) => amount <= before + nanos(length),
            None => false,
        };
        if amount > before && reaches {
            return add_business(cal, segment.from, delta(amount - before)).map(Some);
        }
    }
    Ok(None)
}

/// Every metric's clock at `as_of`, in the policy's order. Events after `as_of` are ignored
/// (the history as it stood then); the whole history is checked first.
pub fn clocks(
    calendar: &Calendar,
    policy: &Policy,
    events: &[Event],
    as_of: DateTime,
) -> Result<Vec<Clock>, SlaError> {
    let metrics: Vec<&Metric> = policy.metrics.iter().collect();
    replay(calendar, policy, events, as_of, &metrics)
}

/// The clock of the metric named `metric` at `as_of`; an error names the metrics the policy
/// has when it has no such one.
pub fn clock(
    calendar: &Calendar,
    policy: &Policy,
    events: &[Event],
    as_of: DateTime,
    metric: &str,
) -> Result<Clock, SlaError> {
    let metric = policy.metric(metric)?;
    let mut clocks = replay(calendar, policy, events, as_of, &[metric])?;
    clocks.pop().ok_or_else(|| SlaError::UnknownMetric {
        metric: metric.name.clone(),
        known: String::new(),
    })
}

fn replay(
    calendar: &Calendar,
    policy: &Policy,
    events: &[Event],
    as_of: DateTime,
    metrics: &[&Metric],
) -> Result<Vec<Clock>, SlaError> {
    policy.check()?;
    check_history(policy, events)?;
    let mut trackers: Vec<Tracker<'_>> = metrics
        .iter()
        .map(|m| Tracker::new(calendar, policy, m))
        .collect();
    let mut ticket = Ticket::new();
    for event in events.iter().take_while(|e| e.at <= as_of) {
        let before = ticket.clone();
        ticket.apply(event, policy);
        let change = Change {
            event,
            before: &before,
            after: &ticket,
        };
        for tracker in &mut trackers {
            charge(1)?;
            tracker.on(&change)?;
        }
    }
    trackers
        .into_iter()
        .map(|t| t.finish(as_of, &policy.thresholds))
        .collect()
}
