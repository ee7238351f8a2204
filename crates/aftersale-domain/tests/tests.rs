//! Integration tests of the domain plugins, one binary with a module per plugin, and
//! `bundles`: every test file of every bundle in `rules/` as its own named test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod bundles;
mod calendar;
mod maintenance;
mod sla;
mod warranty;
