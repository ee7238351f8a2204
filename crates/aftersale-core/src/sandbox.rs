//! The rhai engine a contract's scripts run in: only the language packages that cannot reach
//! the outside world (no clock, no sleep, no `exit`, no file modules, no `eval`), limits on
//! work and size, and `print`/`debug` captured into the trace instead of stdout.

use std::cell::RefCell;

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

/// Most lines a term may log; beyond that they are counted but not kept.
const MAX_LOG_LINES: usize = 100;

fn log_line(line: String) {
    LOG.with(|log| {
        let mut log = log.borrow_mut();
        if log.len() < MAX_LOG_LINES {
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
    engine.disable_symbol("eval");
    engine.set_strict_variables(true);
    engine.set_optimization_level(OptimizationLevel::Simple);
    engine.set_fail_on_invalid_map_property(true);
    engine.on_print(|text| log_line(text.to_string()));
    engine.on_debug(|text, _source, pos| match pos.line() {
        Some(line) => log_line(format!("[line {line}] {text}")),
        None => log_line(text.to_string()),
    });
    limits.apply(&mut engine);
    engine
}
