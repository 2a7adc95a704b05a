//! Scenario 5's two streams: orders and their shipments, joined within 10 s
//! (an interval join, SPEC §2).
//!
//! Both streams are in event-time order, one row per millisecond each, from
//! the same start: order `i` at `BASE + i` ms, shipment `j` at `BASE + j` ms,
//! for the order `j - d(j)` where `d(j) = (j * 7919) mod 12000` ms is the
//! shipping delay. About four in five shipments come within the 10 s bound
//! and pair with their order; the others (and those of orders before the first)
//! pair with nothing. Each stream holds half the scenario's records.

use std::sync::Arc;

use velo_types::{Batch, BatchBuilder, DataType, Field, Schema, SchemaRef, StreamMessage, Value};

/// The event time of row 0 of both streams (2023-11-14T22:13:20Z).
pub const BASE: i64 = 1_700_000_000_000;

/// The orders' declared schema, as SQL.
pub const ORDERS_SCHEMA: &str = "order_id BIGINT, customer_id BIGINT, amount DOUBLE, ts BIGINT";

/// The shipments' declared schema, as SQL.
pub const SHIPMENTS_SCHEMA: &str = "ship_id BIGINT, order_id BIGINT, ts BIGINT";

/// The shipping delay of shipment `j`, in milliseconds.
fn delay(j: u64) -> i64 {
    (j.wrapping_mul(7919) % 12_000) as i64
}

pub fn orders_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int),
        Field::new("customer_id", DataType::Int),
        Field::new("amount", DataType::Float),
        Field::new("ts", DataType::Int),
    ]))
}

pub fn shipments_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ship_id", DataType::Int),
        Field::new("order_id", DataType::Int),
        Field::new("ts", DataType::Int),
    ]))
}

/// Orders `start .. start + n`.
pub fn orders(schema: &SchemaRef, start: u64, n: usize) -> Batch {
    let mut b = BatchBuilder::with_capacity(schema.clone(), n);
    for i in start..start + n as u64 {
        b.push_row([
            Value::Int(i as i64),
            Value::Int((i % 1000) as i64),
            Value::Float(10.0 + (i % 100) as f64),
            Value::Int(BASE + i as i64),
        ]);
    }
    b.finish()
}

/// Shipments `start .. start + n`.
pub fn shipments(schema: &SchemaRef, start: u64, n: usize) -> Batch {
    let mut b = BatchBuilder::with_capacity(schema.clone(), n);
    for j in start..start + n as u64 {
        b.push_row([
            Value::Int(j as i64),
            Value::Int(j as i64 - delay(j)),
            Value::Int(BASE + j as i64),
        ]);
    }
    b.finish()
}

/// How many rows each stream holds for `records` records in all.
pub fn per_stream(records: u64) -> (u64, u64) {
    let left = records.div_ceil(2);
    (left, records - left)
}

/// The in-band message sequence `velo-server` reads for the two streams
/// (`processor/two_streams.rs`): batches of `batch_size`, the stream whose
/// watermark is behind first (in turn while level), the left stream's as
/// `Batch` and the right's as `Right`, the minimum of both watermarks after
/// each batch that raised it (each stream's watermark is its largest event
/// time: both are in order), then the end.
pub fn messages(records: u64, batch_size: usize) -> Vec<StreamMessage> {
    let (n_left, n_right) = per_stream(records);
    let (ls, rs) = (orders_schema(), shipments_schema());
    let mut next = [0u64, 0u64];
    let ends = [n_left, n_right];
    let mut watermarks: [Option<i64>; 2] = [None, None];
    let mut sent: Option<i64> = None;
    let mut turn = 0;
    let mut out = Vec::new();
    loop {
        let open = [next[0] < ends[0], next[1] < ends[1]];
        let side = match open {
            [false, false] => break,
            [true, false] => 0,
            [false, true] => 1,
            _ => match watermarks {
                [None, Some(_)] => 0,
                [Some(_), None] => 1,
                [Some(a), Some(b)] if a != b => usize::from(b < a),
                _ => {
                    let s = turn;
                    turn = 1 - turn;
                    s
                }
            },
        };
        let n = batch_size.min((ends[side] - next[side]) as usize);
        let start = next[side];
        next[side] += n as u64;
        watermarks[side] = Some(BASE + next[side] as i64 - 1);
        out.push(if side == 0 {
            StreamMessage::Batch(orders(&ls, start, n))
        } else {
            StreamMessage::Right(shipments(&rs, start, n))
        });
        // An ended stream no longer holds the watermark back.
        let mut min: Option<i64> = None;
        let mut known = true;
        for s in 0..2 {
            if next[s] >= ends[s] && watermarks[s].is_some() {
                continue;
            }
            match watermarks[s] {
                Some(w) => min = Some(min.map_or(w, |m: i64| m.min(w))),
                None => known = false,
            }
        }
        if let (true, Some(m)) = (known, min) {
            if sent.is_none_or(|s| s < m) {
                sent = Some(m);
                out.push(StreamMessage::Watermark(velo_types::Watermark(m)));
            }
        }
    }
    out.push(StreamMessage::EndOfStream);
    out
}

/// The pairs a run must emit, computed here: shipment `j` pairs with order
/// `j - d(j)` when that order exists and `d(j) <= 10 s`.
pub fn expected_pairs(records: u64) -> u64 {
    let (n_left, n_right) = per_stream(records);
    (0..n_right)
        .filter(|&j| {
            let order = j as i64 - delay(j);
            order >= 0 && (order as u64) < n_left && delay(j) <= 10_000
        })
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_interleaves_both_streams_with_a_rising_watermark() {
        let messages = messages(10_000, 1000);
        let (mut left, mut right, mut last) = (0, 0, i64::MIN);
        for m in &messages {
            match m {
                StreamMessage::Batch(b) => left += b.num_rows(),
                StreamMessage::Right(b) => right += b.num_rows(),
                StreamMessage::Watermark(w) => {
                    assert!(w.0 > last);
                    last = w.0;
                }
                _ => {}
            }
        }
        assert_eq!((left, right), (5000, 5000));
        // Once the orders have ended, the shipments alone move it; the end
        // of the stream closes what the last batch leaves open.
        assert_eq!(
            last,
            BASE + 3999,
            "the shipments' watermark before their last batch"
        );
        assert!(matches!(messages.last(), Some(StreamMessage::EndOfStream)));
        // Level streams alternate.
        assert!(matches!(messages[0], StreamMessage::Batch(_)));
        assert!(matches!(messages[1], StreamMessage::Right(_)));
    }

    #[test]
    fn most_shipments_pair() {
        let pairs = expected_pairs(200_000);
        assert!(pairs > 75_000 && pairs < 85_000, "{pairs}");
    }
}
