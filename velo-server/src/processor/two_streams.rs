//! The source side of a job that joins two streams (SPEC §2): two
//! [`SourceDriver`]s merged into the one in-band message sequence.
//!
//! The first (FROM) stream's batches go on as [`StreamMessage::Batch`], the
//! second's as [`StreamMessage::Right`]. Each stream keeps its own event time
//! and watermark generator; the merged sequence carries one watermark, the
//! minimum of the two, sent whenever it rises (a stream that has ended no
//! longer holds it back), and one end of stream once both have ended.
//!
//! Which stream is read next is decided by the data alone, so that a run
//! reads the same sequence whatever its partition count: the stream whose
//! watermark is behind (one without a watermark yet first), and in turn
//! while they are level or have no event time. Reading the stream that is
//! behind keeps the merged watermark moving and the join's state small.

use velo_types::{SchemaRef, StreamMessage};

use super::source::{Acks, SourceDriver};
use super::worker::Output;
use super::JobCounters;
use crate::app::Failure;
use velo_planner::JobPlan;

/// A job's source side: one stream, or two to join.
pub enum Inputs {
    One(Box<SourceDriver>),
    Two(Box<TwoStreams>),
}

impl Inputs {
    /// The (first) stream's schema.
    pub fn schema(&self) -> SchemaRef {
        match self {
            Inputs::One(s) => s.schema(),
            Inputs::Two(t) => t.sides[0].schema(),
        }
    }

    /// The readers' own threads, both streams together.
    pub fn helper_threads(&self) -> usize {
        match self {
            Inputs::One(s) => s.helper_threads(),
            Inputs::Two(t) => t.sides.iter().map(|s| s.helper_threads()).sum(),
        }
    }

    /// The second stream's schema, when there is one.
    pub fn right_schema(&self) -> Option<SchemaRef> {
        match self {
            Inputs::One(_) => None,
            Inputs::Two(t) => Some(t.sides[1].schema()),
        }
    }

    pub fn acks(&self) -> Acks {
        match self {
            Inputs::One(s) => s.acks(),
            // Two-stream joins read no partitioned source (the planner says so).
            Inputs::Two(_) => Acks::default(),
        }
    }

    /// The next messages; see [`SourceDriver::next`]. `right` is the plan the
    /// second stream is read with.
    pub async fn next(
        &mut self,
        job: &JobPlan,
        right: Option<&JobPlan>,
        out: &mut Vec<StreamMessage>,
        side: &mut Vec<Output>,
        counters: &JobCounters,
    ) -> Result<bool, Failure> {
        match (self, right) {
            (Inputs::One(s), _) => s.next(job, out, side, counters).await,
            (Inputs::Two(t), Some(right)) => t.next(job, right, out, side, counters).await,
            (Inputs::Two(_), None) => Err(Failure::Internal(
                "two streams read without the second one's plan".into(),
            )),
        }
    }

    /// Stops reading early: `EndOfStream` once.
    pub fn stop(&mut self, out: &mut Vec<StreamMessage>) {
        match self {
            Inputs::One(s) => s.stop(out),
            Inputs::Two(t) => t.stop(out),
        }
    }

    /// Commits what the sources have returned.
    pub async fn commit(&mut self, job: &JobPlan, right: Option<&JobPlan>) -> Result<(), Failure> {
        match self {
            Inputs::One(s) => s.commit(job).await,
            Inputs::Two(t) => {
                t.sides[0].commit(job).await?;
                match right {
                    Some(r) => t.sides[1].commit(r).await,
                    None => Ok(()),
                }
            }
        }
    }
}

/// Two streams merged; see the module docs.
pub struct TwoStreams {
    sides: [SourceDriver; 2],
    /// Each stream's latest watermark.
    watermarks: [Option<i64>; 2],
    ended: [bool; 2],
    /// The merged watermark sent last.
    sent: Option<i64>,
    /// Which stream goes next while they are level.
    turn: usize,
    finished: bool,
    scratch: Vec<StreamMessage>,
}

impl TwoStreams {
    pub fn new(left: SourceDriver, right: SourceDriver) -> TwoStreams {
        TwoStreams {
            sides: [left, right],
            watermarks: [None; 2],
            ended: [false; 2],
            sent: None,
            turn: 0,
            finished: false,
            scratch: Vec::new(),
        }
    }

    /// The stream to read next.
    fn pick(&mut self) -> usize {
        match self.ended {
            [true, false] => return 1,
            [false, true] => return 0,
            _ => {}
        }
        match self.watermarks {
            [None, Some(_)] => 0,
            [Some(_), None] => 1,
            [Some(a), Some(b)] if a != b => usize::from(b < a),
            _ => {
                let side = self.turn;
                self.turn = 1 - side;
                side
            }
        }
    }

    /// The minimum watermark over the streams still open; `None` while one
    /// of them has none yet (or both have ended).
    fn merged(&self) -> Option<i64> {
        let mut min: Option<i64> = None;
        for (w, ended) in self.watermarks.iter().zip(self.ended) {
            if ended {
                continue;
            }
            let w = (*w)?;
            min = Some(min.map_or(w, |m| m.min(w)));
        }
        min
    }

    async fn next(
        &mut self,
        job: &JobPlan,
        right: &JobPlan,
        out: &mut Vec<StreamMessage>,
        side_out: &mut Vec<Output>,
        counters: &JobCounters,
    ) -> Result<bool, Failure> {
        if self.finished {
            return Ok(false);
        }
        let side = self.pick();
        let plan = if side == 0 { job } else { right };
        let mut scratch = std::mem::take(&mut self.scratch);
        let read = self.sides[side]
            .next(plan, &mut scratch, side_out, counters)
            .await;
        for m in scratch.drain(..) {
            match m {
                StreamMessage::Batch(b) if side == 0 => out.push(StreamMessage::Batch(b)),
                StreamMessage::Batch(b) => out.push(StreamMessage::Right(b)),
                StreamMessage::Watermark(w) => self.watermarks[side] = Some(w.0),
                StreamMessage::EndOfStream => self.ended[side] = true,
                // Files, stdin and the generator send neither.
                StreamMessage::Barrier(_) | StreamMessage::Right(_) => {}
            }
        }
        self.scratch = scratch;
        if !read? {
            self.ended[side] = true;
        }
        if let Some(m) = self.merged() {
            if self.sent.is_none_or(|s| s < m) {
                self.sent = Some(m);
                out.push(StreamMessage::Watermark(velo_types::Watermark(m)));
            }
        }
        if self.ended == [true, true] {
            self.finished = true;
            out.push(StreamMessage::EndOfStream);
        }
        Ok(true)
    }

    fn stop(&mut self, out: &mut Vec<StreamMessage>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let mut ignored = Vec::new();
        for s in &mut self.sides {
            s.stop(&mut ignored);
        }
        out.push(StreamMessage::EndOfStream);
    }
}
