//! Output renderings of SPEC §3, shared by every writer.
//!
//! JSON lines: one object per row with the column names as keys in schema order;
//! TIMESTAMP as an RFC 3339 UTC string with milliseconds (`"2024-01-15T10:00:00.000Z"`),
//! DECIMAL as a JSON string (`"12.30"`), NULL as `null`, BIGINT as a number, DOUBLE as
//! a number in the shortest form that reads back as the same float and always with a
//! `.0` or an exponent (`150.0`, `1e-7`; NaN and infinities, which JSON cannot
//! represent, as `null`), BOOLEAN as `true` / `false`, strings JSON-escaped.
//!
//! CSV fields ([`write_text_value`]) use the same renderings unquoted (a timestamp
//! `2024-01-15T10:00:00.000Z`, a decimal `12.30`, a float `150.0`, NaN as `NaN` and
//! infinities as `inf` / `-inf`), and NULL as an empty field.
//!
//! Everything is written straight into a caller's `Vec<u8>`: no intermediate
//! `serde_json::Value` or `String` per row.

use std::io::Write as _;

use velo_types::{Batch, Schema, Value};

/// Encodes rows of one schema as JSON lines. The `"name":` keys are escaped once,
/// when the encoder is built.
#[derive(Debug, Clone)]
pub struct JsonRowEncoder {
    keys: Vec<Box<[u8]>>,
}

impl JsonRowEncoder {
    pub fn new(schema: &Schema) -> JsonRowEncoder {
        let keys = schema
            .fields()
            .iter()
            .map(|f| {
                let mut k = Vec::with_capacity(f.name.len() + 3);
                write_json_string(&mut k, &f.name);
                k.push(b':');
                k.into_boxed_slice()
            })
            .collect();
        JsonRowEncoder { keys }
    }

    /// The number of columns this encoder was built for.
    pub fn width(&self) -> usize {
        self.keys.len()
    }

    /// Appends one row as a JSON object followed by `\n`. `row` should have
    /// [`JsonRowEncoder::width`] values; extra values are ignored, missing ones are
    /// left out of the object.
    #[inline]
    pub fn encode_row(&self, row: &[Value], out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, value)) in self.keys.iter().zip(row).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            write_json_value(out, value);
        }
        out.extend_from_slice(b"}\n");
    }

    /// Appends every row of `batch`.
    pub fn encode_batch(&self, batch: &Batch, out: &mut Vec<u8>) {
        for row in batch.rows() {
            self.encode_row(row, out);
        }
    }
}

/// Renders one row as a JSON object (without the trailing newline); a convenience
/// for tests and messages, not for hot paths.
pub fn json_row_string(schema: &Schema, row: &[Value]) -> String {
    let mut out = Vec::new();
    JsonRowEncoder::new(schema).encode_row(row, &mut out);
    out.pop();
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the JSON rendering of one value.
#[inline]
pub fn write_json_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => write_i64(out, *i),
        Value::Float(f) => {
            if !write_float(out, *f) {
                out.extend_from_slice(b"null");
            }
        }
        Value::Decimal(d) => {
            out.push(b'"');
            let _ = write!(out, "{d}");
            out.push(b'"');
        }
        Value::Str(s) => write_json_string(out, s),
        Value::Timestamp(t) => {
            out.push(b'"');
            write_timestamp(out, *t);
            out.push(b'"');
        }
    }
}

/// Appends the plain-text (CSV field) rendering of one value; NULL appends nothing.
#[inline]
pub fn write_text_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => write_i64(out, *i),
        Value::Float(f) => {
            if !write_float(out, *f) {
                let text: &[u8] = if f.is_nan() {
                    b"NaN"
                } else if *f > 0.0 {
                    b"inf"
                } else {
                    b"-inf"
                };
                out.extend_from_slice(text);
            }
        }
        Value::Decimal(d) => {
            let _ = write!(out, "{d}");
        }
        Value::Str(s) => out.extend_from_slice(s.as_bytes()),
        Value::Timestamp(t) => write_timestamp(out, *t),
    }
}

/// Appends a decimal integer.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends a finite float in its shortest round-trip form, always with a `.0` or an
/// exponent (`150.0`, `0.1`, `1e16`, `1e-7`). Returns false, writing nothing, for NaN
/// and infinities.
#[inline]
pub fn write_float(out: &mut Vec<u8>, f: f64) -> bool {
    if !f.is_finite() {
        return false;
    }
    // `Debug` for f64 is the shortest representation that round-trips, and it keeps
    // a `.0` on integral values or switches to exponent notation for large/small ones.
    let _ = write!(out, "{f:?}");
    true
}

/// Lookup: 0 = copy as is, otherwise the escape letter (`u` for `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends `s` as a quoted, escaped JSON string.
#[inline]
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        if esc == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.push(b'\\');
            out.push(esc);
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends epoch milliseconds as RFC 3339 UTC with milliseconds, exactly as
/// [`velo_types::format_timestamp_millis`] renders it.
#[inline]
pub fn write_timestamp(out: &mut Vec<u8>, millis: i64) {
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = velo_types::civil_from_days(days);
    if !(0..=9999).contains(&y) {
        out.extend_from_slice(velo_types::format_timestamp_millis(millis).as_bytes());
        return;
    }
    let y = y as u32;
    let (h, mi, s) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    let two = |v: u32| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
    let mut buf = [0u8; 24];
    buf[0..2].copy_from_slice(&two(y / 100));
    buf[2..4].copy_from_slice(&two(y % 100));
    buf[4] = b'-';
    buf[5..7].copy_from_slice(&two(m));
    buf[7] = b'-';
    buf[8..10].copy_from_slice(&two(d));
    buf[10] = b'T';
    buf[11..13].copy_from_slice(&two(h));
    buf[13] = b':';
    buf[14..16].copy_from_slice(&two(mi));
    buf[16] = b':';
    buf[17..19].copy_from_slice(&two(s));
    buf[19] = b'.';
    buf[20] = b'0' + (ms / 100) as u8;
    buf[21..23].copy_from_slice(&two(ms % 100));
    buf[23] = b'Z';
    out.extend_from_slice(&buf);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use velo_types::{DataType, Decimal, Field};

    use super::*;

    fn json(v: &Value) -> String {
        let mut out = Vec::new();
        write_json_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn text(v: &Value) -> String {
        let mut out = Vec::new();
        write_text_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_renders_each_type_per_spec() {
        assert_eq!(json(&Value::Null), "null");
        assert_eq!(json(&Value::Bool(true)), "true");
        assert_eq!(json(&Value::Int(-42)), "-42");
        assert_eq!(json(&Value::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(json(&Value::Float(150.0)), "150.0");
        assert_eq!(json(&Value::Float(0.1)), "0.1");
        assert_eq!(json(&Value::Float(-0.0)), "-0.0");
        assert_eq!(json(&Value::Float(1e300)), "1e300");
        assert_eq!(json(&Value::Float(1.5e-7)), "1.5e-7");
        assert_eq!(json(&Value::Float(f64::NAN)), "null");
        assert_eq!(json(&Value::Float(f64::NEG_INFINITY)), "null");
        assert_eq!(json(&Value::Decimal(Decimal::new(1230, 2))), "\"12.30\"");
        assert_eq!(
            json(&Value::Timestamp(1_705_312_800_000)),
            "\"2024-01-15T10:00:00.000Z\""
        );
        assert_eq!(
            json(&Value::str("a\"b\\c\nd\u{1}é")),
            r#""a\"b\\c\nd\u0001é""#
        );
    }

    #[test]
    fn floats_read_back_as_the_same_float() {
        for f in [
            150.0,
            0.1,
            1.0 / 3.0,
            1e16,
            1e-7,
            123456789.125,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let s = json(&Value::Float(f));
            let back: serde_json::Value = serde_json::from_str(&s).unwrap();
            assert!(back.is_f64(), "{s} reads back as a float");
            assert_eq!(back.as_f64(), Some(f));
        }
    }

    #[test]
    fn timestamps_match_the_shared_formatter() {
        let mut t = -62_167_219_200_000i64; // 0000-01-01
        while t < 253_402_300_800_000 {
            let mut out = Vec::new();
            write_timestamp(&mut out, t);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                velo_types::format_timestamp_millis(t)
            );
            t += 86_399_937_123;
        }
        for t in [0, -1, 999, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_timestamp(&mut out, t);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                velo_types::format_timestamp_millis(t)
            );
        }
    }

    #[test]
    fn text_rendering_for_csv() {
        assert_eq!(text(&Value::Null), "");
        assert_eq!(text(&Value::Float(150.0)), "150.0");
        assert_eq!(text(&Value::Float(f64::NAN)), "NaN");
        assert_eq!(text(&Value::Float(f64::INFINITY)), "inf");
        assert_eq!(text(&Value::Timestamp(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(text(&Value::Decimal(Decimal::new(-5, 1))), "-0.5");
        assert_eq!(text(&Value::str("a,b")), "a,b");
    }

    #[test]
    fn rows_have_keys_in_schema_order() {
        let schema = Arc::new(velo_types::Schema::new(vec![
            Field::new("z", DataType::Int),
            Field::new("a \"q\"", DataType::String),
            Field::new("ts", DataType::Timestamp),
        ]));
        let row = [Value::Int(1), Value::Null, Value::Timestamp(0)];
        assert_eq!(
            json_row_string(&schema, &row),
            r#"{"z":1,"a \"q\"":null,"ts":"1970-01-01T00:00:00.000Z"}"#
        );
        let empty = velo_types::Schema::new(vec![]);
        assert_eq!(json_row_string(&empty, &[]), "{}");
    }
}
