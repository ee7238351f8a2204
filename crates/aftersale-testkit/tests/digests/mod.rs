//! Decisions pinned by digests: every bundle of `rules/` decides 1,000 seeded generated
//! requests exactly as the baseline did, byte for byte.
//!
//! For each bundle the test loads the folder with the production engine (every domain plugin,
//! as the CLI does), generates 1,000 requests from a fixed seed, evaluates each, renders the
//! result as `aftersale eval --compact` prints it (the decision's JSON and a newline; a failed
//! evaluation as `error ` and the JSON of `--format json`'s error) and hashes the bytes with
//! FNV-1a 64, one digest per block of 50 requests. The digests are stored in
//! `tests/digests/<bundle>.txt`, so the test needs no old build. A block whose digest differs
//! is named, and its requests and their new decisions are printed.
//!
//! Two things are not what the CLI prints, on purpose: a trace's `duration_ns` is written as
//! 0 (a clock, not a decision), and memory is not counted (the test binary has no counting
//! allocator; the generated requests are far below any `max_memory_bytes`).
//!
//! Requests are made by a small generator of this file, seeded per request: facts from the
//! bundle's `[facts]` schema as written in its `contract.toml` (read with `toml`, not through
//! the core's schema types, so a refactor of the core cannot change the requests), shaped per
//! bundle so that most of them pass the constraints and reach the terms, with a few left
//! unshaped (constraint errors) and a few broken (schema errors); `as_of` over the bundle's
//! `[as_of]` range; one request in five asks for a trace.
//!
//! **Re-baselining.** A change that alters decisions on purpose rewrites the files, in the
//! reviewed commit that makes the change:
//!
//! ```text
//! AFTERSALE_REBASELINE=1 cargo test -p aftersale-testkit --test kit digests
//! ```
//!
//! To see every decision rather than digests (say, to diff two builds),
//! `AFTERSALE_DIGESTS_DUMP=<folder>` writes each request and its rendered result to
//! `<folder>/<bundle>.txt`.
//!
//! A change to this generator (the seed, the shapes, the counts) changes the requests, so the
//! digests must then be written again on the baseline commit, not on the changed code (see
//! `tests/digests/README.md`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use aftersale_core::{Contract, Engine, EvalError, Request};
use chrono::{DateTime, Datelike, Duration, FixedOffset, Months, NaiveDate};
use serde_json::{json, Map, Value};

/// Requests per bundle.
const REQUESTS: usize = 1_000;
/// Requests per digest.
const BLOCK: usize = 50;
/// The seed every request's generator is derived from.
const SEED: u64 = 0x0af7_e25a_1e14_d165;
/// The variable that rewrites the digest files instead of checking them.
const REBASELINE: &str = "AFTERSALE_REBASELINE";
/// The variable naming a folder where every request and its rendered result are written
/// (`<bundle>.txt`), to compare two builds line by line.
const DUMP: &str = "AFTERSALE_DIGESTS_DUMP";

#[test]
fn car_warranty_decides_as_the_baseline() {
    check_bundle("car-warranty");
}

#[test]
fn consumer_electronics_decides_as_the_baseline() {
    check_bundle("consumer-electronics");
}

#[test]
fn eu_legal_guarantee_decides_as_the_baseline() {
    check_bundle("eu-legal-guarantee");
}

#[test]
fn fleet_maintenance_decides_as_the_baseline() {
    check_bundle("fleet-maintenance");
}

#[test]
fn helpdesk_sla_decides_as_the_baseline() {
    check_bundle("helpdesk-sla");
}

/// One generated request, as the CLI would be given it.
struct Generated {
    facts: Value,
    as_of: String,
    trace: bool,
}

impl Generated {
    /// The request as a client would send it, for reports and dumps.
    fn to_json(&self) -> Value {
        json!({ "as_of": self.as_of, "trace": self.trace, "facts": self.facts })
    }
}

/// What one evaluation printed, and whether it was a decision.
struct Rendered {
    text: String,
    ok: bool,
}

/// One block's stored line: its first request, OK and error counts, digest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BlockDigest {
    first: usize,
    ok: usize,
    errors: usize,
    digest: u64,
}

fn check_bundle(bundle: &str) {
    let dir = rules_dir().join(bundle);
    let engine: Engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
    let contract = engine.load_dir(&dir).unwrap();
    let schema = Schema::read(&dir.join("contract.toml"));
    let requests: Vec<Generated> = (0..REQUESTS)
        .map(|i| generate(bundle, &schema, i))
        .collect();
    let rendered: Vec<Rendered> = requests.iter().map(|r| render(&contract, r)).collect();
    let blocks: Vec<BlockDigest> = rendered
        .chunks(BLOCK)
        .enumerate()
        .map(|(b, chunk)| BlockDigest {
            first: b * BLOCK,
            ok: chunk.iter().filter(|r| r.ok).count(),
            errors: chunk.iter().filter(|r| !r.ok).count(),
            digest: fnv1a(chunk.iter().map(|r| r.text.as_bytes())),
        })
        .collect();
    if let Some(dump) = std::env::var_os(DUMP) {
        let mut out = String::new();
        for (i, (r, line)) in requests.iter().zip(&rendered).enumerate() {
            let _ = write!(out, "request {i}: {}\n{}", r.to_json(), line.text);
        }
        std::fs::write(Path::new(&dump).join(format!("{bundle}.txt")), out).unwrap();
    }
    let path = digests_dir().join(format!("{bundle}.txt"));
    if std::env::var(REBASELINE).is_ok_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, digest_file(bundle, &blocks)).unwrap();
        eprintln!("{bundle}: wrote {}", path.display());
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nwrite it with {REBASELINE}=1 cargo test -p aftersale-testkit --test kit digests",
            path.display()
        )
    });
    let stored = parse_digest_file(&text);
    let mut report = String::new();
    let mut mismatched = 0;
    for (b, block) in blocks.iter().enumerate() {
        if stored.get(b) == Some(block) {
            continue;
        }
        mismatched += 1;
        let range = block.first..(block.first + BLOCK).min(REQUESTS);
        let _ = writeln!(
            report,
            "\n{bundle}: block {b} (requests {}..{}) differs: stored {:?}, now {} ok, {} errors, {:016x}",
            range.start,
            range.end,
            stored.get(b),
            block.ok,
            block.errors,
            block.digest
        );
        for i in range {
            let r = &requests[i];
            let _ = writeln!(
                report,
                "request {i}: {}\n  now: {}",
                r.to_json(),
                rendered[i].text.trim_end()
            );
        }
    }
    if stored.len() != blocks.len() {
        mismatched += 1;
        let _ = writeln!(
            report,
            "\n{bundle}: {} blocks stored, {} computed",
            stored.len(),
            blocks.len()
        );
    }
    assert!(
        mismatched == 0,
        "{report}\n{bundle}: {mismatched} block(s) of {} decide differently from the stored digests ({}).\n\
         If the change of decisions is intended, re-baseline in the reviewed commit that makes it:\n\
         {REBASELINE}=1 cargo test -p aftersale-testkit --test kit digests",
        blocks.len(),
        path.display()
    );
}

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

fn digests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/digests")
}

/// Evaluates `request` and renders it as `aftersale eval --compact` prints it.
fn render(contract: &Contract, generated: &Generated) -> Rendered {
    let as_of = match contract.parse_as_of(&generated.as_of) {
        Ok(t) => t,
        Err(e) => {
            return Rendered {
                text: format!("as_of error {}\n", json!({ "message": e.to_string() })),
                ok: false,
            }
        }
    };
    let request = Request::new(generated.facts.clone(), as_of).with_trace(generated.trace);
    match contract.evaluate(&request) {
        Ok(mut decision) => {
            for entry in decision.trace.iter_mut().flatten() {
                entry.duration_ns = 0;
            }
            Rendered {
                text: serde_json::to_string(&decision).unwrap() + "\n",
                ok: true,
            }
        }
        Err(error) => Rendered {
            text: format!("error {}\n", error_json(&error)),
            ok: false,
        },
    }
}

/// The error as `aftersale --format json eval` prints it.
fn error_json(error: &EvalError) -> Value {
    let location = match error.location() {
        Some(l) => json!({ "file": l.file, "line": l.line, "column": l.column }),
        None => Value::Null,
    };
    json!({ "code": error.code(), "message": error.to_string(), "term": error.term(), "location": location })
}

/// FNV-1a, 64 bits, over the pieces in order.
fn fnv1a<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in pieces.into_iter().flatten() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn digest_file(bundle: &str, blocks: &[BlockDigest]) -> String {
    let mut out = format!(
        "# Digests of rules/{bundle}'s decisions on {REQUESTS} generated requests (tests/digests/mod.rs),\n\
         # one line per block of {BLOCK}: first request, decisions, errors, FNV-1a 64 of the block.\n\
         # Written by {REBASELINE}=1 cargo test -p aftersale-testkit --test kit digests\n"
    );
    for b in blocks {
        let _ = writeln!(out, "{} {} {} {:016x}", b.first, b.ok, b.errors, b.digest);
    }
    out
}

fn parse_digest_file(text: &str) -> Vec<BlockDigest> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(parts.len(), 4, "digest line `{line}`");
            BlockDigest {
                first: parts[0].parse().unwrap(),
                ok: parts[1].parse().unwrap(),
                errors: parts[2].parse().unwrap(),
                digest: u64::from_str_radix(parts[3], 16).unwrap(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The generator: a seeded random source, the schema as written, values, shapes per bundle.

/// SplitMix64: a few lines, the same numbers on every platform and version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform over `lo..=hi` (`lo` when the range is empty).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = u64::try_from(i128::from(hi) - i128::from(lo) + 1).unwrap_or(u64::MAX);
        let offset = i128::from(self.next() % span);
        i64::try_from(i128::from(lo) + offset).unwrap_or(hi)
    }

    fn chance(&mut self, percent: i64) -> bool {
        self.range(0, 99) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let last = i64::try_from(items.len()).unwrap() - 1;
        &items[usize::try_from(self.range(0, last)).unwrap()]
    }
}

/// A field type as `contract.toml` writes it.
enum Ty {
    Bool,
    Int(i64, i64),
    /// Bounds in units of the scale, and the scale.
    Dec(i64, i64, u32),
    Str(i64, i64),
    Enum(Vec<String>),
    Date(NaiveDate, NaiveDate),
    DateTime(DateTime<FixedOffset>, DateTime<FixedOffset>),
    Object(Vec<Field>),
    Array {
        items: Box<Ty>,
        min: i64,
        max: i64,
        sorted_by: Vec<String>,
    },
}

struct Field {
    name: String,
    ty: Ty,
    optional: bool,
}

/// The facts schema and the `[as_of]` range of a bundle.
struct Schema {
    fields: Vec<Field>,
    as_of: Ty,
}

impl Schema {
    fn read(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let fields = table
            .get("facts")
            .and_then(toml::Value::as_table)
            .map(fields)
            .unwrap_or_default();
        let as_of = table.get("as_of").and_then(toml::Value::as_table).map_or(
            Ty::Date(day(2015, 1, 1), day(2032, 12, 31)),
            |t| {
                let mut spec = t.clone();
                spec.entry("type")
                    .or_insert_with(|| toml::Value::String("date".into()));
                ty(&spec)
            },
        );
        Self { fields, as_of }
    }
}

/// The fields in name order, whatever order `toml`'s features give its tables.
fn fields(table: &toml::Table) -> Vec<Field> {
    let mut entries: Vec<(&String, &toml::Value)> = table.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
        .into_iter()
        .filter_map(|(name, spec)| {
            let spec = spec.as_table()?;
            Some(Field {
                name: name.clone(),
                ty: ty(spec),
                optional: spec
                    .get("optional")
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect()
}

fn ty(spec: &toml::Table) -> Ty {
    let int = |key: &str| spec.get(key).and_then(toml::Value::as_integer);
    let text = |key: &str| match spec.get(key) {
        Some(toml::Value::Datetime(d)) => Some(d.to_string()),
        Some(toml::Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    match spec.get("type").and_then(toml::Value::as_str).unwrap_or("") {
        "boolean" => Ty::Bool,
        "integer" => {
            let lo = int("min").unwrap_or(-1_000_000);
            Ty::Int(lo, int("max").unwrap_or(lo + 1_000_000))
        }
        "decimal" => {
            let scale = u32::try_from(int("scale").unwrap_or(2)).unwrap_or(2).min(8);
            let units = |key: &str| {
                spec.get(key).map(|v| match v {
                    toml::Value::Integer(i) => i * 10i64.pow(scale),
                    // A bound written with a point: a float, exact enough at these sizes.
                    other => (other.as_float().unwrap_or(0.0)
                        * 10f64.powi(i32::try_from(scale).unwrap_or(2)))
                    .round() as i64,
                })
            };
            let lo = units("min").unwrap_or(0);
            Ty::Dec(
                lo,
                units("max").unwrap_or(lo + 1_000_000 * 10i64.pow(scale)),
                scale,
            )
        }
        "string" => {
            let lo = int("min_length").unwrap_or(0);
            Ty::Str(lo, int("max_length").unwrap_or(lo + 12).min(lo + 12))
        }
        "enum" => Ty::Enum(strings(spec, "values")),
        "date" => Ty::Date(
            text("min").map_or(day(2000, 1, 1), |t| t.parse().unwrap()),
            text("max").map_or(day(2040, 12, 31), |t| t.parse().unwrap()),
        ),
        "datetime" => {
            let at = |t: String| DateTime::parse_from_rfc3339(&t).unwrap();
            Ty::DateTime(
                text("min").map_or_else(|| at("2000-01-01T00:00:00Z".into()), at),
                text("max").map_or_else(|| at("2040-12-31T23:59:59Z".into()), at),
            )
        }
        "object" => Ty::Object(
            spec.get("fields")
                .and_then(toml::Value::as_table)
                .map(fields)
                .unwrap_or_default(),
        ),
        "array" => {
            let lo = int("min_items").unwrap_or(0);
            Ty::Array {
                items: Box::new(
                    spec.get("items")
                        .and_then(toml::Value::as_table)
                        .map_or(Ty::Bool, ty),
                ),
                min: lo,
                // Short arrays: a long history decides like a short one, only slower.
                max: int("max_items").unwrap_or(lo + 6).min(lo + 6),
                sorted_by: strings(spec, "sorted_by"),
            }
        }
        other => panic!("unknown fact type `{other}`"),
    }
}

/// The strings of an array field of a schema entry (`values`, `sorted_by`); none if absent.
fn strings(spec: &toml::Table, key: &str) -> Vec<String> {
    spec.get(key)
        .and_then(toml::Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The generator of one request: its random source and the evaluation day, which dates lean
/// towards (a claim is about the past).
struct Gen {
    rng: Rng,
    as_of: NaiveDate,
}

impl Gen {
    fn object(&mut self, fields: &[Field]) -> Value {
        let mut map = Map::new();
        for field in fields {
            if field.optional && self.rng.chance(30) {
                continue;
            }
            let value = self.value(&field.ty);
            map.insert(field.name.clone(), value);
        }
        Value::Object(map)
    }

    fn value(&mut self, ty: &Ty) -> Value {
        match ty {
            Ty::Bool => Value::Bool(self.rng.chance(50)),
            Ty::Int(lo, hi) => Value::from(self.number(*lo, *hi)),
            Ty::Dec(lo, hi, scale) => decimal(self.number(*lo, *hi), *scale),
            Ty::Str(lo, hi) => {
                const CHARS: &[char] = &[
                    'a', 'b', 'c', 'x', 'y', 'z', 'A', 'Q', 'Z', '0', '7', '9', ' ', '-', '_', '.',
                    'é', 'ß', '€',
                ];
                let len = self.rng.range(*lo, *hi);
                Value::String((0..len).map(|_| *self.rng.pick(CHARS)).collect())
            }
            Ty::Enum(values) => Value::String(self.rng.pick(values).clone()),
            Ty::Date(lo, hi) => Value::String(self.date(*lo, *hi).to_string()),
            Ty::DateTime(lo, hi) => {
                let span = (*hi - *lo).num_seconds();
                let at = *lo + Duration::seconds(self.rng.range(0, span));
                Value::String(at.to_rfc3339())
            }
            Ty::Object(fields) => self.object(fields),
            Ty::Array {
                items,
                min,
                max,
                sorted_by,
            } => {
                let len = self.rng.range(*min, *max);
                let mut list: Vec<Value> = (0..len).map(|_| self.value(items)).collect();
                sort_fields(&mut list, sorted_by);
                Value::Array(list)
            }
        }
    }

    /// Small values most of the time (amounts and readings cluster low), the whole range
    /// and the bounds sometimes.
    fn number(&mut self, lo: i64, hi: i64) -> i64 {
        match self.rng.range(0, 19) {
            0 => lo,
            1 => hi,
            2..=9 => self.rng.range(lo, hi),
            _ => self.rng.range(lo, lo.saturating_add((hi - lo) / 20)),
        }
    }

    /// A day in `lo..=hi`, no later than `as_of` where the range allows, mostly within eight
    /// years before it; sometimes a month's first or last day.
    fn date(&mut self, lo: NaiveDate, hi: NaiveDate) -> NaiveDate {
        let top = if (lo..=hi).contains(&self.as_of) {
            self.as_of
        } else {
            hi
        };
        let bottom = lo.max(top - Duration::days(8 * 365));
        let d = bottom + Duration::days(self.rng.range(0, (top - bottom).num_days()));
        match self.rng.range(0, 9) {
            0 => d.with_day(1).unwrap_or(d),
            1 => month_end(d).min(top),
            _ => d,
        }
    }

    fn day_between(&mut self, lo: NaiveDate, hi: NaiveDate) -> NaiveDate {
        lo + Duration::days(self.rng.range(0, (hi - lo).num_days()))
    }
}

fn month_end(d: NaiveDate) -> NaiveDate {
    (d.with_day(1).unwrap_or(d) + Months::new(1))
        .pred_opt()
        .unwrap_or(d)
}

fn decimal(units: i64, scale: u32) -> Value {
    let text = rust_decimal::Decimal::new(units, scale).to_string();
    serde_json::from_str(&text).unwrap()
}

/// Each `sorted_by` field ascending along the array, as the schema asks.
fn sort_fields(list: &mut [Value], keys: &[String]) {
    for key in keys {
        let mut values: Vec<Value> = list.iter().filter_map(|v| v.get(key).cloned()).collect();
        values.sort_by(|a, b| match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                x.as_i64().unwrap_or(0).cmp(&y.as_i64().unwrap_or(0))
            }
            _ => a.to_string().cmp(&b.to_string()),
        });
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

/// Request `index` of `bundle`: the same on every run, every machine and every version of
/// the engine.
fn generate(bundle: &str, schema: &Schema, index: usize) -> Generated {
    let mut rng =
        Rng(SEED ^ fnv1a([bundle.as_bytes()]) ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let (as_of, as_of_day) = match &schema.as_of {
        Ty::DateTime(lo, hi) => {
            let span = (*hi - *lo).num_seconds();
            let at = *lo + Duration::seconds(rng.range(0, span));
            (at.to_rfc3339(), at.date_naive())
        }
        Ty::Date(lo, hi) => {
            let d = *lo + Duration::days(rng.range(0, (*hi - *lo).num_days()));
            // Mostly a bare date (00:00 in the contract's zone), sometimes an instant.
            let text = match rng.range(0, 9) {
                0 => format!("{d}T23:59:59Z"),
                1 => format!("{d}T12:30:00+02:00"),
                _ => d.to_string(),
            };
            (text, d)
        }
        _ => unreachable!("[as_of] is a date or datetime range"),
    };
    let mut gen = Gen {
        rng,
        as_of: as_of_day,
    };
    let mut facts = gen.object(&schema.fields);
    shape(bundle, &mut gen, &mut facts, &as_of);
    // A few requests as generated, which the constraints often refuse; a few broken.
    let trace = gen.rng.chance(20);
    if gen.rng.chance(4) {
        break_facts(&mut gen.rng, &mut facts);
    }
    Generated {
        facts,
        as_of,
        trace,
    }
}

/// Makes most requests realistic: dates in their order, odometers that agree, the codes a
/// claim uses. One in ten is left as the schema made it.
fn shape(bundle: &str, gen: &mut Gen, facts: &mut Value, as_of: &str) {
    if gen.rng.chance(10) {
        return;
    }
    match bundle {
        "car-warranty" => shape_car_warranty(gen, facts),
        "consumer-electronics" => shape_consumer_electronics(gen, facts),
        "eu-legal-guarantee" => shape_eu_legal_guarantee(gen, facts),
        "fleet-maintenance" => shape_fleet_maintenance(gen, facts),
        "helpdesk-sla" => shape_helpdesk_sla(gen, facts, as_of),
        _ => {}
    }
}

fn date_of(facts: &Value, key: &str) -> NaiveDate {
    facts[key].as_str().unwrap().parse().unwrap()
}

/// Services about when they are due (12 months or 15,000 km), now and then late; an
/// odometer that grows with them; a vehicle used and repaired as most are.
fn shape_car_warranty(gen: &mut Gen, facts: &mut Value) {
    for (key, usual) in [
        ("commercial_use", false),
        ("misuse", false),
        ("genuine_parts", true),
    ] {
        if facts.get(key).is_some() {
            facts[key] = json!(usual != gen.rng.chance(10));
        }
    }
    let start = date_of(facts, "in_service_date");
    let claimed = if facts.get("claim_date").is_some() {
        let d = gen.day_between(start, gen.as_of);
        facts["claim_date"] = json!(d.to_string());
        d
    } else {
        gen.as_of
    };
    let km_a_day = gen.rng.range(10, 140);
    let km_on = |d: NaiveDate| ((d - start).num_days() * km_a_day).clamp(0, 1_000_000);
    if let Some(services) = facts.get_mut("services").and_then(Value::as_array_mut) {
        let wanted = services.len();
        services.clear();
        let mut on = start;
        let mut km = 0;
        while services.len() < wanted {
            let due_by_km = gen.rng.range(12_000, 16_000) / km_a_day;
            on += Duration::days(match gen.rng.range(0, 9) {
                0 => gen.rng.range(400, 700),
                _ => gen.rng.range(200, 390).min(due_by_km).max(30),
            });
            if on > claimed {
                break;
            }
            km = (km_on(on) - gen.rng.range(0, 900)).max(km);
            services.push(json!({ "date": on.to_string(), "km": km }));
        }
    }
    facts["odometer_km"] = json!(km_on(claimed));
    if facts.get("odometer_at_base_end").is_some() {
        let base_end = start + Months::new(36);
        facts["odometer_at_base_end"] = json!(km_on(base_end.min(claimed)));
    }
}

const MEMBER_STATES: &[&str] = &[
    "DE", "FR", "IT", "ES", "PT", "SE", "SI", "NL", "AT", "PL", "IE", "fr", "pt",
];

/// A device delivered, a claim noticed after it, a plan's incidents within its term.
fn shape_consumer_electronics(gen: &mut Gen, facts: &mut Value) {
    facts["member_state"] = json!(gen.rng.pick(MEMBER_STATES));
    let delivered = date_of(facts, "delivery_date");
    let noticed = match gen.rng.range(0, 9) {
        0..=2 => delivered + Duration::days(gen.rng.range(0, 30)),
        3..=7 => delivered + Duration::days(gen.rng.range(0, 3 * 366)),
        _ => gen.day_between(delivered, gen.as_of),
    }
    .min(gen.as_of);
    let claim = &mut facts["claim"];
    claim["noticed_on"] = json!(noticed.to_string());
    // Most claims are defects; few devices were opened or broken on purpose.
    if gen.rng.chance(40) {
        claim["kind"] = json!("defect");
    }
    for key in ["intentional", "unauthorised_repair"] {
        if claim.get(key).is_some() {
            claim[key] = json!(gen.rng.chance(10));
        }
    }
    if claim["kind"] == "accidental_damage" && claim.get("damage").is_none() && gen.rng.chance(90) {
        claim["damage"] = json!(gen.rng.pick(&["screen", "other"]));
    }
    if let Some(plan) = facts.get_mut("plan") {
        let months = *gen.rng.pick(&[24u32, 36]);
        plan["months"] = json!(months);
        if let Some(list) = plan.get_mut("incidents").and_then(Value::as_array_mut) {
            let ends = (delivered + Months::new(months)).min(noticed);
            let mut days: Vec<NaiveDate> = (0..list.len().min(2))
                .map(|_| gen.day_between(delivered, ends))
                .collect();
            days.sort();
            *list = days.iter().map(|d| json!(d.to_string())).collect();
        }
    }
}

/// Goods delivered, a defect noticed and notified in order, what the remedy needs given.
fn shape_eu_legal_guarantee(gen: &mut Gen, facts: &mut Value) {
    facts["member_state"] = json!(gen.rng.pick(MEMBER_STATES));
    let delivered = date_of(facts, "delivery_date");
    let noticed = match gen.rng.range(0, 9) {
        0 => delivered - Duration::days(gen.rng.range(1, 20)),
        1..=3 => (delivered + Duration::days(gen.rng.range(0, 400))).min(gen.as_of),
        4..=7 => (delivered + Duration::days(gen.rng.range(0, 3 * 366))).min(gen.as_of),
        _ => gen.day_between(delivered, gen.as_of),
    }
    .max(day(2020, 1, 1));
    facts["defect_noticed_on"] = json!(noticed.to_string());
    if facts.get("seller_proves_misuse").is_some() {
        facts["seller_proves_misuse"] = json!(gen.rng.chance(10));
    }
    if facts.get("notified_on").is_some() {
        let late = (noticed + Duration::days(gen.rng.range(0, 150))).min(gen.as_of);
        facts["notified_on"] = json!(late.max(noticed).to_string());
    }
    if facts.get("defect_minor") == Some(&json!(true))
        && facts.get("defect_serious") == Some(&json!(true))
    {
        facts["defect_minor"] = json!(false);
    }
    if facts.get("value_reduction_share").is_none() && gen.rng.chance(80) {
        facts["value_reduction_share"] = decimal(gen.rng.range(0, 10_000), 4);
    }
}

/// Readings and services on one odometer that grows with the days.
fn shape_fleet_maintenance(gen: &mut Gen, facts: &mut Value) {
    let start = date_of(facts, "in_service_date");
    let start_km = if facts.get("start_km").is_some() {
        let km = gen.rng.range(0, 120_000);
        facts["start_km"] = json!(km);
        km
    } else {
        0
    };
    let km_a_day = gen.rng.range(5, 400);
    let last = gen.as_of.max(start);
    for key in ["readings", "history"] {
        let Some(list) = facts.get_mut(key).and_then(Value::as_array_mut) else {
            continue;
        };
        let mut days: Vec<NaiveDate> = (0..list.len())
            .map(|_| gen.day_between(start, last))
            .collect();
        days.sort();
        for (item, on) in list.iter_mut().zip(days) {
            let km = (start_km + (on - start).num_days() * km_a_day).min(1_500_000);
            item["date"] = json!(on.to_string());
            item["km"] = json!(km);
        }
    }
}

/// A ticket's history in order: created first, then replies with their authors and status
/// changes with their status, minutes to days apart, mostly before `as_of`.
fn shape_helpdesk_sla(gen: &mut Gen, facts: &mut Value, as_of: &str) {
    let at = DateTime::parse_from_rfc3339(as_of).unwrap();
    let first = DateTime::parse_from_rfc3339("2025-01-01T00:00:00+01:00").unwrap();
    let last = DateTime::parse_from_rfc3339("2026-12-31T23:59:59+01:00").unwrap();
    let Some(events) = facts["ticket"]
        .get_mut("events")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let mut t = (at - Duration::seconds(gen.rng.range(0, 20 * 86_400))).max(first);
    let offsets = [
        FixedOffset::east_opt(3600).unwrap(),
        FixedOffset::east_opt(7200).unwrap(),
        FixedOffset::west_opt(5 * 3600).unwrap(),
        FixedOffset::east_opt(0).unwrap(),
    ];
    for (i, event) in events.iter_mut().enumerate() {
        if i > 0 {
            t += Duration::seconds(match gen.rng.range(0, 9) {
                0..=3 => gen.rng.range(30, 3_600),
                4..=7 => gen.rng.range(3_600, 86_400),
                _ => gen.rng.range(86_400, 5 * 86_400),
            });
            t = t.min(last);
        }
        let offset = *gen.rng.pick(&offsets);
        let text = if gen.rng.chance(15) {
            // Local time in the contract's zone, as `local = true` allows.
            t.with_timezone(&FixedOffset::east_opt(3600).unwrap())
                .naive_local()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string()
        } else {
            t.with_timezone(&offset).to_rfc3339()
        };
        event["at"] = json!(text);
        let kind = if i == 0 {
            "created".to_string()
        } else {
            gen.rng
                .pick(&["status", "reply", "reply", "note", "assigned"])
                .to_string()
        };
        if kind == "reply" && event.get("by").is_none() {
            event["by"] = json!(gen.rng.pick(&["agent", "customer"]));
        }
        if kind == "status" && event.get("status").is_none() {
            event["status"] = json!(gen.rng.pick(&["open", "waiting_on_customer", "resolved"]));
        }
        event["type"] = json!(kind);
    }
}

/// Breaks the facts the way a client does: a field missing, of the wrong type, or unknown.
fn break_facts(rng: &mut Rng, facts: &mut Value) {
    let Some(map) = facts.as_object_mut() else {
        return;
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    if keys.is_empty() {
        return;
    }
    let key = rng.pick(&keys).clone();
    match rng.range(0, 3) {
        0 => {
            map.remove(&key);
        }
        1 => {
            map.insert(key, json!("not a value"));
        }
        2 => {
            map.insert(key, json!(-1));
        }
        _ => {
            map.insert("unexpected".into(), json!(true));
        }
    }
}
