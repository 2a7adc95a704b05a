//! The expression depth limit, and a stack for parsing inputs of any length.
//!
//! `sqlparser` parses a chain of infix operators (`a OR b OR c ...`,
//! `x + 1 + 2 ...`, `v::INT::TEXT ...`) in a loop, so the chain's length
//! costs it no stack, but the tree it builds is as deep as the chain is long.
//! Every later phase (planning, compiling, evaluating, dropping, printing) walks
//! that tree recursively, so a deep enough tree overflows a thread's stack.
//!
//! The parser therefore refuses any expression deeper than [`MAX_EXPR_DEPTH`]
//! levels (every node of the tree is one level: an operator, a call, a cast, a
//! CASE, a parenthesis, a column or a literal), right after `sqlparser` built it
//! and before anything else walks it. The check itself stops descending at the
//! limit, so its own recursion is bounded. Every thread that plans, compiles or
//! runs a query is given a stack big enough for a tree at the limit (see
//! `velo-server`'s `threads` module).
//!
//! Until the check has run, an expression can be as deep as its statement has
//! tokens (every node holds at least one token), and dropping it (the refused
//! tree, or the part `sqlparser` built before a syntax error) recurses that
//! deep. [`with_stack_for`] runs the parse of a statement on a stack big enough
//! for that.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Visit, Visitor};
use sqlparser::tokenizer::TokenWithSpan;

use super::tokens::is_trivia;

/// The deepest expression tree an app may hold: see the module documentation.
/// A chain of `n` binary operators (`a OR b OR ...` with `n + 1` terms) is
/// `n + 1` levels deep.
pub const MAX_EXPR_DEPTH: usize = 1024;

/// The stack that planning, compiling or evaluating a query whose expressions
/// are [`MAX_EXPR_DEPTH`] levels deep may take. Measured on a debug build,
/// whose frames are the biggest (the engine's compiler takes about 24 KiB a
/// level there): `check` of such an app needs between 16 and 32 MiB; an
/// optimised build needs a small fraction of that.
pub const EXPR_STACK_SIZE: usize = 48 << 20;

/// Runs `f` with at least [`EXPR_STACK_SIZE`] of stack: on the current thread's
/// stack when that much of it is left, else on a new one (mapped, so only the
/// pages used cost memory). The planner and the engine's compiler run in it, so
/// they are safe on any thread: `main`, a tokio worker, a job thread.
pub fn with_expr_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(EXPR_STACK_SIZE, EXPR_STACK_SIZE, f)
}

/// Whether `expr` is more than `limit` levels deep. Visits at most the nodes
/// within `limit + 1` levels of the root, recursing no deeper than that.
pub(super) fn deeper_than(expr: &Expr, limit: usize) -> bool {
    struct Depth {
        depth: usize,
        limit: usize,
    }
    impl Visitor for Depth {
        type Break = ();
        fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
            self.depth += 1;
            if self.depth > self.limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
    }
    expr.visit(&mut Depth { depth: 0, limit }).is_break()
}

/// Stack bytes one token of a statement may cost while `sqlparser` drops a
/// tree not yet checked (its drop glue recurses through `Box<Expr>`,
/// `Vec<Expr>` and the structs between). Measured in a debug build: 96 bytes a
/// level for chains of OR, `::INT`, `IS NULL` and `IN (1)`, whose levels take
/// 2, 2, 2 and 4 tokens, so at most 48 bytes a token; this is five times that.
const STACK_PER_TOKEN: usize = 256;

/// Stack for the rest of the statement's parse (`sqlparser`'s own recursion is
/// bounded by its recursion limit and grows its stack itself).
const STACK_BASE: usize = 256 * 1024;

/// Runs `f`, the parse of the statement made of `tokens`, on a stack big enough
/// to drop a tree as deep as the statement has tokens: the current one when
/// enough of it is left, else a new one (mapped, so only the pages used cost
/// memory).
pub(super) fn with_stack_for<R>(
    tokens: Vec<TokenWithSpan>,
    f: impl FnOnce(Vec<TokenWithSpan>) -> R,
) -> R {
    let count = tokens.iter().filter(|t| !is_trivia(&t.token)).count();
    let needed = count
        .saturating_mul(STACK_PER_TOKEN)
        .saturating_add(STACK_BASE);
    stacker::maybe_grow(needed, needed, || f(tokens))
}
