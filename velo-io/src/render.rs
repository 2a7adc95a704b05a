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

/// Encodes rows of one schema as JSON lines. Each column's key is escaped once,
/// when the encoder is built, with what comes before it: `{"name":` for the first
/// column, `,"name":` for the others.
#[derive(Debug, Clone)]
pub struct JsonRowEncoder {
    keys: Vec<Key>,
}

/// Short pieces of output are copied as a fixed-size block and then cut to their
/// length: a few moves instead of a call to `memcpy`.
const BLOCK: usize = 32;

/// A column's key, and the same bytes padded to a block when they fit one.
#[derive(Debug, Clone)]
struct Key {
    bytes: Box<[u8]>,
    block: Option<[u8; BLOCK]>,
}

impl JsonRowEncoder {
    pub fn new(schema: &Schema) -> JsonRowEncoder {
        let keys = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut k = Vec::with_capacity(f.name.len() + 4);
                k.push(if i == 0 { b'{' } else { b',' });
                write_json_string(&mut k, &f.name);
                k.push(b':');
                let block = (k.len() <= BLOCK).then(|| {
                    let mut b = [0u8; BLOCK];
                    b[..k.len()].copy_from_slice(&k);
                    b
                });
                Key {
                    bytes: k.into_boxed_slice(),
                    block,
                }
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
        if row.is_empty() || self.keys.is_empty() {
            out.extend_from_slice(b"{}\n");
            return;
        }
        for (key, value) in self.keys.iter().zip(row) {
            match &key.block {
                Some(block) => {
                    let len = out.len() + key.bytes.len();
                    out.extend_from_slice(block);
                    out.truncate(len);
                }
                None => out.extend_from_slice(&key.bytes),
            }
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
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a finite float in its shortest round-trip form, always with a `.0` or an
/// exponent (`150.0`, `0.1`, `1e16`, `1e-7`): exactly what `{:?}` (`Debug`) writes.
/// Returns false, writing nothing, for NaN and infinities.
///
/// `Debug` writes plain decimals for zero and magnitudes in `[1e-4, 1e16)`, and
/// exponent notation otherwise. In that range the same text comes faster from an
/// integer for the integers below 2^53 (their shortest form is all their digits),
/// and from [`zmij`] for the others (see [`push_plain_decimal`]); outside it from
/// `Debug` itself.
#[inline]
pub fn write_float(out: &mut Vec<u8>, f: f64) -> bool {
    if !f.is_finite() {
        return false;
    }
    let a = f.abs();
    if (1.0..9_007_199_254_740_992.0).contains(&a) && (f as i64) as f64 == f {
        // An integer below 2^53: `f as i64` is exact.
        write_i64(out, f as i64);
        out.extend_from_slice(b".0");
    } else if (1e-4..1e16).contains(&a) || a == 0.0 {
        let mut buf = zmij::Buffer::new();
        if !push_plain_decimal(out, f, buf.format_finite(f).as_bytes()) {
            write_float_debug(out, f);
        }
    } else {
        write_float_debug(out, f);
    }
    true
}

#[cold]
#[inline(never)]
fn write_float_debug(out: &mut Vec<u8>, f: f64) {
    // `Debug` for f64 is the shortest representation that round-trips, and it keeps
    // a `.0` on integral values or switches to exponent notation for large/small ones.
    let _ = write!(out, "{f:?}");
}

/// Appends `text`, zmij's rendering of `f` (zero or a magnitude in `[1e-4, 1e16)`,
/// so a plain decimal with a point), as `Debug` renders `f`; false, appending
/// nothing, when it cannot tell.
///
/// Both pick the fewest digits that read back as `f`, and of those the closest to
/// `f`; they only differ when `f` lies exactly halfway between the two closest:
/// zmij then rounds to even, `Debug` up (`30550873515829.0625` is `...829.062`
/// for zmij, `...829.063` for `Debug`). Two such candidates lie at least one unit
/// of their last digit apart and within one unit in the last place of `f`, which
/// takes 16 significant digits or more; for those the halfway case is checked
/// exactly, and the last digit raised (it is even, so nothing carries).
#[inline]
fn push_plain_decimal(out: &mut Vec<u8>, f: f64, text: &[u8]) -> bool {
    // Up to 15 significant digits, or an integer (`1234567890123456.0`): no tie.
    let digits = text.len() - 1 - usize::from(f < 0.0);
    if digits < 16 || text.ends_with(b".0") {
        out.extend_from_slice(text);
        return true;
    }
    let Some(dot) = text.iter().position(|&b| b == b'.') else {
        return false;
    };
    // The value of the digits, leading zeros and all (at most 21 digits after a
    // point, 17 significant: it fits), and how many follow the point.
    let mut d: u64 = 0;
    let mut significant = 0;
    for &b in text {
        if b.is_ascii_digit() {
            d = d * 10 + u64::from(b - b'0');
            significant += usize::from(d > 0);
        }
    }
    if significant < 16 {
        out.extend_from_slice(text);
        return true;
    }
    let q = (text.len() - dot - 1) as i32;
    // `f` = m * 2^e exactly; halfway above `d` * 10^-q means
    // m * 2^(e+1) * 10^q = 2d + 1, odd: the twos cancel and m's odd part times 5^q
    // is 2d + 1.
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (m, e) = if exp == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), exp - 1075)
    };
    let t = m.trailing_zeros() as i32;
    let halfway = t + e + 1 + q == 0
        && q < 28
        && u128::from(m >> t) * 5u128.pow(q as u32) == 2 * u128::from(d) + 1;
    if !halfway {
        out.extend_from_slice(text);
        return true;
    }
    let last = text[text.len() - 1];
    if last == b'9' || !last.is_ascii_digit() {
        return false;
    }
    out.extend_from_slice(&text[..text.len() - 1]);
    out.push(last + 1);
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

    fn float_text(f: f64) -> String {
        let mut out = Vec::new();
        assert!(write_float(&mut out, f));
        String::from_utf8(out).unwrap()
    }

    /// The fast paths of `write_float` write exactly what `Debug` writes: at the
    /// edges of each path, on short decimals, and on floats of every magnitude.
    #[test]
    fn floats_render_exactly_as_debug() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e-4,
            1e-5,
            9.999999999999999e-5,
            1.0000000000000002e-4,
            1e15,
            1e16,
            9999999999999998.0,
            1e16 - 2.0,
            9_007_199_254_740_991.0,
            9_007_199_254_740_992.0,
            9_007_199_254_740_994.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            0.1 + 0.2,
            123456789.125,
            150.0,
            -249.0,
            // 30550873515829.0625, halfway between ...829.062 and ...829.063.
            f64::from_bits(0x42bb_c92d_f6a7_3510),
            f64::from_bits(0xc2bb_c92d_f6a7_3510),
        ];
        // Halfway cases: integers plus a fraction of a few bits, at magnitudes
        // where 16 or 17 digits are the shortest.
        for k in 0..20_000u64 {
            for (base, frac) in [
                (30_550_873_515_829u64, 0.0625),
                (1_000_000_000_000, 0.125),
                (4_000_000_000_000_000, 0.5),
                (123_456_789_012_345, 0.25),
                (2_251_799_813_685, 0.03125),
            ] {
                let f = (base + k * 7919) as f64 + frac;
                values.push(f);
                values.push(-f);
                values.push(f / 1024.0);
            }
        }
        // Short decimals, as prices and amounts are written.
        for k in -3000i64..3000 {
            for scale in [1.0, 10.0, 100.0, 1000.0, 1e4, 1e5, 1e6] {
                values.push(k as f64 / scale);
                values.push(k as f64 * scale);
            }
        }
        // Every binary exponent, with pseudo-random mantissas.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(f64::from_bits(x));
            // Magnitudes near the plain-decimal range, where most values are.
            let e = (x >> 52) % 80;
            values.push(f64::from_bits((x & ((1 << 52) - 1)) | ((990 + e) << 52)));
        }
        for f in values.into_iter().filter(|f| f.is_finite()) {
            assert_eq!(float_text(f), format!("{f:?}"), "bits {:#x}", f.to_bits());
        }
        let mut out = Vec::new();
        assert!(!write_float(&mut out, f64::NAN));
        assert!(!write_float(&mut out, f64::INFINITY));
        assert!(out.is_empty());
    }

    #[test]
    fn integers_render_at_every_digit_count() {
        let mut values = vec![0, 1, -1, 9, -9, i64::MAX, i64::MIN, i64::MIN + 1];
        let mut p: i64 = 10;
        while let Some(next) = p.checked_mul(10) {
            values.extend([p - 1, p, p + 1, -p + 1, -p, -p - 1]);
            p = next;
        }
        for v in values {
            let mut out = b"x".to_vec();
            write_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), format!("x{v}"));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_float_renders_as_debug(bits in proptest::prelude::any::<u64>()) {
            let f = f64::from_bits(bits);
            if f.is_finite() {
                proptest::prop_assert_eq!(float_text(f), format!("{f:?}"));
            }
        }

        #[test]
        fn any_integer_renders_as_display(v in proptest::prelude::any::<i64>()) {
            let mut out = Vec::new();
            write_i64(&mut out, v);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
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
