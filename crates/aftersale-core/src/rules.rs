//! Named boolean rules of `contract.toml`: `[constraints]` (what valid facts satisfy, checked
//! before any term runs) and `[invariants]` (what every decision keeps, checked by the QA
//! tools and by test cases that name them).
//!
//! ```toml
//! [constraints]
//! claim_after_delivery = "!facts.contains(\"claim_date\") || date(facts.claim_date) >= date(facts.in_service_date)"
//!
//! [invariants.covered_amount_within_cost]
//! expr = "outputs.coverage.covered_amount <= facts.repair_cost"
//! description = "The carmaker never pays more than the repair cost."
//! ```
//!
//! A rule is a rhai script (usually one expression) compiled with the contract's sandbox and
//! plugins. Constraints see `facts`, `params` and `as_of`; invariants also see `outputs`, the
//! decision's outputs. A rule holds when it returns `true`; `false`, another value or an
//! error is a failure.

use std::collections::BTreeMap;

use rhai::{Dynamic, Scope, AST};
use serde::Serialize;
use toml::Spanned;

use crate::deps::read_dependencies;
use crate::error::{LoadError, Location};
use crate::manifest::{manifest_location, MANIFEST_FILE};
use crate::runner::ScriptCache;

/// The variables a rule sees, in the order they are pushed.
pub(crate) const RULE_VARIABLES: [&str; 4] = ["facts", "params", "as_of", "outputs"];

/// A compiled constraint or invariant.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) expr: String,
    pub(crate) location: Location,
    pub(crate) ast: AST,
    pub(crate) cache: ScriptCache,
}

/// A rule's identity, for listings and reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Its name.
    pub name: String,
    /// Its expression as written.
    pub expr: String,
    /// What it means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A rule that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFailure {
    /// The rule's name.
    pub name: String,
    /// Why: `returned false`, or the error it raised.
    pub message: String,
}

impl std::fmt::Display for RuleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` {}", self.name, self.message)
    }
}

impl Rule {
    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Its expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Where it is written.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Name, expression and description.
    pub fn info(&self) -> RuleInfo {
        RuleInfo {
            name: self.name.clone(),
            expr: self.expr.clone(),
            description: self.description.clone(),
        }
    }

    /// Runs the rule in `scope`, whose first `base` entries are the inputs (a prefix of
    /// [`RULE_VARIABLES`]); whatever the previous rule declared is dropped first. `None` when
    /// it holds.
    pub(crate) fn check(
        &self,
        engine: &rhai::Engine,
        scope: &mut Scope<'static>,
        base: usize,
    ) -> Option<RuleFailure> {
        scope.rewind(base);
        let message = match self.cache.eval(engine, &self.ast, scope) {
            Ok(v) => match v.as_bool() {
                Ok(true) => return None,
                Ok(false) => "returned false".to_string(),
                Err(t) => format!("returned a {t}, not a boolean"),
            },
            Err(e) => {
                let inner = e.unwrap_inner();
                let mut text = match inner {
                    rhai::EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
                    other => other.to_string(),
                };
                if let Some(cut) = text.rfind(" (line ") {
                    text.truncate(cut);
                }
                format!("failed: {text}")
            }
        };
        Some(RuleFailure {
            name: self.name.clone(),
            message,
        })
    }
}

/// The scope rules compile against.
pub(crate) fn rule_compile_scope() -> Scope<'static> {
    let mut scope = Scope::new();
    for name in RULE_VARIABLES {
        scope.push(name, Dynamic::UNIT);
    }
    scope
}

/// Compiles the `[constraints]` or `[invariants]` table (`section` names it).
pub(crate) fn compile_rules(
    section: &str,
    table: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    text: &str,
    engine: &rhai::Engine,
    errors: &mut Vec<LoadError>,
) -> Vec<Rule> {
    let scope = rule_compile_scope();
    let mut rules = Vec::new();
    for (name, value) in table {
        let field = format!("{section}.{}", name.get_ref());
        let location = manifest_location(text, value.span());
        let (expr, description) = match value.get_ref() {
            toml::Value::String(s) => (s.clone(), None),
            toml::Value::Table(t) => {
                let unknown: Vec<&str> = t
                    .keys()
                    .map(String::as_str)
                    .filter(|k| *k != "expr" && *k != "description")
                    .collect();
                if !unknown.is_empty() {
                    errors.push(LoadError::InvalidValue {
                        field: field.clone(),
                        location: location.clone(),
                        message: format!(
                            "unknown key(s) {} (expected `expr`, `description`)",
                            unknown.join(", ")
                        ),
                    });
                }
                match (t.get("expr"), t.get("description")) {
                    (Some(toml::Value::String(e)), d) => {
                        (e.clone(), d.and_then(|d| d.as_str()).map(str::to_string))
                    }
                    _ => {
                        errors.push(LoadError::InvalidValue {
                            field,
                            location,
                            message: "a rule table needs `expr`, a rhai expression as a string"
                                .into(),
                        });
                        continue;
                    }
                }
            }
            _ => {
                errors.push(LoadError::InvalidValue {
                    field,
                    location,
                    message: "a rule is a rhai expression as a string, or { expr, description }"
                        .into(),
                });
                continue;
            }
        };
        let scan = crate::deps::scan_tokens(engine, &expr);
        if scan.oversized_map.is_some() {
            errors.push(LoadError::InvalidValue {
                field,
                location,
                message: format!(
                    "not allowed in a rule: {}",
                    crate::deps::map_literal_refused()
                ),
            });
            continue;
        }
        if let Some((_, literal)) = scan.inexact_decimal {
            errors.push(LoadError::InvalidValue {
                field,
                location,
                message: format!(
                    "decimal literal `{literal}` has more digits than a decimal holds exactly (28 significant digits, 28 decimal places)"
                ),
            });
            continue;
        }
        let ast = match engine.compile_with_scope(&scope, &expr) {
            Ok(ast) => ast,
            Err(e) => {
                errors.push(LoadError::InvalidValue {
                    field,
                    location,
                    message: format!("{} (in the rule, {})", e.err_type(), e.position()),
                });
                continue;
            }
        };
        let reads = read_dependencies(&ast);
        if let Some((what, _)) = reads.forbidden.first() {
            errors.push(LoadError::InvalidValue {
                field,
                location,
                message: format!("not allowed in a rule: {what}"),
            });
            continue;
        }
        if !reads.terms.is_empty() || !reads.dynamic_terms.is_empty() {
            errors.push(LoadError::InvalidValue {
                field,
                location,
                message: "a rule reads `facts`, `params`, `as_of` and (invariants) `outputs`, not `terms`"
                    .into(),
            });
            continue;
        }
        rules.push(Rule {
            name: name.get_ref().clone(),
            description,
            expr,
            location: if location.file.is_empty() {
                Location::file(MANIFEST_FILE)
            } else {
                location
            },
            cache: ScriptCache::new(&ast, true),
            ast,
        });
    }
    rules
}
