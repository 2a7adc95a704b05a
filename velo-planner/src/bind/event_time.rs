//! Binding the job's event-time column, and the conversions between the
//! parser's text positions and Velo's own ([`velo_types::Span`]).

use velo_ast::Span;
use velo_types::{DataType, Schema};

use crate::error::{Error, Result};
use crate::JobPlan;

/// The parser's span as Velo's position type (what errors after planning carry).
pub fn position(span: Span) -> velo_types::Span {
    let at = |l: sqlparser::tokenizer::Location| velo_types::Location {
        line: l.line,
        column: l.column,
    };
    velo_types::Span {
        start: at(span.start),
        end: at(span.end),
    }
}

/// Velo's position as the parser's span (to render a diagnostic against the text).
pub fn sql_span(span: velo_types::Span) -> Span {
    Span::new(
        sqlparser::tokenizer::Location::new(span.start.line, span.start.column),
        sqlparser::tokenizer::Location::new(span.end.line, span.end.column),
    )
}

/// Where errors about the event-time column point: the WINDOW clause, else the
/// query.
fn event_time_span(plan: &JobPlan) -> Span {
    let query = plan.query();
    query.window.as_ref().map_or(query.span, |w| w.span())
}

/// The input column the job's event time is read from (`event.time.field`, or
/// the column the WINDOW clause names), or `None` when the job has none.
/// Errors: the column does not exist, or its type cannot hold a time (BOOLEAN).
pub fn bind_event_time(plan: &JobPlan, schema: &Schema) -> Result<Option<usize>> {
    let Some(field) = plan.config.event_time_field.as_deref() else {
        return Ok(None);
    };
    let span = event_time_span(plan);
    // `t.ts` names the column `ts` of the source `t`.
    let qualifiers = plan.qualifiers();
    let name = match field.rsplit_once('.') {
        Some((q, c)) if qualifiers.iter().any(|x| x.eq_ignore_ascii_case(q)) => c,
        _ => field,
    };
    // In a join's rows (columns `q.col`) it is the stream's column: a joined
    // row's event time is its FROM row's (SPEC §2).
    let own = crate::join::qualifier_of(&plan.source);
    let index = schema
        .index_of(name)
        .or_else(|| schema.index_of(field))
        .or_else(|| schema.index_of(&format!("{own}.{name}")))
        .ok_or_else(|| {
            let columns: Vec<&str> = schema.names().collect();
            Error::Invalid {
                message: format!(
                    "the event-time field '{field}' is not a column of the input (columns: {})",
                    columns.join(", ")
                ),
                span,
            }
        })?;
    if schema.field(index).data_type == DataType::Boolean {
        return Err(Error::Invalid {
            message: format!("the event-time field '{field}' is BOOLEAN; it must be a TIMESTAMP, an integer or a string"),
            span,
        });
    }
    Ok(Some(index))
}

/// A time window's event-time column: as [`bind_event_time`], and an error when
/// the job names none.
pub fn bind_window_time(plan: &JobPlan, schema: &Schema) -> Result<usize> {
    bind_event_time(plan, schema)?.ok_or_else(|| Error::Invalid {
        message: "a time window needs an event-time column: name it in the WINDOW clause or set 'event.time.field'".into(),
        span: event_time_span(plan),
    })
}
