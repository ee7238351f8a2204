//! Helpers the CLI's integration-test modules share: bundles written to temporary folders,
//! the arguments of an evaluation, a child run measured by the CPU time and memory it used
//! (never by wall-clock time, which a busy machine stretches). Each module uses part of
//! them.
#![allow(dead_code, reason = "not every helper is used by every module")]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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

/// Why [`run_measured`] killed a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Killed {
    /// It used more CPU time than the case allows itself to wait for.
    Cpu,
    /// It held more memory than the case allows.
    Memory,
    /// It ran, on or off the CPU, for [`HANG_AFTER`]: a process blocked for good.
    Hang,
}

/// A child still alive after this much wall-clock time is killed as hung. Only a guard that
/// turns a hang into a failure: far above what any case needs on the busiest machine, and
/// never what a case asserts (cases bound CPU time, which load does not inflate).
pub const HANG_AFTER: Duration = Duration::from_secs(600);

/// What one measured run of the binary gave.
#[derive(Debug)]
pub struct Measured {
    /// The arguments it ran with.
    pub args: Vec<OsString>,
    /// How it ended.
    pub status: ExitStatus,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
    /// The CPU time (user and system, all threads) it used, as the kernel counted it once it
    /// had exited.
    pub cpu: Duration,
    /// The kernel's high-water mark of its resident memory, in KiB.
    pub peak_rss_kib: u64,
    /// Why the harness killed it, if it did.
    pub killed: Option<Killed>,
}

impl Measured {
    /// Its exit code (none when a signal ended it).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Everything about the run, for a failing assertion.
    pub fn show(&self) -> String {
        format!(
            "args {:?}\nstatus {:?} (signal {:?}), cpu {:?}, peak RSS {} KiB, killed {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            self.status.code(),
            self.status.signal(),
            self.cpu,
            self.peak_rss_kib,
            self.killed,
            truncate(&self.stdout),
            truncate(&self.stderr)
        )
    }
}

/// At most the first 3,000 bytes of `text`, saying how long it was.
pub fn truncate(text: &str) -> String {
    const MAX: usize = 3000;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut cut = MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}... ({} bytes)", &text[..cut], text.len())
}

/// The kernel's clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux
/// whatever the kernel's own tick rate).
const TICKS_PER_SECOND: u64 = 100;

/// Whether the process has exited (a zombie not yet reaped), and the CPU time it has used,
/// from `/proc/<pid>/stat`.
pub fn proc_cpu(pid: u32) -> Option<(bool, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: fields count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = *fields.first()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = utime + stime;
    Some((
        state == "Z",
        Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND),
    ))
}

/// Runs the binary with `args` (and `stdin`, when given), measuring the CPU time it used and
/// its peak memory. The child is reaped only after its final figures are read: a process
/// that has exited stays a zombie, with its `/proc` entry, until it is waited for. It is
/// killed past `kill_cpu` of CPU time, `kill_rss_kib` of memory, or [`HANG_AFTER`].
pub fn run_measured(
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    kill_cpu: Duration,
    kill_rss_kib: u64,
) -> Measured {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aftersale"))
        .args(&args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn aftersale");
    let started = Instant::now();
    let pid = child.id();
    let writer = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        // The child may stop reading early (bad input); a broken pipe is not our failure.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let mut out = child.stdout.take().expect("stdout pipe");
    let mut err = child.stderr.take().expect("stderr pipe");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let mut peak_rss_kib = 0;
    let mut cpu = Duration::ZERO;
    let mut killed = None;
    let status = loop {
        // Figures first: a reaped child has no /proc entry.
        if let Some(hwm) = vm_hwm_kib(pid) {
            peak_rss_kib = peak_rss_kib.max(hwm);
        }
        match proc_cpu(pid) {
            Some((exited, used)) => {
                cpu = used;
                if exited {
                    break child.wait().expect("wait");
                }
            }
            // No /proc entry to read: reap it if it is done.
            None => {
                if let Some(status) = child.try_wait().expect("try_wait") {
                    break status;
                }
            }
        }
        if cpu > kill_cpu {
            killed = Some(Killed::Cpu);
        } else if peak_rss_kib > kill_rss_kib {
            killed = Some(Killed::Memory);
        } else if started.elapsed() > HANG_AFTER {
            killed = Some(Killed::Hang);
        }
        if killed.is_some() {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    Measured {
        args,
        status,
        stdout: String::from_utf8_lossy(&out_reader.join().expect("stdout reader")).into_owned(),
        stderr: String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned(),
        cpu,
        peak_rss_kib,
        killed,
    }
}
