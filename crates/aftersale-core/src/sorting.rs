//! `array.sort(comparer)` and `array.sort_by(comparer)` for scripts, replacing rhai's: rhai's
//! own version swallows every error the comparer raises (a `throw`, a limit) and leaves the
//! array silently unsorted, a wrong answer; this one fails the term with the comparer's error.
//! A merge sort, so a comparer that is not a total order gives some order, never a panic.

use rhai::{Array, Dynamic, EvalAltResult, FnPtr, NativeCallContext, Position};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// Whether `a` must come after `b`, by the script's comparer (an integer: > 0 means after;
/// or a boolean: `true` means `a` first, as rhai accepts).
fn after(ctx: &NativeCallContext, comparer: &FnPtr, a: &Dynamic, b: &Dynamic) -> Fallible<bool> {
    let result = comparer.call_raw(ctx, None, [a.clone(), b.clone()])?;
    if let Ok(i) = result.as_int() {
        return Ok(i > 0);
    }
    if let Ok(first) = result.as_bool() {
        return Ok(!first);
    }
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(format!(
            "a sort comparer must return an integer (or a boolean), got {}",
            result.type_name()
        )),
        Position::NONE,
    )))
}

/// Stable merge sort of `items` by the script's comparer; stops at the comparer's first error.
fn merge_sort(
    ctx: &NativeCallContext,
    comparer: &FnPtr,
    items: Vec<Dynamic>,
) -> Fallible<Vec<Dynamic>> {
    if items.len() <= 1 {
        return Ok(items);
    }
    let mut left = items;
    let right = left.split_off(left.len() / 2);
    let left = merge_sort(ctx, comparer, left)?;
    let right = merge_sort(ctx, comparer, right)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(a), Some(b)) = (l.peek(), r.peek()) {
        let next = if after(ctx, comparer, a, b)? {
            r.next()
        } else {
            l.next()
        };
        out.extend(next);
    }
    out.extend(l);
    out.extend(r);
    Ok(out)
}

/// Registers `sort(comparer)` and `sort_by(comparer)` over rhai's versions.
pub(crate) fn register(engine: &mut rhai::Engine) {
    for name in ["sort", "sort_by"] {
        engine.register_fn(
            name,
            |ctx: NativeCallContext, array: &mut Array, comparer: FnPtr| -> Fallible<()> {
                let items = std::mem::take(array);
                let sorted = merge_sort(&ctx, &comparer, items.clone());
                match sorted {
                    Ok(sorted) => {
                        *array = sorted;
                        Ok(())
                    }
                    Err(e) => {
                        *array = items;
                        Err(e)
                    }
                }
            },
        );
    }
}
