//! The rhai engine a contract's scripts run in: only the language packages that cannot reach
//! the outside world (no clock, no sleep, no `exit`, no file modules, no `eval`), limits on
//! work and size, and `print`/`debug` captured into the trace instead of stdout.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage,
    BasicMathPackage, BasicStringPackage, BitFieldPackage, LogicPackage, MoreStringPackage,
    Package,
};
use rhai::{Engine as RhaiEngine, OptimizationLevel};

use crate::limits::Limits;

thread_local! {
    /// Lines printed by the term being evaluated on this thread; drained after each term.
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

thread_local! {
    /// When the evaluation running on this thread must stop, if it has a time limit.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The message of the error that stops a script over its time limit.
pub(crate) const TIME_LIMIT: &str = "time limit exceeded";

/// Operations between two looks at the clock: often enough to stop a loop of expensive
/// plugin calls soon after the deadline, rarely enough to cost nothing measurable.
const CLOCK_EVERY: u64 = 16;

/// Sets (or clears) the deadline of the evaluation on this thread; the guard clears it.
pub(crate) struct DeadlineGuard;

impl DeadlineGuard {
    pub(crate) fn start(limit: Duration) -> Self {
        DEADLINE.with(|d| d.set(Instant::now().checked_add(limit)));
        Self
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(None));
    }
}

fn past_deadline() -> bool {
    DEADLINE.with(|d| d.get().is_some_and(|deadline| Instant::now() > deadline))
}

/// Most lines a term may log; beyond that they are counted but not kept.
const MAX_LOG_LINES: usize = 100;

/// Longest line kept, in bytes; the rest is cut.
const MAX_LOG_LINE_BYTES: usize = 1024;

/// Keeps a printed line (with `prefix`), copying nothing once the log is full.
fn log_line(prefix: &str, text: &str) {
    LOG.with(|log| {
        let mut log = log.borrow_mut();
        if log.len() < MAX_LOG_LINES {
            let mut cut = text.len().min(MAX_LOG_LINE_BYTES);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let mut line = format!("{prefix}{}", &text[..cut]);
            if cut < text.len() {
                line.push_str(" ...");
            }
            log.push(line);
        } else if log.len() == MAX_LOG_LINES {
            log.push("... further lines dropped".into());
        }
    });
}

/// Takes the lines logged on this thread since the last call.
pub(crate) fn take_log() -> Vec<String> {
    LOG.with(|log| std::mem::take(&mut *log.borrow_mut()))
}

/// A rhai engine with the sandbox's packages, symbols and limits, and no plugins yet.
pub(crate) fn sandboxed_engine(limits: &Limits) -> RhaiEngine {
    let mut engine = RhaiEngine::new_raw();
    for module in [
        ArithmeticPackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicStringPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
        BasicIteratorPackage::new().as_shared_module(),
        BasicFnPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        BitFieldPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(module);
    }
    crate::sorting::register(&mut engine);
    engine.disable_symbol("eval");
    engine.set_strict_variables(true);
    engine.set_optimization_level(OptimizationLevel::Simple);
    engine.set_fail_on_invalid_map_property(true);
    engine.on_print(|text| log_line("", text));
    engine.on_debug(|text, _source, pos| match pos.line() {
        Some(line) => log_line(&format!("[line {line}] "), text),
        None => log_line("", text),
    });
    // The wall-clock limit is a safety net for work that operations do not count (a plugin
    // call over a huge span); ordinary scripts meet the operation limit long before it.
    engine.on_progress(|ops| {
        if ops % CLOCK_EVERY == 0 && past_deadline() {
            Some(rhai::Dynamic::from(TIME_LIMIT))
        } else {
            None
        }
    });
    limits.apply(&mut engine);
    engine
}
