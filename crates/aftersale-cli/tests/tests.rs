//! Integration tests of the command line, one binary with a module per concern: most run the
//! real `aftersale` binary as a user does (bundles in temporary folders, children bounded by
//! CPU time and memory, never by wall-clock time); `host` runs [`aftersale_cli::Cli`] in
//! process, as a host's own binary does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod support;

mod bad_input;
mod cli;
mod exact_input;
mod host;
mod hostile;
mod qa;
mod serve;
