//! Enough stack for an evaluation, whatever thread the host calls from.
//!
//! rhai evaluates by recursion on the caller's stack: every nested script call and every
//! level of a nested expression is a few Rust frames, and freeing a chain of closures (each
//! capturing the previous one) is one frame per link. A contract may raise its depth limits
//! up to their ceilings ([`crate::limits::MAX_CALL_DEPTH`], [`crate::limits::MAX_EXPR_DEPTH`]),
//! and a hostile script can build a chain of closures as long as `max_operations` lets it,
//! while a host calls from wherever it runs: a 2 MiB `std::thread`, tokio or rayon worker, or
//! the 8 MiB main thread. A stack overflow cannot be caught; it aborts the whole process. So
//! the core, not each host, makes room: before evaluating, it estimates from the contract's
//! limits the most stack the scripts can use, and when the thread has less left than that it
//! runs the evaluation on a larger stack and comes back. That stack (corosensei's, mapped
//! once, touched only as deep as a run goes) is kept per thread for the next evaluation, so
//! moving costs a pointer swap, not a mapping and its page faults (those cost about 45 us an
//! evaluation with a fresh stack each time). On a thread with room to spare it is one
//! comparison of the stack pointer. This is the one mechanism: the CLI, the server and the
//! fuzz targets evaluate on threads with default stacks and rely on it, for
//! [`crate::Contract::evaluate`], [`crate::Contract::validate_facts`],
//! [`crate::Contract::check_invariants`] and loading alike.
//!
//! The estimate is the worst case the limits allow: `max_expr_depth` levels at a term's top
//! level, plus `max_call_depth` nested calls, each `max_function_expr_depth` levels deep, plus
//! the longest closure chain `max_operations` allows. The costs were measured (rhai 1.27,
//! Rust 1.95, x86-64) with scripts nesting every kind of expression and recursion: the most
//! per expression level was a binary operator, 1.6 KiB in a release build and 8.7 KiB in a
//! debug one; a script call took 6.0 KiB and 41 KiB; a closure link, see
//! [`PER_CLOSURE_LINK`]. The constants below round those up, and the red zone adds half
//! again, for other compilers, targets and sanitizers (which enlarge frames and are built with
//! debug assertions, so they get the debug figures).

use std::cell::RefCell;

use corosensei::stack::{DefaultStack, Stack};

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

/// The largest stack an evaluation is given (limits at their ceilings need about 160 MiB in a
/// release build, 330 MiB in a debug one, closure chains included): address space only,
/// pages are touched as used.
const MOST_GROWN: usize = 1 << 30;

/// The least stack an evaluation is given when it has to move.
const LEAST_GROWN: usize = 1 << 20;

/// Stack that freeing one link of a chain of closures takes, in bytes. rhai frees a closure's
/// captured values by recursion, so a chain of closures each capturing the previous one
/// (`loop { let h = g; g = |y| h.call(y); }`) is freed one frame per link, when the last
/// reference goes: at the end of a block, a function or the evaluation. Measured (rhai 1.27,
/// Rust 1.95, x86-64, 16 MiB threads): 210-280 bytes in a release build, 280-420 in a debug one.
const PER_CLOSURE_LINK: usize = if cfg!(debug_assertions) { 640 } else { 512 };

/// The fewest operations a script spends to add a link to such a chain (measured: 7 to 10).
const OPS_PER_CLOSURE_LINK: u64 = 4;

/// The most stack one term's scripts can use under `limits`, in bytes (an estimate with a
/// margin, see the module's doc): their nesting, plus freeing the longest chain of closures
/// `max_operations` lets a script build (about 128 MB under the default limits, which only
/// a hostile script comes near; pages are touched only as deep as a run goes).
pub(crate) fn stack_needed(limits: &Limits) -> usize {
    let links = usize::try_from(limits.max_operations / OPS_PER_CLOSURE_LINK).unwrap_or(usize::MAX);
    nesting_needed(limits).saturating_add(links.saturating_mul(PER_CLOSURE_LINK))
}

/// The most stack the nesting of one term's scripts can use under `limits`, in bytes.
fn nesting_needed(limits: &Limits) -> usize {
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
/// left, else on a larger stack, and returns its result.
pub(crate) fn with_stack_for<R>(limits: &Limits, work: impl FnOnce() -> R) -> R {
    with_stack_of(stack_needed(limits), work)
}

thread_local! {
    /// The larger stack this thread's evaluations last moved to, kept for the next one: a new
    /// stack costs a mapping and the page faults of every page it touches again (about 45 us
    /// an evaluation), a kept one a pointer swap. `None` while in use or before the first.
    static SPARE: RefCell<Option<DefaultStack>> = const { RefCell::new(None) };
}

/// Runs `work`, which may use up to `needed` bytes of stack, here or on a larger stack.
fn with_stack_of<R>(needed: usize, work: impl FnOnce() -> R) -> R {
    let red_zone = needed.saturating_add(needed / 2);
    let size = needed.saturating_mul(2).clamp(LEAST_GROWN, MOST_GROWN);
    if stacker::remaining_stack().is_some_and(|left| left >= red_zone.min(size)) {
        return work();
    }
    let spare = SPARE
        .try_with(|spare| spare.borrow_mut().take())
        .ok()
        .flatten()
        .filter(|stack| stack_size(stack) >= size);
    let mut stack = match spare.map_or_else(|| DefaultStack::new(size), Ok) {
        Ok(stack) => stack,
        // No address space for a stack of our own: let stacker try its way.
        Err(_) => return stacker::grow(size, work),
    };
    let result = corosensei::on_stack(&mut stack, work);
    // An evaluation nested in this one (none today) may have left its own: keep the larger.
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare
            .as_ref()
            .map_or(true, |kept| stack_size(kept) < stack_size(&stack))
        {
            *spare = Some(stack);
        }
    });
    result
}

/// The usable size of a stack, in bytes.
fn stack_size(stack: &DefaultStack) -> usize {
    stack.base().get().saturating_sub(stack.limit().get())
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
    with_stack_of(nesting_needed(&deepest), work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(
        debug_assertions,
        ignore = "the bound is a release build's frames: run with `cargo test --release`"
    )]
    fn default_nesting_fits_the_main_thread_of_a_release_build() {
        let needed = nesting_needed(&Limits::default());
        assert!(needed + needed / 2 < 7 << 20, "{needed}");
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
