//! Property tests: round-tripping, and never panicking on arbitrary input.

use gilsim::text::float::*;
use gilsim::text::format::*;
use gilsim::text::int::*;
use gilsim::text::strings::*;
use num_bigint::BigInt;
use proptest::prelude::*;

fn spec_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[<>=^*0 +\\-z#,_.0-9a-zA-Z%é]{0,8}",
        "\\PC{0,6}",
        "(.?[<>=^])?[+\\- ]?z?#?0?[0-9]{0,3}[,_]?(\\.[0-9]{0,3})?[a-zA-Z%]?",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn repr_round_trips(bits in any::<u64>()) {
        let x = f64::from_bits(bits);
        prop_assume!(x.is_finite());
        let r = float_repr(x);
        let back: f64 = r.parse().expect("repr parses");
        prop_assert_eq!(back.to_bits(), x.to_bits());
        prop_assert_eq!(parse_float(&r).expect("parse_float").to_bits(), x.to_bits());
    }

    #[test]
    fn format_never_panics(spec in spec_strategy(), bits in any::<u64>(), n in any::<i64>(), s in "\\PC{0,5}") {
        let _ = format_float(f64::from_bits(bits), &spec);
        let _ = format_int(&BigInt::from(n), &spec);
        let _ = format_str(&s, &spec);
        let _ = FormatSpec::parse(&spec);
    }

    #[test]
    fn slice_indices_never_panics(len in 0i64..1000, a in any::<Option<i64>>(), b in any::<Option<i64>>(), c in any::<Option<i64>>()) {
        if let Ok((st, sp, stp, n)) = slice_indices(len, a, b, c) {
            prop_assert!(n >= 0);
            let s: String = "abcdefghij".chars().cycle().take(len as usize).collect();
            prop_assert_eq!(char_slice(&s, st, sp, stp).chars().count() as i64, n);
        }
        let _ = slice_indices(i64::MAX, a, b, c);
    }

    #[test]
    fn string_ops_never_panic(s in "\\PC{0,12}", sub in "\\PC{0,3}", a in any::<Option<i64>>(), b in any::<Option<i64>>(), m in -3i64..5) {
        let _ = find(&s, &sub, a, b);
        let _ = rfind(&s, &sub, a, b);
        let _ = count(&s, &sub, a, b);
        let _ = startswith(&s, &sub, a, b);
        let _ = endswith(&s, &sub, a, b);
        let _ = split_whitespace(&s, m);
        let _ = rsplit_whitespace(&s, m);
        let _ = split_sep(&s, &sub, m);
        let _ = rsplit_sep(&s, &sub, m);
        let _ = replace(&s, &sub, "xy", m);
        let _ = parse_float(&s);
        let _ = parse_int(&s, (m + 3) as u32 * 5);
        let _ = str_repr(&s);
        let _ = zfill(&s, m * 4);
        let _ = center(&s, a.unwrap_or(0).clamp(-5, 40), '*');
        let _ = expandtabs(&s, m);
    }

    #[test]
    fn true_div_matches_f64_for_small(a in -(1i64 << 53)..(1i64 << 53), b in 1i64..(1i64 << 53)) {
        let got = true_div(&BigInt::from(a), &BigInt::from(b)).expect("div");
        prop_assert_eq!(got.to_bits(), (a as f64 / b as f64).to_bits());
    }

    #[test]
    fn true_div_scaled_is_consistent(a in any::<i64>(), k in 0u32..200) {
        // (a * 2^k) / 2^k must equal float(a) exactly rounded.
        let big = BigInt::from(a) << k;
        let den = BigInt::from(1u8) << k;
        prop_assert_eq!(true_div(&big, &den).expect("div").to_bits(), (a as f64).to_bits());
        prop_assert_eq!(bigint_to_f64(&BigInt::from(a)).expect("conv").to_bits(), (a as f64).to_bits());
    }
}
