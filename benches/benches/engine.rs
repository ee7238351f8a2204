//! Criterion benchmarks, for every bundle in `rules/`: load and compile; one decision with and
//! without a trace (JSON in and out); batch throughput on 1 and 2 threads; plus a 50-term
//! synthetic bundle's load, and `car-warranty` against its native Rust implementation.
//!
//! Run: `cargo bench -p aftersale-benches` (figures and machine in `benches/README.md`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aftersale_benches::{jsonl, native};
use aftersale_cli::stream::{self, Settings};
use aftersale_core::cases::parse_case_file;
use aftersale_core::{BundleSource, Contract, DateTime, Engine, Request};
use criterion::{BenchmarkId, Criterion, Throughput};
use indicatif::ProgressBar;

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules");
/// Records per batch benchmark iteration.
const BATCH_RECORDS: usize = 10_000;

fn engine() -> Engine {
    aftersale_domain::with_domain_plugins(Engine::builder()).build()
}

fn bundles() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(RULES)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("contract.toml").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// The first case of the bundle's tests that expects a decision: its facts (as JSON text)
/// and as_of.
fn sample_request(dir: &Path, contract: &Contract) -> Option<(String, DateTime)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("tests"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).ok()?;
        let cases = parse_case_file("t.toml", &text).ok()?;
        let first = cases
            .into_iter()
            .find(|c| c.case.expect.is_some() && c.case.outputs.is_none());
        if let Some(c) = first {
            let as_of = contract.parse_as_of(&c.case.as_of).ok()?;
            return Some((serde_json::Value::Object(c.case.facts).to_string(), as_of));
        }
    }
    None
}

/// One decision, JSON in and out, as a host sees it.
fn decide(contract: &Contract, facts_json: &str, as_of: DateTime, trace: bool) -> String {
    let facts: serde_json::Value = serde_json::from_str(facts_json).unwrap_or_default();
    match contract.evaluate(&Request::new(facts, as_of).with_trace(trace)) {
        Ok(d) => serde_json::to_string(&d).unwrap_or_default(),
        Err(e) => e.to_string(),
    }
}

fn synthetic_bundle(terms: usize) -> BundleSource {
    let mut manifest = String::from(
        "[contract]\nid = \"synthetic\"\nversion = \"1\"\n[params]\nrate = 0.15\nyears = 3\n",
    );
    let mut source = BundleSource::new("synthetic");
    for i in 0..terms {
        manifest.push_str(&format!("[terms.t{i}]\n"));
        let reads = match i {
            0 => "let prev = 0;".to_string(),
            1 => "let prev = terms.t0;".to_string(),
            _ => format!("let prev = terms.t{} + terms.t{};", i - 1, i - 2),
        };
        let script = format!(
            "// term {i}\n{reads}\nlet ends = date(facts.start).add_years(params.years);\nlet cost = facts.cost * params.rate;\nif as_of.date() <= ends {{\n  prev + round(cost, 2)\n}} else {{\n  prev\n}}\n"
        );
        source = source.with_file(format!("terms/t{i}.rhai"), script);
    }
    source.with_file("contract.toml", manifest)
}

fn bench_load(c: &mut Criterion) {
    let engine = engine();
    let mut group = c.benchmark_group("load");
    for dir in bundles() {
        let Ok(source) = BundleSource::from_dir(&dir) else {
            continue;
        };
        group.bench_function(BenchmarkId::from_parameter(&source.name), |b| {
            b.iter(|| engine.load(&source).map(|c| c.terms().len()))
        });
    }
    let synthetic = synthetic_bundle(50);
    group.bench_function("synthetic-50-terms", |b| {
        b.iter(|| engine.load(&synthetic).map(|c| c.terms().len()))
    });
    group.finish();
}

fn bench_decision(c: &mut Criterion) {
    let engine = engine();
    let mut group = c.benchmark_group("decision");
    for dir in bundles() {
        let Ok(contract) = engine.load_dir(&dir) else {
            continue;
        };
        let Some((facts, as_of)) = sample_request(&dir, &contract) else {
            continue;
        };
        for trace in [false, true] {
            let id = BenchmarkId::new(contract.id(), if trace { "trace" } else { "no-trace" });
            group.bench_function(id, |b| b.iter(|| decide(&contract, &facts, as_of, trace)));
        }
    }
    let facts = native::sample_car_warranty_facts();
    group.bench_function("car-warranty/native", |b| {
        b.iter(|| native::car_warranty_json(&facts))
    });
    group.finish();
}

fn bench_batch(c: &mut Criterion) {
    let engine = engine();
    let mut group = c.benchmark_group("batch");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(BATCH_RECORDS as u64));
    for dir in bundles() {
        let Ok(contract) = engine.load_dir(&dir) else {
            continue;
        };
        let Some(input) = jsonl(contract.id(), BATCH_RECORDS, 7) else {
            continue;
        };
        let Ok(as_of) = contract.parse_as_of("2026-06-01") else {
            continue;
        };
        let settings = Settings {
            as_of,
            requests: false,
            trace: false,
            outputs: None,
        };
        for jobs in [1usize, 2] {
            group.bench_function(
                BenchmarkId::new(contract.id(), format!("jobs={jobs}")),
                |b| {
                    b.iter(|| {
                        let reader: Box<dyn std::io::Read + Send> =
                            Box::new(std::io::Cursor::new(input.clone().into_bytes()));
                        stream::run(
                            &contract,
                            reader,
                            false,
                            &mut std::io::sink(),
                            jobs,
                            &settings,
                            &ProgressBar::hidden(),
                        )
                        .records
                    });
                },
            );
        }
    }
    group.finish();
}

/// Times `f` over `n` runs, in nanoseconds per run.
fn per_run(n: u32, mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    started.elapsed().as_nanos() as f64 / f64::from(n)
}

/// Prints the engine / native ratio for one `car-warranty` decision, JSON in and out, with
/// the same facts, measured in this run.
fn report_native_ratio() {
    let engine = engine();
    let Ok(contract) = engine.load_dir(&Path::new(RULES).join("car-warranty")) else {
        return;
    };
    let facts = native::sample_car_warranty_facts();
    let Ok(as_of) = contract.parse_as_of(native::SAMPLE_AS_OF) else {
        return;
    };
    let engine_ns = per_run(20_000, || {
        std::hint::black_box(decide(&contract, &facts, as_of, false));
    });
    let native_ns = per_run(20_000, || {
        std::hint::black_box(native::car_warranty_json(&facts));
    });
    println!(
        "car-warranty decision, JSON in and out: engine {engine_ns:.0} ns, native {native_ns:.0} ns, engine/native = {:.2}x",
        engine_ns / native_ns
    );
}

/// The allocator the `aftersale` binary runs with (mimalloc, counting each thread's bytes for
/// `max_memory_bytes`), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: aftersale_alloc::Counting = aftersale_alloc::Counting;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_load(&mut c);
    bench_decision(&mut c);
    bench_batch(&mut c);
    c.final_summary();
    report_native_ratio();
}
