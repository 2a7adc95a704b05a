//! Positions in the app text, for errors found after planning (binding a query
//! against its source's schema): 1-based lines and columns, as the parser
//! reports them.

/// A 1-based line and column (0 when unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Location {
    pub line: u64,
    pub column: u64,
}

/// The text between two locations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: Location,
    pub end: Location,
}
