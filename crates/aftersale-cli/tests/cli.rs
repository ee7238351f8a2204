//! Integration tests of the `aftersale` binary: every subcommand run as a user runs it, with
//! bundles built in temporary folders. Every run also checks that stderr never shows a panic.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::{bundle, tempdir, write};

/// The workspace root (where the README's commands are run from).
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// What one run of the binary gave.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The stdout parsed as JSON.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The stderr parsed as JSON.
    fn stderr_json(&self) -> Value {
        serde_json::from_str(&self.stderr)
            .unwrap_or_else(|e| panic!("stderr is not one JSON object ({e}):\n{}", self.stderr))
    }

    /// Asserts the exit status, showing both streams when it differs.
    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts that stderr contains every one of `parts`.
    fn assert_stderr_has(&self, parts: &[&str]) -> &Self {
        for part in parts {
            assert!(
                self.stderr.contains(part),
                "stderr lacks {part:?}:\n{}",
                self.stderr
            );
        }
        self
    }

    /// The last non-empty line of stdout.
    fn last_line(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }
}

/// Stderr must never show a panic or an invitation to set `RUST_BACKTRACE`.
fn assert_no_panic(stderr: &str) {
    for bad in ["panicked", "RUST_BACKTRACE", "internal error"] {
        assert!(!stderr.contains(bad), "stderr shows a panic:\n{stderr}");
    }
}

fn command(cwd: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aftersale"));
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd
}

/// Runs the binary with `args` (and `stdin` when given) from `cwd`.
fn run_in<S: AsRef<std::ffi::OsStr>>(cwd: Option<&Path>, args: &[S], stdin: Option<&str>) -> Run {
    let mut cmd = command(cwd);
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().expect("spawn aftersale");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait for aftersale");
    let run = Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_no_panic(&run.stderr);
    assert_ne!(run.code, Some(101), "exit status 101 is a panic: {run:?}");
    run
}

fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    run_in(None, args, None)
}

/// Writes `facts.json` (or another name) in `root`.
fn facts(root: &Path, name: &str, text: &str) -> PathBuf {
    let path = root.join(name);
    write(&path, text);
    path
}

/// `eval <bundle> --facts <facts> --as-of 2025-01-01` plus `extra` arguments.
fn eval(bundle: &Path, facts: &Path, extra: &[&str]) -> Run {
    run(&crate::support::pretty_eval_args(bundle, facts, extra))
}

mod readme {
    use super::*;

    #[test]
    fn readme_eval_decides_the_example_claim() {
        let tmp = tempdir();
        let example = Path::new(WORKSPACE).join("rules/eu-legal-guarantee/examples/claim.json");
        let facts_path = if example.is_file() {
            PathBuf::from("rules/eu-legal-guarantee/examples/claim.json")
        } else {
            facts(
                tmp.path(),
                "claim.json",
                r#"{"delivery_date": "2024-03-10", "defect_noticed_on": "2025-01-20", "member_state": "IT", "price": 499.99}"#,
            )
        };
        let mut args: Vec<std::ffi::OsString> = vec![
            "eval".into(),
            "rules/eu-legal-guarantee".into(),
            "--facts".into(),
        ];
        args.push(facts_path.into());
        args.extend(["--as-of".into(), "2025-02-01".into()]);
        let out = run_in(Some(Path::new(WORKSPACE)), &args, None);
        out.assert_code(0);
        let v = out.json();
        assert_eq!(v["contract"], "eu-legal-guarantee", "{v}");
        // A bare date is 00:00 in the contract's zone (Europe/Rome, UTC+1 in February).
        assert_eq!(v["as_of"], "2025-02-01T00:00:00+01:00", "{v}");
        assert!(v["version"].is_string(), "{v}");
        assert_eq!(v["outputs"]["decision"]["covered"], json!(true), "{v}");
        assert_eq!(v["outputs"]["decision"]["burden_of_proof"], "seller", "{v}");
        assert!(v.get("trace").is_none(), "no trace unless asked: {v}");
    }

    #[test]
    fn rules_bundles_pass_their_tests() {
        let rules = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules"));
        let mut bundles: Vec<PathBuf> = std::fs::read_dir(rules)
            .expect("read rules/")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        bundles.sort();
        assert!(!bundles.is_empty(), "no bundle under rules/");
        let mut args: Vec<std::ffi::OsString> = vec!["test".into()];
        args.extend(bundles.iter().map(Into::into));
        let out = run(&args);
        out.assert_code(0);
        let last = out.last_line();
        let (passed, failed) = last
            .split_once(" passed, ")
            .unwrap_or_else(|| panic!("last line is not a summary: {last:?}\n{}", out.stdout));
        let passed: usize = passed
            .parse()
            .unwrap_or_else(|_| panic!("bad summary: {last:?}"));
        assert_eq!(failed, "0 failed", "{}", out.stdout);
        assert!(passed > 0, "no case ran: {}", out.stdout);
    }
}

mod check {
    use super::*;

    #[test]
    fn a_cycle_is_reported_naming_both_terms() {
        let tmp = tempdir();
        let b = bundle(
            tmp.path(),
            "cyc",
            "",
            &[("a", "terms.b + 1"), ("b", "terms.a + 1")],
        );
        let out = run(&[Path::new("check"), &b]);
        out.assert_code(1)
            .assert_stderr_has(&["cycle", "`a`", "`b`"]);
        assert!(!out.stdout.contains("ok:"), "{}", out.stdout);
    }

    #[test]
    fn an_unknown_term_is_reported_with_file_line_and_caret() {
        let tmp = tempdir();
        let b = bundle(
            tmp.path(),
            "unk",
            "",
            &[
                ("a", "1"),
                ("total", "let x = terms.a;\nlet y = x + terms.nope;\ny\n"),
            ],
        );
        let out = run(&[Path::new("check"), &b]);
        out.assert_code(1).assert_stderr_has(&[
            "`nope`",
            "`total`",
            "terms/total.rhai:2:13",
            " --> ",
            "total.rhai",
        ]);
        // The source line, then a caret under column 13 (the `t` of `terms.nope`).
        let lines: Vec<&str> = out.stderr.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.trim_start().starts_with("2 | "))
            .unwrap_or_else(|| panic!("no source line in:\n{}", out.stderr));
        let source = lines[at];
        assert!(
            source.ends_with("let y = x + terms.nope;"),
            "{}",
            out.stderr
        );
        let caret = lines.get(at + 1).copied().unwrap_or("");
        let caret_col = caret.find('^').expect("a caret line");
        let source_col = source.find("terms.nope").expect("terms.nope in the line");
        assert_eq!(caret_col, source_col, "caret misplaced:\n{}", out.stderr);
    }

    fn three_broken(root: &Path) -> PathBuf {
        bundle(
            root,
            "three",
            "",
            &[
                ("a", "terms.missing_one"),
                ("b", "let x = 1;\nterms.missing_two + x"),
                ("c", "let = ;"),
                ("fine", "1"),
            ],
        )
    }

    #[test]
    fn every_problem_of_a_bundle_is_reported() {
        let tmp = tempdir();
        let b = three_broken(tmp.path());
        let out = run(&[Path::new("check"), &b]);
        out.assert_code(1).assert_stderr_has(&[
            "missing_one",
            "missing_two",
            "terms/a.rhai",
            "terms/b.rhai:2:1",
            "terms/c.rhai",
        ]);
        let errors = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count();
        assert_eq!(errors, 3, "{}", out.stderr);
    }

    #[test]
    fn json_format_lists_every_problem_before_or_after_the_subcommand() {
        let tmp = tempdir();
        let b = three_broken(tmp.path());
        let before = run(&[
            Path::new("--format"),
            Path::new("json"),
            Path::new("check"),
            &b,
        ]);
        let after = run(&[
            Path::new("check"),
            &b,
            Path::new("--format"),
            Path::new("json"),
        ]);
        for out in [before, after] {
            out.assert_code(1);
            let v = out.stderr_json();
            let errors = v["error"]["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("no errors array: {v}"));
            assert_eq!(errors.len(), 3, "{v}");
            for e in errors {
                assert!(e["message"].is_string(), "{e}");
                assert!(
                    e["location"]["file"]
                        .as_str()
                        .is_some_and(|f| f.starts_with("terms/")),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn good_bundles_print_ok_and_one_bad_bundle_fails_the_run() {
        let tmp = tempdir();
        let good = bundle(
            tmp.path(),
            "good",
            "",
            &[("base", "1"), ("top", "terms.base + 1")],
        );
        let bad = bundle(tmp.path(), "bad", "", &[("x", "terms.y")]);
        let out = run(&[Path::new("check"), &good]);
        out.assert_code(0);
        assert!(out.stdout.starts_with("ok: good 1 ("), "{}", out.stdout);
        assert!(out.stderr.is_empty(), "{}", out.stderr);

        let out = run(&[Path::new("check"), &good, &bad]);
        out.assert_code(1)
            .assert_stderr_has(&["`y`", "terms/x.rhai"]);
        assert!(out.stdout.contains("ok: good 1 ("), "{}", out.stdout);
        assert!(!out.stdout.contains("ok: bad"), "{}", out.stdout);
    }

    #[test]
    fn a_malformed_contract_toml_names_line_and_column() {
        let tmp = tempdir();
        let dir = tmp.path().join("mt");
        write(
            &dir.join("contract.toml"),
            "[contract]\nid = \"mt\"\nversion = \n",
        );
        let out = run(&[Path::new("check"), &dir]);
        out.assert_code(1)
            .assert_stderr_has(&["contract.toml:3:11", "version = "]);
        // eval of the same bundle fails the same way, before reading the facts.
        let f = facts(tmp.path(), "f.json", "{}");
        eval(&dir, &f, &[])
            .assert_code(1)
            .assert_stderr_has(&["contract.toml:3:11"]);
    }
}

mod limits {
    use super::*;

    /// The wall-clock limit is set out of reach, so that a busy machine cannot make it stop
    /// the loop before `max_operations` does (hostile.rs bounds such runs by CPU time).
    #[test]
    fn an_endless_loop_hits_max_operations() {
        let tmp = tempdir();
        let b = bundle(
            tmp.path(),
            "spin",
            "[limits]\nmax_duration_ms = 3600000",
            &[("spin", "loop { }")],
        );
        let f = facts(tmp.path(), "f.json", "{}");
        let out = eval(&b, &f, &[]);
        out.assert_code(1)
            .assert_stderr_has(&["max_operations", "`spin`", "terms/spin.rhai"]);
        assert!(out.stdout.is_empty(), "no decision: {}", out.stdout);
    }
}

mod values {
    use super::*;

    fn values_bundle(root: &Path) -> PathBuf {
        bundle(
            root,
            "vals",
            "",
            &[
                ("exact", "0.1 + 0.2 == 0.3"),
                ("month_end", "date(\"2024-01-31\").add_months(1)"),
                ("price", "facts.price"),
            ],
        )
    }

    #[test]
    fn decimal_arithmetic_is_exact() {
        let tmp = tempdir();
        let b = values_bundle(tmp.path());
        let f = facts(tmp.path(), "f.json", r#"{"price": 1}"#);
        let out = eval(&b, &f, &["--output", "exact", "--compact"]);
        out.assert_code(0);
        assert_eq!(
            out.json()["outputs"],
            json!({"exact": true}),
            "{}",
            out.stdout
        );
    }

    #[test]
    fn add_months_clamps_to_the_month_end() {
        let tmp = tempdir();
        let b = values_bundle(tmp.path());
        let f = facts(tmp.path(), "f.json", r#"{"price": 1}"#);
        let out = eval(&b, &f, &["--output", "month_end", "--compact"]);
        out.assert_code(0);
        assert!(
            out.stdout
                .contains(r#""outputs":{"month_end":"2024-02-29"}"#),
            "{}",
            out.stdout
        );
    }

    #[test]
    fn decimal_facts_keep_their_digits_in_the_output_text() {
        let tmp = tempdir();
        let b = values_bundle(tmp.path());
        let f = facts(tmp.path(), "f.json", r#"{"price": 12.50}"#);
        let out = eval(&b, &f, &["--output", "price", "--compact"]);
        out.assert_code(0);
        assert!(
            out.stdout.contains(r#""outputs":{"price":12.50}"#),
            "{}",
            out.stdout
        );
        // Pretty output too, and the default outputs decide all three terms.
        let out = eval(&b, &f, &[]);
        out.assert_code(0);
        assert!(out.stdout.contains("\"price\": 12.50"), "{}", out.stdout);
        let v = out.json();
        assert_eq!(v["outputs"]["exact"], json!(true), "{v}");
        assert_eq!(v["outputs"]["month_end"], "2024-02-29", "{v}");
    }

    #[test]
    fn a_bare_date_as_of_is_midnight_in_the_contract_zone() {
        let tmp = tempdir();
        let b = bundle(
            tmp.path(),
            "ny",
            "timezone = \"America/New_York\"",
            &[("day", "as_of.date()")],
        );
        let f = facts(tmp.path(), "f.json", "{}");
        for (as_of, expected) in [
            ("2025-07-01", "2025-07-01T00:00:00-04:00"),
            ("2025-01-15", "2025-01-15T00:00:00-05:00"),
        ] {
            let out = run(&[
                Path::new("eval"),
                &b,
                Path::new("--facts"),
                &f,
                Path::new("--as-of"),
                Path::new(as_of),
            ]);
            out.assert_code(0);
            let v = out.json();
            assert_eq!(v["as_of"], expected, "{v}");
            assert_eq!(v["outputs"]["day"], as_of, "{v}");
        }
        // A datetime with an offset is taken as given.
        let out = run(&[
            Path::new("eval"),
            &b,
            Path::new("--facts"),
            &f,
            Path::new("--as-of"),
            Path::new("2025-07-01T02:00:00+00:00"),
        ]);
        out.assert_code(0);
        // 02:00 UTC is still June 30 in New York.
        assert_eq!(out.json()["outputs"]["day"], "2025-06-30", "{}", out.stdout);
    }
}

mod eval_options {
    use super::*;

    /// base <- left, right <- top (a diamond), plus a lone term.
    fn diamond(root: &Path) -> PathBuf {
        bundle(
            root,
            "diamond",
            "",
            &[
                ("base", "facts.n"),
                ("left", "terms.base + 1"),
                ("right", "terms.base * 2"),
                ("top", "terms.right + terms.left"),
                ("lone", "42"),
            ],
        )
    }

    fn trace_terms(v: &Value) -> Vec<String> {
        v["trace"]
            .as_array()
            .unwrap_or_else(|| panic!("no trace: {v}"))
            .iter()
            .map(|e| e["term"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn trace_lists_each_term_once_in_dependency_order() {
        let tmp = tempdir();
        let b = diamond(tmp.path());
        let f = facts(tmp.path(), "f.json", r#"{"n": 3}"#);
        let out = eval(&b, &f, &["--trace"]);
        out.assert_code(0);
        let v = out.json();
        assert_eq!(v["outputs"], json!({"lone": 42, "top": 10}), "{v}");
        let terms = trace_terms(&v);
        let mut sorted = terms.clone();
        sorted.sort();
        assert_eq!(sorted, ["base", "left", "lone", "right", "top"], "{v}");
        let pos = |t: &str| terms.iter().position(|x| x == t).unwrap_or(usize::MAX);
        assert!(
            pos("base") < pos("left") && pos("base") < pos("right"),
            "{v}"
        );
        assert!(pos("left") < pos("top") && pos("right") < pos("top"), "{v}");
        for entry in v["trace"].as_array().into_iter().flatten() {
            assert!(entry["duration_ns"].as_u64().is_some(), "{entry}");
            assert!(entry["reads"].is_array(), "{entry}");
            let expected_reads = match entry["term"].as_str() {
                Some("top") => json!(["left", "right"]),
                Some("left" | "right") => json!(["base"]),
                _ => json!([]),
            };
            assert_eq!(entry["reads"], expected_reads, "{entry}");
            let expected_value = match entry["term"].as_str() {
                Some("base") => json!(3),
                Some("left") => json!(4),
                Some("right") => json!(6),
                Some("top") => json!(10),
                _ => json!(42),
            };
            assert_eq!(entry["value"], expected_value, "{entry}");
        }
        // Without --trace there is no trace.
        let out = eval(&b, &f, &[]);
        out.assert_code(0);
        assert!(out.json().get("trace").is_none(), "{}", out.stdout);
    }

    #[test]
    fn output_decides_only_the_named_terms() {
        let tmp = tempdir();
        let b = diamond(tmp.path());
        let f = facts(tmp.path(), "f.json", r#"{"n": 3}"#);
        let out = eval(&b, &f, &["--output", "left", "--trace"]);
        out.assert_code(0);
        let v = out.json();
        assert_eq!(v["outputs"], json!({"left": 4}), "{v}");
        // Only what `left` needs runs.
        assert_eq!(trace_terms(&v), ["base", "left"], "{v}");

        let out = eval(&b, &f, &["--output", "right", "--output", "base"]);
        out.assert_code(0);
        assert_eq!(
            out.json()["outputs"],
            json!({"right": 6, "base": 3}),
            "{}",
            out.stdout
        );
    }

    #[test]
    fn an_unknown_output_is_a_usage_error() {
        let tmp = tempdir();
        let b = diamond(tmp.path());
        let f = facts(tmp.path(), "f.json", r#"{"n": 3}"#);
        let out = eval(&b, &f, &["--output", "nosuch"]);
        out.assert_code(2).assert_stderr_has(&["`nosuch`"]);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        let out = eval(&b, &f, &["--output", "nosuch", "--format", "json"]);
        out.assert_code(2);
        let v = out.stderr_json();
        assert_eq!(v["error"]["code"], "unknown_output", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("nosuch")),
            "{v}"
        );
    }

    #[test]
    fn compact_prints_one_line() {
        let tmp = tempdir();
        let b = diamond(tmp.path());
        let f = facts(tmp.path(), "f.json", r#"{"n": 3}"#);
        let out = eval(&b, &f, &["--compact"]);
        out.assert_code(0);
        assert_eq!(out.stdout.trim_end().lines().count(), 1, "{}", out.stdout);
        assert_eq!(out.json()["outputs"]["top"], json!(10), "{}", out.stdout);
    }
}

mod bad_input {
    use super::*;

    fn simple(root: &Path) -> PathBuf {
        bundle(root, "simple", "", &[("x", "facts.n * 2")])
    }

    #[test]
    fn malformed_json_facts_exit_2_naming_the_file() {
        let tmp = tempdir();
        let b = simple(tmp.path());
        let f = facts(tmp.path(), "broken-facts.json", r#"{"n": "#);
        let out = eval(&b, &f, &[]);
        out.assert_code(2)
            .assert_stderr_has(&["broken-facts.json", "JSON"]);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }

    #[test]
    fn facts_that_are_not_an_object_exit_2() {
        let tmp = tempdir();
        let b = simple(tmp.path());
        let f = facts(tmp.path(), "list.json", "[1,2]");
        eval(&b, &f, &[])
            .assert_code(2)
            .assert_stderr_has(&["object", "list.json"]);
    }

    #[test]
    fn a_missing_facts_file_exits_2() {
        let tmp = tempdir();
        let b = simple(tmp.path());
        let missing = tmp.path().join("no-such-facts.json");
        eval(&b, &missing, &[])
            .assert_code(2)
            .assert_stderr_has(&["no-such-facts.json"]);
    }

    #[test]
    fn a_missing_bundle_folder_exits_2_for_every_subcommand() {
        let tmp = tempdir();
        let f = facts(tmp.path(), "f.json", r#"{"n": 1}"#);
        let missing = tmp.path().join("no-such-bundle");
        eval(&missing, &f, &[])
            .assert_code(2)
            .assert_stderr_has(&["no-such-bundle"]);
        for sub in ["check", "graph", "test"] {
            run(&[Path::new(sub), &missing])
                .assert_code(2)
                .assert_stderr_has(&["no-such-bundle"]);
        }
    }

    #[test]
    fn a_bad_as_of_exits_2() {
        let tmp = tempdir();
        let b = simple(tmp.path());
        let f = facts(tmp.path(), "f.json", r#"{"n": 1}"#);
        let out = run(&[
            Path::new("eval"),
            &b,
            Path::new("--facts"),
            &f,
            Path::new("--as-of"),
            Path::new("yesterday"),
        ]);
        out.assert_code(2).assert_stderr_has(&["yesterday"]);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }

    #[test]
    fn facts_can_come_from_stdin() {
        let tmp = tempdir();
        let b = simple(tmp.path());
        let args = [
            Path::new("eval"),
            &b,
            Path::new("--facts"),
            Path::new("-"),
            Path::new("--as-of"),
            Path::new("2025-01-01"),
        ];
        let out = run_in(None, &args, Some(r#"{"n": 21}"#));
        out.assert_code(0);
        assert_eq!(out.json()["outputs"], json!({"x": 42}), "{}", out.stdout);
        // Malformed stdin is bad input too.
        run_in(None, &args, Some("{nope"))
            .assert_code(2)
            .assert_stderr_has(&["JSON"]);
        run_in(None, &args, Some(""))
            .assert_code(2)
            .assert_stderr_has(&["JSON"]);
    }

    #[test]
    fn an_unknown_subcommand_exits_2() {
        let out = run(&["frobnicate"]);
        out.assert_code(2).assert_stderr_has(&["frobnicate"]);
        run(&[] as &[&str]).assert_code(2);
        run(&["eval"]).assert_code(2);
    }

    #[test]
    fn a_runtime_error_names_term_file_line_and_column() {
        let tmp = tempdir();
        let b = bundle(
            tmp.path(),
            "boom",
            "",
            &[("x", "let a = 1;\nthrow \"the sky fell\";\n")],
        );
        let f = facts(tmp.path(), "f.json", "{}");
        let out = eval(&b, &f, &[]);
        out.assert_code(1)
            .assert_stderr_has(&["term `x` failed at terms/x.rhai:2:1", "the sky fell"]);
        assert!(out.stdout.is_empty(), "{}", out.stdout);

        let b = bundle(
            tmp.path(),
            "typeerr",
            "",
            &[("x", "let a = 1;\nlet b = a + \"s\" * 2;\nb\n")],
        );
        eval(&b, &f, &[])
            .assert_code(1)
            .assert_stderr_has(&["term `x` failed at terms/x.rhai:2:"]);
    }

    #[test]
    fn a_script_that_is_not_utf8_is_a_clear_error() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "latin1", "", &[("x", "1")]);
        write(&b.join("terms/x.rhai"), b"\"caf\xe9\"\n");
        let f = facts(tmp.path(), "f.json", "{}");
        for out in [eval(&b, &f, &[]), run(&[Path::new("check"), &b])] {
            assert!(
                matches!(out.code, Some(1 | 2)),
                "exit status {:?}: {}",
                out.code,
                out.stderr
            );
            out.assert_stderr_has(&["UTF-8", "x.rhai"]);
        }
    }

    #[test]
    fn json_format_reports_bad_input_as_one_json_object() {
        let tmp = tempdir();
        let b = simple(tmp.path());
        let missing = tmp.path().join("absent.json");
        let before = run(&[
            Path::new("--format"),
            Path::new("json"),
            Path::new("eval"),
            &b,
            Path::new("--facts"),
            &missing,
        ]);
        let after = run(&[
            Path::new("eval"),
            &b,
            Path::new("--facts"),
            &missing,
            Path::new("--format"),
            Path::new("json"),
        ]);
        for out in [before, after] {
            out.assert_code(2);
            let v = out.stderr_json();
            assert!(
                v["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("absent.json")),
                "{v}"
            );
        }
    }

    #[test]
    fn json_format_applies_to_usage_errors() {
        let out = run(&["--format", "json", "frobnicate"]);
        out.assert_code(2);
        let v = out.stderr_json();
        assert!(v["error"].is_object(), "{v}");
    }
}

mod test_cmd {
    use super::*;

    fn doubling(root: &Path, cases: &str) -> PathBuf {
        let b = bundle(
            root,
            "dbl",
            "",
            &[(
                "dbl",
                "if facts.n < 0 { throw \"n must not be negative\" }\nfacts.n * 2",
            )],
        );
        write(&b.join("tests/cases.toml"), cases);
        b
    }

    const PASS_AND_FAIL: &str = r#"
[[case]]
name = "doubles two"
as_of = "2025-01-01"
facts = { n = 2 }
expect = { dbl = 4 }

[[case]]
name = "wrong on purpose"
as_of = "2025-01-01"
facts = { n = 3 }
expect = { dbl = 7 }
"#;

    #[test]
    fn a_failing_case_shows_its_diff_and_the_summary() {
        let tmp = tempdir();
        let b = doubling(tmp.path(), PASS_AND_FAIL);
        let out = run(&[Path::new("test"), &b]);
        out.assert_code(1);
        assert!(
            out.stdout.contains("dbl: expected 7, got 6"),
            "{}",
            out.stdout
        );
        let fail_line = out
            .stdout
            .lines()
            .find(|l| l.contains("wrong on purpose"))
            .unwrap_or_default();
        assert!(fail_line.contains("FAIL"), "{}", out.stdout);
        let ok_line = out
            .stdout
            .lines()
            .find(|l| l.contains("doubles two"))
            .unwrap_or_default();
        assert!(ok_line.contains("ok"), "{}", out.stdout);
        assert_eq!(out.last_line(), "1 passed, 1 failed", "{}", out.stdout);
    }

    #[test]
    fn expect_error_cases_pass_on_a_substring_of_the_message() {
        let tmp = tempdir();
        let cases = r#"
[[case]]
name = "doubles two"
as_of = "2025-01-01"
facts = { n = 2 }
expect = { dbl = 4 }

[[case]]
name = "negative is an error"
as_of = "2025-01-01"
facts = { n = -1 }
expect_error = "must not be negative"
"#;
        let b = doubling(tmp.path(), cases);
        let out = run(&[Path::new("test"), &b]);
        out.assert_code(0);
        assert_eq!(out.last_line(), "2 passed, 0 failed", "{}", out.stdout);

        // An expected error that does not match fails the case.
        let tmp = tempdir();
        let cases = r#"
[[case]]
name = "wrong message"
as_of = "2025-01-01"
facts = { n = -1 }
expect_error = "something else entirely"
"#;
        let b = doubling(tmp.path(), cases);
        let out = run(&[Path::new("test"), &b]);
        out.assert_code(1);
        assert!(
            out.stdout.contains("something else entirely"),
            "{}",
            out.stdout
        );
        assert_eq!(out.last_line(), "0 passed, 1 failed", "{}", out.stdout);
    }

    #[test]
    fn a_malformed_test_file_is_reported_with_its_path() {
        let tmp = tempdir();
        let passing = r#"
[[case]]
name = "doubles two"
as_of = "2025-01-01"
facts = { n = 2 }
expect = { dbl = 4 }
"#;
        let b = doubling(tmp.path(), passing);
        write(
            &b.join("tests/zz-broken.toml"),
            "[[case]]\nname = \"x\"\nas_of = \n",
        );
        let out = run(&[Path::new("test"), &b]);
        out.assert_code(1)
            .assert_stderr_has(&["tests/zz-broken.toml:3:"]);
        assert!(out.stdout.contains("doubles two"), "{}", out.stdout);
        assert!(
            out.last_line().ends_with(" failed") && !out.last_line().ends_with(" 0 failed"),
            "{}",
            out.stdout
        );
    }

    #[test]
    fn json_format_summarises_the_cases() {
        let tmp = tempdir();
        let b = doubling(tmp.path(), PASS_AND_FAIL);
        let out = run(&[
            Path::new("test"),
            &b,
            Path::new("--format"),
            Path::new("json"),
        ]);
        out.assert_code(1);
        let v = out.json();
        assert_eq!(v["passed"], json!(1), "{v}");
        assert_eq!(v["failed"], json!(1), "{v}");
    }
}

mod graph {
    use super::*;

    #[test]
    fn graph_prints_dot_with_an_edge_from_a_term_to_its_reader() {
        let tmp = tempdir();
        let b = bundle(
            tmp.path(),
            "g",
            "",
            &[("a", "terms.b + 1"), ("b", "facts.n")],
        );
        let out = run(&[Path::new("graph"), &b]);
        out.assert_code(0);
        assert!(out.stdout.starts_with("digraph \"g\" {"), "{}", out.stdout);
        assert!(out.stdout.contains("\"b\" -> \"a\";"), "{}", out.stdout);
        assert!(!out.stdout.contains("\"a\" -> \"b\""), "{}", out.stdout);
        assert_eq!(
            out.stdout.trim_end().lines().last(),
            Some("}"),
            "{}",
            out.stdout
        );
    }
}

mod pipes {
    use super::*;

    #[test]
    fn a_closed_stdout_pipe_is_not_a_panic() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "big", "", &[("echo", "facts.big")]);
        // Far more than a pipe buffer holds, so the write really meets a closed pipe.
        let big = "x".repeat(400_000);
        let f = facts(tmp.path(), "f.json", &json!({ "big": big }).to_string());
        let mut child = command(None)
            .arg("eval")
            .arg(&b)
            .arg("--facts")
            .arg(&f)
            .args(["--as-of", "2025-01-01", "--trace"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn aftersale");
        let mut stdout = child.stdout.take().expect("stdout pipe");
        let mut first = [0u8; 10];
        stdout.read_exact(&mut first).expect("read 10 bytes");
        drop(stdout);
        let output = child.wait_with_output().expect("wait");
        assert_eq!(first[0], b'{', "{:?}", String::from_utf8_lossy(&first));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_no_panic(&stderr);
        assert_ne!(output.status.code(), Some(101), "{stderr}");
    }
}

mod batch {
    use super::*;

    /// A bundle that doubles `facts.n` and throws on negative numbers.
    fn doubler(root: &Path) -> PathBuf {
        bundle(
            root,
            "dbl",
            "timezone = \"Europe/Rome\"",
            &[(
                "dbl",
                "if facts.n < 0 { throw \"n must not be negative\" }\n#{ n: facts.n * 2, day: as_of.date() }",
            )],
        )
    }

    fn lines(text: &str) -> Vec<Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    fn jsonl(n: i64) -> String {
        (0..n)
            .map(|i| {
                if i == 7 {
                    "{broken\n".to_string()
                } else if i % 100 == 3 {
                    format!("{{\"n\": {}}}\n", -i)
                } else {
                    format!("{{\"n\": {i}}}\n")
                }
            })
            .collect()
    }

    #[test]
    fn every_input_line_gets_one_output_line_in_order_with_errors_inline() {
        let dir = tempdir();
        let b = doubler(dir.path());
        let input = facts(dir.path(), "in.jsonl", &jsonl(1000));
        let out = dir.path().join("out.jsonl");
        let run = run(&[
            "batch".as_ref(),
            b.as_os_str(),
            "--input".as_ref(),
            input.as_os_str(),
            "--output".as_ref(),
            out.as_os_str(),
            "--as-of".as_ref(),
            "2025-03-01".as_ref(),
            "--jobs".as_ref(),
            "2".as_ref(),
        ]);
        run.assert_code(0)
            .assert_stderr_has(&["1000 records", "11 errors"]);
        let got = lines(&std::fs::read_to_string(&out).unwrap());
        assert_eq!(got.len(), 1000);
        for (i, v) in got.iter().enumerate() {
            let i = i as i64;
            if i == 7 {
                assert_eq!(v["line"], json!(8), "{v}");
                assert_eq!(v["error"]["code"], json!("invalid_input"));
            } else if i % 100 == 3 {
                assert_eq!(v["error"]["term"], json!("dbl"), "{v}");
                assert!(v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("must not be negative"));
            } else {
                assert_eq!(v["outputs"]["dbl"]["n"], json!(i * 2), "line {i}: {v}");
                assert_eq!(v["outputs"]["dbl"]["day"], json!("2025-03-01"));
            }
        }
    }

    #[test]
    fn one_and_two_jobs_write_the_same_bytes() {
        let dir = tempdir();
        let b = doubler(dir.path());
        let input = facts(dir.path(), "in.jsonl", &jsonl(3000));
        let mut outputs = Vec::new();
        for jobs in ["1", "2"] {
            let out = dir.path().join(format!("out{jobs}.jsonl"));
            run(&[
                "batch".as_ref(),
                b.as_os_str(),
                "--input".as_ref(),
                input.as_os_str(),
                "--output".as_ref(),
                out.as_os_str(),
                "--as-of".as_ref(),
                "2025-03-01".as_ref(),
                "--jobs".as_ref(),
                jobs.as_ref(),
            ])
            .assert_code(0);
            outputs.push(std::fs::read(&out).unwrap());
        }
        assert_eq!(outputs[0], outputs[1]);
    }

    #[test]
    fn stdin_to_stdout_with_requests_and_fail_on_error() {
        let dir = tempdir();
        let b = doubler(dir.path());
        let input = "{\"facts\": {\"n\": 1}, \"as_of\": \"2025-12-31T23:30:00Z\"}\n{\"facts\": {\"n\": 2}}\n{\"n\": 3}\n";
        let run = run_in(
            None,
            &[
                "batch".as_ref(),
                b.as_os_str(),
                "--input".as_ref(),
                "-".as_ref(),
                "--requests".as_ref(),
                "--as-of".as_ref(),
                "2025-03-01".as_ref(),
                "--fail-on-error".as_ref(),
            ],
            Some(input),
        );
        run.assert_code(1);
        let got = lines(&run.stdout);
        assert_eq!(
            got[0]["outputs"]["dbl"]["day"],
            json!("2026-01-01"),
            "Rome is UTC+1"
        );
        assert_eq!(got[1]["outputs"]["dbl"]["day"], json!("2025-03-01"));
        assert_eq!(got[2]["error"]["code"], json!("invalid_request"));
    }

    #[test]
    fn csv_columns_become_typed_facts() {
        let dir = tempdir();
        let b = bundle(
            dir.path(),
            "csv",
            "",
            &[("row", "#{ n: facts.n + 1, price: facts.price * 2, ok: facts.ok, name: facts.name, has_note: \"note\" in facts }")],
        );
        let input = facts(
            dir.path(),
            "in.csv",
            "n,price,ok,name,note\n1,12.50,true,Ada,\n2,0.10,false,\"Lovelace, A\",x\n",
        );
        let run = run(&[
            "batch".as_ref(),
            b.as_os_str(),
            "--input".as_ref(),
            input.as_os_str(),
            "--as-of".as_ref(),
            "2025-03-01".as_ref(),
        ]);
        run.assert_code(0);
        assert!(run.stdout.contains("\"price\":25.00"), "{}", run.stdout);
        let got = lines(&run.stdout);
        assert_eq!(
            got[0]["outputs"]["row"],
            serde_json::from_str::<Value>(
                r#"{"n": 2, "price": 25.00, "ok": true, "name": "Ada", "has_note": false}"#
            )
            .unwrap()
        );
        assert_eq!(got[1]["outputs"]["row"]["name"], json!("Lovelace, A"));
        assert_eq!(got[1]["outputs"]["row"]["has_note"], json!(true));
    }

    #[test]
    fn a_missing_input_is_bad_input() {
        let dir = tempdir();
        let b = doubler(dir.path());
        run(&[
            "batch".as_ref(),
            b.as_os_str(),
            "--input".as_ref(),
            dir.path().join("absent.jsonl").as_os_str(),
        ])
        .assert_code(2)
        .assert_stderr_has(&["absent.jsonl"]);
    }
}

mod domain_examples {
    use super::*;

    /// DOMAIN.md's SLA examples: Mon-Fri 10:00-18:00; High = 1 h response / 4 h resolution;
    /// Urgent = 30 min / 2 h.
    fn helpdesk(root: &Path) -> PathBuf {
        bundle(
            root,
            "desk",
            "timezone = \"Europe/Rome\"\nplugins = [\"calendar\", \"sla\"]\n\
             [params.calendar]\ntimezone = \"Europe/Rome\"\n\
             hours = { mon = [\"10:00-18:00\"], tue = [\"10:00-18:00\"], wed = [\"10:00-18:00\"], thu = [\"10:00-18:00\"], fri = [\"10:00-18:00\"] }\n\
             [params.targets]\nhigh = { first_response = 60, resolution = 240 }\nurgent = { first_response = 30, resolution = 120 }",
            &[(
                "due",
                "let clocks = sla_clocks(calendar(params.calendar), #{ targets: params.targets[facts.priority] }, facts.events, as_of);\n\
                 #{ response: clocks.first_response.due, resolution: clocks.resolution.due }",
            )],
        )
    }

    #[test]
    fn the_domain_md_sla_examples_hold_through_the_cli() {
        let dir = tempdir();
        let b = helpdesk(dir.path());
        let cases = [
            (
                "high",
                "2025-03-03T08:00:00+01:00",
                "2025-03-03T11:00:00+01:00",
                "2025-03-03T14:00:00+01:00",
            ),
            (
                "urgent",
                "2025-03-03T20:00:00+01:00",
                "2025-03-04T10:30:00+01:00",
                "2025-03-04T12:00:00+01:00",
            ),
            (
                "urgent",
                "2025-03-07T17:00:00+01:00",
                "2025-03-07T17:30:00+01:00",
                "2025-03-10T11:00:00+01:00",
            ),
        ];
        for (priority, created, response, resolution) in cases {
            let f = facts(
                dir.path(),
                "ticket.json",
                &json!({"priority": priority, "events": [{"at": created, "type": "created"}]})
                    .to_string(),
            );
            let out = run(&[
                "eval".as_ref(),
                b.as_os_str(),
                "--facts".as_ref(),
                f.as_os_str(),
                "--as-of".as_ref(),
                created.as_ref(),
            ]);
            out.assert_code(0);
            let due = &out.json()["outputs"]["due"];
            assert_eq!(due["response"], json!(response), "{priority} at {created}");
            assert_eq!(
                due["resolution"],
                json!(resolution),
                "{priority} at {created}"
            );
        }
    }
}

#[test]
fn test_coverage_reports_the_terms_and_branches_car_warranty_cases_exercise() {
    let b = Path::new(WORKSPACE).join("rules/car-warranty");
    let scripts = std::fs::read_dir(b.join("terms")).unwrap().count();
    let out = run(&[Path::new("test"), Path::new("--coverage"), &b]);
    out.assert_code(0);
    assert!(
        out.last_line().ends_with(" passed, 0 failed"),
        "{}",
        out.stdout
    );
    let summary = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("coverage: terms exercised "))
        .unwrap_or_else(|| panic!("no coverage line:\n{}", out.stdout));
    // "15/15, branches exercised 77/94 (81.9%)"
    let numbers: Vec<usize> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let [terms_run, terms, branches_run, branches, ..] = numbers[..] else {
        panic!("unexpected summary: {summary}")
    };
    assert_eq!(terms, scripts, "{summary}");
    assert!(0 < terms_run && terms_run <= terms, "{summary}");
    assert!(branches >= 20, "car-warranty has many ifs: {summary}");
    assert!(0 < branches_run && branches_run <= branches, "{summary}");
    let never: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.ends_with("(never taken)"))
        .collect();
    assert_eq!(never.len(), branches - branches_run, "{}", out.stdout);
    for line in &never {
        let place = line.trim().split(' ').next().unwrap();
        let parts: Vec<&str> = place.split(':').collect();
        assert!(
            parts.len() == 3
                && parts[0].starts_with("terms/")
                && parts[1].parse::<usize>().is_ok()
                && parts[2].parse::<usize>().is_ok(),
            "{line}"
        );
    }

    // The same as JSON, beside the fields `test --format json` always had.
    let out = run(&[
        Path::new("--format"),
        Path::new("json"),
        Path::new("test"),
        Path::new("--coverage"),
        &b,
    ]);
    out.assert_code(0);
    let v = out.json();
    assert_eq!(v["failed"], json!(0));
    assert!(v["cases"].as_array().unwrap().len() > 10);
    let c = &v["coverage"][0];
    assert_eq!(c["bundle"], json!("car-warranty"));
    assert_eq!(
        (c["terms_evaluated"].clone(), c["term_count"].clone()),
        (json!(terms_run), json!(terms))
    );
    assert_eq!(
        (c["branches_exercised"].clone(), c["branch_count"].clone()),
        (json!(branches_run), json!(branches))
    );
    let listed: usize = c["terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["branches"].as_array().unwrap().len())
        .sum();
    assert_eq!(listed, branches);

    // Without the flag: neither the line nor the field.
    let out = run(&[Path::new("test"), &b]);
    out.assert_code(0);
    assert!(!out.stdout.contains("coverage:"), "{}", out.stdout);
    let out = run(&[
        Path::new("--format"),
        Path::new("json"),
        Path::new("test"),
        &b,
    ]);
    assert!(out.json().get("coverage").is_none());
}
