//! A loaded [`Contract`]: compiled terms, their graph, and evaluation. A contract is
//! immutable, `Send + Sync`, and evaluates any number of requests concurrently.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use chrono_tz::Tz;
use rhai::{Dynamic, EvalAltResult, Map, Scope, AST};

use crate::decision::{Decision, Request, TraceEntry};
use crate::deps::Reads;
use crate::engine::SCOPE_VARIABLES;
use crate::error::{AsOfError, EvalError, Location};
use crate::graph::TermGraph;
use crate::limits::Limits;
use crate::plugin::{JsonForms, Plugin};
use crate::rules::{Rule, RuleFailure, RULE_VARIABLES};
use crate::runner::ScriptCache;
use crate::sandbox::{stop_message, take_log, MeterGuard};
use crate::schema::{BindError, FactProblem, FactSchema};
use crate::time::{Date, DateTime};
use crate::value::{
    dynamic_to_json, dynamic_to_json_within, json_to_dynamic, OutputBudget, ToJsonError,
};

/// One term, compiled.
#[derive(Debug, Clone)]
pub struct CompiledTerm {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) file: String,
    pub(crate) ast: AST,
    /// Its function resolution caches, kept between evaluations.
    pub(crate) cache: ScriptCache,
    /// Indices of the terms it reads.
    pub(crate) deps: Vec<usize>,
    pub(crate) reads: Reads,
}

impl CompiledTerm {
    /// The term's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its description from `contract.toml`.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Its script, relative to the bundle.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The top-level facts its script mentions.
    pub fn facts_read(&self) -> &[String] {
        &self.reads.facts
    }
}

/// Everything [`Contract::new`] takes; built by the loader.
pub(crate) struct ContractParts {
    pub id: String,
    pub version: String,
    pub description: Option<String>,
    pub effective_from: Option<Date>,
    pub effective_to: Option<Date>,
    pub timezone: Tz,
    pub plugins: Vec<Arc<dyn Plugin>>,
    /// The JSON forms of the plugins' types.
    pub json_forms: JsonForms,
    pub params: Dynamic,
    pub limits: Limits,
    pub engine: rhai::Engine,
    pub terms: Vec<CompiledTerm>,
    pub graph: TermGraph,
    pub outputs: Vec<usize>,
    pub schema: Option<FactSchema>,
    pub constraints: Vec<Rule>,
    pub invariants: Vec<Rule>,
    /// Loaded with [`crate::EngineBuilder::coverage`].
    pub coverage: bool,
}

/// A compiled contract bundle, ready to evaluate requests.
pub struct Contract {
    parts: ContractParts,
    /// The plan for the default outputs, computed once.
    default_plan: Vec<usize>,
    /// Copies of `parts.params` ready for evaluations.
    params: ParamsPool,
}

/// Most spare copies of `[params]` a contract keeps; more evaluations at once than this
/// make their own.
const PARAMS_POOL_MAX: usize = 16;

/// `[params]` for evaluations: converted once at load (`ContractParts::params`), then lent to
/// each evaluation, which pushes it as a constant and gives it back. No script can change a
/// constant (assignments are refused at load, mutating methods and `this` at run time, and
/// a function gets its own copy of an argument), so a copy given back is as it was lent, and
/// an evaluation costs no deep copy of the params once the pool holds one per concurrent
/// evaluation.
///
/// Why not one shared value (`Dynamic::into_shared`) for every evaluation: rhai reads a
/// shared value through a write lock, even for `params.x`, and gives up with a data-race
/// error after five 10 ms waits, so concurrent evaluations would wait on each other, and a
/// script that reads `params` while already inside a `params` read (a closure passed to a
/// method of `params.list` that reads `params`) would fail.
#[derive(Debug)]
struct ParamsPool {
    spare: Mutex<Vec<Dynamic>>,
}

impl ParamsPool {
    fn new() -> Self {
        Self {
            spare: Mutex::new(Vec::new()),
        }
    }

    /// A copy of `params`: a spare one when there is one.
    fn lend(&self, params: &Dynamic) -> Dynamic {
        self.spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| params.clone())
    }

    /// Takes back the copy an evaluation's `scope` holds.
    fn give_back(&self, scope: &mut Scope<'static>) {
        // Everything after `params` goes first, so no script variable can shadow it.
        scope.rewind(PARAMS_AT + 1);
        if let Some(params) = scope.remove::<Dynamic>(RULE_VARIABLES[PARAMS_AT]) {
            let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
            if spare.len() < PARAMS_POOL_MAX {
                spare.push(params);
            }
        }
    }
}

/// Where `params` sits in every input scope.
const PARAMS_AT: usize = 1;

/// An evaluation's input scope; gives the params back to the pool when dropped, whatever
/// way the evaluation ends.
struct InputScope<'c> {
    scope: Scope<'static>,
    pool: &'c ParamsPool,
}

impl Drop for InputScope<'_> {
    fn drop(&mut self) {
        self.pool.give_back(&mut self.scope);
    }
}

impl std::ops::Deref for InputScope<'_> {
    type Target = Scope<'static>;

    fn deref(&self) -> &Scope<'static> {
        &self.scope
    }
}

impl std::ops::DerefMut for InputScope<'_> {
    fn deref_mut(&mut self) -> &mut Scope<'static> {
        &mut self.scope
    }
}

impl std::fmt::Debug for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contract")
            .field("id", &self.parts.id)
            .field("version", &self.parts.version)
            .field("terms", &self.term_names())
            .finish_non_exhaustive()
    }
}

fn not_an_object() -> FactProblem {
    FactProblem {
        path: "facts".into(),
        message: "expected an object".into(),
    }
}

fn limit_message(err: &EvalAltResult) -> Option<String> {
    Some(match err {
        EvalAltResult::ErrorTooManyOperations(_) => {
            "too many operations (limit `max_operations`)".into()
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            "call depth too deep (limit `max_call_depth`)".into()
        }
        EvalAltResult::ErrorTooManyVariables(_) => {
            "too many variables (limit `max_variables`)".into()
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            format!("{what} too large (limits `max_string_size`, `max_array_size`, `max_map_size`)")
        }
        EvalAltResult::ErrorTooManyModules(_) => "too many modules".into(),
        EvalAltResult::ErrorTerminated(token, _) => return stop_message(token),
        _ => return None,
    })
}

fn script_words(err: &EvalAltResult) -> String {
    match err {
        EvalAltResult::ErrorRuntime(value, _) => match value.clone().into_string() {
            Ok(s) => s,
            Err(_) => value.to_string(),
        },
        other => {
            let mut text = other.to_string();
            // rhai appends " (line L, position C)"; we report the location ourselves.
            if let Some(cut) = text.rfind(" (line ") {
                text.truncate(cut);
            }
            text
        }
    }
}

impl Contract {
    pub(crate) fn new(parts: ContractParts) -> Self {
        let default_plan = parts.graph.plan(&parts.outputs);
        Self {
            parts,
            default_plan,
            params: ParamsPool::new(),
        }
    }

    /// The contract's id.
    pub fn id(&self) -> &str {
        &self.parts.id
    }

    /// The contract's version.
    pub fn version(&self) -> &str {
        &self.parts.version
    }

    /// The contract's description.
    pub fn description(&self) -> Option<&str> {
        self.parts.description.as_deref()
    }

    /// First day this version is in force (`contract.effective_from`, inclusive).
    pub fn effective_from(&self) -> Option<Date> {
        self.parts.effective_from
    }

    /// Last day this version is in force (`contract.effective_to`, inclusive).
    pub fn effective_to(&self) -> Option<Date> {
        self.parts.effective_to
    }

    /// Whether this version is in force on `day`: within its effective range, both ends
    /// inclusive, an absent end being open.
    pub fn in_force_on(&self, day: Date) -> bool {
        self.parts.effective_from.map_or(true, |from| from <= day)
            && self.parts.effective_to.map_or(true, |to| day <= to)
    }

    /// The contract's time zone.
    pub fn timezone(&self) -> Tz {
        self.parts.timezone
    }

    /// Whether it was loaded for coverage ([`crate::EngineBuilder::coverage`]), so that
    /// [`crate::coverage::Coverage::record`] sees its evaluations.
    pub fn records_coverage(&self) -> bool {
        self.parts.coverage
    }

    /// The limits its scripts run under.
    pub fn limits(&self) -> &Limits {
        &self.parts.limits
    }

    /// The plugins it uses (besides `core`).
    pub fn plugin_names(&self) -> Vec<&str> {
        self.parts.plugins.iter().map(|p| p.name()).collect()
    }

    /// Its terms, by name order.
    pub fn terms(&self) -> &[CompiledTerm] {
        &self.parts.terms
    }

    /// The term names, by name order.
    pub fn term_names(&self) -> Vec<&str> {
        self.parts.terms.iter().map(|t| t.name.as_str()).collect()
    }

    /// The terms that form the decision by default.
    pub fn output_names(&self) -> Vec<&str> {
        self.parts
            .outputs
            .iter()
            .filter_map(|&i| self.parts.terms.get(i))
            .map(|t| t.name.as_str())
            .collect()
    }

    /// The dependency edges as `(read, reader)` term names.
    pub fn edges(&self) -> Vec<(&str, &str)> {
        self.parts
            .graph
            .edges()
            .filter_map(|(a, b)| {
                Some((
                    self.parts.terms.get(a)?.name.as_str(),
                    self.parts.terms.get(b)?.name.as_str(),
                ))
            })
            .collect()
    }

    /// The term graph in Graphviz DOT: outputs drawn bold, edges from a term to its readers.
    pub fn to_dot(&self) -> String {
        let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = format!(
            "digraph {} {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
            quote(&self.parts.id)
        );
        for (i, term) in self.parts.terms.iter().enumerate() {
            let mut attrs = vec![format!("label={}", quote(&term.name))];
            if self.parts.outputs.contains(&i) {
                attrs.push("style=bold".into());
                attrs.push("peripheries=2".into());
            }
            if let Some(d) = &term.description {
                attrs.push(format!("tooltip={}", quote(d)));
            }
            out.push_str(&format!(
                "  {} [{}];\n",
                quote(&term.name),
                attrs.join(", ")
            ));
        }
        let mut edges = self.edges();
        edges.sort_unstable();
        for (a, b) in edges {
            out.push_str(&format!("  {} -> {};\n", quote(a), quote(b)));
        }
        out.push_str("}\n");
        out
    }

    /// Reads an `as_of` text: an RFC 3339 datetime, or a bare date meaning 00:00 in the
    /// contract's time zone.
    pub fn parse_as_of(&self, text: &str) -> Result<DateTime, AsOfError> {
        crate::time::read_as_of(text, self.parts.timezone)
    }

    fn plan_for(&self, request: &Request) -> Result<(Vec<usize>, Option<Vec<usize>>), EvalError> {
        let Some(names) = &request.outputs else {
            return Ok((self.default_plan.clone(), None));
        };
        let mut outputs = Vec::with_capacity(names.len());
        for name in names {
            match self.parts.terms.iter().position(|t| &t.name == name) {
                Some(i) => outputs.push(i),
                None => {
                    return Err(EvalError::UnknownOutput {
                        contract: self.parts.id.clone(),
                        name: name.clone(),
                        available: self.term_names().join(", "),
                    })
                }
            }
        }
        Ok((self.parts.graph.plan(&outputs), Some(outputs)))
    }

    /// The `[params]` as JSON, numbers with their written digits.
    pub fn params_json(&self) -> serde_json::Value {
        dynamic_to_json(&self.parts.params, &self.parts.json_forms).unwrap_or_default()
    }

    /// The facts schema (`[facts.<name>]` tables), when the contract has one.
    pub fn facts_schema(&self) -> Option<&FactSchema> {
        self.parts.schema.as_ref()
    }

    /// The `[constraints]`: what valid facts satisfy.
    pub fn constraints(&self) -> &[Rule] {
        &self.parts.constraints
    }

    /// The `[invariants]`: what every decision keeps.
    pub fn invariants(&self) -> &[Rule] {
        &self.parts.invariants
    }

    /// Checks facts against the schema and, when they pass it, the constraints at `as_of`.
    /// Empty when the facts are valid (always, for a contract with neither). Any thread may
    /// call it, as [`Contract::evaluate`]: the constraints run on a larger stack when the
    /// caller's is too small.
    pub fn validate_facts(&self, facts: &serde_json::Value, as_of: DateTime) -> Vec<FactProblem> {
        crate::stack::with_stack_for(&self.parts.limits, || {
            self.validate_facts_here(facts, as_of)
        })
    }

    /// [`Contract::validate_facts`] on this thread's stack.
    fn validate_facts_here(&self, facts: &serde_json::Value, as_of: DateTime) -> Vec<FactProblem> {
        if self.parts.constraints.is_empty() {
            return match &self.parts.schema {
                Some(schema) => schema.validate(facts),
                None if facts.is_object() => Vec::new(),
                None => vec![not_an_object()],
            };
        }
        let facts = match self.bind_facts(facts) {
            Ok(facts) => facts,
            Err(BindError::Rejected(problems)) => return problems,
            Err(BindError::Invalid(message)) => {
                return vec![FactProblem {
                    path: "facts".into(),
                    message,
                }]
            }
        };
        let _meter = MeterGuard::start(&self.parts.limits);
        self.constraint_problems(&mut self.input_scope(facts, as_of))
    }

    /// The facts as scripts see them: through the schema's one walk when the contract has a
    /// schema, else converted as their JSON writes them.
    fn bind_facts(&self, facts: &serde_json::Value) -> Result<Dynamic, BindError> {
        match &self.parts.schema {
            Some(schema) => schema.bind(facts),
            None if facts.is_object() => {
                json_to_dynamic(facts, "facts").map_err(BindError::Invalid)
            }
            None => Err(BindError::Rejected(vec![not_an_object()])),
        }
    }

    /// The scope every script starts from: `facts`, `params` and `as_of`, as constants, in
    /// the order of [`SCOPE_VARIABLES`] (which [`RULE_VARIABLES`] begins with too). The
    /// params are lent by the pool, and go back to it when the scope is dropped.
    fn input_scope(&self, facts: Dynamic, as_of: DateTime) -> InputScope<'_> {
        let mut scope = Scope::with_capacity(SCOPE_VARIABLES.len());
        let [f, p, a, _] = RULE_VARIABLES;
        scope.push_constant_dynamic(f, facts);
        scope.push_constant_dynamic(p, self.params.lend(&self.parts.params));
        scope.push_constant_dynamic(a, Dynamic::from(as_of));
        InputScope {
            scope,
            pool: &self.params,
        }
    }

    /// Runs the constraints in `scope` (an [`Contract::input_scope`]) and leaves it as it was.
    fn constraint_problems(&self, scope: &mut Scope<'static>) -> Vec<FactProblem> {
        let base = scope.len();
        let problems = self
            .parts
            .constraints
            .iter()
            .filter_map(|rule| {
                let failure = rule.check(&self.parts.engine, scope, base)?;
                let what = rule.description.as_ref().unwrap_or(&rule.expr);
                let verdict = if failure.message == "returned false" {
                    "does not hold".to_string()
                } else {
                    failure.message
                };
                Some(FactProblem {
                    path: "facts".into(),
                    message: format!("constraint `{}` {verdict}: {what}", rule.name),
                })
            })
            .collect();
        scope.rewind(base);
        take_log();
        problems
    }

    /// Checks the invariants against a decision for `request`; returns the ones that do not
    /// hold (empty: all hold). `outputs` in the rules is the decision's outputs.
    pub fn check_invariants(&self, request: &Request, decision: &Decision) -> Vec<RuleFailure> {
        self.check_invariants_named(request, decision, None)
    }

    /// [`Contract::check_invariants`] for the invariants named in `only` (all when `None`);
    /// a name that is not an invariant is a failure. Any thread may call it, as
    /// [`Contract::evaluate`]: the rules run on a larger stack when the caller's is too small.
    pub fn check_invariants_named(
        &self,
        request: &Request,
        decision: &Decision,
        only: Option<&[String]>,
    ) -> Vec<RuleFailure> {
        crate::stack::with_stack_for(&self.parts.limits, || {
            self.check_invariants_here(request, decision, only)
        })
    }

    /// [`Contract::check_invariants_named`] on this thread's stack.
    fn check_invariants_here(
        &self,
        request: &Request,
        decision: &Decision,
        only: Option<&[String]>,
    ) -> Vec<RuleFailure> {
        let mut failures = Vec::new();
        if let Some(names) = only {
            for name in names {
                if !self.parts.invariants.iter().any(|r| &r.name == name) {
                    failures.push(RuleFailure {
                        name: name.clone(),
                        message: "is not an invariant of the contract".into(),
                    });
                }
            }
        }
        // Typed facts reach invariants as they reach terms; untyped ones as their JSON
        // writes them, whether or not they pass the schema.
        let typed = self.parts.schema.as_ref().is_some_and(|s| s.typed);
        let facts = if typed {
            self.bind_facts(&request.facts).map_err(|e| match e {
                BindError::Rejected(problems) => problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                BindError::Invalid(message) => message,
            })
        } else {
            json_to_dynamic(&request.facts, "facts")
        };
        let facts = match facts {
            Ok(f) => f,
            Err(message) => {
                failures.push(RuleFailure {
                    name: "facts".into(),
                    message,
                });
                return failures;
            }
        };
        let outputs = serde_json::Value::Object(decision.outputs.clone());
        let outputs = match json_to_dynamic(&outputs, "outputs") {
            Ok(o) => o,
            Err(message) => {
                failures.push(RuleFailure {
                    name: "outputs".into(),
                    message,
                });
                return failures;
            }
        };
        let _meter = MeterGuard::start(&self.parts.limits);
        let mut scope = self.input_scope(facts, request.as_of);
        scope.push_constant_dynamic(RULE_VARIABLES[3], outputs);
        let base = scope.len();
        for rule in &self.parts.invariants {
            if only.is_some_and(|names| !names.contains(&rule.name)) {
                continue;
            }
            failures.extend(rule.check(&self.parts.engine, &mut scope, base));
        }
        take_log();
        failures
    }

    /// Evaluates one request: runs the terms the requested outputs need, each once, in
    /// dependency order, and returns the decision (with a trace when asked). Any thread may
    /// call it: when the caller's stack is too small for what the contract's limits allow,
    /// the evaluation runs on a larger one (see `stack.rs`).
    pub fn evaluate(&self, request: &Request) -> Result<Decision, EvalError> {
        crate::stack::with_stack_for(&self.parts.limits, || self.evaluate_here(request))
    }

    fn evaluate_here(&self, request: &Request) -> Result<Decision, EvalError> {
        if !request.facts.is_object() {
            return Err(EvalError::InvalidFacts {
                message: "facts must be a JSON object".into(),
            });
        }
        let facts = self.bind_facts(&request.facts).map_err(|e| match e {
            BindError::Rejected(problems) => EvalError::FactsRejected { problems },
            BindError::Invalid(message) => EvalError::InvalidFacts { message },
        })?;
        let (plan, requested) = self.plan_for(request)?;
        let _meter = MeterGuard::start(&self.parts.limits);
        // One scope for the whole evaluation, constraints and terms: facts and params are
        // pushed once, as constants, so no script can change what it or any other term was
        // given.
        let mut scope = self.input_scope(facts, request.as_of);
        if !self.parts.constraints.is_empty() {
            let problems = self.constraint_problems(&mut scope);
            if !problems.is_empty() {
                return Err(EvalError::FactsRejected { problems });
            }
        }
        let outputs_idx = requested.as_ref().unwrap_or(&self.parts.outputs);

        let mut values: Vec<Option<Dynamic>> = vec![None; self.parts.terms.len()];
        let mut budget = OutputBudget::new(
            usize::try_from(self.parts.limits.max_output_bytes).unwrap_or(usize::MAX),
        );
        let mut trace = request.trace.then(|| Vec::with_capacity(plan.len()));
        // Where each term's entry sits in the trace, so outputs reuse its JSON.
        let mut traced: Vec<Option<usize>> = vec![None; self.parts.terms.len()];
        for &i in &plan {
            let Some(term) = self.parts.terms.get(i) else {
                continue;
            };
            let started = trace.is_some().then(Instant::now);
            let value = self.run_term(term, &mut scope, &mut values);
            let logs = take_log();
            let value = value?;
            if let Some(trace) = trace.as_mut() {
                if let Some(slot) = traced.get_mut(i) {
                    *slot = Some(trace.len());
                }
                let duration_ns = started.map_or(0, |s| {
                    u64::try_from(s.elapsed().as_nanos()).unwrap_or(u64::MAX)
                });
                trace.push(TraceEntry {
                    term: term.name.clone(),
                    value: self.to_json(term, &value, &mut budget)?,
                    reads: term.reads.terms.keys().cloned().collect(),
                    facts: term.reads.facts.clone(),
                    params: term.reads.params.clone(),
                    duration_ns,
                    logs,
                });
            }
            if let Some(slot) = values.get_mut(i) {
                *slot = Some(value);
            }
        }

        let mut outputs = serde_json::Map::new();
        for &i in outputs_idx {
            let (Some(term), Some(Some(value))) = (self.parts.terms.get(i), values.get(i)) else {
                continue;
            };
            let from_trace = traced
                .get(i)
                .copied()
                .flatten()
                .and_then(|at| trace.as_ref()?.get(at))
                .map(|entry| entry.value.clone());
            let json = match from_trace {
                Some(json) => {
                    budget
                        .spend_json(&json)
                        .map_err(|e| self.json_error(term, e))?;
                    json
                }
                None => self.to_json(term, value, &mut budget)?,
            };
            outputs.insert(term.name.clone(), json);
        }
        Ok(Decision {
            contract: self.parts.id.clone(),
            version: self.parts.version.clone(),
            as_of: request.as_of.to_string(),
            outputs,
            trace,
        })
    }

    /// A term's value as JSON, within what the decision's `budget` has left.
    fn to_json(
        &self,
        term: &CompiledTerm,
        value: &Dynamic,
        budget: &mut OutputBudget,
    ) -> Result<serde_json::Value, EvalError> {
        dynamic_to_json_within(value, &self.parts.json_forms, budget)
            .map_err(|e| self.json_error(term, e))
    }

    /// The error of a term whose value could not become (part of) the decision's JSON.
    fn json_error(&self, term: &CompiledTerm, e: ToJsonError) -> EvalError {
        match e {
            ToJsonError::Value(message) => EvalError::Value {
                term: term.name.clone(),
                message,
            },
            ToJsonError::Limit(message) => EvalError::Limit {
                term: term.name.clone(),
                location: Location::file(term.file.clone()),
                message,
            },
        }
    }

    /// Runs one term. The values of the terms it reads are moved into its `terms` map for the
    /// run and back into `values` after it, so no value is copied to be read.
    fn run_term(
        &self,
        term: &CompiledTerm,
        scope: &mut Scope<'static>,
        values: &mut [Option<Dynamic>],
    ) -> Result<Dynamic, EvalError> {
        let mut read = Map::new();
        for &dep in &term.deps {
            if let (Some(t), Some(slot)) = (self.parts.terms.get(dep), values.get_mut(dep)) {
                if let Some(v) = slot.take() {
                    read.insert(t.name.as_str().into(), v);
                }
            }
        }
        // `terms` is the scope's last entry: drop it and whatever the previous script
        // declared, then give this term its own.
        scope.rewind(SCOPE_VARIABLES.len() - 1);
        scope.push_constant_dynamic("terms", Dynamic::from_map(read));
        let result = term
            .cache
            .eval(&self.parts.engine, &term.ast, scope)
            .map_err(|err| self.term_error(term, &err));
        // Drop what the script declared; `terms` is the last entry again.
        scope.rewind(SCOPE_VARIABLES.len());
        if let Some(mut read) = scope.remove::<Map>("terms") {
            for &dep in &term.deps {
                if let (Some(t), Some(slot)) = (self.parts.terms.get(dep), values.get_mut(dep)) {
                    *slot = read.remove(t.name.as_str());
                }
            }
        }
        result
    }

    fn term_error(&self, term: &CompiledTerm, err: &EvalAltResult) -> EvalError {
        let inner = err.unwrap_inner();
        let mut pos = inner.position();
        if pos.is_none() {
            pos = err.position();
        }
        let location = Location::from_position(&term.file, pos);
        match limit_message(inner) {
            Some(message) => EvalError::Limit {
                term: term.name.clone(),
                location,
                message,
            },
            None => EvalError::Term {
                term: term.name.clone(),
                location,
                message: script_words(inner),
            },
        }
    }
}
