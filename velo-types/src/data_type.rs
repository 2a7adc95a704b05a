use std::fmt;

use crate::error::{Error, Result};

/// The SQL types of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    Boolean,
    /// BIGINT / INT / INTEGER: 64-bit signed.
    Int,
    /// DOUBLE / FLOAT: 64-bit IEEE.
    Float,
    /// DECIMAL(p, s): exact.
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// VARCHAR / STRING / TEXT.
    String,
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp,
    /// The type of the NULL literal, and of a column whose every value is NULL.
    Null,
}

impl DataType {
    /// Parses a SQL type name: `BIGINT`, `INT`, `INTEGER`, `DOUBLE`, `FLOAT`, `REAL`,
    /// `DECIMAL(p,s)`, `NUMERIC(p,s)`, `VARCHAR[(n)]`, `STRING`, `TEXT`, `BOOLEAN`,
    /// `BOOL`, `TIMESTAMP`. Case-insensitive.
    pub fn parse_sql(text: &str) -> Result<DataType> {
        let t = text.trim();
        let upper = t.to_ascii_uppercase();
        let (base, args) = match upper.find('(') {
            Some(open) if upper.ends_with(')') => (
                upper[..open].trim(),
                Some(&upper[open + 1..upper.len() - 1]),
            ),
            Some(_) => return Err(Error::UnknownType(t.to_string())),
            None => (upper.as_str(), None),
        };
        let ty = match base {
            "BOOLEAN" | "BOOL" => DataType::Boolean,
            "BIGINT" | "INT" | "INTEGER" | "SMALLINT" | "TINYINT" | "INT8" | "INT4" => {
                DataType::Int
            }
            "DOUBLE" | "FLOAT" | "REAL" | "DOUBLE PRECISION" | "FLOAT8" => DataType::Float,
            "VARCHAR" | "STRING" | "TEXT" | "CHAR" => DataType::String,
            "TIMESTAMP" => DataType::Timestamp,
            "DECIMAL" | "NUMERIC" => {
                let (precision, scale) = match args {
                    None => (38, 0),
                    Some(a) => {
                        let mut parts = a.split(',').map(|p| p.trim().parse::<u8>());
                        let p = parts.next().and_then(|r| r.ok());
                        let s = match parts.next() {
                            None => Some(0),
                            Some(r) => r.ok(),
                        };
                        match (p, s, parts.next()) {
                            (Some(p), Some(s), None) if (1..=38).contains(&p) && s <= p => (p, s),
                            _ => return Err(Error::UnknownType(t.to_string())),
                        }
                    }
                };
                return Ok(DataType::Decimal { precision, scale });
            }
            _ => return Err(Error::UnknownType(t.to_string())),
        };
        if args.is_some() && ty != DataType::String {
            return Err(Error::UnknownType(t.to_string()));
        }
        Ok(ty)
    }

    /// True for BIGINT, DOUBLE and DECIMAL.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            DataType::Int | DataType::Float | DataType::Decimal { .. }
        )
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Boolean => f.write_str("BOOLEAN"),
            DataType::Int => f.write_str("BIGINT"),
            DataType::Float => f.write_str("DOUBLE"),
            DataType::Decimal { precision, scale } => write!(f, "DECIMAL({precision},{scale})"),
            DataType::String => f.write_str("VARCHAR"),
            DataType::Timestamp => f.write_str("TIMESTAMP"),
            DataType::Null => f.write_str("NULL"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spec_type_name() {
        assert_eq!(DataType::parse_sql("bigint").unwrap(), DataType::Int);
        assert_eq!(DataType::parse_sql("INTEGER").unwrap(), DataType::Int);
        assert_eq!(DataType::parse_sql("Double").unwrap(), DataType::Float);
        assert_eq!(DataType::parse_sql("FLOAT").unwrap(), DataType::Float);
        assert_eq!(
            DataType::parse_sql("VARCHAR(20)").unwrap(),
            DataType::String
        );
        assert_eq!(DataType::parse_sql("text").unwrap(), DataType::String);
        assert_eq!(
            DataType::parse_sql("TIMESTAMP").unwrap(),
            DataType::Timestamp
        );
        assert_eq!(
            DataType::parse_sql("DECIMAL(10, 2)").unwrap(),
            DataType::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert!(DataType::parse_sql("DECIMAL(2,5)").is_err());
        assert_eq!(
            DataType::parse_sql("NUMERIC(38, 38)").unwrap(),
            DataType::Decimal {
                precision: 38,
                scale: 38
            }
        );
        assert!(DataType::parse_sql("DECIMAL(39, 2)").is_err());
        assert!(DataType::parse_sql("BLOB").is_err());
        assert!(DataType::parse_sql("BIGINT(3)").is_err());
    }
}
