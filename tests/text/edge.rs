//! Hand-written edge cases (expected values checked against CPython 3.11).

use gilsim::text::float::*;
use gilsim::text::format::*;
use gilsim::text::int::*;
use gilsim::text::strings::*;
use gilsim::text::PyErr;
use num_bigint::BigInt;

fn err(kind: &'static str, msg: &str) -> PyErr {
    PyErr {
        kind,
        msg: msg.to_string(),
    }
}

#[test]
fn huge_widths() {
    let one = BigInt::from(1);
    assert_eq!(
        format_int(&one, "99999999999999999999d"),
        Err(err(
            "ValueError",
            "Too many decimal digits in format string"
        ))
    );
    assert_eq!(format_int(&one, "1000000000d"), Err(err("MemoryError", "")));
    assert_eq!(format_float(1.0, "1000000000"), Err(err("MemoryError", "")));
    assert_eq!(format_str("a", "1000000000"), Err(err("MemoryError", "")));
    assert_eq!(
        format_float(1.0, ".1000000000f"),
        Err(err("MemoryError", ""))
    );
    assert_eq!(
        format_float(1.0, ".2147483648f"),
        Err(err("ValueError", "precision too big"))
    );
    assert_eq!(
        format_str("abc", ".9223372036854775807"),
        Ok("abc".to_string())
    );
    assert_eq!(
        format_str("abc", ".9223372036854775808"),
        Err(err(
            "ValueError",
            "Too many decimal digits in format string"
        ))
    );
    assert_eq!(center("a", i64::MAX, ' '), Err(err("MemoryError", "")));
    assert_eq!(zfill("a", i64::MIN), Ok("a".to_string()));
}

#[test]
fn int_digit_limit() {
    let big = num_traits::pow(BigInt::from(10), 5000);
    let msg = "Exceeds the limit (4300 digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit";
    assert_eq!(format_int(&big, ""), Err(err("ValueError", msg)));
    assert_eq!(format_int(&big, "d"), Err(err("ValueError", msg)));
    assert!(format_int(&big, "x").is_ok());
}

#[test]
fn misc_format() {
    let f = |x: f64, s: &str| format_float(x, s).unwrap_or_else(|e| e.msg);
    assert_eq!(f(1234.5, "012,.1f"), "00,001,234.5");
    assert_eq!(f(f64::NAN, "+08"), "+0000nan");
    assert_eq!(f(-f64::NAN, "+"), "+nan");
    assert_eq!(f(f64::NEG_INFINITY, "E"), "-INF");
    assert_eq!(f(1e16, "#"), "1.e+16");
    assert_eq!(f(-1e-10, "z.3f"), "0.000");
    assert_eq!(
        format_int(&BigInt::from(1234), "010,"),
        Ok("00,001,234".to_string())
    );
    assert_eq!(
        format_int(&BigInt::from(0x1F600), "c"),
        Ok("\u{1F600}".to_string())
    );
    assert_eq!(format_str("ab", "05"), Ok("ab000".to_string()));
    let s = FormatSpec::parse("*^+#012,.3f").expect("parse");
    assert_eq!(
        (s.fill, s.align, s.sign, s.alternate, s.zero),
        ('*', Some('^'), Some('+'), true, false)
    );
    assert_eq!(
        (s.width, s.grouping, s.precision, s.ty),
        (Some(12), Some(','), Some(3), Some('f'))
    );
}

#[test]
fn float_misc() {
    assert_eq!(float_to_int_checked(-3.9), Ok(BigInt::from(-3)));
    assert_eq!(
        float_to_int_checked(1e20).map(|v| v.to_string()),
        Ok("100000000000000000000".into())
    );
    assert_eq!(
        float_to_int_checked(f64::NAN),
        Err(err("ValueError", "cannot convert float NaN to integer"))
    );
    assert_eq!(
        float_to_int_checked(f64::INFINITY),
        Err(err(
            "OverflowError",
            "cannot convert float infinity to integer"
        ))
    );
    assert_eq!(
        round_float(1.7976931348623157e308, -308),
        Err(err("OverflowError", "rounded value too large to represent"))
    );
    assert_eq!(
        parse_float("abc"),
        Err(err(
            "ValueError",
            "could not convert string to float: 'abc'"
        ))
    );
    assert_eq!(
        parse_int("1", 1),
        Err(err("ValueError", "int() base must be >= 2 and <= 36, or 0"))
    );
    assert_eq!(
        true_div(&BigInt::from(1), &BigInt::from(0)),
        Err(err("ZeroDivisionError", "division by zero"))
    );
}

#[test]
fn slice_extremes() {
    assert_eq!(
        slice_indices(5, None, None, Some(0)),
        Err(err("ValueError", "slice step cannot be zero"))
    );
    assert_eq!(slice_indices(5, None, None, Some(-1)), Ok((4, -1, -1, 5)));
    assert_eq!(
        slice_indices(i64::MAX, Some(i64::MIN), Some(i64::MAX), Some(1)).map(|t| t.3),
        Ok(i64::MAX)
    );
    assert_eq!(char_slice("héllo", 4, -1, -2), "olh");
}
