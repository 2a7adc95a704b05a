//! CAST between Velo's types and the parsing of timestamp text: value
//! conversions of the data model, used by the planner (literals converted once
//! at plan time) and the engine (CAST per row) alike.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::{DataType, Decimal, Error, Value};

/// Parses an ISO-8601 / RFC 3339 timestamp into milliseconds since the epoch (UTC):
/// `2024-01-15T10:00:00Z`, `2024-01-15 10:00:00.123`, `2024-01-15T10:00:00+02:00`,
/// `2024-01-15 10:00`, `2024-01-15`. Without an offset the time is UTC.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.len() < 10 || !t.is_char_boundary(10) {
        return None;
    }
    let owned;
    let t = if t.len() > 10 && t.as_bytes()[10] == b' ' {
        owned = format!("{}T{}", &t[..10], &t[11..]);
        owned.as_str()
    } else {
        t
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(dt) = DateTime::parse_from_str(t, fmt) {
            return Some(dt.timestamp_millis());
        }
    }
    let date = NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    for (text, b) in [
        ("true", true),
        ("false", false),
        ("t", true),
        ("f", false),
        ("1", true),
        ("0", false),
        ("yes", true),
        ("no", false),
    ] {
        if s.eq_ignore_ascii_case(text) {
            return Some(b);
        }
    }
    None
}

fn f64_to_i64(f: f64) -> Option<i64> {
    // Truncates toward zero, as CAST does in Flink; out of range is an error.
    let t = f.trunc();
    (-9.223_372_036_854_776e18..9.223_372_036_854_776e18)
        .contains(&t)
        .then_some(t as i64)
}

/// `CAST(v AS to)`. NULL casts to NULL; a value that cannot be converted is
/// [`Error::Cast`] carrying the value. BIGINT <-> TIMESTAMP use milliseconds;
/// DOUBLE -> BIGINT truncates toward zero; -> DECIMAL(p,s) rounds half away from
/// zero to `s` digits and fails if the result needs more than `p` digits;
/// VARCHAR -> BOOLEAN accepts true/false/t/f/1/0/yes/no; VARCHAR -> TIMESTAMP
/// accepts ISO-8601 ([`parse_timestamp`]); TIMESTAMP -> VARCHAR is RFC 3339.
pub fn cast_value(v: &Value, to: DataType) -> Result<Value, Error> {
    let fail = || Error::Cast {
        value: v.clone(),
        to,
    };
    Ok(match (v, to) {
        (Value::Null, _) => Value::Null,
        (_, DataType::Null) => return Err(fail()),
        (Value::Bool(_), DataType::Boolean)
        | (Value::Int(_), DataType::Int)
        | (Value::Float(_), DataType::Float)
        | (Value::Str(_), DataType::String)
        | (Value::Timestamp(_), DataType::Timestamp) => v.clone(),

        (Value::Int(i), DataType::Boolean) => Value::Bool(*i != 0),
        (Value::Float(f), DataType::Boolean) => Value::Bool(*f != 0.0),
        (Value::Decimal(d), DataType::Boolean) => Value::Bool(!d.is_zero()),
        (Value::Str(s), DataType::Boolean) => Value::Bool(parse_bool(s).ok_or_else(fail)?),

        (Value::Bool(b), DataType::Int) => Value::Int(*b as i64),
        (Value::Float(f), DataType::Int) => Value::Int(f64_to_i64(*f).ok_or_else(fail)?),
        (Value::Decimal(d), DataType::Int) => Value::Int(d.to_i64().ok_or_else(fail)?),
        (Value::Timestamp(t), DataType::Int) => Value::Int(*t),
        (Value::Str(s), DataType::Int) => Value::Int(s.trim().parse::<i64>().map_err(|_| fail())?),

        (Value::Bool(b), DataType::Float) => Value::Float(if *b { 1.0 } else { 0.0 }),
        (Value::Int(i), DataType::Float) | (Value::Timestamp(i), DataType::Float) => {
            Value::Float(*i as f64)
        }
        (Value::Decimal(d), DataType::Float) => Value::Float(d.to_f64()),
        (Value::Str(s), DataType::Float) => {
            Value::Float(s.trim().parse::<f64>().map_err(|_| fail())?)
        }

        (_, DataType::Decimal { precision, scale }) => {
            let d = match v {
                Value::Bool(b) => Some(Decimal::from(*b as i64)),
                Value::Int(i) | Value::Timestamp(i) => Some(Decimal::from(*i)),
                Value::Float(f) => Decimal::from_f64(*f, scale),
                Value::Decimal(d) => Some(*d),
                Value::Str(s) => Decimal::parse_rounded(s.trim().as_bytes(), scale),
                Value::Null => unreachable!("handled above"),
            };
            Value::Decimal(d.and_then(|d| d.fit(precision, scale)).ok_or_else(fail)?)
        }

        (_, DataType::String) => Value::Str(Arc::from(v.to_string())),

        (Value::Int(i), DataType::Timestamp) => Value::Timestamp(*i),
        (Value::Float(f), DataType::Timestamp) => {
            Value::Timestamp(f64_to_i64(*f).ok_or_else(fail)?)
        }
        (Value::Decimal(d), DataType::Timestamp) => Value::Timestamp(d.to_i64().ok_or_else(fail)?),
        (Value::Str(s), DataType::Timestamp) => {
            Value::Timestamp(parse_timestamp(s).ok_or_else(fail)?)
        }

        _ => return Err(fail()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_timestamps() {
        let base = 1_705_312_800_000; // 2024-01-15T10:00:00Z
        assert_eq!(parse_timestamp("2024-01-15T10:00:00Z"), Some(base));
        assert_eq!(parse_timestamp("2024-01-15 10:00:00"), Some(base));
        assert_eq!(parse_timestamp("2024-01-15T10:00:00.250"), Some(base + 250));
        assert_eq!(parse_timestamp("2024-01-15T12:00:00+02:00"), Some(base));
        assert_eq!(parse_timestamp("2024-01-15 10:00"), Some(base));
        assert_eq!(parse_timestamp("2024-01-15"), Some(base - 36_000_000));
        assert_eq!(parse_timestamp("2024-01-15T10:00:00.000Z"), Some(base));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2024-13-01"), None);
        assert_eq!(parse_timestamp("2024-01-15 ü"), None);
    }

    #[test]
    fn decimal_casts_round_and_check_precision() {
        let to = DataType::Decimal {
            precision: 3,
            scale: 1,
        };
        assert_eq!(
            cast_value(&Value::str("1.5"), to).unwrap(),
            Value::Decimal(Decimal::new(15, 1))
        );
        assert_eq!(
            cast_value(&Value::str("1.25"), to).unwrap(),
            Value::Decimal(Decimal::new(13, 1))
        );
        assert_eq!(
            cast_value(&Value::Int(99), to).unwrap(),
            Value::Decimal(Decimal::new(990, 1))
        );
        assert!(matches!(
            cast_value(&Value::Int(100), to),
            Err(Error::Cast { .. })
        ));
        assert!(cast_value(&Value::str("abc"), to).is_err());
    }

    #[test]
    fn decimal_casts_keep_38_digits() {
        let to = |precision, scale| DataType::Decimal { precision, scale };
        let text = "12345678901234567890123456789.123456789";
        assert_eq!(
            cast_value(&Value::str(text), to(38, 9))
                .unwrap()
                .to_string(),
            text
        );
        // Rounded half away from zero at scale 8: the dropped digit is a 9.
        assert_eq!(
            cast_value(&Value::str(text), to(38, 8))
                .unwrap()
                .to_string(),
            "12345678901234567890123456789.12345679"
        );
        let nines_39 = "9".repeat(39);
        assert!(cast_value(&Value::str(&nines_39), to(38, 0)).is_err());
        assert!(cast_value(&Value::str(&nines_39[1..]), to(37, 0)).is_err());
        assert_eq!(
            cast_value(&Value::Float(0.1), to(38, 20))
                .unwrap()
                .to_string(),
            "0.10000000000000000000"
        );
        assert_eq!(
            cast_value(&Value::Decimal(Decimal::new(-125, 2)), to(5, 1))
                .unwrap()
                .to_string(),
            "-1.3"
        );
    }
}
