//! Bounded queues: backpressure states, blocking sends, metrics, the dispatcher.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{
    Counter, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use velo_partition::{
    create, partition_queue, BackpressureState, Dispatcher, Error, QueueGauges, RoutingContext,
    StrategyKind, BACKPRESSURE_STATE_METRIC, QUEUE_DEPTH_METRIC, QUEUE_UTILISATION_METRIC,
};
use velo_types::{Batch, DataType, Field, Schema, StreamMessage, Value, Watermark};

#[test]
fn states_follow_the_depth() {
    use BackpressureState::*;
    let (tx, rx) = partition_queue::<u32>(10);
    assert_eq!(tx.capacity(), 10);
    assert_eq!(rx.capacity(), 10);
    let mut seen = vec![tx.state()];
    let expected = [
        Healthy, Healthy, Healthy, Healthy, Healthy, Healthy, Healthy, Warning, Warning, Critical,
        Saturated,
    ];
    assert_eq!(tx.state(), expected[0]);
    for (depth, &want) in expected.iter().enumerate().skip(1) {
        tx.try_send(depth as u32).unwrap();
        assert_eq!(tx.depth(), depth);
        assert_eq!(rx.depth(), depth, "both ends read the same depth");
        assert_eq!(tx.state(), want, "depth {depth}");
        assert_eq!(rx.state(), want);
        assert!((tx.utilisation() - depth as f64 / 10.0).abs() < 1e-12);
        if seen.last() != Some(&tx.state()) {
            seen.push(tx.state());
        }
    }
    assert_eq!(seen, vec![Healthy, Warning, Critical, Saturated]);
    // Full: a non-blocking send is refused, the message handed back.
    assert!(matches!(
        tx.try_send(11),
        Err(velo_partition::TrySendError::Full(11))
    ));
    // Draining goes back down.
    for i in 1..=10 {
        assert_eq!(rx.recv(), Some(i));
    }
    assert_eq!(tx.state(), Healthy);
}

#[test]
fn send_blocks_while_full_and_resumes_when_drained() {
    let (tx, rx) = partition_queue::<u32>(2);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let done = done.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            tx.send(3).unwrap(); // blocks: the queue is full
            done.store(true, Ordering::SeqCst);
        })
    };
    // Give the producer ample time; it must still be blocked (no timing precision
    // is asserted: only that it has not got through while nothing was consumed).
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !done.load(Ordering::SeqCst),
        "send returned on a full queue"
    );
    assert_eq!(tx.depth(), 2, "memory stays bounded");
    assert!(tx.send_timeout(9, Duration::from_millis(10)).is_err());
    // Consuming one message lets it through.
    assert_eq!(rx.recv(), Some(1));
    producer.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(rx.recv(), Some(2));
    assert_eq!(rx.recv(), Some(3));
    drop(tx);
    assert_eq!(rx.recv(), None, "closed once every sender is dropped");
}

#[test]
fn a_slow_consumer_paces_the_producer() {
    let (tx, rx) = partition_queue::<u64>(4);
    let consumer = std::thread::spawn(move || {
        let mut max_depth = 0;
        let mut sum = 0;
        while let Ok(v) = rx.recv_timeout(Duration::from_secs(10)) {
            max_depth = max_depth.max(rx.depth());
            sum += v;
            std::thread::sleep(Duration::from_micros(50));
        }
        (sum, max_depth)
    });
    let mut max_seen = 0;
    for i in 0..500u64 {
        tx.send(i).unwrap();
        max_seen = max_seen.max(tx.depth());
    }
    drop(tx);
    let (sum, max_depth) = consumer.join().unwrap();
    assert_eq!(sum, (0..500).sum::<u64>());
    assert!(max_seen <= 4 && max_depth <= 4);
}

#[test]
fn send_fails_when_the_receiver_is_gone() {
    let (tx, rx) = partition_queue::<String>(3);
    drop(rx);
    let err = tx.send("lost?".to_string()).unwrap_err();
    assert_eq!(err.0, "lost?", "the message is handed back");
}

#[test]
#[should_panic(expected = "capacity of at least 1")]
fn zero_capacity_is_refused() {
    let _ = partition_queue::<u8>(0);
}

/// Captures gauge values by their key (name plus labels).
#[derive(Default)]
struct Capture {
    gauges: Mutex<Vec<(String, Arc<Cell>)>>,
}

#[derive(Default)]
struct Cell(Mutex<f64>);

impl GaugeFn for Cell {
    fn increment(&self, v: f64) {
        *self.0.lock().unwrap() += v;
    }
    fn decrement(&self, v: f64) {
        *self.0.lock().unwrap() -= v;
    }
    fn set(&self, v: f64) {
        *self.0.lock().unwrap() = v;
    }
}

impl Capture {
    fn get(&self, name: &str, job: &str, partition: &str) -> Option<f64> {
        let want = format!("{name}{{job={job},partition={partition}}}");
        let gauges = self.gauges.lock().unwrap();
        gauges
            .iter()
            .rev()
            .find(|(k, _)| *k == want)
            .map(|(_, c)| *c.0.lock().unwrap())
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let cell = Arc::new(Cell::default());
        self.gauges.lock().unwrap().push((name, cell.clone()));
        Gauge::from_arc(cell)
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn gauges_are_published_per_partition() {
    let recorder = Capture::default();
    let (tx, rx) = partition_queue::<u8>(10);
    for i in 0..9 {
        tx.send(i).unwrap();
    }
    metrics::with_local_recorder(&recorder, || {
        tx.publish_metrics("orders", 3);
    });
    assert_eq!(recorder.get(QUEUE_DEPTH_METRIC, "orders", "3"), Some(9.0));
    assert_eq!(
        recorder.get(QUEUE_UTILISATION_METRIC, "orders", "3"),
        Some(0.9)
    );
    assert_eq!(
        recorder.get(BACKPRESSURE_STATE_METRIC, "orders", "3"),
        Some(2.0),
        "critical"
    );
    for name in [
        QUEUE_DEPTH_METRIC,
        QUEUE_UTILISATION_METRIC,
        BACKPRESSURE_STATE_METRIC,
    ] {
        assert!(name.starts_with("velo_"));
    }

    // Handles looked up once, recorded many times.
    let gauges = metrics::with_local_recorder(&recorder, || QueueGauges::new("orders", 0));
    gauges.record_sender(&tx);
    assert_eq!(recorder.get(QUEUE_DEPTH_METRIC, "orders", "0"), Some(9.0));
    while rx.try_recv().is_ok() {}
    gauges.record_sender(&tx);
    assert_eq!(recorder.get(QUEUE_DEPTH_METRIC, "orders", "0"), Some(0.0));
    assert_eq!(
        recorder.get(BACKPRESSURE_STATE_METRIC, "orders", "0"),
        Some(0.0)
    );
}

fn batch(keys: &[&str]) -> Batch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::String),
        Field::new("i", DataType::Int),
    ]));
    let values = keys
        .iter()
        .enumerate()
        .flat_map(|(i, k)| [Value::str(k), Value::Int(i as i64)])
        .collect();
    Batch::new(schema, values).unwrap()
}

#[test]
fn dispatcher_routes_batches_and_broadcasts_watermarks_in_band() {
    let n = 3;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| partition_queue(64)).unzip();
    let mut d = Dispatcher::new(create(StrategyKind::AlwaysHash), txs);
    assert_eq!(d.partition_count(), 3);
    assert_eq!(d.strategy_name(), "always_hash");
    let ctx = RoutingContext::new(n, vec![0]);
    let keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
    d.send(StreamMessage::Batch(batch(&keys)), &ctx).unwrap();
    d.send(StreamMessage::Watermark(Watermark(100)), &ctx)
        .unwrap();
    d.send(StreamMessage::Batch(batch(&keys)), &ctx).unwrap();
    d.send(StreamMessage::EndOfStream, &ctx).unwrap();
    drop(d);

    let mut rows = 0;
    for rx in &rxs {
        let msgs: Vec<StreamMessage> = rx.iter().collect();
        // Each worker sees: its part of batch 1, the watermark, its part of
        // batch 2, the end of stream.
        let shape: Vec<&str> = msgs
            .iter()
            .map(|m| match m {
                StreamMessage::Batch(_) => "B",
                StreamMessage::Right(_) => "R",
                StreamMessage::Watermark(_) => "W",
                StreamMessage::Barrier(_) => "|",
                StreamMessage::EndOfStream => "E",
            })
            .collect();
        let w = shape.iter().position(|s| *s == "W").unwrap();
        assert_eq!(shape.iter().filter(|s| **s == "W").count(), 1);
        assert_eq!(shape.last(), Some(&"E"));
        assert_eq!(
            w,
            shape.len() - 1 - w - 1,
            "same data before and after the watermark"
        );
        for m in &msgs {
            if let StreamMessage::Batch(b) = m {
                rows += b.num_rows();
            }
        }
    }
    assert_eq!(rows, 16);
}

#[test]
fn dispatcher_reports_a_closed_queue() {
    let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..2).map(|_| partition_queue(4)).unzip();
    let mut d = Dispatcher::new(create(StrategyKind::FanIn), txs);
    rxs.remove(0);
    let ctx = RoutingContext::new(2, vec![]);
    let err = d
        .send(StreamMessage::Batch(batch(&["x"])), &ctx)
        .unwrap_err();
    assert_eq!(err, Error::QueueClosed { partition: 0 });
    assert_eq!(
        d.send(StreamMessage::EndOfStream, &ctx).unwrap_err(),
        Error::QueueClosed { partition: 0 }
    );
}

#[test]
fn recv_spinning_takes_waiting_messages_then_parks_until_one_arrives() {
    let (tx, rx) = partition_queue::<u32>(4);
    tx.send(1).unwrap();
    assert_eq!(rx.recv_spinning(Duration::from_micros(50)), Some(1));
    // Nothing waiting: it polls for the spin, then parks until the send.
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        tx.send(2).unwrap();
    });
    assert_eq!(rx.recv_spinning(Duration::from_micros(50)), Some(2));
    sender.join().unwrap();
    // Every sender gone and the queue drained: the end, with or without a spin.
    assert_eq!(rx.recv_spinning(Duration::from_micros(50)), None);
    assert_eq!(rx.recv_spinning(Duration::ZERO), None);
}

#[test]
fn a_commit_barrier_reaches_every_partition_in_order() {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| partition_queue(8)).unzip();
    let mut d = Dispatcher::new(create(StrategyKind::RoundRobin), txs);
    let ctx = RoutingContext::new(3, vec![]);
    d.send(StreamMessage::Batch(batch(&["a"])), &ctx).unwrap();
    d.send(StreamMessage::Barrier(7), &ctx).unwrap();
    d.send(StreamMessage::Batch(batch(&["b"])), &ctx).unwrap();
    drop(d);
    // Round robin: "a" to partition 0, "b" to partition 1; the barrier to all,
    // between them.
    let shapes: Vec<String> = rxs
        .iter()
        .map(|rx| {
            rx.iter()
                .map(|m| match m {
                    StreamMessage::Batch(_) => 'B',
                    StreamMessage::Barrier(7) => '|',
                    _ => '?',
                })
                .collect()
        })
        .collect();
    assert_eq!(shapes, ["B|", "|B", "|"]);
}
