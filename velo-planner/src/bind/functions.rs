//! The scalar functions of SPEC §2: lookup by name, arity and static typing.
//! Their evaluation is the engine's.

use velo_types::DataType;

use super::types::{common_type, comparable};

/// Which side(s) TRIM removes characters from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrimMode {
    Both,
    Leading,
    Trailing,
}

/// A field of `EXTRACT(field FROM ts)`; every field is a BIGINT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtractField {
    Year,
    Quarter,
    Month,
    /// ISO 8601 week of the year (1-53).
    Week,
    Day,
    Hour,
    Minute,
    /// 0-59, without the fraction.
    Second,
    /// The milliseconds within the second (0-999).
    Millisecond,
    /// Seconds since the Unix epoch.
    Epoch,
    /// Day of the week as in Flink (Calcite): 1 = Sunday ... 7 = Saturday.
    Dow,
    /// ISO day of the week: 1 = Monday ... 7 = Sunday.
    IsoDow,
    /// Day of the year, 1-366.
    Doy,
}

/// A scalar function. MOD compiles to the `%` operator and CAST, CASE, IN, BETWEEN,
/// LIKE and IS NULL to their own [`BoundExpr`](super::BoundExpr) variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarFunction {
    Abs,
    /// `ROUND(x [, digits])`: half away from zero; negative digits round left of
    /// the point. Keeps the argument's type.
    Round,
    Ceil,
    Floor,
    /// DOUBLE; a negative argument is an error.
    Sqrt,
    /// `POWER(x, y)` / `POW`: DOUBLE.
    Power,
    /// NULL if any argument is NULL (as in Flink).
    Least,
    Greatest,
    Upper,
    Lower,
    /// `SUBSTRING(s, start [, len])`, 1-based on characters (PostgreSQL semantics:
    /// a start before 1 shortens the result, a negative length is an error).
    Substring,
    Replace,
    Trim(TrimMode),
    /// LENGTH / CHAR_LENGTH / CHARACTER_LENGTH: characters, not bytes.
    Length,
    /// `CONCAT(a, b, ...)`: NULL if any argument is NULL (as `||`, and Flink).
    Concat,
    /// `SPLIT_PART(s, delimiter, n)`: the n-th field (1-based; negative counts from
    /// the end); '' if there is no such field; n = 0 is an error.
    SplitPart,
    /// `REGEXP_EXTRACT(s, pattern [, index])`: group `index` (default 0, the
    /// whole match) of the first match of the regular expression (the `regex`
    /// crate's syntax: Java's for the common cases, without look-around or
    /// backreferences); NULL when nothing matches, the group took no part, or
    /// there is no such group (Flink's semantics).
    RegexpExtract,
    Coalesce,
    NullIf,
    Extract(ExtractField),
    /// `FROM_UNIXTIME(seconds)`: TIMESTAMP.
    FromUnixtime,
    /// `UNIX_TIMESTAMP([ts])`: BIGINT seconds; without an argument, now.
    UnixTimestamp,
    /// `NOW()` / `CURRENT_TIMESTAMP`: the wall clock at evaluation (non-deterministic).
    Now,
    /// `TUMBLE_START(ts, INTERVAL ...)`: start of the tumbling window holding `ts`.
    TumbleStart,
    /// `TUMBLE_END(ts, INTERVAL ...)`: exclusive end of that window.
    TumbleEnd,
    /// `DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm')`: the time as text, in Flink's
    /// (Java's) pattern letters `y M d H m s S`, each run of one letter a
    /// field (see [`check_date_format`]).
    DateFormat,
}

/// Whether `pattern` is a DATE_FORMAT pattern Velo can render: runs of the
/// letters `y` (year; `yy` its last two digits), `M` (month), `d` (day), `H`
/// (hour, 0-23), `m` (minute), `s` (second) and `S` (milliseconds), each at
/// most 4 long (`S` at most 3); text in single quotes (`''` is a quote); and
/// any character that is not a letter, as itself.
pub fn check_date_format(pattern: &str) -> std::result::Result<(), String> {
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            loop {
                match chars.next() {
                    None => return Err("an unterminated quote in the DATE_FORMAT pattern".into()),
                    Some('\'') => break,
                    Some(_) => {}
                }
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            continue;
        }
        let mut n = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            n += 1;
        }
        let max = match c {
            'y' | 'M' | 'd' | 'H' | 'm' | 's' => 4,
            'S' => 3,
            _ => {
                return Err(format!(
                    "DATE_FORMAT supports the pattern letters y, M, d, H, m, s and S, not '{c}' (quote text as 'text')"
                ))
            }
        };
        if n > max || (c != 'y' && c != 'S' && n > 2) {
            return Err(format!(
                "DATE_FORMAT: '{}' is not supported (names of months and days are not)",
                c.to_string().repeat(n)
            ));
        }
    }
    Ok(())
}

impl ScalarFunction {
    /// Looks a function up by (case-insensitive) name. MOD, CAST and friends are not
    /// here (they are operators).
    pub fn from_name(name: &str) -> Option<ScalarFunction> {
        use ScalarFunction::*;
        Some(match name.to_ascii_uppercase().as_str() {
            "ABS" => Abs,
            "ROUND" => Round,
            "CEIL" | "CEILING" => Ceil,
            "FLOOR" => Floor,
            "SQRT" => Sqrt,
            "POWER" | "POW" => Power,
            "LEAST" => Least,
            "GREATEST" => Greatest,
            "UPPER" | "UCASE" => Upper,
            "LOWER" | "LCASE" => Lower,
            "SUBSTRING" | "SUBSTR" => Substring,
            "REPLACE" => Replace,
            "TRIM" | "BTRIM" => Trim(TrimMode::Both),
            "LTRIM" => Trim(TrimMode::Leading),
            "RTRIM" => Trim(TrimMode::Trailing),
            "LENGTH" | "CHAR_LENGTH" | "CHARACTER_LENGTH" | "LEN" => Length,
            "CONCAT" => Concat,
            "SPLIT_PART" => SplitPart,
            "REGEXP_EXTRACT" => RegexpExtract,
            "COALESCE" | "IFNULL" => Coalesce,
            "NULLIF" => NullIf,
            "FROM_UNIXTIME" => FromUnixtime,
            "UNIX_TIMESTAMP" => UnixTimestamp,
            "NOW" | "CURRENT_TIMESTAMP" | "LOCALTIMESTAMP" => Now,
            "TUMBLE_START" => TumbleStart,
            "TUMBLE_END" => TumbleEnd,
            "DATE_FORMAT" => DateFormat,
            // Flink's shorthands for EXTRACT.
            "YEAR" => Extract(ExtractField::Year),
            "QUARTER" => Extract(ExtractField::Quarter),
            "MONTH" => Extract(ExtractField::Month),
            "WEEK" => Extract(ExtractField::Week),
            "DAYOFMONTH" => Extract(ExtractField::Day),
            "HOUR" => Extract(ExtractField::Hour),
            "MINUTE" => Extract(ExtractField::Minute),
            "SECOND" => Extract(ExtractField::Second),
            "DAYOFYEAR" => Extract(ExtractField::Doy),
            "DAYOFWEEK" => Extract(ExtractField::Dow),
            _ => return None,
        })
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        use ScalarFunction::*;
        match self {
            Abs => "ABS",
            Round => "ROUND",
            Ceil => "CEIL",
            Floor => "FLOOR",
            Sqrt => "SQRT",
            Power => "POWER",
            Least => "LEAST",
            Greatest => "GREATEST",
            Upper => "UPPER",
            Lower => "LOWER",
            Substring => "SUBSTRING",
            Replace => "REPLACE",
            Trim(_) => "TRIM",
            Length => "LENGTH",
            Concat => "CONCAT",
            SplitPart => "SPLIT_PART",
            RegexpExtract => "REGEXP_EXTRACT",
            Coalesce => "COALESCE",
            NullIf => "NULLIF",
            Extract(_) => "EXTRACT",
            FromUnixtime => "FROM_UNIXTIME",
            UnixTimestamp => "UNIX_TIMESTAMP",
            Now => "NOW",
            TumbleStart => "TUMBLE_START",
            TumbleEnd => "TUMBLE_END",
            DateFormat => "DATE_FORMAT",
        }
    }

    /// Minimum and maximum argument counts (`None` = unbounded).
    pub fn arity(self) -> (usize, Option<usize>) {
        use ScalarFunction::*;
        match self {
            Abs | Ceil | Floor | Sqrt | Upper | Lower | Length | Extract(_) | FromUnixtime => {
                (1, Some(1))
            }
            Round | Trim(_) => (1, Some(2)),
            Substring | RegexpExtract => (2, Some(3)),
            Power | NullIf | TumbleStart | TumbleEnd | DateFormat => (2, Some(2)),
            Replace | SplitPart => (3, Some(3)),
            Least | Greatest | Coalesce | Concat => (1, None),
            UnixTimestamp => (0, Some(1)),
            Now => (0, Some(0)),
        }
    }

    /// Whether the result depends on the wall clock.
    pub fn is_volatile(self, arg_count: usize) -> bool {
        matches!(self, ScalarFunction::Now)
            || (self == ScalarFunction::UnixTimestamp && arg_count == 0)
    }

    /// Checks the argument types and gives the result type.
    pub fn return_type(self, args: &[DataType]) -> std::result::Result<DataType, String> {
        use DataType as T;
        use ScalarFunction::*;
        let name = self.name();
        let expect = |i: usize, ok: fn(T) -> bool, what: &str| -> std::result::Result<(), String> {
            let t = args[i];
            if t == T::Null || ok(t) {
                Ok(())
            } else {
                Err(format!(
                    "{name} expects {what} as argument {}, got {t}",
                    i + 1
                ))
            }
        };
        let numeric = |t: T| t.is_numeric();
        let string = |t: T| t == T::String;
        let int = |t: T| t == T::Int;
        let ts = |t: T| t == T::Timestamp;
        Ok(match self {
            Abs | Round | Ceil | Floor => {
                expect(0, numeric, "a number")?;
                if args.len() > 1 {
                    expect(1, int, "an integer")?;
                }
                match (self, args[0]) {
                    (Ceil | Floor, T::Decimal { precision, .. }) => T::Decimal {
                        precision,
                        scale: 0,
                    },
                    (_, t) => t,
                }
            }
            Sqrt | Power => {
                for i in 0..args.len() {
                    expect(i, numeric, "a number")?;
                }
                T::Float
            }
            Least | Greatest | Coalesce => {
                let mut t = T::Null;
                for (i, a) in args.iter().enumerate() {
                    t = common_type(t, *a).ok_or_else(|| {
                        format!(
                            "{name} arguments have incompatible types {t} and {a} (argument {})",
                            i + 1
                        )
                    })?;
                }
                t
            }
            Upper | Lower | Length => {
                expect(0, string, "a string")?;
                if self == Length {
                    T::Int
                } else {
                    T::String
                }
            }
            Substring => {
                expect(0, string, "a string")?;
                for i in 1..args.len() {
                    expect(i, int, "an integer")?;
                }
                T::String
            }
            Replace | Trim(_) => {
                for i in 0..args.len() {
                    expect(i, string, "a string")?;
                }
                T::String
            }
            SplitPart => {
                expect(0, string, "a string")?;
                expect(1, string, "a string")?;
                expect(2, int, "an integer")?;
                T::String
            }
            RegexpExtract => {
                expect(0, string, "a string")?;
                expect(1, string, "a pattern string")?;
                if args.len() > 2 {
                    expect(2, int, "an integer group index")?;
                }
                T::String
            }
            Concat => T::String,
            NullIf => {
                if !comparable(args[0], args[1]) {
                    return Err(format!(
                        "NULLIF cannot compare {} with {}",
                        args[0], args[1]
                    ));
                }
                args[0]
            }
            Extract(_) => {
                expect(0, ts, "a TIMESTAMP")?;
                T::Int
            }
            FromUnixtime => {
                expect(0, numeric, "a number of seconds")?;
                T::Timestamp
            }
            UnixTimestamp => {
                if !args.is_empty() {
                    expect(0, |t| t == T::Timestamp || t == T::String, "a TIMESTAMP")?;
                }
                T::Int
            }
            Now => T::Timestamp,
            TumbleStart | TumbleEnd => {
                expect(0, ts, "a TIMESTAMP")?;
                expect(1, int, "an INTERVAL")?;
                T::Timestamp
            }
            DateFormat => {
                expect(0, ts, "a TIMESTAMP")?;
                expect(1, string, "a pattern string")?;
                T::String
            }
        })
    }
}
