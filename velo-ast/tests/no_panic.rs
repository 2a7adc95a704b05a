//! No input makes `parse_app` panic: every truncation of every golden case,
//! token-level mutations of them, and arbitrary text.

use std::fs;
use std::path::Path;

use proptest::prelude::*;

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parse");
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect()
}

/// Parses and, on error, renders the error (rendering must not panic either).
fn parse(sql: &str) {
    if let Err(e) = velo_ast::parse_app(sql) {
        let _ = e.render(sql, Some("case.sql"));
        assert!(e.line() >= 1, "error without a position for {sql:?}: {e}");
    }
}

#[test]
fn every_truncation_of_every_case() {
    for sql in corpus() {
        for (i, _) in sql.char_indices() {
            parse(&sql[..i]);
            parse(&sql[i..]);
        }
    }
}

/// Words that stress the parser's special paths when dropped in anywhere.
const VOCABULARY: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "WINDOW",
    "TUMBLING",
    "SLIDING",
    "SESSION",
    "(",
    ")",
    ",",
    ";",
    ".",
    "*",
    "'",
    "'x'",
    "''",
    "INTERVAL",
    "5",
    "0",
    "-1",
    "1m",
    "500ms",
    "x",
    "OVER",
    "ROWS",
    "BUFFER",
    "EXPIRE",
    "AFTER",
    "INACTIVITY",
    "EMIT",
    "CHANGES",
    "FINAL",
    "WITH",
    "=",
    "JOIN",
    "ON",
    "LEFT",
    "AS",
    "PRIMARY",
    "KEY",
    "LIMIT",
    "ORDER",
    "HAVING",
    "CASE",
    "END",
    "--",
    "/*",
    "*/",
    "\"",
    "99999999999999999999",
    "1e400",
    "\n",
    "é",
    "BETWEEN",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Insert(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<usize>(), 0..VOCABULARY.len()).prop_map(|(a, w)| Mutation::Insert(a, w)),
    ]
}

fn apply(words: &mut Vec<String>, m: &Mutation) {
    let n = words.len().max(1);
    match *m {
        Mutation::Delete(i) if !words.is_empty() => {
            words.remove(i % n);
        }
        Mutation::Duplicate(i) if !words.is_empty() => {
            let w = words[i % n].clone();
            words.insert(i % n, w);
        }
        Mutation::Swap(a, b) if !words.is_empty() => words.swap(a % n, b % n),
        Mutation::Insert(i, w) => words.insert(i % (words.len() + 1), VOCABULARY[w].to_string()),
        _ => {}
    }
}

/// Splits into words and punctuation so mutations hit tokens, not characters.
fn words(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for ch in sql.chars() {
        if ch.is_alphanumeric() || ch == '_' || ch == '\'' {
            current.push(ch);
        } else {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            if !ch.is_whitespace() {
                out.push(ch.to_string());
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn token_mutations_never_panic(
        case in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let corpus = corpus();
        let mut ws = words(&corpus[case.index(corpus.len())]);
        for m in &mutations {
            apply(&mut ws, m);
        }
        parse(&ws.join(" "));
    }

    #[test]
    fn vocabulary_soup_never_panics(picks in prop::collection::vec(0..VOCABULARY.len(), 0..40)) {
        let sql: Vec<&str> = picks.iter().map(|&i| VOCABULARY[i]).collect();
        parse(&sql.join(" "));
    }

    #[test]
    fn arbitrary_text_never_panics(sql in "\\PC{0,200}") {
        parse(&sql);
    }
}
