//! The plugin point: a [`Plugin`] gives scripts vocabulary (functions, types, operators)
//! through a [`Registrar`], once for each contract that names it.
//!
//! The registrar is deliberately narrow: it registers functions, property getters, types
//! with their JSON form, and one line of documentation per function. It offers no way to
//! reach the rhai engine behind it, so a plugin cannot change a limit, install a progress
//! or print hook, or otherwise weaken the sandbox a contract runs in:
//!
//! ```compile_fail,E0599
//! use aftersale_core::{Plugin, PluginContext, plugin::Registrar};
//!
//! struct Sneaky;
//! impl Plugin for Sneaky {
//!     fn name(&self) -> &str { "sneaky" }
//!     fn register(&self, r: &mut Registrar<'_>, _ctx: &PluginContext) {
//!         // No such method: the sandbox's limits are out of a plugin's reach.
//!         r.set_max_operations(0);
//!     }
//! }
//! ```
//!
//! A plugin function's arguments are read, and its answers written, with [`args`]: options
//! maps with unknown keys refused, fields converted to Rust types, one error wording
//! (`<plugin>: <field>: expected <what>, found <what>`), result maps built from Rust values.
//!
//! The core vocabulary (dates, datetimes, decimal rounding) is itself a plugin,
//! [`CorePlugin`](crate::vocabulary::CorePlugin), always on. Domain plugins and a host
//! application's own plugins implement the same trait.

pub mod args;

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use chrono_tz::Tz;
use rhai::{Dynamic, RhaiNativeFunc, Variant};

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
/// use aftersale_core::{Plugin, PluginContext, plugin::Registrar};
///
/// /// `vat(amount)`: the VAT on a net amount at the rate of this plugin.
/// struct Vat { rate: rust_decimal::Decimal }
///
/// impl Plugin for Vat {
///     fn name(&self) -> &str { "vat" }
///     fn register(&self, r: &mut Registrar<'_>, _ctx: &PluginContext) {
///         let rate = self.rate;
///         r.register_fn("vat", move |net: rust_decimal::Decimal| (net * rate).round_dp(2))
///             .doc("vat(net: decimal) -> decimal", "the VAT on a net amount, to cents");
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

    /// Registers the plugin's functions and types for one contract. Functions must be
    /// deterministic: no clock, randomness or I/O.
    fn register(&self, registrar: &mut Registrar<'_>, ctx: &PluginContext);
}

/// A shared plugin is a plugin: a host that keeps its plugins as `Arc<dyn Plugin>` (the
/// `aftersale` command line as a library does) offers the same one to every engine it builds.
impl Plugin for Arc<dyn Plugin> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn description(&self) -> &str {
        (**self).description()
    }

    fn register(&self, registrar: &mut Registrar<'_>, ctx: &PluginContext) {
        (**self).register(registrar, ctx);
    }
}

/// The JSON form of a value of one registered type.
type ToJson = Arc<dyn Fn(&Dynamic) -> Result<serde_json::Value, String> + Send + Sync>;

/// The JSON forms of the types plugins registered, keyed by the type: a decision finds a
/// value's serialiser with one lookup.
#[derive(Clone, Default)]
pub(crate) struct JsonForms {
    forms: HashMap<TypeId, ToJson>,
}

impl std::fmt::Debug for JsonForms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonForms")
            .field("types", &self.forms.len())
            .finish()
    }
}

impl JsonForms {
    /// The JSON form of `value`, if its type was registered with one. A shared value (a
    /// closure's captured variable) is looked up by the type it holds.
    pub(crate) fn to_json(&self, value: &Dynamic) -> Option<Result<serde_json::Value, String>> {
        let form = self.forms.get(&value.type_id())?;
        if value.is_shared() {
            let inner = value.flatten_clone();
            return Some(form(&inner));
        }
        Some(form(value))
    }
}

/// One function a plugin documented: its signature as scripts call it and one line
/// saying what it does. [`crate::Engine::functions`] lists them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FunctionDoc {
    /// The plugin that registered it (`core` for the core vocabulary).
    pub plugin: String,
    /// How scripts call it, e.g. `add_days(d: date, n: int) -> date`.
    pub signature: String,
    /// What it does, in one line.
    pub summary: String,
}

/// What a [`Plugin`] registers through: functions, property getters, operators (functions
/// named `+`, `==`, ...), types with their JSON form, and a line of documentation per
/// function. Nothing else of the engine is reachable, so the sandbox stays as the contract
/// set it.
pub struct Registrar<'a> {
    plugin: &'a str,
    engine: &'a mut rhai::Engine,
    forms: &'a mut JsonForms,
    docs: &'a mut Vec<FunctionDoc>,
}

impl std::fmt::Debug for Registrar<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl<'a> Registrar<'a> {
    /// A registrar for `plugin` onto a contract's engine.
    pub(crate) fn new(
        plugin: &'a str,
        engine: &'a mut rhai::Engine,
        forms: &'a mut JsonForms,
        docs: &'a mut Vec<FunctionDoc>,
    ) -> Self {
        Registrar {
            plugin,
            engine,
            forms,
            docs,
        }
    }

    /// The name of the plugin registering.
    pub fn plugin(&self) -> &str {
        self.plugin
    }

    /// Registers a native function (or an operator: name it `+`, `==`, `<`, ...) as rhai's
    /// `Engine::register_fn` does. A function may return `Result<T, Box<EvalAltResult>>` to
    /// fail with an error the script's caller sees.
    pub fn register_fn<A: 'static, const N: usize, const X: bool, R, const F: bool>(
        &mut self,
        name: &str,
        func: impl RhaiNativeFunc<A, N, X, R, F> + Send + Sync + 'static,
    ) -> &mut Self
    where
        R: Variant + Clone,
    {
        self.engine.register_fn(name, func);
        self
    }

    /// Registers a property getter: `value.name` on a value of a registered type. `get`
    /// takes the value as `&mut T` (rhai's convention for getters) and must not change it.
    pub fn register_get<A: 'static, const X: bool, R, const F: bool>(
        &mut self,
        name: &str,
        get: impl RhaiNativeFunc<A, 1, X, R, F> + Send + Sync + 'static,
    ) -> &mut Self
    where
        R: Variant + Clone,
    {
        self.engine.register_fn(format!("get${name}"), get);
        self
    }

    /// Registers a type under the name `type_of` gives it, with its JSON form in decisions
    /// and traces. `to_json` may refuse a value with a message (the term then fails).
    pub fn register_type<T: Variant + Clone>(
        &mut self,
        name: &str,
        to_json: impl Fn(&T) -> Result<serde_json::Value, String> + Send + Sync + 'static,
    ) -> &mut Self {
        self.engine.register_type_with_name::<T>(name);
        let form: ToJson = Arc::new(move |value: &Dynamic| match value.read_lock::<T>() {
            Some(v) => to_json(&v),
            None => Err(format!(
                "a value of type `{}` has no JSON form",
                value.type_name()
            )),
        });
        self.forms.forms.insert(TypeId::of::<T>(), form);
        self
    }

    /// Registers a type that scripts use but decisions never carry: a term whose value
    /// holds one fails with "a value of type `name` has no JSON form".
    pub fn register_opaque_type<T: Variant + Clone>(&mut self, name: &str) -> &mut Self {
        self.engine.register_type_with_name::<T>(name);
        self
    }

    /// Documents the function just registered: its signature as scripts call it and one
    /// line saying what it does, for [`crate::Engine::functions`].
    pub fn doc(&mut self, signature: &str, summary: &str) -> &mut Self {
        self.docs.push(FunctionDoc {
            plugin: self.plugin.to_string(),
            signature: signature.to_string(),
            summary: summary.to_string(),
        });
        self
    }
}
