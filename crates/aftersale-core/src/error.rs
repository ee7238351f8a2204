//! Errors of the core's operations: loading a bundle ([`LoadError`]), evaluating a request
//! ([`EvalError`]) and reading a test file ([`CaseFileError`]).
//!
//! Every error that comes from a place in a bundle carries a [`Location`] so that a user can
//! go straight to the file, line and column.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A place in a bundle: a file path relative to the bundle's folder, and a 1-based line and
/// column where known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The file, relative to the bundle folder, for example `terms/coverage.rhai`.
    pub file: String,
    /// 1-based line, when the error has a position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column, when the error has a position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Location {
    /// A location naming a whole file.
    pub fn file(file: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            column: None,
        }
    }

    /// A location at a line and column of a file.
    pub fn at(file: impl Into<String>, line: usize, column: usize) -> Self {
        Self {
            file: file.into(),
            line: Some(line),
            column: Some(column),
        }
    }

    /// A location from a rhai position (which may be "none").
    pub fn from_position(file: impl Into<String>, pos: rhai::Position) -> Self {
        Self {
            file: file.into(),
            line: pos.line(),
            column: pos.position(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}", self.file),
            (Some(l), None) => write!(f, "{}:{l}", self.file),
            _ => write!(f, "{}", self.file),
        }
    }
}

/// One problem found while loading a bundle. Loading reports every problem it finds, see
/// [`LoadErrors`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file of the bundle could not be read.
    #[error("cannot read `{path}`: {message}")]
    Io {
        /// The path that could not be read.
        path: String,
        /// What the operating system said.
        message: String,
    },
    /// A file of the bundle folder is a symlink (or lies below a symlinked folder) whose
    /// target is outside the bundle's folder: it is not followed, and where it leads is not
    /// said.
    #[error("`{}` is a symlink to outside the bundle", location.file)]
    OutsideBundle {
        /// The file (or folder) inside the bundle that leads out.
        location: Location,
    },
    /// A file of the bundle folder is not a regular file (a FIFO, a socket, a device, a
    /// folder where a file belongs): it is never opened.
    #[error("`{}` is not a regular file", location.file)]
    NotRegularFile {
        /// The file inside the bundle.
        location: Location,
    },
    /// `contract.toml` is missing.
    #[error("the bundle has no `contract.toml`")]
    MissingManifest,
    /// `contract.toml` is not valid TOML or does not have the bundle format's shape.
    #[error("invalid contract.toml at {location}: {message}")]
    Manifest {
        /// Where in `contract.toml`.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// A term's script has a syntax error, or uses a variable that is not in scope.
    #[error("term `{term}` does not compile at {location}: {message}")]
    Syntax {
        /// The term.
        term: String,
        /// Where in its script.
        location: Location,
        /// The parser's words.
        message: String,
    },
    /// A term's script file does not exist.
    #[error("term `{term}` has no script: `{}` not found", location.file)]
    MissingScript {
        /// The term.
        term: String,
        /// The script path it should have.
        location: Location,
    },
    /// A script in `terms/` that no term in `contract.toml` declares (usually a typo).
    #[error("script `{}` is not declared as a term in contract.toml (add `[terms.{name}]`)", location.file)]
    UndeclaredScript {
        /// The term name the file suggests.
        name: String,
        /// The file.
        location: Location,
    },
    /// A script reads `terms.<name>` for a term the bundle does not define.
    #[error("term `{term}` reads unknown term `{name}` at {location}")]
    UnknownTerm {
        /// The term whose script reads it.
        term: String,
        /// The unknown name.
        name: String,
        /// Where it is read.
        location: Location,
    },
    /// A script uses `terms` in a way whose dependencies cannot be read statically.
    #[error("term `{term}` uses `terms` without naming a term at {location}: write `terms.<name>` or `terms[\"<name>\"]`")]
    DynamicTermsAccess {
        /// The term.
        term: String,
        /// Where.
        location: Location,
    },
    /// Terms depend on each other in a cycle; `cycle` lists every term on it in order, the
    /// first repeated at the end.
    #[error("terms form a cycle: {} (at {location})", cycle.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(" -> "))]
    Cycle {
        /// The terms on the cycle, in order, with the first one repeated last.
        cycle: Vec<String>,
        /// Where the first term reads the second.
        location: Location,
    },
    /// The contract names a plugin the engine does not have.
    #[error("unknown plugin `{name}` at {location} (this engine has: {available})")]
    UnknownPlugin {
        /// The unknown name.
        name: String,
        /// Where it is named.
        location: Location,
        /// The plugins that could be named, comma-separated.
        available: String,
    },
    /// `outputs` names a term the bundle does not define.
    #[error("unknown output term `{name}` at {location}")]
    UnknownOutput {
        /// The name.
        name: String,
        /// Where.
        location: Location,
    },
    /// A script uses a construct the sandbox forbids (`import`, `eval`, ...).
    #[error("term `{term}` uses forbidden {what} at {location}")]
    Forbidden {
        /// The term.
        term: String,
        /// What was used.
        what: String,
        /// Where.
        location: Location,
    },
    /// A value in `contract.toml` is well-formed TOML but not acceptable (bad id, time zone, ...).
    #[error("invalid {field} at {location}: {message}")]
    InvalidValue {
        /// The field, for example `contract.timezone`.
        field: String,
        /// Where.
        location: Location,
        /// What is wrong.
        message: String,
    },
}

impl LoadError {
    /// Where the problem is, when it has a place.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Io { .. } | Self::MissingManifest => None,
            Self::OutsideBundle { location } | Self::NotRegularFile { location } => Some(location),
            Self::Manifest { location, .. }
            | Self::Syntax { location, .. }
            | Self::MissingScript { location, .. }
            | Self::UndeclaredScript { location, .. }
            | Self::UnknownTerm { location, .. }
            | Self::DynamicTermsAccess { location, .. }
            | Self::Cycle { location, .. }
            | Self::UnknownPlugin { location, .. }
            | Self::UnknownOutput { location, .. }
            | Self::Forbidden { location, .. }
            | Self::InvalidValue { location, .. } => Some(location),
        }
    }

    /// The term concerned, when there is one.
    pub fn term(&self) -> Option<&str> {
        match self {
            Self::Syntax { term, .. }
            | Self::MissingScript { term, .. }
            | Self::UnknownTerm { term, .. }
            | Self::DynamicTermsAccess { term, .. }
            | Self::Forbidden { term, .. } => Some(term),
            Self::Cycle { cycle, .. } => cycle.first().map(String::as_str),
            _ => None,
        }
    }
}

/// Every problem found while loading one bundle.
#[derive(Debug, Clone, thiserror::Error)]
#[error("bundle `{bundle}` has {} problem{}: {}", errors.len(), if errors.len() == 1 { "" } else { "s" }, errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct LoadErrors {
    /// The bundle, by contract id when known, else by its folder name.
    pub bundle: String,
    /// The problems, in the order found (manifest first, then terms by name, then the graph).
    pub errors: Vec<LoadError>,
}

/// Why an evaluation failed. A failed evaluation produces no decision.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The request asked for an output that is not a term of the contract.
    #[error("unknown output term `{name}` (contract `{contract}` has: {available})")]
    UnknownOutput {
        /// The contract.
        contract: String,
        /// The name asked for.
        name: String,
        /// The terms that exist, comma-separated.
        available: String,
    },
    /// The facts are not a JSON object, or hold a value that cannot enter a script.
    #[error("invalid facts: {message}")]
    InvalidFacts {
        /// What is wrong.
        message: String,
    },
    /// The facts fail the contract's facts schema or constraints; every problem is listed.
    #[error("invalid facts: {}", join_problems(problems))]
    FactsRejected {
        /// Each problem, with its path.
        problems: Vec<crate::schema::FactProblem>,
    },
    /// A term's script failed: a type error, a missing fact, a `throw`, ...
    #[error("term `{term}` failed at {location}: {message}")]
    Term {
        /// The term.
        term: String,
        /// Where in its script.
        location: Location,
        /// The script's (or the engine's) own words.
        message: String,
    },
    /// A term hit a sandbox limit (operations, call depth, sizes).
    #[error("term `{term}` exceeded a limit at {location}: {message}")]
    Limit {
        /// The term.
        term: String,
        /// Where in its script.
        location: Location,
        /// Which limit.
        message: String,
    },
    /// A term returned a value that has no JSON form (a function pointer, a plugin type
    /// without a serialiser, ...).
    #[error("term `{term}` returned a value that cannot be part of a decision: {message}")]
    Value {
        /// The term.
        term: String,
        /// What could not be converted.
        message: String,
    },
}

impl EvalError {
    /// The term concerned, when there is one.
    pub fn term(&self) -> Option<&str> {
        match self {
            Self::Term { term, .. } | Self::Limit { term, .. } | Self::Value { term, .. } => {
                Some(term)
            }
            _ => None,
        }
    }

    /// Where the problem is, when it has a place.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Term { location, .. } | Self::Limit { location, .. } => Some(location),
            _ => None,
        }
    }

    /// A stable machine-readable code: `unknown_output`, `invalid_facts`, `evaluation`,
    /// `limit` or `value`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownOutput { .. } => "unknown_output",
            Self::InvalidFacts { .. } | Self::FactsRejected { .. } => "invalid_facts",
            Self::Term { .. } => "evaluation",
            Self::Limit { .. } => "limit",
            Self::Value { .. } => "value",
        }
    }

    /// True when the request itself is wrong (unknown output, facts that are not an object),
    /// as opposed to a term failing on it.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            Self::UnknownOutput { .. } | Self::InvalidFacts { .. } | Self::FactsRejected { .. }
        )
    }
}

fn join_problems(problems: &[crate::schema::FactProblem]) -> String {
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// Why an `as_of` text could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid as_of `{text}`: {}", reason.as_deref().unwrap_or("expected a date (2025-03-07) or an RFC 3339 datetime (2025-03-07T16:00:00-05:00)"))]
pub struct AsOfError {
    /// The text given.
    pub text: String,
    /// Why a well-formed text is refused (an instant outside the years 1 to 9999, more
    /// fractional-second digits than kept); `None` when the text is not a date or datetime.
    pub reason: Option<String>,
}

/// Why a test file could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid test file at {location}: {message}")]
pub struct CaseFileError {
    /// Where.
    pub location: Location,
    /// What is wrong.
    pub message: String,
}

/// Why the cases of one test file cannot run: the file cannot be read (missing, too large,
/// outside the bundle, not UTF-8), or it is not a valid test file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CaseFileProblem {
    /// Reading the file failed, as [`crate::bundle::read_file`] reports it.
    #[error(transparent)]
    Unreadable(LoadError),
    /// The file was read but is not a valid test file.
    #[error(transparent)]
    Invalid(CaseFileError),
}
