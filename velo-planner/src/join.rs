//! Joins (SPEC §2): which kind a `JOIN` is, and its plan.
//!
//! The kind follows from the inputs. A right input declared as a table
//! (`'NAME.kind' = 'table'` with `'NAME.key'`) makes a stream-table join: each
//! stream row looks up the table's row for its key, so the ON must equate the
//! table's whole key, and nothing else (`o.customer_id = c.id`). Every other
//! join is of two streams (interval, window and regular joins), which are not
//! supported yet and are refused with their position.
//!
//! What can be checked without the inputs' schemas is checked here: an ON
//! without an equality, an ON that does not cover the table's key, RIGHT and
//! FULL joins, a table read in FROM. Which input a bare column belongs to, and
//! whether the key types agree, is found when the job is bound against its
//! schemas (`velo_engine::join::compile_joins`).

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, BinaryOperator, Expr, Spanned};
use velo_ast::{JoinKind, SelectQuery, Span};

use crate::error::{Error, Result};
use crate::plan::SourcePlan;

/// INNER or LEFT: what a stream row without a match gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    /// No row.
    Inner,
    /// The stream row with NULLs for the table's columns.
    Left,
}

/// One stream-table join of a job, in the order the joins are written.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinPlan {
    pub join_type: JoinType,
    /// The table source.
    pub table: SourcePlan,
    /// `NAME.key`: the table's key columns, as declared.
    pub table_key: Vec<String>,
    /// For each key column, in `table_key`'s order, the expression over the
    /// rows joined so far (the stream's, then earlier tables') that equals it.
    pub lookup: Vec<Expr>,
    /// The `JOIN ... ON ...` clause.
    pub span: Span,
    /// The ON condition.
    pub on_span: Span,
}

impl JoinPlan {
    /// The names the table's columns can be qualified with: its alias if it
    /// has one, else its name.
    pub fn qualifier(&self) -> &str {
        self.table.alias.as_deref().unwrap_or(&self.table.name)
    }
}

/// The name an input's columns are qualified with in a join: its alias, else
/// its name (after `FROM orders o`, `orders.x` is not a column, as in SQL).
pub fn qualifier_of(source: &SourcePlan) -> &str {
    source.alias.as_deref().unwrap_or(&source.name)
}

/// The right input of a join, as far as the planner needs it.
pub(crate) struct JoinInput {
    pub source: SourcePlan,
    /// `Some` for a table: its key columns.
    pub table_key: Option<Vec<String>>,
}

/// Plans the joins of `query`, whose right inputs are `inputs` (in order);
/// `from_is_table` says whether FROM reads a table.
pub(crate) fn plan_joins(
    query: &SelectQuery,
    inputs: Vec<JoinInput>,
    from_is_table: bool,
) -> Result<Vec<JoinPlan>> {
    if from_is_table {
        return Err(Error::Unsupported {
            what: format!(
                "reading the table '{}' in FROM (a table is joined to a stream: write it after JOIN)",
                query.from.name.value
            ),
            span: query.from.span,
        });
    }
    let mut plans = Vec::with_capacity(inputs.len());
    for (join, input) in query.joins.iter().zip(inputs) {
        let join_type = match join.kind {
            JoinKind::Inner => JoinType::Inner,
            JoinKind::Left => JoinType::Left,
            JoinKind::Right | JoinKind::FullOuter => {
                return Err(Error::Invalid {
                    message: "only INNER and LEFT joins are defined (SPEC §2): write the stream first and use LEFT JOIN".to_string(),
                    span: join.span,
                });
            }
        };
        let conjuncts = conjuncts(&join.on);
        if !conjuncts.iter().any(|c| is_equality(c)) {
            return Err(Error::Invalid {
                message: "a join's ON needs an equality between its inputs (a = b)".to_string(),
                span: join.on.span(),
            });
        }
        let Some(table_key) = input.table_key else {
            let name = &input.source.name;
            if join_type == JoinType::Left && is_regular(&conjuncts) {
                return Err(Error::Invalid {
                    message: format!(
                        "LEFT is not defined for a regular join ('{name}' is a stream and the ON has only equalities): a row without a match could still meet one later, so its NULL row would never be final; bound the time in ON (an interval join), join on window_start and window_end (a window join), or use INNER"
                    ),
                    span: join.span,
                });
            }
            return Err(Error::Invalid {
                message: format!(
                    "joining two streams (an interval, window or regular join) is not supported yet; '{name}' is a stream: to join it as a table, declare '{name}.kind' = 'table' and '{name}.key'"
                ),
                span: join.span,
            });
        };
        let qualifier = qualifier_of(&input.source).to_string();
        let mut lookup: Vec<Option<Expr>> = vec![None; table_key.len()];
        for c in conjuncts {
            let Some((key, other)) = key_equality(c, &qualifier, &table_key) else {
                if is_equality(c) {
                    return Err(Error::Invalid {
                        message: format!(
                            "a stream-table join's ON equates the table's key ({}) with expressions over the stream; this equality is not one of those (filter in WHERE instead)",
                            table_key.join(", ")
                        ),
                        span: c.span(),
                    });
                }
                return Err(Error::Unsupported {
                    what: format!(
                        "a condition other than an equality on a key column of the table '{qualifier}' in a stream-table join's ON (filter in WHERE instead)"
                    ),
                    span: c.span(),
                });
            };
            if lookup[key].is_some() {
                return Err(Error::Invalid {
                    message: format!(
                        "the key column '{}' of the table '{qualifier}' is equated twice",
                        table_key[key]
                    ),
                    span: c.span(),
                });
            }
            lookup[key] = Some(other.clone());
        }
        let missing: Vec<&str> = table_key
            .iter()
            .zip(&lookup)
            .filter(|(_, l)| l.is_none())
            .map(|(k, _)| k.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(Error::Invalid {
                message: format!(
                    "a stream-table join's ON must equate the table's whole key ({}); missing: {}",
                    table_key.join(", "),
                    missing.join(", ")
                ),
                span: join.on.span(),
            });
        }
        plans.push(JoinPlan {
            join_type,
            table: input.source,
            table_key,
            lookup: lookup.into_iter().flatten().collect(),
            span: join.span,
            on_span: join.on.span(),
        });
    }
    Ok(plans)
}

/// The terms of an AND chain (parentheses looked through).
fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Nested(inner) => conjuncts(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut v = conjuncts(left);
            v.extend(conjuncts(right));
            v
        }
        other => vec![other],
    }
}

/// A regular join's ON (SPEC §2): equalities only, none of them on the
/// window columns (which make a window join).
fn is_regular(conjuncts: &[&Expr]) -> bool {
    let names_window = |e: &Expr| {
        visit_expressions(e, |e| {
            let name = match e {
                Expr::Identifier(id) => Some(&id.value),
                Expr::CompoundIdentifier(ids) => ids.last().map(|i| &i.value),
                _ => None,
            };
            if name.is_some_and(|n| {
                n.eq_ignore_ascii_case("window_start") || n.eq_ignore_ascii_case("window_end")
            }) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .is_break()
    };
    conjuncts.iter().all(|c| is_equality(c) && !names_window(c))
}

fn is_equality(e: &Expr) -> bool {
    matches!(
        e,
        Expr::BinaryOp {
            op: BinaryOperator::Eq,
            ..
        }
    )
}

/// `k = e` or `e = k` where `k` is a key column of the table (qualified with
/// `qualifier`, or bare) and `e` does not read the table: the key's index and
/// `e`.
fn key_equality<'e>(e: &'e Expr, qualifier: &str, key: &[String]) -> Option<(usize, &'e Expr)> {
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = e
    else {
        return None;
    };
    let key_of = |side: &Expr| -> Option<usize> {
        let name = match side {
            Expr::CompoundIdentifier(ids)
                if ids.len() == 2 && ids[0].value.eq_ignore_ascii_case(qualifier) =>
            {
                &ids[1].value
            }
            Expr::Identifier(id) => &id.value,
            _ => return None,
        };
        key.iter().position(|k| k.eq_ignore_ascii_case(name))
    };
    match (key_of(left), key_of(right)) {
        (Some(k), None) if !reads(right, qualifier) => Some((k, right)),
        (None, Some(k)) if !reads(left, qualifier) => Some((k, left)),
        // Both sides name key columns: the qualified one is the table's.
        (Some(k), Some(_)) if is_qualified_by(left, qualifier) && !reads(right, qualifier) => {
            Some((k, right))
        }
        (Some(_), Some(k)) if is_qualified_by(right, qualifier) && !reads(left, qualifier) => {
            Some((k, left))
        }
        _ => None,
    }
}

fn is_qualified_by(e: &Expr, qualifier: &str) -> bool {
    matches!(e, Expr::CompoundIdentifier(ids) if ids.len() == 2 && ids[0].value.eq_ignore_ascii_case(qualifier))
}

/// Whether `e` names a column qualified with `qualifier`.
fn reads(e: &Expr, qualifier: &str) -> bool {
    visit_expressions(e, |e| {
        if is_qualified_by(e, qualifier) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

#[cfg(test)]
mod tests {
    use crate::Error;

    const TABLES: &str = "'o.type' = 'stdin_source', 'c.type' = 'file_source', \
        'c.path' = 'c.csv', 'c.kind' = 'table'";

    fn plan(sql: &str) -> crate::Result<Vec<super::JoinPlan>> {
        crate::plan_sql(sql, &Default::default()).map(|mut p| p.jobs.remove(0).joins)
    }

    #[test]
    fn the_lookup_follows_the_key_order_whatever_the_on_order() {
        let joins = plan(&format!(
            "SELECT * FROM o JOIN c ON c.b = o.y AND o.x = a WITH ({TABLES}, 'c.key' = 'a, b')"
        ))
        .unwrap();
        assert_eq!(joins.len(), 1);
        let lookup: Vec<String> = joins[0].lookup.iter().map(|e| e.to_string()).collect();
        assert_eq!(lookup, ["o.x", "o.y"]);
        assert_eq!(joins[0].table_key, ["a", "b"]);
        assert_eq!(joins[0].join_type, super::JoinType::Inner);
        assert_eq!(joins[0].qualifier(), "c");
    }

    #[test]
    fn an_aliased_table_is_qualified_by_its_alias_and_left_is_kept() {
        let joins = plan(&format!(
            "SELECT * FROM o LEFT OUTER JOIN c AS t ON o.x + 1 = t.a WITH ({TABLES}, 'c.key' = 'a')"
        ))
        .unwrap();
        assert_eq!(joins[0].qualifier(), "t");
        assert_eq!(joins[0].join_type, super::JoinType::Left);
        assert_eq!(joins[0].lookup[0].to_string(), "o.x + 1");
    }

    #[test]
    fn bad_ons_are_refused_with_their_reason() {
        let with = format!("WITH ({TABLES}, 'c.key' = 'a, b')");
        for (on, expected) in [
            ("o.x = c.a", "missing: b"),
            ("o.x = c.a AND o.y = c.b AND o.z = c.a", "equated twice"),
            ("o.x = c.a AND o.y > c.b", "not supported yet"),
            ("o.x = c.zz AND o.y = c.b", "not one of those"),
            ("o.x < c.a", "needs an equality"),
        ] {
            let err = plan(&format!("SELECT * FROM o JOIN c ON {on} {with}")).unwrap_err();
            assert!(err.to_string().contains(expected), "{on}: {err}");
        }
    }

    #[test]
    fn left_is_refused_on_a_regular_join_only() {
        let with = "WITH ('o.type' = 'stdin_source', 'c.type' = 'stdin_source')";
        let err = plan(&format!("SELECT * FROM o LEFT JOIN c ON o.x = c.x {with}")).unwrap_err();
        assert!(
            err.to_string()
                .contains("LEFT is not defined for a regular join"),
            "{err}"
        );
        for on in [
            "o.x = c.x AND c.ts BETWEEN o.ts - INTERVAL '1' SECOND AND o.ts",
            "o.x = c.x AND o.window_start = c.window_start AND o.window_end = c.window_end",
        ] {
            let err = plan(&format!("SELECT * FROM o LEFT JOIN c ON {on} {with}")).unwrap_err();
            assert!(
                err.to_string().contains("joining two streams"),
                "{on}: {err}"
            );
        }
        let err = plan(&format!("SELECT * FROM o JOIN c ON o.x = c.x {with}")).unwrap_err();
        assert!(err.to_string().contains("joining two streams"), "{err}");
    }

    #[test]
    fn table_properties_are_checked() {
        let err = plan("SELECT * FROM o JOIN c ON o.x = c.a WITH ('o.type' = 'stdin_source', 'c.type' = 'file_source', 'c.path' = 'c.csv', 'c.key' = 'a')").unwrap_err();
        assert!(matches!(err, Error::InvalidProperty { .. }), "{err}");
        let err = plan("SELECT * FROM o JOIN c ON o.x = c.a WITH ('o.type' = 'stdin_source', 'c.type' = 'file_source', 'c.path' = 'c.csv', 'c.kind' = 'view')").unwrap_err();
        assert!(err.to_string().contains("stream or table"), "{err}");
        let err = plan(&format!("SELECT * FROM c WITH ({TABLES}, 'c.key' = 'a')")).unwrap_err();
        assert!(err.to_string().contains("in FROM"), "{err}");
        let err = plan(&format!(
            "SELECT * FROM o JOIN c ON o.x = c.a WITH ({TABLES}, 'c.key' = 'a, ')"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("separated by commas"), "{err}");
        let err = plan("SELECT * FROM o JOIN c ON o.x = c.a WITH ('o.type' = 'stdin_source', 'c.type' = 'stdin_source', 'c.kind' = 'table', 'c.key' = 'a')").unwrap_err();
        assert!(err.to_string().contains("anything but a file"), "{err}");
    }
}
