//! Runs one bundle's decision many times, for a profiler: `valgrind --tool=callgrind` (repeatable
//! instruction counts) or `perf record`. JSON in and out, as the `engine` benchmark's decision.
//!
//! ```sh
//! cargo build --release -p aftersale-benches --bin profile
//! valgrind --tool=callgrind target/release/profile car-warranty 200
//! target/release/profile car-warranty 20000 --trace
//! target/release/profile native 20000
//! ```
//!
//! With `--trace`, it also prints each term's mean duration (from the trace).
//! `--as-of T` overrides the evaluation instant; `--stack-kib N` runs the decisions on a thread
//! with that stack (a host's worker) instead of the main thread. A bundle named with a `/` is read from that folder instead of `rules/`.
//! `native` runs the hand-written `car-warranty` of `src/native.rs` instead. The facts are
//! `car-warranty`'s example claim for `car-warranty` and `native`, else the bundle's
//! `examples/*.json` (the first, by name).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use aftersale_benches::native;
use aftersale_core::{Engine, Request};

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules");

/// The allocator the `aftersale` binary runs with (mimalloc, counting each thread's bytes for
/// `max_memory_bytes`), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: aftersale_alloc::Counting = aftersale_alloc::Counting;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stack_kib: Option<usize> = args
        .iter()
        .position(|a| a == "--stack-kib")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok());
    match stack_kib {
        None => run(&args),
        Some(kib) => std::thread::Builder::new()
            .stack_size(kib << 10)
            .spawn(move || run(&args))
            .map_or(ExitCode::FAILURE, |t| t.join().unwrap_or(ExitCode::FAILURE)),
    }
}

/// The decisions, on whatever thread calls it.
fn run(args: &[String]) -> ExitCode {
    let bundle = args.first().map_or("car-warranty", String::as_str);
    let runs: u32 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let trace = args.iter().any(|a| a == "--trace");
    let as_of_arg = args
        .iter()
        .position(|a| a == "--as-of")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let started = Instant::now();
    let mut bytes = 0usize;
    if bundle == "native" {
        let facts = native::sample_car_warranty_facts();
        for _ in 0..runs {
            bytes += std::hint::black_box(native::car_warranty_json(&facts)).len();
        }
    } else {
        let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
        let dir = if bundle.contains('/') {
            Path::new(bundle).to_path_buf()
        } else {
            Path::new(RULES).join(bundle)
        };
        let contract = match engine.load_dir(&dir) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let (facts, as_of) = match sample(&dir, bundle) {
            Some(s) => s,
            None => {
                eprintln!("no example facts in {}", dir.display());
                return ExitCode::FAILURE;
            }
        };
        let as_of = as_of_arg.unwrap_or(as_of);
        let Ok(as_of) = contract.parse_as_of(&as_of) else {
            eprintln!("bad as_of {as_of}");
            return ExitCode::FAILURE;
        };
        let mut per_term: Vec<(String, u64)> = Vec::new();
        for _ in 0..runs {
            let value: serde_json::Value = serde_json::from_str(&facts).unwrap_or_default();
            let out = match contract.evaluate(&Request::new(value, as_of).with_trace(trace)) {
                Ok(d) => {
                    for (i, entry) in d.trace.iter().flatten().enumerate() {
                        match per_term.get_mut(i) {
                            Some(slot) => slot.1 += entry.duration_ns,
                            None => per_term.push((entry.term.clone(), entry.duration_ns)),
                        }
                    }
                    serde_json::to_string(&d).unwrap_or_default()
                }
                Err(e) => e.to_string(),
            };
            bytes += std::hint::black_box(out).len();
        }
        for (term, total) in &per_term {
            println!("  {term}: {} ns", total / u64::from(runs.max(1)));
        }
    }
    let per = started.elapsed().as_nanos() as f64 / f64::from(runs.max(1));
    println!("{bundle}: {runs} decisions, {per:.0} ns each, {bytes} bytes out");
    ExitCode::SUCCESS
}

/// The facts (JSON text) and `as_of` to decide.
fn sample(dir: &Path, bundle: &str) -> Option<(String, String)> {
    if bundle == "car-warranty" {
        return Some((
            native::sample_car_warranty_facts(),
            native::SAMPLE_AS_OF.to_string(),
        ));
    }
    let mut files: Vec<_> = std::fs::read_dir(dir.join("examples"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let text = std::fs::read_to_string(files.first()?).ok()?;
    Some((text, "2026-01-15".to_string()))
}
