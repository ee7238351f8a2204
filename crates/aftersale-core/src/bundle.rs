//! A bundle's files in memory. The core parses and compiles from [`BundleSource`], never
//! from paths; [`BundleSource::from_dir`] is the thin helper that reads a folder.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{LoadError, LoadErrors};

/// The text files of one bundle, keyed by their path relative to the bundle folder with `/`
/// separators (`contract.toml`, `terms/coverage.rhai`).
#[derive(Debug, Clone, Default)]
pub struct BundleSource {
    /// A name for the bundle in errors before its id is known (usually its folder name).
    pub name: String,
    /// Relative path -> contents.
    pub files: BTreeMap<String, String>,
}

/// Files larger than this are not read: no script or manifest needs 16 MiB.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

impl BundleSource {
    /// An empty source named `name`; add files with [`BundleSource::with_file`].
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            files: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) one file.
    #[must_use]
    pub fn with_file(mut self, path: impl Into<String>, text: impl Into<String>) -> Self {
        self.files.insert(path.into(), text.into());
        self
    }

    /// Reads a bundle folder: `contract.toml` and every `.rhai` file below the folder
    /// (hidden folders skipped). Every unreadable file is reported.
    pub fn from_dir(dir: &Path) -> Result<Self, LoadErrors> {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string());
        let mut source = Self::new(name.clone());
        let mut errors = Vec::new();
        if !dir.is_dir() {
            errors.push(LoadError::Io {
                path: dir.display().to_string(),
                message: "not a folder".into(),
            });
            return Err(LoadErrors {
                bundle: name,
                errors,
            });
        }
        let manifest = dir.join(crate::manifest::MANIFEST_FILE);
        if manifest.is_file() {
            read_into(
                &mut source,
                &mut errors,
                &manifest,
                crate::manifest::MANIFEST_FILE.into(),
            );
        }
        collect_scripts(dir, dir, &mut source, &mut errors, 0);
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

fn read_into(source: &mut BundleSource, errors: &mut Vec<LoadError>, path: &Path, key: String) {
    let io = |message: String| LoadError::Io {
        path: path.display().to_string(),
        message,
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FILE_BYTES => {
            errors.push(io(format!(
                "file is {} bytes, over the {MAX_FILE_BYTES}-byte limit",
                meta.len()
            )));
            return;
        }
        Err(e) => {
            errors.push(io(e.to_string()));
            return;
        }
        Ok(_) => {}
    }
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => {
                source.files.insert(key, text);
            }
            Err(e) => errors.push(io(format!(
                "not valid UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ))),
        },
        Err(e) => errors.push(io(e.to_string())),
    }
}

fn collect_scripts(
    root: &Path,
    dir: &Path,
    source: &mut BundleSource,
    errors: &mut Vec<LoadError>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(LoadError::Io {
                path: dir.display().to_string(),
                message: e.to_string(),
            });
            return;
        }
    };
    let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_scripts(root, &path, source, errors, depth + 1);
        } else if path.extension().is_some_and(|e| e == "rhai") {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let key = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            read_into(source, errors, &path, key);
        }
    }
}
