//! Writing failing requests as test cases, so `aftersale test` replays them.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::generate::Generated;

/// The file `aftersale prop` appends to, under the bundle's `tests/`.
pub const REGRESSIONS_FILE: &str = "regressions.toml";

/// A TOML key: bare when it can be, else quoted.
fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        quote(k)
    }
}

/// A TOML basic string: JSON's escapes are valid TOML escapes.
fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// A JSON value as a TOML inline value, numbers with their digits as generated.
///
/// # Errors
/// A `null`, which TOML cannot hold.
pub fn toml_inline(value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::Null => return Err("null has no TOML form".into()),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let parts: Result<Vec<String>, String> = items.iter().map(toml_inline).collect();
            format!("[{}]", parts?.join(", "))
        }
        Value::Object(map) => {
            let parts: Result<Vec<String>, String> = map
                .iter()
                .map(|(k, v)| Ok(format!("{} = {}", key(k), toml_inline(v)?)))
                .collect();
            let parts = parts?;
            if parts.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
    })
}

/// A stable short name for a request (FNV-1a of its JSON).
pub fn fingerprint(g: &Generated) -> String {
    let text = format!("{}|{}", g.as_of, g.facts);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The `[[case]]` text replaying `g` and checking `invariants` (an empty list checks only
/// that the evaluation succeeds). `why` becomes a comment.
///
/// # Errors
/// Facts that TOML cannot hold.
pub fn case_text(
    g: &Generated,
    invariants: &[String],
    why: &str,
    seed: u64,
) -> Result<String, String> {
    let mut out = String::new();
    let _ = writeln!(out);
    for line in why.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "[[case]]");
    let _ = writeln!(
        out,
        "name = {}",
        quote(&format!("prop {} (seed {seed})", fingerprint(g)))
    );
    let _ = writeln!(out, "as_of = {}", quote(&g.as_of));
    let list: Vec<String> = invariants.iter().map(|n| quote(n)).collect();
    let _ = writeln!(out, "invariants = [{}]", list.join(", "));
    let _ = writeln!(out, "facts = {}", toml_inline(&g.facts)?);
    Ok(out)
}

/// Appends the case to `<bundle>/tests/regressions.toml` unless a case of the same name is
/// there already; returns whether it was added.
///
/// # Errors
/// The file cannot be read or written, or the facts have no TOML form.
pub fn append_case(
    bundle: &Path,
    g: &Generated,
    invariants: &[String],
    why: &str,
    seed: u64,
) -> Result<bool, String> {
    let dir = bundle.join("tests");
    let path = dir.join(REGRESSIONS_FILE);
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if existing.contains(&format!("prop {} ", fingerprint(g))) {
        return Ok(false);
    }
    let mut text = existing;
    if text.is_empty() {
        text.push_str(
            "# Minimal failing requests found by `aftersale prop`, replayed by `aftersale test`.\n\
             # Each case checks the invariants it names (none: the evaluation must succeed).\n",
        );
    }
    text.push_str(&case_text(g, invariants, why, seed)?);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(true)
}
