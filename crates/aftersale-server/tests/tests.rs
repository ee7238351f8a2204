//! Integration tests of the HTTP service: each starts the real server on an ephemeral
//! loopback port and talks to it with a real HTTP client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on any unexpected result"
)]

mod common;

mod auth;
mod browser;
mod decisions;
mod isolation;
mod lifecycle;
mod limits;
mod openapi;
mod reload;
mod resources;
mod versions;
