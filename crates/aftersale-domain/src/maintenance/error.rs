//! What can go wrong building a maintenance plan or reading its history and readings. Every
//! variant names the field at fault, as a path into the value the script passed
//! (`tasks[0].every.km`, `readings[3].date`, `history[1]`).

use aftersale_core::Date;

/// An invalid plan, history or reading, or a computation that leaves the calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaintenanceError {
    /// A required field is absent.
    #[error("`{field}` is required")]
    Missing {
        /// The field's path.
        field: String,
    },
    /// An argument of the wrong type, a missing one or an unknown key.
    #[error(transparent)]
    Args(#[from] aftersale_core::plugin::args::ArgError),
    /// A unit that is neither a time unit nor a meter the plan (or the task) counts.
    #[error("`{field}`: unknown unit `{unit}` ({hint})")]
    UnknownUnit {
        /// Where the unit was named.
        field: String,
        /// The unit.
        unit: String,
        /// What would have been accepted.
        hint: String,
    },
    /// An interval that is zero or negative.
    #[error("`{field}` must be greater than 0, got {value}")]
    NotPositive {
        /// The field's path.
        field: String,
        /// The value given.
        value: String,
    },
    /// A tolerance, due-soon threshold, shift factor or meter value below zero.
    #[error("`{field}` must not be negative, got {value}")]
    Negative {
        /// The field's path.
        field: String,
        /// The value given.
        value: String,
    },
    /// A time unit given with a fraction (`months: 1.5`).
    #[error("`{field}` must be a whole number, got {value}")]
    NotWhole {
        /// The field's path.
        field: String,
        /// The value given.
        value: String,
    },
    /// `link` other than `"or"` / `"and"`.
    #[error("`{field}` must be \"or\" (whichever comes first) or \"and\" (all must be reached), got `{value}`")]
    UnknownLink {
        /// The field's path.
        field: String,
        /// The value given.
        value: String,
    },
    /// `anchor` other than `"grid"` / `"last_completion"`.
    #[error("`{field}` must be \"grid\" or \"last_completion\", got `{value}`")]
    UnknownAnchor {
        /// The field's path.
        field: String,
        /// The value given.
        value: String,
    },
    /// An `every` with no counter at all.
    #[error("`{field}` has no interval: give days, weeks, months, years or a meter such as km")]
    EmptyInterval {
        /// The field's path.
        field: String,
    },
    /// A plan without tasks.
    #[error("`tasks` must list at least one task")]
    NoTasks,
    /// Two tasks with one name.
    #[error("task name `{name}` is used twice (`{field}`)")]
    DuplicateTask {
        /// The second task's path.
        field: String,
        /// The name.
        name: String,
    },
    /// A history entry or a call names a task the plan does not have.
    #[error("`{field}`: the plan has no task `{task}` (tasks: {known})")]
    UnknownTask {
        /// Where the task was named.
        field: String,
        /// The name given.
        task: String,
        /// The plan's task names.
        known: String,
    },
    /// Readings not given in date order.
    #[error("readings out of order: `{field}` is dated {later}, before the reading above it ({earlier}): give readings oldest first")]
    ReadingsOutOfOrder {
        /// The reading's path.
        field: String,
        /// The date of the reading before it.
        earlier: Date,
        /// Its own date.
        later: Date,
    },
    /// A meter that goes back in time: a later reading (or service) below an earlier one.
    #[error("readings out of order: {unit} goes back from {earlier_value} ({earlier}) to {later_value} ({later})")]
    MeterWentBack {
        /// The meter unit.
        unit: String,
        /// Where the earlier, higher value came from, with its date.
        earlier: String,
        /// The earlier value.
        earlier_value: String,
        /// Where the later, lower value came from, with its date.
        later: String,
        /// The later value.
        later_value: String,
    },
    /// A history entry without a meter value its task counts.
    #[error(
        "`{field}` has no `{unit}`, which task `{task}` counts: record the meter at each service"
    )]
    MissingMeter {
        /// The history entry's path.
        field: String,
        /// The unit.
        unit: String,
        /// The task.
        task: String,
    },
    /// A horizon or history that would list too many services.
    #[error("{what}: more than {limit} services; shorten the period")]
    TooMany {
        /// What was being listed, with its period.
        what: String,
        /// The limit.
        limit: usize,
    },
    /// A date or meter computation out of range.
    #[error("{0}")]
    Range(String),
    /// The evaluation the computation runs in is past one of its limits: a plan charges each
    /// occurrence it walks to the evaluation's meter ([`aftersale_core::meter`]).
    #[error(transparent)]
    Exhausted(#[from] aftersale_core::meter::Exhausted),
}
