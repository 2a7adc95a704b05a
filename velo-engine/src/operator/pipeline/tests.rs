//! The pipeline's contract, checked with operators that log every call.

use std::sync::{Arc, Mutex};

use velo_types::{Batch, DataType, Field, Schema, SchemaRef, Value, Watermark};

use super::*;
use crate::operator::{Operator, OperatorState, OutputKind, RestoreScope};

type Log = Arc<Mutex<Vec<String>>>;

/// Passes batches through, emits one row holding the watermark at each
/// watermark and one row `-1` at the end; done after `limit` rows.
#[derive(Debug)]
struct Probe {
    name: &'static str,
    inputs: usize,
    schema: SchemaRef,
    log: Log,
    rows: usize,
    limit: Option<usize>,
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("v", DataType::Int)]))
}

fn rows(values: &[i64]) -> Batch {
    Batch::new(schema(), values.iter().map(|v| Value::Int(*v)).collect()).unwrap()
}

fn probe(name: &'static str, inputs: usize, log: &Log) -> Probe {
    Probe {
        name,
        inputs,
        schema: schema(),
        log: log.clone(),
        rows: 0,
        limit: None,
    }
}

impl Probe {
    fn note(&self, event: String) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{}:{event}", self.name));
    }
}

impl Operator for Probe {
    fn name(&self) -> &'static str {
        self.name
    }
    fn inputs(&self) -> usize {
        self.inputs
    }
    fn output_schema(&self) -> &SchemaRef {
        &self.schema
    }
    fn output_kind(&self) -> OutputKind {
        OutputKind::AppendOnly
    }
    fn process_batch(&mut self, input: usize, batch: &Batch) -> Result<Option<Batch>> {
        let values: Vec<String> = batch.rows().map(|r| r[0].to_string()).collect();
        self.note(format!("batch{input}[{}]", values.join(",")));
        self.rows += batch.num_rows();
        Ok(Some(batch.clone()))
    }
    fn on_watermark(&mut self, watermark: Watermark) -> Result<Option<Batch>> {
        self.note(format!("wm{}", watermark.0));
        Ok(Some(rows(&[watermark.0])))
    }
    fn on_barrier(&mut self, id: u64) -> Result<Option<Batch>> {
        self.note(format!("barrier{id}"));
        Ok(None)
    }
    fn finish(&mut self) -> Result<Option<Batch>> {
        self.note("finish".into());
        Ok(Some(rows(&[-1])))
    }
    fn is_done(&self) -> bool {
        self.limit.is_some_and(|l| self.rows >= l)
    }
    fn state_bytes(&self) -> usize {
        self.rows
    }
    fn snapshot(&self) -> Result<OperatorState> {
        Ok(OperatorState {
            operator: self.name,
            version: 1,
            bytes: (self.rows as u64).to_le_bytes().to_vec(),
        })
    }
    fn restore(&mut self, states: &[&OperatorState], _: &RestoreScope<'_>) -> Result<()> {
        for state in states {
            let bytes: [u8; 8] = state
                .bytes
                .as_slice()
                .try_into()
                .map_err(|_| Error::State {
                    operator: self.name,
                    message: "not 8 bytes".into(),
                })?;
            self.rows += u64::from_le_bytes(bytes) as usize;
        }
        Ok(())
    }
}

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// The root's output as text: row values, and `|id` for barriers.
fn drained<O: Operator>(p: &mut Pipeline<O>) -> Vec<String> {
    p.drain()
        .flat_map(|e| match e {
            Emitted::Rows(b) => b.rows().map(|r| r[0].to_string()).collect::<Vec<_>>(),
            Emitted::Barrier(id) => vec![format!("|{id}")],
        })
        .collect()
}

/// `a` (two inputs, both pipeline inputs) feeding `b`.
fn join_then_probe(log: &Log) -> Pipeline<Probe> {
    let mut builder = PipelineBuilder::new();
    let a = builder.add(probe("a", 2, log));
    let b = builder.add(probe("b", 1, log));
    builder.source(Edge { node: a, input: 0 }).unwrap();
    builder.source(Edge { node: a, input: 1 }).unwrap();
    builder.connect(a, Edge { node: b, input: 0 }).unwrap();
    builder.build().unwrap()
}

#[test]
fn an_operators_output_reaches_its_consumer_before_the_watermark_does() {
    let log = log();
    let mut p = PipelineBuilder::chain([probe("a", 1, &log), probe("b", 1, &log)]).unwrap();
    p.process(0, &rows(&[1, 2])).unwrap();
    p.on_watermark(0, Watermark(5)).unwrap();
    assert_eq!(
        take(&log),
        [
            "a:batch0[1,2]",
            "b:batch0[1,2]",
            "a:wm5",
            "b:batch0[5]",
            "b:wm5"
        ]
    );
    assert_eq!(drained(&mut p), ["1", "2", "5", "5"]);
    assert_eq!(
        p.node_stats(0),
        NodeStats {
            rows_in: 2,
            rows_out: 3
        }
    );
    assert_eq!(
        p.node_stats(1),
        NodeStats {
            rows_in: 3,
            rows_out: 4
        }
    );
}

#[test]
fn a_watermark_that_does_not_rise_is_not_passed_on() {
    let log = log();
    let mut p = Pipeline::single(probe("a", 1, &log)).unwrap();
    p.on_watermark(0, Watermark(5)).unwrap();
    p.on_watermark(0, Watermark(5)).unwrap();
    p.on_watermark(0, Watermark(3)).unwrap();
    assert_eq!(take(&log), ["a:wm5"]);
    assert_eq!(p.watermark(0), Some(5));
}

#[test]
fn an_operator_sees_the_minimum_of_its_inputs_watermarks() {
    let log = log();
    let mut p = join_then_probe(&log);
    p.on_watermark(0, Watermark(10)).unwrap();
    assert_eq!(take(&log), Vec::<String>::new(), "input 1 has none yet");
    p.on_watermark(1, Watermark(3)).unwrap();
    p.on_watermark(1, Watermark(20)).unwrap();
    assert_eq!(
        take(&log),
        [
            "a:wm3",
            "b:batch0[3]",
            "b:wm3",
            "a:wm10",
            "b:batch0[10]",
            "b:wm10"
        ]
    );
    // An input that ended no longer holds the minimum back.
    p.end_input(0).unwrap();
    assert_eq!(take(&log), ["a:wm20", "b:batch0[20]", "b:wm20"]);
}

#[test]
fn a_barrier_holds_its_input_until_it_arrived_on_every_input() {
    let log = log();
    let mut p = join_then_probe(&log);
    p.on_barrier(0, 1).unwrap();
    p.process(0, &rows(&[7])).unwrap();
    p.on_watermark(0, Watermark(9)).unwrap();
    p.process(1, &rows(&[8])).unwrap();
    assert_eq!(
        take(&log),
        ["a:batch1[8]", "b:batch0[8]"],
        "input 0 is held"
    );
    p.on_barrier(1, 1).unwrap();
    assert_eq!(
        take(&log),
        ["a:barrier1", "b:barrier1", "a:batch0[7]", "b:batch0[7]"]
    );
    assert_eq!(drained(&mut p), ["8", "|1", "7"]);
    // The held watermark was replayed too: input 0 is at 9 now.
    p.on_watermark(1, Watermark(12)).unwrap();
    assert_eq!(take(&log), ["a:wm9", "b:batch0[9]", "b:wm9"]);
}

#[test]
fn a_second_barrier_behind_the_first_is_aligned_after_it() {
    let log = log();
    let mut p = join_then_probe(&log);
    p.on_barrier(0, 1).unwrap();
    p.on_barrier(0, 2).unwrap();
    p.process(0, &rows(&[7])).unwrap();
    p.on_barrier(1, 1).unwrap();
    assert_eq!(take(&log), ["a:barrier1", "b:barrier1"]);
    p.on_barrier(1, 2).unwrap();
    assert_eq!(
        take(&log),
        ["a:barrier2", "b:barrier2", "a:batch0[7]", "b:batch0[7]"]
    );
    assert_eq!(drained(&mut p), ["|1", "|2", "7"]);
}

#[test]
fn an_ended_input_does_not_hold_a_barrier_back() {
    let log = log();
    let mut p = join_then_probe(&log);
    p.end_input(1).unwrap();
    p.on_barrier(0, 4).unwrap();
    assert_eq!(take(&log), ["a:barrier4", "b:barrier4"]);
    assert_eq!(drained(&mut p), ["|4"]);
}

#[test]
fn an_operator_finishes_once_every_input_ended() {
    let log = log();
    let mut p = join_then_probe(&log);
    p.end_input(0).unwrap();
    assert_eq!(take(&log), Vec::<String>::new());
    // The end behind a barrier waits for the barrier, like anything else.
    p.on_barrier(1, 1).unwrap();
    p.end_input(1).unwrap();
    p.end_input(1).unwrap();
    assert_eq!(
        take(&log),
        [
            "a:barrier1",
            "b:barrier1",
            "a:finish",
            "b:batch0[-1]",
            "b:finish"
        ]
    );
    assert_eq!(drained(&mut p), ["|1", "-1", "-1"]);
    let err = p.process(1, &rows(&[1])).unwrap_err().to_string();
    assert!(err.contains("after its end"), "{err}");
}

#[test]
fn a_pipeline_is_done_when_no_input_leads_to_an_operator_that_wants_rows() {
    let log = log();
    let mut first = probe("a", 1, &log);
    first.limit = Some(2);
    let mut p = PipelineBuilder::chain([first, probe("b", 1, &log)]).unwrap();
    p.process(0, &rows(&[1])).unwrap();
    assert!(!p.is_done());
    p.process(0, &rows(&[2])).unwrap();
    assert!(p.is_done(), "the first operator's LIMIT ends the input");

    // Two inputs: one leads to a done operator, the other does not.
    let mut builder = PipelineBuilder::new();
    let mut limited = probe("x", 1, &log);
    limited.limit = Some(1);
    let x = builder.add(limited);
    let y = builder.add(probe("y", 1, &log));
    let z = builder.add(probe("z", 2, &log));
    builder.source(Edge { node: x, input: 0 }).unwrap();
    builder.source(Edge { node: y, input: 0 }).unwrap();
    builder.connect(x, Edge { node: z, input: 0 }).unwrap();
    builder.connect(y, Edge { node: z, input: 1 }).unwrap();
    let mut p = builder.build().unwrap();
    p.process(0, &rows(&[1])).unwrap();
    assert!(!p.is_done(), "input 1 still matters");
}

#[test]
fn a_batch_fans_out_to_every_consumer() {
    let log = log();
    let mut builder = PipelineBuilder::new();
    let a = builder.add(probe("a", 1, &log));
    let b = builder.add(probe("b", 1, &log));
    let c = builder.add(probe("c", 1, &log));
    let d = builder.add(probe("d", 2, &log));
    builder.source(Edge { node: a, input: 0 }).unwrap();
    builder.connect(a, Edge { node: b, input: 0 }).unwrap();
    builder.connect(a, Edge { node: c, input: 0 }).unwrap();
    builder.connect(b, Edge { node: d, input: 0 }).unwrap();
    builder.connect(c, Edge { node: d, input: 1 }).unwrap();
    let mut p = builder.build().unwrap();
    p.process(0, &rows(&[1])).unwrap();
    p.on_barrier(0, 3).unwrap();
    assert_eq!(
        take(&log),
        [
            "a:batch0[1]",
            "b:batch0[1]",
            "d:batch0[1]",
            "c:batch0[1]",
            "d:batch1[1]",
            "a:barrier3",
            "b:barrier3",
            "c:barrier3",
            "d:barrier3"
        ]
    );
    assert_eq!(drained(&mut p), ["1", "1", "|3"]);
}

#[test]
fn snapshot_and_restore_go_node_by_node() {
    let log = log();
    let mut p = PipelineBuilder::chain([probe("a", 1, &log), probe("b", 1, &log)]).unwrap();
    p.process(0, &rows(&[1, 2, 3])).unwrap();
    let states = p.snapshot().unwrap();
    assert_eq!(p.state_bytes(), 6);
    let mut q = PipelineBuilder::chain([probe("a", 1, &log), probe("b", 1, &log)]).unwrap();
    q.restore(std::slice::from_ref(&states), &RestoreScope::whole())
        .unwrap();
    assert_eq!(q.state_bytes(), 6);
    let err = q
        .restore(&[states[..1].to_vec()], &RestoreScope::whole())
        .unwrap_err();
    assert!(
        err.to_string().contains("a snapshot of 1 operators"),
        "{err}"
    );
}

#[test]
fn miswired_pipelines_are_refused() {
    let log = log();
    let mut b = PipelineBuilder::new();
    b.add(probe("a", 2, &log));
    b.source(Edge { node: 0, input: 0 }).unwrap();
    let err = b.build().unwrap_err().to_string();
    assert!(err.contains("input 1 of node 0 is not fed"), "{err}");

    let mut b = PipelineBuilder::new();
    b.add(probe("a", 1, &log));
    b.add(probe("b", 1, &log));
    assert!(
        b.connect(1, Edge { node: 0, input: 0 }).is_err(),
        "backwards"
    );
    b.source(Edge { node: 0, input: 0 }).unwrap();
    assert!(b.source(Edge { node: 0, input: 0 }).is_err(), "fed twice");
    assert!(
        b.source(Edge { node: 0, input: 5 }).is_err(),
        "no such input"
    );
    b.source(Edge { node: 1, input: 0 }).unwrap();
    let err = b.build().unwrap_err().to_string();
    assert!(err.contains("node 0's output goes nowhere"), "{err}");

    let empty = PipelineBuilder::<Probe>::new().build().unwrap_err();
    assert!(matches!(empty, Error::Pipeline(_)));
}
