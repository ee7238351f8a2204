//! Helpers the CLI's integration-test binaries share: bundles written to temporary folders,
//! the arguments of an evaluation, a child's peak memory. Each test binary uses part of them.
#![allow(dead_code, reason = "each test binary uses part of the shared helpers")]

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Writes `text` at `path`, creating its folders.
pub fn write(path: &Path, text: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create folder");
    }
    std::fs::write(path, text).expect("write file");
}

/// A bundle `id` under `root` with `extra` manifest text and one script per term.
pub fn bundle(root: &Path, id: &str, extra: &str, terms: &[(&str, &str)]) -> PathBuf {
    let dir = root.join(id);
    let mut manifest = format!("[contract]\nid = \"{id}\"\nversion = \"1\"\n{extra}\n");
    for (name, script) in terms {
        manifest.push_str(&format!("[terms.{name}]\n"));
        write(&dir.join("terms").join(format!("{name}.rhai")), script);
    }
    write(&dir.join("contract.toml"), manifest);
    dir
}

/// A temporary folder, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// The kernel's high-water mark of the process's resident memory, in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `aftersale eval <bundle> --facts <facts> --as-of 2025-01-01 --compact` and `extra`.
pub fn eval_args(bundle: &Path, facts: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut args = pretty_eval_args(bundle, facts, extra);
    args.push("--compact".into());
    args
}

/// `aftersale eval <bundle> --facts <facts> --as-of 2025-01-01` and `extra`: the decision
/// pretty-printed, as a user at a terminal sees it.
pub fn pretty_eval_args(bundle: &Path, facts: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "eval".into(),
        bundle.into(),
        "--facts".into(),
        facts.into(),
        "--as-of".into(),
        "2025-01-01".into(),
    ];
    args.extend(extra.iter().map(Into::into));
    args
}
