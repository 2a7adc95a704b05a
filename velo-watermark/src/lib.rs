//! Velo's event-time watermarks and late-data decisions.
//!
//! A watermark is generated per source partition (a file, a Kafka partition) from
//! the event times it has seen; the job's watermark is the minimum over the active
//! source partitions, and it advances only at input batch boundaries, travelling
//! in-band ([`velo_types::StreamMessage::Watermark`]) so every processing partition
//! closes windows at the same point of the input. This crate decides; it does not
//! move data.
//!
//! This issue ships the per-partition generator boundary; combining partitions,
//! idleness and the late-data strategies arrive with the event-time issue.

use velo_types::Watermark;

/// Generates one source partition's watermark from the event times it sees.
///
/// ```
/// use velo_watermark::{BoundedOutOfOrderness, WatermarkGenerator};
///
/// let mut g = BoundedOutOfOrderness::new(5_000);
/// g.observe(10_000);
/// g.observe(8_000);
/// assert_eq!(g.current().map(|w| w.0), Some(5_000));
/// ```
pub trait WatermarkGenerator: Send {
    /// Notes one record's event time (milliseconds since the epoch).
    fn observe(&mut self, event_time: i64);

    /// The watermark so far; `None` before any record.
    fn current(&self) -> Option<Watermark>;
}

/// `bounded_out_of_orderness`: max event time seen minus a fixed delay.
/// `ascending` is the same with a delay of zero.
#[derive(Debug, Clone)]
pub struct BoundedOutOfOrderness {
    max_out_of_orderness_ms: i64,
    max_seen: Option<i64>,
}

impl BoundedOutOfOrderness {
    pub fn new(max_out_of_orderness_ms: i64) -> Self {
        BoundedOutOfOrderness {
            max_out_of_orderness_ms,
            max_seen: None,
        }
    }
}

impl WatermarkGenerator for BoundedOutOfOrderness {
    fn observe(&mut self, event_time: i64) {
        self.max_seen = Some(self.max_seen.map_or(event_time, |m| m.max(event_time)));
    }

    fn current(&self) -> Option<Watermark> {
        self.max_seen
            .map(|m| Watermark(m.saturating_sub(self.max_out_of_orderness_ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_never_goes_back() {
        let mut g = BoundedOutOfOrderness::new(0);
        assert_eq!(g.current(), None);
        g.observe(100);
        g.observe(50);
        assert_eq!(g.current(), Some(Watermark(100)));
    }
}
