//! Why a calendar cannot be built, or cannot count: [`CalendarError`].

/// A calendar definition that cannot be used, or a computation a calendar cannot make.
///
/// Definition errors name the field at fault the way a script or `contract.toml` spells it
/// (`calendar.hours.mon[1]`), so the message alone says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    /// `timezone` is not an IANA time zone name.
    #[error("calendar.timezone: unknown time zone `{name}`")]
    UnknownTimeZone {
        /// The name given.
        name: String,
    },
    /// A key of `hours` is not one of `mon` ... `sun`.
    #[error("calendar.hours.{key}: unknown weekday (use mon, tue, wed, thu, fri, sat, sun)")]
    UnknownWeekday {
        /// The key given.
        key: String,
    },
    /// A window is not `HH:MM-HH:MM` with a valid start before its end.
    #[error("{field}: invalid window `{text}`: {reason}")]
    InvalidWindow {
        /// The entry, for example `calendar.hours.mon[0]`.
        field: String,
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two windows of one weekday share some time.
    #[error("{field}: windows `{first}` and `{second}` overlap")]
    OverlappingWindows {
        /// The weekday, for example `calendar.hours.mon`.
        field: String,
        /// The earlier-starting window.
        first: String,
        /// The window that starts inside it.
        second: String,
    },
    /// A holiday is not an existing date written `YYYY-MM-DD`.
    #[error("{field}: invalid date `{text}`: expected an existing date as YYYY-MM-DD")]
    InvalidHoliday {
        /// The entry, for example `calendar.holidays[2]`.
        field: String,
        /// The text given.
        text: String,
    },
    /// An argument of the wrong type, a missing one or an unknown key, in a script's
    /// definition.
    #[error(transparent)]
    Args(#[from] aftersale_core::plugin::args::ArgError),
    /// No weekday has a window: business time could never advance.
    #[error("calendar.hours: no working window on any weekday, so the calendar never opens")]
    NeverOpen,
    /// A negative amount of business time was to be added.
    #[error("cannot add a negative business time ({seconds} s)")]
    NegativeDuration {
        /// The amount, in whole seconds (rounded towards zero).
        seconds: i64,
    },
    /// An instant, or a result, lies outside the local years 0001 to 9999.
    #[error("{what} is outside the years 0001 to 9999 that a calendar counts in")]
    OutOfRange {
        /// The instant or computation concerned.
        what: String,
    },
    /// A list longer than a calendar takes (windows of a weekday, holidays).
    #[error("{field}: at most {limit} entries, found {found}")]
    TooMany {
        /// The list, for example `calendar.holidays`.
        field: String,
        /// The most it may hold.
        limit: usize,
        /// How many it holds.
        found: usize,
    },
    /// The evaluation the computation runs in is past one of its limits: the calendar charges
    /// each day it walks to the evaluation's meter ([`aftersale_core::meter`]).
    #[error(transparent)]
    Exhausted(#[from] aftersale_core::meter::Exhausted),
}
