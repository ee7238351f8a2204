//! Bad input to `aftersale eval`, `check`, `test` and `batch`: malformed, truncated and
//! mistyped `contract.toml`, test files and facts; non-UTF-8 bytes; huge, deep and
//! number-like oddities; impossible dates and unknown time zones.
//!
//! What every case expects (README, "Exit status"): a clear message; exit 2 for usage or
//! unreadable input (facts, `--as-of`, a file that cannot be read as text), exit 1 for a
//! contract that does not load, a failing evaluation or a failing test; never a panic (exit
//! 101, a signal, panic text on stderr) and never a hang: a child is killed past 30 s of CPU time (or
//! hung for 10 minutes) and the case fails. With `--format json` the error is one JSON object on stderr.
//!
//! Cases marked `#[ignore = "bug: ..."]` fail today; run them with `--ignored`.
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{bundle, eval_args, run_measured, tempdir, write};

/// A child past this much CPU time is killed, and the case fails.
const KILL_CPU: Duration = Duration::from_secs(30);
/// A child past this peak memory is killed, and the case fails (KiB).
const KILL_RSS_KIB: u64 = 4 * 1024 * 1024;

/// What one run of the binary gave.
#[derive(Debug)]
struct Run {
    args: Vec<OsString>,
    status: ExitStatus,
    stdout: String,
    stderr: String,
    cpu: Duration,
    peak_rss_kib: u64,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    fn show(&self) -> String {
        let cut = |t: &str| {
            let mut end = t.len().min(3000);
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            t[..end].to_string()
        };
        format!(
            "args {:?}\nstatus {:?} (signal {:?}), cpu {:?}, peak RSS {} KiB\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            self.status.code(),
            self.status.signal(),
            self.cpu,
            self.peak_rss_kib,
            cut(&self.stdout),
            cut(&self.stderr)
        )
    }

    /// Asserts the exit status.
    fn code_is(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "exit status:\n{}", self.show());
        self
    }

    /// Asserts that stderr contains every one of `parts`.
    fn stderr_has(&self, parts: &[&str]) -> &Self {
        for part in parts {
            assert!(
                self.stderr.contains(part),
                "stderr lacks {part:?}:\n{}",
                self.show()
            );
        }
        self
    }

    fn no_stdout(&self) -> &Self {
        assert!(
            self.stdout.is_empty(),
            "stdout should be empty:\n{}",
            self.show()
        );
        self
    }

    /// Stderr is exactly one JSON object `{"error": {...}}` with a message; returns it.
    fn json_error(&self) -> Value {
        let v: Value = serde_json::from_str(&self.stderr)
            .unwrap_or_else(|e| panic!("stderr is not one JSON object ({e}):\n{}", self.show()));
        let error = &v["error"];
        assert!(error.is_object(), "no `error` object:\n{}", self.show());
        let has_message = error["message"].is_string()
            || error["errors"]
                .as_array()
                .is_some_and(|list| list.iter().all(|e| e["message"].is_string()));
        assert!(has_message, "no message:\n{}", self.show());
        v
    }

    /// The stdout lines parsed as JSON (batch output).
    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("line {l:?} is not JSON ({e}):\n{}", self.show()))
            })
            .collect()
    }
}

/// Runs the binary with `args` and `stdin`, killing it past [`KILL_CPU`] of CPU time (or
/// hung, see `support::HANG_AFTER`); checks that it neither hung nor panicked.
fn run_with(args: Vec<OsString>, stdin: Option<Vec<u8>>) -> Run {
    let m = run_measured(args, stdin, KILL_CPU, KILL_RSS_KIB);
    let run = Run {
        args: m.args,
        status: m.status,
        stdout: m.stdout,
        stderr: m.stderr,
        cpu: m.cpu,
        peak_rss_kib: m.peak_rss_kib,
    };
    assert_eq!(m.killed, None, "the harness killed it:\n{}", run.show());
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "internal error",
        "overflowed its stack",
        "fatal runtime error",
    ] {
        assert!(
            !run.stderr.contains(bad),
            "stderr shows {bad:?}:\n{}",
            run.show()
        );
    }
    assert!(
        run.status.signal().is_none(),
        "killed by a signal:\n{}",
        run.show()
    );
    assert_ne!(
        run.code(),
        Some(101),
        "exit 101 is a panic:\n{}",
        run.show()
    );
    run
}

fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    run_with(args.iter().map(|a| a.as_ref().to_owned()).collect(), None)
}

/// A bundle whose `contract.toml` is exactly `manifest` (bytes), with term `x` = `1` on disk.
fn raw_bundle(root: &Path, name: &str, manifest: &[u8]) -> PathBuf {
    let dir = root.join(name);
    write(&dir.join("contract.toml"), manifest);
    write(&dir.join("terms/x.rhai"), "1");
    dir
}

/// `x` doubles `facts.n`.
fn doubling(root: &Path) -> PathBuf {
    bundle(root, "dbl", "", &[("x", "facts.n * 2")])
}

fn eval(bundle: &Path, facts: &Path, extra: &[&str]) -> Run {
    run_with(eval_args(bundle, facts, extra), None)
}

/// `eval` with the facts written to `root/facts.json` from `bytes`.
fn eval_facts(root: &Path, bundle: &Path, bytes: impl AsRef<[u8]>, extra: &[&str]) -> Run {
    let facts = root.join("facts.json");
    write(&facts, bytes);
    eval(bundle, &facts, extra)
}

fn batch(bundle: &Path, input: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<OsString> = vec![
        "batch".into(),
        bundle.into(),
        "--input".into(),
        input.into(),
        "--as-of".into(),
        "2025-01-01".into(),
        "--jobs".into(),
        "2".into(),
    ];
    args.extend(extra.iter().map(Into::into));
    run_with(args, None)
}

/// Every command on one bundle, as `(name, run)`: `eval` with `{}` facts, `check`, `test` and
/// `batch` of one `{}` line, each with `extra` arguments.
fn every_command(root: &Path, bundle: &Path, extra: &[&str]) -> Vec<(&'static str, Run)> {
    let facts = root.join("empty-facts.json");
    write(&facts, "{}");
    let input = root.join("one.jsonl");
    write(&input, "{}\n");
    let with = |mut args: Vec<OsString>| {
        args.extend(extra.iter().map(Into::into));
        run_with(args, None)
    };
    vec![
        ("eval", eval(bundle, &facts, extra)),
        ("check", with(vec!["check".into(), bundle.into()])),
        ("test", with(vec!["test".into(), bundle.into()])),
        ("batch", batch(bundle, &input, extra)),
    ]
}

/// The bundle fails to load in every command: exit 1, `parts` on stderr, and with
/// `--format json` one JSON object whose first problem contains `json_parts`.
fn assert_load_fails_everywhere(root: &Path, bundle: &Path, parts: &[&str]) {
    for (name, out) in every_command(root, bundle, &[]) {
        out.code_is(1).stderr_has(parts);
        assert!(
            !out.stdout.contains("\"outputs\""),
            "{name}: a decision:\n{}",
            out.show()
        );
    }
    for (name, out) in every_command(root, bundle, &["--format", "json"]) {
        out.code_is(1);
        let v = out.json_error();
        assert_eq!(v["error"]["code"], "load", "{name}:\n{}", out.show());
        let first = v["error"]["errors"][0]["message"].as_str().unwrap_or("");
        for part in parts {
            assert!(
                first.contains(part) || out.stderr.contains(part),
                "{name}: JSON lacks {part:?}:\n{}",
                out.show()
            );
        }
    }
}

mod contract_toml {
    use super::*;

    const GOOD: &str = "[contract]\nid = \"c\"\nversion = \"1\"\ntimezone = \"Europe/Rome\"\noutputs = [\"x\"]\n\n[params]\nrate = 0.20\n\n[terms.x]\ndescription = \"one\"\n";

    #[test]
    fn malformed_contract_toml_fails_every_command_with_its_position() {
        let tmp = tempdir();
        for (i, (manifest, place)) in [
            (
                "[contract\nid = \"c\"\nversion = \"1\"\n",
                "contract.toml:1:10",
            ),
            (
                "[contract]\nid = \"c\"\nversion = \"1\n",
                "contract.toml:3:",
            ),
            (
                "[contract]\nid = = \"c\"\nversion = \"1\"\n",
                "contract.toml:2:",
            ),
            (
                "[contract]\nid = \"c\"\nversion = \"1\"\n[terms.x\n",
                "contract.toml:4:",
            ),
            (
                "[contract]\nid = \"c\"\nid = \"d\"\nversion = \"1\"\n",
                "contract.toml:3:",
            ),
            (
                "[contract]\nid = \"c\"\nversion = \"1\"\n[[terms]]\n",
                "contract.toml:4:",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let b = raw_bundle(tmp.path(), &format!("m{i}"), manifest.as_bytes());
            assert_load_fails_everywhere(tmp.path(), &b, &[place]);
        }
    }

    #[test]
    fn a_truncated_contract_toml_never_loads_and_never_panics() {
        let tmp = tempdir();
        let b = raw_bundle(tmp.path(), "full", GOOD.as_bytes());
        run(&[Path::new("check"), &b]).code_is(0);
        // A prefix loads only if it still declares `[terms.x]` (the script on disk is
        // otherwise undeclared); any other cut is invalid TOML, misses a required field or
        // leaves the script undeclared, and must say so.
        for cut in (0..GOOD.len()).step_by(3) {
            let prefix = &GOOD[..cut];
            let b = raw_bundle(tmp.path(), &format!("cut{cut}"), prefix.as_bytes());
            let out = run(&[Path::new("check"), &b]);
            if prefix.contains("[terms.x]\n") && out.code() == Some(0) {
                continue;
            }
            out.code_is(1).stderr_has(&["error: "]);
            assert!(
                out.stderr.contains("contract.toml") || out.stderr.contains("terms/x.rhai"),
                "{}",
                out.show()
            );
            run(&[
                Path::new("check"),
                &b,
                Path::new("--format"),
                Path::new("json"),
            ])
            .code_is(1)
            .json_error();
        }
    }

    #[test]
    fn wrong_types_in_contract_toml_are_load_errors_naming_the_place() {
        let tmp = tempdir();
        let base = "[contract]\nid = \"c\"\nversion = \"1\"\n";
        for (i, (manifest, parts)) in [
            (
                "[contract]\nid = 5\nversion = \"1\"\n[terms.x]\n".to_string(),
                vec!["contract.toml:2:6", "expected a string"],
            ),
            (
                "[contract]\nid = \"c\"\nversion = 1\n[terms.x]\n".to_string(),
                vec!["contract.toml:3:11", "expected a string"],
            ),
            (
                format!("{base}plugins = \"calendar\"\n[terms.x]\n"),
                vec!["contract.toml:4:", "sequence"],
            ),
            (
                format!("{base}outputs = \"x\"\n[terms.x]\n"),
                vec!["contract.toml:4:", "sequence"],
            ),
            (
                format!("{base}timezone = 1\n[terms.x]\n"),
                vec!["contract.toml:4:", "expected a string"],
            ),
            (
                format!("{base}description = [1]\n[terms.x]\n"),
                vec!["contract.toml:4:"],
            ),
            (format!("{base}[terms]\nx = 5\n"), vec!["contract.toml:5:"]),
            (
                format!("{base}[terms.x]\nscript = 1\n"),
                vec!["contract.toml:5:"],
            ),
            (
                format!("{base}[terms.x]\n[limits]\nmax_operations = \"lots\"\n"),
                vec!["limits", "lots"],
            ),
            (
                format!("{base}[terms.x]\n[limits]\nmax_operations = -1\n"),
                vec!["limits", "-1"],
            ),
            (
                format!("{base}[terms.x]\n[limits]\nmax_operations = 1.5\n"),
                vec!["limits", "1.5"],
            ),
            (
                format!("{base}[terms.x]\n[limits]\nmax_call_depth = 0\n"),
                vec!["max_call_depth must be at least 1"],
            ),
            (
                format!("{base}[terms.x]\n[limits]\nmax_call_depth = 18446744073709551616\n"),
                vec!["contract.toml:6:"],
            ),
            (
                format!("{base}[terms.x]\n[params]\nn = nan\n"),
                vec!["`n`", "NaN"],
            ),
            (
                format!("{base}[terms.x]\n[params]\nbig = 1e400\n"),
                vec!["contract.toml:6:"],
            ),
            (
                format!("{base}[terms.x]\n[params]\nd = 2025-02-30\n"),
                vec!["contract.toml:6:"],
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let b = raw_bundle(tmp.path(), &format!("t{i}"), manifest.as_bytes());
            let out = run(&[Path::new("check"), &b]);
            out.code_is(1).stderr_has(&parts);
            run(&[
                Path::new("check"),
                &b,
                Path::new("--format"),
                Path::new("json"),
            ])
            .code_is(1)
            .json_error();
        }
    }

    #[test]
    fn missing_and_extra_fields_in_contract_toml_are_named() {
        let tmp = tempdir();
        for (i, (manifest, parts)) in [
            ("[contract]\nid = \"c\"\n[terms.x]\n", vec!["missing field `version`"]),
            ("[contract]\nversion = \"1\"\n[terms.x]\n", vec!["missing field `id`"]),
            ("[terms.x]\n", vec!["missing field `contract`"]),
            ("", vec!["missing field `contract`"]),
            (
                "[contract]\nid = \"c\"\nversion = \"1\"\ncolour = \"red\"\n[terms.x]\n",
                vec!["`colour`", "contract.toml:4:1"],
            ),
            (
                "[contract]\nid = \"c\"\nversion = \"1\"\n[terms.x]\nscirpt = \"a.rhai\"\n",
                vec!["`scirpt`", "contract.toml:5:1"],
            ),
            (
                "[contract]\nid = \"c\"\nversion = \"1\"\n[terms.x]\n[extra]\na = 1\n",
                vec!["`extra`"],
            ),
            (
                "[contract]\nid = \"c\"\nversion = \"1\"\n[terms.x]\n[limits]\nmax_opertions = 10\n",
                vec!["max_opertions"],
            ),
            (
                "[contract]\nid = \"c\"\nversion = \"1\"\noutputs = [\"nope\"]\n[terms.x]\n",
                vec!["`nope`"],
            ),
            (
                "[contract]\nid = \"c\"\nversion = \"1\"\nplugins = [\"nope\"]\n[terms.x]\n",
                vec!["`nope`"],
            ),
            (
                "[contract]\nid = \"C D\"\nversion = \"\"\n[terms.x]\n",
                vec!["contract.id", "contract.version"],
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let b = raw_bundle(tmp.path(), &format!("f{i}"), manifest.as_bytes());
            run(&[Path::new("check"), &b]).code_is(1).stderr_has(&parts);
        }
    }

    #[test]
    fn an_unknown_time_zone_fails_every_command_naming_contract_timezone() {
        let tmp = tempdir();
        for (i, zone) in [
            "Mars/Olympus_Mons",
            "",
            "Europe/Rome ",
            "UTC+1",
            "europe/rome",
        ]
        .into_iter()
        .enumerate()
        {
            let b = bundle(
                tmp.path(),
                &format!("tz{i}"),
                &format!("timezone = \"{zone}\""),
                &[("x", "1")],
            );
            assert_load_fails_everywhere(
                tmp.path(),
                &b,
                &[
                    "contract.timezone",
                    &format!("`{zone}`"),
                    "contract.toml:4:",
                ],
            );
        }
    }

    #[test]
    fn a_non_utf8_contract_toml_fails_every_command() {
        let tmp = tempdir();
        let b = raw_bundle(
            tmp.path(),
            "latin1",
            b"[contract]\nid = \"c\"\nversion = \"1\"\ndescription = \"caf\xe9\"\n[terms.x]\n",
        );
        assert_load_fails_everywhere(tmp.path(), &b, &["UTF-8", "contract.toml"]);
    }

    #[test]
    fn a_non_utf8_script_fails_every_command() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "s", "", &[("x", "1")]);
        write(&b.join("terms/x.rhai"), b"\"caf\xe9\"\n\xff\xfe");
        assert_load_fails_everywhere(tmp.path(), &b, &["UTF-8", "x.rhai"]);
    }

    #[test]
    /// `--format json` writes one JSON object per line of stderr, one per failing bundle, so
    /// a pipeline reads the errors of several bundles as JSON Lines.
    fn several_bad_bundles_give_one_json_error_line_each() {
        let tmp = tempdir();
        let a = raw_bundle(tmp.path(), "a", b"[contract\n");
        let b = raw_bundle(tmp.path(), "b", b"[contract]\nid = \"b\"\n");
        for sub in ["check", "test"] {
            let out = run(&[
                Path::new(sub),
                &a,
                &b,
                Path::new("--format"),
                Path::new("json"),
            ]);
            out.code_is(1);
            let lines: Vec<Value> = out
                .stderr
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect();
            assert_eq!(lines.len(), 2, "{}", out.show());
            assert!(
                lines.iter().all(|v| v["error"]["code"] == "load"),
                "{}",
                out.show()
            );
        }
    }
}

mod facts {
    use super::*;

    #[test]
    fn malformed_and_truncated_json_facts_exit_2_naming_the_file() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        let full =
            r#"{"n": 21, "list": [1, 2.50, "x"], "nested": {"d": "2024-01-15", "ok": true}}"#;
        let mut texts: Vec<Vec<u8>> = [
            "{\"n\": ",
            "{\"n\": 1",
            "{n: 1}",
            "",
            "   \n",
            "{\"n\": 1} trailing",
            "{\"n\": 1,}",
            "{\"n\": 'x'}",
            "{\"n\": \"unterminated",
            "{\"n\": 1}{\"n\": 2}",
            "{\"n\": 01}",
            "{\"n\": 1.}",
            "{\"n\": \"\\u12\"}",
            "{\"n\": 1 /* comment */}",
        ]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
        texts.extend(
            (0..full.len())
                .step_by(4)
                .map(|cut| full.as_bytes()[..cut].to_vec()),
        );
        for text in texts {
            let out = eval_facts(tmp.path(), &b, &text, &[]);
            out.code_is(2)
                .stderr_has(&["facts.json", "JSON"])
                .no_stdout();
            let out = eval_facts(tmp.path(), &b, &text, &["--format", "json"]);
            out.code_is(2).no_stdout();
            assert_eq!(
                out.json_error()["error"]["code"],
                "invalid_json",
                "{}",
                out.show()
            );
        }
        // The full text decides.
        eval_facts(tmp.path(), &b, full, &[]).code_is(0);
    }

    #[test]
    fn malformed_facts_on_stdin_exit_2() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        for text in [&b"{\"n\": "[..], b"", b"[1]", b"{\"n\": \"caf\xe9\"}"] {
            let out = run_with(eval_args(&b, Path::new("-"), &[]), Some(text.to_vec()));
            out.code_is(2).no_stdout();
            assert!(out.stderr.contains('-'), "{}", out.show());
        }
        let out = run_with(
            eval_args(&b, Path::new("-"), &[]),
            Some(b"{\"n\": 21}".to_vec()),
        );
        out.code_is(0);
    }

    #[test]
    fn facts_that_are_not_an_object_exit_2() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        for text in ["[1]", "\"n\"", "1", "null", "true", "[]"] {
            eval_facts(tmp.path(), &b, text, &[])
                .code_is(2)
                .stderr_has(&["must be a JSON object"])
                .no_stdout();
            let out = eval_facts(tmp.path(), &b, text, &["--format", "json"]);
            out.code_is(2);
            assert_eq!(
                out.json_error()["error"]["code"],
                "invalid_facts",
                "{}",
                out.show()
            );
        }
    }

    /// Without a schema a fact of the wrong type is only found by the term that uses it.
    #[test]
    fn facts_of_the_wrong_type_fail_the_term_that_uses_them() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        for text in [
            r#"{"n": "two"}"#,
            r#"{"n": null}"#,
            r#"{"n": [1]}"#,
            r#"{"n": {"a": 1}}"#,
            r#"{"n": true}"#,
            r#"{"m": 1}"#,
        ] {
            eval_facts(tmp.path(), &b, text, &[])
                .code_is(1)
                .stderr_has(&["term `x`", "terms/x.rhai:1:"])
                .no_stdout();
            let out = eval_facts(tmp.path(), &b, text, &["--format", "json"]);
            out.code_is(1);
            let v = out.json_error();
            assert_eq!(v["error"]["code"], "evaluation", "{}", out.show());
            assert_eq!(v["error"]["term"], "x", "{}", out.show());
        }
    }

    #[test]
    fn non_utf8_facts_exit_2() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        for bytes in [
            &b"{\"n\": \"caf\xe9\"}"[..],
            b"\xff\xfe{\x00\"\x00n\x00\"\x00:\x001\x00}\x00",
            b"{\"n\": 1}\xc0",
        ] {
            eval_facts(tmp.path(), &b, bytes, &[])
                .code_is(2)
                .stderr_has(&["facts.json", "UTF-8"])
                .no_stdout();
            let out = eval_facts(tmp.path(), &b, bytes, &["--format", "json"]);
            out.code_is(2);
            out.json_error();
        }
    }

    #[test]
    fn deeply_nested_facts_exit_2() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        let arrays = format!(
            "{{\"n\": 1, \"d\": {}{}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let objects = format!(
            "{{\"n\": 1, \"d\": {}1{}}}",
            "{\"a\": ".repeat(10_000),
            "}".repeat(10_000)
        );
        for text in [&arrays, &objects] {
            eval_facts(tmp.path(), &b, text, &[])
                .code_is(2)
                .stderr_has(&["facts.json", "recursion limit"])
                .no_stdout();
            let out = eval_facts(tmp.path(), &b, text, &["--format", "json"]);
            out.code_is(2);
            out.json_error();
            // In a batch the line gets an error of its own.
            let input = tmp.path().join("deep.jsonl");
            write(&input, format!("{{\"n\": 1}}\n{text}\n{{\"n\": 2}}\n"));
            let out = batch(&b, &input, &[]);
            out.code_is(0);
            let lines = out.json_lines();
            assert_eq!(lines.len(), 3, "{}", out.show());
            assert_eq!(lines[1]["line"], 2, "{}", out.show());
            assert!(
                lines[1]["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("recursion limit")),
                "{}",
                out.show()
            );
            assert_eq!(lines[2]["outputs"]["x"], 4, "{}", out.show());
        }
    }

    /// Each JSON number is either kept with its exact digits or refused with exit 2.
    #[test]
    fn nan_like_and_huge_numbers_are_refused_or_kept_exactly() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "ident", "", &[("v", "facts.v")]);
        // (facts value, Some(output text) when it must decide, None when it must exit 2)
        for (value, expected) in [
            ("1e400", None),
            ("-1e400", None),
            ("1e-400", None),
            ("1234567890123456789012345678901234567890", None),
            ("-1234567890123456789012345678901234567890", None),
            ("79228162514264337593543950336", None),
            ("NaN", None),
            ("nan", None),
            ("Infinity", None),
            ("-Infinity", None),
            ("+1", None),
            ("0x10", None),
            ("-0", Some("0")),
            ("\"NaN\"", Some("\"NaN\"")),
            ("12.50", Some("12.50")),
            ("-0.001", Some("-0.001")),
            ("1e2", Some("100")),
            ("9223372036854775807", Some("9223372036854775807")),
            ("9223372036854775808", Some("9223372036854775808")),
            ("-9223372036854775808", Some("-9223372036854775808")),
            (
                "79228162514264337593543950335",
                Some("79228162514264337593543950335"),
            ),
            (
                "0.0000000000000000000000000001",
                Some("0.0000000000000000000000000001"),
            ),
        ] {
            let out = eval_facts(tmp.path(), &b, format!("{{\"v\": {value}}}"), &[]);
            match expected {
                Some(text) => {
                    out.code_is(0);
                    assert!(
                        out.stdout
                            .contains(&format!("\"outputs\":{{\"v\":{text}}}")),
                        "{value}: {}",
                        out.show()
                    );
                }
                None => {
                    out.code_is(2).stderr_has(&["facts"]).no_stdout();
                    let out = eval_facts(
                        tmp.path(),
                        &b,
                        format!("{{\"v\": {value}}}"),
                        &["--format", "json"],
                    );
                    out.code_is(2);
                    out.json_error();
                }
            }
        }
    }

    /// A fact with more digits than an exact decimal holds should be refused like `1e400`
    /// ("out of the exact decimal range"); instead it is silently rounded, and a tiny number
    /// written in full becomes zero (while the same number written `1e-29` is refused).
    #[test]
    fn numbers_beyond_exact_decimal_precision_are_refused_not_rounded() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "ident", "", &[("v", "facts.v")]);
        for value in [
            "0.12345678901234567890123456789",
            "0.00000000000000000000000000001",
            "123456789012345.12345678901234567",
            "1.00000000000000000000000000000",
        ] {
            let out = eval_facts(tmp.path(), &b, format!("{{\"v\": {value}}}"), &[]);
            let kept = out
                .stdout
                .contains(&format!("\"outputs\":{{\"v\":{value}}}"));
            assert!(
                kept || out.code() == Some(2),
                "{value} was neither kept nor refused:\n{}",
                out.show()
            );
        }
    }

    #[test]
    fn an_impossible_date_in_facts_fails_the_term_that_reads_it() {
        let tmp = tempdir();
        let b = bundle(
            tmp.path(),
            "dated",
            "",
            &[("due", "date(facts.d).add_days(30)")],
        );
        for d in [
            "2025-02-30",
            "2023-02-29",
            "2025-13-01",
            "2025-00-10",
            "30/01/2025",
            "",
        ] {
            let text = format!("{{\"d\": \"{d}\"}}");
            eval_facts(tmp.path(), &b, &text, &[])
                .code_is(1)
                .stderr_has(&["term `due`", &format!("`{d}`"), "terms/due.rhai:1:"])
                .no_stdout();
            let out = eval_facts(tmp.path(), &b, &text, &["--format", "json"]);
            out.code_is(1);
            let v = out.json_error();
            assert_eq!(v["error"]["code"], "evaluation", "{}", out.show());
            assert_eq!(v["error"]["term"], "due", "{}", out.show());
        }
        eval_facts(tmp.path(), &b, r#"{"d": "2024-02-29"}"#, &[]).code_is(0);
    }

    #[test]
    fn an_impossible_as_of_exits_2() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        let facts = tmp.path().join("f.json");
        write(&facts, r#"{"n": 1}"#);
        let input = tmp.path().join("in.jsonl");
        write(&input, "{\"n\": 1}\n");
        for as_of in [
            "2025-02-30",
            "2023-02-29",
            "2025-13-01",
            "2025-01-01T25:00:00Z",
            "2025-01-01T10:00:00+25:00",
            "2025-01-01Z",
            "yesterday",
            "",
        ] {
            for sub in ["eval", "batch"] {
                let mut args: Vec<OsString> = vec![sub.into(), b.clone().into()];
                if sub == "eval" {
                    args.extend(["--facts".into(), facts.clone().into()]);
                } else {
                    args.extend(["--input".into(), input.clone().into()]);
                }
                args.extend(["--as-of".into(), as_of.into()]);
                let out = run_with(args.clone(), None);
                out.code_is(2)
                    .stderr_has(&[&format!("as_of `{as_of}`")])
                    .no_stdout();
                args.extend(["--format".into(), "json".into()]);
                let out = run_with(args, None);
                out.code_is(2);
                assert_eq!(
                    out.json_error()["error"]["code"],
                    "invalid_as_of",
                    "{}",
                    out.show()
                );
            }
        }
    }

    /// 100 MB of facts (2.4 million small records): must decide or fail clearly within the
    /// 10 s bound. `eval` refuses facts over 16 MiB before parsing them (parsing all of it
    /// held 2.4 GB and took ~27 s in a debug build).
    #[test]
    fn a_hundred_megabyte_facts_file_decides_or_fails_within_the_time_bound() {
        let tmp = tempdir();
        let b = bundle(
            tmp.path(),
            "big",
            "",
            &[("x", "facts.n * 2"), ("count", "facts.records.len()")],
        );
        let record =
            r#"{"km": 123456, "on": "2024-01-01", "cost": 12.50, "note": "routine service"}"#;
        let count = 100 * 1024 * 1024 / (record.len() + 1);
        let mut text = String::with_capacity(100 * 1024 * 1024 + 64);
        text.push_str("{\"n\": 21, \"records\": [");
        for i in 0..count {
            if i > 0 {
                text.push(',');
            }
            text.push_str(record);
        }
        text.push_str("]}");
        let facts = tmp.path().join("big.json");
        write(&facts, &text);
        drop(text);
        let out = eval(&b, &facts, &["--output", "x"]);
        eprintln!(
            "100 MB facts: exit {:?} in {:?} of CPU time, peak {} KiB",
            out.code(),
            out.cpu,
            out.peak_rss_kib
        );
        match out.code() {
            Some(0) => assert!(
                out.stdout.contains(r#""outputs":{"x":42}"#),
                "{}",
                out.show()
            ),
            _ => {
                out.code_is(2).stderr_has(&["big.json"]);
            }
        }
    }
}

mod test_files {
    use super::*;

    const GOOD_CASES: &str = "# cases\n[[case]]\nname = \"doubles two\"\nas_of = \"2025-01-01\"\nfacts = { n = 2, list = [1, 2.50], nested = { ok = true } }\nexpect = { x = 4 }\n\n[[case]]\nname = \"negative\"\nas_of = \"2025-01-01T10:00:00+02:00\"\nfacts = { n = -1 }\nexpect_error = \"must not be negative\"\n";

    /// A bundle with a passing `tests/good.toml` and `tests/bad.toml` holding `bad`.
    fn with_bad_file(root: &Path, name: &str, bad: &[u8]) -> PathBuf {
        let b = bundle(
            root,
            name,
            "",
            &[(
                "x",
                "if facts.n < 0 { throw \"n must not be negative\" }\nfacts.n * 2",
            )],
        );
        write(&b.join("tests/good.toml"), GOOD_CASES);
        write(&b.join("tests/bad.toml"), bad);
        b
    }

    #[test]
    fn the_good_file_alone_passes() {
        let tmp = tempdir();
        let b = with_bad_file(tmp.path(), "ok", b"");
        let out = run(&[Path::new("test"), &b]);
        out.code_is(0);
        assert!(
            out.stdout.ends_with("2 passed, 0 failed\n"),
            "{}",
            out.show()
        );
    }

    #[test]
    fn malformed_and_truncated_test_files_name_file_line_and_column() {
        let tmp = tempdir();
        let mut bad: Vec<(String, Option<&str>)> = vec![
            (
                "[[case]]\nname = \"a\"\nas_of = \n".into(),
                Some("tests/bad.toml:3:"),
            ),
            (
                "[[case]]\nname = \"a\"\nas_of = \"2025-01-01\"\nfacts = { n = 2 }\nexpect = { x = 4 "
                    .into(),
                Some("tests/bad.toml:5:"),
            ),
            ("[[case]\n".into(), Some("tests/bad.toml:1:")),
            ("[[case]]\nname = \"a\nb\"\n".into(), Some("tests/bad.toml:2:")),
        ];
        // Every prefix of a valid file that is not itself valid (or a valid file of fewer
        // cases) must be reported, never crash.
        bad.extend(
            (1..GOOD_CASES.len())
                .step_by(5)
                .map(|cut| (GOOD_CASES[..cut].to_string(), None)),
        );
        for (i, (text, place)) in bad.iter().enumerate() {
            let b = with_bad_file(tmp.path(), &format!("b{i}"), text.as_bytes());
            let out = run(&[Path::new("test"), &b]);
            // The good file still runs whatever happens to the bad one.
            assert!(out.stdout.contains("ok   doubles two"), "{}", out.show());
            if let Some(place) = place {
                out.code_is(1).stderr_has(&[place]);
                assert!(
                    out.stdout.trim_end().ends_with(" failed") && !out.stdout.contains(" 0 failed"),
                    "{}",
                    out.show()
                );
                let out = run(&[
                    Path::new("test"),
                    &b,
                    Path::new("--format"),
                    Path::new("json"),
                ]);
                out.code_is(1);
                out.json_error();
            } else {
                assert!(matches!(out.code(), Some(0 | 1)), "{}", out.show());
                if out.code() == Some(1) {
                    assert!(
                        out.stderr.contains("tests/bad.toml") || out.stdout.contains("FAIL"),
                        "{}",
                        out.show()
                    );
                }
            }
        }
    }

    #[test]
    fn wrong_types_missing_and_extra_fields_in_test_cases_are_named() {
        let tmp = tempdir();
        let case = |body: &str| format!("[[case]]\n{body}\n");
        for (i, (text, parts)) in [
            (
                case("name = \"a\"\nas_of = 2025\nfacts = { n = 2 }\nexpect = { x = 4 }"),
                vec!["tests/bad.toml:3:9"],
            ),
            // A TOML date where a string is expected: the position is right, though the
            // message speaks of a "map".
            (
                case("name = \"a\"\nas_of = 2025-01-01\nfacts = { n = 2 }\nexpect = { x = 4 }"),
                vec!["tests/bad.toml:3:9"],
            ),
            (
                case("name = \"a\"\nas_of = \"2025-01-01\"\nfacts = \"n\"\nexpect = { x = 4 }"),
                vec!["tests/bad.toml:4:9"],
            ),
            (
                case("name = \"a\"\nas_of = \"2025-01-01\"\nfacts = { n = 2 }\nexpect = 4"),
                vec!["tests/bad.toml:5:10"],
            ),
            (
                case("name = 1\nas_of = \"2025-01-01\"\nfacts = { n = 2 }\nexpect = { x = 4 }"),
                vec!["tests/bad.toml:2:8"],
            ),
            (
                case("as_of = \"2025-01-01\"\nfacts = { n = 2 }\nexpect = { x = 4 }"),
                vec!["missing field `name`"],
            ),
            (
                case("name = \"a\"\nfacts = { n = 2 }\nexpect = { x = 4 }"),
                vec!["missing field `as_of`"],
            ),
            (
                case("name = \"a\"\nas_of = \"2025-01-01\"\nexpect = { x = 4 }\nexpectt = 1"),
                vec!["`expectt`"],
            ),
            (
                case("name = \"a\"\nas_of = \"2025-01-01\"\nfacts = { n = 2 }"),
                vec!["needs one of `expect` and `expect_error`"],
            ),
            (
                case("name = \"a\"\nas_of = \"2025-01-01\"\nexpect = { x = 0 }\nexpect_error = \"x\""),
                vec!["needs one of `expect` and `expect_error`"],
            ),
            (
                format!(
                    "{}{}",
                    case("name = \"a\"\nas_of = \"2025-01-01\"\nexpect_error = \"x\""),
                    case("name = \"a\"\nas_of = \"2025-01-01\"\nexpect_error = \"x\"")
                ),
                vec!["duplicate case name `a`"],
            ),
            ("[[cases]]\nname = \"a\"\n".into(), vec!["`cases`"]),
            (
                case("name = \"a\"\nas_of = \"2025-01-01\"\nfacts = { n = nan }\nexpect = { x = 4 }"),
                vec!["`n`", "NaN"],
            ),
            (
                case("name = \"a\"\nas_of = \"2025-01-01\"\nfacts = { n = 1e400 }\nexpect = { x = 4 }"),
                vec!["tests/bad.toml:4:"],
            ),
            (
                case("name = \"a\"\nas_of = \"2025-01-01\"\nfacts = { n = inf }\nexpect = { x = 4 }"),
                vec!["`n`"],
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let b = with_bad_file(tmp.path(), &format!("w{i}"), text.as_bytes());
            let out = run(&[Path::new("test"), &b]);
            out.code_is(1).stderr_has(&parts).stderr_has(&["bad.toml"]);
            assert!(out.stdout.contains("ok   doubles two"), "{}", out.show());
        }
    }

    #[test]
    fn a_non_utf8_test_file_is_unreadable_input() {
        let tmp = tempdir();
        let b = with_bad_file(
            tmp.path(),
            "latin1",
            b"[[case]]\nname = \"caf\xe9\"\nas_of = \"2025-01-01\"\nexpect_error = \"x\"\n",
        );
        let out = run(&[Path::new("test"), &b]);
        out.code_is(2).stderr_has(&["bad.toml", "UTF-8"]);
        assert!(out.stdout.contains("ok   doubles two"), "{}", out.show());
        let out = run(&[
            Path::new("test"),
            &b,
            Path::new("--format"),
            Path::new("json"),
        ]);
        out.code_is(2);
        out.json_error();
    }

    #[test]
    fn deeply_nested_test_facts_are_a_clear_error() {
        let tmp = tempdir();
        for (i, nested) in [
            format!("{}1{}", "{ a = ".repeat(10_000), " }".repeat(10_000)),
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        ]
        .iter()
        .enumerate()
        {
            let text = format!(
                "[[case]]\nname = \"deep\"\nas_of = \"2025-01-01\"\nfacts = {{ n = 1, d = {nested} }}\nexpect = {{ x = 2 }}\n"
            );
            let b = with_bad_file(tmp.path(), &format!("d{i}"), text.as_bytes());
            run(&[Path::new("test"), &b])
                .code_is(1)
                .stderr_has(&["tests/bad.toml:4:", "recursion limit"]);
        }
    }

    #[test]
    fn impossible_dates_in_test_cases_are_reported() {
        let tmp = tempdir();
        let b = bundle(
            tmp.path(),
            "dated",
            "",
            &[("due", "date(facts.d).add_days(30)")],
        );
        write(
            &b.join("tests/dates.toml"),
            "[[case]]\nname = \"bad as_of\"\nas_of = \"2025-02-30\"\nfacts = { d = \"2025-01-01\" }\nexpect = { due = \"2025-01-31\" }\n\n[[case]]\nname = \"bad fact is the term's error\"\nas_of = \"2025-01-01\"\nfacts = { d = \"2025-02-30\" }\nexpect_error = \"2025-02-30\"\n\n[[case]]\nname = \"a TOML date is not a string\"\nas_of = \"2025-01-01\"\nfacts = { d = 2025-02-28 }\nexpect = { due = \"2025-03-30\" }\n",
        );
        let out = run(&[Path::new("test"), &b]);
        out.code_is(1);
        let line = |name: &str| {
            out.stdout
                .lines()
                .find(|l| l.contains(name))
                .unwrap_or_else(|| panic!("no line for {name}:\n{}", out.show()))
                .to_string()
        };
        assert!(line("bad as_of").contains("FAIL"), "{}", out.show());
        assert!(
            out.stdout.contains("invalid as_of `2025-02-30`"),
            "{}",
            out.show()
        );
        assert!(line("bad fact").contains("ok"), "{}", out.show());
        // TOML dates in facts arrive as ISO strings, so `date()` reads them.
        assert!(line("a TOML date").contains("ok"), "{}", out.show());
    }
}

mod batch_input {
    use super::*;

    #[test]
    fn malformed_jsonl_lines_get_error_lines_in_input_order() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        let input = tmp.path().join("in.jsonl");
        let lines = [
            "{\"n\": 1}",
            "{\"n\": ",
            "[1, 2]",
            "",
            "NaN",
            "{\"n\": 1e400}",
            "{\"n\": \"two\"}",
            "{\"n\": 2}",
            "{\"n\": 3",
        ];
        write(&input, lines.join("\n"));
        let out = batch(&b, &input, &[]);
        out.code_is(0);
        let got = out.json_lines();
        // One output line per non-blank input line, in input order, numbered as in the input.
        let expected: Vec<(u64, &str)> = vec![
            (1, "ok"),
            (2, "invalid_input"),
            (3, "error"),
            (5, "invalid_input"),
            (6, "invalid_facts"),
            (7, "evaluation"),
            (8, "ok"),
            (9, "invalid_input"),
        ];
        assert_eq!(got.len(), expected.len(), "{}", out.show());
        for (line, (number, code)) in got.iter().zip(&expected) {
            if *code == "ok" {
                assert!(line["outputs"]["x"].is_number(), "{line}\n{}", out.show());
            } else {
                assert_eq!(line["line"], json!(number), "{line}\n{}", out.show());
                if *code != "error" {
                    assert_eq!(line["error"]["code"], *code, "{line}\n{}", out.show());
                }
                assert!(line["error"]["message"].is_string(), "{line}");
            }
        }
        assert!(out.stderr.contains("8 records, 6 errors"), "{}", out.show());
        batch(&b, &input, &["--fail-on-error"]).code_is(1);
    }

    /// `read_line` consumes a non-UTF-8 line before failing; the reader then "skips to the
    /// next newline", which throws away the following (valid) line, and every later line
    /// number is one too small.
    #[test]
    fn a_non_utf8_jsonl_line_gets_one_error_line_and_the_rest_decide() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        let input = tmp.path().join("in.jsonl");
        write(
            &input,
            b"{\"n\": 1}\n{\"n\": \"caf\xe9\"}\n{\"n\": 2}\n{\"n\": oops}\n{\"n\": 3}\n",
        );
        let out = batch(&b, &input, &[]);
        out.code_is(0);
        let got = out.json_lines();
        assert_eq!(got.len(), 5, "one line per input line:\n{}", out.show());
        assert_eq!(got[1]["line"], 2, "{}", out.show());
        assert_eq!(got[2]["outputs"]["x"], 4, "{}", out.show());
        assert_eq!(got[3]["line"], 4, "{}", out.show());
        assert_eq!(got[4]["outputs"]["x"], 6, "{}", out.show());
    }

    #[test]
    fn malformed_csv_rows_get_error_lines() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        let input = tmp.path().join("in.csv");
        write(&input, b"n,m\n1,2\n3\n4,\xff\n5,6\n");
        let out = batch(&b, &input, &[]);
        out.code_is(0);
        let got = out.json_lines();
        assert_eq!(got.len(), 4, "{}", out.show());
        assert_eq!(got[0]["outputs"]["x"], 2, "{}", out.show());
        assert_eq!(got[1]["line"], 3, "{}", out.show());
        assert_eq!(got[2]["line"], 4, "{}", out.show());
        assert_eq!(got[3]["outputs"]["x"], 10, "{}", out.show());
        for bad in &got[1..3] {
            assert_eq!(bad["error"]["code"], "invalid_input", "{}", out.show());
        }
        // An empty file and a header alone are zero records, not errors.
        for text in ["", "n\n"] {
            write(&input, text);
            let out = batch(&b, &input, &[]);
            out.code_is(0);
            assert!(out.stdout.is_empty(), "{}", out.show());
        }
    }

    #[test]
    fn malformed_requests_get_error_lines() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        let input = tmp.path().join("in.jsonl");
        let lines = [
            r#"{"facts": 1}"#,
            r#"{"facts": {"n": 1}, "as_of": "2025-02-30"}"#,
            r#"{"facts": {"n": 1}, "outputs": "x"}"#,
            r#"{"facts": {"n": 1}, "trace": "yes"}"#,
            r#"{"fact": {"n": 1}}"#,
            r#"{"facts": {"n": 1}, "colour": 1}"#,
            r#"{"facts": {"n": 1}, "outputs": ["nope"]}"#,
            r#"[{"facts": {"n": 1}}]"#,
            r#"{"facts": {"n": 21}}"#,
        ];
        write(&input, lines.join("\n") + "\n");
        let out = batch(&b, &input, &["--requests"]);
        out.code_is(0);
        let got = out.json_lines();
        assert_eq!(got.len(), lines.len(), "{}", out.show());
        for (i, line) in got.iter().enumerate().take(lines.len() - 1) {
            assert_eq!(line["line"], json!(i + 1), "{}", out.show());
            assert!(line["error"]["message"].is_string(), "{}", out.show());
        }
        assert!(
            got[1]["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("2025-02-30")),
            "{}",
            out.show()
        );
        assert_eq!(got[8]["outputs"]["x"], 42, "{}", out.show());
    }

    #[test]
    fn unreadable_batch_input_exits_2() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        let missing = tmp.path().join("absent.jsonl");
        batch(&b, &missing, &[])
            .code_is(2)
            .stderr_has(&["absent.jsonl"])
            .no_stdout();
        let out = batch(&b, &missing, &["--format", "json"]);
        out.code_is(2);
        out.json_error();
    }

    /// `eval --facts <folder>` exits 2; `batch --input <folder>` opens the folder (which
    /// succeeds on Linux), fails on the first read, and reports that as one bad record.
    #[test]
    fn a_folder_as_batch_input_exits_2() {
        let tmp = tempdir();
        let b = doubling(tmp.path());
        let facts_dir = tmp.path().join("facts-folder");
        std::fs::create_dir_all(&facts_dir).expect("create folder");
        eval(&b, &facts_dir, &[]).code_is(2).no_stdout();
        batch(&b, &facts_dir, &[])
            .code_is(2)
            .stderr_has(&["facts-folder"])
            .no_stdout();
    }
}
