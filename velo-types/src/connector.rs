//! Typed source and sink configurations, shared by the planner (which builds and
//! validates them from an app's WITH properties) and velo-io (which opens them).

use std::path::PathBuf;

use crate::schema::Schema;

/// How records are encoded in a file or on stdin/stdout (`NAME.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV whose first line is the header.
    Csv,
    /// CSV without a header: columns come from `NAME.schema` (or are named
    /// `c0`, `c1`, ... when inferred).
    CsvNoHeader,
    /// One JSON object per line (`json` and `jsonl`).
    JsonLines,
}

impl Format {
    /// Parses a `NAME.format` value.
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "csv_no_header" => Some(Format::CsvNoHeader),
            "json" | "jsonl" | "json_lines" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

/// Options common to every text-encoded source or sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    pub format: Format,
    /// CSV field delimiter, default `,`.
    pub delimiter: u8,
    /// Declared column types (`NAME.schema`); `None` means infer them (sources).
    pub schema: Option<Schema>,
}

impl Default for Encoding {
    fn default() -> Self {
        Encoding {
            format: Format::Csv,
            delimiter: b',',
            schema: None,
        }
    }
}

/// The record shapes the deterministic generator source can produce
/// (`NAME.profile`), matching the benchmark scenarios' inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorProfile {
    /// Scenario 0: `order_id, customer_id, order_date, total_amount`.
    Orders,
    /// Scenario 1: `symbol, price, timestamp` with 10 symbols.
    Ticks,
    /// Scenario 2: `symbol, price, quantity` with 200 symbols.
    Quotes,
    /// Scenarios 3a/3b: `trader_id, symbol, price, quantity, trade_time`.
    Trades,
}

impl GeneratorProfile {
    pub fn parse(s: &str) -> Option<GeneratorProfile> {
        match s.to_ascii_lowercase().as_str() {
            "orders" => Some(GeneratorProfile::Orders),
            "ticks" => Some(GeneratorProfile::Ticks),
            "quotes" => Some(GeneratorProfile::Quotes),
            "trades" => Some(GeneratorProfile::Trades),
            _ => None,
        }
    }
}

/// Where a job reads from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    /// `file_source`: a file read once (bounded).
    File { path: PathBuf, encoding: Encoding },
    /// `stdin_source`: standard input until EOF.
    Stdin { encoding: Encoding },
    /// `generator_source`: `records` deterministic rows of `profile`.
    Generator {
        profile: GeneratorProfile,
        records: u64,
    },
}

/// Where a job writes to.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkConfig {
    /// `file_sink`: a file, created or truncated.
    File { path: PathBuf, encoding: Encoding },
    /// `stdout_sink`, and the sink of a bare SELECT (JSON lines).
    Stdout { encoding: Encoding },
}
