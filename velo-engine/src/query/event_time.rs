//! Event time: the column a job's windows and watermarks read, compiled once into
//! an extractor that turns a row's value into epoch milliseconds.
//!
//! The column is the job's `event.time.field` (the planner falls back to the
//! WINDOW clause's time column); `event.time.format` says how to read it:
//!
//! | column value | no format / `epoch_millis` | `epoch_seconds` | `iso8601` |
//! |---|---|---|---|
//! | TIMESTAMP | as is | as is | as is |
//! | BIGINT, DOUBLE, DECIMAL | milliseconds | seconds (x 1000) | milliseconds |
//! | VARCHAR | ISO-8601 (an integer string when the format names one) | integer seconds | ISO-8601 |
//!
//! A NULL, an unparsable string or a value that overflows the millisecond range
//! is an error for that row (the row fails with the reason; it never gets a
//! made-up time). The server's watermark generation uses the same extractor
//! ([`EventTime::max_event_time`]) so that the two never disagree.

use velo_planner::{JobPlan, TimeFormat};
use velo_types::{Batch, Schema, Value};

use crate::error::{Error, Result};
use crate::expr::parse_timestamp;

/// How a numeric event-time value is scaled to milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Millis,
    Seconds,
}

/// A compiled event-time extractor: a column index and a decoding rule, resolved
/// once per job. [`EventTime::extract`] allocates nothing for TIMESTAMP and
/// numeric columns (an ISO-8601 string with a space separator is copied once to
/// be parsed).
#[derive(Debug, Clone)]
pub struct EventTime {
    index: usize,
    column: String,
    unit: Unit,
    /// Strings are integers (`epoch_millis` / `epoch_seconds` named explicitly)
    /// rather than ISO-8601.
    numeric_strings: bool,
}

impl EventTime {
    /// The job's event-time extractor over `schema`, or `None` when the job has no
    /// event-time field (and no window naming one). Errors: the column does not
    /// exist, or its type cannot hold a time (BOOLEAN).
    pub fn new(plan: &JobPlan, schema: &Schema) -> Result<Option<EventTime>> {
        let Some(index) = velo_planner::bind::bind_event_time(plan, schema)? else {
            return Ok(None);
        };
        let format = plan.config.event_time_format;
        Ok(Some(EventTime {
            index,
            column: schema.field(index).name.to_string(),
            unit: if format == Some(TimeFormat::EpochSeconds) {
                Unit::Seconds
            } else {
                Unit::Millis
            },
            numeric_strings: matches!(
                format,
                Some(TimeFormat::EpochMillis | TimeFormat::EpochSeconds)
            ),
        }))
    }

    /// The input column index the time is read from.
    pub fn column_index(&self) -> usize {
        self.index
    }

    /// The input column's name.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The row's event time in milliseconds since the epoch. Errors (the row
    /// fails): NULL, an unparsable string, a value outside the millisecond range.
    #[inline]
    pub fn extract(&self, row: &[Value]) -> Result<i64> {
        match &row[self.index] {
            Value::Timestamp(t) => Ok(*t),
            Value::Int(i) => self.scale(*i),
            other => self.extract_slow(other),
        }
    }

    #[inline]
    fn scale(&self, n: i64) -> Result<i64> {
        match self.unit {
            Unit::Millis => Ok(n),
            Unit::Seconds => n.checked_mul(1000).ok_or(Error::Overflow {
                context: "event time (epoch seconds to milliseconds)",
            }),
        }
    }

    #[cold]
    fn extract_slow(&self, v: &Value) -> Result<i64> {
        let bad = |message: String| Error::InvalidArgument {
            function: "event time",
            message,
        };
        match v {
            Value::Null => Err(bad(format!(
                "the event-time column '{}' is NULL",
                self.column
            ))),
            Value::Float(_) | Value::Decimal(_) => {
                let f = match v {
                    Value::Float(f) => *f,
                    Value::Decimal(d) => d.to_f64(),
                    _ => unreachable!(),
                };
                let ms = match self.unit {
                    Unit::Millis => f,
                    Unit::Seconds => f * 1000.0,
                };
                // `as` saturates; refuse what it would clamp instead.
                if ms.is_finite() && ms.abs() < 9.2e18 {
                    Ok(ms.floor() as i64)
                } else {
                    Err(bad(format!(
                        "{f} in the event-time column '{}' is not a time in range",
                        self.column
                    )))
                }
            }
            Value::Str(s) => {
                let parsed = if self.numeric_strings {
                    s.trim().parse::<i64>().ok()
                } else {
                    parse_timestamp(s)
                };
                match parsed {
                    Some(n) if self.numeric_strings => self.scale(n),
                    Some(ms) => Ok(ms),
                    None => Err(bad(format!(
                        "'{s}' in the event-time column '{}' is not {}",
                        self.column,
                        if self.numeric_strings {
                            "an integer epoch time"
                        } else {
                            "an ISO-8601 timestamp"
                        }
                    ))),
                }
            }
            Value::Timestamp(t) => Ok(*t),
            Value::Int(i) => self.scale(*i),
            Value::Bool(b) => Err(bad(format!(
                "{b} in the event-time column '{}' is not a time",
                self.column
            ))),
        }
    }

    /// The largest event time among `batch`'s rows whose extraction succeeds
    /// (`None` for an empty batch or when every row fails): what a watermark
    /// generator observes for one batch.
    pub fn max_event_time(&self, batch: &Batch) -> Option<i64> {
        batch.rows().filter_map(|r| self.extract(r).ok()).max()
    }
}
