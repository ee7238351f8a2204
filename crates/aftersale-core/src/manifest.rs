//! `contract.toml`: the shape of a bundle's manifest, read strictly (an unknown key is an
//! error, so a typo cannot silently change a contract).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{LoadError, Location};
use crate::limits::Limits;
use crate::schema::{AsOfSpec, FieldSpec};

/// The file name of a bundle's manifest.
pub const MANIFEST_FILE: &str = "contract.toml";

/// `contract.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `[contract]`: identity and settings.
    pub contract: ContractSection,
    /// `[params]`: constants visible to scripts as `params`.
    #[serde(default)]
    pub params: toml::Table,
    /// `[terms.<name>]`: one table per term.
    #[serde(default)]
    pub terms: BTreeMap<Spanned<String>, TermSection>,
    /// `[limits]`: sandbox limits overriding the engine's defaults.
    #[serde(default)]
    pub limits: Option<Spanned<toml::Table>>,
    /// `[facts.<name>]`: the facts schema (see [`crate::schema`]); absent means untyped facts.
    #[serde(default)]
    pub facts: Option<BTreeMap<Spanned<String>, FieldSpec>>,
    /// `[as_of]`: the range of evaluation instants the QA tools generate.
    #[serde(default)]
    pub as_of: Option<AsOfSpec>,
    /// `[constraints]`: named rhai boolean expressions over `facts`, `params` and `as_of`
    /// that valid facts satisfy, checked with the schema before any term runs. A value is
    /// the expression, or a table `{ expr = "...", description = "..." }`.
    #[serde(default)]
    pub constraints: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    /// `[invariants]`: named rhai boolean expressions over `facts`, `params`, `as_of` and
    /// `outputs` that every decision keeps (checked by `aftersale prop` and by test cases
    /// that name them). Same forms as `[constraints]`.
    #[serde(default)]
    pub invariants: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

/// `[contract]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractSection {
    /// `[a-z0-9_-]+`.
    pub id: Spanned<String>,
    /// Any non-empty text, for example `2026.1`.
    pub version: Spanned<String>,
    /// What the contract is.
    #[serde(default)]
    pub description: Option<String>,
    /// First day this version is in force (inclusive), as a TOML date or a `YYYY-MM-DD`
    /// string; absent means "since always".
    #[serde(default)]
    pub effective_from: Option<Spanned<toml::Value>>,
    /// Last day this version is in force (inclusive); absent means "until further notice".
    #[serde(default)]
    pub effective_to: Option<Spanned<toml::Value>>,
    /// IANA time zone name; default `UTC`.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    /// Plugins the scripts use.
    #[serde(default)]
    pub plugins: Vec<Spanned<String>>,
    /// Terms forming the decision; default every term no other term reads.
    #[serde(default)]
    pub outputs: Option<Vec<Spanned<String>>>,
    /// Whether scripts get facts as the schema reads them: a `date` fact as a date, a
    /// `datetime` as a datetime, a `decimal` as a decimal, absent optional facts with a
    /// `default` filled in (see [`crate::schema`]). Default no: facts as their JSON writes
    /// them. Needs a facts schema.
    #[serde(default)]
    pub typed_facts: Option<Spanned<bool>>,
}

/// `[terms.<name>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermSection {
    /// What the term decides.
    #[serde(default)]
    pub description: Option<String>,
    /// Script path relative to the bundle; default `terms/<name>.rhai`.
    #[serde(default)]
    pub script: Option<Spanned<String>>,
}

/// 1-based line and column of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A location in `contract.toml` from a byte span.
pub fn manifest_location(text: &str, span: std::ops::Range<usize>) -> Location {
    let (line, column) = line_col(text, span.start);
    Location::at(MANIFEST_FILE, line, column)
}

/// Parses `contract.toml`; a TOML or shape error names its line and column.
pub fn parse_manifest(text: &str) -> Result<Manifest, LoadError> {
    toml::from_str::<Manifest>(text).map_err(|e| LoadError::Manifest {
        location: match e.span() {
            Some(span) => manifest_location(text, span),
            None => Location::file(MANIFEST_FILE),
        },
        message: e.message().trim().to_string(),
    })
}

/// Reads the `[limits]` table over `base`, the engine's defaults.
pub fn parse_limits(
    text: &str,
    table: &Spanned<toml::Table>,
    base: &Limits,
) -> Result<Limits, LoadError> {
    let location = manifest_location(text, table.span());
    let mut merged = toml::Table::try_from(base).map_err(|e| LoadError::InvalidValue {
        field: "limits".into(),
        location: location.clone(),
        message: e.to_string(),
    })?;
    for (k, v) in table.get_ref() {
        merged.insert(k.clone(), v.clone());
    }
    let mut limits: Limits =
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| LoadError::InvalidValue {
                field: "limits".into(),
                location: location.clone(),
                message: e.message().trim().to_string(),
            })?;
    // A contract that bounds CPU time asks not to be stopped by a busy machine: its
    // wall-clock limit, unless it sets one, leaves room for a small share of the CPU.
    if let (Some(cpu), false) = (
        limits.max_cpu_ms,
        table.get_ref().contains_key("max_duration_ms"),
    ) {
        limits.max_duration_ms = limits
            .max_duration_ms
            .max(cpu.saturating_mul(crate::limits::CPU_TO_WALL));
    }
    let zeros = limits.zero_limits();
    if !zeros.is_empty() {
        return Err(LoadError::InvalidValue {
            field: "limits".into(),
            location,
            message: format!("{} must be at least 1", zeros.join(", ")),
        });
    }
    let over = limits.over_ceiling();
    if !over.is_empty() {
        return Err(LoadError::InvalidValue {
            field: "limits".into(),
            location,
            message: over.join("; "),
        });
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors_with_a_position() {
        let text = "[contract]\nid = \"x\"\nversion = \"1\"\noutptus = [\"a\"]\n";
        let err = parse_manifest(text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("outptus"), "{msg}");
        assert!(msg.contains("contract.toml:4:1"), "{msg}");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let err = parse_manifest("[contract]\nid = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("version"), "{err}");
    }

    #[test]
    fn limits_merge_over_defaults_and_reject_zero() {
        let text = "[contract]\nid='x'\nversion='1'\n[limits]\nmax_operations = 5000\n";
        let m = parse_manifest(text).unwrap();
        let l = parse_limits(text, m.limits.as_ref().unwrap(), &Limits::default()).unwrap();
        assert_eq!(l.max_operations, 5000);
        assert_eq!(l.max_call_depth, Limits::default().max_call_depth);

        let text = "[contract]\nid='x'\nversion='1'\n[limits]\nmax_operations = 0\n";
        let m = parse_manifest(text).unwrap();
        let err = parse_limits(text, m.limits.as_ref().unwrap(), &Limits::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("max_operations must be at least 1"),
            "{err}"
        );

        let text = "[contract]\nid='x'\nversion='1'\n[limits]\nmax_opertions = 10\n";
        let m = parse_manifest(text).unwrap();
        let err = parse_limits(text, m.limits.as_ref().unwrap(), &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("max_opertions"), "{err}");
    }

    #[test]
    fn a_cpu_limit_widens_the_wall_clock_limit_unless_one_is_set() {
        let limits = |extra: &str| {
            let text = format!("[contract]\nid='x'\nversion='1'\n[limits]\n{extra}\n");
            let m = parse_manifest(&text).unwrap();
            parse_limits(&text, m.limits.as_ref().unwrap(), &Limits::default())
        };
        let l = limits("max_cpu_ms = 400").unwrap();
        assert_eq!(l.max_cpu_ms, Some(400));
        assert_eq!(l.max_duration_ms, 400 * crate::limits::CPU_TO_WALL);
        let l = limits("max_cpu_ms = 400\nmax_duration_ms = 900").unwrap();
        assert_eq!(l.max_duration_ms, 900);
        // Never below the default wall-clock limit.
        let l = limits("max_cpu_ms = 1").unwrap();
        assert_eq!(l.max_duration_ms, Limits::default().max_duration_ms);
        assert_eq!(limits("max_operations = 5").unwrap().max_cpu_ms, None);
        let err = limits("max_cpu_ms = 0").unwrap_err();
        assert!(
            err.to_string().contains("max_cpu_ms must be at least 1"),
            "{err}"
        );
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
