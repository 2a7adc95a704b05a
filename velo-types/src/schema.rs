use std::sync::Arc;

use crate::data_type::DataType;
use crate::error::{Error, Result};

/// One named, typed column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    pub name: Arc<str>,
    pub data_type: DataType,
}

impl Field {
    pub fn new(name: &str, data_type: DataType) -> Field {
        Field {
            name: Arc::from(name),
            data_type,
        }
    }
}

/// The columns of a batch, in order. Shared as [`SchemaRef`]; looked up by name
/// only while a query is planned, never per record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Schema {
    fields: Vec<Field>,
    /// How many of the last fields are system columns that a reader appended on
    /// request (`_key`, `_partition`, `_offset`, `_timestamp`): selectable by
    /// name, but not part of `*`.
    system_tail: usize,
}

/// A schema shared by every batch of a stream.
pub type SchemaRef = Arc<Schema>;

impl Schema {
    pub fn new(fields: Vec<Field>) -> Schema {
        Schema {
            fields,
            system_tail: 0,
        }
    }

    /// This schema with its last `n` fields marked as appended system columns,
    /// which `*` leaves out.
    pub fn with_system_tail(mut self, n: usize) -> Schema {
        self.system_tail = n.min(self.fields.len());
        self
    }

    /// The number of leading fields that `SELECT *` expands to: all but the
    /// system columns a reader appended on request.
    pub fn wildcard_len(&self) -> usize {
        self.fields.len() - self.system_tail
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn field(&self, index: usize) -> &Field {
        &self.fields[index]
    }

    /// The index of a column by name: an exact match first, else the only
    /// case-insensitive match (SQL identifiers are case-insensitive unless quoted).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        if let Some(i) = self.fields.iter().position(|f| &*f.name == name) {
            return Some(i);
        }
        let mut found = None;
        for (i, f) in self.fields.iter().enumerate() {
            if f.name.eq_ignore_ascii_case(name) {
                if found.is_some() {
                    return None;
                }
                found = Some(i);
            }
        }
        found
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| &*f.name)
    }
}

/// Parses a schema declaration such as `'trader_id BIGINT, price DECIMAL(10,2), ts TIMESTAMP'`
/// (the `NAME.schema` property of SPEC §3).
pub fn parse_schema_decl(decl: &str) -> Result<Schema> {
    let mut fields = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    let mut pieces = Vec::new();
    for (i, c) in decl.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                pieces.push(&decl[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&decl[start..]);
    for piece in pieces {
        let piece = piece.trim();
        if piece.is_empty() {
            return Err(Error::SchemaDecl(format!(
                "empty column declaration in '{decl}'"
            )));
        }
        let (name, ty) = piece
            .split_once(char::is_whitespace)
            .ok_or_else(|| Error::SchemaDecl(format!("'{piece}' needs a name and a type")))?;
        let name = name.trim_matches('"').trim_matches('`');
        let data_type = DataType::parse_sql(ty)?;
        if fields
            .iter()
            .any(|f: &Field| f.name.eq_ignore_ascii_case(name))
        {
            return Err(Error::SchemaDecl(format!("column '{name}' declared twice")));
        }
        fields.push(Field::new(name, data_type));
    }
    Ok(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_declarations_with_decimal_commas() {
        let s = parse_schema_decl("id BIGINT, price DECIMAL(10, 2),  ts TIMESTAMP").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.field(1).data_type,
            DataType::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(s.index_of("TS"), Some(2));
        assert!(parse_schema_decl("id").is_err());
        assert!(parse_schema_decl("id BIGINT,").is_err());
        assert!(parse_schema_decl("id WIBBLE").is_err());
        assert!(parse_schema_decl("a INT, A INT").is_err());
    }

    #[test]
    fn lookup_prefers_exact_case_and_rejects_ambiguity() {
        let s = Schema::new(vec![
            Field::new("a", DataType::Int),
            Field::new("A", DataType::Int),
        ]);
        assert_eq!(s.index_of("A"), Some(1));
        let t = Schema::new(vec![
            Field::new("x", DataType::Int),
            Field::new("X", DataType::Int),
        ]);
        assert_eq!(t.index_of("x"), Some(0));
        assert_eq!(t.index_of("y"), None);
    }
}
