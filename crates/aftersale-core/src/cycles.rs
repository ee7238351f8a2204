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

use rhai::{ASTNode, Expr, FnPtr, Position, Stmt, AST};

/// Methods of rhai's arrays and maps that store an argument in the value they are called on.
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
    /// The closure this body belongs to, if it is one: the names it captured are its own.
    captured_by_self: BTreeSet<String>,
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

/// The variable a chain starts from, with its position: `x` for `x`, `x.a`, `x[0].b`; `this`.
fn root(expr: &Expr) -> Option<(&str, Position)> {
    match expr {
        Expr::Variable(v, _, pos) => Some((v.1.as_str(), *pos)),
        Expr::ThisPtr(pos) => Some(("this", *pos)),
        Expr::Dot(b, _, _) | Expr::Index(b, _, _) => root(&b.lhs),
        _ => None,
    }
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
            let (name, pos) = root(&a.1.lhs)?;
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
                ASTNode::Expr(e) => root(e)?,
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
    let parent = path.len().checked_sub(2).and_then(|i| path.get(i))?;
    let call = match parent {
        ASTNode::Expr(Expr::FnCall(call, _)) | ASTNode::Stmt(Stmt::FnCall(call, _)) => call,
        _ => return None,
    };
    if call.name.as_str() != "curry" {
        return None;
    }
    match call.args.first() {
        Some(Expr::DynamicConstant(value, _)) => value
            .read_lock::<FnPtr>()
            .filter(|f| f.is_anonymous())
            .map(|f| f.fn_name().to_string()),
        _ => None,
    }
}

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

/// Walks one body, recording captures and changes into `unit`, and into `closures` which
/// names each closure captured; a closure stored into what it captures is reported at once.
fn scan(
    path: &[ASTNode],
    script_fns: &BTreeSet<String>,
    unit: &mut Unit,
    closures: &mut BTreeMap<String, BTreeSet<String>>,
    refused: &mut Vec<(String, Position)>,
    reported: &mut BTreeSet<(String, Position)>,
) {
    if let Some(change) = change_at(path, script_fns) {
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
    closures
        .entry(closure)
        .or_default()
        .insert(name.to_string());
    // `f = || f`, `a.push(|| a)`: the change that stores the closure encloses its capture.
    for end in (1..path.len().saturating_sub(1)).rev() {
        if let Some(change) = path.get(..end).and_then(|p| change_at(p, script_fns)) {
            if change.name == name && reported.insert((name.to_string(), change.pos)) {
                refused.push((
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

/// The places where `ast` could make a closure hold itself (see the module doc): what, where.
pub(crate) fn closure_cycles(ast: &AST) -> Vec<(String, Position)> {
    let script_fns: BTreeSet<String> = ast.iter_functions().map(|f| f.name.to_string()).collect();
    let mut refused = Vec::new();
    let mut reported = BTreeSet::new();
    let mut closures: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut units: Vec<(Option<String>, Unit)> = Vec::new();

    let mut main = Unit::default();
    let mut path = Vec::new();
    for stmt in ast.statements() {
        stmt.walk(&mut path, &mut |p: &[ASTNode]| {
            scan(
                p,
                &script_fns,
                &mut main,
                &mut closures,
                &mut refused,
                &mut reported,
            );
            true
        });
    }
    units.push((None, main));
    for f in ast.iter_functions() {
        let one = ast.clone_functions_only_filtered(|_, _, _, name, arity| {
            name == f.name && arity == f.params.len()
        });
        let mut unit = Unit::default();
        one.walk(&mut |p: &[ASTNode]| {
            scan(
                p,
                &script_fns,
                &mut unit,
                &mut closures,
                &mut refused,
                &mut reported,
            );
            true
        });
        units.push((Some(f.name.to_string()), unit));
    }

    let captures_at_all = units.iter().any(|(_, u)| !u.captures.is_empty());
    for (name, unit) in &mut units {
        if let Some(captured) = name.as_ref().and_then(|n| closures.get(n)) {
            unit.captured_by_self.clone_from(captured);
        }
    }
    for (_, unit) in &units {
        for change in &unit.changes {
            if reported.contains(&(change.name.clone(), change.pos)) {
                continue;
            }
            let why = if change.name == "this" {
                captures_at_all.then(|| {
                    "a change to `this` in a script whose closures capture variables (callbacks such as `map` bind `this` to an element of what they are called on, which could come to hold a closure that captured it; such a closure would never be freed)".to_string()
                })
            } else if unit.captured_by_self.contains(&change.name) {
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
            };
            if let Some(why) = why {
                reported.insert((change.name.clone(), change.pos));
                refused.push((why, change.pos));
            }
        }
    }
    refused
}
