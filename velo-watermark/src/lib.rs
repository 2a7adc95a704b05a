//! Velo's event-time watermarks and late-data decisions.
//!
//! A watermark is generated per source partition (a file, a Kafka partition) from
//! the event times it has seen; the job's watermark is the minimum over the active
//! source partitions, and it advances only at input batch boundaries, travelling
//! in-band ([`velo_types::StreamMessage::Watermark`]) so every processing partition
//! closes windows at the same point of the input (SPEC §4). This crate decides; it
//! does not move data.
//!
//! - [`WatermarkStrategy`] (`watermark.strategy`, `watermark.max_out_of_orderness`)
//!   and the per-partition generator [`BoundedOutOfOrderness`]
//!   ([`WatermarkGenerator`]): max event time seen minus a fixed delay; ascending
//!   is a delay of zero.
//! - [`SourceWatermarks`]: one generator per source partition, added and removed
//!   as partitions come and go (a Kafka rebalance), combined as the minimum over
//!   the active partitions. A partition with no event time yet holds the watermark
//!   back; with an idle timeout, a partition that has sent nothing for that long
//!   (processing time, from the `now` the caller passes) is left out until it
//!   sends again. The combined watermark never goes back, and
//!   [`SourceWatermarks::end_of_input`] gives `Watermark(i64::MAX)` to flush
//!   everything at the end of bounded input.
//! - [`decide`] with [`LateDataPolicy`] (`late.data.strategy`): a record is late
//!   when its event time is strictly below the watermark; [`LateCounters`] counts
//!   every late record for metrics.
//!
//! The crate depends on `velo-types` only: its enums are its own, and the server
//! maps the planner's job settings onto them. Configuration errors are
//! [`Error`].

mod error;
mod generator;
mod late;
mod source;

pub use error::{Error, Result};
pub use generator::{BoundedOutOfOrderness, WatermarkGenerator, WatermarkStrategy};
pub use late::{decide, LateCounters, LateDataPolicy, LateDecision};
pub use source::SourceWatermarks;
