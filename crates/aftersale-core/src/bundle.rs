//! A bundle's files in memory. The core parses and compiles from [`BundleSource`], never
//! from paths; [`BundleSource::from_dir`] is the thin helper that reads a folder, and
//! [`read_file`] the one way any file of a bundle folder is read (test files included).
//!
//! A folder may be another tenant's neighbour, so the reader trusts nothing in it: it reads
//! only regular files whose real path lies inside the bundle's real folder (a symlink is
//! followed only when its target is inside), looks at a file's type before opening it (a
//! FIFO would block the reader forever, a device never end), and caps the bytes it actually
//! reads rather than the size the file claims. Its errors name the file inside the bundle
//! and why, never a path outside it or its content.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::{LoadError, LoadErrors, Location};

/// The text files of one bundle, keyed by their path relative to the bundle folder with `/`
/// separators (`contract.toml`, `terms/coverage.rhai`).
#[derive(Debug, Clone, Default)]
pub struct BundleSource {
    /// A name for the bundle in errors before its id is known (usually its folder name).
    pub name: String,
    /// Relative path -> contents.
    pub files: BTreeMap<String, String>,
}

/// Files larger than this are not read: no script, manifest or test file needs 16 MiB.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The UTF-8 byte order mark. Some Windows editors write one at the start of a file; it is
/// skipped there, in every input format (see [`skip_bom`]).
const BOM: char = '\u{feff}';

/// The text after a leading UTF-8 byte order mark, if it has one. One rule for every input
/// format (`contract.toml`, scripts, test files, facts JSON, JSON Lines, CSV): a BOM at the
/// very start of a file or stream is skipped; anywhere else it is the character U+FEFF.
pub fn skip_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

impl BundleSource {
    /// An empty source named `name`; add files with [`BundleSource::with_file`].
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            files: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) one file; a leading byte order mark is skipped ([`skip_bom`]).
    #[must_use]
    pub fn with_file(mut self, path: impl Into<String>, text: impl Into<String>) -> Self {
        let mut text: String = text.into();
        if text.starts_with(BOM) {
            text.drain(..BOM.len_utf8());
        }
        self.files.insert(path.into(), text);
        self
    }

    /// Reads a bundle folder: `contract.toml` and every `.rhai` file below the folder
    /// (hidden folders skipped), each as [`read_file`] does. Every unreadable or refused
    /// file is reported.
    pub fn from_dir(dir: &Path) -> Result<Self, LoadErrors> {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string());
        let mut source = Self::new(name.clone());
        let mut errors = Vec::new();
        let root = match dir.canonicalize() {
            Ok(root) if root.is_dir() => root,
            _ => {
                errors.push(LoadError::Io {
                    path: dir.display().to_string(),
                    message: "not a folder".into(),
                });
                return Err(LoadErrors {
                    bundle: name,
                    errors,
                });
            }
        };
        let reader = Reader { dir, root: &root };
        let manifest = crate::manifest::MANIFEST_FILE;
        // An absent manifest is reported by the loader (`MissingManifest`), as for a source
        // built in memory; anything else there is read, or refused, as every file is.
        if std::fs::symlink_metadata(dir.join(manifest)).is_ok() {
            reader.read_into(&mut source, &mut errors, manifest.to_string());
        }
        reader.collect_scripts(Path::new(""), &mut source, &mut errors, 0);
        if errors.is_empty() {
            Ok(source)
        } else {
            Err(LoadErrors {
                bundle: name,
                errors,
            })
        }
    }
}

/// Reads the file `file` of the bundle folder `bundle` as text (`file` is a path below
/// `bundle`, or relative to it): only a regular file whose real path is inside the bundle's
/// real folder, at most [`MAX_FILE_BYTES`] bytes of UTF-8, a leading byte order mark
/// skipped. The CLI and the server read `tests/*.toml` with it, so test files obey the same
/// rules as the bundle's other files.
pub fn read_file(bundle: &Path, file: &Path) -> Result<String, LoadError> {
    let root = bundle.canonicalize().map_err(|e| LoadError::Io {
        path: bundle.display().to_string(),
        message: e.to_string(),
    })?;
    let rel = file.strip_prefix(bundle).unwrap_or(file);
    Reader {
        dir: bundle,
        root: &root,
    }
    .read(&slash_path(rel))
}

/// `a/b/c` for a relative path, whatever the platform's separator.
fn slash_path(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// One bundle folder as given (`dir`, for the paths errors have always shown) and as it
/// really is (`root`, symlinks resolved, for deciding what lies inside).
struct Reader<'a> {
    dir: &'a Path,
    root: &'a Path,
}

impl Reader<'_> {
    fn read_into(&self, source: &mut BundleSource, errors: &mut Vec<LoadError>, rel: String) {
        match self.read(&rel) {
            Ok(text) => {
                source.files.insert(rel, text);
            }
            Err(e) => errors.push(e),
        }
    }

    /// Reads `rel` (a `/`-separated path inside the bundle) by the rules of [`read_file`].
    fn read(&self, rel: &str) -> Result<String, LoadError> {
        let path = self.dir.join(rel);
        let io = |message: String| LoadError::Io {
            path: path.display().to_string(),
            message,
        };
        // A path that climbs out (`../x`) or starts at the root is outside by its spelling.
        let climbs = Path::new(rel)
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        let real = self.inside(rel, climbs)?;
        // The type first, never by opening: opening a FIFO blocks until a writer comes.
        let meta = std::fs::metadata(&real).map_err(|e| io(e.to_string()))?;
        if !meta.is_file() {
            return Err(LoadError::NotRegularFile {
                location: Location::file(rel),
            });
        }
        let file = open_no_wait(&real).map_err(|e| io(e.to_string()))?;
        // The file could have been swapped between the look and the open (a FIFO, a symlink
        // out): look again at what was opened before reading a byte of it.
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(LoadError::NotRegularFile {
                location: Location::file(rel),
            });
        }
        if opened_outside(&file, self.root) {
            return Err(LoadError::OutsideBundle {
                location: Location::file(rel),
            });
        }
        // The bytes actually there, not the length the metadata claims (a file can grow, and
        // some report 0): one byte past the cap is enough to know it is over.
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io(e.to_string()))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(io(format!("file is over the {MAX_FILE_BYTES}-byte limit")));
        }
        let mut text = String::from_utf8(bytes).map_err(|e| {
            io(format!(
                "not valid UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        if text.starts_with(BOM) {
            text.drain(..BOM.len_utf8());
        }
        Ok(text)
    }

    /// The real path of `rel`, when it lies inside the bundle; otherwise the error names the
    /// first part of `rel` that leads out (the symlink itself, or a symlinked folder on the
    /// way), never where it leads.
    fn inside(&self, rel: &str, climbs: bool) -> Result<PathBuf, LoadError> {
        let path = self.dir.join(rel);
        let outside = |part: &str| LoadError::OutsideBundle {
            location: Location::file(part),
        };
        if climbs {
            return Err(outside(rel));
        }
        let real = match path.canonicalize() {
            Ok(real) => real,
            Err(e) => {
                // A dangling symlink (its target missing or unreachable) is refused without
                // saying where it points.
                let link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink());
                let message = if link {
                    "a symlink whose target cannot be read".to_string()
                } else {
                    e.to_string()
                };
                return Err(LoadError::Io {
                    path: path.display().to_string(),
                    message,
                });
            }
        };
        if real.starts_with(self.root) {
            return Ok(real);
        }
        // Name the first component that leads out: the file itself or a folder above it.
        let mut prefix = PathBuf::new();
        for part in Path::new(rel).components() {
            prefix.push(part);
            let leads_out = self
                .dir
                .join(&prefix)
                .canonicalize()
                .map_or(true, |p| !p.starts_with(self.root));
            if leads_out {
                return Err(outside(&slash_path(&prefix)));
            }
        }
        Err(outside(rel))
    }

    /// Reads every `.rhai` file below `rel` (a folder inside the bundle, `""` for its top).
    fn collect_scripts(
        &self,
        rel: &Path,
        source: &mut BundleSource,
        errors: &mut Vec<LoadError>,
        depth: usize,
    ) {
        if depth > 8 {
            return;
        }
        let dir = self.dir.join(rel);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                errors.push(LoadError::Io {
                    path: dir.display().to_string(),
                    message: e.to_string(),
                });
                return;
            }
        };
        let mut names: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let child = rel.join(&name);
            let key = slash_path(&child);
            let Ok(meta) = std::fs::symlink_metadata(self.dir.join(&child)) else {
                continue;
            };
            let kind = meta.file_type();
            if kind.is_symlink() {
                // Followed only into the bundle: a folder there is walked, a script read; a
                // link out is refused only when it could be part of the bundle (a script or
                // a folder), so an unrelated link beside the bundle's files is no error.
                let target = std::fs::metadata(self.dir.join(&child));
                let is_dir = target.as_ref().is_ok_and(std::fs::Metadata::is_dir);
                if is_dir {
                    match self.inside(&key, false) {
                        Ok(_) => self.collect_scripts(&child, source, errors, depth + 1),
                        Err(e) => errors.push(e),
                    }
                } else if is_script(&child) {
                    self.read_into(source, errors, key);
                }
            } else if kind.is_dir() {
                self.collect_scripts(&child, source, errors, depth + 1);
            } else if is_script(&child) {
                // Regular or not: `read` refuses what is not a regular file.
                self.read_into(source, errors, key);
            }
        }
    }
}

/// Opens a file for reading without ever waiting: on Unix a FIFO swapped in after the type
/// check opens at once (`O_NONBLOCK`) instead of blocking until a writer comes, and a symlink
/// swapped in for the last component is not followed (`O_NOFOLLOW`). The caller checks the
/// type of what it opened.
fn open_no_wait(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Whether an opened file turns out to lie outside `root` (a folder on its path swapped for a
/// symlink after the check): where the system says which file a descriptor holds (Linux's
/// `/proc/self/fd`); elsewhere the check before opening stands alone.
fn opened_outside(file: &std::fs::File, root: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(real) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return !real.starts_with(root);
        }
    }
    let _ = (file, root);
    false
}

fn is_script(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "rhai")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("aftersale-bundle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.canonicalize().unwrap()
    }

    /// The guard behind the type check: a FIFO that slipped past it opens without waiting
    /// for a writer, and the look at what was opened refuses it.
    #[cfg(unix)]
    #[test]
    fn r_a_fifo_swapped_in_after_the_check_opens_without_blocking() {
        let dir = scratch("fifo");
        let fifo = dir.join("f.rhai");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(open_no_wait(&path).map(|f| f.metadata().map(|m| m.is_file())));
        });
        let opened = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("opening a FIFO blocked");
        assert!(!opened.unwrap().unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_opened_file_outside_the_root_is_noticed() {
        let dir = scratch("root");
        let inside = dir.join("a.rhai");
        std::fs::write(&inside, "1").unwrap();
        let file = open_no_wait(&inside).unwrap();
        assert!(!opened_outside(&file, &dir));
        assert!(opened_outside(&file, &dir.join("elsewhere")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_swapped_in_for_the_file_is_not_followed() {
        let dir = scratch("nofollow");
        std::fs::write(dir.join("target.rhai"), "1").unwrap();
        std::os::unix::fs::symlink(dir.join("target.rhai"), dir.join("link.rhai")).unwrap();
        assert!(open_no_wait(&dir.join("link.rhai")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
