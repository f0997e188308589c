//! Property and stress tests: the parser never panics or overflows the stack, whatever
//! the input, and rejects over-deep nesting with the documented errors.

use gilsim::front::diagnostics::{render, SyntaxErrorKind};
use gilsim::front::parser::parse;
use proptest::prelude::*;

/// Runs `f` on a thread with a 2 MiB stack; a panic or stack overflow fails the test.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let h = std::thread::Builder::new().stack_size(2 << 20).spawn(f);
    match h.map(|h| h.join()) {
        Ok(Ok(v)) => v,
        _ => panic!("parser thread failed"),
    }
}

fn check_no_panic(src: String) {
    small_stack(move || {
        if let Err(e) = parse(&src) {
            let text = render(&e, "fuzz.toy", &src);
            assert!(text.ends_with('\n'));
            assert!(e.line >= 1 || e.kind == SyntaxErrorKind::TooDeep);
        }
    });
}

const PIECES: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "match",
    "x",
    "y",
    "f",
    "1",
    "0x1f",
    "1.5",
    "1e9",
    "'s'",
    "\"t\"",
    "f'{x}'",
    "f'{x!r:>{w}}'",
    "'''",
    "\"\"\"",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ";",
    ".",
    "...",
    "=",
    "==",
    "+",
    "-",
    "*",
    "**",
    "/",
    "//",
    "%",
    "@",
    "|",
    "&",
    "^",
    "~",
    "<<",
    ">>",
    "<",
    ">",
    "<=",
    ">=",
    "!=",
    "->",
    ":=",
    "+=",
    "**=",
    "\\",
    "#",
    "\n",
    "\n    ",
    "\n\t",
    "\r\n",
    "\r",
    " ",
    "€",
    "\0",
    "é",
    "_",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((0..PIECES.len(), prop::bool::ANY), 0..60).prop_map(|v| {
        let mut s = String::new();
        for (i, space) in v {
            s.push_str(PIECES[i]);
            if space {
                s.push(' ');
            }
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        check_no_panic(s);
    }

    #[test]
    fn ascii_soup_never_panics(s in "[ -~\t\n\r]{0,80}") {
        check_no_panic(s);
    }

    #[test]
    fn token_soup_never_panics(s in token_soup()) {
        check_no_panic(s);
    }

    #[test]
    fn deep_bracket_soup_never_overflows(opens in prop::collection::vec(0usize..8, 0..400)) {
        let openers = ["(", "[", "{", "f(", "a[", "-(", "lambda: (", "not ("];
        let closers = [")", "]", "}", ")", "]", ")", ")", ")"];
        let mut s = String::from("x = ");
        for &o in &opens {
            s.push_str(openers[o]);
        }
        s.push('1');
        for &o in opens.iter().rev() {
            s.push_str(closers[o]);
        }
        check_no_panic(s);
    }
}

fn err_of(src: String) -> Option<(SyntaxErrorKind, String)> {
    small_stack(move || parse(&src).err().map(|e| (e.kind, e.msg)))
}

#[test]
fn five_thousand_nested_parens() {
    let src = format!("x = {}1{}\n", "(".repeat(5000), ")".repeat(5000));
    assert_eq!(
        err_of(src),
        Some((
            SyntaxErrorKind::Syntax,
            "too many nested parentheses".to_string()
        ))
    );
}

#[test]
fn thousand_nested_lists() {
    let src = format!("x = {}{}\n", "[".repeat(1000), "]".repeat(1000));
    assert_eq!(
        err_of(src),
        Some((
            SyntaxErrorKind::Syntax,
            "too many nested parentheses".to_string()
        ))
    );
}

#[test]
fn two_hundred_thousand_terms() {
    let src = format!("x = 1{}\n", "+1".repeat(199_999));
    assert_eq!(err_of(src).map(|e| e.0), Some(SyntaxErrorKind::TooDeep));
}

#[test]
fn long_flat_programs_are_fine() {
    let mut src = String::new();
    for k in 0..20_000 {
        src.push_str(&format!("v{} = [{}, 'a', f'{{v}}'] + g(k={})\n", k, k, k));
    }
    src.push_str(&format!("t = ({})\n", "1, ".repeat(50_000)));
    src.push_str(&format!("b = {}\n", "a and ".repeat(50_000) + "a"));
    assert_eq!(err_of(src), None);
}

#[test]
fn deep_nesting_everywhere_is_bounded() {
    let mut lines = Vec::new();
    lines.push(format!("x = {}x\n", "not ".repeat(100_000)));
    lines.push(format!("x = {}x\n", "- ".repeat(100_000)));
    lines.push(format!("x = a{}\n", ".b".repeat(100_000)));
    lines.push(format!("x = f{}\n", "()".repeat(100_000)));
    lines.push(format!("x = {}x\n", "lambda: ".repeat(100_000)));
    lines.push(format!(
        "x = {}0{}\n",
        "lambda a=".repeat(100_000),
        ":0".repeat(100_000)
    ));
    lines.push(format!("x = 2{}\n", " ** 2".repeat(100_000)));
    lines.push(format!("x = x{}\n", " if c else x".repeat(100_000)));
    let mut elifs = String::from("if a: pass\n");
    for _ in 0..20_000 {
        elifs.push_str("elif a: pass\n");
    }
    lines.push(elifs);
    for src in lines {
        let r = err_of(src);
        assert_eq!(r.map(|e| e.0), Some(SyntaxErrorKind::TooDeep));
    }
    // Same-quote f-string nesting ends the literal early: an ordinary syntax error.
    let f = format!("x = {}\n", "f'{".repeat(50) + &"}'".repeat(50));
    assert_eq!(err_of(f).map(|e| e.0), Some(SyntaxErrorKind::Syntax));
}
