//! Hand-worked 38-digit cases: every expected value below was computed on paper
//! (noted beside each), never by this code.

use super::*;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Thirty-eight nines.
const NINES_38: &str = "99999999999999999999999999999999999999";

#[test]
fn value_stays_small() {
    assert_eq!(std::mem::size_of::<Decimal>(), 17);
    assert_eq!(std::mem::align_of::<Decimal>(), 1);
}

#[test]
fn parses_38_digits_and_rejects_39() {
    let max = d(NINES_38);
    assert_eq!(max.to_string(), NINES_38);
    assert_eq!((-max).to_string(), format!("-{NINES_38}"));
    let tiny = d("0.00000000000000000000000000000000000001");
    assert_eq!((tiny.mantissa(), tiny.scale()), (1, 38));
    assert!("100000000000000000000000000000000000000"
        .parse::<Decimal>()
        .is_err());
    assert!("0.000000000000000000000000000000000000001"
        .parse::<Decimal>()
        .is_err());
    // Trailing zeros past scale 38 are still exact.
    assert_eq!(d("0.1000000000000000000000000000000000000000").scale(), 38);
    // 1 at scale 38 would need 39 digits.
    assert!("1.0000000000000000000000000000000000000000"
        .parse::<Decimal>()
        .is_err());
    assert_eq!(d("1.5e2").to_string(), "150");
    // 2^64 at scale 10: the first 19-digit chunk is 0000000000000000000 + ...
    let two_64 = Decimal::new(1 << 64, 10);
    assert_eq!(two_64.to_string(), "1844674407.3709551616");
    assert_eq!(
        Decimal::new(10_i128.pow(19), 0).to_string(),
        "10000000000000000000"
    );
    assert_eq!(Decimal::new(-5, 3).to_string(), "-0.005");
    assert_eq!(Decimal::new(0, 2).to_string(), "0.00");
    assert_eq!(format!("{:>6}", Decimal::new(15, 1)), "   1.5");
    assert_eq!(d("-1.25E-1").to_string(), "-0.125");
    for bad in ["", "-", ".", "1e", "1.2.3", "abc", "1e+", "--1", " "] {
        assert!(bad.parse::<Decimal>().is_err(), "{bad:?}");
    }
}

#[test]
fn parse_rounded_rounds_half_away_from_zero_and_checks_38_digits() {
    let r = |t: &str, s| Decimal::parse_rounded(t.as_bytes(), s).map(|d| d.to_string());
    assert_eq!(r("12.345", 2).as_deref(), Some("12.35"));
    assert_eq!(r("-12.345", 2).as_deref(), Some("-12.35"));
    assert_eq!(r("12.344999", 2).as_deref(), Some("12.34"));
    assert_eq!(r("7", 2).as_deref(), Some("7.00"));
    assert_eq!(r("+1.5e2", 1).as_deref(), Some("150.0"));
    // 29 digits at scale 2: beyond rust_decimal's 28, well inside 38.
    assert_eq!(
        r("123456789012345678901234567.89", 2).as_deref(),
        Some("123456789012345678901234567.89")
    );
    // Rounding 38 nines at scale 1 to scale 0 carries into a 39th digit.
    assert_eq!(
        r("9999999999999999999999999999999999999.9", 1).as_deref(),
        Some("9999999999999999999999999999999999999.9")
    );
    assert_eq!(
        r("9999999999999999999999999999999999999.9", 0).as_deref(),
        Some("10000000000000000000000000000000000000")
    );
    assert_eq!(r("99999999999999999999999999999999999999.5", 0), None);
    assert_eq!(r(NINES_38, 1), None);
    assert_eq!(r("1e99999999999", 2), None);
    assert_eq!(r("1e-99999", 2).as_deref(), Some("0.00"));
    assert_eq!(r(&"9".repeat(200), 0), None);
}

#[test]
fn sum_is_exact_at_38_digits() {
    // 8 x (10^26 - 0.01) = 8 x 10^26 - 0.08.
    let v = d("99999999999999999999999999.99");
    let mut sum = Decimal::ZERO;
    for _ in 0..8 {
        sum = sum.checked_add(v).unwrap();
    }
    assert_eq!(sum.to_string(), "799999999999999999999999999.92");
    // (10^38 - 2) + 1 = 10^38 - 1; one more is 10^38, 39 digits.
    let almost = d("99999999999999999999999999999999999998");
    let max = almost.checked_add(Decimal::from(1)).unwrap();
    assert_eq!(max.to_string(), NINES_38);
    assert_eq!(max.checked_add(Decimal::from(1)), None);
    assert_eq!((-max).checked_sub(Decimal::from(1)), None);
    // Mixed scales: 1 - 0.5 at scale 38 leaves i128 while aligning, yet fits.
    let half = d("0.50000000000000000000000000000000000000");
    let r = Decimal::from(1).checked_sub(half).unwrap();
    assert_eq!(r.to_string(), "0.50000000000000000000000000000000000000");
    assert_eq!(Decimal::from(2).checked_add(half), None);
}

#[test]
fn product_is_exact_or_overflows() {
    // (10^9 - 10^-10)^2 = 10^18 - 0.2 + 10^-20.
    let a = d("999999999.9999999999");
    assert_eq!(
        a.checked_mul(a).unwrap().to_string(),
        "999999999999999999.80000000000000000001"
    );
    // (10^19 - 1)^2 = 10^38 - 2 x 10^19 + 1: 38 digits, past i128's fast path.
    let b = d("9999999999999999999");
    assert_eq!(
        b.checked_mul(b).unwrap().to_string(),
        "99999999999999999980000000000000000001"
    );
    // 10^19 x 10^19 = 10^38: 39 digits.
    let c = d("10000000000000000000");
    assert_eq!(c.checked_mul(c), None);
    assert_eq!(c.checked_mul(-c), None);
    // Scale 20 + 20: exact at scale 38 when the last two digits are zero...
    let e = d("0.50000000000000000000");
    assert_eq!(
        e.checked_mul(e).unwrap().to_string(),
        "0.25000000000000000000000000000000000000"
    );
    // ...but DECIMAL(38, 38) holds only magnitudes below 1: 2.25 overflows.
    let g = d("1.50000000000000000000");
    assert_eq!(g.checked_mul(g), None);
    let f = d("0.00000000000000000001");
    assert_eq!(
        f.checked_mul(f),
        None,
        "10^-40 is not representable exactly"
    );
    assert_eq!(d("-2.5").checked_mul(d("4")).unwrap().to_string(), "-10.0");
}

#[test]
fn division_rounds_half_away_from_zero_at_the_result_scale() {
    let q = |a: &str, b: &str, s| d(a).checked_div_to(d(b), s).map(|x| x.to_string());
    assert_eq!(d("1").checked_div(d("3")).unwrap().to_string(), "0.333333");
    assert_eq!(d("2").checked_div(d("3")).unwrap().to_string(), "0.666667");
    assert_eq!(
        d("-2").checked_div(d("3")).unwrap().to_string(),
        "-0.666667"
    );
    assert_eq!(q("1", "8", 2).as_deref(), Some("0.13"));
    assert_eq!(q("-1", "8", 2).as_deref(), Some("-0.13"));
    assert_eq!(q("1", "-8", 2).as_deref(), Some("-0.13"));
    // (10^38 - 1) / 7 = 14285714285714285714285714285714285714 rest 1: rounds down.
    assert_eq!(
        q(NINES_38, "7", 0).as_deref(),
        Some("14285714285714285714285714285714285714")
    );
    // (1 - 10^-38) / 2 = 0.5 - 5 x 10^-39: the 39th digit is a 5, rounds up.
    assert_eq!(
        q(&format!("0.{NINES_38}"), "2", 38).as_deref(),
        Some("0.50000000000000000000000000000000000000")
    );
    // The numerator leaves u128 (x 10): the 256-bit path.
    assert_eq!(
        q("9999999999999999999999999999999999999.9", "3.0", 1).as_deref(),
        Some("3333333333333333333333333333333333333.3")
    );
    // (10^38 - 1) / 70 = 1428571428571428571428571428571428571.4|1...: down.
    assert_eq!(
        q("9999999999999999999999999999999999999.9", "7.0", 1).as_deref(),
        Some("1428571428571428571428571428571428571.4")
    );
    // Overflow: 38 integer digits plus 6 fraction digits.
    assert_eq!(d(NINES_38).checked_div(d("7")), None);
    assert_eq!(q("1", "0", 2), None);
}

#[test]
fn remainder_is_exact() {
    assert_eq!(d("7.5").checked_rem(d("2")).unwrap().to_string(), "1.5");
    assert_eq!(d("-7.5").checked_rem(d("2")).unwrap().to_string(), "-1.5");
    assert_eq!(
        d(NINES_38).checked_rem(d("0.7")).unwrap().to_string(),
        // (10^38 - 1) mod 0.7 = ((10^39 - 10) mod 7) / 10 = 3 / 10.
        "0.3"
    );
    assert_eq!(d("1").checked_rem(Decimal::ZERO), None);
}

#[test]
fn comparison_hash_and_rounding_helpers() {
    let h = |x: Decimal| ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(x);
    assert_eq!(d("1.50"), d("1.5"));
    assert_eq!(h(d("1.50")), h(d("1.5")));
    assert_eq!(h(d("0.000")), h(Decimal::ZERO));
    assert!(d(NINES_38) > d("0.00000000000000000000000000000000000001"));
    assert!(-d(NINES_38) < d("-0.99999999999999999999999999999999999999"));
    assert!(d("0.5") < d("1"));
    assert_eq!(d("12.345").round_dp(2).unwrap().to_string(), "12.35");
    assert_eq!(d("1250").round_dp(-2).unwrap().to_string(), "1300");
    assert_eq!(d("-1249.9").round_dp(-2).unwrap().to_string(), "-1200");
    assert_eq!(d("1.5").round_dp(4).unwrap().to_string(), "1.5");
    assert_eq!(d(NINES_38).round_dp(-1), None);
    assert_eq!(d("-2.5").floor().to_string(), "-3");
    assert_eq!(d("-2.5").ceil().to_string(), "-2");
    assert_eq!(d("2.5").trunc().to_string(), "2");
    assert_eq!(d("-2.0").floor().to_string(), "-2");
    assert_eq!(d("12.5").fit(3, 1).unwrap().to_string(), "12.5");
    assert_eq!(d("99.96").fit(3, 1), None);
    assert_eq!(d("0.1").to_f64(), 0.1);
    assert_eq!(d(NINES_38).to_f64(), 1e38);
    assert_eq!(Decimal::from_f64(0.1, 3).unwrap().to_string(), "0.100");
    assert_eq!(Decimal::from_f64(1e300, 0), None);
    assert_eq!(Decimal::from_f64(f64::NAN, 0), None);
    assert_eq!(d("-123.4").to_i64(), Some(-123));
}
