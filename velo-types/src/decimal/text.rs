//! Decimal text: parsing (`-12.5`, `+1.5e2`, any number of digits) and the plain
//! rendering (`12.50`, never an exponent), both on the stack.

use std::fmt;
use std::str::FromStr;

use super::{Decimal, LIMIT, MAX_PRECISION, POW10};

/// The longest rendering: a sign, `0.` and 38 digits.
pub(super) const MAX_LEN: usize = 41;

/// Text that is not an exact decimal of at most 38 digits and scale 38.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a DECIMAL of at most 38 digits")]
pub struct ParseDecimalError(pub String);

/// A number's text split at its point and exponent.
struct Parts<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
    /// Saturated: far beyond any digit count that matters.
    exp: i64,
}

fn split(t: &[u8]) -> Option<Parts<'_>> {
    let (negative, t) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (num, exp_text) = match t.iter().position(|b| matches!(b, b'e' | b'E')) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = match num.iter().position(|&b| b == b'.') {
        Some(i) => (&num[..i], &num[i + 1..]),
        None => (num, &num[num.len()..]),
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) {
        return None;
    }
    let exp = match exp_text {
        None => 0,
        Some(e) => {
            let (neg, e) = match e.first() {
                Some(b'-') => (true, &e[1..]),
                Some(b'+') => (false, &e[1..]),
                _ => (false, e),
            };
            if e.is_empty() || !digits(e) {
                return None;
            }
            let v = e
                .iter()
                .fold(0i64, |v, d| (v * 10 + (d - b'0') as i64).min(1_000_000_000));
            if neg {
                -v
            } else {
                v
            }
        }
    };
    Some(Parts {
        negative,
        int,
        frac,
        exp,
    })
}

/// The magnitude at `scale`: (digits kept, the first digit dropped, whether any
/// later dropped digit is non-zero); `None` past 38 digits.
fn scaled(p: &Parts<'_>, scale: u8) -> Option<(u128, u8, bool)> {
    let n = (p.int.len() + p.frac.len()) as i64;
    // Digits (without the point) times 10^(exp - frac + scale); `keep` of them
    // lie left of the scaled point.
    let keep = n + p.exp - p.frac.len() as i64 + scale as i64;
    let mut m: u128 = 0;
    let mut first_dropped = 0u8;
    let mut sticky = false;
    for (i, &c) in p.int.iter().chain(p.frac).enumerate() {
        let d = c - b'0';
        let i = i as i64;
        if i < keep {
            m = m.checked_mul(10)?.checked_add(d as u128)?;
            if m >= LIMIT {
                return None;
            }
        } else if i == keep {
            first_dropped = d;
        } else if d != 0 {
            sticky = true;
        }
    }
    if keep > n && m != 0 {
        let zeros = keep - n;
        if zeros > MAX_PRECISION as i64 {
            return None;
        }
        m = m.checked_mul(POW10[zeros as usize])?;
        if m >= LIMIT {
            return None;
        }
    }
    Some((m, first_dropped, sticky))
}

impl Decimal {
    /// Decimal text (optional sign, digits with an optional point, an optional
    /// exponent) rounded half away from zero to `scale` digits; `None` when it is
    /// not a number or needs more than 38 digits at that scale.
    pub fn parse_rounded(text: &[u8], scale: u8) -> Option<Decimal> {
        if scale > MAX_PRECISION {
            return None;
        }
        let p = split(text)?;
        let (m, first_dropped, _) = scaled(&p, scale)?;
        let m = if first_dropped >= 5 { m + 1 } else { m };
        Decimal::from_magnitude(p.negative, m, scale)
    }

    /// Decimal text at its own scale (`1.50` has scale 2, `1.5e2` scale 0), exact:
    /// an error for more than 38 digits or more than 38 after the point.
    pub fn parse_exact(text: &str) -> Result<Decimal, ParseDecimalError> {
        let err = || ParseDecimalError(text.to_string());
        let p = split(text.trim().as_bytes()).ok_or_else(err)?;
        let own = (p.frac.len() as i64 - p.exp).max(0);
        let scale = own.min(MAX_PRECISION as i64) as u8;
        match scaled(&p, scale) {
            Some((m, 0, false)) => Decimal::from_magnitude(p.negative, m, scale).ok_or_else(err),
            _ => Err(err()),
        }
    }
}

impl FromStr for Decimal {
    type Err = ParseDecimalError;
    fn from_str(s: &str) -> Result<Decimal, ParseDecimalError> {
        Decimal::parse_exact(s)
    }
}

/// Writes the plain rendering into `buf` and returns it.
pub(super) fn encode(d: Decimal, buf: &mut [u8; MAX_LEN]) -> &str {
    const CHUNK: u128 = POW10[19];
    let (m, scale) = (d.mantissa(), d.scale() as usize);
    // The digits, last first; 128-bit division only above u64 (19 at a time).
    let mut digits = [0u8; 40];
    let mut n = 0;
    let mut a = m.unsigned_abs();
    while a > u64::MAX as u128 {
        let mut c = (a % CHUNK) as u64;
        a /= CHUNK;
        for _ in 0..19 {
            digits[n] = (c % 10) as u8;
            c /= 10;
            n += 1;
        }
    }
    let mut c = a as u64;
    while c > 0 {
        digits[n] = (c % 10) as u8;
        c /= 10;
        n += 1;
    }
    let mut len = 0;
    if m < 0 {
        buf[0] = b'-';
        len = 1;
    }
    // Index i counts from the right: the units digit is at `scale`.
    for i in (0..n.max(scale + 1)).rev() {
        buf[len] = b'0' + digits[i];
        len += 1;
        if i == scale && scale > 0 {
            buf[len] = b'.';
            len += 1;
        }
    }
    // Only ASCII was written.
    std::str::from_utf8(&buf[..len]).unwrap_or("")
}

impl fmt::Display for Decimal {
    /// `12.30`: every digit of the scale, no exponent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; MAX_LEN];
        f.pad(encode(*self, &mut buf))
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A stack buffer for `f64`'s text (up to ~330 characters, never an exponent).
pub(super) struct StackText {
    buf: [u8; 400],
    len: usize,
}

impl StackText {
    pub(super) fn new() -> StackText {
        StackText {
            buf: [0; 400],
            len: 0,
        }
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
