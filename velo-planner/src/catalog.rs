//! The names of the functions Velo knows, and what kind each is. The engine
//! implements each of them; a test there checks the two lists agree.

/// What a function name denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// Row-by-row: ABS, UPPER, CAST-like functions...
    Scalar,
    /// Folds a group's rows into one value: COUNT, SUM, ...; also usable with OVER.
    Aggregate,
    /// Only meaningful with OVER: LAG, LEAD, ROW_NUMBER, RANK, DENSE_RANK.
    Window,
}

/// Aggregate functions (SPEC §2).
pub const AGGREGATES: &[&str] = &[
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "STDDEV",
    "STDDEV_SAMP",
    "STDDEV_POP",
    "VARIANCE",
    "VAR_SAMP",
    "VAR_POP",
    "FIRST_VALUE",
    "LAST_VALUE",
];

/// Functions that need OVER.
pub const WINDOW_ONLY: &[&str] = &["LAG", "LEAD", "ROW_NUMBER", "RANK", "DENSE_RANK"];

/// Scalar functions called by name (CAST, EXTRACT, SUBSTRING, TRIM, CASE ... have
/// their own syntax and are not listed).
pub const SCALARS: &[&str] = &[
    "ABS",
    "ROUND",
    "CEIL",
    "CEILING",
    "FLOOR",
    "SQRT",
    "POWER",
    "POW",
    "MOD",
    "LEAST",
    "GREATEST",
    "UPPER",
    "LOWER",
    "SUBSTRING",
    "REPLACE",
    "TRIM",
    "LENGTH",
    "CHAR_LENGTH",
    "CONCAT",
    "SPLIT_PART",
    "REGEXP_EXTRACT",
    "COALESCE",
    "NULLIF",
    "FROM_UNIXTIME",
    "UNIX_TIMESTAMP",
    "NOW",
    "CURRENT_TIMESTAMP",
    "TUMBLE_START",
    "TUMBLE_END",
    "DATE_FORMAT",
    "YEAR",
    "QUARTER",
    "MONTH",
    "WEEK",
    "DAYOFMONTH",
    "HOUR",
    "MINUTE",
    "SECOND",
    "DAYOFYEAR",
    "DAYOFWEEK",
];

/// The kind of a function, by case-insensitive name; `None` if unknown.
pub fn function_kind(name: &str) -> Option<FunctionKind> {
    let upper = name.to_ascii_uppercase();
    let name = upper.as_str();
    if AGGREGATES.contains(&name) {
        Some(FunctionKind::Aggregate)
    } else if WINDOW_ONLY.contains(&name) {
        Some(FunctionKind::Window)
    } else if SCALARS.contains(&name) {
        Some(FunctionKind::Scalar)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_case_insensitive_and_disjoint() {
        assert_eq!(function_kind("count"), Some(FunctionKind::Aggregate));
        assert_eq!(function_kind("Lag"), Some(FunctionKind::Window));
        assert_eq!(function_kind("upper"), Some(FunctionKind::Scalar));
        assert_eq!(function_kind("nope"), None);
        for a in AGGREGATES {
            assert!(!SCALARS.contains(a) && !WINDOW_ONLY.contains(a));
        }
    }
}
