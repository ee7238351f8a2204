//! How errors reach a person (a message, the source line and a caret) or a pipeline
//! (`--format json`).

use std::path::Path;

use aftersale_core::{CaseFileError, EvalError, LoadError, LoadErrors, Location};
use serde_json::{json, Value};

/// How errors are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// Messages with the source line and a caret.
    #[default]
    Text,
    /// One JSON object on stderr.
    Json,
}

/// The source line a location points at, with a caret under the column.
pub fn snippet(bundle_dir: &Path, location: &Location) -> Option<String> {
    let line_no = location.line?;
    // Read as the bundle was read: only a regular file inside it, never a FIFO opened.
    let text = aftersale_core::bundle::read_file(bundle_dir, Path::new(&location.file)).ok()?;
    let line = text.lines().nth(line_no.checked_sub(1)?)?;
    let width = line_no.to_string().len();
    let mut out = format!("{:width$} |\n{line_no} | {line}\n", "");
    if let Some(col) = location.column {
        let pad: String = line
            .chars()
            .take(col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!("{:width$} | {pad}^\n", ""));
    }
    Some(out)
}

fn location_json(location: Option<&Location>) -> Value {
    match location {
        Some(l) => json!({"file": l.file, "line": l.line, "column": l.column}),
        None => Value::Null,
    }
}

/// Text for an error: the message, then where it is with the source line and a caret.
pub fn error_text(
    bundle_dir: &Path,
    message: &dyn std::fmt::Display,
    location: Option<&Location>,
) -> String {
    let mut out = format!("error: {message}\n");
    if let Some(location) = location {
        out.push_str(&format!(
            "  --> {}\n",
            bundle_dir.join(&location.file).display()
        ));
        if let Some(s) = snippet(bundle_dir, location) {
            out.push_str(&s);
        }
    }
    out
}

/// Text for one load problem.
pub fn load_error_text(bundle_dir: &Path, error: &LoadError) -> String {
    error_text(bundle_dir, error, error.location())
}

/// JSON for the problems of one bundle.
pub fn load_errors_json(bundle_dir: &Path, errors: &LoadErrors) -> Value {
    json!({
        "code": "load",
        "bundle": errors.bundle,
        "path": bundle_dir.display().to_string(),
        "errors": errors.errors.iter().map(|e| json!({
            "message": e.to_string(),
            "term": e.term(),
            "location": location_json(e.location()),
        })).collect::<Vec<_>>(),
    })
}

/// Text for an evaluation error.
pub fn eval_error_text(bundle_dir: &Path, error: &EvalError) -> String {
    error_text(bundle_dir, error, error.location())
}

/// JSON for an evaluation error.
pub fn eval_error_json(error: &EvalError) -> Value {
    let code = error.code();
    json!({"code": code, "message": error.to_string(), "term": error.term(), "location": location_json(error.location())})
}

/// Text for a test file error.
pub fn case_file_error_text(bundle_dir: &Path, error: &CaseFileError) -> String {
    error_text(bundle_dir, error, Some(&error.location))
}
