//! Exact DECIMAL(p, s) values for p up to 38 (SPEC §2): an `i128` mantissa and a
//! scale, the representation of Arrow's `Decimal128`, with 256-bit intermediates
//! (from the `ethnum` crate) where a product or a quotient needs them.
//!
//! Every operation is exact or fails: a result whose magnitude needs more than 38
//! digits, or a product whose fraction does not fit scale 38, is `None` (the
//! engine turns that into an overflow error for the record), never a rounded
//! value. The one rounding step is where SQL asks for it: a quotient (and AVG) at
//! its result scale, an input or CAST to a declared scale, and `ROUND`, all half
//! away from zero. The result-scale rules are [`Decimal::sum_scale`],
//! [`Decimal::product_scale`], [`Decimal::quotient_scale`] and
//! [`Decimal::avg_scale`]; docs/DECISIONS.md explains them.
//!
//! The struct is packed (17 bytes, alignment 1) so that [`crate::Value`] stays 24
//! bytes: an aligned `i128` would make it 32. Nothing here allocates.

#[cfg(test)]
mod tests;
mod text;

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::ops::Neg;

use ethnum::U256;

pub use text::ParseDecimalError;

/// The largest precision (and scale) of a DECIMAL.
pub const MAX_PRECISION: u8 = 38;

/// Magnitudes stay strictly below 10^38.
const LIMIT: u128 = pow10(38);

const fn pow10(n: u32) -> u128 {
    let mut p = 1u128;
    let mut i = 0;
    while i < n {
        p *= 10;
        i += 1;
    }
    p
}

/// 10^0 ..= 10^38.
const POW10: [u128; 39] = {
    let mut t = [0u128; 39];
    let mut i = 0;
    while i < 39 {
        t[i] = pow10(i as u32);
        i += 1;
    }
    t
};

/// 10^n as a 256-bit integer, for n up to 76.
fn pow10_wide(n: u32) -> U256 {
    if n <= 38 {
        U256::new(POW10[n as usize])
    } else {
        U256::new(POW10[38]) * U256::new(POW10[(n - 38) as usize])
    }
}

/// An exact decimal: `mantissa * 10^-scale`, `|mantissa| < 10^38`, `scale <= 38`.
///
/// Equality, ordering and hashing are by numeric value (`1.0 == 1.00`).
#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct Decimal {
    mantissa: i128,
    scale: u8,
}

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// `mantissa * 10^-scale`, or `None` when the mantissa has more than 38
    /// digits or the scale is above 38.
    pub const fn try_new(mantissa: i128, scale: u8) -> Option<Decimal> {
        if mantissa.unsigned_abs() < LIMIT && scale <= MAX_PRECISION {
            Some(Decimal { mantissa, scale })
        } else {
            None
        }
    }

    /// `mantissa * 10^-scale` for constants and tests.
    ///
    /// # Panics
    /// When the mantissa has more than 38 digits or the scale is above 38.
    pub const fn new(mantissa: i128, scale: u8) -> Decimal {
        match Decimal::try_new(mantissa, scale) {
            Some(d) => d,
            None => panic!("decimal out of range"),
        }
    }

    /// An integer as a decimal of scale 0 (`None` beyond 38 digits).
    pub const fn from_i128(i: i128) -> Option<Decimal> {
        Decimal::try_new(i, 0)
    }

    fn from_magnitude(negative: bool, magnitude: u128, scale: u8) -> Option<Decimal> {
        if magnitude >= LIMIT {
            return None;
        }
        let m = magnitude as i128;
        Some(Decimal {
            mantissa: if negative { -m } else { m },
            scale,
        })
    }

    fn from_wide(negative: bool, magnitude: U256, scale: u8) -> Option<Decimal> {
        let (hi, lo) = magnitude.into_words();
        if hi != 0 {
            return None;
        }
        Decimal::from_magnitude(negative, lo, scale)
    }

    pub const fn mantissa(self) -> i128 {
        self.mantissa
    }

    /// Digits after the point.
    pub const fn scale(self) -> u8 {
        self.scale
    }

    pub const fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    pub const fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// The absolute value (never overflows: the range is symmetric).
    pub const fn abs(self) -> Decimal {
        Decimal {
            mantissa: self.mantissa.abs(),
            scale: self.scale,
        }
    }

    /// Scale of `a + b` and `a - b` (and `a % b`): the larger operand scale.
    pub fn sum_scale(a: u8, b: u8) -> u8 {
        a.max(b)
    }

    /// Scale of `a * b`: the sum of the scales, at most 38.
    pub fn product_scale(a: u8, b: u8) -> u8 {
        (a + b).min(MAX_PRECISION)
    }

    /// Scale of `a / b`: the larger operand scale, at least 6.
    pub fn quotient_scale(a: u8, b: u8) -> u8 {
        a.max(b).max(6)
    }

    /// Scale of `AVG` over values of scale `s`: `s`, at least 6.
    pub fn avg_scale(s: u8) -> u8 {
        s.max(6)
    }

    /// The mantissa at a scale `by` digits larger, if it fits an `i128`.
    fn widen(self, by: u8) -> Option<i128> {
        self.mantissa.checked_mul(POW10[by as usize] as i128)
    }

    /// Exact `self + other` at [`Decimal::sum_scale`]; `None` past 38 digits.
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let (a, b) = (self.scale, other.scale);
        let scale = a.max(b);
        let sum = if a == b {
            self.mantissa.checked_add(other.mantissa)
        } else if a < b {
            self.widen(b - a)
                .and_then(|m| m.checked_add(other.mantissa))
        } else {
            other
                .widen(a - b)
                .and_then(|m| m.checked_add(self.mantissa))
        };
        match sum {
            Some(m) => Decimal::try_new(m, scale),
            None => self.add_wide(other, scale),
        }
    }

    /// The slow path of [`Decimal::checked_add`]: an aligned operand or the sum
    /// left `i128`, though the sum may still fit (`1 - 0.5` at scale 38).
    #[cold]
    fn add_wide(self, other: Decimal, scale: u8) -> Option<Decimal> {
        let align = |d: Decimal| {
            U256::new(d.mantissa.unsigned_abs()) * U256::new(POW10[(scale - d.scale) as usize])
        };
        let (x, y) = (align(self), align(other));
        let (xn, yn) = (self.is_negative(), other.is_negative());
        if xn == yn {
            Decimal::from_wide(xn, x.checked_add(y)?, scale)
        } else if x >= y {
            Decimal::from_wide(xn, x - y, scale)
        } else {
            Decimal::from_wide(yn, y - x, scale)
        }
    }

    /// Exact `self - other` at [`Decimal::sum_scale`]; `None` past 38 digits.
    pub fn checked_sub(self, other: Decimal) -> Option<Decimal> {
        self.checked_add(-other)
    }

    /// Exact `self * other` at [`Decimal::product_scale`]; `None` past 38 digits,
    /// or when the exact product has more than 38 digits after the point.
    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale + other.scale;
        if scale <= MAX_PRECISION {
            let (a, b) = (self.mantissa, other.mantissa);
            // Two i64 mantissas: a plain multiply (i128's checked one is a call).
            if let (Ok(x), Ok(y)) = (i64::try_from(a), i64::try_from(b)) {
                return Decimal::try_new(x as i128 * y as i128, scale);
            }
            if let Some(m) = a.checked_mul(b) {
                return Decimal::try_new(m, scale);
            }
        }
        self.mul_wide(other, scale)
    }

    #[cold]
    fn mul_wide(self, other: Decimal, scale: u8) -> Option<Decimal> {
        let negative = self.is_negative() != other.is_negative();
        let mut p =
            U256::new(self.mantissa.unsigned_abs()) * U256::new(other.mantissa.unsigned_abs());
        let mut scale = scale;
        if scale > MAX_PRECISION {
            let (q, r) = p.div_rem(U256::new(POW10[(scale - MAX_PRECISION) as usize]));
            if r != U256::ZERO {
                return None;
            }
            p = q;
            scale = MAX_PRECISION;
        }
        Decimal::from_wide(negative, p, scale)
    }

    /// `self / other` rounded half away from zero to `scale` digits; `None` when
    /// `other` is zero or the quotient needs more than 38 digits.
    pub fn checked_div_to(self, other: Decimal, scale: u8) -> Option<Decimal> {
        if other.is_zero() || scale > MAX_PRECISION {
            return None;
        }
        let negative = self.is_negative() != other.is_negative();
        let (a, b) = (self.mantissa.unsigned_abs(), other.mantissa.unsigned_abs());
        // quotient = a * 10^(scale + s_b - s_a) / b
        let e = scale as i32 + other.scale as i32 - self.scale as i32;
        if (0..=38).contains(&e) {
            if let Some(num) = a.checked_mul(POW10[e as usize]) {
                let (q, r) = (num / b, num % b);
                let q = if r >= b - r { q + 1 } else { q };
                return Decimal::from_magnitude(negative, q, scale);
            }
        }
        let (num, den) = if e >= 0 {
            (
                U256::new(a).checked_mul(pow10_wide(e as u32))?,
                U256::new(b),
            )
        } else {
            (U256::new(a), U256::new(b) * pow10_wide((-e) as u32))
        };
        let (q, r) = num.div_rem(den);
        let q = if r >= den - r { q + 1 } else { q };
        Decimal::from_wide(negative, q, scale)
    }

    /// `self / other` at [`Decimal::quotient_scale`].
    pub fn checked_div(self, other: Decimal) -> Option<Decimal> {
        self.checked_div_to(other, Decimal::quotient_scale(self.scale, other.scale))
    }

    /// Exact remainder of truncated division (the sign of `self`), at
    /// [`Decimal::sum_scale`]; `None` when `other` is zero.
    pub fn checked_rem(self, other: Decimal) -> Option<Decimal> {
        if other.is_zero() {
            return None;
        }
        let scale = self.scale.max(other.scale);
        let align = |d: Decimal| {
            U256::new(d.mantissa.unsigned_abs()) * U256::new(POW10[(scale - d.scale) as usize])
        };
        let r = align(self) % align(other);
        // |r| < |other| and |r| <= |self|, one of which is unaligned: it fits.
        Decimal::from_wide(self.is_negative(), r, scale)
    }

    /// The same value at a scale `scale`, rounded half away from zero when the
    /// scale shrinks; `None` when it needs more than 38 digits.
    pub fn round_to(self, scale: u8) -> Option<Decimal> {
        if scale > MAX_PRECISION {
            return None;
        }
        if scale >= self.scale {
            let m = self.widen(scale - self.scale)?;
            return Decimal::try_new(m, scale);
        }
        let d = POW10[(self.scale - scale) as usize];
        let a = self.mantissa.unsigned_abs();
        let (q, r) = (a / d, a % d);
        let q = if r >= d - r { q + 1 } else { q };
        Decimal::from_magnitude(self.is_negative(), q, scale)
    }

    /// [`Decimal::round_to`] `scale`, then `None` unless the result fits
    /// DECIMAL(`precision`, `scale`) (at most `precision` digits in all).
    pub fn fit(self, precision: u8, scale: u8) -> Option<Decimal> {
        let r = self.round_to(scale)?;
        (precision <= MAX_PRECISION && r.mantissa.unsigned_abs() < POW10[precision as usize])
            .then_some(r)
    }

    /// SQL `ROUND(d, digits)`, half away from zero: `digits` at or above the scale
    /// keeps the value; a negative `digits` rounds left of the point (scale 0).
    pub fn round_dp(self, digits: i64) -> Option<Decimal> {
        if digits >= self.scale as i64 {
            return Some(self);
        }
        if digits >= 0 {
            return self.round_to(digits as u8);
        }
        let places = -digits;
        if places > MAX_PRECISION as i64 {
            return Some(Decimal::ZERO);
        }
        // Round to scale 0 first would double-round: divide once at 10^(scale+places).
        let total = self.scale as u32 + places as u32;
        let a = U256::new(self.mantissa.unsigned_abs());
        let d = pow10_wide(total);
        let (q, r) = a.div_rem(d);
        let q = if r >= d - r { q + U256::ONE } else { q };
        let m = q.checked_mul(U256::new(POW10[places as usize]))?;
        Decimal::from_wide(self.is_negative(), m, 0)
    }

    /// Toward zero, at scale 0.
    pub fn trunc(self) -> Decimal {
        Decimal {
            mantissa: self.mantissa / POW10[self.scale as usize] as i128,
            scale: 0,
        }
    }

    /// The largest integer not above the value, at scale 0.
    pub fn floor(self) -> Decimal {
        let t = self.trunc();
        if self.is_negative() && t.mantissa * POW10[self.scale as usize] as i128 != self.mantissa {
            Decimal {
                mantissa: t.mantissa - 1,
                scale: 0,
            }
        } else {
            t
        }
    }

    /// The smallest integer not below the value, at scale 0.
    pub fn ceil(self) -> Decimal {
        -(-self).floor()
    }

    /// The integer part, if it fits an `i64`.
    pub fn to_i64(self) -> Option<i64> {
        i64::try_from(self.trunc().mantissa).ok()
    }

    /// The nearest `f64`.
    pub fn to_f64(self) -> f64 {
        const EXACT: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        let (m, s) = (self.mantissa, self.scale as usize);
        if m.unsigned_abs() < 1 << 53 && s < EXACT.len() {
            // Both operands exact: one correctly rounded division.
            return m as f64 / EXACT[s];
        }
        let mut buf = [0u8; text::MAX_LEN];
        text::encode(self, &mut buf).parse().unwrap_or(f64::NAN)
    }

    /// A finite `f64` at `scale` digits, from its shortest round-trip text
    /// (`0.1` is 0.1, not 0.1000000000000000055...), rounded half away from zero.
    pub fn from_f64(f: f64, scale: u8) -> Option<Decimal> {
        if !f.is_finite() {
            return None;
        }
        let mut buf = text::StackText::new();
        std::fmt::Write::write_fmt(&mut buf, format_args!("{f}")).ok()?;
        Decimal::parse_rounded(buf.as_bytes(), scale)
    }

    /// The value with trailing fraction zeros removed (`1.50` -> `1.5`).
    pub fn normalize(self) -> Decimal {
        let (mut m, mut s) = (self.mantissa, self.scale);
        while s > 0 && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        Decimal {
            mantissa: m,
            scale: s,
        }
    }
}

impl Neg for Decimal {
    type Output = Decimal;
    fn neg(self) -> Decimal {
        Decimal {
            mantissa: -self.mantissa,
            scale: self.scale,
        }
    }
}

impl From<i64> for Decimal {
    fn from(i: i64) -> Decimal {
        Decimal {
            mantissa: i as i128,
            scale: 0,
        }
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        let (a, b) = (*self, *other);
        let (sa, sb) = (a.scale, b.scale);
        let (ma, mb) = (a.mantissa, b.mantissa);
        match sa.cmp(&sb) {
            Ordering::Equal => ma.cmp(&mb),
            // A widened mantissa that leaves i128 is beyond any 38-digit one.
            Ordering::Less => match a.widen(sb - sa) {
                Some(w) => w.cmp(&mb),
                None if ma < 0 => Ordering::Less,
                None => Ordering::Greater,
            },
            Ordering::Greater => match b.widen(sa - sb) {
                Some(w) => ma.cmp(&w),
                None if mb < 0 => Ordering::Greater,
                None => Ordering::Less,
            },
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl Hash for Decimal {
    /// Consistent with numeric equality: hashes the normalized form.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let n = self.normalize();
        state.write_i128(n.mantissa);
        state.write_u8(n.scale);
    }
}
