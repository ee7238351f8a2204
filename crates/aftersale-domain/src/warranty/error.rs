//! The one error type of the warranty vocabulary. Scripts see its message as a rhai runtime
//! error; Rust callers match on the variant.

use aftersale_core::meter::Exhausted;
use aftersale_core::plugin::args::ArgError;
use rust_decimal::Decimal;

/// Why a warranty computation refused its inputs.
///
/// Messages follow the house style: lowercase, no final period, the user's values in
/// backticks, and what to do instead where there is one obvious fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WarrantyError {
    /// An amount, count or meter reading that must be zero or more was negative.
    #[error("{what} must not be negative (got `{value}`)")]
    Negative {
        /// What the value is, in words (`the repair cost`).
        what: String,
        /// The value given.
        value: Decimal,
    },
    /// A share (a fraction of a cost) outside 0..=1.
    #[error("{what} must be between 0 and 1 (got `{value}`)")]
    ShareOutOfRange {
        /// What the share is, in words.
        what: String,
        /// The value given.
        value: Decimal,
    },
    /// A period unit that is not `days`, `months` or `years`.
    #[error("unknown period unit `{0}`: use \"days\", \"months\" or \"years\"")]
    UnknownUnit(String),
    /// A rounding mode that is not one of the offered ones.
    #[error("unknown rounding `{0}`: use \"half_even\", \"half_up\", \"down\" or \"up\"")]
    UnknownRounding(String),
    /// Pro-rata tiers whose `upto_months` do not strictly increase.
    #[error("pro-rata tiers must be sorted by `upto_months`, each above the one before (got `{previous}` then `{next}`)")]
    UnsortedTiers {
        /// The earlier tier's bound.
        previous: i64,
        /// The later tier's bound, not above `previous`.
        next: i64,
    },
    /// No pro-rata tiers at all.
    #[error(
        "pro-rata tiers are empty: give at least one `#{{ upto_months: .., customer_share: .. }}`"
    )]
    NoTiers,
    /// An age past the last pro-rata tier: the claim is outside every tier.
    #[error("an age of `{age}` months is beyond the last pro-rata tier (up to `{last}` months)")]
    BeyondLastTier {
        /// The age given, in months.
        age: Decimal,
        /// The last tier's bound.
        last: i64,
    },
    /// A date computation left the calendar's range.
    #[error("{0}")]
    DateOutOfRange(String),
    /// A number computation left the exact decimal range.
    #[error("{0} is too large to compute exactly")]
    Overflow(String),
    /// An argument a script passed that the plugin cannot read: the wrong type, a missing
    /// field, an unknown key, or a shape the function does not take (`warranty: <field>: ..`).
    #[error(transparent)]
    Args(#[from] ArgError),
    /// A value the computation cannot use (a rounding to 30 places, a window without limits).
    #[error("{what}: {problem}")]
    Invalid {
        /// What the value is, e.g. `coverage_window` or `rounding`.
        what: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// Facts that contradict each other, e.g. an odometer that goes down.
    #[error("{0}")]
    Inconsistent(String),
    /// The evaluation the computation runs in is past one of its limits: a compliance check
    /// charges each service it replays to the evaluation's meter ([`aftersale_core::meter`]).
    #[error(transparent)]
    Exhausted(#[from] Exhausted),
}

// Scripts see the message; a meter exhaustion stays the limit that stopped the evaluation.
aftersale_core::plugin_error!(WarrantyError {
    args: Args,
    exhausted: Exhausted
});

impl WarrantyError {
    /// A shorthand for [`WarrantyError::Invalid`].
    pub fn invalid(what: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn negative(what: impl Into<String>, value: Decimal) -> Self {
        Self::Negative {
            what: what.into(),
            value,
        }
    }
}

/// Fails with [`WarrantyError::Negative`] when `value < 0`.
pub(crate) fn non_negative(what: &str, value: Decimal) -> Result<Decimal, WarrantyError> {
    if value < Decimal::ZERO {
        Err(WarrantyError::negative(what, value))
    } else {
        Ok(value)
    }
}

/// Fails with [`WarrantyError::ShareOutOfRange`] unless `0 <= value <= 1`.
pub(crate) fn share(what: &str, value: Decimal) -> Result<Decimal, WarrantyError> {
    if value < Decimal::ZERO || value > Decimal::ONE {
        Err(WarrantyError::ShareOutOfRange {
            what: what.into(),
            value,
        })
    } else {
        Ok(value)
    }
}
