//! # aftersale-core
//!
//! The engine of aftersale: contract bundles (a `contract.toml` and one rhai script per
//! term), the term dependency graph, sandboxed evaluation and the decision a request gets.
//!
//! The core owns no files beyond a thin folder reader ([`BundleSource::from_dir`]), no
//! terminal, no HTTP and no domain: it parses from in-memory sources and evaluates. Adapters
//! (the `aftersale` CLI, the HTTP service) and plugins (calendars, SLA clocks, warranty
//! arithmetic) depend on it, never the reverse. Its shape:
//!
//! - [`Engine`] holds the plugins a host offers and loads bundles into [`Contract`]s:
//!   every script is compiled once, its `terms.<name>` reads found in the AST, the graph
//!   built and checked; all problems are reported together ([`LoadErrors`]).
//! - [`Contract::evaluate`] takes `&self` and a [`Request`], runs only the terms the
//!   requested outputs need, in dependency order, and returns a [`Decision`], with a trace of
//!   every term on request. A contract is `Send + Sync`: share one across threads.
//! - [`Plugin`] is the extension point; the core vocabulary ([`vocabulary::CorePlugin`]:
//!   dates, datetimes, decimal rounding) is a plugin that is always on.
//! - [`schema`]: the facts schema (`[facts.<name>]`), checked before any term runs, with
//!   `[constraints]` across facts; `[invariants]` state what every decision keeps.
//! - [`cases`] reads and runs a bundle's `tests/*.toml` example cases: [`cases::CaseFiles`]
//!   lists, reads and parses them, and its [`cases::CasesReport`] is what every adapter
//!   (`aftersale test`, the server's reload check, the test suites) renders.
//! - [`coverage`]: which terms, and which branches of their `if`s and `switch`es, the
//!   evaluations of a contract loaded with [`EngineBuilder::coverage`] took.

pub mod bundle;
pub mod cases;
pub mod contract;
pub mod coverage;
mod cycles;
pub mod decision;
mod deps;
pub mod engine;
pub mod error;
mod graph;
pub mod limits;
pub mod manifest;
pub mod memory;
pub mod meter;
pub mod plugin;
pub mod rules;
mod runner;
mod sandbox;
pub mod schema;
mod sorting;
mod stack;
pub mod time;
pub mod value;
pub mod vocabulary;

pub use bundle::BundleSource;
pub use contract::{CompiledTerm, Contract};
pub use decision::{Decision, Request, TraceEntry};
pub use engine::{Engine, EngineBuilder};
pub use error::{
    AsOfError, CaseFileError, CaseFileProblem, EvalError, LoadError, LoadErrors, Location,
};
pub use limits::Limits;
pub use plugin::{Plugin, PluginContext};
pub use time::{Date, DateTime};

/// The rhai version plugins must register against.
pub use rhai;

/// The README's Rust examples, compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
