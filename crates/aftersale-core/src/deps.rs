//! Reading what a compiled script reads: the `terms.<name>` it depends on (with positions,
//! for errors), the `facts.<field>` and `params.<field>` it mentions (for traces), and the
//! constructs the sandbox forbids.

use std::collections::BTreeMap;

use rhai::{ASTNode, Expr, Position, Stmt, AST};

/// Everything one script reads, found statically in its AST.
#[derive(Debug, Clone, Default)]
pub struct Reads {
    /// Term name -> the first position where it is read.
    pub terms: BTreeMap<String, Position>,
    /// Top-level fact fields mentioned (`facts.odometer_km` -> `odometer_km`).
    pub facts: Vec<String>,
    /// Top-level params mentioned.
    pub params: Vec<String>,
    /// Positions where `terms` is used without a literal term name.
    pub dynamic_terms: Vec<Position>,
    /// Forbidden constructs: (what, where).
    pub forbidden: Vec<(String, Position)>,
}

/// The name a chain's right-hand side starts with: `terms.a.b` -> `a`, `terms.a[0]` -> `a`.
fn leading_property(rhs: &Expr) -> Option<&str> {
    match rhs {
        Expr::Property(p, _) => Some(p.2.as_str()),
        Expr::Dot(b, _, _) | Expr::Index(b, _, _) => leading_property(&b.lhs),
        _ => None,
    }
}

/// The literal name used to index: `terms["a"]` -> `a`.
fn literal_index(rhs: &Expr) -> Option<&str> {
    match rhs {
        Expr::StringConstant(s, _) => Some(s.as_str()),
        Expr::Dot(b, _, _) | Expr::Index(b, _, _) => literal_index(&b.lhs),
        _ => None,
    }
}

/// The field a variable named `var` is accessed with, if the parent node does so.
fn field_of<'a>(var: &Expr, parent: Option<&ASTNode<'a>>) -> Option<&'a str> {
    match parent? {
        ASTNode::Expr(Expr::Dot(b, _, _)) if std::ptr::eq(&b.lhs, var) => leading_property(&b.rhs),
        ASTNode::Expr(Expr::Index(b, _, _)) if std::ptr::eq(&b.lhs, var) => literal_index(&b.rhs),
        _ => None,
    }
}

/// The input a chain assigns into (`facts.x = ..`, `params["k"] = ..`, `terms.a.b += ..`):
/// rhai refuses to change a constant's existing fields but lets a script add new ones, which
/// other terms would then see, so writing into an input is refused at load.
fn assigned_input(lhs: &Expr) -> Option<(&'static str, Position)> {
    match lhs {
        Expr::Variable(v, _, pos) => crate::engine::SCOPE_VARIABLES
            .iter()
            .find(|n| **n == v.1.as_str())
            .map(|n| (*n, *pos)),
        Expr::Dot(b, _, _) | Expr::Index(b, _, _) => assigned_input(&b.lhs),
        _ => None,
    }
}

/// True when the node is an argument of the `curry` call rhai builds for a closure's
/// captured variables.
fn is_capture(parent: Option<&ASTNode>) -> bool {
    match parent {
        Some(ASTNode::Expr(Expr::FnCall(call, _)) | ASTNode::Stmt(Stmt::FnCall(call, _))) => {
            call.name.as_str() == "curry"
        }
        _ => false,
    }
}

fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

/// Walks `ast` (including script functions) and records what it reads.
pub fn read_dependencies(ast: &AST) -> Reads {
    let mut reads = Reads::default();
    ast.walk(&mut |path: &[ASTNode]| {
        let Some(node) = path.last() else { return true };
        let parent = path.len().checked_sub(2).and_then(|i| path.get(i));
        match node {
            ASTNode::Expr(var @ Expr::Variable(v, _, pos)) => {
                let field = field_of(var, parent);
                match (v.1.as_str(), field) {
                    ("terms", Some(name)) => {
                        reads.terms.entry(name.to_string()).or_insert(*pos);
                    }
                    // A closure capturing `terms`: its body is walked too and must name terms.
                    ("terms", None) if is_capture(parent) => {}
                    ("terms", None) => reads.dynamic_terms.push(*pos),
                    ("facts", Some(name)) => push_unique(&mut reads.facts, name),
                    ("params", Some(name)) => push_unique(&mut reads.params, name),
                    _ => {}
                }
            }
            ASTNode::Stmt(Stmt::Assignment(a)) => {
                if let Some((name, pos)) = assigned_input(&a.1.lhs) {
                    reads.forbidden.push((format!("assignment to `{name}` (inputs are read-only; copy into a `let` first)"), pos));
                }
            }
            ASTNode::Stmt(Stmt::Import(_, pos)) => reads.forbidden.push(("`import`".into(), *pos)),
            ASTNode::Expr(Expr::FnCall(call, pos)) if call.name.as_str() == "eval" => {
                reads.forbidden.push(("`eval`".into(), *pos));
            }
            _ => {}
        }
        true
    });
    reads.facts.sort();
    reads.params.sort();
    reads
}
