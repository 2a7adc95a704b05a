//! Joins (SPEC §2): which kind a `JOIN` is, and its plan.
//!
//! The kind follows from the inputs. A right input declared as a table
//! (`'NAME.kind' = 'table'` with `'NAME.key'`) makes a stream-table join
//! ([`JoinPlan`]): each stream row looks up the table's row for its key, so
//! the ON must equate the table's whole key, and nothing else
//! (`o.customer_id = c.id`). A right input that is a stream makes a join of
//! two streams ([`StreamJoinPlan`]): an interval join when the ON also bounds
//! one input's event time by the other's, a regular join when it has only
//! equalities. Window joins (ON equating `window_start` and `window_end`) are
//! refused as not supported yet.
//!
//! What can be checked without the inputs' schemas is checked here: an ON
//! without an equality, an ON that does not cover the table's key, RIGHT and
//! FULL joins, a table read in FROM, an interval bound that is not on the
//! inputs' event time. Which input a bare column belongs to, and whether the
//! key types agree, is found when the job is bound against its schemas
//! (`velo_engine::join::compile_joins`, `velo_engine::stream_join`).

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

/// What a join of two streams keeps, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamJoinKind {
    /// The ON bounds the right row's event time by the left's: a pair
    /// matches when `right time - left time` is within `[lower_ms,
    /// upper_ms]`. A row leaves the state once the watermark passes the last
    /// time a row of the other input could match it.
    Interval { lower_ms: i64, upper_ms: i64 },
    /// Both inputs are read through the same windowing table function and
    /// the ON equates their `window_start` and `window_end` (Flink's window
    /// join): the pairs of a window (and, under LEFT, its unpaired left rows
    /// with NULLs) are emitted when the watermark passes its end, and its
    /// rows are freed then. Tumbling windows have `slide_ms == size_ms`.
    Window { size_ms: i64, slide_ms: i64 },
    /// Equalities only. With `ttl_ms` (`join.state.ttl`) two rows pair only
    /// when their event times are at most that far apart, and a row leaves
    /// the state once the watermark passes its time plus it; without it,
    /// every pair matches and no row ever leaves.
    Regular { ttl_ms: Option<i64> },
}

/// The join of the job's FROM stream with a second stream (SPEC §2:
/// interval and regular joins). At most one per job, and written before any
/// stream-table join.
#[derive(Debug, Clone)]
pub struct StreamJoinPlan {
    pub join_type: JoinType,
    /// The second stream, read by the job alongside its FROM source.
    pub right: SourcePlan,
    pub kind: StreamJoinKind,
    /// The key equalities, in ON order: the left (FROM) input's expression
    /// and the right input's.
    pub keys: Vec<(Expr, Expr)>,
    /// Where each key equality is written.
    pub key_spans: Vec<Span>,
    /// Each input's event-time column (bare), when it has one: its
    /// `NAME.event.time.field`, else the job's `event.time.field`, else the
    /// column the interval bound names.
    pub left_time: Option<String>,
    pub right_time: Option<String>,
    /// The `JOIN ... ON ...` clause.
    pub span: Span,
    pub on_span: Span,
    /// The right input is a subquery: the job it is (over the right source),
    /// whose rows the join reads.
    pub right_stage: Option<Box<crate::JobPlan>>,
    /// Conditions of an INNER join's ON with a subquery input that are neither
    /// key equalities nor the time bound: they filter the joined rows, so the
    /// job ANDs them into its WHERE.
    pub residual: Vec<Expr>,
}

impl StreamJoinPlan {
    /// The right input's qualifier: its alias, else its name.
    pub fn qualifier(&self) -> &str {
        qualifier_of(&self.right)
    }

    /// How far behind the input watermark the join's output watermark is
    /// held, in milliseconds: a joined row carries its left row's time, and a
    /// pair can be emitted when its right row arrives, up to this long after
    /// the left row's time. Holding the output watermark back by it keeps
    /// every joined row on time for the windows downstream. `None`: a
    /// regular join without TTL, whose pairs can come arbitrarily late.
    pub fn watermark_delay_ms(&self) -> Option<i64> {
        match self.kind {
            StreamJoinKind::Interval { upper_ms, .. } => Some(upper_ms.max(0)),
            // A pair is emitted at its window's end, at most `size` after
            // its left row's time.
            StreamJoinKind::Window { size_ms, .. } => Some(size_ms),
            StreamJoinKind::Regular { ttl_ms } => ttl_ms,
        }
    }

    /// The key columns of each input as plain column names (`None` for a
    /// computed key), for routing both inputs by the join key.
    pub fn key_columns(&self, left_qualifier: &str) -> (Vec<Option<String>>, Vec<Option<String>>) {
        let right = self.qualifier();
        self.keys
            .iter()
            .map(|(l, r)| (own_column(l, left_qualifier), own_column(r, right)))
            .unzip()
    }
}

/// `col` or `q.col`: the column's name.
fn own_column(e: &Expr, qualifier: &str) -> Option<String> {
    match e {
        Expr::Identifier(id) => Some(id.value.clone()),
        Expr::CompoundIdentifier(ids)
            if ids.len() == 2 && ids[0].value.eq_ignore_ascii_case(qualifier) =>
        {
            Some(ids[1].value.clone())
        }
        Expr::Nested(inner) => own_column(inner, qualifier),
        _ => None,
    }
}

/// The right input of a join, as far as the planner needs it.
pub(crate) struct JoinInput {
    pub source: SourcePlan,
    /// `Some` for a table: its key columns.
    pub table_key: Option<Vec<String>>,
    /// `NAME.event.time.field`, when set.
    pub event_time_field: Option<String>,
    /// A subquery input: the job it is.
    pub stage: Option<Box<crate::JobPlan>>,
}

/// The joins of a job, as [`plan_joins`] found them.
#[derive(Debug, Default)]
pub(crate) struct PlannedJoins {
    pub stream: Option<StreamJoinPlan>,
    pub tables: Vec<JoinPlan>,
}

/// What [`plan_joins`] needs of the job beyond its joins.
pub(crate) struct JoinContext<'a> {
    /// The FROM source's qualifier.
    pub left_qualifier: &'a str,
    /// The FROM source's windowing table function (a window join).
    pub left_window: Option<&'a velo_ast::WindowSpec>,
    /// The FROM source's `NAME.event.time.field`, else the job's.
    pub left_time: Option<&'a str>,
    /// The job's `event.time.field`.
    pub job_time: Option<&'a str>,
    /// `join.state.ttl`.
    pub ttl_ms: Option<i64>,
    /// The FROM input is a subquery.
    pub left_staged: bool,
    /// The conjuncts of the query's WHERE: an INNER join with a subquery
    /// input takes its time bound from there too (Flink's Nexmark q7 writes
    /// it there).
    pub where_conjuncts: Vec<Expr>,
}

/// Plans the joins of `query`, whose right inputs are `inputs` (in order);
/// `from_is_table` says whether FROM reads a table.
pub(crate) fn plan_joins(
    query: &SelectQuery,
    inputs: Vec<JoinInput>,
    from_is_table: bool,
    cx: &JoinContext<'_>,
) -> Result<PlannedJoins> {
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
    let mut stream = None;
    for (i, (join, input)) in query.joins.iter().zip(inputs).enumerate() {
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
            if i > 0 {
                return Err(Error::Unsupported {
                    what: format!(
                        "a second join of two streams ('{name}' is a stream; a job joins its FROM stream with at most one other stream, written first)"
                    ),
                    span: join.span,
                });
            }
            let mut planned = plan_stream_join(
                join,
                input.source,
                input.event_time_field,
                join_type,
                &conjuncts,
                cx,
                input.stage.is_some(),
            )?;
            planned.right_stage = input.stage;
            stream = Some(planned);
            continue;
        };
        if input.stage.is_some() || cx.left_staged {
            return Err(Error::Unsupported {
                what: "a subquery joined with a table (join the table inside the subquery)".into(),
                span: join.span,
            });
        }
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
    Ok(PlannedJoins {
        stream,
        tables: plans,
    })
}

/// Plans the join of the FROM stream with the stream `right`: its key
/// equalities, its time bound (an interval join) or its TTL (a regular join),
/// and each input's event-time column.
fn plan_stream_join(
    join: &velo_ast::Join,
    right: SourcePlan,
    right_time_field: Option<String>,
    join_type: JoinType,
    conjuncts: &[&Expr],
    cx: &JoinContext<'_>,
    right_staged: bool,
) -> Result<StreamJoinPlan> {
    let name = right.name.clone();
    let right_q = qualifier_of(&right).to_string();
    let left_q = cx.left_qualifier;
    if cx.left_window.is_some() || join.table.window.is_some() {
        return plan_window_join(join, right, right_time_field, join_type, conjuncts, cx);
    }
    let staged = cx.left_staged || right_staged;
    if staged && join_type == JoinType::Left {
        return Err(Error::Unsupported {
            what: "a LEFT join with a subquery input (INNER is supported)".into(),
            span: join.span,
        });
    }
    if staged {
        return plan_staged_inner_join(join, right, right_time_field, conjuncts, cx, right_staged);
    }
    if conjuncts.iter().any(|c| names_window(c)) {
        return Err(Error::Invalid {
            message: format!(
                "a window join reads both inputs through the same windowing table function: FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), size)) {left_q} JOIN TABLE(TUMBLE(TABLE {name}, DESCRIPTOR(ts), size)) {right_q} ON ..."
            ),
            span: join.span,
        });
    }
    let mut keys = Vec::new();
    let mut key_spans = Vec::new();
    let mut bounds = Bounds::default();
    for c in conjuncts {
        if is_equality(c) {
            keys.push(key_pair(c, left_q, &right_q)?);
            key_spans.push(c.span());
        } else if !bounds.take(c, left_q, &right_q)? {
            return Err(Error::Unsupported {
                what: format!(
                    "this condition in the ON of a join of two streams (only key equalities and a time bound such as '{right_q}.ts BETWEEN {left_q}.ts - INTERVAL ... AND {left_q}.ts + INTERVAL ...' are; filter in WHERE instead)"
                ),
                span: c.span(),
            });
        }
    }
    // Each input's event time: its own field, else the job's, else the bound's.
    let bare = |f: &str| f.rsplit_once('.').map_or(f, |(_, c)| c).to_string();
    let mut left_time = cx.left_time.map(bare);
    let mut right_time = right_time_field.as_deref().or(cx.job_time).map(bare);
    let kind = match bounds.columns {
        None => {
            if let Some(first) = bounds.first_span {
                return Err(Error::Invalid {
                    message: "an interval join bounds the time from both sides: write 'b.ts BETWEEN a.ts - INTERVAL ... AND a.ts + INTERVAL ...', or both a >= and a <= bound".into(),
                    span: first,
                });
            }
            if cx.ttl_ms.is_some() && (left_time.is_none() || right_time.is_none()) {
                return Err(Error::Invalid {
                    message: format!(
                        "'join.state.ttl' is an event-time duration: set 'event.time.field' (or '{}.event.time.field' and '{}.event.time.field')",
                        cx.left_qualifier, name
                    ),
                    span: join.span,
                });
            }
            StreamJoinKind::Regular { ttl_ms: cx.ttl_ms }
        }
        Some((ref lcol, ref rcol)) => {
            let (Some(lower_ms), Some(upper_ms)) = (bounds.lower, bounds.upper) else {
                return Err(Error::Invalid {
                    message: "an interval join bounds the time from both sides: write 'b.ts BETWEEN a.ts - INTERVAL ... AND a.ts + INTERVAL ...', or both a >= and a <= bound".into(),
                    span: bounds.first_span.unwrap_or(join.span),
                });
            };
            bounds.check_not_empty(lower_ms, upper_ms, left_q, &right_q, join.span)?;
            for (time, col, q) in [
                (&mut left_time, lcol, left_q),
                (&mut right_time, rcol, right_q.as_str()),
            ] {
                match time {
                    Some(t) if !t.eq_ignore_ascii_case(col) => {
                        return Err(Error::Invalid {
                            message: format!(
                                "an interval join bounds the inputs' event time, but this bound reads {q}.{col} and {q}'s event time is '{t}'"
                            ),
                            span: bounds.first_span.unwrap_or(join.span),
                        })
                    }
                    Some(_) => {}
                    None => *time = Some(col.clone()),
                }
            }
            StreamJoinKind::Interval { lower_ms, upper_ms }
        }
    };
    Ok(StreamJoinPlan {
        join_type,
        right,
        kind,
        keys,
        key_spans,
        left_time,
        right_time,
        span: join.span,
        on_span: join.on.span(),
        right_stage: None,
        residual: Vec::new(),
    })
}

/// An INNER join with a subquery input: the ON's key equalities; its time
/// bound, when the ON and the WHERE together bound the time from both sides
/// (an interval join), else none (a regular join); every other ON condition
/// filters the joined rows (`residual`), which for an INNER join is the same.
/// A subquery's event time is the column the bound reads, or none.
fn plan_staged_inner_join(
    join: &velo_ast::Join,
    right: SourcePlan,
    right_time_field: Option<String>,
    conjuncts: &[&Expr],
    cx: &JoinContext<'_>,
    right_staged: bool,
) -> Result<StreamJoinPlan> {
    let right_q = qualifier_of(&right).to_string();
    let left_q = cx.left_qualifier;
    let mut keys = Vec::new();
    let mut key_spans = Vec::new();
    let mut others = Vec::new();
    for c in conjuncts {
        if is_equality(c) && !matches!(side_of(c, left_q, &right_q), Side::Left | Side::Right) {
            keys.push(key_pair(c, left_q, &right_q)?);
            key_spans.push(c.span());
        } else {
            others.push(*c);
        }
    }
    // The bound: from the ON's other conditions and the WHERE's, kept only
    // when complete (a condition that is not a bound stays a filter).
    let mut bounds = Bounds::default();
    let mut used = Vec::new();
    for (i, c) in others
        .iter()
        .copied()
        .chain(cx.where_conjuncts.iter())
        .enumerate()
    {
        let mut trial = bounds.clone();
        if matches!(trial.take(c, left_q, &right_q), Ok(true)) {
            bounds = trial;
            used.push(i);
        }
    }
    let complete = bounds.lower.is_some() && bounds.upper.is_some();
    let residual: Vec<Expr> = others
        .iter()
        .enumerate()
        .filter(|(i, _)| !(complete && used.contains(i)))
        .map(|(_, c)| (*c).clone())
        .collect();
    let bare = |f: &str| f.rsplit_once('.').map_or(f, |(_, c)| c).to_string();
    // A subquery's rows have the event time the bound gives them, else none.
    let mut left_time = if cx.left_staged {
        None
    } else {
        cx.left_time.map(bare)
    };
    let mut right_time = if right_staged {
        None
    } else {
        right_time_field.as_deref().or(cx.job_time).map(bare)
    };
    let kind = match (complete, &bounds.columns) {
        (true, Some((lcol, rcol))) => {
            let (lower_ms, upper_ms) = (bounds.lower.unwrap_or(0), bounds.upper.unwrap_or(0));
            bounds.check_not_empty(lower_ms, upper_ms, left_q, &right_q, join.span)?;
            left_time = Some(lcol.clone());
            right_time = Some(rcol.clone());
            StreamJoinKind::Interval { lower_ms, upper_ms }
        }
        _ => StreamJoinKind::Regular { ttl_ms: cx.ttl_ms },
    };
    if keys.is_empty() {
        return Err(Error::Invalid {
            message: format!(
                "a join of two streams needs an equality between a column of '{left_q}' and one of '{right_q}' in its ON"
            ),
            span: join.on.span(),
        });
    }
    Ok(StreamJoinPlan {
        join_type: JoinType::Inner,
        right,
        kind,
        keys,
        key_spans,
        left_time,
        right_time,
        span: join.span,
        on_span: join.on.span(),
        right_stage: None,
        residual,
    })
}

/// A key equality of a join of two streams as (left expression, right
/// expression), whichever way it is written.
fn key_pair(c: &Expr, left_q: &str, right_q: &str) -> Result<(Expr, Expr)> {
    let Expr::BinaryOp { left, right, .. } = c else {
        unreachable!("an equality is a binary operation")
    };
    match (side_of(left, left_q, right_q), side_of(right, left_q, right_q)) {
        (Side::Left, Side::Right | Side::Unknown) | (Side::Unknown, Side::Right) => {
            Ok(((**left).clone(), (**right).clone()))
        }
        (Side::Right, Side::Left | Side::Unknown) | (Side::Unknown, Side::Left) => {
            Ok(((**right).clone(), (**left).clone()))
        }
        _ => Err(Error::Invalid {
            message: format!(
                "a join of two streams equates a column of '{left_q}' with one of '{right_q}'; qualify this equality's columns ({left_q}.col = {right_q}.col)"
            ),
            span: c.span(),
        }),
    }
}

/// Plans a window join: both inputs windowed alike, the ON equating their
/// `window_start` and `window_end` and, optionally, keys.
fn plan_window_join(
    join: &velo_ast::Join,
    right: SourcePlan,
    right_time_field: Option<String>,
    join_type: JoinType,
    conjuncts: &[&Expr],
    cx: &JoinContext<'_>,
) -> Result<StreamJoinPlan> {
    use velo_ast::WindowSpec;
    let right_q = qualifier_of(&right).to_string();
    let left_q = cx.left_qualifier;
    let (Some(lw), Some(rw)) = (cx.left_window, join.table.window.as_ref()) else {
        return Err(Error::Invalid {
            message: "a window join reads both inputs through the same windowing table function (TABLE(TUMBLE(...)) or TABLE(HOP(...)))".into(),
            span: join.span,
        });
    };
    let shape = |w: &WindowSpec| match w {
        WindowSpec::Tumbling { size, .. } => Some((size.millis, size.millis)),
        WindowSpec::Sliding { size, advance, .. } => Some((size.millis, advance.millis)),
        WindowSpec::Session { .. } => None,
    };
    let (Some((size_ms, slide_ms)), Some(other)) = (shape(lw), shape(rw)) else {
        return Err(Error::Invalid {
            message: "a window join over SESSION windows is not supported; use TUMBLE or HOP"
                .into(),
            span: lw.span(),
        });
    };
    if (size_ms, slide_ms) != other {
        return Err(Error::Invalid {
            message: format!(
                "the inputs of a window join need the same window: '{left_q}' has {size_ms} ms every {slide_ms} ms, '{right_q}' {} ms every {} ms",
                other.0, other.1
            ),
            span: rw.span(),
        });
    }
    if size_ms <= 0 || slide_ms <= 0 || slide_ms > size_ms {
        return Err(Error::Invalid {
            message: "a window join's window needs a positive size, and a slide no larger than it"
                .into(),
            span: lw.span(),
        });
    }
    let mut keys = Vec::new();
    let mut key_spans = Vec::new();
    let mut window_columns = [false, false];
    for c in conjuncts {
        if !is_equality(c) {
            return Err(Error::Unsupported {
                what: "a condition other than an equality in a window join's ON (filter in WHERE instead)".into(),
                span: c.span(),
            });
        }
        let (l, r) = key_pair(c, left_q, &right_q)?;
        let column = |e: &Expr| match e {
            Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
                Some(ids[1].value.to_ascii_lowercase())
            }
            _ => None,
        };
        match (column(&l).as_deref(), column(&r).as_deref()) {
            (Some("window_start"), Some("window_start")) => window_columns[0] = true,
            (Some("window_end"), Some("window_end")) => window_columns[1] = true,
            _ if names_window(&l) || names_window(&r) => {
                return Err(Error::Invalid {
                    message: format!(
                        "a window join equates {left_q}.window_start with {right_q}.window_start and {left_q}.window_end with {right_q}.window_end"
                    ),
                    span: c.span(),
                })
            }
            _ => {
                keys.push((l, r));
                key_spans.push(c.span());
            }
        }
    }
    if window_columns != [true, true] {
        return Err(Error::Invalid {
            message: format!(
                "a window join's ON equates both inputs' windows: add {left_q}.window_start = {right_q}.window_start AND {left_q}.window_end = {right_q}.window_end"
            ),
            span: join.on.span(),
        });
    }
    // Each input's event time is its table function's DESCRIPTOR column.
    let bare = |f: &str| f.rsplit_once('.').map_or(f, |(_, c)| c).to_string();
    let mut times = [
        cx.left_time.map(bare),
        right_time_field.as_deref().or(cx.job_time).map(bare),
    ];
    for ((time, w), q) in times
        .iter_mut()
        .zip([lw, rw])
        .zip([left_q, right_q.as_str()])
    {
        let Some(col) = w.time_column() else {
            continue;
        };
        match time {
            Some(t) if !t.eq_ignore_ascii_case(&col.value) => {
                return Err(Error::Invalid {
                    message: format!(
                        "the window of '{q}' reads {} but its event time is '{t}'",
                        col.value
                    ),
                    span: w.span(),
                })
            }
            Some(_) => {}
            None => *time = Some(col.value.clone()),
        }
    }
    let [left_time, right_time] = times;
    Ok(StreamJoinPlan {
        join_type,
        right,
        kind: StreamJoinKind::Window { size_ms, slide_ms },
        keys,
        key_spans,
        left_time,
        right_time,
        span: join.span,
        on_span: join.on.span(),
        right_stage: None,
        residual: Vec::new(),
    })
}

/// Which input an expression reads, by the qualifiers of its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
    /// Only bare columns (or none).
    Unknown,
    /// Both inputs.
    Both,
}

fn side_of(e: &Expr, left: &str, right: &str) -> Side {
    match (reads(e, left), reads(e, right)) {
        (true, false) => Side::Left,
        (false, true) => Side::Right,
        (false, false) => Side::Unknown,
        (true, true) => Side::Both,
    }
}

/// An interval join's time bound, gathered from the ON's comparisons as
/// bounds on `right time - left time`.
#[derive(Debug, Default, Clone)]
struct Bounds {
    lower: Option<i64>,
    upper: Option<i64>,
    /// The (left, right) time columns the bounds read.
    columns: Option<(String, String)>,
    first_span: Option<Span>,
}

impl Bounds {
    /// The error for a bound no time difference meets (`lower > upper`).
    fn check_not_empty(
        &self,
        lower_ms: i64,
        upper_ms: i64,
        left_q: &str,
        right_q: &str,
        join_span: Span,
    ) -> Result<()> {
        if lower_ms <= upper_ms {
            return Ok(());
        }
        Err(Error::Invalid {
            message: format!(
                "the interval join's bound is empty: {right_q}'s time minus {left_q}'s must be at least {lower_ms} ms and at most {upper_ms} ms"
            ),
            span: self.first_span.unwrap_or(join_span),
        })
    }

    /// Takes `c` when it is a time bound (`x BETWEEN y + i AND y + j`, or a
    /// comparison of two shifted columns); false when it is not one.
    fn take(&mut self, c: &Expr, left: &str, right: &str) -> Result<bool> {
        let span = c.span();
        // (a, b, lowest a - b, highest a - b)
        let (a, b, low, high) = match c {
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => {
                let (Some(x), Some(lo), Some(hi)) = (
                    shifted_column(expr, span)?,
                    shifted_column(low, span)?,
                    shifted_column(high, span)?,
                ) else {
                    return Ok(false);
                };
                if !lo.0.eq_ignore_ascii_case(&hi.0) || !lo.1.eq_ignore_ascii_case(&hi.1) {
                    return Ok(false);
                }
                ((x.0, x.1), (lo.0, lo.1), Some(lo.2 - x.2), Some(hi.2 - x.2))
            }
            Expr::BinaryOp {
                left: l,
                op,
                right: r,
            } => {
                let (Some(x), Some(y)) = (shifted_column(l, span)?, shifted_column(r, span)?)
                else {
                    return Ok(false);
                };
                // x.col + x.off OP y.col + y.off  <=>  x.col - y.col OP y.off - x.off
                let d = y.2 - x.2;
                let (low, high) = match op {
                    BinaryOperator::GtEq => (Some(d), None),
                    BinaryOperator::Gt => (Some(d + 1), None),
                    BinaryOperator::LtEq => (None, Some(d)),
                    BinaryOperator::Lt => (None, Some(d - 1)),
                    _ => return Ok(false),
                };
                ((x.0, x.1), (y.0, y.1), low, high)
            }
            _ => return Ok(false),
        };
        let is = |q: &str, side: &str| q.eq_ignore_ascii_case(side);
        // As bounds on right - left.
        let (low, high, lcol, rcol) = if is(&a.0, right) && is(&b.0, left) {
            (low, high, b.1, a.1)
        } else if is(&a.0, left) && is(&b.0, right) {
            (high.map(|h| -h), low.map(|l| -l), a.1, b.1)
        } else {
            return Err(Error::Invalid {
                message: format!(
                    "an interval join's bound compares a column of '{left}' with one of '{right}', both qualified ({right}.ts BETWEEN {left}.ts - INTERVAL ... AND {left}.ts + INTERVAL ...)"
                ),
                span,
            });
        };
        match &self.columns {
            Some((l, r)) if !l.eq_ignore_ascii_case(&lcol) || !r.eq_ignore_ascii_case(&rcol) => {
                return Err(Error::Invalid {
                    message: format!(
                        "an interval join's bounds read one time column per input; this one reads {left}.{lcol} and {right}.{rcol}, an earlier one {left}.{l} and {right}.{r}"
                    ),
                    span,
                })
            }
            Some(_) => {}
            None => self.columns = Some((lcol, rcol)),
        }
        self.first_span.get_or_insert(span);
        if let Some(l) = low {
            self.lower = Some(self.lower.map_or(l, |x| x.max(l)));
        }
        if let Some(h) = high {
            self.upper = Some(self.upper.map_or(h, |x| x.min(h)));
        }
        Ok(true)
    }
}

/// `q.col`, `q.col + INTERVAL ...` or `q.col - INTERVAL ...`: the qualifier,
/// the column and the shift in milliseconds; `None` for anything else (a
/// bare column has no qualifier and is not a bound's column).
fn shifted_column(e: &Expr, span: Span) -> Result<Option<(String, String, i64)>> {
    match e {
        Expr::Nested(inner) => shifted_column(inner, span),
        Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
            Ok(Some((ids[0].value.clone(), ids[1].value.clone(), 0)))
        }
        Expr::BinaryOp {
            left,
            op: op @ (BinaryOperator::Plus | BinaryOperator::Minus),
            right,
        } => {
            let Expr::Interval(i) = &**right else {
                return Ok(None);
            };
            let Some((q, c, off)) = shifted_column(left, span)? else {
                return Ok(None);
            };
            let ms = crate::bind::expr::interval_millis(i, span)?;
            Ok(Some((
                q,
                c,
                if *op == BinaryOperator::Plus {
                    off + ms
                } else {
                    off - ms
                },
            )))
        }
        _ => Ok(None),
    }
}

/// Whether `e` names `window_start` or `window_end`.
fn names_window(e: &Expr) -> bool {
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
}

/// The terms of an AND chain (parentheses looked through).
pub(crate) fn conjuncts(e: &Expr) -> Vec<&Expr> {
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
        let p = stream_join(&format!(
            "SELECT * FROM o LEFT JOIN c ON o.x = c.x AND c.ts BETWEEN o.ts - INTERVAL '1' SECOND AND o.ts {with}"
        ))
        .unwrap();
        assert_eq!(p.join_type, super::JoinType::Left);
        let err = plan(&format!(
            "SELECT * FROM o LEFT JOIN c ON o.x = c.x AND o.window_start = c.window_start AND o.window_end = c.window_end {with}"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("a window join"), "{err}");
        let p = stream_join(&format!("SELECT * FROM o JOIN c ON o.x = c.x {with}")).unwrap();
        assert_eq!(p.kind, super::StreamJoinKind::Regular { ttl_ms: None });
    }

    fn stream_join(sql: &str) -> crate::Result<super::StreamJoinPlan> {
        crate::plan_sql(sql, &Default::default())
            .map(|mut p| p.jobs.remove(0).stream_join.expect("a join of two streams"))
    }

    #[test]
    fn interval_bounds_are_read_as_right_minus_left_whichever_way_written() {
        let with = "WITH ('o.type' = 'stdin_source', 'c.type' = 'stdin_source', 'event.time.field' = 'ts')";
        for (bound, lower, upper) in [
            (
                "c.ts BETWEEN o.ts - INTERVAL '1' SECOND AND o.ts + INTERVAL '2' SECOND",
                -1000,
                2000,
            ),
            (
                "o.ts BETWEEN c.ts - INTERVAL '1' SECOND AND c.ts + INTERVAL '2' SECOND",
                -2000,
                1000,
            ),
            (
                "c.ts >= o.ts AND c.ts <= o.ts + INTERVAL '5' SECOND",
                0,
                5000,
            ),
            ("c.ts > o.ts AND o.ts + INTERVAL '5' SECOND > c.ts", 1, 4999),
            (
                "o.ts - INTERVAL '3' SECOND <= c.ts AND c.ts < o.ts",
                -3000,
                -1,
            ),
        ] {
            let p = stream_join(&format!(
                "SELECT * FROM o JOIN c ON c.k = o.k AND {bound} {with}"
            ))
            .unwrap_or_else(|e| panic!("{bound}: {e}"));
            assert_eq!(
                p.kind,
                super::StreamJoinKind::Interval {
                    lower_ms: lower,
                    upper_ms: upper
                },
                "{bound}"
            );
            // The equality is turned to (left, right) whichever way written.
            assert_eq!(p.keys[0].0.to_string(), "o.k", "{bound}");
            assert_eq!(p.keys[0].1.to_string(), "c.k", "{bound}");
            assert_eq!(p.left_time.as_deref(), Some("ts"));
            assert_eq!(p.right_time.as_deref(), Some("ts"));
        }
        for (bound, expected) in [
            ("c.ts >= o.ts", "bounds the time from both sides"),
            (
                "c.ts BETWEEN o.ts + INTERVAL '2' SECOND AND o.ts",
                "is empty",
            ),
            (
                "c.x BETWEEN o.ts AND o.ts + INTERVAL '1' SECOND",
                "event time is 'ts'",
            ),
            (
                "c.ts BETWEEN ts AND ts + INTERVAL '1' SECOND",
                "not supported",
            ),
            ("o.y > 3", "not supported"),
        ] {
            let err = stream_join(&format!(
                "SELECT * FROM o JOIN c ON c.k = o.k AND {bound} {with}"
            ))
            .unwrap_err();
            assert!(err.to_string().contains(expected), "{bound}: {err}");
        }
    }

    #[test]
    fn a_window_join_is_planned_from_both_inputs_windows() {
        let with = "WITH ('o.type' = 'stdin_source', 'c.type' = 'stdin_source')";
        let tvf = |src: &str, alias: &str, w: &str| {
            format!("TABLE({w}(TABLE {src}, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) {alias}")
        };
        let on = "ON c.window_start = o.window_start AND o.k = c.k AND o.window_end = c.window_end";
        let p = stream_join(&format!(
            "SELECT * FROM {} LEFT JOIN {} {on} {with}",
            tvf("o", "o", "HOP"),
            tvf("c", "c", "HOP")
        ))
        .unwrap();
        assert_eq!(
            p.kind,
            super::StreamJoinKind::Window {
                size_ms: 10_000,
                slide_ms: 5_000
            }
        );
        assert_eq!(p.join_type, super::JoinType::Left);
        assert_eq!(p.keys.len(), 1, "the window equalities are not keys");
        assert_eq!(p.keys[0].0.to_string(), "o.k");
        assert_eq!(p.left_time.as_deref(), Some("ts"));
        assert_eq!(p.watermark_delay_ms(), Some(10_000));
        let err = stream_join(&format!(
            "SELECT * FROM {} JOIN {} ON o.k = c.k AND o.window_start = c.window_start {with}",
            tvf("o", "o", "HOP"),
            tvf("c", "c", "HOP")
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("equates both inputs' windows"),
            "{err}"
        );
    }

    #[test]
    fn a_ttl_and_per_source_event_time_are_planned() {
        let p = stream_join(
            "SELECT * FROM o JOIN c ON o.k = c.k WITH ('o.type' = 'stdin_source', 'c.type' = 'stdin_source', \
             'o.event.time.field' = 'at', 'c.event.time.field' = 'c.when', 'join.state.ttl' = '1m')",
        )
        .unwrap();
        assert_eq!(
            p.kind,
            super::StreamJoinKind::Regular {
                ttl_ms: Some(60_000)
            }
        );
        assert_eq!(p.left_time.as_deref(), Some("at"));
        assert_eq!(p.right_time.as_deref(), Some("when"));
        assert_eq!(p.watermark_delay_ms(), Some(60_000));
        let err = stream_join(
            "SELECT * FROM o JOIN c ON o.k = c.k WITH ('o.type' = 'stdin_source', 'c.type' = 'stdin_source', 'join.state.ttl' = '1m')",
        )
        .unwrap_err();
        assert!(err.to_string().contains("event-time duration"), "{err}");
        let err = stream_join(
            "SELECT * FROM o JOIN c ON o.k = c.k JOIN d ON o.k = d.k WITH ('o.type' = 'stdin_source', 'c.type' = 'stdin_source', 'd.type' = 'stdin_source')",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("at most one other stream"),
            "{err}"
        );
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

    #[test]
    fn a_kafka_table_is_planned_only_with_its_columns_declared() {
        let kafka = "'o.type' = 'stdin_source', 'c.type' = 'kafka_source', 'c.topic' = 'c', \
                     'c.bootstrap.servers' = 'localhost:9092', 'c.kind' = 'table', 'c.key' = 'a'";
        let err = plan(&format!(
            "SELECT * FROM o JOIN c ON o.x = c.a WITH ({kafka})"
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid property 'c.schema': the Kafka table 'c' needs its columns declared, e.g. 'id BIGINT, name VARCHAR'"
        );
        let joins = plan(&format!(
            "SELECT * FROM o JOIN c ON o.x = c.a WITH ({kafka}, 'c.schema' = 'a BIGINT, n VARCHAR')"
        ))
        .unwrap();
        assert_eq!(joins[0].table_key, ["a"]);
        assert!(matches!(
            joins[0].table.config,
            velo_types::connector::SourceConfig::Kafka(_)
        ));
    }
}
