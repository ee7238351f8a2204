//! The streaming batch pipeline behind `aftersale batch`: evaluates a stream of requests
//! (JSON Lines or CSV) on several threads and writes one JSON line per input, in input order,
//! in constant memory.
//!
//! A reader thread cuts the input into chunks of records; worker threads evaluate chunks; the
//! calling thread writes results back in order. A fixed number of tickets bounds the chunks in
//! flight, so memory does not grow with the input, however slow one chunk is.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use aftersale_core::{Contract, DateTime, Request};
use indicatif::ProgressBar;
use serde_json::{json, Map, Value};

/// Records per chunk: large enough to amortise channel traffic, small enough to keep
/// latency and memory low.
const CHUNK: usize = 256;

/// Input bytes per chunk: a chunk is sent early once its records add up to this, so that a
/// stream of large records holds no more than a few chunks of them.
const CHUNK_BYTES: usize = 4 << 20;

/// The longest record (a JSON line, a CSV record) a batch reads, as `eval` caps its facts: a
/// longer one is that record's error (JSON Lines; the rest of the line is skipped unread into
/// memory) or ends a CSV batch, so memory per record stays bounded whatever the input.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// How every record of a batch is evaluated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The evaluation instant, unless a request line gives its own.
    pub as_of: DateTime,
    /// Lines are requests `{"facts", "as_of"?, "trace"?, "outputs"?}` rather than facts.
    pub requests: bool,
    /// Include a trace in every decision.
    pub trace: bool,
    /// Terms to decide instead of the contract's outputs.
    pub outputs: Option<Vec<String>>,
}

/// What a batch did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Records written.
    pub records: usize,
    /// Records that got an error line.
    pub errors: usize,
    /// Why writing stopped, if it did.
    pub write_error: Option<io::Error>,
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
    settings: &Settings,
    (line, parsed): Record,
) -> (String, bool) {
    let value = match parsed {
        Ok(v) => v,
        Err(message) => return (error_line(line, "invalid_input", &message, None), true),
    };
    let request = match build_request(contract, settings, value) {
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
        Err(e) => (
            error_line(
                line,
                e.code(),
                &e.to_string(),
                Some(json!({"term": e.term(), "location": e.location()})),
            ),
            true,
        ),
    }
}

fn build_request(
    contract: &Contract,
    settings: &Settings,
    value: Value,
) -> Result<Request, String> {
    let outputs = settings.outputs.clone();
    if !settings.requests {
        return Ok(Request {
            facts: value,
            as_of: settings.as_of,
            trace: settings.trace,
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
        None => settings.as_of,
    };
    let trace = match obj.remove("trace") {
        Some(Value::Bool(b)) => b,
        Some(other) => return Err(format!("`trace` must be a boolean, found {other}")),
        None => settings.trace,
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
pub fn csv_cell(text: &str) -> Option<Value> {
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

/// Cuts records into chunks and sends each, waiting for a ticket first.
struct Chunker<'a> {
    chunks: &'a SyncSender<(u64, Vec<Record>)>,
    tickets: &'a Receiver<()>,
    seq: u64,
    chunk: Vec<Record>,
    /// Input bytes of the records in `chunk`.
    bytes: usize,
}

impl<'a> Chunker<'a> {
    fn new(chunks: &'a SyncSender<(u64, Vec<Record>)>, tickets: &'a Receiver<()>) -> Self {
        Self {
            chunks,
            tickets,
            seq: 0,
            chunk: Vec::with_capacity(CHUNK),
            bytes: 0,
        }
    }

    /// Adds a record read from `bytes` bytes of input.
    fn push(&mut self, record: Record, bytes: usize) {
        self.chunk.push(record);
        self.bytes = self.bytes.saturating_add(bytes);
    }

    /// Sends the chunk when full; false when the pipeline has stopped.
    fn flush_if_full(&mut self) -> bool {
        if self.chunk.len() < CHUNK && self.bytes < CHUNK_BYTES {
            return true;
        }
        self.bytes = 0;
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let sent = self.tickets.recv().is_ok() && self.chunks.send((self.seq, chunk)).is_ok();
        self.seq += 1;
        sent
    }

    /// Sends what is left.
    fn finish(self) {
        if !self.chunk.is_empty() && self.tickets.recv().is_ok() {
            let _ = self.chunks.send((self.seq, self.chunk));
        }
    }
}

/// Reads records and sends them in chunks, waiting for a ticket before each chunk.
fn read_jsonl(
    input: Box<dyn Read + Send>,
    chunks: &SyncSender<(u64, Vec<Record>)>,
    tickets: &Receiver<()>,
    progress: &ProgressBar,
) {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut out = Chunker::new(chunks, tickets);
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // Bytes up to the newline, then UTF-8: a bad line is that line's error, and the next
        // line is read whole. One byte past the cap tells a line over it from one at it.
        let read = (&mut reader)
            .take(MAX_RECORD_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf);
        line_no += 1;
        match read {
            Ok(0) => break,
            Ok(n) if n > MAX_RECORD_BYTES && buf.last() != Some(&b'\n') => {
                buf = Vec::new();
                let skipped = skip_line(&mut reader);
                progress.inc((n as u64).saturating_add(skipped.as_ref().map_or(0, |s| *s)));
                let message = format!(
                    "the line is longer than the {} MiB a record may have",
                    MAX_RECORD_BYTES >> 20
                );
                out.push((line_no, Err(message)), n);
                if let Err(e) = skipped {
                    out.push((line_no, Err(format!("unreadable input: {e}"))), 0);
                    break;
                }
            }
            Ok(n) => {
                progress.inc(n as u64);
                let record = match std::str::from_utf8(&buf) {
                    Ok(text) if text.trim().is_empty() => continue,
                    Ok(text) => parse_line(line_no, text),
                    Err(e) => Err(format!("not valid UTF-8 (byte {})", e.valid_up_to())),
                };
                out.push((line_no, record), n);
            }
            Err(e) => {
                out.push((line_no, Err(format!("unreadable input: {e}"))), 0);
                break;
            }
        }
        if !out.flush_if_full() {
            return;
        }
    }
    out.finish();
}

/// Reads past the end of the current line without keeping it; the bytes skipped.
fn skip_line(reader: &mut impl BufRead) -> io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let (done, used) = {
            let available = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            match available.iter().position(|&b| b == b'\n') {
                Some(i) => (true, i + 1),
                None => (available.is_empty(), available.len()),
            }
        };
        reader.consume(used);
        skipped += used as u64;
        if done {
            return Ok(skipped);
        }
    }
}

/// A reader that fails once more than [`MAX_RECORD_BYTES`] (and the CSV reader's look-ahead)
/// have been read since the last record ended: the csv crate grows a record's buffers
/// without bound, so the cap must stop the bytes before they reach it.
struct RecordCap<R> {
    inner: R,
    /// Bytes read in all.
    read: u64,
    /// Where the last record ended, as the CSV reader reports it (shared with the loop that
    /// reads records).
    record_end: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Bytes the CSV reader may read ahead of the record it is parsing.
const CSV_LOOK_AHEAD: u64 = 1 << 16;

impl<R: Read> Read for RecordCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let end = self.record_end.load(std::sync::atomic::Ordering::Relaxed);
        if self.read.saturating_sub(end) > MAX_RECORD_BYTES as u64 + CSV_LOOK_AHEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a record is longer than the {} MiB a record may have",
                    MAX_RECORD_BYTES >> 20
                ),
            ));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// One JSON Lines record: a leading byte order mark skipped on the first line (the start of
/// the stream), a key given twice refused, as every JSON input is read.
fn parse_line(line_no: u64, text: &str) -> Result<Value, String> {
    let text = if line_no == 1 {
        aftersale_core::bundle::skip_bom(text)
    } else {
        text
    };
    aftersale_core::value::parse_json(text.trim(), "").map_err(|e| format!("invalid JSON: {e}"))
}

fn read_csv(
    input: Box<dyn Read + Send>,
    chunks: &SyncSender<(u64, Vec<Record>)>,
    tickets: &Receiver<()>,
    progress: &ProgressBar,
) {
    let record_end = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let capped = RecordCap {
        inner: input,
        read: 0,
        record_end: std::sync::Arc::clone(&record_end),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(capped);
    let mut out = Chunker::new(chunks, tickets);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            out.push((1, Err(format!("invalid CSV header: {e}"))), 0);
            out.finish();
            return;
        }
    };
    if let Some(name) = duplicate_header(&headers) {
        out.push(
            (
                1,
                Err(format!("invalid CSV header: duplicate column `{name}`")),
            ),
            0,
        );
        out.finish();
        return;
    }
    let mut last_pos = reader.position().byte();
    record_end.store(last_pos, std::sync::atomic::Ordering::Relaxed);
    let mut row = csv::StringRecord::new();
    let mut i = 0u64;
    loop {
        let read = reader.read_record(&mut row);
        let end = reader.position().byte();
        record_end.store(end, std::sync::atomic::Ordering::Relaxed);
        let bytes = usize::try_from(end.saturating_sub(last_pos)).unwrap_or(usize::MAX);
        progress.inc(end.saturating_sub(last_pos));
        last_pos = end;
        let line = match read {
            Ok(_) => row.position().map_or(i + 2, |p| p.line()),
            Err(_) => i + 2,
        };
        i += 1;
        let (record, stop) = match read {
            Ok(false) => break,
            Ok(true) => {
                let facts: Map<String, Value> = headers
                    .iter()
                    .zip(row.iter())
                    .filter_map(|(k, v)| csv_cell(v).map(|v| (k.to_string(), v)))
                    .collect();
                (Ok(Value::Object(facts)), false)
            }
            // After an input error (the record cap among them) nothing more can be read.
            Err(e) => {
                let stop = matches!(e.kind(), csv::ErrorKind::Io(_));
                (Err(format!("invalid CSV row: {e}")), stop)
            }
        };
        out.push((line, record), bytes);
        if !out.flush_if_full() {
            return;
        }
        if stop {
            break;
        }
    }
    out.finish();
}

/// The first column name given twice (a row would otherwise keep only one of the two cells).
fn duplicate_header(headers: &csv::StringRecord) -> Option<&str> {
    let mut seen = std::collections::BTreeSet::new();
    headers.iter().find(|name| !seen.insert(*name))
}

/// Evaluates every record of `input` (CSV with a header when `csv`, else JSON Lines) with
/// `jobs` worker threads and writes one line per record to `output`, in input order. Per-record
/// problems become error lines; the batch goes on.
pub fn run(
    contract: &Contract,
    input: Box<dyn Read + Send>,
    csv: bool,
    output: &mut dyn Write,
    jobs: usize,
    settings: &Settings,
    progress: &ProgressBar,
) -> Summary {
    let jobs = jobs.max(1);
    let mut summary = Summary::default();
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
            if csv {
                read_csv(input, &chunk_tx, &ticket_rx, &reader_progress);
            } else {
                read_jsonl(input, &chunk_tx, &ticket_rx, &reader_progress);
            }
        });
        let chunk_rx = Arc::new(Mutex::new(chunk_rx));
        for _ in 0..jobs {
            let (chunk_rx, done_tx, contract) = (Arc::clone(&chunk_rx), done_tx.clone(), contract);
            // A thread's default stack: the core moves a deep evaluation to a larger one.
            let worker = std::thread::Builder::new().name("aftersale-eval".into());
            let spawned = worker.spawn_scoped(s, move || loop {
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
                    let (line, failed) = evaluate_record(contract, settings, record);
                    done.lines.push(line);
                    done.errors += usize::from(failed);
                }
                if done_tx.send(done).is_err() {
                    return;
                }
            });
            if spawned.is_err() {
                // No thread for this worker: the others carry the batch.
                continue;
            }
        }
        drop(done_tx);

        // Write in input order; a chunk that arrives early waits in `pending`.
        let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next_seq = 0u64;
        for done in done_rx {
            pending.insert(done.seq, done);
            while let Some(done) = pending.remove(&next_seq) {
                next_seq += 1;
                summary.records += done.lines.len();
                summary.errors += done.errors;
                if summary.write_error.is_none() {
                    for line in &done.lines {
                        if let Err(e) = output
                            .write_all(line.as_bytes())
                            .and_then(|()| output.write_all(b"\n"))
                        {
                            summary.write_error = Some(e);
                            break;
                        }
                    }
                }
                let _ = ticket_tx.send(());
                progress.set_message(format!(
                    "{} records, {} errors",
                    summary.records, summary.errors
                ));
            }
            if summary.write_error.is_some() {
                // Stop the pipeline: the reader and workers see closed channels.
                break;
            }
        }
        drop(ticket_tx);
    });
    if summary.write_error.is_none() {
        if let Err(e) = output.flush() {
            summary.write_error = Some(e);
        }
    }
    summary
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
