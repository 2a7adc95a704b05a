//! What `velo-server` reports on stderr, and how: the library emits `tracing`
//! events, the binary installs the subscriber built here.
//!
//! Conventions of the events Velo emits:
//!
//! - The message is the whole sentence a user reads, without a level prefix:
//!   `job 'x': record skipped: ...`, `listening on http://...`. Fields (`job`,
//!   `id`, `partitions`, the counts of a summary) repeat what a machine wants
//!   to pick out; they appear in the JSON form only.
//! - Levels: `error` a job that failed, `warn` something the user should
//!   look at (a skipped record, a retry, a computed key), `info` the life of
//!   the process and its jobs (started, summary, listening, draining), `debug`
//!   detail (each job's plan and layout, barriers and commits, HTTP requests).
//! - The end-of-run summary of each job is an `info` event of target
//!   [`SUMMARY_TARGET`], so that `RUST_LOG=warn,velo_server::summary=info`
//!   keeps it alone.
//!
//! The text form (the default) is what `velo-server` printed before it used
//! `tracing`: the message alone, one line per event (a message may hold a
//! newline of its own: diagnostics), with `warning: ` in front of a `warn`
//! event and `error: ` in front of an `error` event unless the message starts
//! with it already (Velo's failure messages carry `error: ` or
//! `internal error: `), and `debug: ` / `trace: ` in front of the detail
//! levels. No timestamps, no targets. The JSON form is one object per event:
//! `timestamp`, `level`, `message`, the event's fields and `target`.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::Visit;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The filter without `RUST_LOG`: Velo's own events from `info` up (today's
/// output), other crates' warnings and errors.
pub const DEFAULT_FILTER: &str = "warn,velo_server=info";

/// The target of the per-job summary lines.
pub const SUMMARY_TARGET: &str = "velo_server::summary";

/// How events are written on stderr (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// The message alone, as `velo-server` always printed it.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

/// Installs the global subscriber: the filter from `RUST_LOG`, or
/// [`DEFAULT_FILTER`] when it is unset or empty, and events in `format` on
/// stderr. With `RUST_LOG` set, records of crates that use `log` are events
/// too. A `RUST_LOG` that does not parse falls back to the default, with a
/// warning (a setting meant for another program must not stop this one).
/// Does nothing if a subscriber is already installed.
pub fn init(format: LogFormat) {
    let spec = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let (filter, bad) = match &spec {
        Some(spec) => match EnvFilter::try_new(spec) {
            Ok(filter) => (filter, None),
            Err(e) => (
                EnvFilter::new(DEFAULT_FILTER),
                Some(format!("{spec:?}: {e}")),
            ),
        },
        None => (EnvFilter::new(DEFAULT_FILTER), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let installed = match format {
        LogFormat::Text => {
            tracing::subscriber::set_global_default(builder.event_format(PlainText).finish())
        }
        LogFormat::Json => tracing::subscriber::set_global_default(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        ),
    };
    if installed.is_err() {
        return;
    }
    // Crates that log through `log` (librdkafka's messages, through rdkafka)
    // are heard only when asked for: by default the output stays Velo's own.
    if spec.is_some() {
        let _ = tracing_log::LogTracer::init();
    }
    if let Some(bad) = bad {
        tracing::warn!("ignoring RUST_LOG {bad}; using {DEFAULT_FILTER:?}");
    }
}

/// The text form; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut message = Message::default();
        event.record(&mut message);
        let text = message.0;
        let prefix = level_prefix(*event.metadata().level(), &text);
        writeln!(writer, "{prefix}{text}")
    }
}

/// What the text form puts in front of a message of `level`.
fn level_prefix(level: Level, message: &str) -> &'static str {
    let carries = |p: &str| message.starts_with(p);
    match level {
        Level::ERROR if carries("error: ") || carries("internal error: ") => "",
        Level::ERROR => "error: ",
        Level::WARN if carries("warning: ") => "",
        Level::WARN => "warning: ",
        Level::INFO => "",
        Level::DEBUG => "debug: ",
        Level::TRACE => "trace: ",
    }
}

/// The `message` field of an event.
#[derive(Debug, Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            // `format_args!` (what the macros pass) debug-prints as its text.
            use std::fmt::Write;
            let _ = write!(self.0, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_and_errors_get_their_prefix_once() {
        assert_eq!(level_prefix(Level::WARN, "job 'x': late"), "warning: ");
        assert_eq!(level_prefix(Level::WARN, "warning: job 'x': late"), "");
        assert_eq!(level_prefix(Level::ERROR, "job 'x' failed"), "error: ");
        assert_eq!(level_prefix(Level::ERROR, "error: job 'x' failed"), "");
        assert_eq!(level_prefix(Level::ERROR, "internal error: boom"), "");
        assert_eq!(level_prefix(Level::INFO, "listening on http://a"), "");
        assert_eq!(level_prefix(Level::DEBUG, "job 'x': v2"), "debug: ");
    }

    /// The text form of events through a real subscriber, written to a buffer.
    #[test]
    fn the_text_form_is_the_message_alone() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("debug"))
            .with_writer(move || sink.clone())
            .event_format(PlainText)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let job = "x";
            tracing::info!(job, id = "x-1", "job '{job}' started (id x-1)");
            tracing::warn!(job, "job '{job}': record skipped");
            tracing::error!("internal error: boom");
            tracing::debug!(partitions = 2, "job '{job}': 2 partitions");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "job 'x' started (id x-1)\nwarning: job 'x': record skipped\n\
             internal error: boom\ndebug: job 'x': 2 partitions\n"
        );
    }
}
