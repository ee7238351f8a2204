//! `aftersale batch`: the command-line side of the streaming pipeline in
//! [`crate::stream`]: files, progress bar, summary and exit status.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::stream::{self, Settings};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::{as_of_or_now, load, report, Context, Failure};

/// What the input lines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// JSON Lines, unless the file name ends in `.csv`.
    Auto,
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header row; each column becomes a fact.
    Csv,
}

/// Options of `aftersale batch`.
#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// The bundle folder.
    pub bundle: PathBuf,
    /// Input: a `.jsonl` or `.csv` file, or `-` for stdin.
    #[arg(long)]
    pub input: PathBuf,
    /// Output JSON Lines file, or `-` for stdout.
    #[arg(long, default_value = "-")]
    pub output: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// The evaluation instant for every record (default: now, read once at start).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// Each JSON line is a request `{"facts": {...}, "as_of"?, "outputs"?, "trace"?}` rather
    /// than the facts themselves.
    #[arg(long)]
    pub requests: bool,
    /// Include a trace in every decision.
    #[arg(long)]
    pub trace: bool,
    /// Decide these terms instead of the contract's outputs (repeatable).
    #[arg(long = "output-term", value_name = "TERM")]
    pub outputs: Vec<String>,
    /// Exit with status 1 when any record failed.
    #[arg(long)]
    pub fail_on_error: bool,
}

fn open_input(path: &Path) -> io::Result<(Box<dyn Read + Send>, Option<u64>)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(io::stdin()), None));
    }
    if path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a folder, not a file",
        ));
    }
    let file = File::open(path)?;
    let size = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(file), size))
}

fn progress_bar(size: Option<u64>) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match size {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:30}] {bytes}/{total_bytes} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {bytes} read {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    }
}

fn create_output(path: &Path) -> io::Result<Box<dyn Write>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(BufWriter::with_capacity(
            1 << 16,
            io::stdout().lock(),
        )))
    } else {
        Ok(Box::new(BufWriter::with_capacity(
            1 << 16,
            File::create(path)?,
        )))
    }
}

/// Runs the batch.
pub(crate) fn run(ctx: &Context<'_>, args: &BatchArgs) -> Result<(), Failure> {
    let format = ctx.format;
    let contract = load(ctx, &args.bundle)?;
    let fail = |code: &str, message: String| {
        report(
            format,
            format!("error: {message}\n"),
            json!({"code": code, "message": message}),
        );
    };
    // Read once, so every record of the batch is judged at the same instant.
    let as_of = as_of_or_now(format, &contract, args.as_of.as_deref())?;
    let (input, size) = open_input(&args.input).map_err(|e| {
        fail(
            "unreadable",
            format!("cannot read `{}`: {e}", args.input.display()),
        );
        Failure::BadInput
    })?;
    let mut output = create_output(&args.output).map_err(|e| {
        fail(
            "unwritable",
            format!("cannot write `{}`: {e}", args.output.display()),
        );
        Failure::BadInput
    })?;
    let csv_input = match args.input_format {
        InputFormat::Csv => true,
        InputFormat::Jsonl => false,
        InputFormat::Auto => args
            .input
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv")),
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let progress = progress_bar(size);
    let started = Instant::now();

    let settings = Settings {
        as_of,
        requests: args.requests,
        trace: args.trace,
        outputs: (!args.outputs.is_empty()).then(|| args.outputs.clone()),
    };
    let summary = stream::run(
        &contract,
        input,
        csv_input,
        &mut output,
        jobs,
        &settings,
        &progress,
    );
    let (records, errors) = (summary.records, summary.errors);
    let write_failed = summary.write_error.is_some();
    progress.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        records as f64 / secs
    } else {
        0.0
    };
    eprintln!(
        "batch: {records} records, {errors} errors, {secs:.2} s, {rate:.0} records/s, {jobs} jobs"
    );
    if write_failed {
        fail(
            "unwritable",
            format!("cannot write `{}` (closed or full)", args.output.display()),
        );
        return Err(Failure::Failed);
    }
    if args.fail_on_error && errors > 0 {
        return Err(Failure::Failed);
    }
    Ok(())
}
