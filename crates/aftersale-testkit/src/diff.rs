//! Policy-change diffs: evaluate two versions of a contract on the same requests and say
//! which decisions changed, grouped by output path and kind of change, each group with a
//! shrunk minimal example and the boundary it sits on.

use std::collections::BTreeMap;

use aftersale_core::schema::FieldType;
use aftersale_core::{Contract, Date, Request};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use crate::generate::{requests, Dictionary, GenerateError, Generated};
use crate::prop::MAX_REJECTS_IN_A_ROW;
use crate::search::{seeded_runner, Candidate, DrawPoint};

/// What to compare on.
#[derive(Debug, Clone)]
pub struct DiffConfig {
    /// Generated requests (valid for the old version's schema); 0 for recorded ones only.
    pub cases: usize,
    /// The seed of the generated requests.
    pub seed: u64,
    /// A fixed evaluation instant instead of the old schema's `[as_of]` range.
    pub as_of: Option<String>,
    /// Recorded real requests, evaluated as they are.
    pub recorded: Vec<Generated>,
    /// Most groups that get a shrunk example (the largest first).
    pub max_examples: usize,
}

impl Default for DiffConfig {
    fn default() -> Self {
        Self {
            cases: 2_000,
            seed: 0,
            as_of: None,
            recorded: Vec::new(),
            max_examples: 20,
        }
    }
}

/// One changed output, or a change between a decision and an error.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Change {
    /// The output path (`coverage.covered`; `[]` stands for any array element), or
    /// `(decision)` for a decision that became an error or the reverse, `(error)` for a
    /// different error.
    pub path: String,
    /// The kind: `true -> false`, `increased`, `earlier`, `added "x"`, `removed`, ...
    pub kind: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)
    }
}

/// A fact at which a group's change starts: the example has it, one step lower does not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Boundary {
    /// The fact (`facts.odometer_km`) or `as_of`.
    pub path: String,
    /// The value one step lower, where the decisions agree.
    pub unchanged: Value,
    /// The example's value, where they differ.
    pub changed: Value,
}

impl std::fmt::Display for Boundary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: unchanged at {}, changed from {}",
            self.path, self.unchanged, self.changed
        )
    }
}

/// All requests that show one change.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The change.
    #[serde(flatten)]
    pub change: Change,
    /// How many requests show it.
    pub count: usize,
    /// How many of them are recorded requests.
    pub recorded: usize,
    /// A minimal request that shows it (shrunk when it was generated).
    #[serde(serialize_with = "crate::serialize_generated_opt")]
    pub example: Option<Generated>,
    /// What the old version said for the example (the output value, or the error).
    pub old: Value,
    /// What the new version says.
    pub new: Value,
    /// The facts at whose edge the change starts.
    pub boundaries: Vec<Boundary>,
}

/// The result of a diff.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// `id version` of the old bundle.
    pub old: String,
    /// `id version` of the new bundle.
    pub new: String,
    /// The seed of the generated requests.
    pub seed: u64,
    /// Requests compared (generated plus recorded).
    pub cases: usize,
    /// Of which recorded.
    pub recorded: usize,
    /// Requests whose decision changed.
    pub changed: usize,
    /// The changes, most frequent first.
    pub groups: Vec<Group>,
}

/// Why a diff could not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiffError {
    /// Requests cannot be generated from the old version.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// The constraints reject nearly every generated request.
    #[error(
        "the constraints of `{0}` rejected {MAX_REJECTS_IN_A_ROW} generated requests in a row"
    )]
    TooManyRejects(String),
    /// A recorded request has an unreadable `as_of`.
    #[error("recorded request {index}: {message}")]
    Recorded {
        /// 0-based.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// What one version said: its outputs, or its error.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Decided(Value),
    Failed { code: String, message: String },
}

fn verdict(contract: &Contract, g: &Generated) -> Verdict {
    let as_of = match contract.parse_as_of(&g.as_of) {
        Ok(t) => t,
        Err(e) => {
            return Verdict::Failed {
                code: "invalid_as_of".into(),
                message: e.to_string(),
            }
        }
    };
    match contract.evaluate(&Request::new(g.facts.clone(), as_of)) {
        Ok(d) => Verdict::Decided(Value::Object(d.outputs)),
        Err(e) => Verdict::Failed {
            code: e.code().to_string(),
            message: e.to_string(),
        },
    }
}

fn error_json(code: &str, message: &str) -> Value {
    serde_json::json!({ "error": { "code": code, "message": message } })
}

/// The changes between two verdicts, each with the old and new values at its path.
fn changes(old: &Verdict, new: &Verdict) -> Vec<(Change, Value, Value)> {
    match (old, new) {
        (Verdict::Decided(a), Verdict::Decided(b)) => {
            let mut out = Vec::new();
            leaf_changes("", Some(a), Some(b), &mut out);
            out
        }
        (Verdict::Decided(a), Verdict::Failed { code, message }) => vec![(
            Change {
                path: "(decision)".into(),
                kind: format!("decided -> error {code}"),
            },
            a.clone(),
            error_json(code, message),
        )],
        (Verdict::Failed { code, message }, Verdict::Decided(b)) => vec![(
            Change {
                path: "(decision)".into(),
                kind: format!("error {code} -> decided"),
            },
            error_json(code, message),
            b.clone(),
        )],
        (
            Verdict::Failed {
                code: c1,
                message: m1,
            },
            Verdict::Failed {
                code: c2,
                message: m2,
            },
        ) => {
            if c1 != c2 {
                vec![(
                    Change {
                        path: "(error)".into(),
                        kind: format!("{c1} -> {c2}"),
                    },
                    error_json(c1, m1),
                    error_json(c2, m2),
                )]
            } else if m1 != m2 {
                vec![(
                    Change {
                        path: "(error)".into(),
                        kind: "message changed".into(),
                    },
                    error_json(c1, m1),
                    error_json(c2, m2),
                )]
            } else {
                Vec::new()
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn number(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => aftersale_core::value::json_number_as_decimal(n),
        _ => None,
    }
}

fn when(v: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let s = v.as_str()?;
    if let Ok(d) = Date::parse(s) {
        return d.0.and_hms_opt(0, 0, 0).map(|t| t.and_utc().fixed_offset());
    }
    aftersale_core::schema::parse_datetime(s)
}

fn scalar_kind(a: &Value, b: &Value) -> Option<String> {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return match x.cmp(&y) {
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Less => Some("increased".into()),
            std::cmp::Ordering::Greater => Some("decreased".into()),
        };
    }
    if a == b {
        return None;
    }
    if let (Some(x), Some(y)) = (when(a), when(b)) {
        return Some(if x < y { "later" } else { "earlier" }.into());
    }
    if type_name(a) != type_name(b) {
        return Some(format!("{} -> {}", type_name(a), type_name(b)));
    }
    Some(format!("{a} -> {b}"))
}

fn leaf_changes(
    path: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    out: &mut Vec<(Change, Value, Value)>,
) {
    let mut push = |kind: String, a: Option<&Value>, b: Option<&Value>| {
        out.push((
            Change {
                path: if path.is_empty() {
                    "(outputs)".into()
                } else {
                    path.to_string()
                },
                kind,
            },
            a.cloned().unwrap_or(Value::Null),
            b.cloned().unwrap_or(Value::Null),
        ));
    };
    match (old, new) {
        (None, None) => {}
        (Some(_), None) => push("removed".into(), old, None),
        (None, Some(_)) => push("added".into(), None, new),
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for (k, va) in a {
                leaf_changes(&join(path, k), Some(va), b.get(k), out);
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    leaf_changes(&join(path, k), None, Some(vb), out);
                }
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            if a.iter().chain(b).all(is_scalar) {
                // Lists of codes: say what was added and removed.
                let added: Vec<String> = b
                    .iter()
                    .filter(|v| !a.contains(v))
                    .map(ToString::to_string)
                    .collect();
                let removed: Vec<String> = a
                    .iter()
                    .filter(|v| !b.contains(v))
                    .map(ToString::to_string)
                    .collect();
                let mut kind = Vec::new();
                if !added.is_empty() {
                    kind.push(format!("added {}", added.join(", ")));
                }
                if !removed.is_empty() {
                    kind.push(format!("removed {}", removed.join(", ")));
                }
                if kind.is_empty() && a != b {
                    kind.push("reordered".into());
                }
                if !kind.is_empty() {
                    push(kind.join("; "), old, new);
                }
            } else {
                let element = format!("{path}[]");
                for i in 0..a.len().max(b.len()) {
                    leaf_changes(&element, a.get(i), b.get(i), out);
                }
            }
        }
        (Some(a), Some(b)) => {
            if let Some(kind) = scalar_kind(a, b) {
                push(kind, old, new);
            }
        }
    }
}

/// The changes between the versions for `g`, one entry per change (an array element path
/// may repeat); `None` when the old version refuses the request as invalid (a generated one
/// that the schema or constraints reject, or an unreadable `as_of`).
fn valid_changes(
    old: &Contract,
    new: &Contract,
    g: &Generated,
) -> Option<Vec<(Change, Value, Value)>> {
    let before = verdict(old, g);
    if matches!(&before, Verdict::Failed { code, .. } if code == "invalid_facts" || code == "invalid_as_of")
    {
        return None;
    }
    let mut list = changes(&before, &verdict(new, g));
    let mut seen = std::collections::BTreeSet::new();
    list.retain(|(c, _, _)| seen.insert(c.clone()));
    Some(list)
}

fn change_set(old: &Contract, new: &Contract, g: &Generated) -> Vec<(Change, Value, Value)> {
    let mut list = changes(&verdict(old, g), &verdict(new, g));
    let mut seen = std::collections::BTreeSet::new();
    list.retain(|(c, _, _)| seen.insert(c.clone()));
    list
}

/// Evaluates both versions on `config.cases` generated requests (from the old version's
/// schema) and on the recorded ones, and groups what changed.
///
/// # Errors
/// [`DiffError`] when requests cannot be generated or a recorded one cannot be read.
pub fn diff_bundles(
    old: &Contract,
    new: &Contract,
    config: &DiffConfig,
) -> Result<DiffReport, DiffError> {
    struct Acc {
        count: usize,
        recorded: usize,
        first_generated: Option<DrawPoint>,
        first_recorded: Option<Generated>,
    }
    let mut groups: BTreeMap<Change, Acc> = BTreeMap::new();
    let mut strategy = None;
    let mut changed = 0;
    let mut cases = 0;

    for (index, g) in config.recorded.iter().enumerate() {
        old.parse_as_of(&g.as_of).map_err(|e| DiffError::Recorded {
            index,
            message: e.to_string(),
        })?;
        cases += 1;
        let list = change_set(old, new, g);
        changed += usize::from(!list.is_empty());
        for (change, _, _) in list {
            let acc = groups.entry(change).or_insert(Acc {
                count: 0,
                recorded: 0,
                first_generated: None,
                first_recorded: None,
            });
            acc.count += 1;
            acc.recorded += 1;
            acc.first_recorded.get_or_insert_with(|| g.clone());
        }
    }

    if config.cases > 0 {
        let dictionary = Dictionary::from_contracts([old, new]);
        let drawn = requests(old, &dictionary, config.as_of.as_deref())?;
        let strategy = strategy.insert(drawn);
        let mut runner = seeded_runner(config.seed);
        let mut generated = 0;
        let mut rejects_in_a_row = 0;
        while generated < config.cases {
            let point = DrawPoint::of(&mut runner);
            let Some(candidate) = Candidate::draw(strategy, &mut runner) else {
                break;
            };
            let g = candidate.current();
            let Some(list) = valid_changes(old, new, &g) else {
                rejects_in_a_row += 1;
                if rejects_in_a_row >= MAX_REJECTS_IN_A_ROW {
                    return Err(DiffError::TooManyRejects(old.id().to_string()));
                }
                continue;
            };
            rejects_in_a_row = 0;
            generated += 1;
            changed += usize::from(!list.is_empty());
            for (change, _, _) in list {
                let acc = groups.entry(change).or_insert(Acc {
                    count: 0,
                    recorded: 0,
                    first_generated: None,
                    first_recorded: None,
                });
                acc.count += 1;
                acc.first_generated.get_or_insert_with(|| point.clone());
            }
        }
        cases += generated;
    }

    let mut ordered: Vec<(Change, Acc)> = groups.into_iter().collect();
    ordered.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
    let mut out = Vec::with_capacity(ordered.len());
    for (rank, (change, acc)) in ordered.into_iter().enumerate() {
        // Some(whether `g` shows the change), None for an invalid request.
        let probe = |g: &Generated| {
            valid_changes(old, new, g).map(|list| list.iter().any(|(c, _, _)| c == &change))
        };
        let shows = |g: &Generated| probe(g) == Some(true);
        let replayed = acc
            .first_generated
            .as_ref()
            .zip(strategy.as_ref())
            .and_then(|(point, strategy)| point.replay(strategy));
        let example = match replayed {
            Some(candidate) if rank < config.max_examples => Some(candidate.shrink(shows).0),
            Some(candidate) => Some(candidate.current()),
            None => acc.first_recorded,
        };
        let (old_value, new_value, boundaries) = match &example {
            Some(g) => {
                let (a, b) = change_set(old, new, g)
                    .into_iter()
                    .find(|(c, _, _)| c == &change)
                    .map(|(_, a, b)| (a, b))
                    .unwrap_or_default();
                let bounds = if rank < config.max_examples {
                    boundaries(old, g, &probe)
                } else {
                    Vec::new()
                };
                (a, b, bounds)
            }
            None => (Value::Null, Value::Null, Vec::new()),
        };
        out.push(Group {
            change,
            count: acc.count,
            recorded: acc.recorded,
            example,
            old: old_value,
            new: new_value,
            boundaries,
        });
    }
    Ok(DiffReport {
        old: format!("{} {}", old.id(), old.version()),
        new: format!("{} {}", new.id(), new.version()),
        seed: config.seed,
        cases,
        recorded: config.recorded.len(),
        changed,
        groups: out,
    })
}

/// The facts (and `as_of`) where one step lower makes the change disappear while the
/// request stays valid. `probe` says whether a request shows the change (`None`: invalid).
fn boundaries(
    old: &Contract,
    g: &Generated,
    probe: &dyn Fn(&Generated) -> Option<bool>,
) -> Vec<Boundary> {
    let mut found = Vec::new();
    let mut try_lower = |path: String, lower: Generated, unchanged: Value, changed: Value| {
        if probe(&lower) == Some(false) {
            found.push(Boundary {
                path,
                unchanged,
                changed,
            });
        }
    };
    if let Some(schema) = old.facts_schema() {
        let mut leaves = Vec::new();
        numeric_leaves(
            &schema.root(),
            &g.facts,
            "facts",
            &mut Vec::new(),
            &mut leaves,
        );
        for (path, pointer, ty) in leaves {
            let Some(current) = g.facts.pointer(&pointer) else {
                continue;
            };
            let Some(lower) = step_down(&ty, current) else {
                continue;
            };
            let mut request = g.clone();
            if let Some(slot) = request.facts.pointer_mut(&pointer) {
                *slot = lower.clone();
            }
            try_lower(path, request, lower, current.clone());
        }
    }
    // The evaluation instant, a day earlier.
    if let Some(before) = Date::parse(&g.as_of).ok().and_then(|d| d.add_days(-1).ok()) {
        let request = Generated {
            facts: g.facts.clone(),
            as_of: before.to_string(),
        };
        try_lower(
            "as_of".into(),
            request,
            Value::String(before.to_string()),
            Value::String(g.as_of.clone()),
        );
    }
    found
}

/// Integer, decimal and date leaves of `value`, with their dotted path, JSON pointer and type.
fn numeric_leaves(
    ty: &FieldType,
    value: &Value,
    path: &str,
    pointer: &mut Vec<String>,
    out: &mut Vec<(String, String, FieldType)>,
) {
    match (ty, value) {
        (FieldType::Object { fields, .. }, Value::Object(map)) => {
            for field in fields {
                if let Some(v) = map.get(&field.name) {
                    pointer.push(field.name.replace('~', "~0").replace('/', "~1"));
                    numeric_leaves(
                        &field.ty,
                        v,
                        &format!("{path}.{}", field.name),
                        pointer,
                        out,
                    );
                    pointer.pop();
                }
            }
        }
        (FieldType::Array { items, .. }, Value::Array(list)) => {
            for (i, v) in list.iter().enumerate() {
                pointer.push(i.to_string());
                numeric_leaves(items, v, &format!("{path}[{i}]"), pointer, out);
                pointer.pop();
            }
        }
        (FieldType::Integer { .. } | FieldType::Decimal { .. } | FieldType::Date { .. }, _) => {
            let p = if pointer.is_empty() {
                String::new()
            } else {
                format!("/{}", pointer.join("/"))
            };
            out.push((path.to_string(), p, ty.clone()));
        }
        _ => {}
    }
}

/// The value one step below `v`: 1 for integers, one unit of the last decimal place for
/// decimals, one day for dates.
fn step_down(ty: &FieldType, v: &Value) -> Option<Value> {
    match ty {
        FieldType::Integer { .. } => v.as_i64().and_then(|i| i.checked_sub(1)).map(|i| i.into()),
        FieldType::Decimal { scale, .. } => {
            let d = number(v)?;
            let s = scale.unwrap_or(d.scale()).max(d.scale());
            let step = Decimal::new(1, s);
            Some(aftersale_core::value::decimal_to_json(d - step))
        }
        FieldType::Date { .. } => {
            let d = Date::parse(v.as_str()?).ok()?;
            d.add_days(-1).ok().map(|p| Value::String(p.to_string()))
        }
        _ => None,
    }
}
