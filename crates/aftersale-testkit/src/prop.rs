//! Property runs: generate requests from a contract's schema, evaluate them, and check every
//! invariant; shrink the first failure to a minimal request.

use aftersale_core::rules::RuleFailure;
use aftersale_core::{Contract, Request};
use serde::Serialize;

use crate::generate::{requests, Dictionary, GenerateError, Generated};
use crate::search::{seeded_runner, Candidate};

/// How many requests, from which seed.
#[derive(Debug, Clone)]
pub struct PropConfig {
    /// Requests to evaluate (valid ones; rejected draws do not count).
    pub cases: usize,
    /// The seed: the same seed gives the same requests.
    pub seed: u64,
    /// A fixed evaluation instant instead of the schema's `[as_of]` range.
    pub as_of: Option<String>,
}

impl Default for PropConfig {
    fn default() -> Self {
        Self {
            cases: 500,
            seed: 0,
            as_of: None,
        }
    }
}

/// Why a request fails the properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// A term failed on valid facts.
    Error {
        /// The error's code.
        code: String,
        /// Its message.
        message: String,
    },
    /// Invariants that do not hold.
    Invariants {
        /// Each broken invariant.
        broken: Vec<RuleFailure>,
    },
}

impl Violation {
    /// The invariants concerned (empty for an error).
    pub fn invariant_names(&self) -> Vec<String> {
        match self {
            Self::Error { .. } => Vec::new(),
            Self::Invariants { broken } => broken.iter().map(|f| f.name.clone()).collect(),
        }
    }

    /// Whether `other` is the same kind of failure (same error code, or the same first
    /// broken invariant): what shrinking keeps.
    fn same_kind(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Error { code: a, .. }, Self::Error { code: b, .. }) => a == b,
            (Self::Invariants { broken: a }, Self::Invariants { broken: b }) => {
                a.first().map(|f| &f.name) == b.first().map(|f| &f.name)
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error { message, .. } => write!(f, "evaluation failed on valid facts: {message}"),
            Self::Invariants { broken } => {
                let texts: Vec<String> = broken.iter().map(|b| format!("invariant {b}")).collect();
                write!(f, "{}", texts.join("; "))
            }
        }
    }
}

/// A failing request, before and after shrinking.
#[derive(Debug, Clone, Serialize)]
pub struct PropFailure {
    /// The minimal request found.
    #[serde(serialize_with = "crate::serialize_generated")]
    pub minimal: Generated,
    /// What fails for it.
    pub violation: Violation,
    /// The request first found.
    #[serde(serialize_with = "crate::serialize_generated")]
    pub original: Generated,
    /// What failed for the original.
    pub original_violation: Violation,
    /// Which case (0-based) found it.
    pub case_index: usize,
    /// Candidates tried while shrinking.
    pub shrink_steps: usize,
}

/// The result of a property run.
#[derive(Debug, Clone, Serialize)]
pub struct PropReport {
    /// The contract.
    pub contract: String,
    /// Its version.
    pub version: String,
    /// The seed used.
    pub seed: u64,
    /// Valid requests evaluated.
    pub cases: usize,
    /// Draws rejected by the schema's constraints.
    pub rejected: usize,
    /// The invariants checked.
    pub invariants: Vec<String>,
    /// The first failure, shrunk; `None` when every request kept every property.
    pub failure: Option<PropFailure>,
}

/// Why a property run could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PropError {
    /// No schema or no `as_of`.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// The constraints reject nearly every generated request.
    #[error("the constraints of `{contract}` rejected {rejected} generated requests in a row: loosen the schema's bounds so that most generated facts satisfy them")]
    TooManyRejects {
        /// The contract.
        contract: String,
        /// How many.
        rejected: usize,
    },
}

/// What one generated request gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Not a request the contract decides: `as_of` does not read, or the schema or the
    /// constraints reject the facts.
    Invalid,
    /// Decided, and every invariant held.
    Held,
    /// A term failed on valid facts, or invariants broke.
    Violated(Violation),
}

/// Evaluates one request (the evaluation checks schema and constraints first) and then every
/// invariant.
pub fn check_request(contract: &Contract, generated: &Generated) -> Checked {
    let Ok(as_of) = contract.parse_as_of(&generated.as_of) else {
        return Checked::Invalid;
    };
    let request = Request::new(generated.facts.clone(), as_of);
    match contract.evaluate(&request) {
        Err(e) if e.is_bad_request() => Checked::Invalid,
        Err(e) => Checked::Violated(Violation::Error {
            code: e.code().to_string(),
            message: e.to_string(),
        }),
        Ok(decision) => {
            let broken = contract.check_invariants(&request, &decision);
            if broken.is_empty() {
                Checked::Held
            } else {
                Checked::Violated(Violation::Invariants { broken })
            }
        }
    }
}

/// The violation of one request, if any; `None` also when the request is not valid.
pub fn check(contract: &Contract, generated: &Generated) -> Option<Violation> {
    match check_request(contract, generated) {
        Checked::Violated(v) => Some(v),
        Checked::Invalid | Checked::Held => None,
    }
}

/// How many rejected draws in a row stop a run.
pub const MAX_REJECTS_IN_A_ROW: usize = 1_000;

/// Runs `config.cases` valid requests through `contract`, stopping at the first failure,
/// which is shrunk to a minimal request of the same kind.
///
/// # Errors
/// [`PropError`] when requests cannot be generated.
pub fn run(contract: &Contract, config: &PropConfig) -> Result<PropReport, PropError> {
    let dictionary = Dictionary::from_contracts([contract]);
    let strategy = requests(contract, &dictionary, config.as_of.as_deref())?;
    let mut runner = seeded_runner(config.seed);
    let mut report = PropReport {
        contract: contract.id().to_string(),
        version: contract.version().to_string(),
        seed: config.seed,
        cases: 0,
        rejected: 0,
        invariants: contract
            .invariants()
            .iter()
            .map(|r| r.name().to_string())
            .collect(),
        failure: None,
    };
    let mut rejects_in_a_row = 0;
    while report.cases < config.cases {
        let Some(candidate) = Candidate::draw(&strategy, &mut runner) else {
            break;
        };
        let generated = candidate.current();
        let checked = check_request(contract, &generated);
        if checked == Checked::Invalid {
            report.rejected += 1;
            rejects_in_a_row += 1;
            if rejects_in_a_row >= MAX_REJECTS_IN_A_ROW {
                return Err(PropError::TooManyRejects {
                    contract: contract.id().to_string(),
                    rejected: rejects_in_a_row,
                });
            }
            continue;
        }
        rejects_in_a_row = 0;
        let case_index = report.cases;
        report.cases += 1;
        let Checked::Violated(violation) = checked else {
            continue;
        };
        let (minimal, shrink_steps) =
            candidate.shrink(|g| check(contract, g).is_some_and(|v| v.same_kind(&violation)));
        let minimal_violation = check(contract, &minimal).unwrap_or_else(|| violation.clone());
        report.failure = Some(PropFailure {
            minimal,
            violation: minimal_violation,
            original: generated,
            original_violation: violation,
            case_index,
            shrink_steps,
        });
        break;
    }
    Ok(report)
}
