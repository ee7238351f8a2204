//! What can go wrong reading a policy or a ticket history, or computing a clock: [`SlaError`].
//! Every variant names the field at fault as a path into the value the script passed
//! (`policy.targets.resolution`, `events[3].at`), so the message alone says what to fix.

use crate::calendar::CalendarError;

/// An invalid policy, history or selection, or a clock the calendar cannot compute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlaError {
    /// A required field is absent.
    #[error("`{field}` is required")]
    Missing {
        /// The field's path.
        field: String,
    },
    /// An argument of the wrong type, a missing one or an unknown key.
    #[error(transparent)]
    Args(#[from] aftersale_core::plugin::args::ArgError),
    /// A text field holds a value outside its fixed set (`pause_accounting`, `reopen`, `by`).
    #[error("`{field}` must be one of {allowed}, got `{found}`")]
    NotOneOf {
        /// The field's path.
        field: String,
        /// The values it takes, quoted.
        allowed: String,
        /// The value given.
        found: String,
    },
    /// A text that is not an instant.
    #[error("`{field}`: {message}")]
    InvalidInstant {
        /// The field's path.
        field: String,
        /// What the parser said.
        message: String,
    },
    /// An event whose `type` is neither built in nor declared in `policy.event_types`.
    #[error("`{field}`: unknown event type `{found}` (known: {known}; declare others in policy.event_types)")]
    UnknownEventType {
        /// The field's path (`events[2].type`).
        field: String,
        /// The type given.
        found: String,
        /// The types known.
        known: String,
    },
    /// An event earlier than the one before it.
    #[error("`{field}`: events out of order: {at} is before the previous event's {previous}")]
    OutOfOrder {
        /// The field's path (`events[4].at`).
        field: String,
        /// The event's instant.
        at: String,
        /// The previous event's instant.
        previous: String,
    },
    /// The history does not open with the ticket's creation, or has a second one.
    #[error("`{field}`: {message}")]
    BadHistory {
        /// The field's path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A target of zero or less.
    #[error("`{field}`: a target must be greater than 0, got {value}")]
    NotPositive {
        /// The field's path.
        field: String,
        /// The value given.
        value: String,
    },
    /// A threshold outside 1..=1000 percent.
    #[error("`{field}`: a threshold is a whole percentage from 1 to 1000, got {value}")]
    BadThreshold {
        /// The field's path.
        field: String,
        /// The value given.
        value: String,
    },
    /// A metric the policy has no target for.
    #[error("unknown metric `{metric}`: the policy has targets for {known}")]
    UnknownMetric {
        /// The metric asked for.
        metric: String,
        /// The metrics the policy targets.
        known: String,
    },
    /// A custom metric without a definition, or a definition without a target.
    #[error("`{field}`: {message}")]
    BadMetric {
        /// The field's path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No policy's `when` matches the ticket.
    #[error("no policy matches the ticket ({ticket})")]
    NoPolicy {
        /// The ticket's fields that policies test, `key = value`.
        ticket: String,
    },
    /// The calendar could not count (an instant outside the years 1-9999).
    #[error("{context}: {source}")]
    Calendar {
        /// What was being computed.
        context: String,
        /// The calendar's error.
        source: CalendarError,
    },
    /// A list longer than a policy or a history takes (thresholds, metrics, events, cycles).
    #[error("`{field}`: at most {limit} {what}, found {found}")]
    TooMany {
        /// The list's path (`policy.thresholds`).
        field: String,
        /// What it lists, plural (`thresholds`).
        what: &'static str,
        /// The most it may hold.
        limit: usize,
        /// How many it holds (for cycles: the first one over the limit).
        found: usize,
    },
    /// The evaluation the computation runs in is past one of its limits: a clock charges its
    /// work to the evaluation's meter ([`aftersale_core::meter`]).
    #[error(transparent)]
    Exhausted(#[from] aftersale_core::meter::Exhausted),
}
