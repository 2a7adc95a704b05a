//! What happens to a record that arrives behind the watermark.

use velo_types::Watermark;

/// `late.data.strategy` (SPEC §3): what to do with a late record. The server
/// maps the planner's setting onto this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LateDataPolicy {
    /// `drop` (the default): discard it and count it.
    #[default]
    Drop,
    /// `process_with_warning`: process it anyway and log a warning.
    ProcessWithWarning,
    /// `process_all`: process it as if on time.
    ProcessAll,
    /// `dead_letter`: send it to the `late.data.dead_letter` sink instead.
    DeadLetter,
}

/// The verdict on one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LateDecision {
    /// Not late: process normally.
    OnTime,
    /// Late; discard it.
    Drop,
    /// Late; process it and log a warning.
    ProcessWithWarning,
    /// Late; process it.
    Process,
    /// Late; send it to the dead-letter sink.
    DeadLetter,
}

impl LateDecision {
    /// Whether the record was late.
    pub fn is_late(self) -> bool {
        self != LateDecision::OnTime
    }

    /// Whether the record goes on to the processors.
    pub fn is_processed(self) -> bool {
        matches!(
            self,
            LateDecision::OnTime | LateDecision::ProcessWithWarning | LateDecision::Process
        )
    }
}

/// Decides what happens to a record with `event_time` (milliseconds) given the
/// current watermark. A record is late when its event time is strictly below
/// the watermark; a record exactly at the watermark is on time, and nothing is
/// late before the first watermark.
///
/// ```
/// use velo_types::Watermark;
/// use velo_watermark::{decide, LateCounters, LateDataPolicy, LateDecision};
///
/// let wm = Some(Watermark(1_000));
/// assert_eq!(decide(LateDataPolicy::Drop, 1_000, wm), LateDecision::OnTime);
/// assert_eq!(decide(LateDataPolicy::Drop, 999, wm), LateDecision::Drop);
/// assert_eq!(decide(LateDataPolicy::DeadLetter, 999, wm), LateDecision::DeadLetter);
/// assert_eq!(decide(LateDataPolicy::Drop, i64::MIN, None), LateDecision::OnTime);
///
/// let mut counters = LateCounters::default();
/// counters.record(decide(LateDataPolicy::Drop, 999, wm));
/// assert_eq!((counters.late, counters.dropped), (1, 1));
/// ```
pub fn decide(
    policy: LateDataPolicy,
    event_time: i64,
    watermark: Option<Watermark>,
) -> LateDecision {
    let late = watermark.is_some_and(|w| event_time < w.0);
    if !late {
        return LateDecision::OnTime;
    }
    match policy {
        LateDataPolicy::Drop => LateDecision::Drop,
        LateDataPolicy::ProcessWithWarning => LateDecision::ProcessWithWarning,
        LateDataPolicy::ProcessAll => LateDecision::Process,
        LateDataPolicy::DeadLetter => LateDecision::DeadLetter,
    }
}

/// Counts of late records for metrics (SPEC §4: every late record is counted).
/// `late` counts every late record; the others split it by what happened:
/// `late == dropped + dead_lettered + processed_late`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LateCounters {
    /// Every late record.
    pub late: u64,
    /// Late records discarded.
    pub dropped: u64,
    /// Late records sent to the dead-letter sink.
    pub dead_lettered: u64,
    /// Late records processed anyway (with or without a warning).
    pub processed_late: u64,
}

impl LateCounters {
    /// Counts one decision; [`LateDecision::OnTime`] counts nothing.
    pub fn record(&mut self, decision: LateDecision) {
        match decision {
            LateDecision::OnTime => return,
            LateDecision::Drop => self.dropped += 1,
            LateDecision::DeadLetter => self.dead_lettered += 1,
            LateDecision::ProcessWithWarning | LateDecision::Process => self.processed_late += 1,
        }
        self.late += 1;
    }

    /// Adds another set of counters (e.g. from another partition).
    pub fn merge(&mut self, other: &LateCounters) {
        self.late += other.late;
        self.dropped += other.dropped;
        self.dead_lettered += other.dead_lettered;
        self.processed_late += other.processed_late;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [LateDataPolicy; 4] = [
        LateDataPolicy::Drop,
        LateDataPolicy::ProcessWithWarning,
        LateDataPolicy::ProcessAll,
        LateDataPolicy::DeadLetter,
    ];

    #[test]
    fn late_records_follow_the_policy() {
        let wm = Some(Watermark(1_000));
        assert_eq!(decide(LateDataPolicy::Drop, 999, wm), LateDecision::Drop);
        assert_eq!(
            decide(LateDataPolicy::ProcessWithWarning, 999, wm),
            LateDecision::ProcessWithWarning
        );
        assert_eq!(
            decide(LateDataPolicy::ProcessAll, 999, wm),
            LateDecision::Process
        );
        assert_eq!(
            decide(LateDataPolicy::DeadLetter, 0, wm),
            LateDecision::DeadLetter
        );
    }

    #[test]
    fn event_time_at_the_watermark_is_on_time_for_every_policy() {
        for policy in ALL {
            assert_eq!(
                decide(policy, 1_000, Some(Watermark(1_000))),
                LateDecision::OnTime
            );
            assert_eq!(
                decide(policy, 1_001, Some(Watermark(1_000))),
                LateDecision::OnTime
            );
            assert!(decide(policy, 999, Some(Watermark(1_000))).is_late());
        }
    }

    #[test]
    fn nothing_is_late_before_the_first_watermark() {
        for policy in ALL {
            assert_eq!(decide(policy, i64::MIN, None), LateDecision::OnTime);
        }
    }

    #[test]
    fn end_of_input_watermark_makes_everything_but_max_late() {
        let wm = Some(Watermark(i64::MAX));
        assert_eq!(
            decide(LateDataPolicy::Drop, i64::MAX, wm),
            LateDecision::OnTime
        );
        assert_eq!(
            decide(LateDataPolicy::Drop, i64::MAX - 1, wm),
            LateDecision::Drop
        );
    }

    #[test]
    fn default_policy_is_drop() {
        assert_eq!(LateDataPolicy::default(), LateDataPolicy::Drop);
    }

    #[test]
    fn decision_predicates() {
        assert!(!LateDecision::OnTime.is_late());
        assert!(LateDecision::OnTime.is_processed());
        assert!(LateDecision::Process.is_processed());
        assert!(LateDecision::ProcessWithWarning.is_processed());
        assert!(!LateDecision::Drop.is_processed());
        assert!(!LateDecision::DeadLetter.is_processed());
    }

    #[test]
    fn counters_split_late_records() {
        let mut c = LateCounters::default();
        for d in [
            LateDecision::OnTime,
            LateDecision::Drop,
            LateDecision::Drop,
            LateDecision::ProcessWithWarning,
            LateDecision::Process,
            LateDecision::DeadLetter,
        ] {
            c.record(d);
        }
        assert_eq!(
            c,
            LateCounters {
                late: 5,
                dropped: 2,
                dead_lettered: 1,
                processed_late: 2,
            }
        );
        assert_eq!(c.late, c.dropped + c.dead_lettered + c.processed_late);

        let mut total = LateCounters::default();
        total.merge(&c);
        total.merge(&c);
        assert_eq!(total.late, 10);
        assert_eq!(total.processed_late, 4);
    }
}
