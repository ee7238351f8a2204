//! Enough stack for an evaluation, whatever thread the host calls from.
//!
//! rhai evaluates by recursion on the caller's stack: every nested script call and every
//! level of a nested expression is a few Rust frames. A contract may raise its depth limits up
//! to their ceilings ([`crate::limits::MAX_CALL_DEPTH`], [`crate::limits::MAX_EXPR_DEPTH`]),
//! and a script at those ceilings needs tens of MiB of stack, while a host calls from wherever
//! it runs: a 2 MiB `std::thread`, tokio or rayon worker, or the 8 MiB main thread. A stack
//! overflow cannot be caught; it aborts the whole process. So the core, not each host, makes
//! room: before evaluating, it estimates from the contract's limits the most stack the scripts
//! can use, and when the thread has less left than that it runs the evaluation on a new,
//! larger stack (`stacker`) and comes back. On a thread with room to spare (the CLI's 256 MiB
//! evaluation threads, or default limits on the main thread) that is one comparison of the
//! stack pointer; on a small thread it is one stack allocation per evaluation.
//!
//! The estimate is the worst case the limits allow: `max_expr_depth` levels at a term's top
//! level, plus `max_call_depth` nested calls, each `max_function_expr_depth` levels deep. The
//! costs per level were measured (rhai 1.27, Rust 1.95, x86-64) with scripts nesting every kind
//! of expression and recursion: the most per expression level was a binary operator, 1.6 KiB
//! in a release build and 8.7 KiB in a debug one; a script call took 6.0 KiB and 41 KiB.
//! The constants below round those up, and the red zone adds half again, for other compilers,
//! targets and sanitizers (which enlarge frames and are built with debug assertions, so they
//! get the debug figures).

use crate::limits::{Limits, MAX_EXPR_DEPTH};

/// Stack one level of expression nesting may use, in bytes (measured: 1.6 KiB release,
/// 8.7 KiB debug).
const PER_EXPR_LEVEL: usize = if cfg!(debug_assertions) {
    10 << 10
} else {
    2 << 10
};

/// Stack one nested script-function call may use besides its expressions, in bytes (measured:
/// 6.0 KiB release, 41 KiB debug).
const PER_CALL: usize = if cfg!(debug_assertions) {
    48 << 10
} else {
    8 << 10
};

/// Stack the evaluation uses outside scripts: converting facts and values (at most 128
/// levels each), plugin calls, the trace.
const OUTSIDE_SCRIPTS: usize = if cfg!(debug_assertions) {
    512 << 10
} else {
    128 << 10
};

/// The largest stack an evaluation is given (limits at their ceilings need about 34 MiB in a
/// release build, 170 MiB in a debug one): address space only, pages are touched as used.
const MOST_GROWN: usize = 512 << 20;

/// The least stack an evaluation is given when it has to move.
const LEAST_GROWN: usize = 1 << 20;

/// The most stack one term's scripts can use under `limits`, in bytes (an estimate with a
/// margin, see the module's doc).
pub(crate) fn stack_needed(limits: &Limits) -> usize {
    let per_call = limits
        .max_function_expr_depth
        .saturating_mul(PER_EXPR_LEVEL)
        .saturating_add(PER_CALL);
    limits
        .max_expr_depth
        .saturating_mul(PER_EXPR_LEVEL)
        .saturating_add(limits.max_call_depth.saturating_mul(per_call))
        .saturating_add(OUTSIDE_SCRIPTS)
}

/// Runs `work` (an evaluation under `limits`) on this thread when enough of its stack is
/// left, else on a new stack large enough, and returns its result.
pub(crate) fn with_stack_for<R>(limits: &Limits, work: impl FnOnce() -> R) -> R {
    let needed = stack_needed(limits);
    let red_zone = needed.saturating_add(needed / 2);
    let size = needed.saturating_mul(2).clamp(LEAST_GROWN, MOST_GROWN);
    stacker::maybe_grow(red_zone.min(size), size, work)
}

/// Runs `work` (loading a bundle) with enough stack to parse and check the deepest scripts any
/// contract may ask for: rhai's parser, its optimiser and the dependency walk recurse once per
/// expression level, up to `max_expr_depth` at a script's top level and
/// `max_function_expr_depth` inside its functions, both at most [`MAX_EXPR_DEPTH`]. Loading
/// has no call nesting; the estimate counts one call level, the function bodies'.
pub(crate) fn with_stack_for_loading<R>(work: impl FnOnce() -> R) -> R {
    let deepest = Limits {
        max_call_depth: 1,
        max_expr_depth: MAX_EXPR_DEPTH,
        max_function_expr_depth: MAX_EXPR_DEPTH,
        ..Limits::default()
    };
    with_stack_for(&deepest, work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_fit_the_main_thread_of_a_release_build() {
        let needed = stack_needed(&Limits::default());
        if !cfg!(debug_assertions) {
            // 8 MiB main thread: no stack switch for default limits.
            assert!(needed + needed / 2 < 7 << 20, "{needed}");
        }
    }

    #[test]
    fn limits_at_their_ceilings_fit_the_largest_stack() {
        let limits = Limits {
            max_call_depth: crate::limits::MAX_CALL_DEPTH,
            max_expr_depth: crate::limits::MAX_EXPR_DEPTH,
            max_function_expr_depth: crate::limits::MAX_EXPR_DEPTH,
            ..Limits::default()
        };
        let needed = stack_needed(&limits);
        assert!(needed * 2 <= MOST_GROWN, "{needed}");
    }
}
