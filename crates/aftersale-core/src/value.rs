//! Conversions between the JSON of requests and decisions, the TOML of bundles, and rhai's
//! `Dynamic` values. Numbers keep their exact digits: a JSON or TOML integer becomes a rhai
//! integer, any other number an exact `Decimal`, never a binary float.

use std::str::FromStr;

use rhai::{Array, Dynamic, Map};
use rust_decimal::Decimal;
use serde_json::{Number, Value};

use crate::plugin::JsonForms;

/// Reads a JSON number into a rhai value: integers stay integers, everything else is an
/// exact decimal.
pub(crate) fn number_to_dynamic(n: &Number) -> Result<Dynamic, String> {
    if let Some(i) = n.as_i64() {
        return Ok(Dynamic::from_int(i));
    }
    // The number's own text (serde_json keeps it: feature `arbitrary_precision`).
    let text = n.as_str();
    exact_decimal(text).map(Dynamic::from_decimal).ok_or_else(|| {
        format!("number `{text}` is out of the exact decimal range (28 significant digits, 28 decimal places)")
    })
}

/// The most digits a plain number written out from an exponent form may have before it is
/// certainly beyond a `Decimal` (29 digits and 28 places, with room for a sign and a point).
const MAX_PLAIN_DIGITS: usize = 64;

/// Reads a number's text (`12.50`, `-3`, `1.5e3`, `25E-1`) as exactly the decimal it
/// writes, or `None` when a `Decimal` cannot hold it exactly: more than 28 decimal places
/// or a magnitude beyond 96 bits. Never rounds: `1.00000000000000000000000000001e0` is
/// `None`, not 1. The one reading of a number's text into a decimal, for facts, params,
/// test values, schema checks and comparisons alike.
pub fn exact_decimal(text: &str) -> Option<Decimal> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let Some(exponent) = exponent else {
        // `from_str_exact` refuses digits a Decimal cannot hold instead of rounding them away.
        return Decimal::from_str_exact(text).ok();
    };
    let exponent: i64 = exponent
        .strip_prefix('+')
        .unwrap_or(exponent)
        .parse()
        .ok()?;
    let (negative, unsigned) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_ok(whole) || !digits_ok(fraction) {
        return None;
    }
    // The same digits with the point moved: `d.ddd x 10^e` written out in full.
    let digits: String = [whole, fraction].concat();
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(Decimal::ZERO);
    }
    let fraction_len = i64::try_from(fraction.len()).ok()?;
    let places = fraction_len.checked_sub(exponent)?;
    let plain = if places <= 0 {
        let zeros = usize::try_from(-places).ok()?;
        if digits.len() + zeros > MAX_PLAIN_DIGITS {
            return None;
        }
        format!("{digits}{}", "0".repeat(zeros))
    } else {
        let places = usize::try_from(places).ok()?;
        if places > MAX_PLAIN_DIGITS || digits.len() > MAX_PLAIN_DIGITS {
            return None;
        }
        if digits.len() > places {
            let (int, frac) = digits.split_at(digits.len() - places);
            format!("{int}.{frac}")
        } else {
            format!("0.{}{digits}", "0".repeat(places - digits.len()))
        }
    };
    let value = Decimal::from_str_exact(&plain).ok()?;
    Some(if negative { -value } else { value })
}

/// Converts JSON into a rhai value. Objects become maps, arrays arrays, numbers integers or
/// decimals, `null` becomes `()`. `path` names the value in errors (`facts`).
pub fn json_to_dynamic(value: &Value, path: &str) -> Result<Dynamic, String> {
    json_to_dynamic_at(value, &path)
}

/// [`json_to_dynamic`] with the path as anything that prints: it is written out only for an
/// error, so the common case allocates nothing for it.
pub(crate) fn json_to_dynamic_at(
    value: &Value,
    path: &dyn std::fmt::Display,
) -> Result<Dynamic, String> {
    convert(value).map_err(|(segments, message)| {
        let mut full = path.to_string();
        for segment in segments.iter().rev() {
            full.push_str(segment);
        }
        format!("{full}: {message}")
    })
}

/// The path segments of a failing value, innermost first, and what is wrong.
type ConvertError = (Vec<String>, String);

fn convert(value: &Value) -> Result<Dynamic, ConvertError> {
    Ok(match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => number_to_dynamic(n).map_err(|m| (Vec::new(), m))?,
        Value::String(s) => Dynamic::from(rhai::ImmutableString::from(s.as_str())),
        Value::Array(items) => {
            let mut out = Array::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(convert(item).map_err(|(mut p, m)| {
                    p.push(format!("[{i}]"));
                    (p, m)
                })?);
            }
            Dynamic::from_array(out)
        }
        Value::Object(fields) => {
            let mut out = Map::new();
            for (k, v) in fields {
                let item = convert(v).map_err(|(mut p, m)| {
                    p.push(format!(".{k}"));
                    (p, m)
                })?;
                out.insert(k.as_str().into(), item);
            }
            Dynamic::from_map(out)
        }
    })
}

/// Parses JSON text into a value, refusing a key given twice in one object, at any depth
/// (serde_json alone keeps the last, so `{"km": 10, "km": 90000}` would be decided on one of
/// two claims silently). `root` names the document in the error (`facts`), which gives the
/// key and the object holding it: ``duplicate key `km` in `facts.vehicle` at line 1 column
/// 30``. Numbers keep their text, as everywhere (feature `arbitrary_precision`). The text is
/// taken as it is: a caller reading a whole file skips a byte order mark first
/// ([`crate::bundle::skip_bom`]).
pub fn parse_json(text: &str, root: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde::de::DeserializeSeed::deserialize(
        Unique {
            at: Segment::Root(root),
        },
        &mut de,
    )?;
    de.end()?;
    Ok(value)
}

/// A `deserialize_with` function for a JSON value inside a larger document (the `facts` of
/// an HTTP request body): the value as [`parse_json`] reads it, duplicate keys refused.
pub fn deserialize_facts<'de, D>(deserializer: D) -> Result<Value, D::Error>
where
    D: serde::Deserializer<'de>,
{
    serde::de::DeserializeSeed::deserialize(
        Unique {
            at: Segment::Root("facts"),
        },
        deserializer,
    )
}

/// Where a value sits, as a chain up to the document: built on the stack as the parser goes
/// down, turned into text only for an error.
#[derive(Clone, Copy)]
enum Segment<'a> {
    Root(&'a str),
    Key(&'a str, &'a Segment<'a>),
    Index(usize, &'a Segment<'a>),
}

impl std::fmt::Display for Segment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Root(name) => f.write_str(name),
            Self::Key(key, parent) => match parent {
                Self::Root("") => f.write_str(key),
                _ => write!(f, "{parent}.{key}"),
            },
            Self::Index(i, parent) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Deserializes a JSON value, refusing duplicate keys.
struct Unique<'a> {
    at: Segment<'a>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Unique<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Unique<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("`{v}` is not a number a contract can use")))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::de::DeserializeSeed::deserialize(self, d)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let seed = Unique {
                at: Segment::Index(items.len(), &self.at),
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // With `arbitrary_precision`, serde_json hands a number over as a one-entry map with
        // a private key; read it back as the number it is.
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.is_empty() && key == NUMBER_TOKEN {
                let text: String = map.next_value()?;
                return Number::from_str(&text)
                    .map(Value::Number)
                    .map_err(serde::de::Error::custom);
            }
            match out.entry(key) {
                serde_json::map::Entry::Occupied(taken) => {
                    let (key, within) = (taken.key(), self.at.to_string());
                    return Err(serde::de::Error::custom(if within.is_empty() {
                        format!("duplicate key `{key}`")
                    } else {
                        format!("duplicate key `{key}` in `{within}`")
                    }));
                }
                serde_json::map::Entry::Vacant(slot) => {
                    let seed = Unique {
                        at: Segment::Key(slot.key(), &self.at),
                    };
                    let value = map.next_value_seed(seed)?;
                    slot.insert(value);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// The private key serde_json's `arbitrary_precision` gives a number's text under (its
/// `number::TOKEN`, stable since that feature's introduction).
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Writes a decimal as a JSON number with exactly its digits (`12.50` stays `12.50`).
pub fn decimal_to_json(d: Decimal) -> Value {
    match Number::from_str(&d.to_string()) {
        Ok(n) => Value::Number(n),
        // Unreachable for a Decimal's own text; keep the digits rather than lose them.
        Err(_) => Value::String(d.to_string()),
    }
}

/// How deeply a decision value may nest: as deep as common JSON parsers read (serde_json
/// stops at 128), and far from overflowing a stack while converting.
pub const MAX_VALUE_DEPTH: usize = 128;

/// Why a value could not be converted to JSON within an [`OutputBudget`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToJsonError {
    /// The value has no JSON form, or nests too deeply: what is wrong.
    Value(String),
    /// The JSON would pass a limit: which, in the sandbox's words.
    Limit(String),
}

/// What the JSON of one decision may still grow by: `max_output_bytes` of text (counted as
/// the compact form would print, give or take escapes), and, every [`MEMORY_LOOK_EVERY`]
/// values, the memory the evaluation holds against `max_memory_bytes`. A value shared many
/// times in a script (one array pushed 2,000 times) is one value to rhai and 2,000 copies in
/// JSON: without the budget, a 34-byte request built a 454 MB decision.
#[derive(Debug, Clone)]
pub(crate) struct OutputBudget {
    left: usize,
    limit: usize,
    values: usize,
}

/// Values converted between two looks at the evaluation's memory.
const MEMORY_LOOK_EVERY: usize = 256;

impl OutputBudget {
    /// A budget of `limit` bytes of JSON.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            left: limit,
            limit,
            values: 0,
        }
    }

    /// Counts one value of `bytes` bytes of JSON text.
    fn spend(&mut self, bytes: usize) -> Result<(), ToJsonError> {
        self.left = self.left.checked_sub(bytes).ok_or_else(|| {
            ToJsonError::Limit(format!(
                "the decision's JSON would be larger than {} bytes (limit `max_output_bytes`)",
                self.limit
            ))
        })?;
        self.values += 1;
        if self.values % MEMORY_LOOK_EVERY == 0 && crate::sandbox::memory_exceeded() {
            return Err(ToJsonError::Limit(
                "too much memory held (limit `max_memory_bytes`)".into(),
            ));
        }
        Ok(())
    }

    /// Counts a value already converted (an output that reuses its trace entry's JSON).
    pub(crate) fn spend_json(&mut self, value: &Value) -> Result<(), ToJsonError> {
        match value {
            Value::Array(items) => {
                self.spend(2 + items.len())?;
                items.iter().try_for_each(|v| self.spend_json(v))
            }
            Value::Object(fields) => {
                self.spend(2 + fields.len())?;
                fields.iter().try_for_each(|(k, v)| {
                    self.spend(k.len() + 3)?;
                    self.spend_json(v)
                })
            }
            other => self.spend(scalar_len(other)),
        }
    }
}

/// The length of a scalar's compact JSON text (strings without their escapes).
fn scalar_len(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Bool(b) => 4 + usize::from(!b),
        Value::Number(n) => n.as_str().len(),
        Value::String(s) => s.len() + 2,
        Value::Array(_) | Value::Object(_) => 2,
    }
}

/// Converts a rhai value to JSON. Dates become `YYYY-MM-DD`, datetimes RFC 3339 strings,
/// decimals exact numbers; a value of a plugin's type takes the JSON form its plugin
/// registered with it (see [`crate::plugin::Registrar::register_type`]). A value nested
/// deeper than [`MAX_VALUE_DEPTH`] is an error. Inside an evaluation the memory it builds
/// counts against `max_memory_bytes`.
pub(crate) fn dynamic_to_json(value: &Dynamic, forms: &JsonForms) -> Result<Value, String> {
    dynamic_to_json_within(value, forms, &mut OutputBudget::new(usize::MAX)).map_err(|e| match e {
        ToJsonError::Value(m) | ToJsonError::Limit(m) => m,
    })
}

/// [`dynamic_to_json`] within `budget`.
pub(crate) fn dynamic_to_json_within(
    value: &Dynamic,
    forms: &JsonForms,
    budget: &mut OutputBudget,
) -> Result<Value, ToJsonError> {
    to_json_at(value, forms, 0, budget)
}

fn to_json_at(
    value: &Dynamic,
    forms: &JsonForms,
    depth: usize,
    budget: &mut OutputBudget,
) -> Result<Value, ToJsonError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(ToJsonError::Value(format!(
            "the value nests deeper than {MAX_VALUE_DEPTH} levels"
        )));
    }
    if value.is_array() {
        let guard = value.read_lock::<Array>();
        let items = guard.as_deref().map(Vec::as_slice).unwrap_or_default();
        budget.spend(2 + items.len())?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(to_json_at(item, forms, depth + 1, budget)?);
        }
        return Ok(Value::Array(out));
    }
    if value.is_map() {
        let Some(map) = value.read_lock::<Map>() else {
            budget.spend(2)?;
            return Ok(Value::Object(serde_json::Map::new()));
        };
        budget.spend(2 + map.len())?;
        let mut out = serde_json::Map::with_capacity(map.len());
        for (k, v) in map.iter() {
            budget.spend(k.len() + 3)?;
            let json = to_json_at(v, forms, depth + 1, budget).map_err(|e| match e {
                ToJsonError::Value(m) => ToJsonError::Value(format!("field `{k}`: {m}")),
                limit => limit,
            })?;
            out.insert(k.to_string(), json);
        }
        return Ok(Value::Object(out));
    }
    let json = scalar_to_json(value, forms).map_err(ToJsonError::Value)?;
    match &json {
        // A plugin's value may be a whole tree.
        Value::Array(_) | Value::Object(_) => budget.spend_json(&json)?,
        scalar => budget.spend(scalar_len(scalar))?,
    }
    Ok(json)
}

/// The JSON of a value that is neither an array nor a map.
fn scalar_to_json(value: &Dynamic, forms: &JsonForms) -> Result<Value, String> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(d) = value.as_decimal() {
        return Ok(decimal_to_json(d));
    }
    if let Ok(s) = value.as_immutable_string_ref() {
        return Ok(Value::String(s.as_str().to_owned()));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Some(result) = forms.to_json(value) {
        return result;
    }
    Err(format!(
        "a value of type `{}` has no JSON form",
        value.type_name()
    ))
}

/// Converts a TOML item (params, test facts and expectations), read with its source text,
/// to JSON. Numbers keep the digits written (`0.20` stays `0.20`, `1234567890123456.78` stays
/// exact): a float goes through its source text, never through `f64`. TOML dates and
/// datetimes become ISO strings.
pub fn toml_item_to_json(item: &toml_edit::Item) -> Result<Value, String> {
    match item {
        toml_edit::Item::None => Ok(Value::Null),
        toml_edit::Item::Value(v) => toml_value_to_json(v),
        toml_edit::Item::Table(t) => {
            let mut out = serde_json::Map::new();
            for (k, v) in t.iter() {
                out.insert(
                    k.to_string(),
                    toml_item_to_json(v).map_err(|e| format!("`{k}`: {e}"))?,
                );
            }
            Ok(Value::Object(out))
        }
        toml_edit::Item::ArrayOfTables(tables) => tables
            .iter()
            .map(|t| toml_item_to_json(&toml_edit::Item::Table(t.clone())))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}

fn toml_value_to_json(value: &toml_edit::Value) -> Result<Value, String> {
    Ok(match value {
        toml_edit::Value::String(s) => Value::String(s.value().clone()),
        toml_edit::Value::Integer(i) => Value::Number((*i.value()).into()),
        toml_edit::Value::Float(f) => float_to_json(f)?,
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Datetime(d) => Value::String(d.value().to_string()),
        toml_edit::Value::Array(items) => Value::Array(
            items
                .iter()
                .map(toml_value_to_json)
                .collect::<Result<_, _>>()?,
        ),
        toml_edit::Value::InlineTable(t) => {
            let mut out = serde_json::Map::new();
            for (k, v) in t.iter() {
                out.insert(
                    k.to_string(),
                    toml_value_to_json(v).map_err(|e| format!("`{k}`: {e}"))?,
                );
            }
            Value::Object(out)
        }
    })
}

fn float_to_json(f: &toml_edit::Formatted<f64>) -> Result<Value, String> {
    if !f.value().is_finite() {
        return Err(format!(
            "`{}` is not a number a contract can use",
            f.value()
        ));
    }
    let written = f
        .as_repr()
        .and_then(|r| r.as_raw().as_str())
        .map(str::to_owned);
    // Underscores and a leading `+` are TOML spelling, not digits.
    let text = written
        .unwrap_or_else(|| f.value().to_string())
        .replace('_', "");
    Number::from_str(text.trim().trim_start_matches('+'))
        .map(Value::Number)
        .map_err(|e| format!("`{text}`: {e}"))
}

/// Parses TOML text keeping each value's written form, for [`toml_item_to_json`].
pub fn parse_exact_toml(text: &str) -> Result<toml_edit::DocumentMut, String> {
    text.parse::<toml_edit::DocumentMut>()
        .map_err(|e| e.to_string())
}

/// Reads a JSON number as an exact decimal, for comparing numbers whatever their form
/// (`3`, `3.0` and `3.00` are equal); `None` when no decimal holds it exactly
/// ([`exact_decimal`]).
pub fn json_number_as_decimal(n: &Number) -> Option<Decimal> {
    exact_decimal(n.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fractions_become_exact_decimals() {
        let v: Value = serde_json::from_str(r#"{"a": 0.1, "b": 12.50, "c": 3, "d": 1e2}"#).unwrap();
        let d = json_to_dynamic(&v, "facts").unwrap();
        let map = d.cast::<Map>();
        assert_eq!(
            map["a"].as_decimal().unwrap(),
            Decimal::from_str("0.1").unwrap()
        );
        assert_eq!(map["b"].as_decimal().unwrap().to_string(), "12.50");
        assert_eq!(map["c"].as_int().unwrap(), 3);
        assert_eq!(map["d"].as_decimal().unwrap(), Decimal::from(100));
    }

    #[test]
    fn huge_numbers_are_errors_with_a_path() {
        let v: Value = serde_json::from_str(r#"{"a": [1, 1e400]}"#).unwrap();
        let err = json_to_dynamic(&v, "facts").unwrap_err();
        assert!(err.starts_with("facts.a[1]"), "{err}");
    }

    #[test]
    fn r_exponent_form_is_read_exactly_or_refused_never_rounded() {
        let exact = |t: &str| exact_decimal(t).map(|d| d.to_string());
        assert_eq!(exact("1.5e3").as_deref(), Some("1500"));
        assert_eq!(exact("1.50e1").as_deref(), Some("15.0"));
        assert_eq!(exact("25E-1").as_deref(), Some("2.5"));
        assert_eq!(exact("-1.25e+2").as_deref(), Some("-125"));
        assert_eq!(
            exact("1e-28").as_deref(),
            Some("0.0000000000000000000000000001")
        );
        assert_eq!(exact("0e999").as_deref(), Some("0"));
        // One part in 10^29 past 1: no Decimal holds it, so it is refused, not read as 1.
        assert_eq!(exact("1.00000000000000000000000000001e0"), None);
        assert_eq!(exact("1.00000000000000000000000000001"), None);
        assert_eq!(exact("1e-29"), None);
        assert_eq!(exact("1e29"), None);
        assert_eq!(exact("1e400"), None);
        assert_eq!(exact("1e99999999999999999999"), None);
        assert_eq!(exact("e5"), None);
        assert_eq!(exact("1.e"), None);
        let v: Value = serde_json::from_str(r#"{"a": 1.00000000000000000000000000001e0}"#).unwrap();
        let err = json_to_dynamic(&v, "facts").unwrap_err();
        assert!(
            err.starts_with("facts.a: number `1.00000000000000000000000000001e"),
            "{err}"
        );
        let n: Number = serde_json::from_str("1.00000000000000000000000000001e0").unwrap();
        assert_eq!(json_number_as_decimal(&n), None);
    }

    #[test]
    fn r_toml_exponent_params_are_exact_or_refused() {
        let doc =
            parse_exact_toml("ok = 1.5e3\nbad = 1.00000000000000000000000000001e0\n").unwrap();
        let j = toml_item_to_json(doc.as_item()).unwrap();
        let ok = json_to_dynamic(&j["ok"], "params.ok").unwrap();
        assert_eq!(ok.as_decimal().unwrap(), Decimal::from(1500));
        assert!(json_to_dynamic(&j["bad"], "params.bad").is_err());
    }

    #[test]
    fn r_duplicate_json_keys_are_errors_naming_the_key_at_any_depth() {
        let err = parse_json(r#"{"km": 10, "km": 90000}"#, "facts").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("duplicate key `km` in `facts` at line 1"),
            "{err}"
        );
        let err = parse_json(r#"{"a": [{"b": 1}, {"c": {"d": 1, "d": 2}}]}"#, "facts").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("duplicate key `d` in `facts.a[1].c`"),
            "{err}"
        );
        let err = parse_json(r#"{"facts": {"x": 1, "x": 1}}"#, "").unwrap_err();
        assert!(
            err.to_string().starts_with("duplicate key `x` in `facts`"),
            "{err}"
        );
        let err = parse_json(r#"{"x": 1, "x": 1}"#, "").unwrap_err();
        assert!(
            err.to_string().starts_with("duplicate key `x` at line"),
            "{err}"
        );
        // Everything else reads as serde_json reads it, numbers with their exact text.
        let text =
            r#"{"a":0.10,"b":[1,-2,1e400,true,null,"s"],"c":{},"d":12345678901234567890123}"#;
        let v = parse_json(text, "facts").unwrap();
        assert_eq!(v, serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            text.replace("1e400", "1e+400")
        );
        assert!(parse_json("{} x", "facts").is_err());
        assert!(parse_json("\u{feff}{}", "facts").is_err());
    }

    #[test]
    fn decimals_serialise_with_their_digits() {
        let d = Decimal::from_str("12.50").unwrap();
        assert_eq!(serde_json::to_string(&decimal_to_json(d)).unwrap(), "12.50");
    }

    #[test]
    fn r_toml_floats_keep_their_written_digits() {
        let doc = parse_exact_toml(
            "rate = 0.20\nbig = 1234567890123456.78\nsep = 1_000.5\nexp = 1e3\nday = 2024-02-29\nt = { x = [0.10] }",
        )
        .unwrap();
        let j = toml_item_to_json(doc.as_item()).unwrap();
        assert_eq!(serde_json::to_string(&j["rate"]).unwrap(), "0.20");
        assert_eq!(
            serde_json::to_string(&j["big"]).unwrap(),
            "1234567890123456.78"
        );
        assert_eq!(serde_json::to_string(&j["sep"]).unwrap(), "1000.5");
        assert_eq!(serde_json::to_string(&j["t"]).unwrap(), r#"{"x":[0.10]}"#);
        assert_eq!(j["day"], Value::String("2024-02-29".into()));
        let d = json_to_dynamic(&j["big"], "x").unwrap();
        assert_eq!(d.as_decimal().unwrap().to_string(), "1234567890123456.78");
        assert_eq!(
            json_to_dynamic(&j["exp"], "x")
                .unwrap()
                .as_decimal()
                .unwrap(),
            Decimal::from(1000)
        );
        assert!(toml_item_to_json(parse_exact_toml("x = nan").unwrap().as_item()).is_err());
    }
}
