use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::decimal::Decimal;

use crate::data_type::DataType;

/// One SQL value. 24 bytes; cloning never copies string bytes.
///
/// Equality and hashing are the GROUP BY notion of sameness: NULL equals NULL,
/// `-0.0` equals `0.0`, every NaN equals every other NaN, and values of different
/// variants are different (columns are typed, so a column never mixes variants).
/// Ordering with SQL semantics (NULL unknown, numbers compared across types) is
/// [`Value::sql_cmp`].
#[derive(Debug, Clone, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Decimal(Decimal),
    Str(Arc<str>),
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp(i64),
}

impl Value {
    /// Builds a string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The type of this value (`Null` for NULL; a decimal reports its own scale).
    pub fn data_type(&self) -> DataType {
        match self {
            Value::Null => DataType::Null,
            Value::Bool(_) => DataType::Boolean,
            Value::Int(_) => DataType::Int,
            Value::Float(_) => DataType::Float,
            Value::Decimal(d) => DataType::Decimal {
                precision: 38,
                scale: d.scale(),
            },
            Value::Str(_) => DataType::String,
            Value::Timestamp(_) => DataType::Timestamp,
        }
    }

    /// The value as f64 if it is numeric (timestamps count as their milliseconds).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Decimal(d) => Some(d.to_f64()),
            Value::Timestamp(t) => Some(*t as f64),
            _ => None,
        }
    }

    /// The value as i64 if it is an integer or a timestamp.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Timestamp(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// SQL comparison: `None` when either side is NULL or the types are not
    /// comparable. Integers, floats and decimals compare by numeric value;
    /// timestamps compare with timestamps and with integers (as milliseconds).
    pub fn sql_cmp(&self, other: &Value) -> Option<Ordering> {
        use Value::*;
        match (self, other) {
            (Null, _) | (_, Null) => None,
            (Bool(a), Bool(b)) => Some(a.cmp(b)),
            (Int(a), Int(b)) => Some(a.cmp(b)),
            (Float(a), Float(b)) => a.partial_cmp(b),
            (Int(a), Float(b)) => (*a as f64).partial_cmp(b),
            (Float(a), Int(b)) => a.partial_cmp(&(*b as f64)),
            (Decimal(a), Decimal(b)) => Some(a.cmp(b)),
            (Decimal(a), Int(b)) => Some(a.cmp(&crate::Decimal::from(*b))),
            (Int(a), Decimal(b)) => Some(crate::Decimal::from(*a).cmp(b)),
            (Decimal(a), Float(b)) => a.to_f64().partial_cmp(b),
            (Float(a), Decimal(b)) => a.partial_cmp(&b.to_f64()),
            (Str(a), Str(b)) => Some(a.as_ref().cmp(b.as_ref())),
            (Timestamp(a), Timestamp(b)) => Some(a.cmp(b)),
            (Timestamp(a), Int(b)) | (Int(a), Timestamp(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// A total order for sorting (ORDER BY, MIN/MAX state): NULLs first, then by
    /// [`Value::sql_cmp`], falling back to the variant order for incomparable types.
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
            _ => self
                .sql_cmp(other)
                .unwrap_or_else(|| self.variant_rank().cmp(&other.variant_rank())),
        }
    }

    fn variant_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Float(_) => 3,
            Value::Decimal(_) => 4,
            Value::Str(_) => 5,
            Value::Timestamp(_) => 6,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Float(a), Float(b)) => canonical_f64_bits(*a) == canonical_f64_bits(*b),
            (Decimal(a), Decimal(b)) => a == b,
            (Str(a), Str(b)) => a == b,
            (Timestamp(a), Timestamp(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    /// Unambiguous: the variant tag goes first and strings are length-delimited
    /// (`str`'s own `Hash` appends a terminator), so `("ab","c")` and `("a","bc")`
    /// hash differently as keys.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.variant_rank());
        match self {
            Value::Null => {}
            Value::Bool(b) => state.write_u8(*b as u8),
            Value::Int(i) | Value::Timestamp(i) => state.write_i64(*i),
            Value::Float(f) => state.write_u64(canonical_f64_bits(*f)),
            Value::Decimal(d) => d.hash(state),
            Value::Str(s) => s.as_ref().hash(state),
        }
    }
}

fn canonical_f64_bits(f: f64) -> u64 {
    if f.is_nan() {
        f64::NAN.to_bits()
    } else if f == 0.0 {
        0
    } else {
        f.to_bits()
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::str(v)
    }
}
impl From<Decimal> for Value {
    fn from(v: Decimal) -> Self {
        Value::Decimal(v)
    }
}

/// Renders milliseconds since the epoch as RFC 3339 UTC with milliseconds,
/// e.g. `2024-01-15T10:00:00.000Z` (SPEC §3).
pub fn format_timestamp_millis(millis: i64) -> String {
    let mut out = String::with_capacity(24);
    write_timestamp(&mut out, millis).expect("writing to a String cannot fail");
    out
}

fn write_timestamp(out: &mut impl fmt::Write, millis: i64) -> fmt::Result {
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Days since the epoch to (year, month, day): Howard Hinnant's days-to-civil
/// algorithm (proleptic Gregorian calendar).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for Value {
    /// The plain text rendering used in CSV output and messages: NULL as `NULL`,
    /// timestamps as RFC 3339, floats in Rust's shortest round-trip form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Str(s) => f.write_str(s),
            Value::Timestamp(t) => write_timestamp(f, *t),
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn hash_of(values: &[Value]) -> u64 {
        ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(values)
    }

    #[test]
    fn value_is_compact() {
        // A DECIMAL(38) mantissa is an i128: packed, it does not grow the enum.
        assert!(std::mem::size_of::<Value>() <= 24);
    }

    #[test]
    fn composite_keys_do_not_collide_by_concatenation() {
        let a = [Value::str("ab"), Value::str("c")];
        let b = [Value::str("a"), Value::str("bc")];
        assert_ne!(a, b);
        assert_ne!(hash_of(&a), hash_of(&b));
    }

    #[test]
    fn group_equality_treats_nulls_and_zero_signs_as_same() {
        assert_eq!(Value::Null, Value::Null);
        assert_eq!(Value::Float(0.0), Value::Float(-0.0));
        assert_eq!(
            hash_of(&[Value::Float(0.0)]),
            hash_of(&[Value::Float(-0.0)])
        );
        assert_ne!(Value::Int(1), Value::Float(1.0));
    }

    #[test]
    fn sql_cmp_compares_numbers_across_types_and_nulls_are_unknown() {
        assert_eq!(
            Value::Int(2).sql_cmp(&Value::Float(1.5)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            Value::Decimal(Decimal::new(150, 2)).sql_cmp(&Value::Int(1)),
            Some(Ordering::Greater)
        );
        assert_eq!(Value::Null.sql_cmp(&Value::Int(1)), None);
        assert_eq!(Value::str("a").sql_cmp(&Value::Int(1)), None);
        assert_eq!(
            Value::Timestamp(5).sql_cmp(&Value::Int(4)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            Value::Int(4).sql_cmp(&Value::Timestamp(5)),
            Some(Ordering::Less)
        );
    }

    #[test]
    fn timestamps_render_as_rfc3339_millis() {
        assert_eq!(format_timestamp_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_timestamp_millis(1_705_312_800_000),
            "2024-01-15T10:00:00.000Z"
        );
        assert_eq!(format_timestamp_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            format_timestamp_millis(951_782_400_123),
            "2000-02-29T00:00:00.123Z"
        );
    }
}
