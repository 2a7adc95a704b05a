use crate::batch::Batch;

/// An event-time watermark in milliseconds since the epoch: no record with an
/// event time below it is expected any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Watermark(pub i64);

/// What flows from a source through the processors to a sink. Watermarks travel
/// in-band, between batches, so every consumer sees them at the same point of the
/// input whatever the partition count (SPEC §4).
#[derive(Debug, Clone)]
pub enum StreamMessage {
    Batch(Batch),
    /// A batch of the second stream of a job that joins two streams (SPEC
    /// §2); `Batch` carries the first (FROM) stream's. Its watermark is
    /// merged into the one watermark sequence, the minimum of both inputs'.
    Right(Batch),
    Watermark(Watermark),
    /// A commit point (unbounded sources): every output derived from the input
    /// before it reaches the sink before the barrier does, so once the sink has
    /// seen barrier `n` from every partition and flushed, the source offsets
    /// recorded with it can be committed (at-least-once). Processors forward it;
    /// queries never see it.
    Barrier(u64),
    /// The source is exhausted: close every window and flush.
    EndOfStream,
}
