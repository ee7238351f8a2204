//! Issue 13, items 5 and 7, through the real binary where the CLI reads the input: bundle
//! folders are read only as regular files inside the bundle (`check`, `test`), numbers come
//! in exactly or are refused (`eval`, `batch` JSON Lines and CSV, test files), duplicate keys
//! and CSV headers are errors naming the key, `as_of` keeps its fraction and its year, and a
//! leading byte order mark is skipped in every input format.
//!
//! Every child runs on a thread watched for 30 s: a hang guard (a FIFO opened would block
//! forever), never a speed assertion.
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{bundle, tempdir, write};

const BOM: &str = "\u{feff}";

/// What one run of the binary gave.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Runs `aftersale args...` with `stdin`, killed (and the test failed) if it hangs.
fn run(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aftersale"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
        drop(input);
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => {
            let out = out.unwrap();
            Run {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("`aftersale {}` hung", args.join(" "));
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mkfifo(p: &Path) {
    assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
}

mod bundle_files {
    use super::*;

    #[test]
    fn a_fifo_test_file_is_refused_promptly_by_aftersale_test() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "b", "", &[("x", "1")]);
        std::fs::create_dir_all(b.join("tests")).unwrap();
        mkfifo(&b.join("tests/a.toml"));
        let out = run(&["test", path(&b)], b"");
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(
            out.stderr
                .contains("error: `tests/a.toml` is not a regular file"),
            "{out:?}"
        );
    }

    #[test]
    fn a_fifo_script_is_refused_promptly_by_aftersale_check() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "b", "", &[("x", "1")]);
        mkfifo(&b.join("terms/y.rhai"));
        let out = run(&["check", path(&b)], b"");
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(
            out.stderr.contains("`terms/y.rhai` is not a regular file"),
            "{out:?}"
        );
    }

    #[test]
    fn a_symlink_to_another_tenants_script_is_refused_without_its_content() {
        let tmp = tempdir();
        let mine = bundle(tmp.path(), "mine", "[terms.y]", &[("x", "1")]);
        let theirs = bundle(tmp.path(), "theirs", "", &[("x", "\"their secret\"")]);
        std::os::unix::fs::symlink(theirs.join("terms/x.rhai"), mine.join("terms/y.rhai")).unwrap();
        let out = run(&["check", path(&mine)], b"");
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(
            out.stderr
                .contains("error: `terms/y.rhai` is a symlink to outside the bundle"),
            "{out:?}"
        );
        assert!(
            !out.stderr.contains("secret") && !out.stderr.contains("theirs"),
            "{out:?}"
        );
        // A test file linked to a system file: refused, its content not shown.
        std::fs::remove_file(mine.join("terms/y.rhai")).unwrap();
        std::fs::write(mine.join("terms/y.rhai"), "2").unwrap();
        std::fs::create_dir_all(mine.join("tests")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", mine.join("tests/a.toml")).unwrap();
        let out = run(&["test", path(&mine)], b"");
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(
            out.stderr
                .contains("`tests/a.toml` is a symlink to outside the bundle"),
            "{out:?}"
        );
        assert!(
            !out.stderr.contains("root") && !out.stderr.contains("passwd"),
            "{out:?}"
        );
    }
}

mod numbers {
    use super::*;

    fn share_bundle(root: &Path) -> std::path::PathBuf {
        bundle(
            root,
            "share",
            "[facts.share]\ntype = \"decimal\"\nmax = 1",
            &[("x", "facts.share")],
        )
    }

    #[test]
    fn r_eval_refuses_an_exponent_fact_just_over_the_schema_max() {
        let tmp = tempdir();
        let b = share_bundle(tmp.path());
        let facts = tmp.path().join("facts.json");
        write(&facts, r#"{"share": 1.00000000000000000000000000001e0}"#);
        let out = run(
            &[
                "eval",
                path(&b),
                "--facts",
                path(&facts),
                "--as-of",
                "2025-01-01",
            ],
            b"",
        );
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(out.stderr.contains("facts.share"), "{out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
    }

    #[test]
    fn batch_reads_exponents_exactly_or_refuses_them_in_jsonl_and_csv() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "b", "", &[("x", "facts.a")]);
        let input = "{\"a\": 1.5e3}\n{\"a\": 1.00000000000000000000000000001e0}\n";
        let out = run(
            &["batch", path(&b), "--input", "-", "--as-of", "2025-01-01"],
            input.as_bytes(),
        );
        let lines = out.lines();
        assert_eq!(lines[0]["outputs"]["x"].to_string(), "1500", "{out:?}");
        assert_eq!(lines[1]["error"]["code"], "invalid_facts", "{out:?}");
        // A CSV cell with more digits than a decimal holds is refused, not rounded.
        let csv = tmp.path().join("in.csv");
        write(&csv, "a\n2.50\n1.00000000000000000000000000001\n");
        let out = run(
            &[
                "batch",
                path(&b),
                "--input",
                path(&csv),
                "--as-of",
                "2025-01-01",
            ],
            b"",
        );
        let lines = out.lines();
        assert_eq!(lines[0]["outputs"]["x"].to_string(), "2.50", "{out:?}");
        assert_eq!(lines[1]["error"]["code"], "invalid_facts", "{out:?}");
    }

    #[test]
    fn test_files_read_exponents_exactly() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "b", "", &[("x", "facts.a")]);
        write(
            &b.join("tests/a.toml"),
            "[[case]]\nname = \"exact\"\nas_of = \"2025-01-01\"\nfacts = { a = 1.5e3 }\nexpect = { x = 1500 }\n\
             [[case]]\nname = \"not one\"\nas_of = \"2025-01-01\"\nfacts = { a = 1 }\nexpect = { x = 1.00000000000000000000000000001e0 }\n",
        );
        let out = run(&["test", path(&b)], b"");
        assert!(out.stdout.contains("1 passed, 1 failed"), "{out:?}");
        assert_eq!(out.code, Some(1), "{out:?}");
    }
}

mod duplicates {
    use super::*;

    #[test]
    fn eval_refuses_a_duplicate_key_naming_it() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "b", "", &[("x", "1")]);
        let facts = tmp.path().join("facts.json");
        write(&facts, r#"{"vehicle": {"km": 10, "km": 90000}}"#);
        let out = run(
            &[
                "eval",
                path(&b),
                "--facts",
                path(&facts),
                "--as-of",
                "2025-01-01",
            ],
            b"",
        );
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(
            out.stderr.contains("duplicate key `km` in `facts.vehicle`"),
            "{out:?}"
        );
    }

    #[test]
    fn batch_refuses_duplicate_keys_in_jsonl_records_at_any_depth() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "b", "", &[("x", "1")]);
        let input = "{\"a\": 1, \"a\": 2}\n{\"a\": [{\"b\": {\"c\": 1, \"c\": 2}}]}\n{\"a\": 1}\n";
        let out = run(
            &["batch", path(&b), "--input", "-", "--as-of", "2025-01-01"],
            input.as_bytes(),
        );
        let lines = out.lines();
        let message = |i: usize| {
            lines[i]["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert!(message(0).contains("duplicate key `a`"), "{out:?}");
        assert!(
            message(1).contains("duplicate key `c` in `a[0].b`"),
            "{out:?}"
        );
        assert_eq!(lines[2]["outputs"]["x"], 1, "{out:?}");
        let requests = "{\"facts\": {\"a\": 1, \"a\": 2}}\n";
        let out = run(
            &[
                "batch",
                path(&b),
                "--input",
                "-",
                "--requests",
                "--as-of",
                "2025-01-01",
            ],
            requests.as_bytes(),
        );
        let lines = out.lines();
        assert!(
            lines[0]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("duplicate key `a` in `facts`"),
            "{out:?}"
        );
    }

    #[test]
    fn batch_refuses_a_duplicate_csv_header_naming_it() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "b", "", &[("x", "1")]);
        let csv = tmp.path().join("in.csv");
        write(&csv, "a,b,a\n1,2,3\n");
        let out = run(
            &[
                "batch",
                path(&b),
                "--input",
                path(&csv),
                "--as-of",
                "2025-01-01",
            ],
            b"",
        );
        let lines = out.lines();
        assert_eq!(
            lines[0]["error"]["message"], "invalid CSV header: duplicate column `a`",
            "{out:?}"
        );
    }
}

mod as_of {
    use super::*;

    #[test]
    fn eval_refuses_an_as_of_outside_years_1_to_9999_and_extra_fraction_digits() {
        let tmp = tempdir();
        let b = bundle(tmp.path(), "b", "", &[("x", "1")]);
        let facts = tmp.path().join("facts.json");
        write(&facts, "{}");
        for (as_of, why) in [
            ("0000-01-01", "years 1 to 9999"),
            ("9999-12-31T23:00:00-05:00", "years 1 to 9999"),
            (
                "2025-01-01T00:00:00.1234567891Z",
                "10 fractional-second digits",
            ),
        ] {
            let out = run(
                &["eval", path(&b), "--facts", path(&facts), "--as-of", as_of],
                b"",
            );
            assert_eq!(out.code, Some(2), "{out:?}");
            assert!(
                out.stderr.contains(&format!("invalid as_of `{as_of}`"))
                    && out.stderr.contains(why),
                "{out:?}"
            );
        }
        let requests = "{\"facts\": {}, \"as_of\": \"0000-06-01\"}\n";
        let out = run(
            &[
                "batch",
                path(&b),
                "--input",
                "-",
                "--requests",
                "--as-of",
                "2025-01-01",
            ],
            requests.as_bytes(),
        );
        assert!(
            out.lines()[0]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("years 1 to 9999"),
            "{out:?}"
        );
    }
}

mod bom {
    use super::*;

    fn adder(root: &Path) -> std::path::PathBuf {
        bundle(root, "b", "", &[("x", "facts.a + 1")])
    }

    #[test]
    fn a_leading_bom_is_skipped_in_facts_json() {
        let tmp = tempdir();
        let b = adder(tmp.path());
        let facts = tmp.path().join("facts.json");
        write(&facts, format!("{BOM}{{\"a\": 41}}"));
        let out = run(
            &[
                "eval",
                path(&b),
                "--facts",
                path(&facts),
                "--as-of",
                "2025-01-01",
                "--compact",
            ],
            b"",
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("\"x\":42"), "{out:?}");
        // From stdin too.
        let out = run(
            &[
                "eval",
                path(&b),
                "--facts",
                "-",
                "--as-of",
                "2025-01-01",
                "--compact",
            ],
            format!("{BOM}{{\"a\": 1}}").as_bytes(),
        );
        assert!(out.stdout.contains("\"x\":2"), "{out:?}");
    }

    #[test]
    fn a_leading_bom_is_skipped_in_json_lines_only_at_the_start() {
        let tmp = tempdir();
        let b = adder(tmp.path());
        let input = format!("{BOM}{{\"a\": 1}}\n{BOM}{{\"a\": 2}}\n");
        let out = run(
            &["batch", path(&b), "--input", "-", "--as-of", "2025-01-01"],
            input.as_bytes(),
        );
        let lines = out.lines();
        assert_eq!(lines[0]["outputs"]["x"], 2, "{out:?}");
        // Not at the start of the stream, it is the character U+FEFF: invalid JSON.
        assert_eq!(lines[1]["error"]["code"], "invalid_input", "{out:?}");
    }

    #[test]
    fn a_leading_bom_is_skipped_in_csv() {
        let tmp = tempdir();
        let b = adder(tmp.path());
        let csv = tmp.path().join("in.csv");
        write(&csv, format!("{BOM}a\n41\n"));
        let out = run(
            &[
                "batch",
                path(&b),
                "--input",
                path(&csv),
                "--as-of",
                "2025-01-01",
            ],
            b"",
        );
        assert_eq!(out.lines()[0]["outputs"]["x"], 42, "{out:?}");
    }

    #[test]
    fn a_leading_bom_is_skipped_in_contract_toml_scripts_and_test_files() {
        let tmp = tempdir();
        let b = tmp.path().join("b");
        write(
            &b.join("contract.toml"),
            format!("{BOM}[contract]\nid = \"b\"\nversion = \"1\"\n[terms.x]\n"),
        );
        write(&b.join("terms/x.rhai"), format!("{BOM}facts.a + 1"));
        write(
            &b.join("tests/a.toml"),
            format!("{BOM}[[case]]\nname = \"bom\"\nas_of = \"2025-01-01\"\nfacts = {{ a = 1 }}\nexpect = {{ x = 2 }}\n"),
        );
        let out = run(&["test", path(&b)], b"");
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("1 passed, 0 failed"), "{out:?}");
    }
}

mod recorded {
    use super::*;

    /// `diff --facts` reads recorded requests as JSON Lines: the same BOM rule and the same
    /// duplicate-key refusal as `batch`.
    #[test]
    fn diff_recorded_facts_skip_a_leading_bom_and_refuse_duplicate_keys() {
        let tmp = tempdir();
        let b = bundle(
            tmp.path(),
            "s",
            "[facts.a]\ntype = \"integer\"",
            &[("x", "facts.a")],
        );
        let recorded = tmp.path().join("recorded.jsonl");
        write(
            &recorded,
            format!("{BOM}{{\"facts\": {{\"a\": 1}}, \"as_of\": \"2025-01-01\"}}\n"),
        );
        let args = |file: &Path| {
            vec![
                "diff".to_string(),
                path(&b).to_string(),
                path(&b).to_string(),
                "--facts".into(),
                path(file).to_string(),
                "--cases".into(),
                "1".into(),
                "--as-of".into(),
                "2025-01-01".into(),
            ]
        };
        let list = args(&recorded);
        let out = run(&list.iter().map(String::as_str).collect::<Vec<_>>(), b"");
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("1 recorded"), "{out:?}");
        write(
            &recorded,
            "{\"facts\": {\"a\": 1, \"a\": 2}, \"as_of\": \"2025-01-01\"}\n",
        );
        let out = run(&list.iter().map(String::as_str).collect::<Vec<_>>(), b"");
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(
            out.stderr.contains("duplicate key `a` in `facts`"),
            "{out:?}"
        );
    }
}
