//! The one case runner: a bundle's test files listed, read, parsed, run and tallied in one
//! report, from a folder or from memory, with every kind of failure kept apart.

use aftersale_core::cases::{CaseFiles, Outcome};
use aftersale_core::{BundleSource, CaseFileProblem, Engine};

use crate::support::bundle;

const CASES: &str = r#"
[[case]]
name = "doubles"
as_of = "2025-01-01"
facts = { n = 2 }
expect = { x = 4 }

[[case]]
name = "wrong on purpose"
as_of = "2025-01-01"
facts = { n = 3 }
expect = { x = 7 }
"#;

fn source() -> BundleSource {
    bundle("", &[("x", "facts.n * 2")])
        .with_file("tests/a.toml", CASES)
        .with_file(
            "tests/b.toml",
            "[[case]]\nname = 'x'\nas_of = 'never'\nexpect = {}\n",
        )
        .with_file("tests/c.toml", "[[case]]\nname = \"x\"\nbogus = 1\n")
        .with_file("tests/sub/d.toml", CASES)
        .with_file("tests/notes.txt", "not a test file")
}

#[test]
fn a_report_tallies_every_file_and_keeps_its_failures_apart() {
    let source = source();
    let contract = Engine::builder().build().load(&source).unwrap();
    let files = CaseFiles::from_source(&source);
    let paths: Vec<_> = files.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["tests/a.toml", "tests/b.toml", "tests/c.toml"]);
    let mut seen = Vec::new();
    let report = files.run_with(&contract, |located| seen.push(located.case.name.clone()));
    assert_eq!(seen, ["doubles", "wrong on purpose", "x"]);
    assert_eq!((report.passed(), report.failed()), (1, 2));
    assert!(!report.all_passed());
    let a = &report.files[0].cases.as_ref().unwrap();
    assert!(matches!(a[1].outcome, Outcome::Mismatched(_)));
    assert!(matches!(
        report.files[1].cases.as_ref().unwrap()[0].outcome,
        Outcome::Invalid(_)
    ));
    let problems: Vec<_> = report.file_problems().collect();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].0, "tests/c.toml");
    assert!(matches!(problems[0].1, CaseFileProblem::Invalid(_)));
    let failures = report.failures();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(
        failures[0].starts_with("test `wrong on purpose` (tests/a.toml:")
            && failures[0].ends_with("x: expected 7, got 6"),
        "{failures:?}"
    );
    assert!(failures[2].contains("tests/c.toml") && failures[2].contains("bogus"));
}

#[test]
fn a_folder_gives_the_same_report_as_its_files_in_memory() {
    let source = source();
    let dir = std::env::temp_dir().join(format!("aftersale-cases-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in &source.files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    let contract = Engine::builder().build().load_dir(&dir).unwrap();
    let from_dir = aftersale_core::cases::run_bundle_cases(&contract, &dir);
    let in_memory = CaseFiles::from_source(&source).run(&contract);
    assert_eq!(from_dir.failures(), in_memory.failures());
    assert_eq!(from_dir.passed(), in_memory.passed());
    // A test file that cannot be read is its own kind of problem, not a failed case.
    std::fs::write(dir.join("tests/e.toml"), [0xff, 0xfe, 0x00]).unwrap();
    let report = aftersale_core::cases::run_bundle_cases(&contract, &dir);
    assert!(report
        .file_problems()
        .any(|(path, p)| path == "tests/e.toml" && matches!(p, CaseFileProblem::Unreadable(_))));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bundle_without_tests_has_an_empty_report_that_passes() {
    let source = bundle("", &[("x", "1")]);
    let contract = Engine::builder().build().load(&source).unwrap();
    let files = CaseFiles::from_source(&source);
    assert!(files.is_empty());
    let report = files.run(&contract);
    assert!(report.all_passed() && report.passed() == 0);
}
