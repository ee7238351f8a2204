//! `aftersale batch`: evaluates a stream of requests (JSON Lines or CSV) on all cores and
//! writes one JSON line per input, in input order, in constant memory.
//!
//! The pipeline: a reader thread cuts the input into chunks of records; worker threads
//! evaluate chunks; the calling thread writes results back in order. A fixed number of
//! tickets bounds the chunks in flight, so memory does not grow with the input, however
//! slow one chunk is.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aftersale_core::{Contract, DateTime, Request};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};

use crate::render::{self, Format};
use crate::{load, report, Failure};

/// Records per chunk: large enough to amortise channel traffic, small enough to keep
/// latency and memory low.
const CHUNK: usize = 256;

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

/// One input record: its line number and its parsed JSON, or why it could not be read.
type Record = (u64, Result<Value, String>);

/// One chunk of results: the output lines and how many of them are errors.
struct Done {
    seq: u64,
    lines: Vec<String>,
    errors: usize,
}

fn error_line(line: u64, code: &str, message: &str, extra: Option<Value>) -> String {
    let mut error = json!({"code": code, "message": message});
    if let (Some(Value::Object(extra)), Value::Object(obj)) = (extra, &mut error) {
        obj.extend(extra);
    }
    json!({"line": line, "error": error}).to_string()
}

/// Evaluates one record into its output line; the bool says whether it failed.
fn evaluate_record(
    contract: &Contract,
    args: &BatchArgs,
    as_of: DateTime,
    (line, parsed): Record,
) -> (String, bool) {
    let value = match parsed {
        Ok(v) => v,
        Err(message) => return (error_line(line, "invalid_input", &message, None), true),
    };
    let request = match build_request(contract, args, as_of, value) {
        Ok(r) => r,
        Err(message) => return (error_line(line, "invalid_request", &message, None), true),
    };
    match contract.evaluate(&request) {
        Ok(decision) => match serde_json::to_string(&decision) {
            Ok(text) => (text, false),
            Err(e) => (
                error_line(line, "serialisation", &e.to_string(), None),
                true,
            ),
        },
        Err(e) => {
            let detail = render::eval_error_json(&e);
            (
                error_line(
                    line,
                    detail["code"].as_str().unwrap_or("evaluation"),
                    &e.to_string(),
                    Some(json!({"term": detail["term"], "location": detail["location"]})),
                ),
                true,
            )
        }
    }
}

fn build_request(
    contract: &Contract,
    args: &BatchArgs,
    as_of: DateTime,
    value: Value,
) -> Result<Request, String> {
    let outputs = (!args.outputs.is_empty()).then(|| args.outputs.clone());
    if !args.requests {
        return Ok(Request {
            facts: value,
            as_of,
            trace: args.trace,
            outputs,
        });
    }
    let Value::Object(mut obj) = value else {
        return Err("a request must be a JSON object".into());
    };
    let facts = obj.remove("facts").ok_or("a request needs `facts`")?;
    let as_of = match obj.remove("as_of") {
        Some(Value::String(text)) => contract.parse_as_of(&text).map_err(|e| e.to_string())?,
        Some(other) => return Err(format!("`as_of` must be a string, found {other}")),
        None => as_of,
    };
    let trace = match obj.remove("trace") {
        Some(Value::Bool(b)) => b,
        Some(other) => return Err(format!("`trace` must be a boolean, found {other}")),
        None => args.trace,
    };
    let outputs = match obj.remove("outputs") {
        Some(v) => Some(
            serde_json::from_value::<Vec<String>>(v)
                .map_err(|_| "`outputs` must be an array of term names".to_string())?,
        ),
        None => outputs,
    };
    if let Some(key) = obj.keys().next() {
        return Err(format!(
            "unknown request field `{key}` (expected facts, as_of, trace, outputs)"
        ));
    }
    Ok(Request {
        facts,
        as_of,
        trace,
        outputs,
    })
}

/// A CSV cell as a fact: integers, decimals and booleans by their look, empty cells absent,
/// anything else a string.
fn csv_cell(text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t == "true" || t == "false" {
        return Some(Value::Bool(t == "true"));
    }
    let numeric = t
        .trim_start_matches('-')
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.')
        && t.chars().filter(|&c| c == '.').count() <= 1
        && t.trim_start_matches('-')
            .starts_with(|c: char| c.is_ascii_digit());
    if numeric {
        if let Ok(n) = t.parse::<serde_json::Number>() {
            return Some(Value::Number(n));
        }
    }
    Some(Value::String(t.to_string()))
}

fn open_input(path: &Path) -> io::Result<(Box<dyn Read + Send>, Option<u64>)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(io::stdin()), None));
    }
    let file = File::open(path)?;
    let size = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(file), size))
}

/// Reads records and sends them in chunks, waiting for a ticket before each chunk.
fn read_jsonl(
    input: Box<dyn Read + Send>,
    chunks: &SyncSender<(u64, Vec<Record>)>,
    tickets: &Receiver<()>,
    progress: &ProgressBar,
) {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let (mut seq, mut line_no, mut chunk) = (0u64, 0u64, Vec::with_capacity(CHUNK));
    let mut buf = String::new();
    loop {
        buf.clear();
        let read = reader.read_line(&mut buf);
        line_no += 1;
        match read {
            Ok(0) => break,
            Ok(n) => {
                progress.inc(n as u64);
                let text = buf.trim();
                if text.is_empty() {
                    continue;
                }
                chunk.push((
                    line_no,
                    serde_json::from_str::<Value>(text).map_err(|e| format!("invalid JSON: {e}")),
                ));
            }
            Err(e) => {
                chunk.push((line_no, Err(format!("unreadable line: {e}"))));
                // A read error (invalid UTF-8, I/O) may not advance: skip to the next newline.
                let mut skipped = Vec::new();
                if reader
                    .read_until(b'\n', &mut skipped)
                    .map_or(true, |n| n == 0)
                {
                    break;
                }
            }
        }
        if chunk.len() == CHUNK {
            if tickets.recv().is_err() || chunks.send((seq, std::mem::take(&mut chunk))).is_err() {
                return;
            }
            seq += 1;
        }
    }
    if !chunk.is_empty() && tickets.recv().is_ok() {
        let _ = chunks.send((seq, chunk));
    }
}

fn read_csv(
    input: Box<dyn Read + Send>,
    chunks: &SyncSender<(u64, Vec<Record>)>,
    tickets: &Receiver<()>,
    progress: &ProgressBar,
) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            if tickets.recv().is_ok() {
                let _ = chunks.send((0, vec![(1, Err(format!("invalid CSV header: {e}")))]));
            }
            return;
        }
    };
    let (mut seq, mut chunk) = (0u64, Vec::with_capacity(CHUNK));
    let mut last_pos = 0u64;
    for (i, row) in reader.records().enumerate() {
        let line = row
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(i as u64 + 2, |p| p.line());
        let record = row.map_err(|e| format!("invalid CSV row: {e}")).map(|row| {
            if let Some(pos) = row.position() {
                progress.inc(pos.byte().saturating_sub(last_pos));
                last_pos = pos.byte();
            }
            let facts: Map<String, Value> = headers
                .iter()
                .zip(row.iter())
                .filter_map(|(k, v)| csv_cell(v).map(|v| (k.to_string(), v)))
                .collect();
            Value::Object(facts)
        });
        chunk.push((line, record));
        if chunk.len() == CHUNK {
            if tickets.recv().is_err() || chunks.send((seq, std::mem::take(&mut chunk))).is_err() {
                return;
            }
            seq += 1;
        }
    }
    if !chunk.is_empty() && tickets.recv().is_ok() {
        let _ = chunks.send((seq, chunk));
    }
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
pub fn run(format: Format, args: &BatchArgs) -> Result<(), Failure> {
    let contract = load(format, &args.bundle)?;
    let fail = |code: &str, message: String| {
        report(
            format,
            format!("error: {message}\n"),
            json!({"code": code, "message": message}),
        );
    };
    let as_of = match &args.as_of {
        Some(text) => contract.parse_as_of(text).map_err(|e| {
            fail("invalid_as_of", e.to_string());
            Failure::BadInput
        })?,
        // Read once, so every record of the batch is judged at the same instant.
        None => DateTime(
            chrono::Utc::now()
                .with_timezone(&contract.timezone())
                .fixed_offset(),
        ),
    };
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
    let (mut records, mut errors) = (0usize, 0usize);
    let mut write_failed = false;

    std::thread::scope(|s| {
        let in_flight = jobs * 4;
        let (chunk_tx, chunk_rx) = sync_channel::<(u64, Vec<Record>)>(in_flight);
        let (done_tx, done_rx) = sync_channel::<Done>(in_flight);
        let (ticket_tx, ticket_rx) = sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            let _ = ticket_tx.send(());
        }
        let reader_progress = progress.clone();
        s.spawn(move || {
            if csv_input {
                read_csv(input, &chunk_tx, &ticket_rx, &reader_progress);
            } else {
                read_jsonl(input, &chunk_tx, &ticket_rx, &reader_progress);
            }
        });
        let chunk_rx = Arc::new(Mutex::new(chunk_rx));
        for _ in 0..jobs {
            let (chunk_rx, done_tx, contract) = (Arc::clone(&chunk_rx), done_tx.clone(), &contract);
            s.spawn(move || loop {
                let next = match chunk_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok((seq, chunk)) = next else { return };
                let mut done = Done {
                    seq,
                    lines: Vec::with_capacity(chunk.len()),
                    errors: 0,
                };
                for record in chunk {
                    let (line, failed) = evaluate_record(contract, args, as_of, record);
                    done.lines.push(line);
                    done.errors += usize::from(failed);
                }
                if done_tx.send(done).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);

        // Write in input order; a chunk that arrives early waits in `pending`.
        let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next_seq = 0u64;
        for done in done_rx {
            pending.insert(done.seq, done);
            while let Some(done) = pending.remove(&next_seq) {
                next_seq += 1;
                records += done.lines.len();
                errors += done.errors;
                if !write_failed {
                    for line in &done.lines {
                        if output
                            .write_all(line.as_bytes())
                            .and_then(|()| output.write_all(b"\n"))
                            .is_err()
                        {
                            write_failed = true;
                            break;
                        }
                    }
                }
                let _ = ticket_tx.send(());
                progress.set_message(format!("{records} records, {errors} errors"));
            }
            if write_failed {
                // Stop the pipeline: the reader and workers see closed channels.
                break;
            }
        }
        drop(ticket_tx);
    });
    progress.finish_and_clear();
    if !write_failed && output.flush().is_err() {
        write_failed = true;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_take_the_type_they_look_like() {
        assert_eq!(csv_cell("42"), Some(json!(42)));
        assert_eq!(serde_json::to_string(&csv_cell("12.50")).unwrap(), "12.50");
        assert_eq!(csv_cell("-3"), Some(json!(-3)));
        assert_eq!(csv_cell("true"), Some(json!(true)));
        assert_eq!(csv_cell(""), None);
        assert_eq!(csv_cell("2024-01-15"), Some(json!("2024-01-15")));
        assert_eq!(csv_cell("1.2.3"), Some(json!("1.2.3")));
        assert_eq!(csv_cell("."), Some(json!(".")));
    }
}
