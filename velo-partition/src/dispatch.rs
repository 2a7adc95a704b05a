//! The V2 reader side: route batches to the partition queues, broadcast the
//! in-band control messages.

use velo_types::{Batch, StreamMessage};

use crate::error::{Error, Result};
use crate::queue::{QueueGauges, QueueSender};
use crate::{PartitioningStrategy, RoutingContext};

/// Feeds N partition queues from one input stream.
///
/// Batches are split by the strategy and each sub-batch is sent to its
/// partition's queue; watermarks and end of stream are sent to every queue, after
/// the sub-batches of the batches before them, so each worker sees them at the
/// same point of the input whatever the partition count (SPEC §4). Sends block
/// while a queue is full (backpressure).
///
/// ```
/// use std::sync::Arc;
/// use velo_partition::{create, partition_queue, Dispatcher, RoutingContext, StrategyKind};
/// use velo_types::{Batch, DataType, Field, Schema, StreamMessage, Value, Watermark};
///
/// let (txs, rxs): (Vec<_>, Vec<_>) = (0..2).map(|_| partition_queue(8)).unzip();
/// let mut d = Dispatcher::new(create(StrategyKind::FanIn), txs);
/// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int)]));
/// let batch = Batch::new(schema, vec![Value::Int(1)]).unwrap();
/// let ctx = RoutingContext::new(2, vec![]);
/// d.send(StreamMessage::Batch(batch), &ctx).unwrap();
/// d.send(StreamMessage::Watermark(Watermark(10)), &ctx).unwrap();
/// assert_eq!(rxs[0].depth(), 2); // the batch, then the watermark
/// assert_eq!(rxs[1].depth(), 1); // the watermark
/// ```
#[derive(Debug)]
pub struct Dispatcher {
    strategy: Box<dyn PartitioningStrategy>,
    queues: Vec<QueueSender<StreamMessage>>,
    scratch: Vec<(usize, Batch)>,
}

impl Dispatcher {
    /// A dispatcher over one queue per partition (partition `i` is `queues[i]`).
    pub fn new(
        strategy: Box<dyn PartitioningStrategy>,
        queues: Vec<QueueSender<StreamMessage>>,
    ) -> Dispatcher {
        Dispatcher {
            strategy,
            queues,
            scratch: Vec::new(),
        }
    }

    /// N, the number of queues.
    pub fn partition_count(&self) -> usize {
        self.queues.len()
    }

    pub fn strategy_name(&self) -> &'static str {
        self.strategy.name()
    }

    /// The partition queues' sending ends (to read their depths).
    pub fn queues(&self) -> &[QueueSender<StreamMessage>] {
        &self.queues
    }

    /// Routes a batch to the queues, or broadcasts a watermark or end of stream.
    ///
    /// # Panics
    ///
    /// When `ctx.partition_count` is not the number of queues.
    pub fn send(&mut self, msg: StreamMessage, ctx: &RoutingContext) -> Result<()> {
        match msg {
            StreamMessage::Batch(b) => self.send_batch(b, ctx),
            StreamMessage::Right(b) => self.send_right(b, ctx),
            other => self.broadcast(&other),
        }
    }

    /// Routes a batch of a join's second stream by `ctx` (whose keys are that
    /// stream's columns) and sends each sub-batch on as
    /// [`StreamMessage::Right`].
    pub fn send_right(&mut self, batch: Batch, ctx: &RoutingContext) -> Result<()> {
        self.route(batch, ctx, StreamMessage::Right)
    }

    /// Routes `batch` and sends each sub-batch to its partition's queue.
    ///
    /// # Panics
    ///
    /// When `ctx.partition_count` is not the number of queues.
    pub fn send_batch(&mut self, batch: Batch, ctx: &RoutingContext) -> Result<()> {
        self.route(batch, ctx, StreamMessage::Batch)
    }

    fn route(
        &mut self,
        batch: Batch,
        ctx: &RoutingContext,
        wrap: fn(Batch) -> StreamMessage,
    ) -> Result<()> {
        assert_eq!(
            ctx.partition_count,
            self.queues.len(),
            "RoutingContext::partition_count must equal the number of partition queues"
        );
        self.scratch.clear();
        self.strategy.route(batch, ctx, &mut self.scratch);
        let mut result = Ok(());
        for (p, sub) in self.scratch.drain(..) {
            if result.is_ok() && self.queues[p].send(wrap(sub)).is_err() {
                result = Err(Error::QueueClosed { partition: p });
            }
        }
        result
    }

    /// Sends a copy of `msg` to every queue, in partition order.
    pub fn broadcast(&self, msg: &StreamMessage) -> Result<()> {
        for (p, q) in self.queues.iter().enumerate() {
            q.send(msg.clone())
                .map_err(|_| Error::QueueClosed { partition: p })?;
        }
        Ok(())
    }

    /// Records every queue's depth on `gauges` (one per partition, in order).
    pub fn record_metrics(&self, gauges: &[QueueGauges]) {
        for (q, g) in self.queues.iter().zip(gauges) {
            g.record_sender(q);
        }
    }
}
