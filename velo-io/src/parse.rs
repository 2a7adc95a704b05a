//! Text to [`Value`] conversion and column type inference, shared by the CSV and
//! JSON-lines readers.
//!
//! Everything here works on byte slices and allocates nothing except the
//! `Arc<str>` of a string value.

use std::sync::Arc;

use velo_types::{DataType, Decimal, Value};

/// Why a text field could not be converted to its column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConvError {
    /// The text does not parse as the type.
    Invalid,
    /// The text is not UTF-8.
    Utf8,
}

/// What a column of `ty` accepts, for error messages.
pub(crate) fn expected_text(ty: DataType) -> String {
    match ty {
        DataType::Boolean => "BOOLEAN (true or false)".into(),
        DataType::Int => "BIGINT".into(),
        DataType::Float => "DOUBLE".into(),
        DataType::Decimal { precision, scale } => format!(
            "DECIMAL({precision},{scale}) (at most {} digits before the point)",
            precision - scale
        ),
        DataType::Timestamp => {
            "TIMESTAMP (ISO-8601 like 2024-01-15T10:00:00Z, or epoch milliseconds)".into()
        }
        DataType::String => "VARCHAR".into(),
        DataType::Null => "NULL".into(),
    }
}

#[inline]
fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// Converts one non-empty text field to a value of `ty`. Numbers, booleans and
/// timestamps may be surrounded by ASCII whitespace; strings are taken verbatim.
/// A field that is empty after trimming is NULL for every non-string type.
#[inline]
pub(crate) fn convert_text(bytes: &[u8], ty: DataType) -> Result<Value, ConvError> {
    if ty == DataType::String {
        return match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Value::Str(Arc::from(s))),
            Err(_) => Err(ConvError::Utf8),
        };
    }
    let t = trim(bytes);
    if t.is_empty() {
        return Ok(Value::Null);
    }
    let v = match ty {
        DataType::Int => parse_i64(t).map(Value::Int),
        DataType::Float => parse_f64(t).map(Value::Float),
        DataType::Boolean => parse_bool(t).map(Value::Bool),
        DataType::Timestamp => parse_timestamp_or_millis(t).map(Value::Timestamp),
        DataType::Decimal { precision, scale } => {
            parse_decimal(t, precision, scale).map(Value::Decimal)
        }
        DataType::Null => Some(Value::Null),
        // Handled above.
        DataType::String => None,
    };
    match v {
        Some(v) => Ok(v),
        None if std::str::from_utf8(bytes).is_err() => Err(ConvError::Utf8),
        None => Err(ConvError::Invalid),
    }
}

/// An optionally signed decimal integer that fits an i64.
#[inline]
pub(crate) fn parse_i64(t: &[u8]) -> Option<i64> {
    let (neg, digits) = match t.first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    if digits.len() <= 18 {
        // Below 10^18: no overflow either way.
        let mut acc: i64 = 0;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            acc = acc * 10 + d as i64;
        }
        return Some(if neg { -acc } else { acc });
    }
    // Accumulate negatively so that i64::MIN parses.
    let mut acc: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_sub(d as i64)?;
    }
    if neg {
        Some(acc)
    } else {
        acc.checked_neg()
    }
}

/// A float as Rust parses it (`1.5`, `-2e10`, `inf`, `NaN`).
#[inline]
pub(crate) fn parse_f64(t: &[u8]) -> Option<f64> {
    if let Some(v) = parse_plain_f64(t) {
        return Some(v);
    }
    std::str::from_utf8(t).ok()?.parse::<f64>().ok()
}

/// Exact powers of ten as doubles (all of them up to 10^22 are).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common case of [`parse_f64`] without its general algorithm: `-?D+(.D+)?`
/// whose digits, point removed, make an integer of at most 2^53 and which has at
/// most 22 digits after the point. Both that integer and the power of ten are
/// then exact doubles, so their IEEE quotient is the correctly rounded value,
/// the one `str::parse` returns (Clinger's fast path). `None` for anything else.
#[inline]
pub(crate) fn parse_plain_f64(t: &[u8]) -> Option<f64> {
    let (neg, rest) = match t.first()? {
        b'-' => (true, &t[1..]),
        _ => (false, t),
    };
    let mut m: u64 = 0;
    let mut i = 0;
    while i < rest.len() && i < 19 {
        let d = rest[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        m = m * 10 + u64::from(d);
        i += 1;
    }
    if i == 0 {
        return None;
    }
    let mut frac = 0;
    if i < rest.len() {
        if rest[i] != b'.' {
            return None;
        }
        let after = &rest[i + 1..];
        if after.is_empty() || i + after.len() > 19 {
            return None;
        }
        for &b in after {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            m = m * 10 + u64::from(d);
        }
        frac = after.len();
    }
    if m > 1 << 53 || frac >= POW10.len() {
        return None;
    }
    let v = m as f64 / POW10[frac];
    Some(if neg { -v } else { v })
}

/// `true` / `false` in any case, and `1` / `0`.
pub(crate) fn parse_bool(t: &[u8]) -> Option<bool> {
    if t.eq_ignore_ascii_case(b"true") || t == b"1" {
        Some(true)
    } else if t.eq_ignore_ascii_case(b"false") || t == b"0" {
        Some(false)
    } else {
        None
    }
}

/// An ISO-8601 timestamp (date-only allowed, meaning midnight UTC) or an integer
/// number of milliseconds since the epoch.
pub(crate) fn parse_timestamp_or_millis(t: &[u8]) -> Option<i64> {
    parse_timestamp(t, true).or_else(|| parse_i64(t))
}

/// An exact decimal, rounded half away from zero to `scale` digits after the point,
/// and `None` when it needs more than `precision` digits in all (at most 38).
pub(crate) fn parse_decimal(t: &[u8], precision: u8, scale: u8) -> Option<Decimal> {
    Decimal::parse_rounded(t, scale)?.fit(precision, scale)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let s = self.b.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as u32;
        }
        self.i += n;
        Some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Parses `YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][Z|±HH[:MM]|±HHMM]` to epoch
/// milliseconds (UTC when no offset is given; fractions past milliseconds are
/// truncated). A date alone is accepted only when `allow_date_only`.
pub(crate) fn parse_timestamp(t: &[u8], allow_date_only: bool) -> Option<i64> {
    let mut c = Cursor { b: t, i: 0 };
    let y = c.digits(4)? as i64;
    if !c.eat(b'-') {
        return None;
    }
    let mo = c.digits(2)?;
    if !c.eat(b'-') {
        return None;
    }
    let d = c.digits(2)?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if c.done() {
        return allow_date_only.then_some(days * 86_400_000);
    }
    match c.peek()? {
        b'T' | b't' | b' ' => c.i += 1,
        _ => return None,
    }
    let h = c.digits(2)?;
    if !c.eat(b':') {
        return None;
    }
    let mi = c.digits(2)?;
    let mut s = 0;
    let mut ms = 0u32;
    if c.eat(b':') {
        s = c.digits(2)?;
        if c.eat(b'.') || c.eat(b',') {
            let start = c.i;
            let mut scale = 100;
            while let Some(b) = c.peek().filter(u8::is_ascii_digit) {
                ms += (b - b'0') as u32 * scale;
                scale /= 10;
                c.i += 1;
            }
            if c.i == start {
                return None;
            }
        }
    }
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let mut offset_min: i64 = 0;
    if !c.done() {
        match c.peek()? {
            b'Z' | b'z' => c.i += 1,
            sign @ (b'+' | b'-') => {
                c.i += 1;
                let oh = c.digits(2)? as i64;
                let om = if c.done() {
                    0
                } else {
                    c.eat(b':');
                    c.digits(2)? as i64
                };
                if oh > 23 || om > 59 {
                    return None;
                }
                offset_min = oh * 60 + om;
                if sign == b'-' {
                    offset_min = -offset_min;
                }
            }
            _ => return None,
        }
        if !c.done() {
            return None;
        }
    }
    let secs = days * 86_400 + h as i64 * 3600 + mi as i64 * 60 + s as i64 - offset_min * 60;
    Some(secs * 1000 + ms as i64)
}

/// Accumulates what the non-empty sample values of one text column could be, and
/// picks the narrowest type: BOOLEAN, BIGINT, DOUBLE, TIMESTAMP, else VARCHAR.
#[derive(Debug, Clone)]
pub(crate) struct TypeGuess {
    seen: usize,
    bool_ok: bool,
    int_ok: bool,
    float_ok: bool,
    ts_ok: bool,
}

impl Default for TypeGuess {
    fn default() -> Self {
        TypeGuess {
            seen: 0,
            bool_ok: true,
            int_ok: true,
            float_ok: true,
            ts_ok: true,
        }
    }
}

impl TypeGuess {
    /// Observes one field; empty fields (NULL) say nothing about the type.
    pub(crate) fn observe(&mut self, bytes: &[u8]) {
        let t = trim(bytes);
        if t.is_empty() {
            return;
        }
        self.seen += 1;
        if self.bool_ok {
            self.bool_ok = t.eq_ignore_ascii_case(b"true") || t.eq_ignore_ascii_case(b"false");
        }
        if self.int_ok || self.float_ok {
            let is_int = parse_i64(t).is_some();
            self.int_ok &= is_int;
            if self.float_ok && !is_int {
                // A digits-only text too long for an i64 stays a string rather than
                // losing precision as a float; inf/NaN alone do not make a float column.
                let digits_only = t
                    .iter()
                    .enumerate()
                    .all(|(i, b)| b.is_ascii_digit() || (i == 0 && (*b == b'-' || *b == b'+')));
                self.float_ok =
                    !digits_only && t.iter().any(u8::is_ascii_digit) && parse_f64(t).is_some();
            }
        }
        if self.ts_ok {
            self.ts_ok = parse_timestamp(t, false).is_some();
        }
    }

    pub(crate) fn result(&self) -> DataType {
        if self.seen == 0 {
            DataType::String
        } else if self.bool_ok {
            DataType::Boolean
        } else if self.int_ok {
            DataType::Int
        } else if self.float_ok {
            DataType::Float
        } else if self.ts_ok {
            DataType::Timestamp
        } else {
            DataType::String
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guess(values: &[&str]) -> DataType {
        let mut g = TypeGuess::default();
        for v in values {
            g.observe(v.as_bytes());
        }
        g.result()
    }

    #[test]
    fn integers_parse_with_sign_and_overflow_is_rejected() {
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b"-42"), Some(-42));
        assert_eq!(parse_i64(b"+7"), Some(7));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"12a"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b""), None);
    }

    #[test]
    fn the_plain_float_path_agrees_with_str_parse() {
        for text in [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "1",
            "150.0",
            "249.0",
            "0.1",
            "-2.5",
            "123456.789",
            "9007199254740992",
            "9007199254740993",
            "9007199254740992.0",
            "0.3",
            "1234567890123456789",
            "12345678901234567890",
            "1.0000000000000000000001",
            "5.",
            ".5",
            "-.5",
            "+1.5",
            "1e3",
            "1.5e-3",
            "00012.5000",
            "1..2",
            "1.2.3",
            "-",
            "",
            "inf",
            "NaN",
            "1_0",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
        ] {
            let ours = parse_f64(text.as_bytes()).map(f64::to_bits);
            let std = text.parse::<f64>().ok().map(f64::to_bits);
            assert_eq!(ours, std, "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_floats_parse_as_str_parse(
            neg in proptest::prelude::any::<bool>(),
            int in "[0-9]{1,19}",
            frac in proptest::option::of("[0-9]{0,22}"),
        ) {
            let mut text = String::new();
            if neg {
                text.push('-');
            }
            text.push_str(&int);
            if let Some(f) = frac {
                text.push('.');
                text.push_str(&f);
            }
            let ours = parse_f64(text.as_bytes()).map(f64::to_bits);
            let std = text.parse::<f64>().ok().map(f64::to_bits);
            proptest::prop_assert_eq!(ours, std, "{}", text);
        }

        #[test]
        fn integers_parse_as_str_parse(text in "[+-]?[0-9]{1,19}") {
            proptest::prop_assert_eq!(parse_i64(text.as_bytes()), text.parse::<i64>().ok());
        }
    }

    #[test]
    fn timestamps_parse_in_the_documented_forms() {
        let base = 1_705_312_800_000; // 2024-01-15T10:00:00Z
        assert_eq!(parse_timestamp(b"2024-01-15T10:00:00Z", false), Some(base));
        assert_eq!(parse_timestamp(b"2024-01-15 10:00:00", false), Some(base));
        assert_eq!(
            parse_timestamp(b"2024-01-15T10:00:00.123Z", false),
            Some(base + 123)
        );
        assert_eq!(
            parse_timestamp(b"2024-01-15T10:00:00.5", false),
            Some(base + 500)
        );
        assert_eq!(
            parse_timestamp(b"2024-01-15T10:00:00.123456789Z", false),
            Some(base + 123)
        );
        assert_eq!(parse_timestamp(b"2024-01-15T10:00", false), Some(base));
        assert_eq!(
            parse_timestamp(b"2024-01-15T12:00:00+02:00", false),
            Some(base)
        );
        assert_eq!(
            parse_timestamp(b"2024-01-15T05:00:00-0500", false),
            Some(base)
        );
        assert_eq!(parse_timestamp(b"2024-01-15", false), None);
        assert_eq!(
            parse_timestamp(b"2024-01-15", true),
            Some(base - 10 * 3_600_000)
        );
        assert_eq!(parse_timestamp(b"2024-02-30T00:00:00Z", false), None);
        assert_eq!(parse_timestamp(b"2024-01-15T24:00:00Z", false), None);
        assert_eq!(parse_timestamp(b"2024-01-15T10:00:00Zjunk", false), None);
        assert_eq!(
            parse_timestamp(b"1969-12-31T23:59:59.999Z", false),
            Some(-1)
        );
        assert_eq!(parse_timestamp_or_millis(b"1705312800000"), Some(base));
        for ms in [0i64, -1, 951_782_400_123, base, 253_402_300_799_999] {
            let text = velo_types::format_timestamp_millis(ms);
            assert_eq!(parse_timestamp(text.as_bytes(), false), Some(ms), "{text}");
        }
    }

    #[test]
    fn inference_prefers_narrow_types() {
        assert_eq!(guess(&["1", "2", ""]), DataType::Int);
        assert_eq!(guess(&["1", "2.5"]), DataType::Float);
        assert_eq!(guess(&["1e3", "-0.5"]), DataType::Float);
        assert_eq!(guess(&["true", "FALSE"]), DataType::Boolean);
        assert_eq!(guess(&["1", "true"]), DataType::String);
        assert_eq!(
            guess(&["2024-01-15T10:00:00Z", "2024-01-15 10:00:00.250"]),
            DataType::Timestamp
        );
        assert_eq!(guess(&["2024-01-15"]), DataType::String);
        assert_eq!(guess(&["abc", "1"]), DataType::String);
        assert_eq!(guess(&["", ""]), DataType::String);
        assert_eq!(guess(&["NaN"]), DataType::String);
        assert_eq!(guess(&["123456789012345678901234"]), DataType::String);
    }

    #[test]
    fn decimals_are_exact_and_checked_against_precision() {
        let d = parse_decimal(b"12.345", 10, 2).unwrap();
        assert_eq!(d.to_string(), "12.35");
        let d = parse_decimal(b"-12.345", 10, 2).unwrap();
        assert_eq!(d.to_string(), "-12.35");
        assert_eq!(parse_decimal(b"7", 10, 2).unwrap().to_string(), "7.00");
        assert_eq!(parse_decimal(b"1.5e2", 10, 1).unwrap().to_string(), "150.0");
        assert_eq!(parse_decimal(b"0.1", 3, 1).unwrap().to_string(), "0.1");
        assert!(parse_decimal(b"100.0", 3, 1).is_none());
        assert!(parse_decimal(b"99.96", 3, 1).is_none());
        assert!(parse_decimal(b"abc", 10, 2).is_none());
        assert!(parse_decimal(b"1e99999999999", 10, 2).is_none());
        // Underflow beyond what Decimal holds is refused, not a panic.
        let _ = parse_decimal(b"1e-99999", 10, 2);
        assert!(parse_decimal(&[b'9'; 200], 38, 0).is_none());
        assert!(parse_decimal(b"1e", 10, 2).is_none());
        // 38 digits fit, 39 do not; 29 digits at scale 2 (past a 96-bit mantissa) fit.
        let nines = [b'9'; 39];
        assert_eq!(
            parse_decimal(&nines[..38], 38, 0).unwrap().to_string(),
            "9".repeat(38)
        );
        assert!(parse_decimal(&nines, 38, 0).is_none());
        assert_eq!(
            parse_decimal(b"123456789012345678901234567.89", 29, 2)
                .unwrap()
                .to_string(),
            "123456789012345678901234567.89"
        );
        assert!(parse_decimal(b"123456789012345678901234567.89", 28, 2).is_none());
    }

    #[test]
    fn conversion_reports_invalid_text_and_utf8() {
        assert_eq!(convert_text(b" 42 ", DataType::Int), Ok(Value::Int(42)));
        assert_eq!(convert_text(b"  ", DataType::Int), Ok(Value::Null));
        assert_eq!(convert_text(b"x", DataType::Int), Err(ConvError::Invalid));
        assert_eq!(convert_text(b"\xff", DataType::Int), Err(ConvError::Utf8));
        assert_eq!(
            convert_text(b"\xff", DataType::String),
            Err(ConvError::Utf8)
        );
        assert_eq!(
            convert_text(b" a ", DataType::String),
            Ok(Value::str(" a "))
        );
        assert_eq!(
            convert_text(b"TRUE", DataType::Boolean),
            Ok(Value::Bool(true))
        );
        assert_eq!(convert_text(b"1.5", DataType::Float), Ok(Value::Float(1.5)));
        assert_eq!(
            convert_text(b"2024-01-15T10:00:00Z", DataType::Timestamp),
            Ok(Value::Timestamp(1_705_312_800_000))
        );
        assert_eq!(
            convert_text(b"1000", DataType::Timestamp),
            Ok(Value::Timestamp(1000))
        );
    }
}
