//! Python 3.11 int helpers: `int(str, base)` parsing, correctly rounded int → float
//! conversion and correctly rounded `int / int` true division.

use crate::text::PyErr;
use num_bigint::{BigInt, Sign};
use num_integer::Integer;
use num_traits::{Signed, ToPrimitive, Zero};

/// CPython 3.11's default `sys.get_int_max_str_digits()`.
pub const MAX_STR_DIGITS: usize = 4300;

fn invalid_literal(s: &str, base: u32) -> PyErr {
    let r: String = crate::text::strings::str_repr(s)
        .chars()
        .take(200)
        .collect();
    PyErr::value(format!("invalid literal for int() with base {base}: {r}"))
}

fn digit_value(c: char) -> Option<u32> {
    if let Some(d) = crate::text::decimal_value(c) {
        return Some(d);
    }
    if c.is_ascii_alphabetic() {
        return Some(c.to_ascii_lowercase() as u32 - 'a' as u32 + 10);
    }
    None
}

/// Python's `int(s, base)` for a str `s`.
pub fn parse_int(s: &str, base: u32) -> Result<BigInt, PyErr> {
    if base != 0 && !(2..=36).contains(&base) {
        return Err(PyErr::value("int() base must be >= 2 and <= 36, or 0"));
    }
    let t = crate::text::strings::strip(s, None);
    let cs: Vec<char> = t.chars().collect();
    let mut i = 0;
    let mut neg = false;
    if let Some(&c) = cs.first().filter(|c| **c == '+' || **c == '-') {
        neg = c == '-';
        i = 1;
    }
    let mut b = base;
    let lower_at = |k: usize| cs.get(k).map(|c| c.to_ascii_lowercase());
    let mut prefixed = false;
    if cs.get(i) == Some(&'0') {
        let p = lower_at(i + 1);
        let pb = match p {
            Some('x') => 16,
            Some('o') => 8,
            Some('b') => 2,
            _ => 0,
        };
        if pb != 0 && (b == 0 || b == pb) {
            b = pb;
            i += 2;
            prefixed = true;
        }
    }
    let decimal_base0 = b == 0;
    if b == 0 {
        b = 10;
    }
    // Validate digits and underscores.
    let mut digits: Vec<u32> = Vec::with_capacity(cs.len());
    let mut prev_underscore = false;
    let mut allow_underscore = prefixed;
    while i < cs.len() {
        let c = cs[i];
        if c == '_' {
            if !allow_underscore || prev_underscore {
                return Err(invalid_literal(s, base));
            }
            prev_underscore = true;
        } else {
            match digit_value(c) {
                Some(d) if d < b => digits.push(d),
                _ => return Err(invalid_literal(s, base)),
            }
            prev_underscore = false;
            allow_underscore = true;
        }
        i += 1;
    }
    if digits.is_empty() || prev_underscore {
        return Err(invalid_literal(s, base));
    }
    if decimal_base0 && digits[0] == 0 && digits.iter().any(|&d| d != 0) {
        return Err(invalid_literal(s, base));
    }
    if !b.is_power_of_two() && digits.len() > MAX_STR_DIGITS {
        return Err(PyErr::value(format!(
            "Exceeds the limit ({MAX_STR_DIGITS} digits) for integer string conversion: value has {} digits; use sys.set_int_max_str_digits() to increase the limit",
            digits.len()
        )));
    }
    let bytes: Vec<u8> = digits.iter().map(|&d| d as u8).collect();
    let v = BigInt::from_radix_be(Sign::Plus, &bytes, b).unwrap_or_default();
    Ok(if neg { -v } else { v })
}

/// Build the f64 m * 2^e, where the value is known to be exactly representable
/// (or overflows to infinity).
fn ldexp(m: u64, mut e: i64) -> f64 {
    let mut f = m as f64;
    while e > 0 && f.is_finite() {
        let step = e.min(1000);
        f *= 2f64.powi(step as i32);
        e -= step;
    }
    while e < 0 && f != 0.0 {
        let step = e.max(-1000);
        f *= 2f64.powi(step as i32);
        e -= step;
    }
    f
}

/// Round |q| * 2^shift (q carrying a sticky bit) to the nearest f64 (half-even).
fn round_scaled(q: &BigInt, shift: i64) -> f64 {
    let qbits = q.bits() as i64;
    let extra = (qbits - 53).max(-1074 - shift);
    if extra <= 0 {
        let m = q.to_u64().unwrap_or(0);
        return ldexp(m, shift);
    }
    let extra_u = extra as usize;
    let top: BigInt = q >> extra_u;
    let mut m = top.to_u64().unwrap_or(0);
    let half = BigInt::from(1u8) << (extra_u - 1);
    let mask: BigInt = (BigInt::from(1u8) << extra_u) - 1;
    let low = q & &mask;
    if low > half || (low == half && m & 1 == 1) {
        m += 1;
    }
    ldexp(m, shift + extra)
}

/// Correctly rounded conversion of an int to float (`float(int)`).
pub fn bigint_to_f64(x: &BigInt) -> Result<f64, PyErr> {
    let a = x.abs();
    let r = if a.bits() <= 53 {
        a.to_u64().unwrap_or(0) as f64
    } else if a.bits() > 1024 {
        f64::INFINITY
    } else {
        round_scaled(&a, 0)
    };
    if r.is_infinite() {
        return Err(PyErr::new(
            "OverflowError",
            "int too large to convert to float",
        ));
    }
    Ok(if x.is_negative() { -r } else { r })
}

/// Correctly rounded true division `a / b` of two ints, as Python's `int / int`.
pub fn true_div(a: &BigInt, b: &BigInt) -> Result<f64, PyErr> {
    if b.is_zero() {
        return Err(PyErr::new("ZeroDivisionError", "division by zero"));
    }
    let negative = a.is_negative() != b.is_negative();
    let aa = a.abs();
    let bb = b.abs();
    let r = if aa.bits() <= 53 && bb.bits() <= 53 {
        aa.to_u64().unwrap_or(0) as f64 / bb.to_u64().unwrap_or(1) as f64
    } else if aa.is_zero() {
        0.0
    } else {
        let diff = aa.bits() as i64 - bb.bits() as i64;
        if diff > 1025 {
            f64::INFINITY
        } else if diff < -1080 {
            0.0
        } else {
            let shift = diff.max(-1021) - 55;
            let (mut q, r) = if shift >= 0 {
                aa.div_rem(&(&bb << shift as usize))
            } else {
                (&aa << (-shift) as usize).div_rem(&bb)
            };
            if !r.is_zero() {
                q |= BigInt::from(1u8);
            }
            round_scaled(&q, shift)
        }
    };
    if r.is_infinite() {
        return Err(PyErr::new(
            "OverflowError",
            "integer division result too large for a float",
        ));
    }
    Ok(if negative { -r } else { r })
}
