//! Conversions between the JSON of requests and decisions, the TOML of bundles, and rhai's
//! `Dynamic` values. Numbers keep their exact digits: a JSON or TOML integer becomes a rhai
//! integer, any other number an exact `Decimal`, never a binary float.

use std::str::FromStr;

use rhai::{Array, Dynamic, Map};
use rust_decimal::Decimal;
use serde_json::{Number, Value};

use crate::plugin::Plugin;
use crate::time::{Date, DateTime};

/// Reads a JSON number into a rhai value: integers stay integers, everything else is an
/// exact decimal.
fn number_to_dynamic(n: &Number) -> Result<Dynamic, String> {
    if let Some(i) = n.as_i64() {
        return Ok(Dynamic::from_int(i));
    }
    // The number's own text (serde_json keeps it: feature `arbitrary_precision`).
    let text = n.as_str();
    // `from_str_exact` refuses digits a Decimal cannot hold instead of rounding them away.
    Decimal::from_str_exact(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map(Dynamic::from_decimal)
        .map_err(|_| {
            format!("number `{text}` is out of the exact decimal range (28 significant digits, 28 decimal places)")
        })
}

/// Converts JSON into a rhai value. Objects become maps, arrays arrays, numbers integers or
/// decimals, `null` becomes `()`. `path` names the value in errors (`facts`).
pub fn json_to_dynamic(value: &Value, path: &str) -> Result<Dynamic, String> {
    // The path of a failing value is built only on the way out of an error, so the common
    // case allocates nothing for it.
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
/// decimals exact numbers; types of plugins are asked of each plugin in turn. A value nested
/// deeper than [`MAX_VALUE_DEPTH`] is an error. Inside an evaluation the memory it builds
/// counts against `max_memory_bytes`.
pub fn dynamic_to_json(
    value: &Dynamic,
    plugins: &[std::sync::Arc<dyn Plugin>],
) -> Result<Value, String> {
    dynamic_to_json_within(value, plugins, &mut OutputBudget::new(usize::MAX)).map_err(
        |e| match e {
            ToJsonError::Value(m) | ToJsonError::Limit(m) => m,
        },
    )
}

/// [`dynamic_to_json`] within `budget`.
pub(crate) fn dynamic_to_json_within(
    value: &Dynamic,
    plugins: &[std::sync::Arc<dyn Plugin>],
    budget: &mut OutputBudget,
) -> Result<Value, ToJsonError> {
    to_json_at(value, plugins, 0, budget)
}

fn to_json_at(
    value: &Dynamic,
    plugins: &[std::sync::Arc<dyn Plugin>],
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
            out.push(to_json_at(item, plugins, depth + 1, budget)?);
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
            let json = to_json_at(v, plugins, depth + 1, budget).map_err(|e| match e {
                ToJsonError::Value(m) => ToJsonError::Value(format!("field `{k}`: {m}")),
                limit => limit,
            })?;
            out.insert(k.to_string(), json);
        }
        return Ok(Value::Object(out));
    }
    let json = scalar_to_json(value, plugins).map_err(ToJsonError::Value)?;
    match &json {
        // A plugin's value may be a whole tree.
        Value::Array(_) | Value::Object(_) => budget.spend_json(&json)?,
        scalar => budget.spend(scalar_len(scalar))?,
    }
    Ok(json)
}

/// The JSON of a value that is neither an array nor a map.
fn scalar_to_json(
    value: &Dynamic,
    plugins: &[std::sync::Arc<dyn Plugin>],
) -> Result<Value, String> {
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
    if let Some(d) = value.read_lock::<Date>() {
        return Ok(Value::String(d.to_string()));
    }
    if let Some(t) = value.read_lock::<DateTime>() {
        return Ok(Value::String(t.to_string()));
    }
    for plugin in plugins {
        if let Some(result) = plugin.to_json(value) {
            return result;
        }
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
/// (`3`, `3.0` and `3.00` are equal).
pub fn json_number_as_decimal(n: &Number) -> Option<Decimal> {
    let text = n.as_str();
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
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
