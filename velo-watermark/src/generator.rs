//! The watermark strategy and the per-partition generator.

use velo_types::Watermark;

use crate::error::{Error, Result};

/// How a source partition derives its watermark from the event times it sees
/// (`watermark.strategy` and `watermark.max_out_of_orderness`, SPEC §3). The
/// server maps the planner's settings onto this enum.
///
/// ```
/// use velo_watermark::WatermarkStrategy;
///
/// let s = WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: 5_000 };
/// assert_eq!(s.delay_ms(), 5_000);
/// assert_eq!(WatermarkStrategy::Ascending.delay_ms(), 0);
/// assert!(WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: -1 }
///     .validate()
///     .is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatermarkStrategy {
    /// Watermark = max event time seen - `max_out_of_orderness_ms`.
    BoundedOutOfOrderness {
        /// How far behind the maximum event time a record may arrive and still
        /// be on time, in milliseconds; must not be negative.
        max_out_of_orderness_ms: i64,
    },
    /// Event times never decrease: bounded out-of-orderness with a delay of 0.
    Ascending,
}

impl Default for WatermarkStrategy {
    /// SPEC §3's default: `bounded_out_of_orderness` with a delay of `0s`.
    fn default() -> Self {
        WatermarkStrategy::BoundedOutOfOrderness {
            max_out_of_orderness_ms: 0,
        }
    }
}

impl WatermarkStrategy {
    /// The delay subtracted from the maximum event time, in milliseconds.
    pub fn delay_ms(&self) -> i64 {
        match *self {
            WatermarkStrategy::BoundedOutOfOrderness {
                max_out_of_orderness_ms,
            } => max_out_of_orderness_ms,
            WatermarkStrategy::Ascending => 0,
        }
    }

    /// Checks the strategy: a negative delay is [`Error::InvalidDelay`].
    pub fn validate(&self) -> Result<()> {
        let ms = self.delay_ms();
        if ms < 0 {
            return Err(Error::InvalidDelay { ms });
        }
        Ok(())
    }

    /// A fresh generator for one source partition.
    pub fn generator(&self) -> Result<BoundedOutOfOrderness> {
        BoundedOutOfOrderness::new(self.delay_ms())
    }
}

/// Generates one source partition's watermark from the event times it sees.
///
/// ```
/// use velo_watermark::{BoundedOutOfOrderness, WatermarkGenerator};
///
/// let mut g = BoundedOutOfOrderness::new(5_000).unwrap();
/// assert_eq!(g.current(), None);
/// g.observe(10_000);
/// g.observe(8_000);
/// assert_eq!(g.current().map(|w| w.0), Some(5_000));
/// ```
pub trait WatermarkGenerator: Send {
    /// Notes one event time (milliseconds since the epoch), typically the
    /// maximum of an input batch.
    fn observe(&mut self, event_time: i64);

    /// The watermark so far; `None` before any record.
    fn current(&self) -> Option<Watermark>;
}

/// `bounded_out_of_orderness`: max event time seen minus a fixed delay.
/// `ascending` is the same with a delay of zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedOutOfOrderness {
    max_out_of_orderness_ms: i64,
    max_seen: Option<i64>,
}

impl BoundedOutOfOrderness {
    /// A generator with the given delay in milliseconds; a negative delay is
    /// [`Error::InvalidDelay`].
    pub fn new(max_out_of_orderness_ms: i64) -> Result<Self> {
        if max_out_of_orderness_ms < 0 {
            return Err(Error::InvalidDelay {
                ms: max_out_of_orderness_ms,
            });
        }
        Ok(BoundedOutOfOrderness {
            max_out_of_orderness_ms,
            max_seen: None,
        })
    }

    /// The delay in milliseconds.
    pub fn max_out_of_orderness_ms(&self) -> i64 {
        self.max_out_of_orderness_ms
    }

    /// The maximum event time seen so far; `None` before any record.
    pub fn max_seen(&self) -> Option<i64> {
        self.max_seen
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
    fn bounded_delay_subtracts_from_max_seen() {
        let mut g = BoundedOutOfOrderness::new(1_000).unwrap();
        assert_eq!(g.current(), None);
        g.observe(5_000);
        assert_eq!(g.current(), Some(Watermark(4_000)));
        g.observe(3_000); // out of order: does not move the max
        assert_eq!(g.current(), Some(Watermark(4_000)));
        g.observe(7_500);
        assert_eq!(g.current(), Some(Watermark(6_500)));
        assert_eq!(g.max_seen(), Some(7_500));
    }

    #[test]
    fn ascending_has_no_delay() {
        let mut g = WatermarkStrategy::Ascending.generator().unwrap();
        g.observe(100);
        g.observe(50);
        assert_eq!(g.current(), Some(Watermark(100)));
        assert_eq!(g.max_out_of_orderness_ms(), 0);
    }

    #[test]
    fn negative_delay_is_rejected() {
        assert_eq!(
            BoundedOutOfOrderness::new(-5),
            Err(Error::InvalidDelay { ms: -5 })
        );
        let s = WatermarkStrategy::BoundedOutOfOrderness {
            max_out_of_orderness_ms: -1,
        };
        assert_eq!(s.validate(), Err(Error::InvalidDelay { ms: -1 }));
        assert!(WatermarkStrategy::Ascending.validate().is_ok());
        assert!(WatermarkStrategy::default().validate().is_ok());
    }

    #[test]
    fn delay_saturates_instead_of_overflowing() {
        let mut g = BoundedOutOfOrderness::new(i64::MAX).unwrap();
        g.observe(i64::MIN + 1);
        assert_eq!(g.current(), Some(Watermark(i64::MIN)));
    }

    #[test]
    fn error_messages_are_readable() {
        let e = Error::InvalidDelay { ms: -3 };
        assert!(e.to_string().contains("-3 ms"));
        assert!(Error::InvalidIdleTimeout
            .to_string()
            .contains("idle timeout"));
    }
}
