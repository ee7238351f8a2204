//! Reading a plugin function's arguments, and writing its answer: one way for every plugin.
//!
//! Scripts have no named arguments, so plugin functions take maps of options
//! (`coverage_window(#{ start: d, years: 3, km: 100000 })`). This module reads such a map
//! with [`Options`]: unknown keys are refused (a typo must not silently change a contract),
//! required and optional fields are converted to Rust types through [`FromArg`], and every
//! problem is an [`ArgError`] in one wording, naming the plugin and the field as a path into
//! what the script passed:
//!
//! ```text
//! maintenance: tasks[2].every.km: expected a number, found the string "15k"
//! ```
//!
//! `()` means absent everywhere: an optional field given `()` is absent, a required one given
//! `()` is missing. Answers go back as maps built with [`ResultMap`] from anything
//! [`IntoDynamic`] (a meter reading as a [`Quantity`], an integer when whole). [`lift`] and [`raise`] turn a plugin's error into the error a script's
//! caller sees; a meter exhaustion ([`crate::meter::charge`]) stays the limit that stopped
//! the evaluation.
//!
//! ```
//! use aftersale_core::plugin::args::{lift, ArgError, Options, ResultMap};
//! use aftersale_core::rhai::{Dynamic, Map};
//! use rust_decimal::Decimal;
//!
//! /// `discount(#{ price, percent, cap? })` for a plugin called `shop`.
//! fn discount(spec: &Map) -> Result<Map, ArgError> {
//!     let options = Options::at("shop", "discount", spec, &["price", "percent", "cap"])?;
//!     let price: Decimal = options.required("price")?;
//!     let percent: i64 = options.required("percent")?;
//!     let cap: Option<Decimal> = options.optional("cap")?;
//!     let mut off = price * Decimal::from(percent) / Decimal::from(100);
//!     if let Some(cap) = cap {
//!         off = off.min(cap);
//!     }
//!     Ok(ResultMap::new().with("off", off).with("capped", cap.is_some()).build())
//! }
//!
//! let mut spec = Map::new();
//! spec.insert("price".into(), Dynamic::from_decimal(Decimal::new(20000, 2)));
//! spec.insert("percent".into(), Dynamic::from_int(10));
//! spec.insert("cap".into(), Dynamic::UNIT); // `()`: absent
//! let answer = lift(discount(&spec)).unwrap();
//! assert_eq!(answer["off"].as_decimal().unwrap(), Decimal::new(2000, 2));
//! assert_eq!(answer["capped"].as_bool().unwrap(), false);
//!
//! spec.insert("percent".into(), Dynamic::from("ten".to_string()));
//! assert_eq!(
//!     discount(&spec).unwrap_err().to_string(),
//!     "shop: discount.percent: expected an integer, found the string \"ten\""
//! );
//! spec.insert("precent".into(), Dynamic::from_int(10));
//! assert_eq!(
//!     discount(&spec).unwrap_err().to_string(),
//!     "shop: discount.precent: unknown key (allowed: price, percent, cap)"
//! );
//! ```

use rhai::{Array, Dynamic, EvalAltResult, Map, Position, INT};
use rust_decimal::Decimal;

use crate::meter::Exhausted;
use crate::time::{Date, DateTime};

/// An argument a plugin function cannot use: the wrong type, a missing field, an unknown key,
/// or a value of the right type that does not parse. Every message starts with the plugin
/// and the field, a path into what the script passed (`plan.items[2].interval_km`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// A field holds a value of the wrong type.
    #[error("{plugin}: {field}: expected {expected}, found {found}")]
    WrongType {
        /// The plugin reading it.
        plugin: String,
        /// The field's path.
        field: String,
        /// What the field takes (`a date or a YYYY-MM-DD string`).
        expected: String,
        /// What it holds, as [`describe`] names it.
        found: String,
    },
    /// A required field is absent, or `()`.
    #[error("{plugin}: {field}: expected {expected}, found nothing")]
    Missing {
        /// The plugin reading it.
        plugin: String,
        /// The field's path.
        field: String,
        /// What the field takes.
        expected: String,
    },
    /// A map has a key the function does not know (usually a typo).
    #[error("{plugin}: {field}: unknown key (allowed: {allowed})")]
    UnknownKey {
        /// The plugin reading it.
        plugin: String,
        /// The unknown key's path (`coverage_window.yeras`).
        field: String,
        /// The keys the map may have, comma-separated.
        allowed: String,
    },
    /// A value of the right type that cannot be used (a text that is not a date, ...).
    #[error("{plugin}: {field}: {message}")]
    Invalid {
        /// The plugin reading it.
        plugin: String,
        /// The field's path.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ArgError {
    /// The field the error is about, as a path (`tasks[2].every.km`).
    pub fn field(&self) -> &str {
        match self {
            ArgError::WrongType { field, .. }
            | ArgError::Missing { field, .. }
            | ArgError::UnknownKey { field, .. }
            | ArgError::Invalid { field, .. } => field,
        }
    }
}

/// Names a script value in an error message the way a contract author reads it: `the integer
/// 5`, `the string "x"`, `a map`, `the date 2025-02-28`, `()`.
///
/// ```
/// use aftersale_core::plugin::args::describe;
/// use aftersale_core::rhai::Dynamic;
/// assert_eq!(describe(&Dynamic::from_int(5)), "the integer 5");
/// assert_eq!(describe(&Dynamic::from("km".to_string())), "the string \"km\"");
/// ```
pub fn describe(value: &Dynamic) -> String {
    if value.is_unit() {
        "()".into()
    } else if let Ok(i) = value.as_int() {
        format!("the integer {i}")
    } else if let Ok(d) = value.as_decimal() {
        format!("the decimal {d}")
    } else if value.is_string() {
        format!("the string \"{value}\"")
    } else if value.is_map() {
        "a map".into()
    } else if value.is_array() {
        "an array".into()
    } else if let Ok(b) = value.as_bool() {
        format!("{b}")
    } else if let Some(date) = value.read_lock::<Date>() {
        // A custom type's `Display` on `Dynamic` is its type name: show the value itself.
        format!("the date {}", *date)
    } else if let Some(time) = value.read_lock::<DateTime>() {
        format!("the datetime {}", *time)
    } else {
        let name = value.type_name();
        let short = name.rsplit("::").next().unwrap_or(name);
        format!("a value of type `{short}`")
    }
}

/// Where an argument stands: the plugin reading it and the field's path. Errors made through
/// it name both.
///
/// ```
/// use aftersale_core::plugin::args::At;
/// let at = At::new("maintenance", "tasks").index(2).key("every");
/// assert_eq!(at.path(), "tasks[2].every");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<'p> {
    plugin: &'p str,
    path: String,
}

impl<'p> At<'p> {
    /// The field `path` of an argument read by `plugin` (an empty path: the top level).
    pub fn new(plugin: &'p str, path: impl Into<String>) -> Self {
        At {
            plugin,
            path: path.into(),
        }
    }

    /// The plugin reading the argument.
    pub fn plugin(&self) -> &'p str {
        self.plugin
    }

    /// The field's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The field `key` of this map (`policy.targets`).
    pub fn key(&self, key: &str) -> At<'p> {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        At::new(self.plugin, path)
    }

    /// The element `i` of this array (`events[3]`).
    pub fn index(&self, i: usize) -> At<'p> {
        At::new(self.plugin, format!("{}[{i}]", self.path))
    }

    /// Reads `value` here as a `T`.
    pub fn read<T: FromArg>(&self, value: &Dynamic) -> Result<T, ArgError> {
        if value.is_unit() {
            return Err(self.missing(T::EXPECTED));
        }
        T::from_arg(value, self)
    }

    /// Reads the map `value` here as options with the keys `allowed`.
    pub fn options<'m>(
        &self,
        value: &'m Dynamic,
        allowed: &[&str],
    ) -> Result<OwnedOptions<'p>, ArgError> {
        let map: Map = self.read(value)?;
        check_keys(&map, self, allowed)?;
        Ok(OwnedOptions {
            at: self.clone(),
            map,
        })
    }

    /// Reads the map `value` here whatever its keys (a record with meter names beside its
    /// known fields): the caller checks the keys it takes.
    pub fn open(&self, value: &Dynamic) -> Result<OwnedOptions<'p>, ArgError> {
        let map: Map = self.read(value)?;
        Ok(OwnedOptions {
            at: self.clone(),
            map,
        })
    }

    /// The value here is not what the field takes.
    pub fn wrong_type(&self, expected: impl Into<String>, value: &Dynamic) -> ArgError {
        ArgError::WrongType {
            plugin: self.plugin.to_string(),
            field: self.path.clone(),
            expected: expected.into(),
            found: describe(value),
        }
    }

    /// The field is absent (or `()`), and it must hold `expected`.
    pub fn missing(&self, expected: impl Into<String>) -> ArgError {
        ArgError::Missing {
            plugin: self.plugin.to_string(),
            field: self.path.clone(),
            expected: expected.into(),
        }
    }

    /// The value here has the right type but cannot be used, for the reason `message`.
    pub fn invalid(&self, message: impl Into<String>) -> ArgError {
        ArgError::Invalid {
            plugin: self.plugin.to_string(),
            field: self.path.clone(),
            message: message.into(),
        }
    }
}

fn check_keys(map: &Map, at: &At<'_>, allowed: &[&str]) -> Result<(), ArgError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(ArgError::UnknownKey {
            plugin: at.plugin.to_string(),
            field: at.key(key).path,
            allowed: allowed.join(", "),
        }),
        None => Ok(()),
    }
}

/// A script value a plugin function can take: implemented for the core's types, and by a
/// plugin for its own (a plan, a policy) so that [`Options::required`] reads them too.
///
/// ```
/// use aftersale_core::plugin::args::{ArgError, At, FromArg};
/// use aftersale_core::rhai::Dynamic;
///
/// /// `"or"` or `"and"`.
/// #[derive(Debug, PartialEq)]
/// enum Link { Or, And }
///
/// impl FromArg for Link {
///     const EXPECTED: &'static str = "\"or\" or \"and\"";
///     fn from_arg(value: &Dynamic, at: &At<'_>) -> Result<Self, ArgError> {
///         match String::from_arg(value, at)?.as_str() {
///             "or" => Ok(Link::Or),
///             "and" => Ok(Link::And),
///             _ => Err(at.wrong_type(Self::EXPECTED, value)),
///         }
///     }
/// }
/// let at = At::new("maintenance", "link");
/// assert_eq!(at.read::<Link>(&Dynamic::from("or".to_string())), Ok(Link::Or));
/// ```
pub trait FromArg: Sized {
    /// What the type takes, as an error message says it after "expected" (`a date`).
    const EXPECTED: &'static str;

    /// Reads `value` found at `at`. A field given `()` is absent and never reaches this; an
    /// array's element may be `()`.
    fn from_arg(value: &Dynamic, at: &At<'_>) -> Result<Self, ArgError>;
}

impl FromArg for INT {
    const EXPECTED: &'static str = "an integer";
    fn from_arg(value: &Dynamic, at: &At<'_>) -> Result<Self, ArgError> {
        value
            .as_int()
            .map_err(|_| at.wrong_type(Self::EXPECTED, value))
    }
}

impl FromArg for bool {
    const EXPECTED: &'static str = "true or false";
    fn from_arg(value: &Dynamic, at: &At<'_>) -> Result<Self, ArgError> {
        value
            .as_bool()
            .map_err(|_| at.wrong_type(Self::EXPECTED, value))
    }
}

impl FromArg for String {
    const EXPECTED: &'static str = "a string";
    fn from_arg(value: &Dynamic, at: &At<'_>) -> Result<Self, ArgError> {
        if value.is_string() {
            Ok(value.to_string())
        } else {
            Err(at.wrong_type(Self::EXPECTED, value))
        }
    }
}

/// An integer or a decimal: scripts write `15000` and `0.5` alike.
impl FromArg for Decimal {
    const EXPECTED: &'static str = "a number";
    fn from_arg(value: &Dynamic, at: &At<'_>) -> Result<Self, ArgError> {
        if let Ok(i) = value.as_int() {
            return Ok(Decimal::from(i));
        }
        value
            .as_decimal()
            .map_err(|_| at.wrong_type(Self::EXPECTED, value))
    }
}

/// A date, or a `YYYY-MM-DD` string (as untyped facts carry them).
impl FromArg for Date {
    const EXPECTED: &'static str = "a date or a YYYY-MM-DD string";
    fn from_arg(value: &Dynamic, at: &At<'_>) -> Result<Self, ArgError> {
        if let Some(d) = value.read_lock::<Date>() {
            return Ok(*d);
        }
        if value.is_string() {
            return Date::parse(&value.to_string()).map_err(|message| at.invalid(message));
        }
        Err(at.wrong_type(Self::EXPECTED, value))
    }
}

/// A datetime (a text needs a time zone to be read: parse it where the zone is known).
impl FromArg for DateTime {
    const EXPECTED: &'static str = "a datetime";
    fn from_arg(value: &Dynamic, at: &At<'_>) -> Result<Self, ArgError> {
        value
            .read_lock::<DateTime>()
            .map(|t| *t)
            .ok_or_else(|| at.wrong_type(Self::EXPECTED, value))
    }
}

impl FromArg for Map {
    const EXPECTED: &'static str = "a map";
    fn from_arg(value: &Dynamic, at: &At<'_>) -> Result<Self, ArgError> {
        value
            .read_lock::<Map>()
            .map(|m| m.clone())
            .ok_or_else(|| at.wrong_type(Self::EXPECTED, value))
    }
}

/// Any value, as given.
impl FromArg for Dynamic {
    const EXPECTED: &'static str = "a value";
    fn from_arg(value: &Dynamic, _at: &At<'_>) -> Result<Self, ArgError> {
        Ok(value.clone())
    }
}

/// An array whose every element is a `T` (an [`Array`] itself is `Vec<Dynamic>`); an
/// element's error names its index (`holidays[2]`).
impl<T: FromArg> FromArg for Vec<T> {
    const EXPECTED: &'static str = "an array";
    fn from_arg(value: &Dynamic, at: &At<'_>) -> Result<Self, ArgError> {
        let Some(items) = value.read_lock::<Array>() else {
            return Err(at.wrong_type(Self::EXPECTED, value));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| T::from_arg(item, &at.index(i)))
            .collect()
    }
}

/// A map of options read by a plugin function: known keys only, fields converted on demand.
/// `()` is absent: [`Options::optional`] gives `None` for it, [`Options::required`] an
/// [`ArgError::Missing`].
#[derive(Debug, Clone)]
pub struct Options<'m, 'p> {
    at: At<'p>,
    map: &'m Map,
}

impl<'m, 'p> Options<'m, 'p> {
    /// The top-level options of a function of `plugin`: fields are named by their key alone.
    /// An error if `map` has a key not in `allowed`.
    pub fn new(plugin: &'p str, map: &'m Map, allowed: &[&str]) -> Result<Self, ArgError> {
        Self::at(plugin, "", map, allowed)
    }

    /// The options at `path` (a function's name, or a path into its arguments): fields are
    /// named `path.key`. An error if `map` has a key not in `allowed`.
    pub fn at(
        plugin: &'p str,
        path: impl Into<String>,
        map: &'m Map,
        allowed: &[&str],
    ) -> Result<Self, ArgError> {
        let at = At::new(plugin, path);
        check_keys(map, &at, allowed)?;
        Ok(Options { at, map })
    }

    /// The map at `path` read whatever its keys (meter names, weekdays, a ticket's fields):
    /// the caller checks the keys it takes.
    pub fn open(plugin: &'p str, path: impl Into<String>, map: &'m Map) -> Self {
        Options {
            at: At::new(plugin, path),
            map,
        }
    }

    /// Where these options stand.
    pub fn here(&self) -> &At<'p> {
        &self.at
    }

    /// Where the field `key` stands, for errors a plugin finds in its value.
    pub fn field(&self, key: &str) -> At<'p> {
        self.at.key(key)
    }

    /// The value of `key`, unless it is absent or `()`.
    pub fn get(&self, key: &str) -> Option<&'m Dynamic> {
        self.map.get(key).filter(|v| !v.is_unit())
    }

    /// The field `key` as a `T`; absent or `()` is an error.
    pub fn required<T: FromArg>(&self, key: &str) -> Result<T, ArgError> {
        let at = self.field(key);
        match self.get(key) {
            Some(value) => T::from_arg(value, &at),
            None => Err(at.missing(T::EXPECTED)),
        }
    }

    /// The field `key` as a `T`, or `None` when absent or `()`.
    pub fn optional<T: FromArg>(&self, key: &str) -> Result<Option<T>, ArgError> {
        self.get(key)
            .map(|value| T::from_arg(value, &self.field(key)))
            .transpose()
    }

    /// The field `key` as a `T`, or `default` when absent or `()`.
    pub fn optional_with<T: FromArg>(&self, key: &str, default: T) -> Result<T, ArgError> {
        Ok(self.optional(key)?.unwrap_or(default))
    }

    /// The nested options under `key` (absent or `()`: `None`), with the keys `allowed`.
    pub fn nested(
        &self,
        key: &str,
        allowed: &[&str],
    ) -> Result<Option<OwnedOptions<'p>>, ArgError> {
        self.get(key)
            .map(|value| self.field(key).options(value, allowed))
            .transpose()
    }
}

/// [`Options`] holding their own copy of a map read out of a script value (a nested map, an
/// array's element).
#[derive(Debug, Clone)]
pub struct OwnedOptions<'p> {
    at: At<'p>,
    map: Map,
}

impl<'p> OwnedOptions<'p> {
    /// The options, to read fields from.
    pub fn options(&self) -> Options<'_, 'p> {
        Options {
            at: self.at.clone(),
            map: &self.map,
        }
    }

    /// The map itself.
    pub fn map(&self) -> &Map {
        &self.map
    }
}

/// A Rust value a plugin hands back to scripts.
pub trait IntoDynamic {
    /// The script value.
    fn into_dynamic(self) -> Dynamic;
}

impl IntoDynamic for Dynamic {
    fn into_dynamic(self) -> Dynamic {
        self
    }
}

impl IntoDynamic for INT {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from_int(self)
    }
}

impl IntoDynamic for u32 {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from_int(INT::from(self))
    }
}

/// A count: saturates at the largest integer a script holds.
impl IntoDynamic for u64 {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from_int(INT::try_from(self).unwrap_or(INT::MAX))
    }
}

/// A count: saturates at the largest integer a script holds.
impl IntoDynamic for usize {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from_int(INT::try_from(self).unwrap_or(INT::MAX))
    }
}

impl IntoDynamic for bool {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from_bool(self)
    }
}

impl IntoDynamic for String {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from(self)
    }
}

impl IntoDynamic for &str {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from(self.to_string())
    }
}

impl IntoDynamic for &String {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from(self.clone())
    }
}

impl IntoDynamic for Decimal {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from_decimal(self)
    }
}

/// A measured amount (a meter reading, a number of hours) as scripts like it: an integer
/// when it is whole and fits one, so that `km` stays an integer; else the exact decimal, as
/// given (normalise it first for the fewest digits).
///
/// ```
/// use aftersale_core::plugin::args::{IntoDynamic, Quantity};
/// use rust_decimal::Decimal;
/// assert_eq!(Quantity(Decimal::new(1500000, 2)).into_dynamic().as_int(), Ok(15000));
/// let half = Quantity(Decimal::new(23505, 1)).into_dynamic();
/// assert_eq!(half.as_decimal(), Ok(Decimal::new(23505, 1)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(pub Decimal);

impl IntoDynamic for Quantity {
    fn into_dynamic(self) -> Dynamic {
        if self.0.fract().is_zero() {
            if let Ok(i) = INT::try_from(self.0) {
                return Dynamic::from_int(i);
            }
        }
        Dynamic::from_decimal(self.0)
    }
}

impl IntoDynamic for Date {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from(self)
    }
}

impl IntoDynamic for DateTime {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from(self)
    }
}

impl IntoDynamic for Map {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from_map(self)
    }
}

impl IntoDynamic for ResultMap {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from_map(self.0)
    }
}

/// `None` is `()`: scripts test `if x.due == ()`.
impl<T: IntoDynamic> IntoDynamic for Option<T> {
    fn into_dynamic(self) -> Dynamic {
        self.map_or(Dynamic::UNIT, IntoDynamic::into_dynamic)
    }
}

/// An array of the elements' values (an [`Array`] as it is).
impl<T: IntoDynamic> IntoDynamic for Vec<T> {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from_array(self.into_iter().map(IntoDynamic::into_dynamic).collect())
    }
}

/// A rhai map a plugin function answers with, built field by field from Rust values.
///
/// ```
/// use aftersale_core::plugin::args::ResultMap;
/// let answer = ResultMap::new().with("covered", true).with("reason", None::<String>).build();
/// assert!(answer["reason"].is_unit());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResultMap(Map);

impl ResultMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The map with `key` set to `value`.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl IntoDynamic) -> Self {
        self.insert(key, value);
        self
    }

    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: &str, value: impl IntoDynamic) -> &mut Self {
        self.0.insert(key.into(), value.into_dynamic());
        self
    }

    /// The rhai map.
    pub fn build(self) -> Map {
        self.0
    }
}

/// A map of the pairs' values, keyed by their names (meters by unit, answers by task).
///
/// ```
/// use aftersale_core::plugin::args::ResultMap;
/// let m: ResultMap = [("km", 120_i64), ("hours", 3)].into_iter().collect();
/// assert_eq!(m.build()["km"].as_int(), Ok(120));
/// ```
impl<K: AsRef<str>, V: IntoDynamic> FromIterator<(K, V)> for ResultMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut map = ResultMap::new();
        for (key, value) in pairs {
            map.insert(key.as_ref(), value);
        }
        map
    }
}

/// A plugin's error type, as [`raise`] reports it to scripts: its message, or the limit it
/// carries when the plugin stopped on the evaluation's meter.
pub trait PluginError: std::fmt::Display {
    /// The meter exhaustion this error is, if it is one ([`crate::meter::charge`] failed).
    fn exhausted(&self) -> Option<Exhausted> {
        None
    }

    /// Whether the message already names the plugin (an [`ArgError`]): [`raise_in`] then adds
    /// no function name in front.
    fn names_plugin(&self) -> bool {
        false
    }
}

impl PluginError for ArgError {
    fn names_plugin(&self) -> bool {
        true
    }
}

/// A message of the plugin's own, raised as it is.
impl PluginError for String {}

impl PluginError for Exhausted {
    fn exhausted(&self) -> Option<Exhausted> {
        Some(*self)
    }
}

/// Implements [`PluginError`] for a plugin's error enum from the names of two of its
/// variants: the one holding an [`ArgError`] (its message already names the plugin) and the
/// one holding a meter [`Exhausted`] (raised as the limit). Every other variant is raised with
/// its message.
///
/// ```
/// use aftersale_core::meter::Exhausted;
/// use aftersale_core::plugin::args::{ArgError, PluginError};
///
/// #[derive(Debug, thiserror::Error)]
/// enum ShopError {
///     #[error(transparent)]
///     Args(#[from] ArgError),
///     #[error("the price must not be negative")]
///     Negative,
///     #[error(transparent)]
///     Exhausted(#[from] Exhausted),
/// }
/// aftersale_core::plugin_error!(ShopError { args: Args, exhausted: Exhausted });
///
/// assert!(ShopError::Negative.exhausted().is_none());
/// assert!(!ShopError::Negative.names_plugin());
/// ```
#[macro_export]
macro_rules! plugin_error {
    ($error:ty { args: $args:ident, exhausted: $exhausted:ident }) => {
        impl $crate::plugin::args::PluginError for $error {
            fn exhausted(&self) -> ::core::option::Option<$crate::meter::Exhausted> {
                match self {
                    Self::$exhausted(limit) => ::core::option::Option::Some(*limit),
                    _ => ::core::option::Option::None,
                }
            }

            fn names_plugin(&self) -> bool {
                ::core::matches!(self, Self::$args(_))
            }
        }
    };
}

/// A script runtime error carrying `message` only; the engine adds the term and position.
fn runtime(message: String) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message),
        Position::NONE,
    ))
}

/// The error a script's caller sees for a plugin's error: a runtime error with its message,
/// or, for a meter exhaustion, the limit that stopped the evaluation (as if the script had
/// reached it).
pub fn raise<E: PluginError>(error: E) -> Box<EvalAltResult> {
    match error.exhausted() {
        Some(limit) => limit.into(),
        None => runtime(error.to_string()),
    }
}

/// As [`raise`], with the message prefixed by the function that failed (`sla_clock: ...`)
/// unless it already names the plugin.
pub fn raise_in<E: PluginError>(function: &str, error: E) -> Box<EvalAltResult> {
    match error.exhausted() {
        Some(limit) => limit.into(),
        None if error.names_plugin() => runtime(error.to_string()),
        None => runtime(format!("{function}: {error}")),
    }
}

/// A plugin's result as a registered function returns it: the error [`raise`]d.
pub fn lift<T, E: PluginError>(result: Result<T, E>) -> Result<T, Box<EvalAltResult>> {
    result.map_err(raise)
}

/// A plugin's result as a registered function returns it, errors [`raise_in`] `function`.
pub fn lift_in<T, E: PluginError>(
    function: &str,
    result: Result<T, E>,
) -> Result<T, Box<EvalAltResult>> {
    result.map_err(|e| raise_in(function, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Dynamic)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect()
    }

    fn text(s: &str) -> Dynamic {
        Dynamic::from(s.to_string())
    }

    #[test]
    fn unknown_keys_are_refused_with_the_allowed_list() {
        let m = map(&[
            ("start", text("2025-01-01")),
            ("yeras", Dynamic::from_int(3)),
        ]);
        let err = Options::at("warranty", "coverage_window", &m, &["start", "years"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "warranty: coverage_window.yeras: unknown key (allowed: start, years)"
        );
    }

    #[test]
    fn unit_is_absent_for_optional_and_missing_for_required() {
        let m = map(&[("a", Dynamic::UNIT)]);
        let o = Options::new("p", &m, &["a", "b"]).unwrap();
        assert_eq!(o.optional::<INT>("a"), Ok(None));
        assert_eq!(o.optional::<INT>("b"), Ok(None));
        assert_eq!(o.optional_with::<INT>("a", 7), Ok(7));
        assert_eq!(
            o.required::<INT>("a").unwrap_err().to_string(),
            "p: a: expected an integer, found nothing"
        );
        assert_eq!(
            o.required::<Date>("b").unwrap_err().to_string(),
            "p: b: expected a date or a YYYY-MM-DD string, found nothing"
        );
    }

    #[test]
    fn wrong_types_have_one_wording_with_nested_paths() {
        let item = Dynamic::from_map(map(&[("interval_km", text("15k"))]));
        let plan = Dynamic::from_map(map(&[(
            "items",
            Dynamic::from_array(vec![Dynamic::UNIT, Dynamic::UNIT, item]),
        )]));
        let top = map(&[("plan", plan)]);
        let o = Options::new("maintenance", &top, &["plan"]).unwrap();
        let plan = o.nested("plan", &["items"]).unwrap().unwrap();
        let items: Array = plan.options().required("items").unwrap();
        let third = plan.options().field("items").index(2);
        let third = third.options(&items[2], &["interval_km"]).unwrap();
        let err = third
            .options()
            .required::<Decimal>("interval_km")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "maintenance: plan.items[2].interval_km: expected a number, found the string \"15k\""
        );
        assert_eq!(err.field(), "plan.items[2].interval_km");
    }

    #[test]
    fn conversions_read_each_core_type() {
        let at = At::new("p", "x");
        assert_eq!(at.read::<INT>(&Dynamic::from_int(4)), Ok(4));
        assert_eq!(at.read::<bool>(&Dynamic::from_bool(true)), Ok(true));
        assert_eq!(at.read::<String>(&text("a")), Ok("a".to_string()));
        assert_eq!(
            at.read::<Decimal>(&Dynamic::from_int(2)),
            Ok(Decimal::from(2))
        );
        assert_eq!(
            at.read::<Decimal>(&Dynamic::from_decimal(Decimal::new(15, 1))),
            Ok(Decimal::new(15, 1))
        );
        let day = Date::parse("2024-02-29").unwrap();
        assert_eq!(at.read::<Date>(&text("2024-02-29")), Ok(day));
        assert_eq!(at.read::<Date>(&Dynamic::from(day)), Ok(day));
        assert!(matches!(
            at.read::<Date>(&text("2023-02-29")),
            Err(ArgError::Invalid { .. })
        ));
        assert_eq!(
            at.read::<Vec<INT>>(&Dynamic::from_array(vec![Dynamic::from_int(1)])),
            Ok(vec![1])
        );
        assert_eq!(
            at.read::<Vec<String>>(&Dynamic::from_array(vec![text("a"), Dynamic::from_int(1)]))
                .unwrap_err()
                .to_string(),
            "p: x[1]: expected a string, found the integer 1"
        );
        assert_eq!(
            at.read::<bool>(&text("no")).unwrap_err().to_string(),
            "p: x: expected true or false, found the string \"no\""
        );
    }

    #[test]
    fn result_maps_hold_the_values_given() {
        let day = Date::parse("2025-03-31").unwrap();
        let m = ResultMap::new()
            .with("n", 3usize)
            .with("on", day)
            .with("none", None::<Date>)
            .with("list", vec!["a", "b"])
            .build();
        assert_eq!(m["n"].as_int(), Ok(3));
        assert_eq!(*m["on"].read_lock::<Date>().unwrap(), day);
        assert!(m["none"].is_unit());
        assert_eq!(m["list"].clone().into_array().unwrap().len(), 2);
    }

    /// A plugin's error enum as [`plugin_error!`] takes it.
    #[derive(Debug, thiserror::Error)]
    enum Refused {
        #[error(transparent)]
        Args(#[from] ArgError),
        #[error("no such part")]
        NoPart,
        #[error(transparent)]
        Exhausted(#[from] Exhausted),
    }
    crate::plugin_error!(Refused {
        args: Args,
        exhausted: Exhausted
    });

    #[test]
    fn plugin_error_raises_arguments_as_they_are_and_limits_as_limits() {
        let bad = Refused::from(At::new("p", "x").invalid("bad"));
        assert!(bad.names_plugin() && bad.exhausted().is_none());
        assert_eq!(raise_in("f", bad).to_string(), "Runtime error: p: x: bad");
        assert!(!Refused::NoPart.names_plugin());
        assert_eq!(
            raise_in("f", Refused::NoPart).to_string(),
            "Runtime error: f: no such part"
        );
    }

    #[test]
    fn dates_are_described_by_their_value() {
        let day = Date::parse("2025-02-28").unwrap();
        assert_eq!(describe(&Dynamic::from(day)), "the date 2025-02-28");
        assert_eq!(
            At::new("p", "x")
                .read::<Decimal>(&Dynamic::from(day))
                .unwrap_err()
                .to_string(),
            "p: x: expected a number, found the date 2025-02-28"
        );
    }

    #[test]
    fn quantities_are_integers_when_whole_and_exact_decimals_else() {
        assert_eq!(
            Quantity(Decimal::new(15000, 0)).into_dynamic().as_int(),
            Ok(15000)
        );
        assert_eq!(
            Quantity(Decimal::new(150, 2)).into_dynamic().as_decimal(),
            Ok(Decimal::new(150, 2))
        );
        assert_eq!(
            Quantity(Decimal::new(300, 2)).into_dynamic().as_int(),
            Ok(3)
        );
        // whole, yet beyond an integer: stays the decimal
        let huge = Decimal::from(INT::MAX) * Decimal::from(10);
        assert_eq!(Quantity(huge).into_dynamic().as_decimal(), Ok(huge));
        assert_eq!(u64::MAX.into_dynamic().as_int(), Ok(INT::MAX));
    }

    #[test]
    fn result_maps_collect_named_pairs() {
        let meters = std::collections::BTreeMap::from([
            ("km".to_string(), Quantity(Decimal::from(12))),
            ("hours".to_string(), Quantity(Decimal::new(5, 1))),
        ]);
        let m = meters
            .iter()
            .map(|(u, v)| (u, *v))
            .collect::<ResultMap>()
            .build();
        assert_eq!(m.len(), 2);
        assert_eq!(m["km"].as_int(), Ok(12));
        assert_eq!(m["hours"].as_decimal(), Ok(Decimal::new(5, 1)));
    }

    #[test]
    fn open_records_take_any_key_and_name_their_fields() {
        let record = Dynamic::from_map(map(&[("date", text("2025-01-10")), ("km", text("many"))]));
        let at = At::new("p", "services").index(0);
        let open = at.open(&record).unwrap();
        let date: Date = open.options().required("date").unwrap();
        assert_eq!(date, Date::parse("2025-01-10").unwrap());
        assert_eq!(
            open.options()
                .required::<Decimal>("km")
                .unwrap_err()
                .to_string(),
            "p: services[0].km: expected a number, found the string \"many\""
        );
        assert_eq!(
            at.open(&Dynamic::from_int(3)).unwrap_err().to_string(),
            "p: services[0]: expected a map, found the integer 3"
        );
    }

    #[test]
    fn an_argument_error_is_a_runtime_error_naming_the_plugin_once() {
        let bad: Result<(), ArgError> = Err(At::new("p", "x").invalid("bad"));
        let err = lift_in("f", bad).unwrap_err();
        assert!(matches!(*err, EvalAltResult::ErrorRuntime(..)));
        assert_eq!(err.to_string(), "Runtime error: p: x: bad");
    }

    /// Counts to `n`, charging each step, so that a low `max_operations` stops it.
    fn count(n: INT) -> Result<INT, Exhausted> {
        for _ in 0..n {
            crate::meter::charge(1)?;
        }
        Ok(n)
    }

    struct Counter;
    impl crate::Plugin for Counter {
        fn name(&self) -> &str {
            "counter"
        }
        fn register(&self, r: &mut super::super::Registrar<'_>, _ctx: &crate::PluginContext) {
            r.register_fn("count", |n: INT| lift(count(n)));
            r.register_fn("count_refused", |n: INT| {
                lift_in("count_refused", count(n).map_err(Refused::from))
            });
        }
    }

    #[test]
    fn a_meter_exhaustion_stays_the_limit() {
        let engine = crate::Engine::builder().plugin(Counter).build();
        // directly, and through a plugin's error enum (`plugin_error!`)
        for function in ["count", "count_refused"] {
            let bundle = crate::BundleSource::new("c")
                .with_file(
                    "contract.toml",
                    "[contract]\nid = \"c\"\nversion = \"1\"\nplugins = [\"counter\"]\n\n[limits]\nmax_operations = 1000\n\n[terms.a]\n",
                )
                .with_file("terms/a.rhai", format!("{function}(facts.n)"));
            let contract = engine.load(&bundle).unwrap();
            let as_of = contract.parse_as_of("2026-01-01").unwrap();
            let small = crate::Request::new(serde_json::json!({"n": 10}), as_of);
            assert_eq!(
                contract.evaluate(&small).unwrap().outputs["a"],
                serde_json::json!(10)
            );
            let large = crate::Request::new(serde_json::json!({"n": 100000}), as_of);
            let err = contract.evaluate(&large).unwrap_err();
            assert!(matches!(err, crate::EvalError::Limit { .. }), "{err}");
            assert!(err.to_string().contains("max_operations"), "{err}");
        }
    }
}
