//! `nexmark_source` (SPEC §3): the Nexmark benchmark's event stream, from the
//! [`nexmark`] crate's generator in its default configuration.
//!
//! The generator numbers events of all kinds 0, 1, 2, ...: in each run of 50,
//! one person, then three auctions, then 46 bids. A source reads one table, so
//! it generates only that table's events (the crate's type filter), and
//! `nexmark.events` counts events of all kinds, as in every Nexmark runner: a
//! bid source over 1,000 events yields the 920 bids among them. Each event's
//! data depends only on its number, so a table can be split over readers by
//! offset and step ([`NexmarkReader::split`]), and the same number of events
//! gives the same data anywhere.
//!
//! Event times come from the crate's default rate (10,000 events/s of event
//! time, 0.1 ms apart) from `nexmark.base.time`; `nexmark.rate` only paces
//! the generation in wall-clock time.
//!
//! Strings the generator draws from a fixed set (a bid's channel and URL) are
//! shared, one allocation per distinct value, instead of one per event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nexmark::config::NexmarkConfig;
use nexmark::event::{Event, EventType};
use nexmark::EventGenerator;
use velo_types::connector::{NexmarkSourceConfig, NexmarkTable};
use velo_types::{Batch, BatchBuilder, DataType, Field, Schema, SchemaRef, Value};

use crate::{DataReader, Result};

/// The events of one kind in each run of [`PROPORTION_DENOMINATOR`] events:
/// person, auction and bid, in that order (the crate's defaults).
const PERSON_PROPORTION: u64 = 1;
const AUCTION_PROPORTION: u64 = 3;
const BID_PROPORTION: u64 = 46;
const PROPORTION_DENOMINATOR: u64 = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION;

/// The longest a paced reader sleeps before it returns (an empty batch when
/// nothing was due), so that the job sees a stop request soon.
const PACE_WAIT: Duration = Duration::from_millis(20);

/// The columns of `table`, named as the crate's fields; `date_time` (and an
/// auction's `expires`) are TIMESTAMPs, ids and prices BIGINTs.
pub fn table_schema(table: NexmarkTable) -> Schema {
    use DataType::{Int, String, Timestamp};
    let fields: &[(&str, DataType)] = match table {
        NexmarkTable::Person => &[
            ("id", Int),
            ("name", String),
            ("email_address", String),
            ("credit_card", String),
            ("city", String),
            ("state", String),
            ("date_time", Timestamp),
            ("extra", String),
        ],
        NexmarkTable::Auction => &[
            ("id", Int),
            ("item_name", String),
            ("description", String),
            ("initial_bid", Int),
            ("reserve", Int),
            ("date_time", Timestamp),
            ("expires", Timestamp),
            ("seller", Int),
            ("category", Int),
            ("extra", String),
        ],
        NexmarkTable::Bid => &[
            ("auction", Int),
            ("bidder", Int),
            ("price", Int),
            ("channel", String),
            ("url", String),
            ("date_time", Timestamp),
            ("extra", String),
        ],
    };
    Schema::new(fields.iter().map(|(n, t)| Field::new(n, *t)).collect())
}

/// Where `table`'s events are in each run of [`PROPORTION_DENOMINATOR`]
/// events: the first one's place, and how many.
fn proportion(table: NexmarkTable) -> (u64, u64) {
    match table {
        NexmarkTable::Person => (0, PERSON_PROPORTION),
        NexmarkTable::Auction => (PERSON_PROPORTION, AUCTION_PROPORTION),
        NexmarkTable::Bid => (PERSON_PROPORTION + AUCTION_PROPORTION, BID_PROPORTION),
    }
}

/// How many of the first `events` events (of all kinds) are of `table`.
pub fn table_events(table: NexmarkTable, events: u64) -> u64 {
    let (epochs, rest) = (
        events / PROPORTION_DENOMINATOR,
        events % PROPORTION_DENOMINATOR,
    );
    let (first, count) = proportion(table);
    epochs * count + rest.saturating_sub(first).min(count)
}

fn event_type(table: NexmarkTable) -> EventType {
    match table {
        NexmarkTable::Person => EventType::Person,
        NexmarkTable::Auction => EventType::Auction,
        NexmarkTable::Bid => EventType::Bid,
    }
}

/// The generator of `config`'s table, at the first event of split `split` of
/// `splits`.
fn generator(config: &NexmarkSourceConfig, split: u64, splits: u64) -> EventGenerator {
    let cfg = NexmarkConfig {
        base_time: config.base_time.max(0) as u64,
        ..NexmarkConfig::default()
    };
    EventGenerator::new(cfg)
        .with_type_filter(event_type(config.table))
        .with_offset(split)
        .with_step(splits.max(1))
}

/// The `nexmark` crate's generator of `config`'s table, alone (for measuring
/// the crate's own speed).
pub fn crate_generator(config: &NexmarkSourceConfig) -> EventGenerator {
    generator(config, 0, 1)
}

/// Shared copies of the strings a bid takes from a fixed set: the four hot
/// channels and their URLs, and `channel-<n>` with its URL for n < 10,000.
#[derive(Debug, Default)]
struct Interned {
    hot: Vec<(Arc<str>, Arc<str>)>,
    numbered: Vec<Option<(Arc<str>, Arc<str>)>>,
}

impl Interned {
    /// The shared channel and URL equal to `channel` and `url`.
    fn get(&mut self, channel: &str, url: &str) -> (Arc<str>, Arc<str>) {
        if let Some(n) = channel
            .strip_prefix("channel-")
            .and_then(|d| d.parse::<usize>().ok())
            .filter(|&n| n < 100_000)
        {
            if self.numbered.len() <= n {
                self.numbered.resize(n + 1, None);
            }
            let slot = &mut self.numbered[n];
            match slot {
                Some((c, u)) if u.as_ref() == url => return (c.clone(), u.clone()),
                _ => {
                    let pair: (Arc<str>, Arc<str>) = (Arc::from(channel), Arc::from(url));
                    *slot = Some(pair.clone());
                    return pair;
                }
            }
        }
        if let Some((c, u)) = self
            .hot
            .iter()
            .find(|(c, u)| c.as_ref() == channel && u.as_ref() == url)
        {
            return (c.clone(), u.clone());
        }
        let pair: (Arc<str>, Arc<str>) = (Arc::from(channel), Arc::from(url));
        if self.hot.len() < 16 {
            self.hot.push(pair.clone());
        }
        pair
    }
}

/// Generates one table's events as batches of rows of [`table_schema`].
#[derive(Debug)]
pub struct NexmarkGenerator {
    table: NexmarkTable,
    schema: SchemaRef,
    events: EventGenerator,
    interned: Interned,
}

impl NexmarkGenerator {
    /// The events of `config`'s table in split `split` of `splits`: its
    /// events number `split`, `split + splits`, ... (counted in the table).
    pub fn new(config: &NexmarkSourceConfig, split: u64, splits: u64) -> NexmarkGenerator {
        NexmarkGenerator {
            table: config.table,
            schema: Arc::new(table_schema(config.table)),
            events: generator(config, split, splits),
            interned: Interned::default(),
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The offset, among the table's events, of the next event.
    pub fn offset(&self) -> u64 {
        self.events.offset()
    }

    /// The number, among events of all kinds, of the next event.
    pub fn global_offset(&self) -> u64 {
        self.events.global_offset()
    }

    /// Appends the next event as a row.
    pub fn push_next(&mut self, builder: &mut BatchBuilder) {
        let Some(event) = self.events.next() else {
            return;
        };
        let int = |n: usize| Value::Int(n as i64);
        let time = |t: u64| Value::Timestamp(t as i64);
        let text = |s: String| Value::Str(Arc::from(s));
        match (self.table, event) {
            (NexmarkTable::Bid, Event::Bid(b)) => {
                let (channel, url) = self.interned.get(&b.channel, &b.url);
                builder.push_row([
                    int(b.auction),
                    int(b.bidder),
                    int(b.price),
                    Value::Str(channel),
                    Value::Str(url),
                    time(b.date_time),
                    text(b.extra),
                ]);
            }
            (NexmarkTable::Auction, Event::Auction(a)) => builder.push_row([
                int(a.id),
                text(a.item_name),
                text(a.description),
                int(a.initial_bid),
                int(a.reserve),
                time(a.date_time),
                time(a.expires),
                int(a.seller),
                int(a.category),
                text(a.extra),
            ]),
            (NexmarkTable::Person, Event::Person(p)) => builder.push_row([
                int(p.id),
                text(p.name),
                text(p.email_address),
                text(p.credit_card),
                text(p.city),
                text(p.state),
                time(p.date_time),
                text(p.extra),
            ]),
            // The type filter yields only the table's own events.
            _ => unreachable!("the Nexmark generator yields only its table's events"),
        }
    }
}

/// A [`DataReader`] over a Nexmark table whose events are made by `threads`
/// threads: the table is cut into chunks of one batch each, thread `j` makes
/// chunks `j`, `j + threads`, ... (each event depends only on its number), and
/// the reader returns them in order, so its batches are exactly those of a
/// [`NexmarkReader`] with the same batch size. Each thread keeps at most
/// [`CHUNKS_AHEAD`] chunks ready; dropping the reader stops them.
#[derive(Debug)]
pub struct ParallelNexmarkReader {
    schema: SchemaRef,
    chunks: Vec<std::sync::mpsc::Receiver<Batch>>,
    /// The next chunk to return.
    next: u64,
    /// Chunks in all (`u64::MAX`: unbounded).
    count: u64,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Chunks each generating thread of a [`ParallelNexmarkReader`] keeps ready.
pub const CHUNKS_AHEAD: usize = 4;

impl ParallelNexmarkReader {
    pub fn new(config: &NexmarkSourceConfig, batch_size: usize, threads: usize) -> Self {
        let batch = batch_size.max(1) as u64;
        let threads = threads.max(1) as u64;
        let end = config
            .events
            .map_or(u64::MAX, |n| table_events(config.table, n));
        let count = if end == u64::MAX {
            u64::MAX
        } else {
            end.div_ceil(batch)
        };
        let schema: SchemaRef = Arc::new(table_schema(config.table));
        let mut chunks = Vec::new();
        let mut handles = Vec::new();
        for j in 0..threads {
            let (tx, rx) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD);
            let config = config.clone();
            let schema = schema.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("nexmark-{j}"))
                .spawn(move || {
                    let base = generator(&config, 0, 1);
                    let mut g = NexmarkGenerator::new(&config, 0, 1);
                    let mut k = j;
                    while k < count {
                        let start = k * batch;
                        let n = batch.min(end - start) as usize;
                        g.events = base.clone().with_offset(start);
                        let mut b = BatchBuilder::with_capacity(schema.clone(), n);
                        for _ in 0..n {
                            g.push_next(&mut b);
                        }
                        if tx.send(b.finish()).is_err() {
                            return;
                        }
                        k += threads;
                    }
                });
            match spawned {
                Ok(h) => {
                    handles.push(h);
                    chunks.push(rx);
                }
                // No thread to spare: the ones started make every chunk.
                Err(_) if !chunks.is_empty() => break,
                Err(e) => panic!("cannot start a Nexmark generator thread: {e}"),
            }
        }
        ParallelNexmarkReader {
            schema,
            chunks,
            next: 0,
            count,
            threads: handles,
        }
    }

    /// The next batch, in order; `None` after the last.
    pub fn read_batch(&mut self) -> Option<Batch> {
        if self.next >= self.count {
            return None;
        }
        let thread = (self.next % self.chunks.len() as u64) as usize;
        let batch = self.chunks[thread].recv().ok()?;
        self.next += 1;
        Some(batch)
    }
}

impl Drop for ParallelNexmarkReader {
    fn drop(&mut self) {
        // Closing the channels stops the threads at their next chunk.
        self.chunks.clear();
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

#[async_trait]
impl DataReader for ParallelNexmarkReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        Ok(self.read_batch())
    }

    async fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn helper_threads(&self) -> usize {
        self.threads.len()
    }
}

/// A [`DataReader`] over one split of a Nexmark table.
#[derive(Debug)]
pub struct NexmarkReader {
    generator: NexmarkGenerator,
    /// The table's events in all splits together; `u64::MAX`: unbounded.
    end: u64,
    splits: u64,
    batch_size: usize,
    /// Events of all kinds per second, and when pacing started.
    pace: Option<(f64, Instant)>,
}

impl NexmarkReader {
    /// The whole table, in one split.
    pub fn new(config: &NexmarkSourceConfig, batch_size: usize) -> NexmarkReader {
        NexmarkReader::split(config, batch_size, 0, 1)
    }

    /// Split `split` of `splits`: the table's events `split`, `split +
    /// splits`, ... A rate is shared evenly by the splits.
    pub fn split(
        config: &NexmarkSourceConfig,
        batch_size: usize,
        split: u64,
        splits: u64,
    ) -> NexmarkReader {
        let splits = splits.max(1);
        NexmarkReader {
            generator: NexmarkGenerator::new(config, split, splits),
            end: config
                .events
                .map_or(u64::MAX, |n| table_events(config.table, n)),
            splits,
            batch_size: batch_size.max(1),
            pace: config.rate.map(|r| (r as f64, Instant::now())),
        }
    }

    /// The next batch, synchronously (pacing sleeps on this thread).
    pub fn read_batch(&mut self) -> Option<Batch> {
        let left = self.end.saturating_sub(self.generator.offset());
        if left == 0 {
            return None;
        }
        let mut n = left.div_ceil(self.splits).min(self.batch_size as u64) as usize;
        if let Some((rate, start)) = self.pace {
            n = self.due(rate, start, n);
        }
        let mut b = BatchBuilder::with_capacity(self.generator.schema.clone(), n);
        for _ in 0..n {
            self.generator.push_next(&mut b);
        }
        Some(b.finish())
    }

    /// How many of the next `n` events are due at `rate` events/s since
    /// `start`, after sleeping (at most [`PACE_WAIT`]) for the first.
    fn due(&self, rate: f64, start: Instant, n: usize) -> usize {
        let at = |global: u64| start + Duration::from_secs_f64(global as f64 / rate);
        let first = at(self.generator.global_offset());
        let now = Instant::now();
        if first > now {
            std::thread::sleep((first - now).min(PACE_WAIT));
        }
        let now = Instant::now();
        // Events of the table are spread evenly among all events, so the due
        // count scales with the share of global offsets passed.
        let elapsed = now.saturating_duration_since(start).as_secs_f64();
        let due_global = (elapsed * rate) as u64;
        let next = self.generator.global_offset();
        if due_global < next {
            return 0;
        }
        let step = self.splits as f64 * PROPORTION_DENOMINATOR as f64
            / proportion(self.generator.table).1 as f64;
        let due = 1 + ((due_global - next) as f64 / step) as usize;
        due.min(n)
    }
}

#[async_trait]
impl DataReader for NexmarkReader {
    fn schema(&self) -> SchemaRef {
        self.generator.schema.clone()
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        Ok(self.read_batch())
    }

    async fn commit(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use velo_types::connector::NEXMARK_DEFAULT_BASE_TIME;

    fn config(table: NexmarkTable, events: u64) -> NexmarkSourceConfig {
        NexmarkSourceConfig {
            table,
            events: Some(events),
            rate: None,
            base_time: NEXMARK_DEFAULT_BASE_TIME,
        }
    }

    fn rows(mut r: NexmarkReader) -> Vec<Vec<Value>> {
        let mut out = Vec::new();
        while let Some(b) = r.read_batch() {
            for i in 0..b.num_rows() {
                out.push(b.row(i).to_vec());
            }
        }
        out
    }

    #[test]
    fn table_counts_follow_the_proportions() {
        use NexmarkTable::*;
        assert_eq!(table_events(Person, 0), 0);
        assert_eq!(table_events(Person, 1), 1);
        assert_eq!(table_events(Auction, 1), 0);
        assert_eq!(table_events(Auction, 3), 2);
        assert_eq!(table_events(Bid, 4), 0);
        assert_eq!(table_events(Bid, 6), 2);
        assert_eq!(table_events(Bid, 50), 46);
        assert_eq!(table_events(Bid, 1000), 920);
        let n = 12_345;
        assert_eq!(
            table_events(Person, n) + table_events(Auction, n) + table_events(Bid, n),
            n
        );
    }

    #[test]
    fn the_tables_are_the_crates_events_of_each_kind() {
        // The unfiltered generator, split by kind, gives the same rows.
        let n = 500;
        let cfg = NexmarkConfig {
            base_time: NEXMARK_DEFAULT_BASE_TIME as u64,
            ..NexmarkConfig::default()
        };
        let all: Vec<Event> = EventGenerator::new(cfg).take(n).collect();
        let bids: Vec<_> = all
            .iter()
            .filter_map(|e| match e {
                Event::Bid(b) => Some(b.clone()),
                _ => None,
            })
            .collect();
        let got = rows(NexmarkReader::new(&config(NexmarkTable::Bid, n as u64), 64));
        assert_eq!(got.len(), bids.len());
        for (row, b) in got.iter().zip(&bids) {
            assert_eq!(row[0], Value::Int(b.auction as i64));
            assert_eq!(row[1], Value::Int(b.bidder as i64));
            assert_eq!(row[2], Value::Int(b.price as i64));
            assert_eq!(row[3], Value::str(&b.channel));
            assert_eq!(row[4], Value::str(&b.url));
            assert_eq!(row[5], Value::Timestamp(b.date_time as i64));
            assert_eq!(row[6], Value::str(&b.extra));
        }
        let persons = all.iter().filter(|e| matches!(e, Event::Person(_))).count();
        let auctions = all
            .iter()
            .filter(|e| matches!(e, Event::Auction(_)))
            .count();
        let p = rows(NexmarkReader::new(
            &config(NexmarkTable::Person, n as u64),
            7,
        ));
        let a = rows(NexmarkReader::new(
            &config(NexmarkTable::Auction, n as u64),
            7,
        ));
        assert_eq!((p.len(), a.len()), (persons, auctions));
        // The first person of the crate's own test, at our base time.
        assert_eq!(p[0][0], Value::Int(1000));
        assert_eq!(p[0][1], Value::str("vicky noris"));
        assert_eq!(p[0][6], Value::Timestamp(NEXMARK_DEFAULT_BASE_TIME));
        // Auction ids count up from 1000, in event time order.
        let ids: Vec<_> = a.iter().map(|r| r[0].clone()).collect();
        assert_eq!(
            ids[..3],
            [Value::Int(1000), Value::Int(1001), Value::Int(1002)]
        );
    }

    #[test]
    fn splits_together_are_the_whole_table() {
        let cfg = config(NexmarkTable::Bid, 2_000);
        let whole = rows(NexmarkReader::new(&cfg, 100));
        let mut parts: Vec<Vec<Value>> = Vec::new();
        for s in 0..3 {
            parts.extend(rows(NexmarkReader::split(&cfg, 50, s, 3)));
        }
        assert_eq!(parts.len(), whole.len());
        let key = |r: &Vec<Value>| format!("{r:?}");
        let mut a: Vec<_> = whole.iter().map(key).collect();
        let mut b: Vec<_> = parts.iter().map(key).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn parallel_generation_gives_the_same_batches_in_the_same_order() {
        let cfg = config(NexmarkTable::Bid, 20_000);
        for threads in [1, 2, 3] {
            let mut many = ParallelNexmarkReader::new(&cfg, 500, threads);
            let mut one = NexmarkReader::new(&cfg, 500);
            let mut n = 0;
            loop {
                match (one.read_batch(), many.read_batch()) {
                    (None, None) => break,
                    (a, b) => assert!(a == b, "batch {n} differs with {threads} threads"),
                }
                n += 1;
            }
            assert_eq!(n, 37, "18,400 bids in batches of 500");
        }
        // Unbounded: dropping the reader stops its threads.
        let unbounded = NexmarkSourceConfig {
            events: None,
            ..cfg.clone()
        };
        let mut many = ParallelNexmarkReader::new(&unbounded, 100, 2);
        let mut one = NexmarkReader::new(&unbounded, 100);
        for n in 0..10 {
            assert!(many.read_batch() == one.read_batch(), "batch {n} differs");
        }
        drop(many);
    }

    #[test]
    fn channels_and_urls_are_shared() {
        let got = rows(NexmarkReader::new(&config(NexmarkTable::Bid, 5_000), 1024));
        let google: Vec<_> = got
            .iter()
            .filter_map(|r| match &r[3] {
                Value::Str(s) if s.as_ref() == "Google" => Some(s.clone()),
                _ => None,
            })
            .collect();
        assert!(google.len() > 10);
        assert!(google.iter().all(|s| Arc::ptr_eq(s, &google[0])));
    }

    #[test]
    fn a_paced_reader_keeps_to_its_rate() {
        let cfg = NexmarkSourceConfig {
            rate: Some(2_000),
            ..config(NexmarkTable::Bid, 200)
        };
        let start = Instant::now();
        let n: usize = rows(NexmarkReader::new(&cfg, 1024)).len();
        assert_eq!(n, 184);
        // 200 events at 2,000/s take about 0.1 s; never less than the last
        // bid's due time (event 199: 99.5 ms).
        assert!(start.elapsed() >= Duration::from_millis(95));
    }
}
