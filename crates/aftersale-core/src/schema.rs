//! The facts schema: `[facts.<name>]` tables in `contract.toml` that say what facts a
//! contract takes, and the check every request's facts pass before any term runs.
//!
//! ```toml
//! [facts.in_service_date]
//! type = "date"
//! min = 2015-01-01
//!
//! [facts.odometer_km]
//! type = "integer"
//! min = 0
//! max = 400000
//!
//! [facts.component]
//! type = "enum"
//! values = ["engine", "electrical", "tyres"]
//!
//! [facts.services]
//! type = "array"
//! optional = true
//! max_items = 20
//! items = { type = "object", fields = { date = { type = "date" }, km = { type = "integer", min = 0 } } }
//! ```
//!
//! Types: `boolean`, `integer` (`min`, `max`), `decimal` (`min`, `max`, `scale`: most digits
//! after the point), `string` (`min_length`, `max_length`), `enum` (`values`), `date` and
//! `datetime` (`min`, `max`, inclusive; `local = true` also takes a date-time without offset,
//! read in the contract's time zone), `object` (`fields`, `additional`: whether fields the
//! schema does not name are allowed, default no) and `array` (`items`, `min_items`,
//! `max_items`, `sorted_by`: fields of object elements that never go down from one element to
//! the next, such as a history's dates and readings). Every field is required unless `optional = true`; `null` is never a value
//! of a typed field. The top level is an object without additional fields.
//!
//! Validation reports every problem at once, each with its path and what was expected:
//! `facts.odometer_km: expected an integer between 0 and 400000, found -5`.
//!
//! [`FactSchema::bind`] checks the facts and builds what scripts see in one walk, so each
//! value is read once ([`FactSchema::validate`] is the same walk, building nothing). With
//! `[contract] typed_facts = true`, a `date` fact is bound as a [`Date`], a `datetime` as a
//! [`crate::time::DateTime`], a `decimal` as a `Decimal`, and an optional field may declare
//! `default = ...` (checked against its type at load), taken when the facts leave it out;
//! without it, the value is [`crate::value::json_to_dynamic`]'s and defaults are refused.
//!
//! A contract may also declare `[as_of]` (`min`, `max`, and `type` `date` or `datetime`):
//! the range of evaluation instants that the QA tools generate. Evaluation does not check it.

use std::collections::BTreeMap;
use std::fmt;

use rhai::{Array, Dynamic, Map};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toml::Spanned;

use crate::error::LoadError;
use crate::manifest::manifest_location;
use crate::time::Date;
use crate::value::json_number_as_decimal;
use chrono_tz::Tz;

/// A field as written in `contract.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The type name.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// What the fact is.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the field may be absent.
    #[serde(default)]
    pub optional: bool,
    /// Lower bound (integer, decimal, date, datetime), inclusive.
    #[serde(default)]
    pub min: Option<Spanned<toml::Value>>,
    /// Upper bound, inclusive.
    #[serde(default)]
    pub max: Option<Spanned<toml::Value>>,
    /// Most digits after the decimal point (decimal).
    #[serde(default)]
    pub scale: Option<Spanned<u32>>,
    /// Allowed values (enum).
    #[serde(default)]
    pub values: Option<Spanned<Vec<String>>>,
    /// Fewest characters (string).
    #[serde(default)]
    pub min_length: Option<Spanned<usize>>,
    /// Most characters (string).
    #[serde(default)]
    pub max_length: Option<Spanned<usize>>,
    /// Fields (object).
    #[serde(default)]
    pub fields: Option<BTreeMap<Spanned<String>, FieldSpec>>,
    /// Whether fields not named are allowed (object).
    #[serde(default)]
    pub additional: Option<Spanned<bool>>,
    /// The element type (array).
    #[serde(default)]
    pub items: Option<Box<FieldSpec>>,
    /// Fewest elements (array).
    #[serde(default)]
    pub min_items: Option<Spanned<usize>>,
    /// Most elements (array).
    #[serde(default)]
    pub max_items: Option<Spanned<usize>>,
    /// Whether a datetime may omit its offset, read then as local time in the contract's
    /// time zone (datetime).
    #[serde(default)]
    pub local: Option<Spanned<bool>>,
    /// Fields of the elements (array of objects) that never go down from one element to the
    /// next: a history in date order, readings that only grow.
    #[serde(default)]
    pub sorted_by: Option<Spanned<Vec<String>>>,
    /// The value an optional field takes when the facts leave it out (contracts with
    /// `typed_facts` only).
    #[serde(default)]
    pub default: Option<Spanned<toml::Value>>,
}

/// `[as_of]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsOfSpec {
    /// `date` (default) or `datetime`.
    #[serde(default, rename = "type")]
    pub kind: Option<Spanned<String>>,
    /// Earliest instant generated.
    pub min: Spanned<toml::Value>,
    /// Latest instant generated.
    pub max: Spanned<toml::Value>,
}

/// A typed field of the schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// Its type and bounds.
    #[serde(flatten)]
    pub ty: FieldType,
    /// Whether it may be absent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// What it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The value it takes when absent (optional fields of contracts with `typed_facts`), as
    /// the JSON the facts would carry; checked against the type at load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// A field's type with its bounds; every bound is inclusive.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FieldType {
    /// `true` or `false`.
    Boolean,
    /// A whole number (64-bit).
    Integer {
        /// Lower bound.
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<i64>,
        /// Upper bound.
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<i64>,
    },
    /// An exact decimal number.
    Decimal {
        /// Lower bound.
        #[serde(skip_serializing_if = "Option::is_none", with = "opt_decimal")]
        min: Option<Decimal>,
        /// Upper bound.
        #[serde(skip_serializing_if = "Option::is_none", with = "opt_decimal")]
        max: Option<Decimal>,
        /// Most digits after the point.
        #[serde(skip_serializing_if = "Option::is_none")]
        scale: Option<u32>,
    },
    /// Text.
    String {
        /// Fewest characters.
        #[serde(skip_serializing_if = "is_zero")]
        min_length: usize,
        /// Most characters.
        #[serde(skip_serializing_if = "Option::is_none")]
        max_length: Option<usize>,
    },
    /// One of a list of strings.
    Enum {
        /// The allowed values.
        values: Vec<String>,
    },
    /// A calendar date, `YYYY-MM-DD`.
    Date {
        /// Earliest.
        #[serde(skip_serializing_if = "Option::is_none", with = "opt_display")]
        min: Option<Date>,
        /// Latest.
        #[serde(skip_serializing_if = "Option::is_none", with = "opt_display")]
        max: Option<Date>,
    },
    /// An RFC 3339 instant with its offset (or, with `local`, a date-time without one, read
    /// in the contract's time zone).
    #[serde(rename = "datetime")]
    DateTime {
        /// Earliest.
        #[serde(skip_serializing_if = "Option::is_none", with = "opt_datetime")]
        min: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Latest.
        #[serde(skip_serializing_if = "Option::is_none", with = "opt_datetime")]
        max: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Whether the offset may be left out (local time in the contract's zone).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        local: bool,
    },
    /// An object with named fields.
    Object {
        /// Its fields, in name order.
        fields: Vec<Field>,
        /// Whether fields not named are allowed.
        additional: bool,
    },
    /// A list of values of one type.
    Array {
        /// The element type.
        items: Box<FieldType>,
        /// Fewest elements.
        #[serde(skip_serializing_if = "is_zero")]
        min_items: usize,
        /// Most elements.
        #[serde(skip_serializing_if = "Option::is_none")]
        max_items: Option<usize>,
        /// Element fields that never go down along the array.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        sorted_by: Vec<String>,
    },
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if signature"
)]
fn is_zero(n: &usize) -> bool {
    *n == 0
}

mod opt_decimal {
    use rust_decimal::Decimal;
    use serde::Serializer;

    #[allow(clippy::ref_option, reason = "serde's `with` signature")]
    pub fn serialize<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => serde::Serialize::serialize(&crate::value::decimal_to_json(*d), s),
            None => s.serialize_none(),
        }
    }
}

mod opt_display {
    use serde::Serializer;

    #[allow(clippy::ref_option, reason = "serde's `with` signature")]
    pub fn serialize<S: Serializer, T: std::fmt::Display>(
        d: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(d),
            None => s.serialize_none(),
        }
    }
}

mod opt_datetime {
    use serde::Serializer;

    #[allow(clippy::ref_option, reason = "serde's `with` signature")]
    pub fn serialize<S: Serializer>(
        d: &Option<chrono::DateTime<chrono::FixedOffset>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&d.to_rfc3339()),
            None => s.serialize_none(),
        }
    }
}

/// The facts a contract takes: a top-level object of typed fields, plus the range of
/// evaluation instants to generate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactSchema {
    /// The top-level fields, in name order.
    pub fields: Vec<Field>,
    /// `[as_of]`: a `Date` or `DateTime` type with both bounds, when declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<FieldType>,
    /// The contract's time zone: where `local` datetimes are read.
    #[serde(skip)]
    pub zone: Tz,
    /// `[contract] typed_facts`: whether [`FactSchema::bind`] hands scripts dates, datetimes
    /// and decimals as such (and fills in defaults) rather than as the JSON wrote them.
    #[serde(skip)]
    pub typed: bool,
}

/// Why [`FactSchema::bind`] produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// The facts fail the schema: every problem, in the order [`FactSchema::validate`] gives.
    #[error("the facts fail the schema ({} problems)", .0.len())]
    Rejected(Vec<FactProblem>),
    /// The facts fit the schema, but a value the schema does not describe (a field of an
    /// object with `additional = true`) has no script form: what and where, as
    /// [`crate::value::json_to_dynamic`] words it.
    #[error("{0}")]
    Invalid(String),
}

/// What a walk over the facts builds besides its problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Build {
    /// Nothing: only the problems ([`FactSchema::validate`]).
    Nothing,
    /// The value [`crate::value::json_to_dynamic`] gives: dates and datetimes stay strings,
    /// whole numbers integers.
    Plain,
    /// Typed: dates, datetimes and decimals as the core's types, defaults filled in.
    Typed,
}

/// One walk's state: what to build, the problems found, and whether a value outside the
/// schema failed to convert.
struct Walk<'p> {
    build: Build,
    zone: Tz,
    problems: &'p mut Vec<FactProblem>,
    unconvertible: bool,
}

impl Walk<'_> {
    fn building(&self) -> bool {
        self.build != Build::Nothing
    }

    fn text(&self, s: &str) -> Dynamic {
        if self.building() {
            Dynamic::from(rhai::ImmutableString::from(s))
        } else {
            Dynamic::UNIT
        }
    }
}

/// One way the facts fail the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactProblem {
    /// Where, for example `facts.services[2].km`.
    pub path: String,
    /// What was expected and found.
    pub message: String,
}

impl fmt::Display for FactProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl FactSchema {
    /// The top level as an object type (no additional fields).
    pub fn root(&self) -> FieldType {
        FieldType::Object {
            fields: self.fields.clone(),
            additional: false,
        }
    }

    /// Checks `facts` and returns every problem found (empty: the facts are valid). The same
    /// walk as [`FactSchema::bind`], building nothing.
    pub fn validate(&self, facts: &Value) -> Vec<FactProblem> {
        let mut problems = Vec::new();
        let _unbuilt = self.walk(facts, Build::Nothing, &mut problems);
        problems
    }

    /// Checks `facts` and, when they pass, returns them as scripts see them, in one walk:
    /// each value is read once, both to check it and to convert it. Without `typed_facts`
    /// the value is exactly [`crate::value::json_to_dynamic`]'s (dates and datetimes as
    /// strings, whole numbers as integers); with it, a `date` is a [`Date`], a `datetime` a
    /// [`crate::time::DateTime`], a `decimal` always a `Decimal`, and an absent optional
    /// field with a `default` takes it. The problems are [`FactSchema::validate`]'s, in its
    /// order.
    pub fn bind(&self, facts: &Value) -> Result<Dynamic, BindError> {
        let build = if self.typed {
            Build::Typed
        } else {
            Build::Plain
        };
        let mut problems = Vec::new();
        let (value, unconvertible) = self.walk(facts, build, &mut problems);
        if !problems.is_empty() {
            return Err(BindError::Rejected(problems));
        }
        if unconvertible {
            // Rare (a number beyond a decimal in a field the schema does not describe): the
            // one conversion words it, with the path of the first such value.
            return Err(BindError::Invalid(
                crate::value::json_to_dynamic(facts, "facts")
                    .err()
                    .unwrap_or_else(|| "facts: a value has no script form".into()),
            ));
        }
        Ok(value)
    }

    fn walk(
        &self,
        facts: &Value,
        build: Build,
        problems: &mut Vec<FactProblem>,
    ) -> (Dynamic, bool) {
        let mut walk = Walk {
            build,
            zone: self.zone,
            problems,
            unconvertible: false,
        };
        let value = match facts {
            Value::Object(map) => {
                let at = At::Root("facts");
                bind_object(&self.fields, false, map, &at, &mut walk)
            }
            other => {
                walk.problems.push(FactProblem {
                    path: "facts".into(),
                    message: format!("expected an object, found {}", found(other)),
                });
                Dynamic::UNIT
            }
        };
        (value, walk.unconvertible)
    }
}

/// A short rendering of a JSON value for messages.
fn found(value: &Value) -> String {
    let text = match value {
        Value::Object(_) => "an object".to_string(),
        Value::Array(a) => format!("an array of {} elements", a.len()),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Where a value sits in the facts: `facts.services[2].date`. Checking a valid request builds
/// no text; the path is written out only for a problem.
#[derive(Clone, Copy)]
enum At<'a> {
    Root(&'a str),
    Field(&'a At<'a>, &'a str),
    Item(&'a At<'a>, usize),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root(name) => f.write_str(name),
            Self::Field(parent, name) => write!(f, "{parent}.{name}"),
            Self::Item(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn bind_object(
    fields: &[Field],
    additional: bool,
    map: &serde_json::Map<String, Value>,
    path: &At<'_>,
    walk: &mut Walk<'_>,
) -> Dynamic {
    let mut out = Map::new();
    for field in fields {
        let here = At::Field(path, &field.name);
        let value = match (map.get(&field.name), &field.default) {
            (None, Some(default)) if field.optional && walk.build == Build::Typed => {
                field.ty.bind(default, &here, walk)
            }
            (None, _) if field.optional => continue,
            (None, _) => {
                walk.problems.push(FactProblem {
                    path: here.to_string(),
                    message: format!("is required: expected {}", field.ty.expected()),
                });
                continue;
            }
            (Some(v), _) => field.ty.bind(v, &here, walk),
        };
        if walk.building() {
            out.insert(field.name.as_str().into(), value);
        }
    }
    if !additional {
        for key in map.keys() {
            if !fields.iter().any(|f| &f.name == key) {
                let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                walk.problems.push(FactProblem {
                    path: format!("{path}.{key}"),
                    message: format!(
                        "is not a field of the schema (fields: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                });
            }
        }
    } else if walk.building() {
        // Fields the schema allows without describing them reach scripts as plain JSON.
        for (key, value) in map {
            if !fields.iter().any(|f| &f.name == key) {
                match crate::value::json_to_dynamic_at(value, &"") {
                    Ok(v) => {
                        out.insert(key.as_str().into(), v);
                    }
                    Err(_) => walk.unconvertible = true,
                }
            }
        }
    }
    if walk.building() {
        Dynamic::from_map(out)
    } else {
        Dynamic::UNIT
    }
}

fn bounds<T: fmt::Display>(min: Option<&T>, max: Option<&T>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!(" between {a} and {b}"),
        (Some(a), None) => format!(" >= {a}"),
        (None, Some(b)) => format!(" <= {b}"),
        (None, None) => String::new(),
    }
}

fn within<T: PartialOrd>(v: &T, min: Option<&T>, max: Option<&T>) -> bool {
    min.map_or(true, |m| v >= m) && max.map_or(true, |m| v <= m)
}

/// How two values of a `sorted_by` field compare: numbers by value, dates and datetimes in
/// time, other strings as text; `None` when they do not compare.
pub fn compare_values(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            Some(json_number_as_decimal(x)?.cmp(&json_number_as_decimal(y)?))
        }
        (Value::String(x), Value::String(y)) => {
            if let (Ok(p), Ok(q)) = (Date::parse(x), Date::parse(y)) {
                return Some(p.cmp(&q));
            }
            if let (Some(p), Some(q)) = (parse_datetime(x), parse_datetime(y)) {
                return Some(p.cmp(&q));
            }
            Some(x.cmp(y))
        }
        _ => None,
    }
}

fn check_sorted(keys: &[String], list: &[Value], path: &At<'_>, problems: &mut Vec<FactProblem>) {
    for key in keys {
        let mut previous: Option<(usize, &Value)> = None;
        for (i, item) in list.iter().enumerate() {
            let Some(v) = item.get(key) else {
                continue;
            };
            if let Some((j, p)) = previous {
                if compare_values(p, v) == Some(std::cmp::Ordering::Greater) {
                    problems.push(FactProblem {
                        path: format!("{path}[{i}].{key}"),
                        message: format!(
                            "expected elements in ascending `{key}`, found {} after {} at [{j}]",
                            found(v),
                            found(p)
                        ),
                    });
                }
            }
            previous = Some((i, v));
        }
    }
}

/// Parses an RFC 3339 instant with its offset.
/// More than 9 fractional-second digits is no instant (they would be dropped, not kept).
pub fn parse_datetime(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    crate::time::check_fraction_digits(text).ok()?;
    chrono::DateTime::parse_from_rfc3339(text).ok()
}

impl FieldType {
    /// What a value of this type is, in words: `an integer between 0 and 400000`.
    pub fn expected(&self) -> String {
        match self {
            Self::Boolean => "true or false".into(),
            Self::Integer { min, max } => {
                format!("an integer{}", bounds(min.as_ref(), max.as_ref()))
            }
            Self::Decimal { min, max, scale } => {
                let mut s = format!("a decimal number{}", bounds(min.as_ref(), max.as_ref()));
                if let Some(scale) = scale {
                    s.push_str(&format!(" with at most {scale} decimals"));
                }
                s
            }
            Self::String {
                min_length,
                max_length,
            } => match (min_length, max_length) {
                (0, None) => "a string".into(),
                (n, None) => format!("a string of at least {n} characters"),
                (0, Some(m)) => format!("a string of at most {m} characters"),
                (n, Some(m)) => format!("a string of {n} to {m} characters"),
            },
            Self::Enum { values } => {
                let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
            Self::Date { min, max } => {
                format!("a date (YYYY-MM-DD){}", bounds(min.as_ref(), max.as_ref()))
            }
            Self::DateTime { min, max, local } => format!(
                "{}{}",
                if *local {
                    "a datetime (RFC 3339, or local time in the contract's time zone)"
                } else {
                    "an RFC 3339 datetime with offset"
                },
                bounds(
                    min.map(|d| d.to_rfc3339()).as_ref(),
                    max.map(|d| d.to_rfc3339()).as_ref()
                )
            ),
            Self::Object { .. } => "an object".into(),
            Self::Array {
                items,
                min_items,
                max_items,
                ..
            } => {
                let count = match (min_items, max_items) {
                    (0, None) => String::new(),
                    (n, None) => format!(" of at least {n}"),
                    (0, Some(m)) => format!(" of at most {m}"),
                    (n, Some(m)) => format!(" of {n} to {m}"),
                };
                format!("an array{count} of {}", items.expected_plural())
            }
        }
    }

    fn expected_plural(&self) -> String {
        match self {
            Self::Object { .. } => "objects".into(),
            Self::Array { .. } => "arrays".into(),
            other => format!("({})", other.expected()),
        }
    }

    /// Checks `value` against this type (problems go to `walk`) and converts it as
    /// `walk.build` says; `()` when it does not fit or nothing is built.
    fn bind(&self, value: &Value, path: &At<'_>, walk: &mut Walk<'_>) -> Dynamic {
        let typed = walk.build == Build::Typed;
        let fits = match (self, value) {
            (Self::Boolean, Value::Bool(b)) => Some(Dynamic::from_bool(*b)),
            (Self::Integer { min, max }, Value::Number(n)) => n
                .as_i64()
                .filter(|i| {
                    !n.as_str().contains(['.', 'e', 'E']) && within(i, min.as_ref(), max.as_ref())
                })
                .map(Dynamic::from_int),
            (Self::Decimal { min, max, scale }, Value::Number(n)) => json_number_as_decimal(n)
                .filter(|d| {
                    within(d, min.as_ref(), max.as_ref()) && scale.map_or(true, |s| d.scale() <= s)
                })
                .map(|d| {
                    if typed {
                        return Dynamic::from_decimal(d);
                    }
                    // As the plain conversion reads a number: a whole one is an integer.
                    n.as_i64()
                        .map_or_else(|| Dynamic::from_decimal(d), Dynamic::from_int)
                }),
            (
                Self::String {
                    min_length,
                    max_length,
                },
                Value::String(s),
            ) => {
                let n = s.chars().count();
                (n >= *min_length && max_length.map_or(true, |m| n <= m)).then(|| walk.text(s))
            }
            (Self::Enum { values }, Value::String(s)) => values.contains(s).then(|| walk.text(s)),
            (Self::Date { min, max }, Value::String(s)) => Date::parse(s)
                .ok()
                .filter(|d| within(d, min.as_ref(), max.as_ref()))
                .map(|d| {
                    if typed {
                        Dynamic::from(d)
                    } else {
                        walk.text(s)
                    }
                }),
            (Self::DateTime { min, max, local }, Value::String(s)) => {
                let parsed = if *local {
                    crate::time::DateTime::parse(s, walk.zone).ok().map(|t| t.0)
                } else {
                    parse_datetime(s)
                };
                parsed
                    .filter(|d| within(d, min.as_ref(), max.as_ref()))
                    .map(|d| {
                        if typed {
                            Dynamic::from(crate::time::DateTime(d))
                        } else {
                            walk.text(s)
                        }
                    })
            }
            (Self::Object { fields, additional }, Value::Object(map)) => {
                Some(bind_object(fields, *additional, map, path, walk))
            }
            (
                Self::Array {
                    items,
                    min_items,
                    max_items,
                    sorted_by,
                },
                Value::Array(list),
            ) => {
                let mut out = Array::with_capacity(if walk.building() { list.len() } else { 0 });
                for (i, item) in list.iter().enumerate() {
                    let v = items.bind(item, &At::Item(path, i), walk);
                    if walk.building() {
                        out.push(v);
                    }
                }
                check_sorted(sorted_by, list, path, walk.problems);
                (list.len() >= *min_items && max_items.map_or(true, |m| list.len() <= m))
                    .then(|| Dynamic::from_array(out))
            }
            _ => None,
        };
        match fits {
            Some(v) if walk.building() => v,
            Some(_) => Dynamic::UNIT,
            None => {
                walk.problems.push(FactProblem {
                    path: path.to_string(),
                    message: format!("expected {}, found {}", self.expected(), found(value)),
                });
                Dynamic::UNIT
            }
        }
    }
}

/// Reads a field table of `contract.toml` into a typed field; problems go to `errors`.
pub(crate) fn compile_field(
    text: &str,
    path: &str,
    name: &str,
    spec: &FieldSpec,
    errors: &mut Vec<LoadError>,
) -> Field {
    let ty = compile_type(text, path, spec, errors);
    let default = spec
        .default
        .as_ref()
        .and_then(|d| compile_default(text, path, spec, &ty, d, errors));
    Field {
        name: name.to_string(),
        ty,
        optional: spec.optional,
        description: spec.description.clone(),
        default,
    }
}

/// A field's `default`, as the JSON the facts would carry, when it is allowed (an optional
/// field) and fits the field's type; otherwise an error at its place.
fn compile_default(
    text: &str,
    path: &str,
    spec: &FieldSpec,
    ty: &FieldType,
    default: &Spanned<toml::Value>,
    errors: &mut Vec<LoadError>,
) -> Option<Value> {
    let field = format!("{path}.default");
    if !spec.optional {
        errors.push(invalid(
            text,
            &field,
            default.span(),
            "a required field has no default: add `optional = true` or remove `default`".into(),
        ));
        return None;
    }
    let json = default_json(text, default);
    let mut problems = Vec::new();
    let mut walk = Walk {
        build: Build::Nothing,
        // The zone only reads `local` datetimes; a default is checked as UTC would read it
        // and bound in the contract's zone like any fact.
        zone: Tz::UTC,
        problems: &mut problems,
        unconvertible: false,
    };
    let _unbuilt = ty.bind(&json, &At::Root(&field), &mut walk);
    if let Some(problem) = problems.first() {
        errors.push(invalid(
            text,
            &field,
            default.span(),
            format!("the default does not fit the field: {}", problem.message),
        ));
        return None;
    }
    Some(json)
}

/// A TOML value as the JSON a request would carry: numbers with their digits as written,
/// dates and datetimes as their text.
fn default_json(text: &str, value: &Spanned<toml::Value>) -> Value {
    match value.get_ref() {
        toml::Value::Float(_) | toml::Value::Integer(_) | toml::Value::Datetime(_) => {
            let written = written(text, value);
            match value.get_ref() {
                toml::Value::Datetime(_) => Value::String(written),
                _ => written
                    .parse::<serde_json::Number>()
                    .map_or_else(|_| Value::String(written), Value::Number),
            }
        }
        other => toml_to_json(other),
    }
}

/// A TOML value nested in a default (an array or table), as JSON; its numbers are read
/// from their TOML values, which keep integers exact.
fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::Number((*i).into()),
        toml::Value::Float(f) => f
            .to_string()
            .parse::<serde_json::Number>()
            .map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// Reads the `[facts]` tables.
pub(crate) fn compile_schema(
    zone: Tz,
    typed: bool,
    text: &str,
    facts: &BTreeMap<Spanned<String>, FieldSpec>,
    as_of: Option<&AsOfSpec>,
    errors: &mut Vec<LoadError>,
) -> FactSchema {
    let fields = facts
        .iter()
        .map(|(name, spec)| {
            compile_field(
                text,
                &format!("facts.{}", name.get_ref()),
                name.get_ref(),
                spec,
                errors,
            )
        })
        .collect();
    let as_of = as_of.and_then(|spec| {
        let kind = spec.kind.as_ref().map_or("date", |k| k.get_ref().as_str());
        let ty = match kind {
            "date" => FieldType::Date {
                min: bound_date(text, "as_of.min", Some(&spec.min), errors),
                max: bound_date(text, "as_of.max", Some(&spec.max), errors),
            },
            "datetime" => FieldType::DateTime {
                min: bound_datetime(text, "as_of.min", Some(&spec.min), errors),
                max: bound_datetime(text, "as_of.max", Some(&spec.max), errors),
                local: false,
            },
            other => {
                let span = spec.kind.as_ref().map_or(0..0, Spanned::span);
                errors.push(invalid(
                    text,
                    "as_of.type",
                    span,
                    format!("`{other}` is not an as_of type (date or datetime)"),
                ));
                return None;
            }
        };
        check_order(text, "as_of", &ty, spec.max.span(), errors);
        Some(ty)
    });
    if !typed {
        for (name, spec) in facts {
            refuse_untyped_defaults(text, &format!("facts.{}", name.get_ref()), spec, errors);
        }
    }
    FactSchema {
        fields,
        as_of,
        zone,
        typed,
    }
}

/// Defaults change what scripts see (a defaulted field is present), so they come with
/// `typed_facts`, the contract's opt-in to facts as the schema reads them.
fn refuse_untyped_defaults(text: &str, path: &str, spec: &FieldSpec, errors: &mut Vec<LoadError>) {
    if let Some(default) = &spec.default {
        errors.push(invalid(
            text,
            &format!("{path}.default"),
            default.span(),
            "a default needs `typed_facts = true` in [contract]".into(),
        ));
    }
    for (name, field) in spec.fields.iter().flatten() {
        refuse_untyped_defaults(text, &format!("{path}.{}", name.get_ref()), field, errors);
    }
    if let Some(items) = &spec.items {
        refuse_untyped_defaults(text, &format!("{path}[]"), items, errors);
    }
}

fn invalid(text: &str, field: &str, span: std::ops::Range<usize>, message: String) -> LoadError {
    LoadError::InvalidValue {
        field: field.to_string(),
        location: manifest_location(text, span),
        message,
    }
}

/// A bound's text as written in `contract.toml` (a TOML date, number or quoted string):
/// read from the source, since a datetime nested in tables does not survive as a value.
fn written(text: &str, value: &Spanned<toml::Value>) -> String {
    match value.get_ref() {
        toml::Value::String(s) => s.clone(),
        _ => text
            .get(value.span())
            .unwrap_or_default()
            .trim()
            .replace('_', ""),
    }
}

/// A date bound (a TOML date or a `YYYY-MM-DD` string); a bad one is reported at its place.
pub(crate) fn bound_date(
    text: &str,
    field: &str,
    value: Option<&Spanned<toml::Value>>,
    errors: &mut Vec<LoadError>,
) -> Option<Date> {
    let value = value?;
    Date::parse(&written(text, value))
        .map_err(|e| {
            errors.push(invalid(
                text,
                field,
                value.span(),
                format!("expected a date: {e}"),
            ));
        })
        .ok()
}

fn bound_datetime(
    text: &str,
    field: &str,
    value: Option<&Spanned<toml::Value>>,
    errors: &mut Vec<LoadError>,
) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let value = value?;
    let parsed = parse_datetime(&written(text, value));
    if parsed.is_none() {
        errors.push(invalid(
            text,
            field,
            value.span(),
            "expected an RFC 3339 datetime with offset, like 2026-01-01T09:00:00+01:00".into(),
        ));
    }
    parsed
}

fn bound_integer(
    text: &str,
    field: &str,
    value: Option<&Spanned<toml::Value>>,
    errors: &mut Vec<LoadError>,
) -> Option<i64> {
    let value = value?;
    match value.get_ref() {
        toml::Value::Integer(i) => Some(*i),
        other => {
            errors.push(invalid(
                text,
                field,
                value.span(),
                format!("expected an integer, found {other}"),
            ));
            None
        }
    }
}

fn bound_decimal(
    text: &str,
    field: &str,
    value: Option<&Spanned<toml::Value>>,
    errors: &mut Vec<LoadError>,
) -> Option<Decimal> {
    let value = value?;
    // The number's digits as written (a TOML float would round through binary).
    let raw = written(text, value);
    let raw = raw.as_str();
    // Exactly as written, exponent forms too (`1e3`), never rounded.
    match crate::value::exact_decimal(raw) {
        Some(d) => Some(d),
        None => {
            errors.push(invalid(
                text,
                field,
                value.span(),
                format!("expected a decimal number, found {raw}"),
            ));
            None
        }
    }
}

/// Options that belong to other types than `kind`.
fn misplaced(spec: &FieldSpec, kind: &str) -> Vec<(&'static str, std::ops::Range<usize>)> {
    let allowed: &[&str] = match kind {
        "integer" | "date" => &["min", "max"],
        "datetime" => &["min", "max", "local"],
        "decimal" => &["min", "max", "scale"],
        "string" => &["min_length", "max_length"],
        "enum" => &["values"],
        "object" => &["fields", "additional"],
        "array" => &["items", "min_items", "max_items", "sorted_by"],
        _ => &[],
    };
    let present: [(&'static str, Option<std::ops::Range<usize>>); 13] = [
        ("min", spec.min.as_ref().map(Spanned::span)),
        ("max", spec.max.as_ref().map(Spanned::span)),
        ("scale", spec.scale.as_ref().map(Spanned::span)),
        ("values", spec.values.as_ref().map(Spanned::span)),
        ("min_length", spec.min_length.as_ref().map(Spanned::span)),
        ("max_length", spec.max_length.as_ref().map(Spanned::span)),
        ("fields", spec.fields.as_ref().map(|_| spec.kind.span())),
        ("additional", spec.additional.as_ref().map(Spanned::span)),
        ("items", spec.items.as_ref().map(|_| spec.kind.span())),
        ("min_items", spec.min_items.as_ref().map(Spanned::span)),
        ("max_items", spec.max_items.as_ref().map(Spanned::span)),
        ("sorted_by", spec.sorted_by.as_ref().map(Spanned::span)),
        ("local", spec.local.as_ref().map(Spanned::span)),
    ];
    present
        .into_iter()
        .filter_map(|(name, span)| span.filter(|_| !allowed.contains(&name)).map(|s| (name, s)))
        .collect()
}

fn compile_type(
    text: &str,
    path: &str,
    spec: &FieldSpec,
    errors: &mut Vec<LoadError>,
) -> FieldType {
    let kind = spec.kind.get_ref().as_str();
    for (option, span) in misplaced(spec, kind) {
        errors.push(invalid(
            text,
            &format!("{path}.{option}"),
            span,
            format!("`{option}` does not apply to type `{kind}`"),
        ));
    }
    let field = |o: &str| format!("{path}.{o}");
    let ty = match kind {
        "boolean" => FieldType::Boolean,
        "integer" => FieldType::Integer {
            min: bound_integer(text, &field("min"), spec.min.as_ref(), errors),
            max: bound_integer(text, &field("max"), spec.max.as_ref(), errors),
        },
        "decimal" => FieldType::Decimal {
            min: bound_decimal(text, &field("min"), spec.min.as_ref(), errors),
            max: bound_decimal(text, &field("max"), spec.max.as_ref(), errors),
            scale: spec.scale.as_ref().map(|s| *s.get_ref()),
        },
        "string" => FieldType::String {
            min_length: spec.min_length.as_ref().map_or(0, |s| *s.get_ref()),
            max_length: spec.max_length.as_ref().map(|s| *s.get_ref()),
        },
        "enum" => {
            let values = spec
                .values
                .as_ref()
                .map(|v| v.get_ref().clone())
                .unwrap_or_default();
            if values.is_empty() {
                errors.push(invalid(
                    text,
                    &field("values"),
                    spec.values.as_ref().map_or(spec.kind.span(), Spanned::span),
                    "an enum needs `values`, a non-empty list of strings".into(),
                ));
            }
            FieldType::Enum { values }
        }
        "date" => FieldType::Date {
            min: bound_date(text, &field("min"), spec.min.as_ref(), errors),
            max: bound_date(text, &field("max"), spec.max.as_ref(), errors),
        },
        "datetime" => FieldType::DateTime {
            min: bound_datetime(text, &field("min"), spec.min.as_ref(), errors),
            max: bound_datetime(text, &field("max"), spec.max.as_ref(), errors),
            local: spec.local.as_ref().is_some_and(|l| *l.get_ref()),
        },
        "object" => FieldType::Object {
            fields: spec
                .fields
                .iter()
                .flatten()
                .map(|(name, f)| {
                    compile_field(
                        text,
                        &format!("{path}.{}", name.get_ref()),
                        name.get_ref(),
                        f,
                        errors,
                    )
                })
                .collect(),
            additional: spec.additional.as_ref().is_some_and(|a| *a.get_ref()),
        },
        "array" => {
            let items = match &spec.items {
                Some(items) => {
                    if items.optional {
                        errors.push(invalid(
                            text,
                            &format!("{path}.items.optional"),
                            items.kind.span(),
                            "array elements cannot be optional".into(),
                        ));
                    }
                    compile_type(text, &format!("{path}[]"), items, errors)
                }
                None => {
                    errors.push(invalid(
                        text,
                        &field("items"),
                        spec.kind.span(),
                        "an array needs `items`, the type of its elements".into(),
                    ));
                    FieldType::Boolean
                }
            };
            let sorted_by = spec
                .sorted_by
                .as_ref()
                .map(|s| s.get_ref().clone())
                .unwrap_or_default();
            if let Some(spanned) = &spec.sorted_by {
                for key in spanned.get_ref() {
                    let known = matches!(&items, FieldType::Object { fields, .. } if fields.iter().any(|f| &f.name == key && matches!(f.ty, FieldType::Integer { .. } | FieldType::Decimal { .. } | FieldType::Date { .. } | FieldType::DateTime { .. } | FieldType::String { .. })));
                    if !known {
                        errors.push(invalid(
                            text,
                            &field("sorted_by"),
                            spanned.span(),
                            format!(
                                "`{key}` is not a number, date or string field of the elements"
                            ),
                        ));
                    }
                }
            }
            FieldType::Array {
                items: Box::new(items),
                min_items: spec.min_items.as_ref().map_or(0, |s| *s.get_ref()),
                max_items: spec.max_items.as_ref().map(|s| *s.get_ref()),
                sorted_by,
            }
        }
        other => {
            errors.push(invalid(
                text,
                &field("type"),
                spec.kind.span(),
                format!(
                    "`{other}` is not a fact type (boolean, integer, decimal, string, enum, date, datetime, object, array)"
                ),
            ));
            FieldType::Boolean
        }
    };
    let end = spec.max.as_ref().map_or(spec.kind.span(), Spanned::span);
    check_order(text, path, &ty, end, errors);
    ty
}

/// A lower bound above the upper bound is an error.
fn check_order(
    text: &str,
    path: &str,
    ty: &FieldType,
    span: std::ops::Range<usize>,
    errors: &mut Vec<LoadError>,
) {
    let wrong = match ty {
        FieldType::Integer {
            min: Some(a),
            max: Some(b),
        } => a > b,
        FieldType::Decimal {
            min: Some(a),
            max: Some(b),
            ..
        } => a > b,
        FieldType::Date {
            min: Some(a),
            max: Some(b),
        } => a > b,
        FieldType::DateTime {
            min: Some(a),
            max: Some(b),
            ..
        } => a > b,
        FieldType::String {
            min_length,
            max_length: Some(m),
        } => min_length > m,
        FieldType::Array {
            min_items,
            max_items: Some(m),
            ..
        } => min_items > m,
        _ => false,
    };
    if wrong {
        errors.push(invalid(
            text,
            path,
            span,
            "the lower bound is above the upper bound".into(),
        ));
    }
}
