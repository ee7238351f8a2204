//! Runs one compiled script (a term, a constraint, an invariant) and keeps its function
//! resolution cache from one evaluation to the next.
//!
//! rhai finds the function a call names by hashing its name and argument types and searching
//! the script's own functions, then every registered module and package; it caches what it
//! found, but only within one run, and only from a signature's second call on. A term's script
//! is short and calls most functions once, so nearly every call was resolved the slow way on
//! every evaluation. The cache depends only on the engine (its packages and plugins) and the
//! script's own functions, both fixed once the contract is loaded, so a [`ScriptCache`] per
//! script keeps it: a small pool of caches, one taken by each run in progress.
//!
//! The terms of a contract loaded for coverage run through rhai's ordinary entry point
//! instead, which also tells the debugger hook where each evaluation starts and ends; its
//! constraints and invariants keep their caches (they have no source file, so coverage does
//! not record them).

use std::sync::{Mutex, PoisonError};

use rhai::{Caches, Dynamic, Engine, EvalAltResult, ImmutableString, Scope, AST};

/// Caches kept per script; more runs at once than this simply start cold.
const POOL_MAX: usize = 16;

/// The function resolution caches of one compiled script.
#[derive(Debug)]
pub(crate) struct ScriptCache {
    /// Off for the terms of contracts loaded for coverage (see the module doc).
    enabled: bool,
    /// The script's source name (its file), as rhai reports it in errors and to plugins.
    source: Option<ImmutableString>,
    pool: Mutex<Vec<Caches>>,
}

impl ScriptCache {
    /// The cache of `ast`; `enabled` false runs it through `Engine::eval_ast_with_scope`.
    pub(crate) fn new(ast: &AST, enabled: bool) -> Self {
        Self {
            enabled,
            source: ast.source().map(ImmutableString::from),
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Evaluates `ast` (the script this cache was made for) in `scope`.
    pub(crate) fn eval(
        &self,
        engine: &Engine,
        ast: &AST,
        scope: &mut Scope,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        if !self.enabled {
            return engine.eval_ast_with_scope::<Dynamic>(scope, ast);
        }
        let mut caches = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        let mut global = engine.new_global_runtime_state();
        global.source.clone_from(&self.source);
        global.lib.push(ast.shared_lib().clone());
        #[allow(
            deprecated,
            reason = "the one entry point that takes the caller's caches; rhai is pinned"
        )]
        let result = engine.eval_statements_raw(&mut global, &mut caches, scope, ast.statements());
        // A run that failed inside a function call may leave that call's cache level behind.
        caches.rewind_fn_resolution_caches(1);
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOL_MAX {
            pool.push(caches);
        }
        result
    }
}

impl Clone for ScriptCache {
    /// A clone starts with no cache of its own.
    fn clone(&self) -> Self {
        Self {
            enabled: self.enabled,
            source: self.source.clone(),
            pool: Mutex::new(Vec::new()),
        }
    }
}
