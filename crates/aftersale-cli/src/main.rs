//! `aftersale`: the command line of the aftersale rules engine ([`aftersale_cli::Cli`] with
//! the domain plugins).
//!
//! Subcommands: `eval` (decide one request), `batch` (decide a stream of requests in
//! parallel), `check` (load bundles and report every problem), `graph` (the term graph as
//! DOT), `test` (run bundles' example cases; `--coverage`), `prop` (check invariants on
//! generated requests), `diff` (compare two versions of a contract) and `serve` (the HTTP
//! service). Exit status: 0 success, 1 contract, evaluation or test failure, 2 usage or
//! unreadable input.

use std::process::ExitCode;

/// Counts each thread's bytes, so that `[limits] max_memory_bytes` holds for every evaluation
/// this binary runs (eval, batch, test, prop, diff, serve).
#[global_allocator]
static ALLOCATOR: aftersale_alloc::Counting = aftersale_alloc::Counting;

fn main() -> ExitCode {
    aftersale_cli::Cli::new().run()
}
