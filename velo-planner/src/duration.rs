//! Durations written in property values: `5s`, `500ms`, `1m`, `2 hours`,
//! `INTERVAL '5' SECOND`, or a bare number of milliseconds.

/// Parses a duration property value into milliseconds.
pub fn parse_duration_text(text: &str) -> Option<i64> {
    let t = text.trim();
    let t = t
        .strip_prefix("INTERVAL")
        .or_else(|| t.strip_prefix("interval"))
        .map(str::trim)
        .unwrap_or(t);
    let t = t.replace('\'', " ");
    let t = t.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.trim().parse().ok()?;
    let unit_ms = unit_millis(unit.trim())?;
    let ms = num * unit_ms as f64;
    (ms.is_finite() && ms >= 0.0 && ms <= i64::MAX as f64).then_some(ms as i64)
}

/// Milliseconds in one of a duration unit, by any of its usual spellings.
pub fn unit_millis(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "" | "ms" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling() {
        assert_eq!(parse_duration_text("5s"), Some(5_000));
        assert_eq!(parse_duration_text("500ms"), Some(500));
        assert_eq!(parse_duration_text("1m"), Some(60_000));
        assert_eq!(parse_duration_text("2 hours"), Some(7_200_000));
        assert_eq!(parse_duration_text("INTERVAL '5' SECOND"), Some(5_000));
        assert_eq!(parse_duration_text("250"), Some(250));
        assert_eq!(parse_duration_text("0s"), Some(0));
        assert_eq!(parse_duration_text("5 fortnights"), None);
        assert_eq!(parse_duration_text("-5s"), None);
        assert_eq!(parse_duration_text(""), None);
    }
}
