//! [`Pipeline`]: a tree of operators and the one place that drives them.

use std::collections::VecDeque;

use velo_types::{Batch, Watermark};

use super::{Operator, OperatorState, RestoreScope};
use crate::error::{Error, Result};

/// Where a batch goes: input `input` of node `node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub node: usize,
    pub input: usize,
}

/// What the pipeline's root emitted, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted {
    /// Rows for the job's sink.
    Rows(Batch),
    /// Barrier `id` passed every operator: everything emitted before it
    /// belongs to the checkpoint, everything after it to the next one.
    Barrier(u64),
}

/// A message held behind a barrier, to replay once the barrier is aligned.
#[derive(Debug)]
enum Held {
    Batch(Batch),
    Watermark(Watermark),
    Barrier(u64),
    End,
}

#[derive(Debug, Clone, Copy)]
enum Message<'a> {
    Batch(&'a Batch),
    Watermark(Watermark),
    Barrier(u64),
    End,
}

impl Message<'_> {
    fn to_held(self) -> Held {
        match self {
            Message::Batch(b) => Held::Batch(b.clone()),
            Message::Watermark(w) => Held::Watermark(w),
            Message::Barrier(id) => Held::Barrier(id),
            Message::End => Held::End,
        }
    }
}

impl Held {
    fn as_message(&self) -> Message<'_> {
        match self {
            Held::Batch(b) => Message::Batch(b),
            Held::Watermark(w) => Message::Watermark(*w),
            Held::Barrier(id) => Message::Barrier(*id),
            Held::End => Message::End,
        }
    }
}

/// Rows through one node, counted by the pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub rows_in: u64,
    pub rows_out: u64,
}

#[derive(Debug)]
struct Node<O> {
    op: O,
    consumers: Vec<Edge>,
    /// Per input: its latest watermark, whether it ended, whether it is
    /// blocked behind the pending barrier and what it holds meanwhile.
    watermarks: Vec<Option<i64>>,
    ended: Vec<bool>,
    blocked: Vec<bool>,
    held: Vec<VecDeque<Held>>,
    /// The barrier being aligned.
    barrier: Option<u64>,
    /// The last watermark given to the operator.
    watermark: Option<i64>,
    finished: bool,
    stats: NodeStats,
}

/// Wires operators into a [`Pipeline`]. Nodes are added consumers last: an
/// edge always points from an earlier node to a later one, so the order of
/// addition is a topological order and the last node added is the root.
#[derive(Debug)]
pub struct PipelineBuilder<O> {
    nodes: Vec<Node<O>>,
    sources: Vec<Edge>,
    /// Per node and input: whether something feeds it.
    fed: Vec<Vec<bool>>,
}

impl<O: Operator> Default for PipelineBuilder<O> {
    fn default() -> Self {
        PipelineBuilder {
            nodes: Vec::new(),
            sources: Vec::new(),
            fed: Vec::new(),
        }
    }
}

impl<O: Operator> PipelineBuilder<O> {
    pub fn new() -> PipelineBuilder<O> {
        PipelineBuilder::default()
    }

    /// Adds an operator; returns its node index.
    pub fn add(&mut self, op: O) -> usize {
        let n = op.inputs();
        self.nodes.push(Node {
            op,
            consumers: Vec::new(),
            watermarks: vec![None; n],
            ended: vec![false; n],
            blocked: vec![false; n],
            held: (0..n).map(|_| VecDeque::new()).collect(),
            barrier: None,
            watermark: None,
            finished: false,
            stats: NodeStats::default(),
        });
        self.fed.push(vec![false; n]);
        self.nodes.len() - 1
    }

    /// Feeds `from`'s output into `to`.
    pub fn connect(&mut self, from: usize, to: Edge) -> Result<()> {
        if from >= to.node {
            return Err(Error::Pipeline(format!(
                "an edge from node {from} to node {} points backwards",
                to.node
            )));
        }
        self.feed(to)?;
        self.nodes[from].consumers.push(to);
        Ok(())
    }

    /// Makes `to` read a pipeline input; returns that input's index.
    pub fn source(&mut self, to: Edge) -> Result<usize> {
        self.feed(to)?;
        self.sources.push(to);
        Ok(self.sources.len() - 1)
    }

    fn feed(&mut self, to: Edge) -> Result<()> {
        let slot = self
            .fed
            .get_mut(to.node)
            .and_then(|inputs| inputs.get_mut(to.input))
            .ok_or_else(|| Error::Pipeline(format!("no input {} on node {}", to.input, to.node)))?;
        if *slot {
            return Err(Error::Pipeline(format!(
                "input {} of node {} is fed twice",
                to.input, to.node
            )));
        }
        *slot = true;
        Ok(())
    }

    /// Checks the wiring: every input fed, one root, every other node read.
    pub fn build(self) -> Result<Pipeline<O>> {
        let Some(root) = self.nodes.len().checked_sub(1) else {
            return Err(Error::Pipeline("a pipeline needs an operator".into()));
        };
        for (n, inputs) in self.fed.iter().enumerate() {
            if let Some(i) = inputs.iter().position(|fed| !fed) {
                return Err(Error::Pipeline(format!("input {i} of node {n} is not fed")));
            }
        }
        if let Some(n) = self.nodes[..root]
            .iter()
            .position(|node| node.consumers.is_empty())
        {
            return Err(Error::Pipeline(format!("node {n}'s output goes nowhere")));
        }
        if !self.nodes[root].consumers.is_empty() {
            return Err(Error::Pipeline("the last node must be the root".into()));
        }
        Ok(Pipeline {
            nodes: self.nodes,
            sources: self.sources,
            output: Vec::new(),
        })
    }
}

/// A tree of operators, driven message by message: the watermark minimum,
/// barrier alignment, the end of input and the rows counted per node are all
/// done here (see the [module docs](super)). What the root emits collects in
/// order until [`Pipeline::drain`].
#[derive(Debug)]
pub struct Pipeline<O> {
    nodes: Vec<Node<O>>,
    sources: Vec<Edge>,
    output: Vec<Emitted>,
}

impl<O: Operator> Pipeline<O> {
    /// A pipeline of one operator reading every one of its inputs from a
    /// pipeline input of the same index.
    pub fn single(op: O) -> Result<Pipeline<O>> {
        PipelineBuilder::chain([op])
    }

    /// How many inputs the pipeline reads.
    pub fn inputs(&self) -> usize {
        self.sources.len()
    }

    /// The operators, in topological order (the root last).
    pub fn operators(&self) -> impl Iterator<Item = &O> {
        self.nodes.iter().map(|n| &n.op)
    }

    /// Where pipeline input `input` goes.
    pub fn source_edge(&self, input: usize) -> Option<Edge> {
        self.sources.get(input).copied()
    }

    pub fn operator(&self, node: usize) -> Option<&O> {
        self.nodes.get(node).map(|n| &n.op)
    }

    pub fn operators_mut(&mut self) -> impl Iterator<Item = &mut O> {
        self.nodes.iter_mut().map(|n| &mut n.op)
    }

    pub fn root(&self) -> &O {
        &self.nodes[self.nodes.len() - 1].op
    }

    /// Rows into and out of node `node`.
    pub fn node_stats(&self, node: usize) -> NodeStats {
        self.nodes
            .get(node)
            .map_or_else(NodeStats::default, |n| n.stats)
    }

    /// The watermark node `node`'s operator was last given.
    pub fn watermark(&self, node: usize) -> Option<i64> {
        self.nodes.get(node).and_then(|n| n.watermark)
    }

    /// A batch on pipeline input `input`.
    pub fn process(&mut self, input: usize, batch: &Batch) -> Result<()> {
        self.deliver_input(input, Message::Batch(batch))
    }

    /// Pipeline input `input`'s watermark.
    pub fn on_watermark(&mut self, input: usize, watermark: Watermark) -> Result<()> {
        self.deliver_input(input, Message::Watermark(watermark))
    }

    /// Barrier `id` on pipeline input `input`.
    pub fn on_barrier(&mut self, input: usize, id: u64) -> Result<()> {
        self.deliver_input(input, Message::Barrier(id))
    }

    /// Pipeline input `input` ended.
    pub fn end_input(&mut self, input: usize) -> Result<()> {
        self.deliver_input(input, Message::End)
    }

    /// Every pipeline input ended.
    pub fn finish(&mut self) -> Result<()> {
        for input in 0..self.sources.len() {
            self.end_input(input)?;
        }
        Ok(())
    }

    /// What the root emitted since the last call, in order.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Emitted> {
        self.output.drain(..)
    }

    /// True when nothing the root emits can change any more: every pipeline
    /// input leads only to operators that are done (LIMIT reached) or feed
    /// only such operators. The caller stops reading and finishes.
    pub fn is_done(&self) -> bool {
        self.sources.iter().all(|s| !self.wants_rows(s.node))
    }

    /// Whether node `node` still turns rows into output that matters.
    fn wants_rows(&self, node: usize) -> bool {
        let n = &self.nodes[node];
        !n.op.is_done()
            && (n.consumers.is_empty() || n.consumers.iter().any(|c| self.wants_rows(c.node)))
    }

    /// Every operator's [`Operator::name`], in node order.
    pub fn operator_names(&self) -> Vec<&'static str> {
        self.nodes.iter().map(|n| n.op.name()).collect()
    }

    /// The sum of every operator's state estimate.
    pub fn state_bytes(&self) -> usize {
        self.nodes.iter().map(|n| n.op.state_bytes()).sum()
    }

    /// Every operator's state, in node order.
    pub fn snapshot(&self) -> Result<Vec<OperatorState>> {
        self.nodes.iter().map(|n| n.op.snapshot()).collect()
    }

    /// Restores what [`Pipeline::snapshot`] of the same plan returned: one
    /// snapshot per old partition (see [`RestoreScope`]).
    pub fn restore(
        &mut self,
        partitions: &[Vec<OperatorState>],
        scope: &RestoreScope<'_>,
    ) -> Result<()> {
        if let Some(states) = partitions.iter().find(|s| s.len() != self.nodes.len()) {
            return Err(Error::Pipeline(format!(
                "a snapshot of {} operators for a plan of {}",
                states.len(),
                self.nodes.len()
            )));
        }
        let mut states = Vec::with_capacity(partitions.len());
        for (n, node) in self.nodes.iter_mut().enumerate() {
            states.clear();
            states.extend(partitions.iter().map(|p| &p[n]));
            node.op.restore(&states, scope)?;
        }
        Ok(())
    }

    fn deliver_input(&mut self, input: usize, message: Message<'_>) -> Result<()> {
        let to = *self
            .sources
            .get(input)
            .ok_or_else(|| Error::Pipeline(format!("no pipeline input {input}")))?;
        if self.nodes[to.node].ended[to.input] && !matches!(message, Message::End) {
            return Err(Error::Pipeline(format!(
                "a message on pipeline input {input} after its end"
            )));
        }
        self.deliver(to, message)
    }

    fn deliver(&mut self, to: Edge, message: Message<'_>) -> Result<()> {
        let node = &mut self.nodes[to.node];
        if node.blocked[to.input] {
            node.held[to.input].push_back(message.to_held());
            return Ok(());
        }
        match message {
            Message::Batch(batch) => {
                node.stats.rows_in += batch.num_rows() as u64;
                let out = node.op.process_batch(to.input, batch)?;
                self.emit(to.node, out)
            }
            Message::Watermark(wm) => {
                let w = &mut node.watermarks[to.input];
                if w.is_some_and(|w| w >= wm.0) {
                    return Ok(());
                }
                *w = Some(wm.0);
                self.advance_watermark(to.node)
            }
            Message::Barrier(id) => {
                node.blocked[to.input] = true;
                node.barrier = Some(id);
                self.try_align(to.node)
            }
            Message::End => {
                if node.ended[to.input] {
                    return Ok(());
                }
                node.ended[to.input] = true;
                // An ended input neither holds a barrier nor the watermark back.
                self.try_align(to.node)?;
                self.advance_watermark(to.node)?;
                let node = &mut self.nodes[to.node];
                if node.finished || !node.ended.iter().all(|e| *e) {
                    return Ok(());
                }
                node.finished = true;
                let out = node.op.finish()?;
                self.emit(to.node, out)?;
                self.forward(to.node, Message::End)
            }
        }
    }

    /// Gives the operator its inputs' minimum watermark if it rose, then
    /// passes it on.
    fn advance_watermark(&mut self, n: usize) -> Result<()> {
        let node = &mut self.nodes[n];
        let mut min: Option<i64> = None;
        for (w, ended) in node.watermarks.iter().zip(&node.ended) {
            if *ended {
                continue;
            }
            match w {
                None => return Ok(()),
                Some(w) => min = Some(min.map_or(*w, |m| m.min(*w))),
            }
        }
        let Some(min) = min else {
            return Ok(());
        };
        if node.watermark.is_some_and(|w| w >= min) {
            return Ok(());
        }
        node.watermark = Some(min);
        let out = node.op.on_watermark(Watermark(min))?;
        let passed = node.op.output_watermark(min);
        self.emit(n, out)?;
        self.forward(n, Message::Watermark(Watermark(passed)))
    }

    /// Completes the pending barrier once it arrived on every open input.
    fn try_align(&mut self, n: usize) -> Result<()> {
        let node = &mut self.nodes[n];
        let Some(id) = node.barrier else {
            return Ok(());
        };
        if !node.blocked.iter().zip(&node.ended).all(|(b, e)| *b || *e) {
            return Ok(());
        }
        node.barrier = None;
        node.blocked.iter_mut().for_each(|b| *b = false);
        let out = node.op.on_barrier(id)?;
        self.emit(n, out)?;
        self.forward(n, Message::Barrier(id))?;
        for input in 0..self.nodes[n].held.len() {
            let held = std::mem::take(&mut self.nodes[n].held[input]);
            for h in &held {
                self.deliver(Edge { node: n, input }, h.as_message())?;
            }
        }
        Ok(())
    }

    /// Sends node `n`'s output rows to its consumers, or out of the root.
    fn emit(&mut self, n: usize, out: Option<Batch>) -> Result<()> {
        let Some(batch) = out else {
            return Ok(());
        };
        self.nodes[n].stats.rows_out += batch.num_rows() as u64;
        if self.nodes[n].consumers.is_empty() {
            self.output.push(Emitted::Rows(batch));
            return Ok(());
        }
        self.forward(n, Message::Batch(&batch))
    }

    fn forward(&mut self, n: usize, message: Message<'_>) -> Result<()> {
        let consumers = self.nodes[n].consumers.len();
        if consumers == 0 {
            if let Message::Barrier(id) = message {
                self.output.push(Emitted::Barrier(id));
            }
            return Ok(());
        }
        for k in 0..consumers {
            let to = self.nodes[n].consumers[k];
            self.deliver(to, message)?;
        }
        Ok(())
    }
}

impl<O: Operator> PipelineBuilder<O> {
    /// A chain: the first operator reads the pipeline's inputs, each later one
    /// reads the one before it (each operator after the first has one input).
    pub fn chain(ops: impl IntoIterator<Item = O>) -> Result<Pipeline<O>> {
        let mut b = PipelineBuilder::new();
        let mut previous = None;
        for op in ops {
            let inputs = op.inputs();
            let node = b.add(op);
            match previous {
                None => {
                    for input in 0..inputs {
                        b.source(Edge { node, input })?;
                    }
                }
                Some(p) => b.connect(p, Edge { node, input: 0 })?,
            }
            previous = Some(node);
        }
        b.build()
    }
}

#[cfg(test)]
mod tests;
