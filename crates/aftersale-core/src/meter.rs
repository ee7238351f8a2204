//! Metering a plugin's own work: how a plugin function whose work grows with its inputs
//! (days of a calendar walked, thresholds placed, cycles replayed) keeps within the
//! evaluation's limits.
//!
//! rhai counts one operation for a whole call to a registered function, however long the
//! function runs, so a plugin loop over a large input could run for seconds inside a
//! single operation, past `max_operations` and `max_duration_ms`, before the sandbox looked
//! again. A plugin charges its work to the meter of the evaluation running on its thread
//! with [`charge`], from inside its loops, one unit per step of about the cost of a script
//! operation (a few hundred to a few thousand instructions). The charge fails once the
//! evaluation is past any of its limits (operations, memory, `max_duration_ms`,
//! `max_cpu_ms`); the plugin stops and returns the [`Exhausted`] error, which the engine
//! reports as the limit that stopped the term, like a limit the script itself reached.
//! Outside an evaluation (a plugin's functions called from plain Rust) nothing is metered
//! and every charge succeeds.
//!
//! ```
//! use aftersale_core::meter::{charge, Exhausted};
//!
//! /// Sums the first `n` integers, one charged unit per step.
//! fn triangle(n: i64) -> Result<i64, Exhausted> {
//!     let mut sum = 0i64;
//!     for i in 0..n {
//!         charge(1)?;
//!         sum = sum.saturating_add(i);
//!     }
//!     Ok(sum)
//! }
//! assert_eq!(triangle(4), Ok(6));
//! ```
//!
//! In a registered function, `?` turns [`Exhausted`] into rhai's error
//! (`Box<EvalAltResult>` implements `From<Exhausted>`).

use rhai::{Dynamic, EvalAltResult, Position};

/// The evaluation a charge was made to is past one of its limits: the plugin must stop and
/// return this error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", crate::sandbox::stop_text(self.token))]
pub struct Exhausted {
    token: &'static str,
}

impl Exhausted {
    /// The name of the limit, as `contract.toml` spells it (`max_operations`).
    pub fn limit(&self) -> &'static str {
        crate::sandbox::stop_limit(self.token)
    }
}

impl From<Exhausted> for Box<EvalAltResult> {
    fn from(e: Exhausted) -> Self {
        Box::new(EvalAltResult::ErrorTerminated(
            Dynamic::from(e.token),
            Position::NONE,
        ))
    }
}

/// Charges `units` operations of the calling plugin's work to the evaluation running on this
/// thread; an error once the evaluation is past any of its limits. Cheap enough for every
/// step of a loop: the clocks are read only every few operations.
pub fn charge(units: u64) -> Result<(), Exhausted> {
    crate::sandbox::charge(units).map_err(|token| Exhausted { token })
}
