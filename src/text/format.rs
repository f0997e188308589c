//! The format-spec mini-language (`format(x, spec)`, f-string `{x:spec}`) for int,
//! float and str, matching CPython 3.11 output and error messages exactly.

use crate::text::float::{layout, shortest_digits, sig_digits};
use crate::text::PyErr;
use num_bigint::BigInt;
use num_traits::Signed;

/// Results longer than this many chars are refused with `MemoryError` instead of allocated.
pub const MAX_FORMAT_LEN: usize = 1 << 24;

/// A parsed format specification:
/// `[[fill]align][sign][z][#][0][width][grouping][.precision][type]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatSpec {
    pub fill: char,
    pub align: Option<char>,
    pub sign: Option<char>,
    /// The `z` flag (coerce negative zero), new in Python 3.11.
    pub no_neg_0: bool,
    pub alternate: bool,
    pub zero: bool,
    pub width: Option<usize>,
    pub grouping: Option<char>,
    pub precision: Option<usize>,
    pub ty: Option<char>,
}

fn is_align(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '^')
}

/// Read decimal digits at `pos`; None if there are none.
fn get_integer(cs: &[char], pos: &mut usize) -> Result<Option<usize>, PyErr> {
    let mut acc: u64 = 0;
    let start = *pos;
    while let Some(&c) = cs.get(*pos) {
        let Some(d) = c.to_digit(10) else { break };
        if !c.is_ascii_digit() {
            break;
        }
        if acc > (i64::MAX as u64 - d as u64) / 10 {
            return Err(PyErr::value("Too many decimal digits in format string"));
        }
        acc = acc * 10 + d as u64;
        *pos += 1;
    }
    if *pos == start {
        Ok(None)
    } else {
        Ok(Some(usize::try_from(acc).unwrap_or(usize::MAX)))
    }
}

fn fmt_code(c: char) -> String {
    let u = c as u32;
    if u > 32 && u < 128 {
        c.to_string()
    } else {
        format!("\\x{u:x}")
    }
}

impl FormatSpec {
    /// Parse a spec with no type-specific defaults (type stays `None`, align `None`).
    pub fn parse(spec: &str) -> Result<FormatSpec, PyErr> {
        FormatSpec::parse_for(spec, None, "object")
    }

    /// Parse a spec as CPython does for an object whose default presentation type
    /// is `default_ty`; `tyname` is used in error messages.
    pub fn parse_for(
        spec: &str,
        default_ty: Option<char>,
        tyname: &str,
    ) -> Result<FormatSpec, PyErr> {
        let cs: Vec<char> = spec.chars().collect();
        let end = cs.len();
        let mut pos = 0;
        let mut f = FormatSpec {
            fill: ' ',
            align: None,
            sign: None,
            no_neg_0: false,
            alternate: false,
            zero: false,
            width: None,
            grouping: None,
            precision: None,
            ty: default_ty,
        };
        let mut fill_specified = false;
        if end >= 2 && is_align(cs[1]) {
            f.fill = cs[0];
            f.align = Some(cs[1]);
            fill_specified = true;
            pos = 2;
        } else if end >= 1 && is_align(cs[0]) {
            f.align = Some(cs[0]);
            pos = 1;
        }
        if let Some(&c) = cs.get(pos).filter(|c| matches!(c, '+' | '-' | ' ')) {
            f.sign = Some(c);
            pos += 1;
        }
        if cs.get(pos) == Some(&'z') {
            f.no_neg_0 = true;
            pos += 1;
        }
        if cs.get(pos) == Some(&'#') {
            f.alternate = true;
            pos += 1;
        }
        if !fill_specified && cs.get(pos) == Some(&'0') {
            f.zero = true;
            pos += 1;
        }
        f.width = get_integer(&cs, &mut pos)?;
        if cs.get(pos) == Some(&',') {
            f.grouping = Some(',');
            pos += 1;
        }
        if cs.get(pos) == Some(&'_') {
            if f.grouping.is_some() {
                return Err(PyErr::value("Cannot specify both ',' and '_'."));
            }
            f.grouping = Some('_');
            pos += 1;
        }
        if cs.get(pos) == Some(&',') && f.grouping == Some('_') {
            return Err(PyErr::value("Cannot specify both ',' and '_'."));
        }
        if cs.get(pos) == Some(&'.') {
            pos += 1;
            match get_integer(&cs, &mut pos)? {
                Some(p) => f.precision = Some(p),
                None => return Err(PyErr::value("Format specifier missing precision")),
            }
        }
        if end - pos > 1 {
            return Err(PyErr::value(format!(
                "Invalid format specifier '{spec}' for object of type '{tyname}'"
            )));
        }
        if end - pos == 1 {
            f.ty = Some(cs[pos]);
        }
        if let Some(g) = f.grouping {
            let ok = match f.ty {
                None => true,
                Some(t) => {
                    matches!(t, 'd' | 'e' | 'f' | 'g' | 'E' | 'G' | '%' | 'F')
                        || (g == '_' && matches!(t, 'b' | 'o' | 'x' | 'X'))
                }
            };
            if !ok {
                let t = f.ty.unwrap_or('\0');
                return Err(PyErr::value(format!(
                    "Cannot specify '{g}' with '{}'.",
                    fmt_code(t)
                )));
            }
        }
        Ok(f)
    }

    /// Resolve the effective (fill, align) given the object's default alignment,
    /// applying the legacy `0` flag rule.
    fn fill_align(&self, default_align: char) -> (char, char) {
        let mut fill = self.fill;
        let mut align = self.align;
        if self.zero {
            fill = '0';
            if align.is_none() && default_align == '>' {
                align = Some('=');
            }
        }
        (fill, align.unwrap_or(default_align))
    }
}

fn unknown_code(c: char, tyname: &str) -> PyErr {
    PyErr::value(format!(
        "Unknown format code '{}' for object of type '{tyname}'",
        fmt_code(c)
    ))
}

fn check_len(n: usize) -> Result<(), PyErr> {
    if n > MAX_FORMAT_LEN {
        Err(PyErr::memory())
    } else {
        Ok(())
    }
}

fn push_n(out: &mut String, c: char, n: usize) {
    out.extend(std::iter::repeat_n(c, n));
}

/// Insert group separators the way CPython's `_PyUnicode_InsertThousandsGrouping`
/// does, zero-padding the digits to at least `min_width` chars.
fn group_digits(digits: &[u8], sep: Option<(char, usize)>, min_width: i64) -> String {
    let (sep_c, group) = match sep {
        Some(s) => s,
        None => {
            let mut out = String::new();
            let pad = (min_width - digits.len() as i64).max(0) as usize;
            push_n(&mut out, '0', pad);
            out.extend(digits.iter().map(|&b| b as char));
            return out;
        }
    };
    let mut pieces: Vec<String> = Vec::new();
    let mut remaining = digits.len() as i64;
    let mut mw = min_width;
    loop {
        let l = (group as i64).min(remaining.max(mw).max(1));
        let n_zeros = (l - remaining).max(0) as usize;
        let n_chars = remaining.min(l).max(0);
        let mut piece = String::new();
        push_n(&mut piece, '0', n_zeros);
        let hi = remaining as usize;
        let lo = (remaining - n_chars) as usize;
        piece.extend(digits[lo..hi].iter().map(|&b| b as char));
        pieces.push(piece);
        remaining -= n_chars;
        mw -= l;
        if remaining <= 0 && mw <= 0 {
            break;
        }
        mw -= 1;
    }
    pieces.reverse();
    let sep_s = sep_c.to_string();
    pieces.join(&sep_s)
}

/// Assemble sign, prefix, grouped digits and remainder, then pad to the width.
#[allow(clippy::too_many_arguments)]
fn render_number(
    fill: char,
    align: char,
    width: usize,
    sign: &str,
    prefix: &str,
    digits: &[u8],
    remainder: &str,
    sep: Option<(char, usize)>,
) -> Result<String, PyErr> {
    check_len(width)?;
    let n_sign = sign.chars().count();
    let n_prefix = prefix.chars().count();
    let n_rem = remainder.chars().count();
    let min_width = if fill == '0' && align == '=' {
        width as i64 - (n_sign + n_prefix + n_rem) as i64
    } else {
        0
    };
    let grouped = if digits.is_empty() {
        String::new()
    } else {
        group_digits(digits, sep, min_width)
    };
    let total = n_sign + n_prefix + grouped.chars().count() + n_rem;
    let pad = width.saturating_sub(total);
    let (lpad, spad, rpad) = match align {
        '<' => (0, 0, pad),
        '^' => (pad / 2, 0, pad - pad / 2),
        '=' => (0, pad, 0),
        _ => (pad, 0, 0),
    };
    let mut out = String::with_capacity(total + pad);
    push_n(&mut out, fill, lpad);
    out.push_str(sign);
    out.push_str(prefix);
    push_n(&mut out, fill, spad);
    out.push_str(&grouped);
    out.push_str(remainder);
    push_n(&mut out, fill, rpad);
    Ok(out)
}

fn sign_str(negative: bool, sign: Option<char>) -> &'static str {
    if negative {
        "-"
    } else {
        match sign {
            Some('+') => "+",
            Some(' ') => " ",
            _ => "",
        }
    }
}

/// Python's `format(v, spec)` for an int.
pub fn format_int(v: &BigInt, spec: &str) -> Result<String, PyErr> {
    if spec.is_empty() {
        return int_to_decimal(v);
    }
    let f = FormatSpec::parse_for(spec, Some('d'), "int")?;
    let ty = f.ty.unwrap_or('d');
    match ty {
        'b' | 'c' | 'd' | 'o' | 'x' | 'X' | 'n' => {}
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | '%' => {
            let x = crate::text::int::bigint_to_f64(v)?;
            return format_float_spec(x, &f);
        }
        other => return Err(unknown_code(other, "int")),
    }
    if f.precision.is_some() {
        return Err(PyErr::value(
            "Precision not allowed in integer format specifier",
        ));
    }
    if f.no_neg_0 {
        return Err(PyErr::value(
            "Negative zero coercion (z) not allowed in integer format specifier",
        ));
    }
    let (fill, align) = f.fill_align('>');
    let width = f.width.unwrap_or(0);
    if ty == 'c' {
        if f.sign.is_some() {
            return Err(PyErr::value(
                "Sign not allowed with integer format specifier 'c'",
            ));
        }
        if f.alternate {
            return Err(PyErr::value(
                "Alternate form (#) not allowed with integer format specifier 'c'",
            ));
        }
        if i64::try_from(v).is_err() {
            return Err(PyErr::new(
                "OverflowError",
                "Python int too large to convert to C long",
            ));
        }
        let code = u32::try_from(v)
            .ok()
            .filter(|&c| c < 0x110000)
            .ok_or_else(|| PyErr::new("OverflowError", "%c arg not in range(0x110000)"))?;
        let ch = char::from_u32(code)
            .ok_or_else(|| PyErr::value("surrogate characters are not supported"))?;
        return render_number(fill, align, width, "", "", &[], &ch.to_string(), None);
    }
    let (radix, prefix, group) = match ty {
        'b' => (2, "0b", 4),
        'o' => (8, "0o", 4),
        'x' => (16, "0x", 4),
        'X' => (16, "0X", 4),
        _ => (10, "", 3),
    };
    let mag = v.abs();
    let mut digits = mag.to_str_radix(radix).into_bytes();
    if radix == 10 && digits.len() > crate::text::int::MAX_STR_DIGITS {
        return Err(str_digits_err());
    }
    if ty == 'X' {
        digits.make_ascii_uppercase();
    }
    let prefix = if f.alternate { prefix } else { "" };
    let sep = f.grouping.map(|g| (g, group));
    render_number(
        fill,
        align,
        width,
        sign_str(v.is_negative(), f.sign),
        prefix,
        &digits,
        "",
        sep,
    )
}

fn str_digits_err() -> PyErr {
    PyErr::value(
        "Exceeds the limit (4300 digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit",
    )
}

/// Python's `str(int)` (with the 4300-digit limit).
pub fn int_to_decimal(v: &BigInt) -> Result<String, PyErr> {
    let s = v.to_string();
    let nd = s.len() - usize::from(v.is_negative());
    if nd > crate::text::int::MAX_STR_DIGITS {
        return Err(str_digits_err());
    }
    Ok(s)
}

/// Python's `format(v, spec)` for a float.
pub fn format_float(v: f64, spec: &str) -> Result<String, PyErr> {
    if spec.is_empty() {
        return Ok(crate::text::float::float_repr(v));
    }
    let f = FormatSpec::parse_for(spec, None, "float")?;
    format_float_spec(v, &f)
}

/// Format the magnitude of a finite float; returns the body without sign.
fn float_body(
    x: f64,
    ty: char,
    precision: usize,
    alt: bool,
    add_dot_0: bool,
) -> Result<String, PyErr> {
    let upper = matches!(ty, 'E' | 'F' | 'G');
    let a = x.abs();
    Ok(match ty {
        'f' | 'F' => {
            let mut s = format!("{:.*}", precision, a);
            if precision == 0 && alt {
                s.push('.');
            }
            s
        }
        'e' | 'E' => {
            let (d, decpt) = sig_digits(a, precision + 1);
            layout(&d, decpt, true, precision as i64 + 1, false, alt, upper)
        }
        'g' | 'G' => {
            let p = precision.max(1);
            let (mut d, decpt) = sig_digits(a, p);
            while d.len() > 1 && d.last() == Some(&b'0') {
                d.pop();
            }
            let limit = if add_dot_0 { p as i64 - 1 } else { p as i64 };
            let use_exp = decpt <= -4 || decpt as i64 > limit;
            let min = if alt { p as i64 } else { 0 };
            layout(&d, decpt, use_exp, min, add_dot_0, alt, upper)
        }
        _ => {
            // 'r': repr-style shortest digits.
            let (d, decpt) = shortest_digits(a);
            let use_exp = !(-4 < decpt && decpt <= 16);
            layout(&d, decpt, use_exp, 0, add_dot_0, alt, false)
        }
    })
}

fn format_float_spec(v: f64, f: &FormatSpec) -> Result<String, PyErr> {
    let mut ty = f.ty.unwrap_or('\0');
    let mut add_dot_0 = false;
    let mut default_precision = 6;
    match ty {
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 'n' | '%' => {}
        '\0' => {
            add_dot_0 = true;
            ty = 'r';
            default_precision = 0;
        }
        other => return Err(unknown_code(other, "float")),
    }
    if ty == 'n' {
        ty = 'g';
    }
    let mut val = v;
    let mut add_pct = false;
    if ty == '%' {
        ty = 'f';
        val *= 100.0;
        add_pct = true;
    }
    let precision = match f.precision {
        None => default_precision,
        Some(p) => {
            if ty == 'r' {
                ty = 'g';
            }
            p
        }
    };
    if precision > i32::MAX as usize {
        return Err(PyErr::value("precision too big"));
    }
    let upper = matches!(ty, 'E' | 'F' | 'G');
    let mut body = if val.is_nan() {
        if upper { "NAN" } else { "nan" }.to_string()
    } else if val.is_infinite() {
        if upper { "INF" } else { "inf" }.to_string()
    } else {
        check_len(precision.saturating_add(400))?;
        if matches!(ty, 'f' | 'F') {
            check_len(precision.saturating_add(320))?;
        }
        float_body(val, ty, precision, f.alternate, add_dot_0)?
    };
    let mut negative = val.is_sign_negative() && !val.is_nan();
    if negative && f.no_neg_0 {
        let mant = body.split(['e', 'E']).next().unwrap_or("");
        if mant.bytes().all(|b| b == b'0' || b == b'.') {
            negative = false;
        }
    }
    if add_pct {
        body.push('%');
    }
    let (fill, align) = f.fill_align('>');
    let ndig = body.bytes().take_while(|b| b.is_ascii_digit()).count();
    let (digits, rem) = body.split_at(ndig);
    let sep = f.grouping.map(|g| (g, 3));
    render_number(
        fill,
        align,
        f.width.unwrap_or(0),
        sign_str(negative, f.sign),
        "",
        digits.as_bytes(),
        rem,
        sep,
    )
}

/// Python's `format(s, spec)` for a str.
pub fn format_str(s: &str, spec: &str) -> Result<String, PyErr> {
    if spec.is_empty() {
        return Ok(s.to_string());
    }
    let f = FormatSpec::parse_for(spec, Some('s'), "str")?;
    let ty = f.ty.unwrap_or('s');
    if ty != 's' {
        return Err(unknown_code(ty, "str"));
    }
    match f.sign {
        Some(' ') => {
            return Err(PyErr::value("Space not allowed in string format specifier"));
        }
        Some(_) => return Err(PyErr::value("Sign not allowed in string format specifier")),
        None => {}
    }
    if f.no_neg_0 {
        return Err(PyErr::value(
            "Negative zero coercion (z) not allowed in string format specifier",
        ));
    }
    if f.alternate {
        return Err(PyErr::value(
            "Alternate form (#) not allowed in string format specifier",
        ));
    }
    let (fill, align) = f.fill_align('<');
    if align == '=' {
        return Err(PyErr::value(
            "'=' alignment not allowed in string format specifier",
        ));
    }
    let width = f.width.unwrap_or(0);
    check_len(width)?;
    let (body, len) = match f.precision {
        Some(p) => {
            let t = match s.char_indices().nth(p) {
                Some((i, _)) => &s[..i],
                None => s,
            };
            (t, t.chars().count())
        }
        None => (s, s.chars().count()),
    };
    let pad = width.saturating_sub(len);
    let (l, r) = match align {
        '>' => (pad, 0),
        '^' => (pad / 2, pad - pad / 2),
        _ => (0, pad),
    };
    let mut out = String::with_capacity(body.len() + pad * fill.len_utf8());
    push_n(&mut out, fill, l);
    out.push_str(body);
    push_n(&mut out, fill, r);
    Ok(out)
}
