//! The rhai engine a contract's scripts run in: only the language packages that cannot reach
//! the outside world (no clock, no sleep, no `exit`, no file modules, no `eval`), limits on
//! work and size, and `print`/`debug` captured into the trace instead of stdout.
//!
//! rhai enforces most limits itself; `on_progress`, which it calls at every operation
//! anywhere, enforces the rest, all from one thread-local [`Meter`] per evaluating thread:
//!
//! - Operations in callbacks: rhai runs the callback given to `map`, `filter`, `reduce`,
//!   `sort`, ... on a copy of the run's state and never adds the callback's operations back,
//!   so its own `max_operations` bounds each callback, not the script. The meter counts
//!   every call, callbacks included, and stops the run at `max_operations`.
//! - Memory: the bytes the thread holds ([`crate::memory`], counted when the host installed a
//!   counting allocator) beyond what it held when the evaluation started, against
//!   `max_memory_bytes`: the one measure that sees values grown where rhai measures no size.
//! - Time: the clock, every [`CLOCK_EVERY`] operations, against `max_duration_ms`; and the
//!   thread's CPU clock against `max_cpu_ms`, read only once the wall clock says the CPU time
//!   could have run out (a thread's CPU time never runs ahead of the wall clock).
//! - Plugin work: a plugin whose work grows with its inputs charges it to the same meter
//!   from inside its loops ([`crate::meter::charge`]), so one call cannot run for seconds
//!   inside a single rhai operation.
//!
//! Each look costs a few instructions per operation: the hook runs millions of times a second.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage,
    BasicMathPackage, BasicStringPackage, BitFieldPackage, LogicPackage, MoreStringPackage,
    Package,
};
use rhai::{Dynamic, Engine as RhaiEngine, OptimizationLevel};

use crate::limits::Limits;

thread_local! {
    /// Lines printed by the term being evaluated on this thread; drained after each term.
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// What the sandbox measures of the evaluation running on one thread.
struct Meter {
    /// Operations of the script run in progress, callbacks included (see [`Meter::count`]).
    operations: Cell<u64>,
    /// Bytes the thread holds, as a counting allocator reports them ([`crate::memory`]).
    /// Here rather than in a thread-local of its own so that the hook reaches everything it
    /// reads with one thread-local access.
    held: Cell<isize>,
    /// What `held` was when the evaluation started; [`NO_BASE`] when no evaluation is
    /// running.
    memory_base: Cell<isize>,
    /// When the evaluation must stop, if it has a time limit.
    deadline: Cell<Option<Instant>>,
    /// The CPU-time limit of the evaluation in progress, if it has one.
    cpu: Cell<Option<CpuBudget>>,
    /// The evaluation's `max_operations`, for plugin charges (`u64::MAX` outside one).
    max_operations: Cell<u64>,
    /// The evaluation's `max_memory_bytes`, for plugin charges.
    max_memory: Cell<isize>,
}

/// What `max_cpu_ms` allows the evaluation in progress.
#[derive(Clone, Copy)]
struct CpuBudget {
    /// The thread's CPU clock reading at which the evaluation must stop.
    end: Duration,
    /// The CPU clock cannot have reached `end` before this wall-clock instant (it advances
    /// at most as fast as the wall clock), so it is not read before then.
    next_look: Instant,
}

/// The CPU time the calling thread has used since it started.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// The memory base outside evaluations: so far above anything a thread can hold that what
/// it holds minus the base is far below every limit, and the subtraction cannot overflow
/// (a thread's count stays within +-2^61 bytes).
const NO_BASE: isize = 1 << 61;

thread_local! {
    static METER: Meter = const {
        Meter {
            operations: Cell::new(0),
            held: Cell::new(0),
            memory_base: Cell::new(NO_BASE),
            deadline: Cell::new(None),
            cpu: Cell::new(None),
            max_operations: Cell::new(u64::MAX),
            max_memory: Cell::new(isize::MAX),
        }
    };
}

impl Meter {
    /// Counts one operation of the run in progress; `true` when the run needs a closer look
    /// ([`Meter::stop`]): past its operations or memory, or due to look at the clock. The
    /// path that returns `false` is a few instructions and no call: it runs at every
    /// operation.
    ///
    /// `ops` is rhai's own count: it restarts at 1 with every run (each term, constraint and
    /// invariant is a run of its own), while inside a callback it goes on from the caller's
    /// count on a copy that is then dropped. So a run's first operation restarts the total,
    /// and every other call adds one, wherever it comes from.
    #[inline(always)]
    fn count(&self, ops: u64, max_operations: u64, max_memory: isize) -> bool {
        let total = if ops <= 1 {
            1
        } else {
            self.operations.get().wrapping_add(1)
        };
        self.operations.set(total);
        (total > max_operations) | (self.memory_grown() > max_memory) | (ops % CLOCK_EVERY == 0)
    }

    /// Bytes this thread holds beyond what it held when the evaluation started (far below
    /// zero when no evaluation is running).
    #[inline(always)]
    fn memory_grown(&self) -> isize {
        self.held.get().wrapping_sub(self.memory_base.get())
    }

    /// The token of the limit that stops the run, if any, once [`Meter::count`] asked.
    fn stop(&self, max_operations: u64, max_memory: isize) -> Option<Dynamic> {
        self.exceeded(max_operations, max_memory).map(Dynamic::from)
    }

    /// The token of the limit the run is past, if any.
    fn exceeded(&self, max_operations: u64, max_memory: isize) -> Option<&'static str> {
        if self.operations.get() > max_operations {
            return Some(OPERATION_LIMIT);
        }
        if self.memory_grown() > max_memory {
            return Some(MEMORY_LIMIT);
        }
        let deadline = self.deadline.get();
        let cpu = self.cpu.get();
        if deadline.is_none() && cpu.is_none() {
            return None;
        }
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now > deadline) {
            return Some(TIME_LIMIT);
        }
        if let Some(budget) = cpu {
            if now >= budget.next_look {
                let used = thread_cpu_time();
                match budget.end.checked_sub(used) {
                    Some(left) if !left.is_zero() => self.cpu.set(Some(CpuBudget {
                        next_look: now + left,
                        ..budget
                    })),
                    _ => return Some(CPU_LIMIT),
                }
            }
        }
        None
    }

    /// Whether an evaluation is being metered on this thread.
    fn active(&self) -> bool {
        self.memory_base.get() != NO_BASE
    }
}

/// Adds `delta` to the bytes this thread holds (see [`crate::memory::record`]).
#[inline]
pub(crate) fn record_memory(delta: isize) {
    let _ = METER.try_with(|meter| meter.held.set(meter.held.get().wrapping_add(delta)));
}

/// The bytes this thread holds (see [`crate::memory::held`]).
#[inline]
pub(crate) fn memory_held() -> isize {
    METER.try_with(|meter| meter.held.get()).unwrap_or(0)
}

/// Whether the evaluation running on this thread holds more memory than its limit (never
/// outside an evaluation).
pub(crate) fn memory_exceeded() -> bool {
    METER
        .try_with(|m| m.memory_grown() > m.max_memory.get())
        .unwrap_or(false)
}

/// [`Meter::stop`] on this thread's meter, out of line.
#[cold]
#[inline(never)]
fn stop(max_operations: u64, max_memory: isize) -> Option<Dynamic> {
    METER.with(|meter| meter.stop(max_operations, max_memory))
}

/// The message of the error that stops a script over its time limit.
const TIME_LIMIT: &str = "time limit exceeded";
/// The token of the error that stops a script over its CPU-time limit.
const CPU_LIMIT: &str = "cpu time limit exceeded";
/// The token of the error that stops a script whose callbacks took it past its operations.
const OPERATION_LIMIT: &str = "operation limit exceeded";
/// The token of the error that stops a script holding more memory than its limit.
const MEMORY_LIMIT: &str = "memory limit exceeded";

/// What a user reads when `on_progress` stopped a script with `token`; `None` for a token
/// the sandbox does not give.
pub(crate) fn stop_message(token: &Dynamic) -> Option<String> {
    let token = token.clone().into_immutable_string().ok()?;
    let text = stop_text(token.as_str());
    (!text.is_empty()).then(|| text.to_string())
}

/// The words and limit of each token the sandbox stops a run with.
const STOPS: [(&str, &str, &str); 4] = [
    (
        TIME_LIMIT,
        "time limit exceeded (limit `max_duration_ms`)",
        "max_duration_ms",
    ),
    (
        CPU_LIMIT,
        "cpu time limit exceeded (limit `max_cpu_ms`)",
        "max_cpu_ms",
    ),
    (
        OPERATION_LIMIT,
        "too many operations (limit `max_operations`)",
        "max_operations",
    ),
    (
        MEMORY_LIMIT,
        "too much memory held (limit `max_memory_bytes`)",
        "max_memory_bytes",
    ),
];

/// What a user reads for a stop token (empty for one the sandbox does not give).
pub(crate) fn stop_text(token: &str) -> &'static str {
    STOPS
        .iter()
        .find(|(t, _, _)| *t == token)
        .map_or("", |(_, text, _)| text)
}

/// The limit a stop token names (empty for one the sandbox does not give).
pub(crate) fn stop_limit(token: &str) -> &'static str {
    STOPS
        .iter()
        .find(|(t, _, _)| *t == token)
        .map_or("", |(_, _, limit)| limit)
}

/// Operations between two looks at the clock: often enough to stop a loop of expensive
/// plugin calls soon after the deadline, rarely enough to cost nothing measurable.
const CLOCK_EVERY: u64 = 16;

/// The meter of the evaluation running on this thread, started by [`MeterGuard::start`]: its
/// deadline and the memory it holds at the start, which `max_memory_bytes` counts from. The
/// guard stops both when dropped.
pub(crate) struct MeterGuard;

impl MeterGuard {
    /// Starts the meter of an evaluation under `limits` (its deadline `max_duration_ms` from
    /// now, its CPU budget `max_cpu_ms` from the thread's CPU time now).
    pub(crate) fn start(limits: &Limits) -> Self {
        let now = Instant::now();
        let cpu = limits.max_cpu_ms.map(|ms| {
            let limit = Duration::from_millis(ms);
            CpuBudget {
                end: thread_cpu_time().saturating_add(limit),
                next_look: now.checked_add(limit).unwrap_or(now),
            }
        });
        METER.with(|m| {
            m.deadline
                .set(now.checked_add(Duration::from_millis(limits.max_duration_ms)));
            m.cpu.set(cpu);
            m.memory_base.set(m.held.get());
            m.operations.set(0);
            m.max_operations.set(limits.max_operations);
            m.max_memory
                .set(isize::try_from(limits.max_memory_bytes).unwrap_or(isize::MAX));
        });
        Self
    }
}

impl Drop for MeterGuard {
    fn drop(&mut self) {
        METER.with(|m| {
            m.deadline.set(None);
            m.cpu.set(None);
            m.memory_base.set(NO_BASE);
            m.max_operations.set(u64::MAX);
            m.max_memory.set(isize::MAX);
        });
    }
}

/// Charges `units` operations of a plugin's own work to the evaluation running on this
/// thread, then looks at every limit the meter keeps when the charge passed the operation
/// limit or a multiple of [`CLOCK_EVERY`]: the token of the limit the evaluation is past, if
/// any. Outside an evaluation nothing is metered.
pub(crate) fn charge(units: u64) -> Result<(), &'static str> {
    METER.with(|m| {
        if !m.active() {
            return Ok(());
        }
        let before = m.operations.get();
        let total = before.saturating_add(units);
        m.operations.set(total);
        let max_operations = m.max_operations.get();
        if total > max_operations || before / CLOCK_EVERY != total / CLOCK_EVERY {
            if let Some(token) = m.exceeded(max_operations, m.max_memory.get()) {
                return Err(token);
            }
        }
        Ok(())
    })
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
    // rhai stops a run past `max_operations` by its own count before calling this, so the
    // total here passes the limit only through work done in callbacks.
    let max_operations = limits.max_operations;
    let max_memory = isize::try_from(limits.max_memory_bytes).unwrap_or(isize::MAX);
    // The wall-clock limit is a safety net for work that operations do not count (a plugin
    // call over a huge span); ordinary scripts meet the operation limit long before it.
    engine.on_progress(move |ops| {
        if METER.with(|meter| meter.count(ops, max_operations, max_memory)) {
            stop(max_operations, max_memory)
        } else {
            None
        }
    });
    limits.apply(&mut engine);
    engine
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;

    /// The message the sandbox gives for `script`'s error, if `on_progress` stopped it.
    fn stopped(engine: &RhaiEngine, script: &str) -> Option<String> {
        match *engine
            .eval::<Dynamic>(script)
            .expect_err("the script must fail")
        {
            rhai::EvalAltResult::ErrorTerminated(token, _) => stop_message(&token),
            rhai::EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => match *inner {
                rhai::EvalAltResult::ErrorTerminated(token, _) => stop_message(&token),
                other => panic!("{other}"),
            },
            other => panic!("{other}"),
        }
    }

    /// An engine with `limits` and `hold(n)`, which reports `n` bytes as allocated (there is
    /// no counting allocator in unit tests: nothing else moves the count).
    fn engine_holding(limits: &Limits) -> RhaiEngine {
        let mut engine = sandboxed_engine(limits);
        engine.register_fn("hold", |n: i64| {
            crate::memory::record(isize::try_from(n).unwrap());
        });
        engine
    }

    #[test]
    fn memory_held_past_the_limit_stops_the_run() {
        let limits = Limits {
            max_memory_bytes: 1000,
            ..Limits::default()
        };
        let engine = engine_holding(&limits);
        let _evaluation = MeterGuard::start(&Limits {
            max_duration_ms: 60_000,
            ..Limits::default()
        });
        assert!(engine.eval::<Dynamic>("hold(1000); 1 + 1").is_ok());
        assert_eq!(
            stopped(&engine, "hold(1); 1 + 1; 2").as_deref(),
            Some("too much memory held (limit `max_memory_bytes`)")
        );
        // Memory given back counts too.
        crate::memory::record(-1001);
        assert!(engine.eval::<Dynamic>("hold(900); 1 + 1").is_ok());
    }

    #[test]
    fn memory_counts_from_the_start_of_each_evaluation_and_only_during_one() {
        let limits = Limits {
            max_memory_bytes: 1000,
            ..Limits::default()
        };
        let engine = engine_holding(&limits);
        // Outside an evaluation nothing is metered.
        assert!(engine.eval::<Dynamic>("hold(5000); 1 + 1").is_ok());
        // What the thread held before the evaluation started is not the evaluation's.
        let _evaluation = MeterGuard::start(&Limits {
            max_duration_ms: 60_000,
            ..Limits::default()
        });
        assert!(engine.eval::<Dynamic>("hold(1000); 1 + 1").is_ok());
    }

    #[test]
    fn operations_in_callbacks_count_towards_the_run() {
        let limits = Limits {
            max_operations: 2_000,
            ..Limits::default()
        };
        let engine = sandboxed_engine(&limits);
        // 100 callbacks of ~60 operations: each under the limit, together over it.
        let heavy = "let a = []; a.pad(100, 0); a.map(|x| { let s = 0; for i in 0..20 { s += i; } s }).len()";
        assert_eq!(
            stopped(&engine, heavy).as_deref(),
            Some("too many operations (limit `max_operations`)")
        );
        // Each run starts its count afresh: 10 callbacks at a time pass, run after run.
        let light = "let a = []; a.pad(10, 0); a.map(|x| { let s = 0; for i in 0..20 { s += i; } s }).len()";
        for _ in 0..5 {
            assert_eq!(engine.eval::<i64>(light).unwrap(), 10);
        }
    }

    /// An engine with `work(n)`, a plugin function charging `n` units in steps of one.
    fn engine_working(limits: &Limits) -> RhaiEngine {
        let mut engine = sandboxed_engine(limits);
        engine.register_fn("work", |n: i64| -> Result<i64, Box<rhai::EvalAltResult>> {
            for _ in 0..n {
                crate::meter::charge(1)?;
            }
            Ok(n)
        });
        engine
    }

    #[test]
    fn plugin_work_counts_towards_max_operations() {
        let limits = Limits {
            max_operations: 10_000,
            max_duration_ms: 600_000,
            ..Limits::default()
        };
        let engine = engine_working(&limits);
        let _evaluation = MeterGuard::start(&limits);
        assert_eq!(engine.eval::<i64>("work(9000)").unwrap(), 9000);
        assert_eq!(
            stopped(&engine, "work(20000)").as_deref(),
            Some("too many operations (limit `max_operations`)")
        );
        // Charges from several calls add up within a run.
        assert_eq!(
            stopped(&engine, "work(6000); work(6000)").as_deref(),
            Some("too many operations (limit `max_operations`)")
        );
    }

    #[test]
    fn plugin_work_outside_an_evaluation_is_not_metered() {
        let limits = Limits {
            max_operations: 100,
            ..Limits::default()
        };
        assert_eq!(crate::meter::charge(1_000_000), Ok(()));
        let engine = engine_working(&limits);
        assert_eq!(engine.eval::<i64>("work(1000)").unwrap(), 1000);
    }

    #[test]
    fn max_cpu_ms_stops_a_run_that_spends_its_cpu_time() {
        let limits = Limits {
            max_operations: u64::MAX / 2,
            max_duration_ms: 3_600_000,
            max_cpu_ms: Some(20),
            ..Limits::default()
        };
        let engine = sandboxed_engine(&limits);
        let _evaluation = MeterGuard::start(&limits);
        assert_eq!(
            stopped(&engine, "loop { }").as_deref(),
            Some("cpu time limit exceeded (limit `max_cpu_ms`)")
        );
    }

    /// Time the thread spends off the CPU (here asleep; on a busy machine, waiting for a
    /// core) is not CPU time: a run that waits longer than its CPU limit passes.
    #[test]
    fn max_cpu_ms_does_not_count_time_off_the_cpu() {
        let limits = Limits {
            max_duration_ms: 3_600_000,
            max_cpu_ms: Some(20),
            ..Limits::default()
        };
        let mut engine = sandboxed_engine(&limits);
        engine.register_fn("nap", || {
            std::thread::sleep(Duration::from_millis(15));
        });
        let _evaluation = MeterGuard::start(&limits);
        let script = "for i in 0..4 { nap(); } 1";
        assert_eq!(engine.eval::<i64>(script).unwrap(), 1);
    }
}
