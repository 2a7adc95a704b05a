//! The evaluation of the scalar functions of SPEC §2 (their lookup by name and
//! static typing are the planner's, [`velo_planner::bind::ScalarFunction`]).

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Timelike, Utc};
use velo_types::{DataType, Decimal, Value};

use super::ops;
use super::PhysicalExpr;
use crate::error::{Error, Result};
use velo_planner::bind::{ExtractField, ScalarFunction, TrimMode};

/// Evaluates the function on a row.
pub(crate) fn eval(
    func: ScalarFunction,
    args: &[PhysicalExpr],
    row: &[Value],
    ty: DataType,
) -> Result<Value> {
    use ScalarFunction::*;
    let name = func.name();
    // Evaluates argument `i`, returning NULL from the function if it is NULL.
    macro_rules! arg {
        ($i:expr) => {{
            let v = args[$i].eval_ref(row)?;
            if v.is_null() {
                return Ok(Value::Null);
            }
            v
        }};
    }
    macro_rules! str_arg {
        ($i:expr) => {{
            match arg!($i) {
                Cow::Borrowed(Value::Str(s)) => Cow::Borrowed(&**s),
                Cow::Owned(Value::Str(s)) => Cow::Owned(s.to_string()),
                other => return Err(ops::type_error(name, &other)),
            }
        }};
    }
    macro_rules! int_arg {
        ($i:expr) => {{
            match *arg!($i) {
                Value::Int(i) => i,
                ref other => return Err(ops::type_error(name, other)),
            }
        }};
    }
    Ok(match func {
        Abs => match arg!(0).as_ref() {
            Value::Int(i) => Value::Int(i.checked_abs().ok_or(Error::Overflow { context: "ABS" })?),
            Value::Float(f) => Value::Float(f.abs()),
            Value::Decimal(d) => Value::Decimal(d.abs()),
            other => return Err(ops::type_error(name, other)),
        },
        Round => {
            let v = arg!(0);
            let digits = if args.len() > 1 { int_arg!(1) } else { 0 };
            round(&v, digits)?
        }
        Ceil | Floor => {
            let up = func == Ceil;
            match arg!(0).as_ref() {
                Value::Int(i) => Value::Int(*i),
                Value::Float(f) => Value::Float(if up { f.ceil() } else { f.floor() }),
                Value::Decimal(d) => Value::Decimal(if up { d.ceil() } else { d.floor() }),
                other => return Err(ops::type_error(name, other)),
            }
        }
        Sqrt => {
            let x = to_f64(arg!(0).as_ref(), name)?;
            if x < 0.0 {
                return Err(Error::invalid(
                    name,
                    format!("square root of negative number {x}"),
                ));
            }
            Value::Float(x.sqrt())
        }
        Power => {
            let x = to_f64(arg!(0).as_ref(), name)?;
            let y = to_f64(arg!(1).as_ref(), name)?;
            let r = x.powf(y);
            if r.is_nan() && !x.is_nan() && !y.is_nan() {
                return Err(Error::invalid(
                    name,
                    format!("{x} to the power {y} is not a real number"),
                ));
            }
            Value::Float(r)
        }
        Least | Greatest => {
            let mut best = arg!(0);
            for a in &args[1..] {
                let v = a.eval_ref(row)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let ord = ops::order(&v, &best, name)?;
                let better = if func == Least {
                    ord.is_lt()
                } else {
                    ord.is_gt()
                };
                if better {
                    best = v;
                }
            }
            ops::coerce(best.into_owned(), ty)
        }
        Upper => Value::Str(Arc::from(str_arg!(0).to_uppercase())),
        Lower => Value::Str(Arc::from(str_arg!(0).to_lowercase())),
        Substring => {
            let s = str_arg!(0);
            let start = int_arg!(1);
            let len = if args.len() > 2 {
                Some(int_arg!(2))
            } else {
                None
            };
            Value::str(substring(&s, start, len)?)
        }
        Replace => {
            let s = str_arg!(0);
            let from = str_arg!(1);
            let to = str_arg!(2);
            if from.is_empty() {
                Value::str(&s)
            } else {
                Value::Str(Arc::from(s.replace(&*from, &to)))
            }
        }
        Trim(mode) => {
            let s = str_arg!(0);
            let trimmed = if args.len() > 1 {
                let set = str_arg!(1);
                trim(&s, mode, |c| set.contains(c))
            } else {
                trim(&s, mode, |c| c == ' ')
            };
            Value::str(trimmed)
        }
        Length => Value::Int(str_arg!(0).chars().count() as i64),
        Concat => {
            let mut parts: Vec<Cow<'_, Value>> = Vec::with_capacity(args.len());
            for a in args {
                let v = a.eval_ref(row)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                parts.push(v);
            }
            let refs: Vec<&Value> = parts.iter().map(|c| c.as_ref()).collect();
            ops::concat(&refs)
        }
        SplitPart => {
            let s = str_arg!(0);
            let delim = str_arg!(1);
            let n = int_arg!(2);
            Value::str(split_part(&s, &delim, n)?)
        }
        // A pattern that is not a literal: compiled for this row.
        RegexpExtract => {
            let s = str_arg!(0);
            let pattern = str_arg!(1);
            let group = if args.len() > 2 { int_arg!(2) } else { 0 };
            let regex = regex::Regex::new(&pattern).map_err(|e| {
                Error::Type(format!(
                    "REGEXP_EXTRACT: invalid regular expression: {}",
                    e.to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .trim_start_matches("error: ")
                ))
            })?;
            regexp_extract(&regex, &s, group)
        }
        Coalesce => {
            for a in args {
                let v = a.eval(row)?;
                if !v.is_null() {
                    return Ok(ops::coerce(v, ty));
                }
            }
            Value::Null
        }
        NullIf => {
            let a = arg!(0);
            let b = args[1].eval_ref(row)?;
            if !b.is_null() && a.sql_cmp(&b) == Some(std::cmp::Ordering::Equal) {
                Value::Null
            } else {
                a.into_owned()
            }
        }
        DateFormat => match *arg!(0) {
            Value::Timestamp(ms) => {
                let pattern = str_arg!(1);
                Value::Str(Arc::from(date_format(ms, &pattern)?))
            }
            ref other => return Err(ops::type_error(name, other)),
        },
        Extract(field) => match *arg!(0) {
            Value::Timestamp(ms) => Value::Int(extract(field, ms)?),
            ref other => return Err(ops::type_error(name, other)),
        },
        FromUnixtime => {
            let millis = match arg!(0).as_ref() {
                Value::Int(s) => s.checked_mul(1000),
                Value::Float(f) => f64_millis(*f * 1000.0),
                Value::Decimal(d) => d
                    .checked_mul(Decimal::from(1000))
                    .and_then(|m| m.round_dp(0))
                    .and_then(|m| m.to_i64()),
                other => return Err(ops::type_error(name, other)),
            };
            Value::Timestamp(millis.ok_or(Error::Overflow {
                context: "FROM_UNIXTIME",
            })?)
        }
        UnixTimestamp => {
            if args.is_empty() {
                return Ok(Value::Int(now_millis().div_euclid(1000)));
            }
            let millis = match arg!(0).as_ref() {
                Value::Timestamp(t) => *t,
                Value::Str(s) => velo_types::cast::parse_timestamp(s)
                    .ok_or_else(|| Error::cast(&Value::Str(s.clone()), DataType::Timestamp))?,
                other => return Err(ops::type_error(name, other)),
            };
            Value::Int(millis.div_euclid(1000))
        }
        Now => Value::Timestamp(now_millis()),
        TumbleStart | TumbleEnd => {
            let ts = match *arg!(0) {
                Value::Timestamp(t) | Value::Int(t) => t,
                ref other => return Err(ops::type_error(name, other)),
            };
            let size = int_arg!(1);
            if size <= 0 {
                return Err(Error::invalid(
                    name,
                    format!("window size must be positive, got {size} ms"),
                ));
            }
            let start = ts - ts.rem_euclid(size);
            if func == TumbleStart {
                Value::Timestamp(start)
            } else {
                Value::Timestamp(
                    start
                        .checked_add(size)
                        .ok_or(Error::Overflow { context: name })?,
                )
            }
        }
    })
}

fn to_f64(v: &Value, name: &'static str) -> Result<f64> {
    match v {
        Value::Int(_) | Value::Float(_) | Value::Decimal(_) => Ok(v.as_f64().unwrap_or(f64::NAN)),
        other => Err(ops::type_error(name, other)),
    }
}

fn f64_millis(f: f64) -> Option<i64> {
    let r = f.round();
    (r.is_finite() && r.abs() < 9.2e18).then_some(r as i64)
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

fn round(v: &Value, digits: i64) -> Result<Value> {
    Ok(match v {
        Value::Int(i) => {
            if digits >= 0 {
                Value::Int(*i)
            } else if digits < -18 {
                Value::Int(0)
            } else {
                let p = 10i64.pow((-digits) as u32);
                let half = p / 2;
                let q = (i.unsigned_abs() + half as u64) / p as u64 * p as u64;
                let q = i64::try_from(q).map_err(|_| Error::Overflow { context: "ROUND" })?;
                Value::Int(if *i < 0 { -q } else { q })
            }
        }
        Value::Float(f) => {
            let d = digits.clamp(-400, 400) as i32;
            let m = 10f64.powi(d);
            let scaled = f * m;
            if !m.is_finite() || m == 0.0 || !scaled.is_finite() {
                if d > 0 {
                    Value::Float(*f)
                } else {
                    Value::Float(0.0)
                }
            } else {
                Value::Float(scaled.round() / m)
            }
        }
        Value::Decimal(d) => Value::Decimal(
            d.round_dp(digits)
                .ok_or(Error::Overflow { context: "ROUND" })?,
        ),
        other => return Err(ops::type_error("ROUND", other)),
    })
}

fn substring(s: &str, start: i64, len: Option<i64>) -> Result<&str> {
    let end = match len {
        Some(l) if l < 0 => {
            return Err(Error::invalid("SUBSTRING", format!("negative length {l}")))
        }
        Some(l) => start.saturating_add(l),
        None => i64::MAX,
    };
    let first = start.max(1);
    if end <= first {
        return Ok("");
    }
    let (skip, take) = ((first - 1) as usize, (end - first) as u64);
    if s.is_ascii() {
        let from = skip.min(s.len());
        let to = (from as u64).saturating_add(take).min(s.len() as u64) as usize;
        return Ok(&s[from..to]);
    }
    let byte_at = |n: usize| s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
    let from = byte_at(skip);
    let rest = &s[from..];
    let to = usize::try_from(take)
        .ok()
        .and_then(|t| rest.char_indices().nth(t).map(|(i, _)| i))
        .unwrap_or(rest.len());
    Ok(&rest[..to])
}

fn trim(s: &str, mode: TrimMode, pred: impl Fn(char) -> bool) -> &str {
    match mode {
        TrimMode::Both => s.trim_matches(pred),
        TrimMode::Leading => s.trim_start_matches(pred),
        TrimMode::Trailing => s.trim_end_matches(pred),
    }
}

/// Group `group` of the first match of `regex` in `s`; NULL when nothing
/// matches, the group took no part, or there is no such group.
pub(crate) fn regexp_extract(regex: &regex::Regex, s: &str, group: i64) -> Value {
    let Ok(group) = usize::try_from(group) else {
        return Value::Null;
    };
    match regex.captures(s).and_then(|c| c.get(group)) {
        Some(m) => Value::str(m.as_str()),
        None => Value::Null,
    }
}

fn split_part<'a>(s: &'a str, delim: &str, n: i64) -> Result<&'a str> {
    if n == 0 {
        return Err(Error::invalid(
            "SPLIT_PART",
            "field position must not be zero",
        ));
    }
    if delim.is_empty() {
        return Ok(if n == 1 || n == -1 { s } else { "" });
    }
    let idx = (n.unsigned_abs() - 1) as usize;
    let part = if n > 0 {
        s.split(delim).nth(idx)
    } else {
        s.rsplit(delim).nth(idx)
    };
    Ok(part.unwrap_or(""))
}

fn extract(field: ExtractField, ms: i64) -> Result<i64> {
    let dt: DateTime<Utc> = DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| Error::invalid("EXTRACT", format!("timestamp {ms} out of range")))?;
    Ok(match field {
        ExtractField::Year => dt.year() as i64,
        ExtractField::Quarter => (dt.month0() / 3 + 1) as i64,
        ExtractField::Month => dt.month() as i64,
        ExtractField::Week => dt.iso_week().week() as i64,
        ExtractField::Day => dt.day() as i64,
        ExtractField::Hour => dt.hour() as i64,
        ExtractField::Minute => dt.minute() as i64,
        ExtractField::Second => dt.second() as i64,
        ExtractField::Millisecond => ms.rem_euclid(1000),
        ExtractField::Epoch => ms.div_euclid(1000),
        ExtractField::Dow => dt.weekday().num_days_from_sunday() as i64 + 1,
        ExtractField::IsoDow => dt.weekday().number_from_monday() as i64,
        ExtractField::Doy => dt.ordinal() as i64,
    })
}

/// `DATE_FORMAT`: `ms` rendered with the pattern letters that
/// [`velo_planner::bind::check_date_format`] accepts. A literal pattern was
/// checked at plan time; one that is not fails here, on its first bad part,
/// with the planner's message.
fn date_format(ms: i64, pattern: &str) -> Result<String> {
    use std::fmt::Write;
    let bad = || {
        let message = velo_planner::bind::check_date_format(pattern)
            .err()
            .unwrap_or_else(|| format!("cannot render the pattern '{pattern}'"));
        Error::invalid("DATE_FORMAT", message)
    };
    let t = DateTime::<Utc>::from_timestamp_millis(ms)
        .ok_or_else(|| Error::invalid("DATE_FORMAT", format!("timestamp {ms} is out of range")))?;
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            let mut closed = false;
            while let Some(q) = chars.next() {
                match q {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        out.push('\'');
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    q => out.push(q),
                }
            }
            if !closed {
                return Err(bad());
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            continue;
        }
        let mut n = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            n += 1;
        }
        let value = match (c, n) {
            ('y', 2) => i64::from(t.year()).rem_euclid(100),
            ('y', 1..=4) => i64::from(t.year()),
            ('M', 1..=2) => i64::from(t.month()),
            ('d', 1..=2) => i64::from(t.day()),
            ('H', 1..=2) => i64::from(t.hour()),
            ('m', 1..=2) => i64::from(t.minute()),
            ('s', 1..=2) => i64::from(t.second()),
            ('S', 1..=3) => i64::from(t.timestamp_subsec_millis()),
            _ => return Err(bad()),
        };
        let _ = write!(out, "{value:0n$}");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_follows_postgres() {
        assert_eq!(substring("hello", 2, Some(3)).unwrap(), "ell");
        assert_eq!(substring("hello", 0, Some(3)).unwrap(), "he");
        assert_eq!(substring("hello", -5, Some(3)).unwrap(), "");
        assert_eq!(substring("hello", 3, None).unwrap(), "llo");
        assert_eq!(substring("hello", 9, None).unwrap(), "");
        assert_eq!(substring("héllo", 2, Some(2)).unwrap(), "él");
        assert_eq!(substring("héllo", 4, Some(99)).unwrap(), "lo");
        assert_eq!(substring("hello", 1, Some(i64::MAX)).unwrap(), "hello");
        assert!(substring("hello", 1, Some(-1)).is_err());
    }

    #[test]
    fn regexp_extract_takes_a_group_of_the_first_match() {
        let re = regex::Regex::new("(&|^)channel_id=([^&]*)").unwrap();
        let url = "https://www.nexmark.com/x/y/item.htm?query=1&channel_id=1203";
        assert_eq!(regexp_extract(&re, url, 2), Value::str("1203"));
        assert_eq!(regexp_extract(&re, url, 0), Value::str("&channel_id=1203"));
        assert_eq!(regexp_extract(&re, "channel_id=7", 2), Value::str("7"));
        assert_eq!(regexp_extract(&re, "no id here", 2), Value::Null);
        assert_eq!(regexp_extract(&re, url, 3), Value::Null);
        assert_eq!(regexp_extract(&re, url, -1), Value::Null);
        let optional = regex::Regex::new("a(b)?").unwrap();
        assert_eq!(regexp_extract(&optional, "a", 1), Value::Null);
    }

    #[test]
    fn split_part_counts_fields() {
        assert_eq!(split_part("a,b,c", ",", 2).unwrap(), "b");
        assert_eq!(split_part("a,b,c", ",", 4).unwrap(), "");
        assert_eq!(split_part("a,b,c", ",", -1).unwrap(), "c");
        assert_eq!(split_part("a::b", "::", 2).unwrap(), "b");
        assert!(split_part("a", ",", 0).is_err());
    }

    #[test]
    fn rounding() {
        assert_eq!(round(&Value::Float(2.5), 0).unwrap(), Value::Float(3.0));
        assert_eq!(round(&Value::Float(-2.5), 0).unwrap(), Value::Float(-3.0));
        assert_eq!(round(&Value::Float(1.2345), 2).unwrap(), Value::Float(1.23));
        assert_eq!(round(&Value::Int(1250), -2).unwrap(), Value::Int(1300));
        assert_eq!(round(&Value::Int(-1249), -2).unwrap(), Value::Int(-1200));
        assert_eq!(
            round(&Value::Decimal(Decimal::new(12345, 3)), 2).unwrap(),
            Value::Decimal(Decimal::new(1235, 2))
        );
        assert_eq!(
            round(&Value::Decimal(Decimal::new(1250, 0)), -2).unwrap(),
            Value::Decimal(Decimal::new(1300, 0))
        );
    }
}
