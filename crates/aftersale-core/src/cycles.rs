//! Refusing, at load, the scripts whose closures could come to hold themselves.
//!
//! rhai's closures capture variables by sharing them: the variable and every closure that
//! captured it hold one reference-counted cell. A closure stored, directly or through other
//! values, in a variable it captures holds itself and is never freed: every evaluation would
//! leak it and everything it captures (`fuzz/README.md`, finding 3), and a server or a batch
//! would grow until it died. A cell can come to hold such a closure only through a change made
//! after it was shared, so a script is refused when a captured variable can change after a
//! capture:
//!
//! - a change written after the capture, or inside a loop around both, in the same function
//!   (or both in the script's main body);
//! - a change inside a closure to a variable that closure captured (its body runs after the
//!   capture, as often as it is called);
//! - a change to `this` anywhere, in a script that captures at all: `map`, `filter`,
//!   `for_each` and the like bind `this` to an element of the array they are called on.
//!
//! A change is an assignment into the variable (`v = ..`, `v += ..`, `v[i] = ..`, `v.x = ..`),
//! a call of a method that stores an argument (`v.push(..)`, `push(v, ..)`, `v.mixin(..)`,
//! ...), or a call of one of the script's own functions as a method of it (`v.f(..)`, whose
//! body may change `this`), and it counts only when what it stores could bring a closure in:
//! another variable, `this` or a closure literal (`count += 1` inside a closure is fine). A
//! read never is: rhai copies a shared value when it reads one (`let w = v`, `[v]`, `f(v)`
//! hold copies), so a cell is reached only through its name.
//!
//! The check goes by name, so it also refuses a few scripts that would not leak (a name
//! declared again, a change that stores no closure): a load error naming the place, instead
//! of a leak nobody sees. The usual captures stay allowed: `xs.filter(|x| x < limit)`, a list
//! built first and captured after, a `let` inside a loop captured in the same iteration.

use std::collections::{BTreeMap, BTreeSet};

use rhai::{ASTNode, Expr, Position, Stmt, AST};

use crate::deps::{chain_root, curried_closure};

/// Methods of rhai's arrays and maps that store an argument in the value they are called on,
/// and `for_each`, whose callback may change each element through `this`.
const STORING_METHODS: [&str; 9] = [
    "push",
    "insert",
    "append",
    "pad",
    "set",
    "splice",
    "mixin",
    "fill_with",
    "for_each",
];

/// What one function body (or the main script) does with the variables its closures capture.
#[derive(Default)]
struct Unit {
    /// The function this body is, `None` for the main script.
    name: Option<String>,
    captures: Vec<Site>,
    changes: Vec<Site>,
}

/// A capture or a change of a variable, where it is and inside which loops.
struct Site {
    name: String,
    pos: Position,
    /// The loop statements around it, by address (identity within one walk).
    loops: Vec<usize>,
}

/// A change found in a script: the variable, where, and the expressions whose values it
/// stores (an assignment's right-hand side, a method's arguments).
struct Changed<'p> {
    name: &'p str,
    pos: Position,
    stored: Vec<&'p Expr>,
}

/// The change the last node of `path` makes, if it is one (see the module doc).
fn change_at<'p>(path: &'p [ASTNode], script_fns: &BTreeSet<String>) -> Option<Changed<'p>> {
    let stores = |name: &str| STORING_METHODS.contains(&name) || script_fns.contains(name);
    let (name, pos, stored) = match path.last()? {
        ASTNode::Stmt(Stmt::Assignment(a)) => {
            let (name, pos) = chain_root(&a.1.lhs)?;
            (name, pos, vec![&a.1.rhs])
        }
        // `v.a.push(x)`: the method call ends a chain of `.` and `[]` whose root is changed.
        ASTNode::Expr(Expr::MethodCall(call, _)) if stores(call.name.as_str()) => {
            let chain = path
                .iter()
                .rev()
                .skip(1)
                .take_while(|n| matches!(n, ASTNode::Expr(Expr::Dot(..) | Expr::Index(..))))
                .last()?;
            let (name, pos) = match chain {
                ASTNode::Expr(e) => chain_root(e)?,
                _ => return None,
            };
            (name, pos, call.args.iter().collect())
        }
        // `push(v, x)`: rhai passes a variable first argument by reference, as a method's.
        ASTNode::Expr(Expr::FnCall(call, _)) | ASTNode::Stmt(Stmt::FnCall(call, _))
            if STORING_METHODS.contains(&call.name.as_str()) =>
        {
            match call.args.first()? {
                Expr::Variable(v, _, pos) => {
                    (v.1.as_str(), *pos, call.args.iter().skip(1).collect())
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(Changed { name, pos, stored })
}

/// True when storing the values of `stored` into `name` could store a closure that captured
/// `name`. Until a first such store, nothing reachable from the variable refers to its own
/// cell; a value made of constants, operators, calls and the variable's own (copied) value
/// cannot either. Only another variable (which may hold such a closure, or a closure that
/// makes one), `this`, or a closure literal can bring one in.
fn may_store_a_closure(name: &str, stored: &[&Expr]) -> bool {
    stored.iter().any(|expr| {
        let mut found = false;
        expr.walk(&mut Vec::new(), &mut |path: &[ASTNode]| {
            found = match path.last() {
                Some(ASTNode::Expr(Expr::Variable(v, _, _))) => v.1.as_str() != name,
                Some(ASTNode::Expr(Expr::ThisPtr(_))) => true,
                Some(ASTNode::Expr(Expr::DynamicConstant(value, _))) => value.is_fnptr(),
                _ => false,
            };
            !found
        });
        found
    })
}

/// The closure a capture belongs to, when the last node of `path` is a captured variable:
/// an argument of the `curry` call rhai builds for a closure literal, after the closure's
/// own function pointer.
fn captured_into(path: &[ASTNode]) -> Option<String> {
    match path.len().checked_sub(2).and_then(|i| path.get(i))? {
        ASTNode::Expr(Expr::FnCall(call, _)) | ASTNode::Stmt(Stmt::FnCall(call, _))
            if call.name.as_str() == "curry" =>
        {
            curried_closure(call)
        }
        _ => None,
    }
}

/// The loop statements on `path`, by address (identity within one walk).
fn loops_on(path: &[ASTNode]) -> Vec<usize> {
    path.iter()
        .filter_map(|node| match node {
            ASTNode::Stmt(s @ (Stmt::While(..) | Stmt::Do(..) | Stmt::For(..))) => {
                Some(std::ptr::from_ref::<Stmt>(s) as usize)
            }
            _ => None,
        })
        .collect()
}

/// `a` comes after `b` in the source (an unknown position counts as after).
fn after(a: Position, b: Position) -> bool {
    match (a.line(), b.line()) {
        (Some(la), Some(lb)) => (la, a.position().unwrap_or(0)) > (lb, b.position().unwrap_or(0)),
        _ => true,
    }
}

/// What the walk over a script's bodies gathers.
struct Scan {
    /// The script's own functions, which a method call may name (`v.f(x)` may change `v`).
    script_fns: BTreeSet<String>,
    /// Each closure's function name -> the names it captured.
    closures: BTreeMap<String, BTreeSet<String>>,
    /// What is refused, and where.
    refused: Vec<(String, Position)>,
    /// The changes already refused (name, where), so that each is reported once.
    reported: BTreeSet<(String, Position)>,
}

impl Scan {
    /// Records the capture or change the last node of `path` is into `unit`; a closure stored
    /// into what it captures (the change encloses the capture) is refused at once.
    fn visit(&mut self, unit: &mut Unit, path: &[ASTNode]) {
        if let Some(change) = change_at(path, &self.script_fns) {
            if may_store_a_closure(change.name, &change.stored) {
                unit.changes.push(Site {
                    name: change.name.to_string(),
                    pos: change.pos,
                    loops: loops_on(path),
                });
            }
        }
        let Some(ASTNode::Expr(Expr::Variable(v, _, pos))) = path.last() else {
            return;
        };
        let Some(closure) = captured_into(path) else {
            return;
        };
        let name = v.1.as_str();
        self.closures
            .entry(closure)
            .or_default()
            .insert(name.to_string());
        // `f = || f`, `a.push(|| a)`: the change that stores the closure encloses its capture.
        for end in (1..path.len().saturating_sub(1)).rev() {
            if let Some(change) = path.get(..end).and_then(|p| change_at(p, &self.script_fns)) {
                if change.name == name && self.reported.insert((name.to_string(), change.pos)) {
                    self.refused.push((
                        format!("a closure stored in `{name}`, the variable it captures (it would never be freed; pass the value as a parameter instead)"),
                        *pos,
                    ));
                }
            }
        }
        unit.captures.push(Site {
            name: name.to_string(),
            pos: *pos,
            loops: loops_on(path),
        });
    }

    /// Why `change`, in `unit`, could make a closure hold itself, if it could.
    fn why(&self, unit: &Unit, change: &Site, captures_at_all: bool) -> Option<String> {
        let captured_by_this_closure = unit
            .name
            .as_ref()
            .and_then(|n| self.closures.get(n))
            .is_some_and(|names| names.contains(&change.name));
        if change.name == "this" {
            captures_at_all.then(|| {
                "a change to `this` in a script whose closures capture variables (callbacks such as `map` bind `this` to an element of what they are called on, which could come to hold a closure that captured it; such a closure would never be freed)".to_string()
            })
        } else if captured_by_this_closure {
            Some(format!(
                "a change to `{}` inside a closure that captured it (a closure stored in what it captures would never be freed; return the new value instead)",
                change.name
            ))
        } else {
            unit.captures
                .iter()
                .find(|c| {
                    c.name == change.name
                        && (after(change.pos, c.pos)
                            || c.loops.iter().any(|l| change.loops.contains(l)))
                })
                .map(|c| {
                    format!(
                        "a change to `{}` after a closure captured it{} (a closure stored in what it captures would never be freed; finish `{}` before the closure, or pass it as a parameter)",
                        change.name,
                        c.pos.line().map_or(String::new(), |l| format!(" on line {l}")),
                        change.name
                    )
                })
        }
    }
}

/// The places where `ast` could make a closure hold itself (see the module doc): what, where.
pub(crate) fn closure_cycles(ast: &AST) -> Vec<(String, Position)> {
    let mut scan = Scan {
        script_fns: ast.iter_functions().map(|f| f.name.to_string()).collect(),
        closures: BTreeMap::new(),
        refused: Vec::new(),
        reported: BTreeSet::new(),
    };
    let mut main = Unit::default();
    let mut path = Vec::new();
    for stmt in ast.statements() {
        stmt.walk(&mut path, &mut |p: &[ASTNode]| {
            scan.visit(&mut main, p);
            true
        });
    }
    let mut units = vec![main];
    for f in ast.iter_functions() {
        let one = ast.clone_functions_only_filtered(|_, _, _, name, arity| {
            name == f.name && arity == f.params.len()
        });
        let mut unit = Unit {
            name: Some(f.name.to_string()),
            ..Unit::default()
        };
        one.walk(&mut |p: &[ASTNode]| {
            scan.visit(&mut unit, p);
            true
        });
        units.push(unit);
    }

    let captures_at_all = units.iter().any(|u| !u.captures.is_empty());
    for unit in &units {
        for change in &unit.changes {
            if scan.reported.contains(&(change.name.clone(), change.pos)) {
                continue;
            }
            if let Some(why) = scan.why(unit, change, captures_at_all) {
                scan.reported.insert((change.name.clone(), change.pos));
                scan.refused.push((why, change.pos));
            }
        }
    }
    scan.refused
}
