//! Python 3.11 float semantics: `repr`, `float(str)`, `round`, `//`, `%`, `divmod`,
//! `**`, and `int(float)`, all returning CPython's exact results and error messages.

use crate::text::PyErr;
use num_bigint::BigInt;

/// Shortest round-trip decimal digits of a finite `x` (sign ignored):
/// returns (digits, decpt) with |x| = 0.DIGITS * 10^decpt; zero gives ("0", 1).
pub(crate) fn shortest_digits(x: f64) -> (Vec<u8>, i32) {
    split_exp_string(&format!("{:e}", x.abs()))
}

/// `n` (>= 1) correctly rounded significant digits of finite `x` (sign ignored).
pub(crate) fn sig_digits(x: f64, n: usize) -> (Vec<u8>, i32) {
    split_exp_string(&format!("{:.*e}", n.saturating_sub(1), x.abs()))
}

/// Parse Rust's `{:e}` output ("1.2345e-5") into digits and decimal-point position.
fn split_exp_string(s: &str) -> (Vec<u8>, i32) {
    let (mant, exp) = match s.split_once('e') {
        Some(p) => p,
        None => (s, "0"),
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    if digits.iter().all(|&d| d == b'0') {
        return (digits, 1);
    }
    (digits, exp + 1)
}

/// Lay out `digits` (value 0.DIGITS * 10^decpt) the way CPython's `format_float_short`
/// does. `min_digits` pads with zeros on the right (vdigits_end).
pub(crate) fn layout(
    digits: &[u8],
    decpt: i32,
    use_exp: bool,
    min_digits: i64,
    add_dot_0: bool,
    alt: bool,
    upper: bool,
) -> String {
    let mut decpt = decpt as i64;
    let mut exp = 0i64;
    if use_exp {
        exp = decpt - 1;
        decpt = 1;
    }
    let dlen = digits.len() as i64;
    let mut vend = dlen.max(min_digits);
    if !use_exp && add_dot_0 {
        vend = vend.max(decpt + 1);
    } else {
        vend = vend.max(decpt);
    }
    let mut out = String::with_capacity((vend.max(0) + 8 + decpt.unsigned_abs() as i64) as usize);
    if decpt <= 0 {
        out.push_str("0.");
        for _ in 0..(-decpt) {
            out.push('0');
        }
        out.extend(digits.iter().map(|&b| b as char));
        for _ in dlen..vend {
            out.push('0');
        }
    } else {
        for i in 0..vend {
            if i == decpt {
                out.push('.');
            }
            let d = if i < dlen { digits[i as usize] } else { b'0' };
            out.push(d as char);
        }
        if decpt == vend {
            out.push('.');
        }
    }
    if out.ends_with('.') && !alt {
        out.pop();
    }
    if use_exp {
        out.push(if upper { 'E' } else { 'e' });
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
    }
    out
}

/// Python's `repr(float)` / `str(float)`.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let (digits, decpt) = shortest_digits(x);
    let use_exp = !(-4 < decpt && decpt <= 16);
    let body = layout(&digits, decpt, use_exp, 0, true, false, false);
    if x.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

fn conv_err(s: &str) -> PyErr {
    PyErr::value(format!(
        "could not convert string to float: {}",
        crate::text::strings::str_repr(s)
    ))
}

/// Python's `float(str)`.
pub fn parse_float(s: &str) -> Result<f64, PyErr> {
    let t = crate::text::strings::strip(s, None);
    let mut chars = t.chars().peekable();
    let mut neg = false;
    match chars.peek() {
        Some('+') => {
            chars.next();
        }
        Some('-') => {
            neg = true;
            chars.next();
        }
        _ => {}
    }
    let rest: String = chars.collect();
    let lower = rest.to_ascii_lowercase();
    let special = match lower.as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(v) = special {
        return Ok(if neg { -v } else { v });
    }
    // Validate the grammar and build a clean ASCII literal for Rust's parser.
    let mut clean = String::with_capacity(rest.len() + 1);
    if neg {
        clean.push('-');
    }
    let cs: Vec<char> = rest.chars().collect();
    let mut i = 0;
    // digitpart: digit (["_"] digit)*; returns number of digits read.
    let digitpart = |i: &mut usize, clean: &mut String| -> Result<usize, ()> {
        let mut n = 0;
        while *i < cs.len() {
            if let Some(d) = crate::text::decimal_value(cs[*i]) {
                clean.push((b'0' + d as u8) as char);
                n += 1;
                *i += 1;
            } else if cs[*i] == '_' && n > 0 {
                match cs.get(*i + 1).and_then(|&c| crate::text::decimal_value(c)) {
                    Some(_) => *i += 1,
                    None => return Err(()),
                }
            } else {
                break;
            }
        }
        Ok(n)
    };
    let int_digits = digitpart(&mut i, &mut clean).map_err(|_| conv_err(s))?;
    let mut frac_digits = 0;
    if i < cs.len() && cs[i] == '.' {
        clean.push('.');
        i += 1;
        frac_digits = digitpart(&mut i, &mut clean).map_err(|_| conv_err(s))?;
    }
    if int_digits == 0 && frac_digits == 0 {
        return Err(conv_err(s));
    }
    if i < cs.len() && (cs[i] == 'e' || cs[i] == 'E') {
        clean.push('e');
        i += 1;
        if i < cs.len() && (cs[i] == '+' || cs[i] == '-') {
            clean.push(cs[i]);
            i += 1;
        }
        let n = digitpart(&mut i, &mut clean).map_err(|_| conv_err(s))?;
        if n == 0 {
            return Err(conv_err(s));
        }
    }
    if i != cs.len() {
        return Err(conv_err(s));
    }
    clean.parse::<f64>().map_err(|_| conv_err(s))
}

/// Python's `round(x, ndigits)` for a float `x`.
pub fn round_float(x: f64, ndigits: i64) -> Result<f64, PyErr> {
    if !x.is_finite() || x == 0.0 {
        return Ok(x);
    }
    if ndigits > 323 {
        return Ok(x);
    }
    if ndigits < -308 {
        return Ok(0.0 * x);
    }
    let (m, e) = decompose(x.abs());
    // |x| = m * 2^e exactly; compute q = round_half_even(|x| * 10^n) exactly.
    let ten = BigInt::from(10u32);
    let n = ndigits;
    let mut num = BigInt::from(m);
    let mut den = BigInt::from(1u32);
    if e >= 0 {
        num <<= e as usize;
    } else {
        den <<= (-e) as usize;
    }
    if n >= 0 {
        num *= num_traits::pow(ten.clone(), n as usize);
    } else {
        den *= num_traits::pow(ten.clone(), (-n) as usize);
    }
    let q = div_round_half_even(&num, &den);
    let res = if n >= 0 {
        crate::text::int::true_div(&q, &num_traits::pow(ten, n as usize))
            .map_err(|_| PyErr::new("OverflowError", "rounded value too large to represent"))?
    } else {
        crate::text::int::bigint_to_f64(&(q * num_traits::pow(ten, (-n) as usize)))
            .map_err(|_| PyErr::new("OverflowError", "rounded value too large to represent"))?
    };
    Ok(if x < 0.0 { -res } else { res })
}

fn div_round_half_even(num: &BigInt, den: &BigInt) -> BigInt {
    use num_integer::Integer;
    let (q, r) = num.div_rem(den);
    let r2: BigInt = r << 1usize;
    match r2.cmp(den) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => {
            if q.is_odd() {
                q + 1
            } else {
                q
            }
        }
    }
}

/// Split a finite non-negative f64 into (mantissa, exponent) with x = m * 2^e exactly.
pub(crate) fn decompose(x: f64) -> (u64, i64) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    }
}

fn check_zero(b: f64, what: &str) -> Result<(), PyErr> {
    if b == 0.0 {
        Err(PyErr::new("ZeroDivisionError", what))
    } else {
        Ok(())
    }
}

fn divmod_raw(vx: f64, wx: f64) -> (f64, f64) {
    let mut m = vx % wx;
    let mut div = (vx - m) / wx;
    if m != 0.0 {
        if (wx < 0.0) != (m < 0.0) {
            m += wx;
            div -= 1.0;
        }
    } else {
        m = 0.0f64.copysign(wx);
    }
    let floordiv = if div != 0.0 {
        let mut f = div.floor();
        if div - f > 0.5 {
            f += 1.0;
        }
        f
    } else {
        0.0f64.copysign(vx / wx)
    };
    (floordiv, m)
}

/// Python's `a // b` for floats.
pub fn float_floordiv(a: f64, b: f64) -> Result<f64, PyErr> {
    check_zero(b, "float floor division by zero")?;
    Ok(divmod_raw(a, b).0)
}

/// Python's `a % b` for floats.
pub fn float_mod(a: f64, b: f64) -> Result<f64, PyErr> {
    check_zero(b, "float modulo")?;
    let mut m = a % b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m += b;
        }
    } else {
        m = 0.0f64.copysign(b);
    }
    Ok(m)
}

/// Python's `divmod(a, b)` for floats.
pub fn float_divmod(a: f64, b: f64) -> Result<(f64, f64), PyErr> {
    check_zero(b, "float divmod()")?;
    Ok(divmod_raw(a, b))
}

fn is_odd_integer(x: f64) -> bool {
    x.is_finite() && x.fract() == 0.0 && (x % 2.0).abs() == 1.0
}

/// Python's `a ** b` for floats.
pub fn float_pow(iv: f64, iw: f64) -> Result<f64, PyErr> {
    if iw == 0.0 {
        return Ok(1.0);
    }
    if iv.is_nan() {
        return Ok(iv);
    }
    if iw.is_nan() {
        return Ok(if iv == 1.0 { 1.0 } else { iw });
    }
    if iw.is_infinite() {
        let a = iv.abs();
        return Ok(if a == 1.0 {
            1.0
        } else if (iw > 0.0) == (a > 1.0) {
            iw.abs()
        } else {
            0.0
        });
    }
    if iv.is_infinite() {
        let odd = is_odd_integer(iw);
        return Ok(if iw > 0.0 {
            if odd {
                iv
            } else {
                iv.abs()
            }
        } else if odd {
            0.0f64.copysign(iv)
        } else {
            0.0
        });
    }
    if iv == 0.0 {
        if iw < 0.0 {
            return Err(PyErr::new(
                "ZeroDivisionError",
                "0.0 cannot be raised to a negative power",
            ));
        }
        return Ok(if is_odd_integer(iw) { iv } else { 0.0 });
    }
    if iv == 1.0 {
        return Ok(1.0);
    }
    let mut base = iv;
    let mut negate = false;
    if iv < 0.0 {
        if iw != iw.floor() {
            return Err(PyErr::value("complex results are not supported in Toy"));
        }
        base = -iv;
        negate = is_odd_integer(iw);
    }
    if base == 1.0 {
        return Ok(if negate { -1.0 } else { 1.0 });
    }
    let r = base.powf(iw);
    if r.is_infinite() {
        return Err(PyErr::new(
            "OverflowError",
            "(34, 'Numerical result out of range')",
        ));
    }
    Ok(if negate { -r } else { r })
}

/// Python's `int(x)` for a float.
pub fn float_to_int_checked(x: f64) -> Result<BigInt, PyErr> {
    if x.is_nan() {
        return Err(PyErr::value("cannot convert float NaN to integer"));
    }
    if x.is_infinite() {
        return Err(PyErr::new(
            "OverflowError",
            "cannot convert float infinity to integer",
        ));
    }
    let t = x.trunc();
    let (m, e) = decompose(t.abs());
    let mut v = BigInt::from(m);
    if e >= 0 {
        v <<= e as usize;
    } else {
        v >>= (-e) as usize;
    }
    Ok(if t < 0.0 { -v } else { v })
}
