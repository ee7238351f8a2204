//! `aftersale prop` and `aftersale diff`: the QA kit (`aftersale-testkit`) on the command
//! line. Reports go to stdout (text, or JSON with `--format json`); errors to stderr.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use aftersale_testkit::{
    diff_bundles, prop, regress, DiffConfig, DiffReport, Generated, PropConfig, PropReport,
};
use serde_json::{json, Value};

use crate::render::Format;
use crate::{load, print_out, report, Context, Failure};

/// `aftersale prop`.
#[derive(Debug, clap::Args)]
pub struct PropArgs {
    /// The bundle folder (its contract needs a facts schema and `[invariants]`).
    bundle: PathBuf,
    /// Valid requests to evaluate.
    #[arg(long, default_value_t = PropConfig::default().cases)]
    cases: usize,
    /// Seed of the generated requests: the same seed gives the same run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Evaluate every request at this instant instead of the contract's `[as_of]` range.
    #[arg(long)]
    as_of: Option<String>,
    /// Do not append the minimal failing request to tests/regressions.toml.
    #[arg(long)]
    no_save: bool,
}

/// `aftersale diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The current version's bundle folder.
    old: PathBuf,
    /// The proposed version's bundle folder.
    new: PathBuf,
    /// Generated requests (from the old version's facts schema); 0 with --facts to compare
    /// recorded requests only.
    #[arg(long, default_value_t = DiffConfig::default().cases)]
    cases: usize,
    /// Seed of the generated requests.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Recorded requests, JSON Lines: `{"facts": {...}, "as_of": "..."}` or bare facts
    /// objects (then --as-of gives the instant).
    #[arg(long = "facts", value_name = "FILE")]
    recorded: Option<PathBuf>,
    /// Evaluate at this instant instead of the contract's `[as_of]` range (also the instant
    /// of recorded lines without one).
    #[arg(long)]
    as_of: Option<String>,
    /// Exit with status 1 when any decision changed.
    #[arg(long)]
    fail_on_change: bool,
}

fn fail(format: Format, code: &str, message: String, status: Failure) -> Failure {
    report(
        format,
        format!("error: {message}\n"),
        json!({"code": code, "message": message}),
    );
    status
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn generated_json(g: &Generated) -> Value {
    json!({"as_of": g.as_of, "facts": g.facts})
}

/// `aftersale prop <bundle>`.
pub(crate) fn run_prop(ctx: &Context<'_>, args: &PropArgs) -> Result<(), Failure> {
    let format = ctx.format;
    let contract = load(ctx, &args.bundle)?;
    let config = PropConfig {
        cases: args.cases,
        seed: args.seed,
        as_of: args.as_of.clone(),
    };
    if let Some(text) = &config.as_of {
        contract
            .parse_as_of(text)
            .map_err(|e| fail(format, "invalid_as_of", e.to_string(), Failure::BadInput))?;
    }
    let result = prop::run(&contract, &config);
    let report = result.map_err(|e| fail(format, "prop", e.to_string(), Failure::BadInput))?;
    let saved = match (&report.failure, args.no_save) {
        (Some(failure), false) => {
            let why = format!(
                "{}\n(found by `aftersale prop` at case {} of seed {}, shrunk)",
                failure.violation, failure.case_index, report.seed
            );
            let names = failure.violation.invariant_names();
            match regress::append_case(&args.bundle, &failure.minimal, &names, &why, report.seed) {
                Ok(added) => Some((added, regress::fingerprint(&failure.minimal))),
                Err(message) => {
                    return Err(fail(format, "unwritable", message, Failure::Failed));
                }
            }
        }
        _ => None,
    };
    match format {
        Format::Json => {
            let mut value = serde_json::to_value(&report).unwrap_or_default();
            if let (Some(obj), Some((added, name))) = (value.as_object_mut(), &saved) {
                obj.insert(
                    "regression".into(),
                    json!({"file": args.bundle.join("tests").join(regress::REGRESSIONS_FILE), "case": format!("prop {name} (seed {})", report.seed), "added": added}),
                );
            }
            print_out(&format!("{value}\n"))?;
        }
        Format::Text => print_out(&prop_text(&report, &args.bundle, saved.as_ref()))?,
    }
    if report.failure.is_some() {
        Err(Failure::Failed)
    } else {
        Ok(())
    }
}

fn prop_text(report: &PropReport, bundle: &Path, saved: Option<&(bool, String)>) -> String {
    let mut out = format!(
        "prop {} {}: {} cases (seed {}), {} invariant(s), {} draws rejected by the constraints\n",
        report.contract,
        report.version,
        report.cases,
        report.seed,
        report.invariants.len(),
        report.rejected
    );
    match &report.failure {
        None => out.push_str(&format!(
            "ok: no error, and every invariant held ({})\n",
            if report.invariants.is_empty() {
                "none declared".to_string()
            } else {
                report.invariants.join(", ")
            }
        )),
        Some(f) => {
            out.push_str(&format!("FAIL {}\n", f.violation));
            out.push_str(&format!(
                "  found at case {}, shrunk in {} step(s) to this minimal request:\n",
                f.case_index, f.shrink_steps
            ));
            for line in pretty(&generated_json(&f.minimal)).lines() {
                out.push_str(&format!("  {line}\n"));
            }
            if let Some((added, name)) = saved {
                let file = bundle.join("tests").join(regress::REGRESSIONS_FILE);
                out.push_str(&format!(
                    "  {} {} as case \"prop {name} (seed {})\": `aftersale test` replays it\n",
                    if *added { "added to" } else { "already in" },
                    file.display(),
                    report.seed
                ));
            }
        }
    }
    out
}

/// Reads recorded requests, one JSON object a line.
fn read_recorded(
    format: Format,
    path: &Path,
    as_of: Option<&str>,
) -> Result<Vec<Generated>, Failure> {
    let file = std::fs::File::open(path).map_err(|e| {
        fail(
            format,
            "unreadable",
            format!("cannot read `{}`: {e}", path.display()),
            Failure::BadInput,
        )
    })?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let at = |message: String| {
            fail(
                format,
                "invalid_request",
                format!("{}:{}: {message}", path.display(), i + 1),
                Failure::BadInput,
            )
        };
        let line = line.map_err(|e| at(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let text = if i == 0 {
            aftersale_core::bundle::skip_bom(&line)
        } else {
            &line
        };
        let value: Value = aftersale_core::value::parse_json(text, "")
            .map_err(|e| at(format!("not valid JSON: {e}")))?;
        let (facts, line_as_of) = match &value {
            Value::Object(map) if map.get("facts").is_some_and(Value::is_object) => (
                map.get("facts").cloned().unwrap_or_default(),
                map.get("as_of").and_then(Value::as_str).map(str::to_string),
            ),
            Value::Object(_) => (value.clone(), None),
            _ => return Err(at("expected a JSON object".into())),
        };
        let Some(as_of) = line_as_of.or_else(|| as_of.map(str::to_string)) else {
            return Err(at(
                "no `as_of` on the line: give one, or pass --as-of".into()
            ));
        };
        out.push(Generated { facts, as_of });
    }
    Ok(out)
}

/// `aftersale diff <old> <new>`.
pub(crate) fn run_diff(ctx: &Context<'_>, args: &DiffArgs) -> Result<(), Failure> {
    let format = ctx.format;
    let old = load(ctx, &args.old)?;
    let new = load(ctx, &args.new)?;
    let recorded = match &args.recorded {
        Some(path) => read_recorded(format, path, args.as_of.as_deref())?,
        None => Vec::new(),
    };
    let config = DiffConfig {
        cases: args.cases,
        seed: args.seed,
        as_of: args.as_of.clone(),
        recorded,
        ..DiffConfig::default()
    };
    let result = diff_bundles(&old, &new, &config);
    let report = result.map_err(|e| fail(format, "diff", e.to_string(), Failure::BadInput))?;
    match format {
        Format::Json => print_out(&format!(
            "{}\n",
            serde_json::to_value(&report).unwrap_or_default()
        ))?,
        Format::Text => print_out(&diff_text(&report))?,
    }
    if args.fail_on_change && report.changed > 0 {
        Err(Failure::Failed)
    } else {
        Ok(())
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn diff_text(report: &DiffReport) -> String {
    let share = if report.cases == 0 {
        0.0
    } else {
        // Display only: a percentage for people.
        #[allow(
            clippy::cast_precision_loss,
            reason = "a rounded percentage for display"
        )]
        let p = report.changed as f64 * 100.0 / report.cases as f64;
        p
    };
    let mut out = format!(
        "diff {} -> {}: {} requests compared (seed {}, {} recorded), {} changed ({share:.1}%)\n",
        report.old,
        report.new,
        thousands(report.cases),
        report.seed,
        thousands(report.recorded),
        thousands(report.changed),
    );
    if report.groups.is_empty() {
        out.push_str("no decision changed\n");
        return out;
    }
    for group in &report.groups {
        out.push_str(&format!(
            "\n{}: {} case{}{}\n",
            group.change,
            thousands(group.count),
            if group.count == 1 { "" } else { "s" },
            if group.recorded > 0 {
                format!(" ({} recorded)", thousands(group.recorded))
            } else {
                String::new()
            }
        ));
        for b in &group.boundaries {
            out.push_str(&format!("  boundary: {b}\n"));
        }
        if let Some(example) = &group.example {
            out.push_str(&format!("  old: {}\n  new: {}\n", group.old, group.new));
            out.push_str(&format!("  example: {}\n", generated_json(example)));
        }
    }
    out
}
