//! # aftersale-cli
//!
//! The `aftersale` command line, as a library: [`Cli`] parses the arguments and runs the
//! commands (`eval`, `batch`, `check`, `graph`, `test`, `prop`, `diff`, `serve`), so that the
//! `aftersale` binary is `Cli::new().run()` and a host with plugins of its own builds its own
//! binary with every command in a few lines (`examples/host_cli.rs`). [`stream`] is the
//! streaming batch pipeline, shared with the benchmarks. Threads, files and terminals live
//! here, never in the core.
//!
//! Exit status: 0 success, 1 contract, evaluation or test failure, 2 usage or unreadable
//! input ([`Status`]). Errors go to stderr, as text with a source snippet or as JSON
//! (`--format json`).

mod app;
mod batch;
mod qa_cmd;
mod render;
mod serve_cmd;
pub mod stream;
mod test_cmd;

pub(crate) use app::{as_of_or_now, load, print_out, report, Context, Failure};
pub use app::{Cli, Status};
