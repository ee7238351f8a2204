//! The inputs of a clock: a ticket's history ([`Event`]) and a [`Policy`] with its metrics.

use aftersale_core::DateTime;
use chrono::TimeDelta;

use super::error::SlaError;

/// The event types every history may use. `policy.event_types` adds others (for custom
/// metrics); any other type is an error.
pub const EVENT_TYPES: [&str; 5] = ["created", "status", "reply", "note", "assigned"];

/// The statuses that resolve a ticket unless a policy says otherwise.
pub const DEFAULT_RESOLVED_STATUSES: [&str; 2] = ["resolved", "closed"];

/// The status of a ticket whose `created` event names none.
pub const INITIAL_STATUS: &str = "open";

/// The most metrics a policy may target (each is a clock replayed over the whole history).
pub const MAX_METRICS: usize = 16;
/// The most escalation thresholds a policy may have (each is placed on the calendar).
pub const MAX_THRESHOLDS: usize = 32;
/// The most events a ticket history may hold.
pub const MAX_EVENTS: usize = 10_000;

/// Who wrote a reply (or made a change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The support side.
    Agent,
    /// The customer (requester).
    Customer,
}

impl Actor {
    /// The script spelling, `agent` or `customer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Customer => "customer",
        }
    }
}

/// One entry of a ticket's history.
///
/// - `created`: the ticket was opened; the first event, exactly once; `status` is the
///   initial status (default `open`).
/// - `status`: the status changed to `status` (required).
/// - `reply`: a public reply, `by` (required) the agent or the customer.
/// - `note`, `assigned`, and any type declared in `policy.event_types`: recorded, used only
///   by custom metrics' conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When it happened.
    pub at: DateTime,
    /// Its type (`created`, `status`, `reply`, ...).
    pub kind: String,
    /// The new status (`status`, `created`).
    pub status: Option<String>,
    /// Who did it (required for `reply`).
    pub by: Option<Actor>,
}

impl Event {
    /// An event of type `kind` at `at`, with no status and no author.
    pub fn new(at: DateTime, kind: &str) -> Self {
        Self {
            at,
            kind: kind.to_string(),
            status: None,
            by: None,
        }
    }

    /// The same event with a status.
    #[must_use]
    pub fn with_status(mut self, status: &str) -> Self {
        self.status = Some(status.to_string());
        self
    }

    /// The same event with an author.
    #[must_use]
    pub fn with_author(mut self, actor: Actor) -> Self {
        self.by = Some(actor);
        self
    }
}

/// How time on hold (a pause status, or a resolved ticket reopened in `resume` mode) is
/// accounted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PauseAccounting {
    /// Paused time is simply not counted: the clock stops, and on resuming the due instant is
    /// recomputed from the business time left (Frappe Helpdesk).
    #[default]
    Business,
    /// The due instant is pushed by the wall-clock duration of the hold (ERPNext): a hold of
    /// 65 hours over a weekend pushes it 65 hours, wherever that lands.
    WallClock,
}

/// What reopening a resolved ticket does to the resolution clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reopen {
    /// The same cycle continues: start and business time used so far are kept, the time the
    /// ticket spent resolved is a hold (accounted as [`PauseAccounting`] says).
    #[default]
    Resume,
    /// A new cycle starts at the reopening with the full target; the earlier cycle's outcome
    /// (met or breached) stays on record.
    NewCycle,
}

/// What a custom metric's start condition does once a cycle has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repeat {
    /// A new cycle, with the full target.
    #[default]
    NewCycle,
    /// The stopped cycle continues; the gap is a hold.
    Resume,
    /// Nothing: the metric has one cycle only.
    Once,
}

/// A condition on one event: every field given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Matcher {
    /// The event type; besides real types, `resolved` matches an event that puts the ticket
    /// into a resolved status and `reopened` one that takes it out of one.
    pub kind: Option<String>,
    /// The event's status is one of these.
    pub status: Option<Vec<String>>,
    /// The event's author.
    pub by: Option<Actor>,
}

/// The start and stop conditions of a custom metric.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomRule {
    /// An event matching any of these starts a cycle (when none is open and the ticket is not
    /// resolved).
    pub start: Vec<Matcher>,
    /// An event matching any of these stops the open cycle.
    pub stop: Vec<Matcher>,
    /// What a start does after a cycle has stopped.
    pub repeat: Repeat,
}

/// When a metric's cycles start and stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricRule {
    /// Starts at `created`; stops at the first agent reply or when the ticket is resolved.
    /// One cycle only.
    FirstResponse,
    /// Runs while the customer awaits an answer after the first response: a cycle starts at a
    /// customer reply (or at a reopening with a customer reply pending), stops at the next
    /// agent reply or when the ticket is resolved. Every cycle is new.
    NextResponse,
    /// Starts at `created`; stops when the ticket is resolved; reopening resumes it or starts
    /// a new cycle ([`Reopen`]).
    Resolution,
    /// Defined by the contract.
    Custom(CustomRule),
}

/// One metric of a policy: a name, a target in business time, its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// `first_response`, `next_response`, `resolution`, or a custom name.
    pub name: String,
    /// The business time allowed per cycle (greater than zero).
    pub target: TimeDelta,
    /// When cycles start and stop.
    pub rule: MetricRule,
    /// Statuses that pause this metric; `None` means the policy's.
    pub pause_statuses: Option<Vec<String>>,
}

impl Metric {
    /// A built-in metric by name (`first_response`, `next_response`, `resolution`) with a
    /// target; `None` for any other name.
    pub fn builtin(name: &str, target: TimeDelta) -> Option<Self> {
        let rule = match name {
            "first_response" => MetricRule::FirstResponse,
            "next_response" => MetricRule::NextResponse,
            "resolution" => MetricRule::Resolution,
            _ => return None,
        };
        Some(Self {
            name: name.to_string(),
            target,
            rule,
            pause_statuses: None,
        })
    }
}

/// An SLA policy: the metrics with their targets and how pauses, resolution and reopening
/// are read from the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The metrics, in the order clocks are reported.
    pub metrics: Vec<Metric>,
    /// Statuses that pause every metric (unless a metric has its own list).
    pub pause_statuses: Vec<String>,
    /// Statuses that resolve the ticket: entering one stops every running clock.
    pub resolved_statuses: Vec<String>,
    /// How holds are accounted for.
    pub accounting: PauseAccounting,
    /// What reopening does to the resolution clock.
    pub reopen: Reopen,
    /// Percentages of the allowed time whose crossing instants are reported, ascending.
    pub thresholds: Vec<u32>,
    /// Event types the history may use besides [`EVENT_TYPES`].
    pub event_types: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            metrics: Vec::new(),
            pause_statuses: Vec::new(),
            resolved_statuses: DEFAULT_RESOLVED_STATUSES
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            accounting: PauseAccounting::default(),
            reopen: Reopen::default(),
            thresholds: Vec::new(),
            event_types: Vec::new(),
        }
    }
}

impl Policy {
    /// Checks what the types cannot: targets above zero, thresholds from 1 to 1000 percent,
    /// metric names unique.
    pub fn check(&self) -> Result<(), SlaError> {
        for (field, what, limit, found) in [
            ("policy.targets", "metrics", MAX_METRICS, self.metrics.len()),
            (
                "policy.thresholds",
                "thresholds",
                MAX_THRESHOLDS,
                self.thresholds.len(),
            ),
        ] {
            if found > limit {
                return Err(SlaError::TooMany {
                    field: field.into(),
                    what,
                    limit,
                    found,
                });
            }
        }
        for (i, metric) in self.metrics.iter().enumerate() {
            if metric.target <= TimeDelta::zero() {
                return Err(SlaError::NotPositive {
                    field: format!("policy.targets.{}", metric.name),
                    value: format!("{} s", metric.target.num_seconds()),
                });
            }
            if self.metrics[..i].iter().any(|m| m.name == metric.name) {
                return Err(SlaError::BadMetric {
                    field: format!("policy.targets.{}", metric.name),
                    message: "the metric is defined twice".into(),
                });
            }
        }
        for (i, &t) in self.thresholds.iter().enumerate() {
            if !(1..=1000).contains(&t) {
                return Err(SlaError::BadThreshold {
                    field: format!("policy.thresholds[{i}]"),
                    value: t.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The metric named `name`.
    pub fn metric(&self, name: &str) -> Result<&Metric, SlaError> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| SlaError::UnknownMetric {
                metric: name.to_string(),
                known: self.metric_names(),
            })
    }

    fn metric_names(&self) -> String {
        if self.metrics.is_empty() {
            return "no metric".into();
        }
        self.metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether `kind` is an event type this policy's histories may use.
    pub fn knows_event_type(&self, kind: &str) -> bool {
        EVENT_TYPES.contains(&kind) || self.event_types.iter().any(|t| t == kind)
    }

    /// Whether `status` resolves the ticket.
    pub fn is_resolved(&self, status: &str) -> bool {
        self.resolved_statuses.iter().any(|s| s == status)
    }
}

/// Checks a history against a policy: `created` first and only once, types known, `reply`
/// with its author, `status` with its status, instants never going back. The first error
/// names the event (`events[3].at`).
pub fn check_history(policy: &Policy, events: &[Event]) -> Result<(), SlaError> {
    if events.len() > MAX_EVENTS {
        return Err(SlaError::TooMany {
            field: "events".into(),
            what: "events",
            limit: MAX_EVENTS,
            found: events.len(),
        });
    }
    let Some(first) = events.first() else {
        return Err(SlaError::BadHistory {
            field: "events".into(),
            message: "the history is empty: it must start with a `created` event".into(),
        });
    };
    if first.kind != "created" {
        return Err(SlaError::BadHistory {
            field: "events[0].type".into(),
            message: format!(
                "the history must start with a `created` event, got `{}`",
                first.kind
            ),
        });
    }
    let mut previous: Option<DateTime> = None;
    for (i, event) in events.iter().enumerate() {
        if !policy.knows_event_type(&event.kind) {
            let mut known: Vec<&str> = EVENT_TYPES.to_vec();
            known.extend(policy.event_types.iter().map(String::as_str));
            return Err(SlaError::UnknownEventType {
                field: format!("events[{i}].type"),
                found: event.kind.clone(),
                known: known.join(", "),
            });
        }
        if i > 0 && event.kind == "created" {
            return Err(SlaError::BadHistory {
                field: format!("events[{i}].type"),
                message: "a second `created` event: a ticket is created once".into(),
            });
        }
        if event.kind == "reply" && event.by.is_none() {
            return Err(SlaError::Missing {
                field: format!("events[{i}].by"),
            });
        }
        if event.kind == "status" && event.status.is_none() {
            return Err(SlaError::Missing {
                field: format!("events[{i}].status"),
            });
        }
        if let Some(prev) = previous {
            if event.at < prev {
                return Err(SlaError::OutOfOrder {
                    field: format!("events[{i}].at"),
                    at: event.at.to_string(),
                    previous: prev.to_string(),
                });
            }
        }
        previous = Some(event.at);
    }
    Ok(())
}
