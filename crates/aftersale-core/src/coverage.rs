//! Branch coverage of a contract's terms: which terms the evaluations ran, and which
//! branches of every `if` and `switch` in them (script functions included) were taken.
//!
//! Load the contract with [`crate::EngineBuilder::coverage`]: its rhai engine then carries
//! rhai's debugger hook and compiles without optimisation, so the compiled scripts keep every
//! `if` and `switch` as written (the optimiser would, for one, merge `if a { if b { .. } }`
//! into `if a && b { .. }`). Contracts loaded without it carry no hook: the `debugging`
//! feature costs them one untaken branch per node, nothing measurable.
//!
//! What is recorded belongs to whoever asks: [`Coverage::record`] installs a recorder for
//! the evaluations its closure runs on this thread, and merges what they visited into that
//! [`Coverage`] when it returns. Other threads, other contracts and evaluations outside
//! `record` are never seen, and nothing outlives the call.
//!
//! How a branch counts as taken: the debugger is told of every statement and expression
//! evaluated, with its position. A non-empty branch was taken when a position inside it was
//! visited. An empty branch (an `if` without `else`, `else {}`, a `switch` without `_`) leaves
//! no trace of its own, so the recorder watches what comes next: after an `if` has started,
//! the first node visited at the same call level outside its condition tells which way it went
//! (in a non-empty branch, or past the whole `if`: the empty one). A function returning, or the
//! script ending, with the `if` still undecided also means it went past. An evaluation that
//! fails inside a condition decides nothing.
//!
//! Not counted as branches: `&&`, `||`, `??` and `?.` (short-circuits inside an expression),
//! loops, and `try`/`catch`. A `switch` case whose body is an empty block `{}` leaves the same
//! trace as no case matching: either counts for both. A condition that throws and is caught by
//! a `catch` at a shallower call level would count as having gone past its `if`.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use rhai::debugger::{DebuggerCommand, DebuggerEvent};
use rhai::{ASTNode, Expr, Position, Stmt, StmtBlock};
use serde::Serialize;

use crate::contract::Contract;

/// A position in a script: 1-based line and column.
type Pos = (usize, usize);

fn pos_of(pos: Position) -> Option<Pos> {
    Some((pos.line()?, pos.position()?))
}

/// What the evaluations visited in one script file.
#[derive(Debug, Clone, Default)]
struct FileHits {
    /// Some evaluation of this file started.
    evaluated: bool,
    /// Positions of the statements and expressions evaluated.
    visited: BTreeSet<Pos>,
    /// `if` and `switch` statements (by position) that at least once took no non-empty
    /// branch: the condition was false with nothing in `else`, or no case matched.
    went_past: BTreeSet<Pos>,
}

impl FileHits {
    fn merge(&mut self, other: Self) {
        self.evaluated |= other.evaluated;
        self.visited.extend(other.visited);
        self.went_past.extend(other.went_past);
    }

    fn visited_within(&self, (start, end): (Pos, Pos)) -> bool {
        self.visited
            .range((Bound::Included(start), Bound::Included(end)))
            .next()
            .is_some()
    }
}

/// An `if` or `switch` whose way is not known yet.
#[derive(Debug)]
struct Pending {
    file: String,
    level: usize,
    at: Pos,
    /// Nodes strictly after `at` and strictly before this, outside its branches, are its
    /// condition (or the switch's value and case conditions): still undecided.
    header_end: Pos,
    /// Its non-empty branches.
    branches: Vec<(Pos, Pos)>,
}

/// Collects what the evaluations on one thread visit, between `Coverage::record`'s start and
/// end.
#[derive(Debug, Default)]
struct Recorder {
    /// By file; a contract has a handful of terms, and a search beats hashing the name at
    /// every node.
    files: Vec<(String, FileHits)>,
    pending: Vec<Pending>,
}

thread_local! {
    /// The recorder of the `Coverage::record` call running on this thread, if any.
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

impl Recorder {
    fn file(&mut self, source: &str) -> &mut FileHits {
        let i = match self.files.iter().position(|(f, _)| f == source) {
            Some(i) => i,
            None => {
                self.files.push((source.to_string(), FileHits::default()));
                self.files.len() - 1
            }
        };
        &mut self.files[i].1
    }

    fn went_past(&mut self, pending: &Pending) {
        self.file(&pending.file).went_past.insert(pending.at);
    }

    fn on_event(
        &mut self,
        level: usize,
        event: &DebuggerEvent,
        node: &ASTNode,
        pos: Position,
        source: &str,
    ) {
        match event {
            DebuggerEvent::Start => {
                // Left undecided by an evaluation that failed: nothing can be said of them.
                self.pending.clear();
                self.file(source).evaluated = true;
            }
            DebuggerEvent::End => {
                for pending in std::mem::take(&mut self.pending) {
                    self.went_past(&pending);
                }
                self.file(source).evaluated = true;
                return;
            }
            _ => {}
        }
        let Some(at) = pos_of(pos) else {
            return;
        };
        self.file(source).visited.insert(at);
        self.decide(level, at, source);
        if let ASTNode::Stmt(stmt) = node {
            if let Some(pending) = watch(stmt, level, at, source) {
                self.pending.push(pending);
            }
        }
    }

    /// Settles what the node visited at `at` tells about the undecided statements.
    fn decide(&mut self, level: usize, at: Pos, source: &str) {
        while let Some(top) = self.pending.last() {
            if top.level < level {
                // Inside a function the condition calls.
                break;
            }
            let same_place = top.level == level && top.file == source;
            let in_branch = same_place
                && top
                    .branches
                    .iter()
                    .any(|&(start, end)| start <= at && at <= end);
            if same_place && !in_branch && top.at < at && at < top.header_end {
                break;
            }
            let Some(top) = self.pending.pop() else { break };
            if !in_branch {
                self.went_past(&top);
            }
        }
    }
}

/// The first and last positions of a block, or `None` when it is empty.
fn block_extent(block: &StmtBlock) -> Option<(Pos, Pos)> {
    let first = block.statements().first()?;
    let start = pos_of(block.position()).or_else(|| pos_of(first.position()))?;
    let end = pos_of(block.end_position())
        .or_else(|| block.statements().last().and_then(stmt_end))
        .unwrap_or(start);
    Some((start, end))
}

/// The last position of a statement, as far as the AST tells: the end of its last block for
/// an `if` (so an `else if` chain spans all its links), else its own position.
fn stmt_end(stmt: &Stmt) -> Option<Pos> {
    match stmt {
        Stmt::If(flow, _) => block_extent(&flow.branch)
            .or_else(|| block_extent(&flow.body))
            .map(|(_, end)| end),
        Stmt::Block(block) => block_extent(block).map(|(_, end)| end),
        other => pos_of(other.position()),
    }
}

/// The positions a `switch` case's body covers; `None` for an empty block.
fn expr_extent(expr: &Expr) -> Option<(Pos, Pos)> {
    match expr {
        Expr::Stmt(block) => block_extent(block),
        other => {
            let at = pos_of(other.position())?;
            let start = pos_of(other.start_position()).map_or(at, |s| s.min(at));
            Some((start, at))
        }
    }
}

/// What coverage needs of a `switch`.
struct SwitchShape {
    /// Each case's body (`None`: an empty block), by index into its expressions.
    bodies: Vec<Option<(Pos, Pos)>>,
    /// The index of `_`, if it has one.
    default: Option<usize>,
    /// The last position of its cases.
    last: Pos,
}

fn switch_cases(stmt: &Stmt) -> Option<SwitchShape> {
    let Stmt::Switch(x, _) = stmt else {
        return None;
    };
    let cases = &x.1;
    let bodies: Vec<_> = cases
        .expressions
        .iter()
        .map(|case| expr_extent(&case.rhs))
        .collect();
    let mut last = pos_of(x.0.position()).unwrap_or((0, 0));
    for case in cases.expressions.iter() {
        for p in [
            pos_of(case.lhs.position()),
            expr_extent(&case.rhs).map(|(_, end)| end),
        ]
        .into_iter()
        .flatten()
        {
            last = last.max(p);
        }
    }
    Some(SwitchShape {
        bodies,
        default: cases.def_case,
        last,
    })
}

/// An `if` or `switch` starting at `at` whose empty branch can only be seen by what follows.
fn watch(stmt: &Stmt, level: usize, at: Pos, source: &str) -> Option<Pending> {
    let (header_end, branches) = match stmt {
        Stmt::If(flow, _) => {
            let body = block_extent(&flow.body);
            let branch = block_extent(&flow.branch);
            if body.is_some() && branch.is_some() {
                return None;
            }
            // What precedes the body's `{` is the condition.
            let header_end = pos_of(flow.body.position()).unwrap_or(at);
            (header_end, body.into_iter().chain(branch).collect())
        }
        Stmt::Switch(..) => {
            let SwitchShape {
                bodies,
                default,
                last,
            } = switch_cases(stmt)?;
            let no_empty = bodies.iter().all(Option::is_some);
            if default.is_some() && no_empty {
                return None;
            }
            (
                (last.0, last.1.saturating_add(1)),
                bodies.into_iter().flatten().collect(),
            )
        }
        _ => return None,
    };
    Some(Pending {
        file: source.to_string(),
        level,
        at,
        header_end,
        branches,
    })
}

/// Gives `engine` the hook that feeds [`Coverage::record`], and turns off the optimiser so
/// that compiled scripts keep their branches as written.
pub(crate) fn instrument(engine: &mut rhai::Engine) {
    engine.set_optimization_level(rhai::OptimizationLevel::None);
    #[allow(
        deprecated,
        reason = "rhai marks the debugger API volatile, not deprecated; rhai is pinned"
    )]
    engine.register_debugger(
        |_, debugger| debugger,
        |context, event, node, source, pos| {
            if let Some(source) = source {
                let level = context.call_level();
                RECORDER.with(|recorder| {
                    if let Some(recorder) = recorder.borrow_mut().as_mut() {
                        recorder.on_event(level, &event, &node, pos, source);
                    }
                });
            }
            // Stop at every statement and expression, diving into functions.
            Ok(DebuggerCommand::StepInto)
        },
    );
}

/// What evaluations of a coverage-loaded contract visited, accumulated over any number of
/// [`Coverage::record`] calls; [`Coverage::report`] maps it onto the contract's branches.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    files: HashMap<String, FileHits>,
}

/// Puts the previous recorder back and merges ours, even if the recorded closure panics.
struct Recording<'a> {
    coverage: &'a mut Coverage,
    previous: Option<Recorder>,
}

impl Drop for Recording<'_> {
    fn drop(&mut self) {
        let ours = RECORDER.with(|r| r.replace(self.previous.take()));
        for (file, hits) in ours.map(|r| r.files).unwrap_or_default() {
            self.coverage.files.entry(file).or_default().merge(hits);
        }
    }
}

impl Coverage {
    /// Nothing recorded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `run` and records what the evaluations it makes on this thread visit, in
    /// contracts loaded with [`crate::EngineBuilder::coverage`].
    ///
    /// ```
    /// use aftersale_core::{coverage::Coverage, BundleSource, Engine, Request};
    ///
    /// let engine = Engine::builder().coverage(true).build();
    /// let source = BundleSource::new("demo")
    ///     .with_file("contract.toml", "[contract]\nid = \"demo\"\nversion = \"1\"\n[terms.fee]\n")
    ///     .with_file("terms/fee.rhai", "if facts.km > 100 { 2 } else { 1 }");
    /// let contract = engine.load(&source).unwrap();
    /// let as_of = contract.parse_as_of("2026-01-01").unwrap();
    /// let mut coverage = Coverage::new();
    /// coverage.record(|| contract.evaluate(&Request::new(serde_json::json!({"km": 5}), as_of)));
    /// let report = coverage.report(&contract);
    /// assert_eq!(report.branches_exercised(), 1);
    /// assert_eq!(report.branch_count(), 2);
    /// ```
    pub fn record<T>(&mut self, run: impl FnOnce() -> T) -> T {
        let previous = RECORDER.with(|r| r.replace(Some(Recorder::default())));
        let _recording = Recording {
            coverage: self,
            previous,
        };
        run()
    }

    /// The coverage of `contract`'s terms by what was recorded. Every branch of a contract
    /// loaded without [`crate::EngineBuilder::coverage`] shows as never exercised.
    pub fn report(&self, contract: &Contract) -> CoverageReport {
        let empty = FileHits::default();
        let terms = contract
            .terms()
            .iter()
            .map(|term| {
                let hits = self.files.get(term.file()).unwrap_or(&empty);
                TermCoverage {
                    term: term.name().to_string(),
                    file: term.file().to_string(),
                    evaluated: hits.evaluated || !hits.visited.is_empty(),
                    branches: branches_of(&term.ast, hits),
                }
            })
            .collect();
        CoverageReport { terms }
    }
}

fn branch(kind: BranchKind, at: Pos, exercised: bool) -> Branch {
    Branch {
        kind,
        line: at.0,
        column: at.1,
        exercised,
    }
}

/// Every branch in `ast` (script functions included), in source order, and whether `hits`
/// shows it taken.
fn branches_of(ast: &rhai::AST, hits: &FileHits) -> Vec<Branch> {
    let mut out = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let Some(ASTNode::Stmt(stmt)) = path.last() else {
            return true;
        };
        let Some(at) = pos_of(stmt.position()) else {
            return true;
        };
        match stmt {
            Stmt::If(flow, _) => {
                let body = block_extent(&flow.body);
                let branch_block = block_extent(&flow.branch);
                let past = hits.went_past.contains(&at);
                let ran = hits.visited.contains(&at);
                let then = match (body, branch_block) {
                    (Some(b), _) => hits.visited_within(b),
                    (None, Some(_)) => past,
                    // `if c {}`: nothing to tell the ways apart.
                    (None, None) => ran,
                };
                let (kind, other) = match (body, branch_block) {
                    (_, Some(e)) => (BranchKind::IfElse, hits.visited_within(e)),
                    (Some(_), None) if flow.branch.position().is_none() => {
                        (BranchKind::IfNoElse, past)
                    }
                    (Some(_), None) => (BranchKind::IfElse, past),
                    (None, None) => (BranchKind::IfElse, ran),
                };
                out.push(branch(BranchKind::IfThen, at, then));
                out.push(branch(kind, at, other));
            }
            Stmt::Switch(..) => {
                let Some(SwitchShape {
                    bodies, default, ..
                }) = switch_cases(stmt)
                else {
                    return true;
                };
                let past = hits.went_past.contains(&at);
                let mut cases: Vec<(Pos, Branch)> = Vec::new();
                for (i, body) in bodies.iter().enumerate() {
                    let kind = if Some(i) == default {
                        BranchKind::SwitchDefault
                    } else {
                        BranchKind::SwitchCase
                    };
                    let (place, exercised) = match body {
                        Some(extent) => (extent.0, hits.visited_within(*extent)),
                        // `x => {}`: taken or not, it leaves the same trace as no match.
                        None => (at, past),
                    };
                    cases.push((place, branch(kind, place, exercised)));
                }
                cases.sort_by_key(|(place, _)| *place);
                out.extend(cases.into_iter().map(|(_, b)| b));
                if default.is_none() {
                    out.push(branch(BranchKind::SwitchNoMatch, at, past));
                }
            }
            _ => {}
        }
        true
    });
    out.sort_by_key(|b| (b.line, b.column));
    out
}

/// Which way of an `if` or `switch` a [`Branch`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchKind {
    /// The `if`'s condition held: its first block ran (position: the `if`).
    IfThen,
    /// The `if`'s condition failed: its `else` ran (position: the `if`).
    IfElse,
    /// The `if`, which has no `else`, found its condition false (position: the `if`).
    IfNoElse,
    /// A `switch` case's body ran (position: the body).
    SwitchCase,
    /// The `switch`'s default `_` ran (position: its body).
    SwitchDefault,
    /// The `switch`, which has no `_`, matched no case (position: the `switch`).
    SwitchNoMatch,
}

impl BranchKind {
    /// How the branch reads in a report: `if ... else`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::IfThen => "if ... then",
            Self::IfElse => "if ... else",
            Self::IfNoElse => "if ... (condition false, no else)",
            Self::SwitchCase => "switch case",
            Self::SwitchDefault => "switch default `_`",
            Self::SwitchNoMatch => "switch (no case matched, no `_`)",
        }
    }
}

/// One branch of a term's script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Branch {
    /// Which way it is.
    pub kind: BranchKind,
    /// 1-based line of its position (see [`BranchKind`]).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Taken at least once.
    pub exercised: bool,
}

/// The coverage of one term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TermCoverage {
    /// The term's name.
    pub term: String,
    /// Its script, relative to the bundle.
    pub file: String,
    /// Evaluated at least once.
    pub evaluated: bool,
    /// Every branch of its script, in source order.
    pub branches: Vec<Branch>,
}

/// The coverage of a contract's terms, by term name order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageReport {
    /// One entry per term.
    pub terms: Vec<TermCoverage>,
}

impl CoverageReport {
    /// Terms evaluated at least once.
    pub fn terms_evaluated(&self) -> usize {
        self.terms.iter().filter(|t| t.evaluated).count()
    }

    /// Branches in all terms.
    pub fn branch_count(&self) -> usize {
        self.terms.iter().map(|t| t.branches.len()).sum()
    }

    /// Branches taken at least once.
    pub fn branches_exercised(&self) -> usize {
        self.terms
            .iter()
            .flat_map(|t| &t.branches)
            .filter(|b| b.exercised)
            .count()
    }
}
