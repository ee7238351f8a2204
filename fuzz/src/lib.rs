//! # aftersale-fuzz
//!
//! What the fuzz targets in `fuzz_targets/` share: the production engine (the core plus the
//! domain plugins, default limits), the bundles of `rules/`, and a thread with the stack an
//! evaluation gets.
//!
//! Every target evaluates on a fresh thread with a chosen stack, never on libFuzzer's own
//! (the main thread, 8 MiB), where a script that overflows a smaller stack would pass
//! unnoticed. Evaluations under default limits get 2 MiB, the default of Rust's `std::thread`,
//! tokio and rayon: a host embedding the engine gets that unless it knows better, and the CLI and
//! the server use it too. Manifests may raise the limits up to their ceilings; the core then
//! moves the load and the evaluation to a larger stack itself, so that target gets 2 MiB as
//! well. A stack overflow aborts the process; AddressSanitizer reports it with the stack, as a
//! crash.

use std::path::{Path, PathBuf};

use aftersale_core::{BundleSource, Contract, Engine};

/// The stack of a worker thread by default (Rust's `std::thread`, tokio's and rayon's): what
/// a host embedding the engine, and the `aftersale` CLI and server themselves, give
/// evaluations. Any limits a contract may set must survive it (the core moves a load or an
/// evaluation that may need more to a larger stack).
pub const WORKER_STACK_BYTES: usize = 2 * 1024 * 1024;

/// Every plugin of `aftersale-domain`, as a contract names them.
pub const DOMAIN_PLUGINS: &str = r#"["calendar", "sla", "maintenance", "warranty"]"#;

/// The engine production uses: the core vocabulary, every domain plugin, default limits.
pub fn production_engine() -> Engine {
    aftersale_domain::with_domain_plugins(Engine::builder()).build()
}

/// Runs `work` on a new thread with a default worker's stack ([`WORKER_STACK_BYTES`]) and
/// returns its result. A panic on that thread is re-raised here, where libFuzzer's hook turns
/// it into a crash.
pub fn on_worker_stack<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    on_stack(WORKER_STACK_BYTES, work)
}

/// Runs `work` on a new thread with a stack of `bytes`, see [`on_worker_stack`].
/// `AFTERSALE_FUZZ_STACK_KIB` in the environment overrides the size for every target, to find
/// how much stack an input needs (`AFTERSALE_FUZZ_STACK_KIB=2048 cargo +nightly fuzz run ..`).
pub fn on_stack<T: Send>(bytes: usize, work: impl FnOnce() -> T + Send) -> T {
    static OVERRIDE: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let bytes = OVERRIDE
        .get_or_init(|| {
            std::env::var("AFTERSALE_FUZZ_STACK_KIB")
                .ok()
                .and_then(|kib| kib.parse::<usize>().ok())
                .map(|kib| kib * 1024)
        })
        .unwrap_or(bytes);
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("fuzz-worker".into())
            .stack_size(bytes)
            .spawn_scoped(scope, work)
            .unwrap_or_else(|e| panic!("cannot start a worker thread: {e}"));
        match worker.join() {
            Ok(value) => value,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    })
}

/// The `rules/` folder of the repository (the fuzz crate sits beside it).
pub fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

/// Every bundle of `rules/`, loaded with the production engine, by folder name. A bundle
/// that fails to load is a broken checkout, not a finding: the harness stops.
pub fn load_rules() -> Vec<(String, Contract)> {
    let engine = production_engine();
    let dir = rules_dir();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("contract.toml").is_file())
        .collect();
    folders.sort();
    assert!(!folders.is_empty(), "no bundle in {}", dir.display());
    folders
        .into_iter()
        .map(|folder| {
            let name = folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let contract = engine
                .load_dir(&folder)
                .unwrap_or_else(|e| panic!("bundle {} does not load: {e}", folder.display()));
            (name, contract)
        })
        .collect()
}

/// Loads an in-memory bundle; for the fixed bundles of the harness, which must load.
pub fn load_fixed(engine: &Engine, source: &BundleSource) -> Contract {
    engine
        .load(source)
        .unwrap_or_else(|e| panic!("the harness's fixed bundle does not load: {e}"))
}

/// With `AFTERSALE_FUZZ_VERBOSE=1` in the environment, prints what an input came to (the
/// decision or the error), for reading what a reproduced crash or a seed does. The targets
/// always render the text (rendering errors and decisions must not panic either); only the
/// printing is optional.
pub fn show(text: String) {
    static VERBOSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let verbose = VERBOSE
        .get_or_init(|| std::env::var_os("AFTERSALE_FUZZ_VERBOSE").is_some_and(|v| v == "1"));
    if *verbose {
        let mut text = text;
        if text.len() > 2000 {
            let mut cut = 2000;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" ...");
        }
        eprintln!("{text}");
    }
}
