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
