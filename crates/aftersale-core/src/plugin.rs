//! The plugin point: a [`Plugin`] gives scripts vocabulary (functions, types, operators) by
//! registering it on the rhai engine of each contract that names it.
//!
//! The core vocabulary (dates, datetimes, decimal rounding) is itself a plugin,
//! [`CorePlugin`](crate::vocabulary::CorePlugin), always on. Domain plugins and a host
//! application's own plugins implement the same trait.

use chrono_tz::Tz;
use rhai::Dynamic;

/// What a plugin knows about the contract it is being registered for.
#[derive(Debug, Clone)]
pub struct PluginContext {
    /// The contract's id.
    pub contract_id: String,
    /// The contract's time zone (`contract.timezone`, default UTC): local dates of instants
    /// are taken in it.
    pub timezone: Tz,
}

/// A set of rhai functions and types that contracts can ask for by name in
/// `contract.plugins`.
///
/// ```
/// use aftersale_core::{Plugin, PluginContext};
/// use aftersale_core::rhai;
///
/// /// `vat(amount)`: the VAT on a net amount at the rate of this plugin.
/// struct Vat { rate: rust_decimal::Decimal }
///
/// impl Plugin for Vat {
///     fn name(&self) -> &str { "vat" }
///     fn register(&self, engine: &mut rhai::Engine, _ctx: &PluginContext) {
///         let rate = self.rate;
///         engine.register_fn("vat", move |net: rust_decimal::Decimal| (net * rate).round_dp(2));
///     }
/// }
/// # let _ = Vat { rate: rust_decimal::Decimal::new(22, 2) };
/// ```
pub trait Plugin: Send + Sync + 'static {
    /// The name contracts use in `plugins = [...]`: lowercase, `[a-z0-9_-]+`.
    fn name(&self) -> &str;

    /// One line saying what the plugin offers (shown by `aftersale check` and in docs).
    fn description(&self) -> &str {
        ""
    }

    /// Registers the plugin's functions and types on the engine of one contract. Functions
    /// must be deterministic: no clock, randomness or I/O.
    fn register(&self, engine: &mut rhai::Engine, ctx: &PluginContext);

    /// The JSON form of a value of one of this plugin's types, for decisions and traces.
    /// Return `None` for values the plugin does not own; `Some(Err(..))` to refuse one.
    fn to_json(&self, value: &Dynamic) -> Option<Result<serde_json::Value, String>> {
        let _ = value;
        None
    }
}
