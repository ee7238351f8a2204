//! Reading what a compiled script reads: the `terms.<name>` it depends on (with positions,
//! for errors), the `facts.<field>` and `params.<field>` it mentions (for traces), and the
//! constructs the sandbox forbids; and, before a script is parsed at all, the map literals
//! too large to parse in reasonable time.

use std::collections::BTreeMap;

use rhai::{ASTNode, Expr, FnCallExpr, FnPtr, Position, Stmt, Token, AST};

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

/// The variable a chain starts from, with its position: `x` for `x`, `x.a`, `x[0].b`; `this`.
pub(crate) fn chain_root(expr: &Expr) -> Option<(&str, Position)> {
    match expr {
        Expr::Variable(v, _, pos) => Some((v.1.as_str(), *pos)),
        Expr::ThisPtr(pos) => Some(("this", *pos)),
        Expr::Dot(b, _, _) | Expr::Index(b, _, _) => chain_root(&b.lhs),
        _ => None,
    }
}

/// The input a chain assigns into (`facts.x = ..`, `params["k"] = ..`, `terms.a.b += ..`):
/// rhai refuses to change a constant's existing fields but lets a script add new ones, which
/// other terms would then see, so writing into an input is refused at load.
fn assigned_input(lhs: &Expr) -> Option<(&'static str, Position)> {
    let (name, pos) = chain_root(lhs)?;
    crate::engine::SCOPE_VARIABLES
        .iter()
        .find(|n| **n == name)
        .map(|n| (*n, pos))
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

/// Why a script may not curry: rhai keeps curried arguments in the function pointer, a
/// container none of its size limits measures, so `loop { p = p.curry(1) }` grows (and copies)
/// it without bound.
const CURRY_REFUSED: &str = "`curry` (curried arguments escape the sandbox's size limits; pass the values as arguments, or capture them in a closure)";

/// The function name of the closure `call` curries, when `call` is the `curry` rhai builds
/// for a closure written right there (`|x| x < limit`): its first argument is the closure's
/// own function pointer, and its curried values, one per capture, are fixed by the source.
pub(crate) fn curried_closure(call: &FnCallExpr) -> Option<String> {
    match call.args.first() {
        Some(Expr::DynamicConstant(value, _)) => value
            .read_lock::<FnPtr>()
            .filter(|f| f.is_anonymous())
            .map(|f| f.fn_name().to_string()),
        _ => None,
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
            // `curry(p, ..)` and `p.curry(..)`, but not the currying of a closure's captures.
            ASTNode::Expr(Expr::FnCall(call, pos)) | ASTNode::Stmt(Stmt::FnCall(call, pos))
                if call.name.as_str() == "curry" && curried_closure(call).is_none() =>
            {
                reads.forbidden.push((CURRY_REFUSED.into(), *pos));
            }
            ASTNode::Expr(Expr::MethodCall(call, pos)) if call.name.as_str() == "curry" => {
                reads.forbidden.push((CURRY_REFUSED.into(), *pos));
            }
            _ => {}
        }
        true
    });
    reads.forbidden.extend(crate::cycles::closure_cycles(ast));
    reads.facts.sort();
    reads.params.sort();
    reads
}

/// Most keys a map literal may have. rhai's parser checks each key of a literal against every
/// earlier one, so a literal's parse time grows with the square of its keys: 9,999 keys (a
/// 79 KB script) took 0.7 s to load in a release build and 5 s in a debug one. A table that
/// large belongs in `[params]`.
pub const MAX_MAP_LITERAL_KEYS: usize = 128;

/// What a load error says of a map literal over [`MAX_MAP_LITERAL_KEYS`] keys.
pub(crate) fn map_literal_refused() -> String {
    format!(
        "map literal with more than {MAX_MAP_LITERAL_KEYS} keys (rhai parses one in time quadratic in its keys; put a large table in `[params]` and read it as `params.<name>`)"
    )
}

/// What is open at a point of a script, for [`scan_tokens`].
enum Open {
    /// A map literal `#{`, where it starts and how many keys it has so far.
    Map(Position, usize),
    /// The `{` of a string interpolation `${`: the string goes on after its `}`.
    Interpolation,
    /// Any other bracket, brace or parenthesis.
    Other,
}

/// What one pass over a script's tokens finds before the parser runs.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct TokenScan {
    /// Where the first map literal with more than [`MAX_MAP_LITERAL_KEYS`] keys starts.
    pub oversized_map: Option<Position>,
    /// The first decimal literal rhai would round, where it is and its text.
    pub inexact_decimal: Option<(Position, String)>,
}

/// Where the first map literal of `script` with more than [`MAX_MAP_LITERAL_KEYS`] keys
/// starts, see [`scan_tokens`].
#[cfg(test)]
pub(crate) fn oversized_map_literal(engine: &rhai::Engine, script: &str) -> Option<Position> {
    scan_tokens(engine, script).oversized_map
}

/// One pass over rhai's own tokens of `script`, before the parser would spend quadratic time
/// on a large map literal or round a long decimal literal:
///
/// - the first map literal with more than [`MAX_MAP_LITERAL_KEYS`] keys (a key is a `:`
///   directly inside the literal: nowhere else does rhai use a lone `:`); the pass stops there;
/// - the first decimal literal rhai would round: its tokenizer reads literals with
///   `Decimal::from_str`, which rounds digits a decimal cannot hold, where every number that
///   comes in is read exactly or refused ([`crate::value::exact_decimal`]).
///
/// A script that does not tokenise is left to the parser, which reports it.
pub(crate) fn scan_tokens(engine: &rhai::Engine, script: &str) -> TokenScan {
    let inputs = [script];
    let (tokens, control) = engine.lex(&inputs);
    let mut scan = TokenScan::default();
    let mut open: Vec<Open> = Vec::new();
    // After the text before a `${`, the next `{` opens the interpolated expression.
    let mut interpolating = false;
    for (token, pos) in tokens {
        match token {
            Token::EOF | Token::LexError(_) => break,
            Token::InterpolatedString(_) => interpolating = true,
            Token::MapStart => open.push(Open::Map(pos, 0)),
            Token::LeftBrace if interpolating => {
                interpolating = false;
                open.push(Open::Interpolation);
            }
            Token::LeftBrace | Token::LeftParen | Token::LeftBracket | Token::QuestionBracket => {
                open.push(Open::Other);
            }
            Token::RightBrace | Token::RightParen | Token::RightBracket => {
                if let Some(Open::Interpolation) = open.pop() {
                    // What the parser does at the end of an interpolation: read on as text.
                    control.borrow_mut().is_within_text = true;
                }
            }
            Token::Colon => {
                if let Some(Open::Map(start, keys)) = open.last_mut() {
                    *keys += 1;
                    if *keys > MAX_MAP_LITERAL_KEYS {
                        scan.oversized_map = Some(*start);
                        break;
                    }
                }
            }
            Token::DecimalConstant(literal)
                if scan.inexact_decimal.is_none() && !literal_is_exact(literal.0, &literal.1) =>
            {
                scan.inexact_decimal = Some((pos, literal.1.to_string()));
            }
            _ => {}
        }
    }
    scan
}

/// Whether rhai's value of a decimal literal is exactly what its text writes. By value:
/// trailing zeros after the point are no digits of it, and rhai may drop those a decimal
/// cannot keep (`79228162514264337593543950335.0`).
fn literal_is_exact(value: rust_decimal::Decimal, text: &str) -> bool {
    let text = text.replace('_', "");
    let text = match text.split_once('.') {
        Some((whole, fraction)) if fraction.ends_with('0') => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                whole.to_string()
            } else {
                format!("{whole}.{fraction}")
            }
        }
        _ => text,
    };
    crate::value::exact_decimal(&text) == Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_decimal_literals_rhai_would_round_are_found() {
        let engine = rhai::Engine::new_raw();
        let found = |s: &str| scan_tokens(&engine, s).inexact_decimal;
        assert_eq!(found("0.1 + 12.50 + 1_000.000_1 + -2.25"), None);
        // rhai keeps the value of the largest decimal written with `.0`, if not its scale.
        assert_eq!(found("79228162514264337593543950335.0 + 1.0"), None);
        assert_eq!(
            found("let a = 1;\nlet b = 1.00000000000000000000000000001 == 1;"),
            Some((
                Position::new(2, 9),
                "1.00000000000000000000000000001".into()
            ))
        );
        assert_eq!(
            found("`${1.00000000000000000000000000001}`").map(|f| f.1),
            Some("1.00000000000000000000000000001".into())
        );
    }

    fn literal(keys: usize) -> String {
        let body: String = (0..keys).map(|i| format!("k{i}: {i}, ")).collect();
        format!("#{{{body}}}")
    }

    #[test]
    fn map_literals_over_the_key_limit_are_found_where_they_start() {
        let engine = rhai::Engine::new_raw();
        assert_eq!(
            oversized_map_literal(&engine, &literal(MAX_MAP_LITERAL_KEYS)),
            None
        );
        let script = format!("let a = 1;\nlet m = {};", literal(MAX_MAP_LITERAL_KEYS + 1));
        assert_eq!(
            oversized_map_literal(&engine, &script),
            Some(Position::new(2, 9))
        );
    }

    #[test]
    fn keys_of_nested_literals_and_interpolations_count_where_they_belong() {
        let engine = rhai::Engine::new_raw();
        // Many small literals: no single one is over the limit.
        let many: String = (0..MAX_MAP_LITERAL_KEYS)
            .map(|i| format!("#{{ a: {i}, b: #{{ c: [1, 2], d: `x${{#{{e: 1}}.e}}y: z` }} }};\n"))
            .collect();
        assert_eq!(oversized_map_literal(&engine, &many), None);
        // Keys after an interpolated string, a nested literal and a block are still counted.
        let keys: String = (0..MAX_MAP_LITERAL_KEYS)
            .map(|i| format!("k{i}: `a${{i}}b: ${{ #{{ x: 1 }} }}`, "))
            .collect();
        let script = format!("let i = 1; #{{ first: if i > 0 {{ 1 }} else {{ 2 }}, {keys} }}");
        assert_eq!(
            oversized_map_literal(&engine, &script),
            Some(Position::new(1, 12))
        );
    }
}
