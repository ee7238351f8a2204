//! # aftersale-server
//!
//! The HTTP service of aftersale, started by `aftersale serve`: backends in any language ask
//! for decisions over HTTP and get exactly the library's.
//!
//! An adapter around the pure core, in one module per concern:
//!
//! - [`catalog`]: every bundle under the rules folder, loaded, tested and grouped by tenant,
//!   contract id and version; picking the version a request gets (explicit, by
//!   `effective_on`, or in force at `as_of`). A catalog is immutable: a reload builds a new
//!   one and swaps it in atomically ([`arc_swap`]), so a request finishes on the set it began
//!   with; each tenant loads on its own, so a broken folder never replaces a working one and
//!   never holds back another tenant's. A symbolic link out of a tenant's folder is not
//!   followed.
//! - [`admission`]: how many evaluations run and wait, overall and per tenant, and the bytes
//!   batch results hold; a request over a bound is refused at once (429/503, `Retry-After`).
//! - `connections`: the accept loop (hyper and hyper-util, since `axum::serve` configures
//!   none of it): a connection limit, the header read timeout, a shutdown that does not wait
//!   on idle connections.
//! - [`config`]: the configuration file, tokens stored as SHA-256 hashes ([`hash_token`]).
//! - [`auth`]: who calls (a bearer token's role and tenant); another tenant's contract is
//!   404, not 403, so its existence does not leak.
//! - [`api`]: the endpoints, each declared once with its OpenAPI description (utoipa), so
//!   the router and `GET /openapi.json` cannot disagree.
//! - [`error`]: the one JSON error shape, `{"error": {"code", "message", "term"?, "position"?}}`.
//! - [`metrics`]: Prometheus text, kept by hand (a handful of counters and one histogram),
//!   labels from closed sets only; a tenant's admin sees its tenant's series.
//! - [`server`]: the runtime, middleware (request id, structured logs, metrics, timeout,
//!   body limit, and without configuration the `Origin`/`Host` guard against browsers),
//!   file watching, graceful shutdown.
//!
//! Evaluations run on tokio's blocking pool, so that a long one never holds up a worker that
//! serves connections. Its threads have tokio's default stack: rhai recurses on the stack, and
//! the core itself moves an evaluation that may need more to a larger stack
//! ([`aftersale_core::Contract::evaluate`]), so no thread here needs a large one.

pub mod admission;
pub mod api;
pub mod auth;
pub mod catalog;
pub mod config;
mod connections;
pub mod error;
pub mod metrics;
pub mod server;

pub use catalog::{load_catalog, load_tenants, Catalog, CatalogError, Layout};
pub use config::{hash_token, ConfigError, ResourceLimits, Role, ServerConfig};
pub use server::{
    AppState, ReloadOutcome, ServeError, ServeOptions, Server, StartError, TenantReload,
};

/// Installs the process's log output: `RUST_LOG` filters (default `info`), one line per
/// event, as JSON when `json` is true. For binaries; a library user installs its own.
pub fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
