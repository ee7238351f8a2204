//! Proptest strategies for the facts of a contract's schema.
//!
//! Values are spread over each field's range, with a share of boundary values that policies
//! tend to hinge on: the bounds themselves and their neighbours, zero, month ends, leap days,
//! empty arrays, absent optional fields, and every number the contracts' `params` mention
//! (a limit of 100,000 km in `params` makes 99,999, 100,000 and 100,001 likely odometer
//! readings). Shrinking goes towards the lower bounds, absent optional fields and shorter
//! arrays, so a minimal example sits at the edge of the region that shows a behaviour.

use std::collections::BTreeSet;

use aftersale_core::schema::{compare_values, FactSchema, Field, FieldType};
use aftersale_core::{Contract, Date};
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Offset, TimeZone};
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Default range of dates when the schema sets no bound.
const DEFAULT_FIRST_DAY: (i32, u32, u32) = (2000, 1, 1);
/// Default upper bound of dates.
const DEFAULT_LAST_DAY: (i32, u32, u32) = (2040, 12, 31);
/// Default spread of numbers without bounds.
const DEFAULT_SPAN: i64 = 1_000_000;
/// Longest generated array when the schema sets no `max_items`.
const DEFAULT_MAX_ITEMS: usize = 6;
/// Longest generated string when the schema sets no `max_length`.
const DEFAULT_MAX_LENGTH: usize = 12;

/// Numbers the contracts mention, used as boundary values for numeric facts.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    numbers: BTreeSet<Decimal>,
}

impl Dictionary {
    /// The numbers in the `params` of each contract (every numeric leaf, at any depth).
    pub fn from_contracts<'a>(contracts: impl IntoIterator<Item = &'a Contract>) -> Self {
        let mut numbers = BTreeSet::new();
        for contract in contracts {
            collect_numbers(&contract.params_json(), &mut numbers);
        }
        Self { numbers }
    }

    /// The numbers, ascending.
    pub fn numbers(&self) -> impl Iterator<Item = &Decimal> {
        self.numbers.iter()
    }
}

fn collect_numbers(value: &Value, out: &mut BTreeSet<Decimal>) {
    match value {
        Value::Number(n) => {
            // Exponent forms too (`1.5e3` in params), exactly as the contract reads them.
            if let Some(d) = aftersale_core::value::exact_decimal(n.as_str()) {
                out.insert(d.normalize());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_numbers(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_numbers(v, out)),
        _ => {}
    }
}

/// A generated request: facts and the evaluation instant as text (a date or an RFC 3339
/// datetime, as a test case writes it).
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The facts, valid for the schema they came from.
    pub facts: Value,
    /// The evaluation instant.
    pub as_of: String,
}

/// Strategy for whole requests of `contract`: facts from its schema and `as_of` from
/// `as_of` when given, else from the schema's `[as_of]` range.
///
/// # Errors
/// [`GenerateError`] when the contract has no facts schema, or neither `as_of` nor an
/// `[as_of]` range is given.
pub fn requests(
    contract: &Contract,
    dictionary: &Dictionary,
    as_of: Option<&str>,
) -> Result<BoxedStrategy<Generated>, GenerateError> {
    let schema = contract
        .facts_schema()
        .ok_or_else(|| GenerateError::NoSchema(contract.id().to_string()))?;
    let facts = facts(schema, dictionary);
    let instants = match (as_of, &schema.as_of) {
        (Some(fixed), _) => Just(fixed.to_string()).boxed(),
        (None, Some(range)) => scalar(range, dictionary)
            .prop_map(|v| v.as_str().unwrap_or_default().to_string())
            .boxed(),
        (None, None) => return Err(GenerateError::NoAsOf(contract.id().to_string())),
    };
    Ok((facts, instants)
        .prop_map(|(facts, as_of)| Generated { facts, as_of })
        .boxed())
}

/// Why requests cannot be generated for a contract.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GenerateError {
    /// Facts are generated from the schema.
    #[error("contract `{0}` has no facts schema: declare its facts as [facts.<name>] tables in contract.toml")]
    NoSchema(String),
    /// An evaluation instant is needed.
    #[error("contract `{0}` declares no [as_of] range (min, max) in contract.toml: give one, or pass --as-of")]
    NoAsOf(String),
}

/// Strategy for facts valid for `schema`.
pub fn facts(schema: &FactSchema, dictionary: &Dictionary) -> BoxedStrategy<Value> {
    object(&schema.fields, dictionary)
}

fn object(fields: &[Field], dictionary: &Dictionary) -> BoxedStrategy<Value> {
    let parts: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
        .iter()
        .map(|field| {
            let name = field.name.clone();
            let value = value(&field.ty, dictionary);
            if field.optional {
                // Absent first, so shrinking drops optional fields.
                let present = {
                    let name = name.clone();
                    value.prop_map(move |v| Some((name.clone(), v)))
                };
                Union::new_weighted(vec![(1, Just(None).boxed()), (3, present.boxed())]).boxed()
            } else {
                value.prop_map(move |v| Some((name.clone(), v))).boxed()
            }
        })
        .collect();
    parts
        .prop_map(|pairs| Value::Object(pairs.into_iter().flatten().collect::<Map<_, _>>()))
        .boxed()
}

/// Strategy for one value of `ty`.
pub fn value(ty: &FieldType, dictionary: &Dictionary) -> BoxedStrategy<Value> {
    match ty {
        FieldType::Object { fields, .. } => object(fields, dictionary),
        FieldType::Array {
            items,
            min_items,
            max_items,
            sorted_by,
        } => {
            let item = value(items, dictionary);
            let min = *min_items;
            let max = max_items.unwrap_or(min + DEFAULT_MAX_ITEMS).max(min);
            let shortest = proptest::collection::vec(item.clone(), min..=min);
            let any = proptest::collection::vec(item, min..=max);
            let keys = sorted_by.clone();
            Union::new_weighted(vec![(1, shortest.boxed()), (4, any.boxed())])
                .prop_map(move |mut list| {
                    sort_fields(&mut list, &keys);
                    Value::Array(list)
                })
                .boxed()
        }
        other => scalar(other, dictionary),
    }
}

/// Puts each `sorted_by` field's values in ascending order along the array, each field on
/// its own: the elements keep their other fields, and the history becomes consistent (dates
/// that advance, readings that never go down).
fn sort_fields(list: &mut [Value], keys: &[String]) {
    for key in keys {
        let mut values: Vec<Value> = list
            .iter()
            .filter_map(|item| item.get(key).cloned())
            .collect();
        values.sort_by(|a, b| compare_values(a, b).unwrap_or(std::cmp::Ordering::Equal));
        let mut sorted = values.into_iter();
        for item in list.iter_mut() {
            if let Some(slot) = item.get_mut(key) {
                if let Some(v) = sorted.next() {
                    *slot = v;
                }
            }
        }
    }
}

/// Uniform over `lo..=hi` most of the time, else one of `specials` (sorted, deduplicated,
/// within the range).
fn spread(lo: i64, hi: i64, specials: Vec<i64>) -> BoxedStrategy<i64> {
    let mut specials: Vec<i64> = specials
        .into_iter()
        .filter(|v| (lo..=hi).contains(v))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if specials.is_empty() {
        specials.push(lo);
    }
    Union::new_weighted(vec![
        (3, (lo..=hi).boxed()),
        (2, proptest::sample::select(specials).boxed()),
    ])
    .boxed()
}

/// The value and its neighbours, for each dictionary number scaled by `unit`.
fn neighbours(dictionary: &Dictionary, unit: Decimal) -> Vec<i64> {
    dictionary
        .numbers()
        .filter_map(|n| {
            let scaled = (*n * unit).trunc();
            i64::try_from(scaled.mantissa() / 10i128.pow(scaled.scale())).ok()
        })
        .flat_map(|v| [v.saturating_sub(1), v, v.saturating_add(1)])
        .collect()
}

fn bounds_or_default(min: Option<i64>, max: Option<i64>) -> (i64, i64) {
    match (min, max) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) => (a, a.saturating_add(DEFAULT_SPAN)),
        (None, Some(b)) => (b.saturating_sub(DEFAULT_SPAN), b),
        (None, None) => (-DEFAULT_SPAN, DEFAULT_SPAN),
    }
}

fn day(d: (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.0, d.1, d.2).unwrap_or_default()
}

fn scalar(ty: &FieldType, dictionary: &Dictionary) -> BoxedStrategy<Value> {
    match ty {
        FieldType::Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
        FieldType::Integer { min, max } => {
            let (lo, hi) = bounds_or_default(*min, *max);
            let mut specials = vec![lo, lo.saturating_add(1), hi.saturating_sub(1), hi, 0, 1];
            specials.extend(neighbours(dictionary, Decimal::ONE));
            spread(lo, hi, specials)
                .prop_map(|i| Value::Number(i.into()))
                .boxed()
        }
        FieldType::Decimal { min, max, scale } => {
            let scale = scale.unwrap_or(2).min(8);
            let unit = Decimal::from(10i64.pow(scale));
            let to_units = |d: Decimal| {
                let scaled = (d * unit).trunc();
                i64::try_from(scaled.mantissa() / 10i128.pow(scaled.scale())).ok()
            };
            let (lo, hi) = bounds_or_default(min.and_then(to_units), max.and_then(to_units));
            let mut specials = vec![lo, lo.saturating_add(1), hi.saturating_sub(1), hi, 0];
            specials.extend(neighbours(dictionary, unit));
            spread(lo, hi, specials)
                .prop_map(move |units| {
                    aftersale_core::value::decimal_to_json(Decimal::new(units, scale))
                })
                .boxed()
        }
        FieldType::String {
            min_length,
            max_length,
        } => {
            let min = *min_length;
            let max = max_length.unwrap_or(min + DEFAULT_MAX_LENGTH).max(min);
            proptest::collection::vec(
                proptest::sample::select(
                    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.éß€"
                        .chars()
                        .collect::<Vec<_>>(),
                ),
                min..=max,
            )
            .prop_map(|chars| Value::String(chars.into_iter().collect()))
            .boxed()
        }
        FieldType::Enum { values } => proptest::sample::select(values.clone())
            .prop_map(Value::String)
            .boxed(),
        FieldType::Date { min, max } => {
            let lo = min.map_or(day(DEFAULT_FIRST_DAY), |d| d.0);
            let hi = max.map_or(day(DEFAULT_LAST_DAY), |d| d.0).max(lo);
            let span = (hi - lo).num_days();
            let specials = date_specials(lo, hi)
                .into_iter()
                .map(|d| (d - lo).num_days())
                .collect();
            spread(0, span, specials)
                .prop_map(move |n| Value::String(Date(lo + Duration::days(n)).to_string()))
                .boxed()
        }
        FieldType::DateTime { min, max, .. } => {
            let utc = chrono::Utc.fix();
            let lo = min.unwrap_or_else(|| {
                utc.from_utc_datetime(&day(DEFAULT_FIRST_DAY).and_time(NaiveTime::MIN))
            });
            let hi = max
                .unwrap_or_else(|| {
                    utc.from_utc_datetime(&day(DEFAULT_LAST_DAY).and_time(NaiveTime::MIN))
                })
                .max(lo);
            let span = (hi - lo).num_seconds();
            let specials = date_specials(lo.date_naive(), hi.date_naive())
                .into_iter()
                .map(|d| (d.and_time(NaiveTime::MIN) - lo.naive_local()).num_seconds())
                .flat_map(|s| [s - 1, s])
                .collect();
            let offset = *lo.offset();
            spread(0, span, specials)
                .prop_map(move |s| {
                    let t = lo + Duration::seconds(s);
                    Value::String(t.with_timezone(&offset).to_rfc3339())
                })
                .boxed()
        }
        // Compound types are handled by `value`.
        FieldType::Object { .. } | FieldType::Array { .. } => value(ty, dictionary),
    }
}

/// Days that calendars get wrong: the bounds and their neighbours, the last day of every
/// month and the first of the next, and Feb 28/29 of leap years, within `lo..=hi`.
fn date_specials(lo: NaiveDate, hi: NaiveDate) -> Vec<NaiveDate> {
    let mut out = vec![lo, hi];
    out.extend(lo.succ_opt());
    out.extend(hi.pred_opt());
    let (mut year, mut month) = (lo.year(), lo.month());
    // At most 40 years of month ends.
    for _ in 0..480 {
        let Some(first) = NaiveDate::from_ymd_opt(year, month, 1) else {
            break;
        };
        if first > hi {
            break;
        }
        out.push(first);
        out.extend(first.pred_opt());
        if month == 2 && first.leap_year() {
            out.extend(NaiveDate::from_ymd_opt(year, 2, 28));
            out.extend(NaiveDate::from_ymd_opt(year, 2, 29));
        }
        if month == 12 {
            year += 1;
            month = 1;
        } else {
            month += 1;
        }
    }
    out.retain(|d| (lo..=hi).contains(d));
    out
}
