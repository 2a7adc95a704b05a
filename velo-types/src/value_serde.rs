//! `serde` for [`Value`] and [`Decimal`], for state checkpoints: a value is
//! an enum of its variants in declaration order (a decimal as its mantissa and
//! scale), so any self-describing or compact serde format round-trips it
//! exactly. A string is written without a copy and read back with one.

use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Decimal, Value};

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.mantissa(), self.scale()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let (mantissa, scale) = <(i128, u8)>::deserialize(d)?;
        Decimal::try_new(mantissa, scale)
            .ok_or_else(|| D::Error::custom(format!("decimal {mantissa}e-{scale} out of range")))
    }
}

/// The serialized form of a [`Value`], borrowing its string.
#[derive(Serialize)]
enum ValueRef<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Decimal(Decimal),
    Str(&'a str),
    Timestamp(i64),
}

/// The deserialized form of a [`Value`].
#[derive(Deserialize)]
#[serde(rename = "ValueRef")]
enum ValueOwned {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Decimal(Decimal),
    Str(String),
    Timestamp(i64),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Decimal(d) => ValueRef::Decimal(*d),
            Value::Str(t) => ValueRef::Str(t),
            Value::Timestamp(t) => ValueRef::Timestamp(*t),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        Ok(match ValueOwned::deserialize(d)? {
            ValueOwned::Null => Value::Null,
            ValueOwned::Bool(b) => Value::Bool(b),
            ValueOwned::Int(i) => Value::Int(i),
            ValueOwned::Float(f) => Value::Float(f),
            ValueOwned::Decimal(d) => Value::Decimal(d),
            ValueOwned::Str(t) => Value::Str(Arc::from(t)),
            ValueOwned::Timestamp(t) => Value::Timestamp(t),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_json() {
        let values = vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-7),
            Value::Float(0.1),
            Value::Decimal(Decimal::new(-12345, 2)),
            Value::str("a \"b\""),
            Value::Timestamp(1_705_312_800_000),
        ];
        let text = serde_json::to_string(&values).unwrap();
        let back: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.len(), values.len());
        for (a, b) in values.iter().zip(&back) {
            // Same variant and same value (Decimal equality is numeric).
            assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b));
            assert_eq!(a, b, "{text}");
        }
        let err = serde_json::from_str::<Value>(r#"{"Decimal":[1,40]}"#).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }
}
