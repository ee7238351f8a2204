//! The bundle folder reader: only regular files inside the bundle are read, a FIFO is never
//! opened, sizes are capped by the bytes read, test files obey the same rules, and a leading
//! byte order mark is skipped in every file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aftersale_core::bundle::{read_file, MAX_FILE_BYTES};
use aftersale_core::cases::{parse_case_file, read_test_file, run_case, test_files};
use aftersale_core::{BundleSource, Engine, LoadError};

/// A fresh folder under the system's temporary folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "aftersale-files-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// A bundle `name` with one term `x` (script `1`), and its folder.
    fn bundle(&self, name: &str) -> PathBuf {
        let dir = self.0.join(name);
        std::fs::create_dir_all(dir.join("terms")).unwrap();
        std::fs::create_dir_all(dir.join("tests")).unwrap();
        std::fs::write(
            dir.join("contract.toml"),
            format!("[contract]\nid = \"{name}\"\nversion = \"1\"\n[terms.x]\n"),
        )
        .unwrap();
        std::fs::write(dir.join("terms/x.rhai"), "1").unwrap();
        dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_errors(dir: &Path) -> Vec<LoadError> {
    match Engine::default().load_dir(dir) {
        Ok(_) => panic!("expected load errors"),
        Err(e) => e.errors,
    }
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo failed");
}

/// Runs `f` on a thread and waits at most 30 s: a hang guard, not a speed test.
fn promptly<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the read hung on a FIFO")
}

#[cfg(unix)]
#[test]
fn a_symlink_to_another_bundle_is_refused_without_its_content() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    let theirs = scratch.bundle("theirs");
    std::fs::write(theirs.join("terms/secret.rhai"), "\"their secret terms\"").unwrap();
    std::os::unix::fs::symlink(theirs.join("terms/secret.rhai"), mine.join("terms/y.rhai"))
        .unwrap();
    let errs = load_errors(&mine);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let text = errs[0].to_string();
    assert_eq!(text, "`terms/y.rhai` is a symlink to outside the bundle");
    assert!(
        matches!(&errs[0], LoadError::OutsideBundle { location } if location.file == "terms/y.rhai")
    );
    assert!(
        !text.contains("theirs") && !text.contains("secret"),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_to_a_system_file_is_refused_without_its_path() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    std::fs::remove_file(mine.join("contract.toml")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", mine.join("contract.toml")).unwrap();
    let errs = load_errors(&mine);
    let text = errs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    assert_eq!(text, "`contract.toml` is a symlink to outside the bundle");
    assert!(!text.contains("passwd") && !text.contains("root"), "{text}");
}

#[cfg(unix)]
#[test]
fn a_symlinked_folder_leading_out_is_named_not_followed() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    let theirs = scratch.bundle("theirs");
    std::os::unix::fs::symlink(theirs.join("terms"), mine.join("terms/shared")).unwrap();
    let errs = load_errors(&mine);
    assert_eq!(
        errs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["`terms/shared` is a symlink to outside the bundle"]
    );
    // A test file below a folder leading out names that folder.
    std::fs::remove_dir_all(mine.join("tests")).unwrap();
    std::os::unix::fs::symlink(theirs.join("tests"), mine.join("tests")).unwrap();
    std::fs::write(theirs.join("tests/a.toml"), "").unwrap();
    let files = test_files(&mine);
    assert_eq!(files.len(), 1);
    let err = read_test_file(&mine, &files[0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`tests` is a symlink to outside the bundle"
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_inside_the_bundle_is_followed() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    std::fs::create_dir_all(mine.join("lib")).unwrap();
    std::fs::rename(mine.join("terms/x.rhai"), mine.join("lib/x.rhai")).unwrap();
    std::fs::write(
        mine.join("contract.toml"),
        "[contract]\nid = \"mine\"\nversion = \"1\"\n[terms.x]\nscript = \"lib/x.rhai\"\n[terms.y]\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../lib/x.rhai", mine.join("terms/y.rhai")).unwrap();
    let contract = Engine::default().load_dir(&mine).unwrap();
    assert_eq!(contract.id(), "mine");
}

#[cfg(unix)]
#[test]
fn a_fifo_script_is_refused_promptly_not_opened() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    mkfifo(&mine.join("terms/f.rhai"));
    let dir = mine.clone();
    let errs = promptly(move || load_errors(&dir));
    assert_eq!(
        errs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["`terms/f.rhai` is not a regular file"]
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_manifest_is_refused_promptly_not_opened() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    std::fs::remove_file(mine.join("contract.toml")).unwrap();
    mkfifo(&mine.join("contract.toml"));
    let dir = mine.clone();
    let errs = promptly(move || load_errors(&dir));
    assert_eq!(errs[0].to_string(), "`contract.toml` is not a regular file");
}

#[cfg(unix)]
#[test]
fn a_fifo_test_file_is_refused_promptly_not_opened() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    mkfifo(&mine.join("tests/a.toml"));
    let files = test_files(&mine);
    assert_eq!(files.len(), 1);
    let dir = mine.clone();
    let err = promptly(move || read_test_file(&dir, &files[0]).unwrap_err());
    assert_eq!(err.to_string(), "`tests/a.toml` is not a regular file");
}

#[test]
fn a_folder_where_a_file_belongs_is_not_a_regular_file() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    std::fs::create_dir_all(mine.join("tests/b.toml")).unwrap();
    let err = read_file(&mine, &mine.join("tests/b.toml")).unwrap_err();
    assert_eq!(err.to_string(), "`tests/b.toml` is not a regular file");
}

#[test]
fn a_path_climbing_out_of_the_bundle_is_refused() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    scratch.bundle("theirs");
    let err = read_file(&mine, Path::new("../theirs/contract.toml")).unwrap_err();
    assert!(matches!(err, LoadError::OutsideBundle { .. }), "{err}");
}

#[test]
fn test_files_are_capped_like_the_rest() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    let cap = usize::try_from(MAX_FILE_BYTES).unwrap();
    // Exactly at the cap reads; one byte more is refused (by the bytes read).
    std::fs::write(mine.join("tests/at_cap.toml"), "#".repeat(cap)).unwrap();
    std::fs::write(mine.join("tests/over.toml"), "#".repeat(cap + 1)).unwrap();
    let text = read_test_file(&mine, &mine.join("tests/at_cap.toml")).unwrap();
    assert_eq!(text.len(), cap);
    let err = read_test_file(&mine, &mine.join("tests/over.toml")).unwrap_err();
    assert!(
        err.to_string()
            .ends_with(&format!("file is over the {MAX_FILE_BYTES}-byte limit")),
        "{err}"
    );
    // Scripts too.
    std::fs::write(mine.join("terms/x.rhai"), "1;".repeat(cap / 2 + 1)).unwrap();
    let errs = load_errors(&mine);
    assert!(errs[0].to_string().contains("-byte limit"), "{errs:?}");
}

#[test]
fn a_leading_bom_is_skipped_in_every_bundle_file() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    let bom = "\u{feff}";
    std::fs::write(
        mine.join("contract.toml"),
        format!("{bom}[contract]\nid = \"mine\"\nversion = \"1\"\n[params]\nn = 41\n[terms.x]\n"),
    )
    .unwrap();
    std::fs::write(mine.join("terms/x.rhai"), format!("{bom}params.n + 1")).unwrap();
    std::fs::write(
        mine.join("tests/a.toml"),
        format!("{bom}[[case]]\nname = \"bom\"\nas_of = \"2025-01-01\"\nexpect = {{ x = 42 }}\n"),
    )
    .unwrap();
    let contract = Engine::default().load_dir(&mine).unwrap();
    let text = read_test_file(&mine, &mine.join("tests/a.toml")).unwrap();
    assert!(!text.starts_with(bom));
    // parse_case_file skips it too, for a text read by other means.
    let cases = parse_case_file("tests/a.toml", &format!("{bom}{text}")).unwrap();
    assert!(run_case(&contract, &cases[0].case).passed());
    // And a source built in memory.
    let source = BundleSource::new("m")
        .with_file(
            "contract.toml",
            format!("{bom}[contract]\nid = \"m\"\nversion = \"1\"\n[terms.x]\n"),
        )
        .with_file("terms/x.rhai", format!("{bom}7"));
    assert!(Engine::default().load(&source).is_ok());
}

#[cfg(unix)]
#[test]
fn a_socket_or_a_device_in_the_bundle_is_not_a_regular_file() {
    let scratch = Scratch::new();
    let mine = scratch.bundle("mine");
    let _listener = std::os::unix::net::UnixListener::bind(mine.join("terms/s.rhai")).unwrap();
    let errs = promptly({
        let dir = mine.clone();
        move || load_errors(&dir)
    });
    assert_eq!(
        errs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["`terms/s.rhai` is not a regular file"]
    );
    // A character device like /dev/zero (endless): only where this process may make one.
    std::fs::remove_file(mine.join("terms/s.rhai")).unwrap();
    let device = mine.join("tests/zero.toml");
    let made = std::process::Command::new("mknod")
        .arg(&device)
        .args(["c", "1", "5"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if made {
        let err = promptly(move || read_test_file(&mine, &device).unwrap_err());
        assert_eq!(err.to_string(), "`tests/zero.toml` is not a regular file");
    }
}
