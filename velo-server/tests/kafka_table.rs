//! Kafka changelog tables end to end (SPEC §2): a table topic on a real
//! Kafka-compatible broker (`tansu`), with an update and a delete, joined by
//! the real `velo-server` binary with a stream read from a file. The latest
//! value per key wins and a tombstone deletes its key. The expected rows are
//! written out by hand.
//!
//! Without the `tansu` binary these tests fail, unless `VELO_SKIP_KAFKA_TESTS=1`.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::broker::Broker;

/// The customers table topic: three customers, then Ann moves to gold and
/// Cy is deleted (in the partitions their keys hash to, so a key's changes
/// stay in order).
fn customers(broker: &Broker, topic: &str) {
    broker.create_topic(topic, 2);
    let row = |id: u32, name: &str, tier: &str| {
        (
            id.to_string(),
            format!(r#"{{"id":{id},"name":"{name}","tier":"{tier}"}}"#),
        )
    };
    broker.produce(
        topic,
        [
            row(1, "Ann", "silver"),
            row(2, "Bob", "silver"),
            row(3, "Cy", "bronze"),
            row(1, "Ann", "gold"),
        ]
        .into_iter(),
    );
    broker.produce_tombstone(topic, "3");
}

fn app(dir: &Path, broker: &Broker, topic: &str, join: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("orders.csv"),
        "order_id,customer_id,amount\n10,1,5\n11,2,7\n12,3,9\n13,4,1\n",
    )
    .unwrap();
    let path = dir.join("app.sql");
    let text = format!(
        "CREATE STREAM enriched AS
         SELECT o.order_id, o.amount, c.name, c.tier
         FROM orders o {join} customers c ON o.customer_id = c.id
         WITH ('orders.type' = 'file_source', 'orders.path' = '{orders}',
               'customers.type' = 'kafka_source', 'customers.topic' = '{topic}',
               'customers.bootstrap.servers' = '{b}',
               'customers.kind' = 'table', 'customers.key' = 'id',
               'customers.schema' = 'id BIGINT, name VARCHAR, tier VARCHAR',
               'enriched.type' = 'file_sink', 'enriched.path' = '{out}');",
        orders = dir.join("orders.csv").display(),
        out = dir.join("out.jsonl").display(),
        b = broker.bootstrap()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn run(app: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_velo-server"))
        .arg("run")
        .arg(app)
        .args(args)
        .output()
        .unwrap()
}

fn sorted_lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_kafka_table_applies_its_updates_and_deletes_before_the_stream_joins_it() {
    let Some(broker) = Broker::start() else {
        return;
    };
    customers(&broker, "customers");
    let dir = tempfile::tempdir().unwrap();
    let row = |id: u32, amount: u32, customer: Option<(&str, &str)>| match customer {
        Some((name, tier)) => {
            format!(r#"{{"order_id":{id},"amount":{amount},"name":"{name}","tier":"{tier}"}}"#)
        }
        None => format!(r#"{{"order_id":{id},"amount":{amount},"name":null,"tier":null}}"#),
    };
    // Ann's later value wins; Cy was deleted; customer 4 was never there.
    let inner = vec![
        row(10, 5, Some(("Ann", "gold"))),
        row(11, 7, Some(("Bob", "silver"))),
    ];
    let mut left = inner.clone();
    left.extend([row(12, 9, None), row(13, 1, None)]);
    for (join, expected) in [("LEFT JOIN", left), ("JOIN", inner)] {
        let app = app(dir.path(), &broker, "customers", join);
        for args in [
            &["--processor", "v1"][..],
            &["--processor", "v2", "--partitions", "2"][..],
        ] {
            let out = run(&app, args);
            assert!(
                out.status.success(),
                "{join} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                sorted_lines(&dir.path().join("out.jsonl")),
                expected,
                "{join} {args:?}"
            );
        }
    }
}

#[test]
fn a_tombstone_whose_key_is_not_the_tables_key_fails_the_job() {
    let Some(broker) = Broker::start() else {
        return;
    };
    customers(&broker, "bad_customers");
    broker.produce_tombstone("bad_customers", "three");
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), &broker, "bad_customers", "JOIN");
    let out = run(&app, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("table 'customers'")
            && stderr.contains("bad_customers[")
            && stderr.contains("the tombstone's message key \"three\" is not"),
        "{stderr}"
    );
    assert!(!dir.path().join("out.jsonl").exists(), "{stderr}");
}
