//! # aftersale-testkit
//!
//! The QA kit of aftersale: what `aftersale prop` and `aftersale diff` do, as a library for
//! a QA team's own Rust tests. It owns request generation from a contract's facts schema
//! ([`generate`]), property runs that check a contract's `[invariants]` and shrink the first
//! failure ([`prop`]), policy-change diffs between two versions of a contract ([`diff`]),
//! and the regression file `aftersale prop` writes ([`regress`]). It knows nothing of the
//! terminal: the CLI renders its reports.
//!
//! A property test against your own contract, in a few lines:
//!
//! ```no_run
//! use aftersale_core::{Engine, Request};
//! use aftersale_testkit::{check_invariants, facts_strategy, Dictionary};
//! use proptest::prelude::*;
//!
//! let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
//! let contract = engine.load_dir("rules/car-warranty".as_ref()).unwrap();
//! let requests = aftersale_testkit::requests(&contract, &Dictionary::from_contracts([&contract]), None).unwrap();
//!
//! proptest!(|(request in requests)| {
//!     // Every generated request passes the schema and keeps every invariant.
//!     prop_assert_eq!(check_invariants(&contract, &request), Ok(()));
//! });
//! # let _ = facts_strategy;
//! ```
//!
//! And a policy change, checked in CI: nothing but the intended region changes.
//!
//! ```no_run
//! # use aftersale_core::Engine;
//! use aftersale_testkit::{diff_bundles, DiffConfig};
//!
//! let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
//! let old = engine.load_dir("rules/car-warranty".as_ref()).unwrap();
//! let new = engine.load_dir("proposals/car-warranty-2027".as_ref()).unwrap();
//! let report = diff_bundles(&old, &new, &DiffConfig { cases: 5_000, ..DiffConfig::default() }).unwrap();
//! for group in &report.groups {
//!     println!("{}: {} cases", group.change, group.count);
//! }
//! ```

pub mod diff;
pub mod generate;
pub mod prop;
pub mod regress;
mod search;

use aftersale_core::Contract;
use proptest::strategy::BoxedStrategy;
use serde::Serializer;
use serde_json::Value;

pub use diff::{diff_bundles, Boundary, Change, DiffConfig, DiffError, DiffReport, Group};
pub use generate::{requests, Dictionary, GenerateError, Generated};
pub use prop::{PropConfig, PropError, PropFailure, PropReport, Violation};

/// A proptest strategy for facts valid for `contract`'s schema (numbers from its `params`
/// as boundary values); `None` when the contract has no schema.
pub fn facts_strategy(contract: &Contract) -> Option<BoxedStrategy<Value>> {
    let dictionary = Dictionary::from_contracts([contract]);
    contract
        .facts_schema()
        .map(|schema| generate::facts(schema, &dictionary))
}

/// Evaluates `request` and checks every invariant of the contract. A request the schema or
/// constraints reject is `Ok` (it is not a case the contract decides).
///
/// # Errors
/// The [`Violation`]: a term failing on valid facts, or the invariants that do not hold.
pub fn check_invariants(contract: &Contract, request: &Generated) -> Result<(), Violation> {
    match prop::check(contract, request) {
        Some(v) => Err(v),
        None => Ok(()),
    }
}

/// Serialises a [`Generated`] as `{ "facts": ..., "as_of": ... }`.
pub(crate) fn serialize_generated<S: Serializer>(g: &Generated, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(
        &serde_json::json!({ "as_of": g.as_of, "facts": g.facts }),
        s,
    )
}

/// [`serialize_generated`] for an optional request.
#[allow(clippy::ref_option, reason = "serde's serialize_with signature")]
pub(crate) fn serialize_generated_opt<S: Serializer>(
    g: &Option<Generated>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match g {
        Some(g) => serialize_generated(g, s),
        None => s.serialize_none(),
    }
}
