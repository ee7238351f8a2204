//! Sandbox limits: how much work, depth and memory one term's evaluation may use. Defaults
//! suit business rules; a contract may change them in `[limits]` of `contract.toml`.

use serde::{Deserialize, Serialize};

/// The highest `max_call_depth` a contract may set.
pub const MAX_CALL_DEPTH: usize = 64;
/// When a contract sets `max_cpu_ms` but not `max_duration_ms`, the wall-clock limit is this
/// many times the CPU limit: room for a thread that gets a small share of a busy machine.
pub const CPU_TO_WALL: u64 = 20;
/// The highest `max_expr_depth` and `max_function_expr_depth` a contract may set.
pub const MAX_EXPR_DEPTH: usize = 256;

/// Limits applied to every term's script. Zero is not allowed (rhai reads zero as
/// "unlimited", which an untrusted script must never get).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Operations (roughly: expressions evaluated) one term may perform.
    pub max_operations: u64,
    /// Nested function-call depth (at most 64). Deep scripts at the ceilings need tens of MiB of
    /// stack: `Contract::evaluate` moves to a larger stack when the caller's is too small.
    pub max_call_depth: usize,
    /// Nesting depth of expressions at the top level of a script.
    pub max_expr_depth: usize,
    /// Nesting depth of expressions inside script-defined functions.
    pub max_function_expr_depth: usize,
    /// Length of any string a script builds, in bytes.
    pub max_string_size: usize,
    /// Length of any array a script builds. rhai re-measures a container on every change,
    /// so growing one to this size costs time quadratic in it: keep it modest.
    pub max_array_size: usize,
    /// Number of entries in any map a script builds.
    pub max_map_size: usize,
    /// Variables alive at once.
    pub max_variables: usize,
    /// Functions a script may define.
    pub max_functions: usize,
    /// Size of a script's source, in bytes (parsing is not counted as operations).
    pub max_script_bytes: usize,
    /// Wall-clock time one whole evaluation may take, in milliseconds: a safety net for
    /// work that operations do not count. Unlike the other limits it depends on the machine,
    /// and on how busy it is, so keep it far above what real decisions need. When a contract
    /// sets [`Limits::max_cpu_ms`] and not this, it is [`CPU_TO_WALL`] times that (but at
    /// least its default).
    pub max_duration_ms: u64,
    /// CPU time the evaluating thread may spend on one whole evaluation, in milliseconds (off
    /// when absent). Unlike `max_duration_ms` it does not grow when other work competes for
    /// the machine, so a loaded machine cannot turn it into a time-limit error for a good
    /// decision. Read from the thread's own CPU clock, looked at only when the evaluation
    /// has run for longer in wall-clock time than it has CPU time left (a thread's CPU time
    /// never runs ahead of the wall clock), so it costs nothing on a decision under the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cpu_ms: Option<u64>,
    /// Size of a decision's JSON (outputs and trace), in bytes as the compact form prints
    /// it: a value a script shares many times is one value to rhai but a copy per use in
    /// JSON, so a small script could otherwise build a decision of hundreds of megabytes.
    pub max_output_bytes: u64,
    /// Memory one whole evaluation may hold beyond what its thread held when it started, in
    /// bytes: the bound on values grown where rhai measures no size (`m[k] = v`,
    /// `o[i] = big`). Enforced only when the host counts memory with a counting allocator
    /// (see [`crate::memory`]; the `aftersale` binary does).
    pub max_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 1_000_000,
            max_call_depth: 32,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 64 << 10,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_variables: 1_000,
            max_functions: 256,
            max_script_bytes: 256 * 1024,
            max_duration_ms: 500,
            max_memory_bytes: 64 << 20,
            max_cpu_ms: None,
            max_output_bytes: 8 << 20,
        }
    }
}

impl Limits {
    /// The names of limits set to zero (which would mean "unlimited" to rhai).
    pub fn zero_limits(&self) -> Vec<&'static str> {
        let all: [(&'static str, bool); 14] = [
            ("max_operations", self.max_operations == 0),
            ("max_call_depth", self.max_call_depth == 0),
            ("max_expr_depth", self.max_expr_depth == 0),
            ("max_function_expr_depth", self.max_function_expr_depth == 0),
            ("max_string_size", self.max_string_size == 0),
            ("max_array_size", self.max_array_size == 0),
            ("max_map_size", self.max_map_size == 0),
            ("max_variables", self.max_variables == 0),
            ("max_functions", self.max_functions == 0),
            ("max_script_bytes", self.max_script_bytes == 0),
            ("max_duration_ms", self.max_duration_ms == 0),
            ("max_memory_bytes", self.max_memory_bytes == 0),
            ("max_cpu_ms", self.max_cpu_ms == Some(0)),
            ("max_output_bytes", self.max_output_bytes == 0),
        ];
        all.into_iter()
            .filter(|(_, zero)| *zero)
            .map(|(name, _)| name)
            .collect()
    }

    /// Limits set above what evaluation can survive: rhai recurses on the thread's stack, and
    /// a stack overflow aborts the whole process, so depths have a ceiling.
    pub fn over_ceiling(&self) -> Vec<String> {
        [
            ("max_call_depth", self.max_call_depth, MAX_CALL_DEPTH),
            ("max_expr_depth", self.max_expr_depth, MAX_EXPR_DEPTH),
            (
                "max_function_expr_depth",
                self.max_function_expr_depth,
                MAX_EXPR_DEPTH,
            ),
        ]
        .into_iter()
        .filter(|(_, value, ceiling)| value > ceiling)
        .map(|(name, _, ceiling)| {
            format!("{name} must be at most {ceiling} (deeper would risk overflowing the stack)")
        })
        .collect()
    }

    /// Applies the limits to a rhai engine.
    pub(crate) fn apply(&self, engine: &mut rhai::Engine) {
        engine
            .set_max_operations(self.max_operations)
            .set_max_call_levels(self.max_call_depth)
            .set_max_expr_depths(self.max_expr_depth, self.max_function_expr_depth)
            .set_max_string_size(self.max_string_size)
            .set_max_array_size(self.max_array_size)
            .set_max_map_size(self.max_map_size)
            .set_max_variables(self.max_variables)
            .set_max_functions(self.max_functions);
    }
}
