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

/// The variable a chain starts from: `x` for `x`, `x.a`, `x[0].b`.
fn root_variable(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Variable(v, _, _) => Some(v.1.as_str()),
        Expr::Dot(b, _, _) | Expr::Index(b, _, _) => root_variable(&b.lhs),
        _ => None,
    }
}

/// Methods of rhai's arrays and maps that store an argument in the receiver.
const STORING_METHODS: [&str; 6] = ["push", "insert", "append", "pad", "fill_with", "mixin"];

/// True when a closure capturing `name` (the last node of `path`, a capture) is stored back
/// into `name`: `f = || f`, `f = |n| f.call(n)`, `f.push(|| f)`, `f[0] = || f`. rhai's closures
/// hold their captures by reference count, so such a closure holds itself and is never freed:
/// every evaluation would leak it and everything it captures. Cycles through another variable
/// (`let g = || f; f = g;`) are not seen here.
fn stores_itself(path: &[ASTNode], name: &str) -> bool {
    path.iter().rev().skip(1).any(|node| match node {
        ASTNode::Stmt(Stmt::Assignment(a)) => root_variable(&a.1.lhs) == Some(name),
        // Only the methods that keep an argument: `items.map(|x| x / items.len())` is fine.
        ASTNode::Expr(Expr::Dot(b, _, _)) => {
            matches!(&b.rhs, Expr::MethodCall(call, _) if STORING_METHODS.contains(&call.name.as_str()))
                && root_variable(&b.lhs) == Some(name)
        }
        _ => false,
    })
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
                if is_capture(parent) && stores_itself(path, v.1.as_str()) {
                    reads.forbidden.push((
                        format!("a closure stored in `{}`, the variable it captures (it would never be freed; pass the value as a parameter instead)", v.1),
                        *pos,
                    ));
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
