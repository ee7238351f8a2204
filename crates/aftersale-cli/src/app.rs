//! The command line itself: its arguments (clap), the commands and how each ends, for the
//! `aftersale` binary and for a host's own binary with its plugins ([`Cli`]).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use aftersale_core::{Contract, DateTime, Engine, EngineBuilder, EvalError, Plugin, Request};
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::render::{self, Format};
use crate::{batch, qa_cmd, serve_cmd, test_cmd};

/// Rules engine for after-sales service contracts.
#[derive(Debug, Parser)]
#[command(name = "aftersale", version, about, long_about = None)]
struct Args {
    /// How errors are printed on stderr.
    #[arg(long, value_enum, global = true, default_value_t = Format::Text)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate one request and print the decision as JSON.
    Eval {
        /// The bundle folder.
        bundle: PathBuf,
        /// The facts: a JSON object in a file, or `-` for stdin.
        #[arg(long)]
        facts: PathBuf,
        /// The evaluation instant: a date (00:00 in the contract's time zone) or an RFC 3339
        /// datetime. Default: now.
        #[arg(long)]
        as_of: Option<String>,
        /// Include a trace of every term evaluated.
        #[arg(long)]
        trace: bool,
        /// Decide these terms instead of the contract's outputs (repeatable).
        #[arg(long = "output", value_name = "TERM")]
        outputs: Vec<String>,
        /// Print the decision on one line.
        #[arg(long)]
        compact: bool,
    },
    /// Load bundles and report every problem found.
    Check {
        /// Bundle folders.
        #[arg(required = true)]
        bundles: Vec<PathBuf>,
    },
    /// Print a bundle's term graph in Graphviz DOT.
    Graph {
        /// The bundle folder.
        bundle: PathBuf,
    },
    /// Evaluate a stream of requests (JSON Lines or CSV) in parallel, one output line each.
    Batch(batch::BatchArgs),
    /// Check a contract's invariants on requests generated from its facts schema; shrink and
    /// save the first failure to tests/regressions.toml.
    Prop(qa_cmd::PropArgs),
    /// Compare two versions of a contract on the same requests: which decisions change, and
    /// where.
    Diff(qa_cmd::DiffArgs),
    /// Serve contracts over HTTP (see the README's "HTTP service").
    Serve(serve_cmd::ServeArgs),
    /// Run bundles' example cases (tests/*.toml).
    Test {
        /// Bundle folders.
        #[arg(required = true)]
        bundles: Vec<PathBuf>,
        /// Also report which terms, and which branches of `if` and `switch`, the cases
        /// exercised, and list those never exercised.
        #[arg(long)]
        coverage: bool,
    },
}

/// How a command ended, mapped to the exit status in one place.
pub(crate) enum Failure {
    /// A contract, evaluation or test failure (exit 1); already reported.
    Failed,
    /// Usage or unreadable input (exit 2); already reported.
    BadInput,
}

/// The `aftersale` command line as a library: the binary is `Cli::new().run()`, and a host
/// with plugins of its own builds its own `aftersale` (every command: `eval`, `check`,
/// `test`, `batch`, `prop`, `diff`, `serve`...) in a few lines:
///
/// ```no_run
/// # use aftersale_core::{Plugin, PluginContext, plugin::Registrar};
/// struct Loyalty;
/// impl Plugin for Loyalty {
///     fn name(&self) -> &str { "loyalty" }
///     fn register(&self, r: &mut Registrar<'_>, _ctx: &PluginContext) {
///         let tier = |points: i64| if points >= 1000 { "gold" } else { "basic" }.to_string();
///         r.register_fn("loyalty_tier", tier)
///             .doc("loyalty_tier(points: int) -> string", "the tier a number of points earns");
///     }
/// }
///
/// fn main() -> std::process::ExitCode {
///     aftersale_cli::Cli::new().plugin(Loyalty).run()
/// }
/// ```
///
/// Install the counting allocator in that binary too (`#[global_allocator] static A:
/// aftersale_alloc::Counting = aftersale_alloc::Counting;`, as `examples/host_cli.rs` does):
/// without it `[limits] max_memory_bytes` is not enforced.
#[derive(Clone)]
pub struct Cli {
    plugins: Vec<Arc<dyn Plugin>>,
}

impl Default for Cli {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.plugins.iter().map(|p| p.name()).collect();
        f.debug_struct("Cli").field("plugins", &names).finish()
    }
}

/// How a run of the command line ended: the exit status, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything asked for was done (exit 0).
    Success,
    /// A contract, evaluation or test failure (exit 1).
    Failed,
    /// Usage or unreadable input (exit 2).
    BadInput,
}

impl Status {
    /// The exit status: 0, 1 or 2.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failed => 1,
            Self::BadInput => 2,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(status.code())
    }
}

impl Cli {
    /// The `aftersale` command line: the core vocabulary and every domain plugin
    /// (calendar, maintenance, sla, warranty).
    pub fn new() -> Self {
        let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
        Self {
            plugins: engine.plugins().to_vec(),
        }
    }

    /// A command line with the core vocabulary only: add the plugins with [`Cli::plugin`].
    pub fn without_domain_plugins() -> Self {
        Self {
            plugins: Vec::new(),
        }
    }

    /// Offers one more plugin to every bundle the commands load; one with the name of a
    /// plugin already offered replaces it (as [`EngineBuilder::plugin`]).
    #[must_use]
    pub fn plugin(mut self, plugin: impl Plugin) -> Self {
        // In the order offered: the engine builder keeps the last of a name.
        self.plugins.push(Arc::new(plugin));
        self
    }

    /// Parses the process's arguments, runs the command and returns the exit status; a
    /// panic is reported as an internal error.
    pub fn run(&self) -> ExitCode {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("error: internal error, please report it: {info}");
        }));
        self.run_from(std::env::args_os()).into()
    }

    /// Runs the command line on `args` (the program's name first, as `std::env::args_os`
    /// gives them): output on this process's stdout and stderr.
    pub fn run_from<I, T>(&self, args: I) -> Status
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let parsed = match Args::try_parse_from(&args) {
            Ok(parsed) => parsed,
            Err(e) => return usage_error(&e, &args),
        };
        let ctx = Context {
            format: parsed.format,
            plugins: &self.plugins,
        };
        let result = match parsed.command {
            Command::Eval {
                bundle,
                facts,
                as_of,
                trace,
                outputs,
                compact,
            } => eval(
                &ctx,
                &bundle,
                &facts,
                as_of.as_deref(),
                trace,
                outputs,
                compact,
            ),
            Command::Check { bundles } => check(&ctx, &bundles),
            Command::Graph { bundle } => graph(&ctx, &bundle),
            Command::Serve(args) => serve_cmd::run(&ctx, &args),
            Command::Test { bundles, coverage } => test_cmd::run(&ctx, &bundles, coverage),
            Command::Batch(args) => batch::run(&ctx, &args),
            Command::Prop(args) => qa_cmd::run_prop(&ctx, &args),
            Command::Diff(args) => qa_cmd::run_diff(&ctx, &args),
        };
        match result {
            Ok(()) => Status::Success,
            Err(Failure::Failed) => Status::Failed,
            Err(Failure::BadInput) => Status::BadInput,
        }
    }
}

/// What every command runs with: how errors print, and the plugins bundles may use.
pub(crate) struct Context<'a> {
    /// How errors (and some commands' main output) print.
    pub format: Format,
    plugins: &'a [Arc<dyn Plugin>],
}

impl Context<'_> {
    /// An engine builder offering the command line's plugins.
    pub fn builder(&self) -> EngineBuilder {
        self.plugins
            .iter()
            .fold(Engine::builder(), |b, p| b.plugin(Arc::clone(p)))
    }

    /// The engine bundles are loaded with.
    pub fn engine(&self) -> Engine {
        self.builder().build()
    }
}

/// Reports a command-line usage error: clap's own text, or JSON when `--format json` was
/// given (read from the raw arguments, since parsing failed). Help and version go to stdout.
fn usage_error(e: &clap::Error, args: &[OsString]) -> Status {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) && e.exit_code() == 0
    {
        let _ = e.print();
        return Status::Success;
    }
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let json = args
        .windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json");
    if json {
        let message = e
            .kind()
            .as_str()
            .map_or_else(|| e.to_string(), str::to_string);
        let detail = e.to_string();
        eprintln!(
            "{}",
            json!({"error": {"code": "usage", "message": message, "detail": detail.trim()}})
        );
    } else {
        let _ = e.print();
    }
    Status::BadInput
}

/// Prints an error to stderr in the chosen format.
pub fn report(format: Format, text: String, json: serde_json::Value) {
    match format {
        Format::Text => eprint!("{text}"),
        Format::Json => eprintln!("{}", json!({ "error": json })),
    }
}

/// The `--as-of` instant, or now in the contract's zone when none is given: the only place
/// aftersale reads the clock.
pub fn as_of_or_now(
    format: Format,
    contract: &Contract,
    text: Option<&str>,
) -> Result<DateTime, Failure> {
    match text {
        Some(text) => contract.parse_as_of(text).map_err(|e| {
            simple_error(format, "invalid_as_of", e.to_string());
            Failure::BadInput
        }),
        None => Ok(DateTime(
            chrono::Utc::now()
                .with_timezone(&contract.timezone())
                .fixed_offset(),
        )),
    }
}

fn simple_error(format: Format, code: &str, message: String) {
    report(
        format,
        format!("error: {message}\n"),
        json!({"code": code, "message": message}),
    );
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn print_out(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            Err(Failure::Failed)
        }
    }
}

/// Loads a bundle folder, reporting every problem; a missing folder is bad input.
pub(crate) fn load(ctx: &Context<'_>, bundle: &Path) -> Result<Contract, Failure> {
    let format = ctx.format;
    if !bundle.is_dir() {
        simple_error(
            format,
            "unreadable",
            format!("`{}` is not a bundle folder", bundle.display()),
        );
        return Err(Failure::BadInput);
    }
    ctx.engine().load_dir(bundle).map_err(|errors| {
        let mut text: String = errors
            .errors
            .iter()
            .map(|e| render::load_error_text(bundle, e))
            .collect();
        text.push_str(&format!(
            "bundle `{}`: {} problem(s)\n",
            errors.bundle,
            errors.errors.len()
        ));
        report(format, text, render::load_errors_json(bundle, &errors));
        Failure::Failed
    })
}

/// The largest facts document `eval` reads: a claim's facts are kilobytes; anything near
/// this is a mistake or an attack, and parsing it would cost seconds and gigabytes.
/// (`batch` caps each record the same: [`crate::stream::MAX_RECORD_BYTES`].)
const MAX_FACTS_BYTES: u64 = crate::stream::MAX_RECORD_BYTES as u64;

fn read_facts(format: Format, path: &Path) -> Result<serde_json::Value, Failure> {
    let name = path.display().to_string();
    let mut bytes = Vec::new();
    // One byte past the limit tells an oversized input from one exactly at it.
    let read = if name == "-" {
        std::io::stdin()
            .take(MAX_FACTS_BYTES + 1)
            .read_to_end(&mut bytes)
            .map(|_| ())
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_FACTS_BYTES + 1).read_to_end(&mut bytes))
            .map(|_| ())
    };
    let read = read.and_then(|()| {
        if bytes.len() as u64 > MAX_FACTS_BYTES {
            Err(std::io::Error::other(format!(
                "larger than the {} MiB facts limit",
                MAX_FACTS_BYTES >> 20
            )))
        } else {
            String::from_utf8(std::mem::take(&mut bytes)).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                )
            })
        }
    });
    let text = match read {
        Ok(text) => text,
        Err(e) => {
            simple_error(
                format,
                "unreadable",
                format!("cannot read facts `{name}`: {e}"),
            );
            return Err(Failure::BadInput);
        }
    };
    // A leading byte order mark is skipped, as in every input format; a key given twice is
    // an error (both in `value::parse_json`'s care).
    let text = aftersale_core::bundle::skip_bom(&text);
    let value = aftersale_core::value::parse_json(text, "facts").map_err(|e| {
        simple_error(
            format,
            "invalid_json",
            format!("facts `{name}` are not valid JSON: {e}"),
        );
        Failure::BadInput
    })?;
    if !value.is_object() {
        simple_error(
            format,
            "invalid_facts",
            format!(
                "facts `{name}` must be a JSON object, found {}",
                kind_of(&value)
            ),
        );
        return Err(Failure::BadInput);
    }
    Ok(value)
}

fn kind_of(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn eval(
    ctx: &Context<'_>,
    bundle: &Path,
    facts: &Path,
    as_of: Option<&str>,
    trace: bool,
    outputs: Vec<String>,
    compact: bool,
) -> Result<(), Failure> {
    let format = ctx.format;
    let contract = load(ctx, bundle)?;
    let facts = read_facts(format, facts)?;
    let as_of = as_of_or_now(format, &contract, as_of)?;
    let mut request = Request::new(facts, as_of).with_trace(trace);
    if !outputs.is_empty() {
        request = request.with_outputs(outputs);
    }
    // Any thread will do: the core moves a deep evaluation to a larger stack itself.
    let evaluated = contract.evaluate(&request);
    match evaluated {
        Ok(decision) => {
            let text = if compact {
                serde_json::to_string(&decision)
            } else {
                serde_json::to_string_pretty(&decision)
            };
            print_out(&(text.map_err(|_| Failure::Failed)? + "\n"))
        }
        Err(error) => {
            report(
                format,
                render::eval_error_text(bundle, &error),
                render::eval_error_json(&error),
            );
            Err(
                if error.is_bad_request() || matches!(error, EvalError::InvalidFacts { .. }) {
                    Failure::BadInput
                } else {
                    Failure::Failed
                },
            )
        }
    }
}

fn check(ctx: &Context<'_>, bundles: &[PathBuf]) -> Result<(), Failure> {
    let format = ctx.format;
    let mut worst: Option<Failure> = None;
    for bundle in bundles {
        match load(ctx, bundle) {
            Ok(contract) => {
                let line = format!(
                    "ok: {} {} ({} terms, outputs: {})\n",
                    contract.id(),
                    contract.version(),
                    contract.terms().len(),
                    contract.output_names().join(", ")
                );
                if format == Format::Text {
                    print_out(&line)?;
                } else {
                    print_out(&(json!({"ok": true, "contract": contract.id(), "version": contract.version(), "path": bundle.display().to_string()}).to_string() + "\n"))?;
                }
            }
            Err(Failure::BadInput) => worst = Some(Failure::BadInput),
            Err(Failure::Failed) => {
                if worst.is_none() {
                    worst = Some(Failure::Failed);
                }
            }
        }
    }
    worst.map_or(Ok(()), Err)
}

fn graph(ctx: &Context<'_>, bundle: &Path) -> Result<(), Failure> {
    let contract = load(ctx, bundle)?;
    print_out(&contract.to_dot())
}
