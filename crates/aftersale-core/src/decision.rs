//! What evaluation takes ([`Request`]) and gives ([`Decision`], with an optional trace).

use serde::{Deserialize, Serialize};

use crate::time::DateTime;

/// One evaluation request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The facts, a JSON object.
    pub facts: serde_json::Value,
    /// The evaluation instant (`as_of` in scripts). Never the clock.
    pub as_of: DateTime,
    /// Whether to record a trace of every term evaluated.
    pub trace: bool,
    /// Terms to decide; `None` means the contract's outputs.
    pub outputs: Option<Vec<String>>,
}

impl Request {
    /// A request for the contract's outputs, without a trace.
    pub fn new(facts: serde_json::Value, as_of: DateTime) -> Self {
        Self {
            facts,
            as_of,
            trace: false,
            outputs: None,
        }
    }

    /// Asks for (or not) a trace.
    #[must_use]
    pub fn with_trace(mut self, trace: bool) -> Self {
        self.trace = trace;
        self
    }

    /// Asks for these terms instead of the contract's outputs.
    #[must_use]
    pub fn with_outputs<I, S>(mut self, outputs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.outputs = Some(outputs.into_iter().map(Into::into).collect());
        self
    }
}

/// The result of one evaluation: `{"contract", "version", "as_of", "outputs", "trace"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The contract's id.
    pub contract: String,
    /// The contract's version.
    pub version: String,
    /// The evaluation instant, RFC 3339.
    pub as_of: String,
    /// Each requested term's value, in the order requested.
    pub outputs: serde_json::Map<String, serde_json::Value>,
    /// Every term evaluated, in order; present only when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Vec<TraceEntry>>,
}

/// One term's evaluation, for explaining a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// The term.
    pub term: String,
    /// Its value.
    pub value: serde_json::Value,
    /// The terms it read (names), in name order.
    pub reads: Vec<String>,
    /// The top-level facts its script mentions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<String>,
    /// The params its script mentions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
    /// How long it took, in nanoseconds.
    pub duration_ns: u64,
    /// What it printed with `print` or `debug`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
}
