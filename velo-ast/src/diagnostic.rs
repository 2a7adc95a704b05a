//! Rendering of positioned errors: `file:line:column`, the offending source line,
//! and a caret under the offending token. Shared by the parser and the planner.

use std::fmt::Write;

use sqlparser::tokenizer::Span;

/// Renders `message` at `span` of `source` like a compiler diagnostic:
///
/// ```text
/// error: expected a duration, found 'x'
///  --> app.sql:3:28
///   |
/// 3 | GROUP BY a WINDOW TUMBLING(x)
///   |                            ^
/// ```
///
/// A span with line 0 (unknown position) renders the message alone.
pub fn render(source: &str, file: Option<&str>, span: Span, message: &str) -> String {
    render_as("error", source, file, span, message)
}

/// [`render`] for a warning: the same layout, headed `warning:`.
pub fn render_warning(source: &str, file: Option<&str>, span: Span, message: &str) -> String {
    render_as("warning", source, file, span, message)
}

fn render_as(
    severity: &str,
    source: &str,
    file: Option<&str>,
    span: Span,
    message: &str,
) -> String {
    let mut out = format!("{severity}: {message}");
    let line_no = span.start.line as usize;
    if line_no == 0 {
        return out;
    }
    let col = span.start.column.max(1) as usize;
    let _ = write!(out, "\n --> {}:{line_no}:{col}", file.unwrap_or("<sql>"));
    let Some(line) = source.lines().nth(line_no - 1) else {
        return out;
    };
    let gutter = line_no.to_string().len();
    let width = if span.end.line == span.start.line && span.end.column > span.start.column {
        (span.end.column - span.start.column) as usize
    } else {
        1
    };
    // Columns count characters; keep tabs so the caret lines up under them.
    let pad: String = line
        .chars()
        .take(col - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let _ = write!(
        out,
        "\n{:gutter$} |\n{line_no} | {line}\n{:gutter$} | {pad}{}",
        "",
        "",
        "^".repeat(width.min(line.chars().count().saturating_sub(col - 1).max(1)))
    );
    out
}

#[cfg(test)]
mod tests {
    use sqlparser::tokenizer::Location;

    use super::*;

    #[test]
    fn caret_sits_under_the_token() {
        let src = "SELECT a\nFROM t WHERE bogus(1)";
        let span = Span::new(Location::new(2, 14), Location::new(2, 19));
        let text = render(src, Some("app.sql"), span, "unknown function 'bogus'");
        assert_eq!(
            text,
            "error: unknown function 'bogus'\n --> app.sql:2:14\n  |\n2 | FROM t WHERE bogus(1)\n  |              ^^^^^"
        );
    }

    #[test]
    fn a_warning_is_laid_out_like_an_error() {
        let src = "SELECT a FROM t";
        let span = Span::new(Location::new(1, 15), Location::new(1, 16));
        assert_eq!(
            render_warning(src, Some("app.sql"), span, "typed at run time"),
            "warning: typed at run time\n --> app.sql:1:15\n  |\n1 | SELECT a FROM t\n  |               ^"
        );
    }

    #[test]
    fn unknown_position_renders_message_only() {
        assert_eq!(render("x", None, Span::empty(), "boom"), "error: boom");
    }
}
