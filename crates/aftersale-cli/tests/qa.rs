//! `aftersale prop` and `aftersale diff` as a QA team runs them, on copies of
//! rules/car-warranty changed on purpose.
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const CAR_WARRANTY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules/car-warranty");

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_aftersale"))
        .args(args)
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of car-warranty with `edit` applied to its contract.toml.
fn variant(root: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let dir = root.join(name);
    copy_dir(Path::new(CAR_WARRANTY), &dir);
    let manifest = dir.join("contract.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let edited = edit(text.clone());
    std::fs::write(&manifest, edited).unwrap();
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn diff_of_a_changed_km_limit_reports_the_changed_region_and_its_boundary() {
    let tmp = tempfile::tempdir().unwrap();
    let old = variant(tmp.path(), "old", |t| t);
    let new = variant(tmp.path(), "new", |t| {
        assert!(t.contains("\nkm = 100000\n"));
        t.replace("\nkm = 100000\n", "\nkm = 90000\n")
    });
    let out = run(&[
        "diff",
        path(&old),
        path(&new),
        "--cases",
        "300",
        "--format",
        "json",
        "--fail-on-change",
    ]);
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["cases"], 300);
    let groups = report["groups"].as_array().unwrap();
    assert!(!groups.is_empty());
    let mut at_boundary = 0;
    for group in groups {
        let path = group["path"].as_str().unwrap();
        let example = &group["example"]["facts"];
        let km = example["odometer_km"].as_i64().unwrap();
        if path == "coverage.km_limit" && group["kind"] == "decreased" {
            // The limit the decision reports changes wherever base cover is the answer.
            assert_eq!(
                (&group["old"], &group["new"]),
                (&Value::from(100000), &Value::from(90000))
            );
            continue;
        }
        // Every other change lies in the region the new limit cut off.
        assert!(
            (90_001..=100_000).contains(&km),
            "{path} {}: example at {km} km, outside 90,001..=100,000",
            group["kind"]
        );
        let boundary = group["boundaries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["path"] == "facts.odometer_km");
        if let Some(b) = boundary {
            assert_eq!(
                (&b["unchanged"], &b["changed"]),
                (&Value::from(90000), &Value::from(90001))
            );
            assert_eq!(km, 90_001, "the minimal example sits at the boundary");
            at_boundary += 1;
        }
    }
    assert!(
        at_boundary > 0,
        "no group found the 90,001 km boundary: {report}"
    );

    // Text for people: counts and the boundary.
    let text = run(&["diff", path(&old), path(&new), "--cases", "300"]);
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(
        text.stdout.contains("300 requests compared"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("boundary: facts.odometer_km: unchanged at 90000, changed from 90001"),
        "{}",
        text.stdout
    );
}

#[test]
fn diff_of_an_unchanged_copy_reports_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = variant(tmp.path(), "copy", |t| t);
    let out = run(&[
        "diff",
        CAR_WARRANTY,
        path(&copy),
        "--cases",
        "150",
        "--fail-on-change",
    ]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("0 changed"), "{}", out.stdout);
    assert!(out.stdout.contains("no decision changed"), "{}", out.stdout);
}

#[test]
fn diff_compares_recorded_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let new = variant(tmp.path(), "new", |t| {
        t.replace("\nkm = 100000\n", "\nkm = 90000\n")
    });
    let recorded = tmp.path().join("recorded.jsonl");
    std::fs::write(
        &recorded,
        concat!(
            r#"{"as_of": "2025-09-01", "facts": {"in_service_date": "2024-01-15", "owner": "original", "odometer_km": 95000, "component": "electrical", "repair_cost": 100.00, "services": [{"date": "2024-04-01", "km": 15000}, {"date": "2024-07-01", "km": 30000}, {"date": "2024-10-01", "km": 45000}, {"date": "2025-01-01", "km": 60000}, {"date": "2025-04-01", "km": 75000}, {"date": "2025-07-01", "km": 90000}]}}"#,
            "\n",
            r#"{"in_service_date": "2024-01-15", "owner": "original", "odometer_km": 20000, "component": "electrical", "repair_cost": 100.00}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = run(&[
        "diff",
        CAR_WARRANTY,
        path(&new),
        "--cases",
        "0",
        "--facts",
        path(&recorded),
        "--as-of",
        "2025-01-15",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (report["cases"].as_u64(), report["recorded"].as_u64()),
        (Some(2), Some(2))
    );
    // The 95,000 km claim loses base cover; only the km limit echo changes for the other.
    let covered = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["path"] == "coverage.covered")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(covered["kind"], "true -> false");
    assert_eq!(covered["count"], 1);
    assert_eq!(covered["recorded"], 1);

    // A recorded line without an instant is refused, naming the line.
    std::fs::write(&recorded, "{\"odometer_km\": 1}\n").unwrap();
    let out = run(&[
        "diff",
        CAR_WARRANTY,
        path(&new),
        "--cases",
        "0",
        "--facts",
        path(&recorded),
    ]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("recorded.jsonl:1: no `as_of`"),
        "{}",
        out.stderr
    );
}

#[test]
fn prop_finds_a_broken_invariant_shrinks_it_and_test_replays_it() {
    let tmp = tempfile::tempdir().unwrap();
    // A promise the contract does not keep: covered claims can cost more than 2,000.00.
    let bundle = variant(tmp.path(), "cw", |t| {
        t.replace(
            "[invariants]\n",
            "[invariants]\ncovered_under_2000 = { expr = \"!outputs.coverage.covered || outputs.coverage.covered_amount < 2000\", description = \"planted on purpose\" }\n",
        )
    });
    let out = run(&["prop", path(&bundle), "--seed", "7"]);
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("FAIL invariant `covered_under_2000` returned false"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("minimal request"), "{}", out.stdout);
    // Shrunk: the smallest paid amount that breaks it is exactly 2,000.00 of a base-covered
    // repair, with every optional fact dropped.
    let regressions = bundle.join("tests/regressions.toml");
    let text = std::fs::read_to_string(&regressions).unwrap();
    assert!(
        text.contains("invariants = [\"covered_under_2000\"]"),
        "{text}"
    );
    assert!(text.contains("repair_cost = 2000.00"), "{text}");
    assert!(!text.contains("services"), "{text}");

    // `aftersale test` replays it and fails on it, naming the invariant.
    let test = run(&["test", path(&bundle)]);
    assert_eq!(test.code, Some(1), "{}", test.stdout);
    assert!(
        test.stdout
            .contains("invariant `covered_under_2000` returned false"),
        "{}",
        test.stdout
    );

    // The same seed finds the same case, which is not added twice.
    let again = run(&["prop", path(&bundle), "--seed", "7"]);
    assert!(again.stdout.contains("already in"), "{}", again.stdout);
    assert_eq!(std::fs::read_to_string(&regressions).unwrap(), text);

    // The shipped contract keeps its promises.
    let ok = run(&["prop", CAR_WARRANTY, "--cases", "100", "--no-save"]);
    assert_eq!(ok.code, Some(0), "{}\n{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout.contains("ok: no error, and every invariant held"),
        "{}",
        ok.stdout
    );
}

#[test]
fn prop_without_a_schema_says_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plain");
    std::fs::create_dir_all(dir.join("terms")).unwrap();
    std::fs::write(
        dir.join("contract.toml"),
        "[contract]\nid = \"plain\"\nversion = \"1\"\n[terms.a]\n",
    )
    .unwrap();
    std::fs::write(dir.join("terms/a.rhai"), "1").unwrap();
    let out = run(&["prop", path(&dir)]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("has no facts schema"), "{}", out.stderr);
}
