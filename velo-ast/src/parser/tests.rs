//! Unit tests of the whole parser; the golden files under `tests/parse/` cover
//! the dialect construct by construct.

use sqlparser::ast::Expr;

use crate::ast::*;
use crate::parse_app;

fn query(sql: &str) -> SelectQuery {
    let app = parse_app(sql).unwrap_or_else(|e| panic!("{}", e.render(sql, None)));
    assert_eq!(app.statements.len(), 1);
    app.statements[0].kind.query().clone()
}

fn error(sql: &str) -> crate::ParseError {
    parse_app(sql).expect_err(sql)
}

fn first_expr(q: &SelectQuery) -> &Expr {
    match &q.projection[0] {
        SelectItem::Expr { expr, .. } => expr,
        other => panic!("not an expression: {other:?}"),
    }
}

#[test]
fn buffer_and_rows_between_are_the_same_expr() {
    let seed = query(
        "SELECT AVG(price) OVER (ROWS WINDOW BUFFER 5 ROWS PARTITION BY sym ORDER BY ts) FROM t",
    );
    let standard = query(
        "SELECT AVG(price) OVER (PARTITION BY sym ORDER BY ts ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) FROM t",
    );
    assert_eq!(
        first_expr(&seed).to_string(),
        first_expr(&standard).to_string()
    );
}

#[test]
fn buffer_without_partition_and_with_expire() {
    let seed = query(
        "SELECT COUNT(*) OVER (ROWS WINDOW BUFFER 1 ROWS ORDER BY ts EXPIRE AFTER INTERVAL '5' MINUTE INACTIVITY) AS c FROM t",
    );
    let standard = query(
        "SELECT COUNT(*) OVER (ORDER BY ts ROWS BETWEEN 0 PRECEDING AND CURRENT ROW) AS c FROM t",
    );
    assert_eq!(
        first_expr(&seed).to_string(),
        first_expr(&standard).to_string()
    );
}

#[test]
fn expire_after_is_kept_in_the_query() {
    let q = query(
        "SELECT COUNT(*) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k EXPIRE AFTER INTERVAL '5' MINUTE INACTIVITY) AS c, SUM(a) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k EXPIRE AFTER 5m INACTIVITY) AS s FROM t",
    );
    assert_eq!(q.row_expire.map(|d| d.millis), Some(300_000));
    assert_eq!(
        query("SELECT SUM(a) OVER (ROWS WINDOW BUFFER 3 ROWS) FROM t").row_expire,
        None
    );
    let e = error(
        "SELECT COUNT(*) OVER (ROWS WINDOW BUFFER 3 ROWS EXPIRE AFTER 1m INACTIVITY), SUM(a) OVER (ROWS WINDOW BUFFER 3 ROWS EXPIRE AFTER 2m INACTIVITY) FROM t",
    );
    assert!(e.message.contains("same EXPIRE AFTER"), "{e}");
    let e = error(
        "SELECT COUNT(*) OVER (ROWS WINDOW BUFFER 3 ROWS EXPIRE AFTER 1m INACTIVITY EXPIRE AFTER 1m INACTIVITY) FROM t",
    );
    assert!(e.message.contains("twice"), "{e}");
}

#[test]
fn two_buffer_windows_in_one_select() {
    let q = query(
        "SELECT SUM(a) OVER (ROWS WINDOW BUFFER 3 ROWS), MAX(b) OVER (ROWS WINDOW BUFFER 2 ROWS PARTITION BY k) FROM t",
    );
    assert_eq!(q.projection.len(), 2);
    let SelectItem::Expr { expr, .. } = &q.projection[1] else {
        panic!()
    };
    assert_eq!(
        expr.to_string(),
        "MAX(b) OVER (PARTITION BY k ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"
    );
}

#[test]
fn bad_buffer_count_points_at_the_count() {
    let e = error("SELECT SUM(a) OVER (ROWS WINDOW BUFFER 0 ROWS) FROM t");
    assert_eq!((e.line(), e.column()), (1, 40));
    assert!(e.message.contains("positive integer"), "{e}");
    let e = error("SELECT SUM(a) OVER (ROWS WINDOW BUFFER x ROWS) FROM t");
    assert_eq!(e.message, "expected a row count after BUFFER, found 'x'");
    let e = error("SELECT SUM(a) OVER (ROWS WINDOW BUFFER 3 ROWS ORDER BY ts");
    assert!(e.message.starts_with("expected ')'"), "{e}");
    let e =
        error("SELECT SUM(a) OVER (ROWS WINDOW BUFFER 3 ROWS ORDER BY ts EXPIRE AFTER 5m) FROM t");
    assert_eq!(e.message, "expected INACTIVITY, found ')'");
}

#[test]
fn error_spans_point_at_the_offending_token() {
    let e = error("SELECT a\nWHERE b > 1");
    assert_eq!(e.message, "expected FROM, found 'WHERE'");
    assert_eq!((e.line(), e.column()), (2, 1));
    assert_eq!(e.span.end.column, 6);

    let e = error("SELECT a FROM t WHERE (b > 1 GROUP BY a");
    assert_eq!(e.message, "expected ')', found 'GROUP'");
    assert_eq!((e.line(), e.column()), (1, 30));

    let e = error("SELECT a FROM t WHERE");
    assert_eq!(e.message, "expected an expression, found end of input");
    assert_eq!((e.line(), e.column()), (1, 22));
}

#[test]
fn unterminated_string() {
    let e = error("SELECT 'abc FROM t");
    assert_eq!(e.message, "unterminated string literal");
    assert_eq!((e.line(), e.column()), (1, 8));
}

#[test]
fn trailing_garbage_is_an_error() {
    let e = error("SELECT a FROM t EMIT CHANGES garbage");
    assert_eq!(e.message, "expected ';' or end of input, found 'garbage'");
    assert_eq!(e.column(), 30);
}

#[test]
fn first_error_wins_across_statements() {
    let e = error("SELECT a t;\nSELECT SUM(a) OVER (ROWS WINDOW BUFFER 0 ROWS) FROM t");
    assert_eq!(e.line(), 1);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let sql = format!("SELECT {}1{} FROM t", "(".repeat(500), ")".repeat(500));
    let e = error(&sql);
    assert!(e.message.contains("nested too deeply"), "{e}");
    assert!(
        e.message.contains("the limit of 64 levels of parentheses"),
        "{e}"
    );
}

/// `SELECT t0 OR t1 OR ... FROM t`, `terms` terms: a tree `terms` levels deep.
fn or_chain(terms: usize) -> String {
    let chain: Vec<String> = (0..terms).map(|i| format!("t{i}")).collect();
    format!("SELECT\n  {} FROM t", chain.join(" OR "))
}

/// Runs `f` on a thread with a 2 MiB stack (a plain spawned thread's, and a
/// tokio worker's), so a test proves what fits in it.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn an_expression_at_the_depth_limit_parses() {
    // Not `query`: cloning a tree 1024 levels deep takes more than the test
    // thread's 2 MiB stack in a debug build.
    let app = parse_app(&or_chain(crate::MAX_EXPR_DEPTH)).unwrap();
    assert!(matches!(
        first_expr(app.statements[0].kind.query()),
        Expr::BinaryOp { .. }
    ));
}

#[test]
fn an_expression_past_the_depth_limit_is_refused_at_its_start() {
    let e = error(&or_chain(crate::MAX_EXPR_DEPTH + 1));
    assert_eq!(
        e.message,
        "expression is nested too deeply: more than 1024 levels (the limit; each operator, \
         call, cast and parenthesis adds a level)"
    );
    assert_eq!((e.line(), e.column()), (2, 3));
}

/// The error of a statement too deep to parse (without printing the tree when
/// it parses).
fn too_deep(sql: &str) -> crate::ParseError {
    let e = parse_app(sql)
        .err()
        .unwrap_or_else(|| panic!("parsed: {}", &sql[..80]));
    assert!(e.message.contains("more than 1024 levels"), "{e}");
    e
}

#[test]
fn every_chained_operator_counts_a_level() {
    // 1023 casts on a column are 1024 levels; one more is too many.
    parse_app(&format!("SELECT a{} FROM t", "::INT".repeat(1023))).unwrap();
    too_deep(&format!("SELECT a{} FROM t", "::INT".repeat(1024)));
    too_deep(&format!("SELECT 1{} FROM t", " + 1 * 2".repeat(1100)));
    too_deep(&format!("SELECT 'a'{} FROM t", " || 'b'".repeat(1100)));
    too_deep(&format!(
        "SELECT x FROM t WHERE {}b",
        "a IS NULL = ".repeat(600)
    ));
    too_deep(&format!("SELECT x FROM t WHERE a{}", " AND b".repeat(1100)));
}

#[test]
fn a_very_long_chain_is_refused_on_a_small_stack() {
    // 200,000 terms: the refused tree is 200,000 levels deep and is dropped
    // recursively; the parse grows its stack for it.
    on_small_stack(|| too_deep(&or_chain(200_000)));
}

#[test]
fn a_very_long_chain_with_a_syntax_error_at_its_end_is_an_error_on_a_small_stack() {
    // `sqlparser` drops the 200,000-level tree it built when it meets the error.
    let chain = "a OR ".repeat(200_000);
    let e = on_small_stack(move || parse_app(&format!("SELECT {chain}) FROM t")).unwrap_err());
    assert!(e.message.contains("expected an expression"), "{e}");
}

#[test]
fn statement_and_query_spans() {
    let app = parse_app("  SELECT a\nFROM t ;\n\nINSERT INTO o SELECT * FROM t WITH ('a' = 'b')")
        .unwrap();
    let s = &app.statements[0];
    assert_eq!(s.span, Span::new(Location::new(1, 3), Location::new(2, 7)));
    let s = &app.statements[1];
    assert_eq!(s.span.start, Location::new(4, 1));
    assert_eq!(s.span.end, Location::new(4, 47));
    assert_eq!(s.kind.query().span.start, Location::new(4, 15));
    let p = &s.kind.query().properties[0];
    assert_eq!(
        p.key_span,
        Span::new(Location::new(4, 37), Location::new(4, 40))
    );
    assert_eq!(
        p.value_span,
        Span::new(Location::new(4, 43), Location::new(4, 46))
    );
}

#[test]
fn empty_app_and_empty_statements() {
    assert!(parse_app("").unwrap().statements.is_empty());
    assert!(parse_app(" ;; -- nothing\n/* at all */ ;")
        .unwrap()
        .statements
        .is_empty());
    assert_eq!(
        parse_app(";SELECT 1 FROM t;;SELECT 2 FROM t;")
            .unwrap()
            .statements
            .len(),
        2
    );
}

#[test]
fn window_time_column_keeps_the_last_identifier() {
    let q = query("SELECT COUNT(*) FROM t GROUP BY a WINDOW TUMBLING(t.ts, 1m)");
    assert_eq!(q.window.unwrap().time_column().unwrap().value, "ts");
}

#[test]
fn lone_window_column_is_a_missing_duration() {
    let sql = "SELECT a FROM t\nGROUP BY a WINDOW TUMBLING(x)";
    let e = error(sql);
    assert_eq!(e.message, "expected a duration, found 'x'");
    assert_eq!((e.line(), e.column()), (2, 28));
}

#[test]
fn lenient_clause_order() {
    let a = query("SELECT a FROM t WINDOW TUMBLING(1m) GROUP BY a WITH ('k' = 'v') EMIT FINAL");
    let b = query("SELECT a FROM t GROUP BY a WINDOW TUMBLING(1m) EMIT FINAL WITH ('k' = 'v')");
    assert_eq!(a.group_by, b.group_by);
    assert_eq!(
        a.window.map(|w| w.time_column().cloned()),
        b.window.map(|w| w.time_column().cloned())
    );
    assert_eq!(a.emit.map(|e| e.mode), Some(EmitMode::Final));
    assert_eq!(a.properties.len(), 1);
    let e = error("SELECT a FROM t GROUP BY a GROUP BY b");
    assert_eq!(e.message, "duplicate GROUP BY clause");
}

#[test]
fn windowing_table_functions_desugar_to_the_window_clause() {
    let tvf = query(
        "SELECT k, window_start, COUNT(*) FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '5' MINUTE)) AS x \
         GROUP BY window_start, k, window_end HAVING x.window_end > window_time",
    );
    assert_eq!(tvf.from.name.value, "t");
    assert_eq!(tvf.from.alias.as_ref().map(|a| a.value.as_str()), Some("x"));
    match &tvf.window {
        Some(WindowSpec::Sliding {
            time_column,
            size,
            advance,
            ..
        }) => {
            assert_eq!(time_column.as_ref().unwrap().value, "ts");
            assert_eq!((size.millis, advance.millis), (300_000, 60_000));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tvf.group_by.len(), 1);
    assert_eq!(tvf.group_by[0].to_string(), "k");
    match &tvf.projection[1] {
        SelectItem::Expr { expr, alias, .. } => {
            assert_eq!(expr.to_string(), "_window_start");
            assert_eq!(alias.as_ref().unwrap().value, "window_start");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        tvf.having.unwrap().to_string(),
        "_window_end > (_window_end - 1)"
    );
    let e = error(
        "SELECT COUNT(*) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), 1m)) GROUP BY window_start",
    );
    assert!(
        e.message.contains("add window_start and window_end"),
        "{}",
        e.message
    );
    let e = error("SELECT COUNT(*) FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), 1m, 1h))");
    assert!(
        e.message.contains("TUMBLE, HOP or SESSION"),
        "{}",
        e.message
    );
}

#[test]
fn subqueries_and_common_table_expressions_parse_into_from() {
    let q = query("SELECT a FROM (SELECT a, b FROM t WHERE b > 1) AS s WHERE a < 3");
    assert_eq!(q.from.name.value, "s");
    let inner = q.from.subquery.as_ref().unwrap();
    assert_eq!(inner.from.name.value, "t");
    assert!(inner.selection.is_some());
    let q = query("WITH x AS (SELECT a FROM t), y AS (SELECT a FROM x) SELECT a FROM y");
    let y = q.from.subquery.as_ref().unwrap();
    assert_eq!(y.from.name.value, "x");
    assert_eq!(y.from.subquery.as_ref().unwrap().from.name.value, "t");
    let e = error("SELECT a FROM (SELECT a FROM t)");
    assert!(
        e.message.contains("an alias for the subquery"),
        "{}",
        e.message
    );
    let e = error("WITH x AS (SELECT a FROM t), x AS (SELECT a FROM t) SELECT a FROM x");
    assert!(e.message.contains("defined twice"), "{}", e.message);
}

#[test]
fn windowing_table_functions_in_a_join_window_each_input() {
    let q = query(
        "SELECT a.k, b.v FROM TABLE(TUMBLE(TABLE l, DESCRIPTOR(ts), INTERVAL '10' SECOND)) a \
         LEFT JOIN TABLE(TUMBLE(TABLE r, DESCRIPTOR(at), INTERVAL '10' SECOND)) AS b \
         ON a.k = b.k AND a.window_start = b.window_start AND a.window_end = b.window_end",
    );
    // A window join: no WINDOW clause, each input keeps its own window.
    assert!(q.window.is_none());
    assert_eq!(q.from.name.value, "l");
    let time = |t: &crate::ast::TableRef| {
        t.window
            .as_ref()
            .unwrap()
            .time_column()
            .unwrap()
            .value
            .clone()
    };
    assert_eq!(time(&q.from), "ts");
    assert_eq!(q.joins[0].table.name.value, "r");
    assert_eq!(q.joins[0].table.alias.as_ref().unwrap().value, "b");
    assert_eq!(time(&q.joins[0].table), "at");
    let err = crate::parse_app(
        "SELECT * FROM l JOIN TABLE(TUMBLE(TABLE r, DESCRIPTOR(ts), INTERVAL '1' SECOND)) b ON l.k = b.k",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("through the same windowing table function"),
        "{err}"
    );
    let err = crate::parse_app(
        "SELECT * FROM TABLE(SESSION(TABLE l PARTITION BY k, DESCRIPTOR(ts), INTERVAL '1' SECOND)) a \
         JOIN TABLE(SESSION(TABLE r PARTITION BY k, DESCRIPTOR(ts), INTERVAL '1' SECOND)) b ON a.k = b.k",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("SESSION windows is not supported"),
        "{err}"
    );
}
