//! Bounded partition queues with backpressure (SPEC §5).
//!
//! A queue is a `crossbeam_channel::bounded` channel: a producer that outruns its
//! consumer blocks in [`QueueSender::send`] once the queue is full, so a slow sink
//! slows the source instead of growing memory. Both ends can read the depth and
//! classify it as a [`BackpressureState`].

use std::fmt;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
pub use crossbeam_channel::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use metrics::Gauge;

use crate::backpressure::BackpressureState;

/// Gauge: messages waiting in a partition's queue. Labels `job`, `partition`.
pub const QUEUE_DEPTH_METRIC: &str = "velo_partition_queue_depth";
/// Gauge: depth / capacity, 0.0 to 1.0. Labels `job`, `partition`.
pub const QUEUE_UTILISATION_METRIC: &str = "velo_partition_queue_utilisation";
/// Gauge: [`BackpressureState::level`] (0 healthy, 1 warning, 2 critical,
/// 3 saturated). Labels `job`, `partition`.
pub const BACKPRESSURE_STATE_METRIC: &str = "velo_partition_backpressure_state";

/// A bounded queue of `capacity` messages (at least 1).
///
/// ```
/// let (tx, rx) = velo_partition::partition_queue::<u32>(10);
/// tx.send(1).unwrap();
/// assert_eq!(tx.depth(), 1);
/// assert_eq!(rx.recv(), Some(1));
/// drop(tx);
/// assert_eq!(rx.recv(), None);
/// ```
///
/// # Panics
///
/// When `capacity` is 0 (a rendezvous channel has no depth to measure).
pub fn partition_queue<T>(capacity: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    assert!(
        capacity > 0,
        "a partition queue needs a capacity of at least 1"
    );
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    (QueueSender { tx }, QueueReceiver { rx })
}

/// The receiver is gone; the message that could not be sent is handed back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct Disconnected<T>(pub T);

impl<T> fmt::Debug for Disconnected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Disconnected(..)")
    }
}

impl<T> fmt::Display for Disconnected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the partition queue's receiver has been dropped")
    }
}

impl<T> std::error::Error for Disconnected<T> {}

/// Depth, capacity and state, shared by both ends.
macro_rules! depth_methods {
    ($field:ident) => {
        /// Messages waiting in the queue now.
        pub fn depth(&self) -> usize {
            self.$field.len()
        }

        /// The most messages the queue holds.
        pub fn capacity(&self) -> usize {
            // Always `Some`: partition queues are bounded.
            self.$field.capacity().unwrap_or(usize::MAX)
        }

        /// `depth / capacity`, 0.0 to 1.0.
        pub fn utilisation(&self) -> f64 {
            self.depth() as f64 / self.capacity() as f64
        }

        /// The backpressure state of the current depth (SPEC §5 thresholds).
        pub fn state(&self) -> BackpressureState {
            BackpressureState::from_depth(self.depth(), self.capacity())
        }

        /// Sets this queue's gauges (depth, utilisation, backpressure state)
        /// labelled with `job` and `partition`. This looks the gauges up in the
        /// installed recorder on every call; for frequent publishing create a
        /// [`QueueGauges`] once and call [`QueueGauges::record`].
        pub fn publish_metrics(&self, job: &str, partition: usize) {
            QueueGauges::new(job, partition).record(self.depth(), self.capacity());
        }
    };
}

/// The producing end of a partition queue. Cloning gives another producer.
pub struct QueueSender<T> {
    tx: Sender<T>,
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        QueueSender {
            tx: self.tx.clone(),
        }
    }
}

impl<T> fmt::Debug for QueueSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueSender")
            .field("depth", &self.depth())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T> QueueSender<T> {
    /// Sends `msg`, blocking while the queue is full: the producer runs at its
    /// consumer's pace. Fails only when the receiver is gone.
    pub fn send(&self, msg: T) -> Result<(), Disconnected<T>> {
        self.tx.send(msg).map_err(|e| Disconnected(e.0))
    }

    /// Sends `msg` if there is room now.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.tx.try_send(msg)
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.tx.send_timeout(msg, timeout)
    }

    /// The underlying channel end, for `crossbeam_channel::select!`.
    pub fn as_sender(&self) -> &Sender<T> {
        &self.tx
    }

    depth_methods!(tx);
}

/// The consuming end of a partition queue (one per partition worker).
pub struct QueueReceiver<T> {
    rx: Receiver<T>,
}

impl<T> fmt::Debug for QueueReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueReceiver")
            .field("depth", &self.depth())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T> QueueReceiver<T> {
    /// The next message, blocking until one arrives; `None` once every sender is
    /// dropped and the queue is drained.
    pub fn recv(&self) -> Option<T> {
        self.rx.recv().ok()
    }

    /// The next message if one is waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv()
    }

    /// The next message, like [`recv`](Self::recv), but polling for up to `spin`
    /// before parking the thread; see [`recv_spinning`].
    pub fn recv_spinning(&self, spin: Duration) -> Option<T> {
        recv_spinning(&self.rx, spin)
    }

    /// The next message, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// Blocking iterator over the messages until every sender is dropped.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.rx.iter()
    }

    /// The underlying channel end, for `crossbeam_channel::select!`.
    pub fn as_receiver(&self) -> &Receiver<T> {
        &self.rx
    }

    depth_methods!(rx);
}

/// The next message of `rx`, polling for up to `spin` before parking the thread;
/// `None` once every sender is dropped and the channel is drained.
///
/// Parking costs a futex wake-up on the producer's side and a reschedule on
/// ours, tens to hundreds of microseconds on a busy small machine, paid by
/// every message when the input trickles in. Polling briefly first catches the
/// next message of a steady stream without sleeping; a consumer left without
/// input for longer than `spin` parks as [`QueueReceiver::recv`] does, so an
/// idle job does not burn a core.
pub fn recv_spinning<T>(rx: &Receiver<T>, spin: Duration) -> Option<T> {
    match rx.try_recv() {
        Ok(m) => return Some(m),
        Err(TryRecvError::Disconnected) => return None,
        Err(TryRecvError::Empty) => {}
    }
    if !spin.is_zero() {
        let start = std::time::Instant::now();
        let mut polls = 0u32;
        loop {
            for _ in 0..64 {
                std::hint::spin_loop();
            }
            match rx.try_recv() {
                Ok(m) => return Some(m),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            polls += 1;
            // Reading the clock costs more than a poll; look every few polls.
            if polls % 16 == 0 {
                if start.elapsed() >= spin {
                    break;
                }
                // Let a thread waiting for this core (the producer, say) run.
                std::thread::yield_now();
            }
        }
    }
    rx.recv().ok()
}

/// A partition queue's gauges, looked up once: [`QUEUE_DEPTH_METRIC`],
/// [`QUEUE_UTILISATION_METRIC`] and [`BACKPRESSURE_STATE_METRIC`], labelled with
/// `job` and `partition`.
///
/// The handles come from the recorder installed when they are created (a no-op
/// one if none is), so create them after installing the exporter.
#[derive(Debug, Clone)]
pub struct QueueGauges {
    depth: Gauge,
    utilisation: Gauge,
    state: Gauge,
}

impl QueueGauges {
    pub fn new(job: &str, partition: usize) -> QueueGauges {
        let labels = [
            ("job", job.to_string()),
            ("partition", partition.to_string()),
        ];
        QueueGauges {
            depth: metrics::gauge!(QUEUE_DEPTH_METRIC, &labels),
            utilisation: metrics::gauge!(QUEUE_UTILISATION_METRIC, &labels),
            state: metrics::gauge!(BACKPRESSURE_STATE_METRIC, &labels),
        }
    }

    /// Records a queue holding `depth` of `capacity` messages.
    pub fn record(&self, depth: usize, capacity: usize) {
        self.depth.set(depth as f64);
        self.utilisation.set(if capacity == 0 {
            1.0
        } else {
            depth as f64 / capacity as f64
        });
        self.state.set(f64::from(
            BackpressureState::from_depth(depth, capacity).level(),
        ));
    }

    /// Records the current depth of `queue`.
    pub fn record_sender<T>(&self, queue: &QueueSender<T>) {
        self.record(queue.depth(), queue.capacity());
    }
}
