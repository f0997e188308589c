//! The Toy tokenizer: turns source text into tokens, including the NEWLINE, INDENT and
//! DEDENT tokens that encode Python's indentation-based block structure.
//!
//! Plain string literals are fully decoded here; f-strings are handed to the parser as
//! their raw body (with the position of its first character) so that the parser can
//! split them into literal text and embedded expressions.

use crate::front::ast::Pos;
use crate::front::diagnostics::{SyntaxError, SyntaxErrorKind};

/// Maximum nesting of brackets, as in CPython's tokenizer.
pub const MAX_PAREN_DEPTH: usize = 200;
/// Maximum number of indentation levels, as in CPython's tokenizer.
pub const MAX_INDENT_LEVELS: usize = 100;

/// The keywords of Toy (those of Python 3.11).
pub const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Operators and delimiters, longest first so that the first match is the longest one.
const OPERATORS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "->", ":=", "**", "//", ">>", "<<", "<=", ">=", "==", "!=",
    "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", "+", "-", "*", "/", "%", "@", "&", "|",
    "^", "~", "<", ">", "(", ")", "[", "]", "{", "}", ",", ":", ";", ".", "=",
];

/// An f-string literal as found in the source, before the parser splits it up.
#[derive(Debug, Clone, PartialEq)]
pub struct FStrTok {
    /// The characters between the quotes, exactly as written.
    pub body: String,
    /// Whether the literal has an `r` prefix (no escape processing).
    pub raw: bool,
    /// Position of the first character of `body`.
    pub body_pos: Pos,
}

/// The kinds of token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Name(String),
    /// A keyword (one of [`KEYWORDS`]).
    Kw(&'static str),
    Int(i64),
    /// An integer literal too large for i64, as decimal digits.
    BigInt(String),
    Float(f64),
    /// A plain string literal, escapes decoded.
    Str(String),
    FStr(FStrTok),
    /// An operator or delimiter (one of the operator spellings).
    Op(&'static str),
    Newline,
    Indent,
    Dedent,
    EndMarker,
}

/// A token with the position of its first character and the position just after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
    pub end: Pos,
}

type Res<T> = Result<T, SyntaxError>;

fn err(msg: impl Into<String>, pos: Pos) -> SyntaxError {
    SyntaxError::syntax(msg, pos.line, pos.col)
}

/// Whether `c` may start an identifier.
pub fn is_id_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

/// Whether `c` may continue an identifier.
pub fn is_id_continue(c: char) -> bool {
    c == '_'
        || c.is_alphanumeric()
        // Common combining marks (Unicode category Mn), allowed after the first character.
        || matches!(c, '\u{300}'..='\u{36F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// The keyword spelled `s`, if it is one.
pub fn keyword(s: &str) -> Option<&'static str> {
    KEYWORDS.iter().copied().find(|k| *k == s)
}

/// Converts source text to chars with every `\r\n` and lone `\r` turned into `\n`.
fn normalize(src: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(src.len());
    let mut it = src.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\r' {
            if it.peek() == Some(&'\n') {
                it.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    toks: Vec<Token>,
    parens: Vec<(char, Pos)>,
    /// Indentation stack: (column with tabs to multiples of 8, column with tabs as 1).
    indents: Vec<(u32, u32)>,
    at_line_start: bool,
    line_has_tokens: bool,
    /// Lexing an f-string replacement field: no indentation, newlines ignored.
    fmode: bool,
}

/// Tokenizes a whole Toy module.
pub fn tokenize(src: &str) -> Result<Vec<Token>, SyntaxError> {
    Lexer::new(normalize(src), Pos { line: 1, col: 1 }, false).run()
}

/// Tokenizes the expression part of an f-string replacement field, which starts at `start`
/// in the enclosing source. Newlines are ignored (as inside brackets) and no NEWLINE,
/// INDENT or DEDENT tokens are produced; the result ends with an `EndMarker`.
pub fn tokenize_expr(src: &str, start: Pos) -> Result<Vec<Token>, SyntaxError> {
    Lexer::new(normalize(src), start, true).run()
}

impl Lexer {
    fn new(chars: Vec<char>, start: Pos, fmode: bool) -> Self {
        Lexer {
            chars,
            i: 0,
            line: start.line,
            col: start.col,
            toks: Vec::new(),
            parens: Vec::new(),
            indents: vec![(0, 0)],
            at_line_start: !fmode,
            line_has_tokens: false,
            fmode,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn push(&mut self, tok: Tok, pos: Pos) {
        let end = self.pos();
        self.toks.push(Token { tok, pos, end });
        self.line_has_tokens = true;
    }

    fn run(mut self) -> Res<Vec<Token>> {
        loop {
            if self.at_line_start {
                self.at_line_start = false;
                if !self.indentation()? {
                    continue;
                }
            }
            let pos = self.pos();
            let c = match self.peek() {
                None => break,
                Some(c) => c,
            };
            match c {
                ' ' | '\t' | '\x0c' => {
                    self.bump();
                }
                '#' => {
                    if self.fmode {
                        return Err(err("f-string expression part cannot include '#'", pos));
                    }
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                '\n' => {
                    self.bump();
                    if self.parens.is_empty() && !self.fmode {
                        if self.line_has_tokens {
                            self.toks.push(Token {
                                tok: Tok::Newline,
                                pos,
                                end: pos,
                            });
                            self.line_has_tokens = false;
                        }
                        self.at_line_start = true;
                    }
                }
                '\\' => {
                    self.bump();
                    match self.peek() {
                        Some('\n') => {
                            self.bump();
                        }
                        None => return Err(err("unexpected EOF while parsing", self.pos())),
                        Some(_) => {
                            return Err(err(
                                "unexpected character after line continuation character",
                                self.pos(),
                            ))
                        }
                    }
                }
                '\0' => return Err(err("source code cannot contain null bytes", pos)),
                '0'..='9' => self.number(pos)?,
                '.' if matches!(self.peek_at(1), Some('0'..='9')) => self.number(pos)?,
                '\'' | '"' => self.string("", pos)?,
                c if is_id_start(c) => self.name(pos)?,
                _ => self.operator(pos, c)?,
            }
        }
        self.finish()
    }

    /// Handles the indentation at the start of a line. Returns false if the line was
    /// blank (or comment-only) and has been consumed entirely.
    fn indentation(&mut self) -> Res<bool> {
        let (mut col, mut alt) = (0u32, 0u32);
        loop {
            match self.peek() {
                Some(' ') => {
                    col += 1;
                    alt += 1;
                }
                Some('\t') => {
                    col = (col / 8 + 1) * 8;
                    alt += 1;
                }
                Some('\x0c') => {
                    col = 0;
                    alt = 0;
                }
                _ => break,
            }
            self.bump();
        }
        match self.peek() {
            None => return Ok(true),
            Some('#') | Some('\n') => {
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        break;
                    }
                }
                self.at_line_start = true;
                return Ok(false);
            }
            // A continuation line at the start: treat like any other token position.
            _ => {}
        }
        let pos = self.pos();
        let (top, alt_top) = self.indents.last().copied().unwrap_or((0, 0));
        let tab_error = || SyntaxError {
            kind: SyntaxErrorKind::Tab,
            msg: "inconsistent use of tabs and spaces in indentation".to_string(),
            line: pos.line,
            col: 1,
        };
        if col == top {
            if alt != alt_top {
                return Err(tab_error());
            }
        } else if col > top {
            if alt <= alt_top {
                return Err(tab_error());
            }
            if self.indents.len() >= MAX_INDENT_LEVELS {
                return Err(SyntaxError::indentation(
                    "too many levels of indentation",
                    pos.line,
                    pos.col,
                ));
            }
            self.indents.push((col, alt));
            self.toks.push(Token {
                tok: Tok::Indent,
                pos,
                end: pos,
            });
        } else {
            while self.indents.len() > 1 && col < self.indents.last().map_or(0, |t| t.0) {
                self.indents.pop();
                self.toks.push(Token {
                    tok: Tok::Dedent,
                    pos,
                    end: pos,
                });
            }
            let (top, alt_top) = self.indents.last().copied().unwrap_or((0, 0));
            if col != top {
                return Err(SyntaxError::indentation(
                    "unindent does not match any outer indentation level",
                    pos.line,
                    pos.col + 1,
                ));
            }
            if alt != alt_top {
                return Err(tab_error());
            }
        }
        Ok(true)
    }

    fn finish(mut self) -> Res<Vec<Token>> {
        if let Some(&(c, pos)) = self.parens.last() {
            return Err(err(format!("'{}' was never closed", c), pos));
        }
        let pos = self.pos();
        if !self.fmode {
            if self.line_has_tokens {
                self.toks.push(Token {
                    tok: Tok::Newline,
                    pos,
                    end: pos,
                });
            }
            while self.indents.len() > 1 {
                self.indents.pop();
                self.toks.push(Token {
                    tok: Tok::Dedent,
                    pos,
                    end: pos,
                });
            }
        }
        self.toks.push(Token {
            tok: Tok::EndMarker,
            pos,
            end: pos,
        });
        Ok(self.toks)
    }

    fn name(&mut self, pos: Pos) -> Res<()> {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if !is_id_continue(c) {
                break;
            }
            s.push(c);
            self.bump();
        }
        if matches!(self.peek(), Some('\'') | Some('"')) {
            let lower = s.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "r" | "u" | "b" | "br" | "rb" | "f" | "fr" | "rf"
            ) {
                return self.string(&lower, pos);
            }
        }
        match keyword(&s) {
            Some(k) => self.push(Tok::Kw(k), pos),
            None => self.push(Tok::Name(s), pos),
        }
        Ok(())
    }

    fn operator(&mut self, pos: Pos, c: char) -> Res<()> {
        let op = OPERATORS.iter().copied().find(|op| {
            op.chars()
                .enumerate()
                .all(|(k, oc)| self.peek_at(k) == Some(oc))
        });
        let op = match op {
            Some(op) => op,
            None => {
                if c.is_ascii() {
                    if c.is_ascii_control() {
                        return Err(err(
                            format!("invalid non-printable character U+{:04X}", c as u32),
                            pos,
                        ));
                    }
                    return Err(err("invalid syntax", pos));
                }
                return Err(err(
                    format!("invalid character '{}' (U+{:04X})", c, c as u32),
                    pos,
                ));
            }
        };
        for _ in 0..op.chars().count() {
            self.bump();
        }
        match op {
            "(" | "[" | "{" => {
                if self.parens.len() >= MAX_PAREN_DEPTH {
                    return Err(err("too many nested parentheses", pos));
                }
                self.parens.push((c, pos));
            }
            ")" | "]" | "}" => match self.parens.pop() {
                None => return Err(err(format!("unmatched '{}'", c), pos)),
                Some((open, open_pos)) => {
                    let expected = match open {
                        '(' => ')',
                        '[' => ']',
                        _ => '}',
                    };
                    if expected != c {
                        let msg = if open_pos.line != pos.line {
                            format!(
                                "closing parenthesis '{}' does not match opening parenthesis '{}' on line {}",
                                c, open, open_pos.line
                            )
                        } else {
                            format!(
                                "closing parenthesis '{}' does not match opening parenthesis '{}'",
                                c, open
                            )
                        };
                        return Err(err(msg, pos));
                    }
                }
            },
            _ => {}
        }
        self.push(Tok::Op(op), pos);
        Ok(())
    }

    /// Reads a run of digits accepted by `ok`, with single underscores between digits.
    fn digits(&mut self, out: &mut String, ok: fn(char) -> bool) -> Res<()> {
        loop {
            match self.peek() {
                Some(c) if ok(c) => {
                    out.push(c);
                    self.bump();
                }
                Some('_') if matches!(self.peek_at(1), Some(d) if ok(d)) => {
                    self.bump();
                }
                Some('_') => return Err(err("invalid decimal literal", self.pos())),
                _ => return Ok(()),
            }
        }
    }

    /// Rejects a number that runs straight into an identifier character.
    fn check_number_end(&mut self, start: Pos, kind: &str) -> Res<()> {
        match self.peek() {
            Some('j') | Some('J') => Err(err("imaginary literals are not supported in Toy", start)),
            Some(c) if is_id_continue(c) => Err(err(format!("invalid {} literal", kind), start)),
            _ => Ok(()),
        }
    }

    fn number(&mut self, pos: Pos) -> Res<()> {
        if self.peek() == Some('0') {
            let radix = match self.peek_at(1) {
                Some('x') | Some('X') => Some((16, "hexadecimal")),
                Some('o') | Some('O') => Some((8, "octal")),
                Some('b') | Some('B') => Some((2, "binary")),
                _ => None,
            };
            if let Some((radix, kind)) = radix {
                self.bump();
                self.bump();
                if self.peek() == Some('_') {
                    self.bump();
                }
                let mut s = String::new();
                let ok: fn(char) -> bool = match radix {
                    16 => |c| c.is_ascii_hexdigit(),
                    8 => |c| matches!(c, '0'..='7'),
                    _ => |c| matches!(c, '0' | '1'),
                };
                self.digits(&mut s, ok)
                    .map_err(|e| err(format!("invalid {} literal", kind), e_pos(&e)))?;
                if s.is_empty() || matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                    return Err(err(format!("invalid {} literal", kind), self.pos()));
                }
                self.check_number_end(pos, kind)?;
                let tok = int_token(&s, radix);
                self.push(tok, pos);
                return Ok(());
            }
        }
        let mut s = String::new();
        let dec: fn(char) -> bool = |c| c.is_ascii_digit();
        self.digits(&mut s, dec)?;
        let mut is_float = false;
        if self.peek() == Some('.') {
            is_float = true;
            s.push('.');
            self.bump();
            if matches!(self.peek(), Some('0'..='9')) {
                self.digits(&mut s, dec)?;
            }
        }
        if matches!(self.peek(), Some('e') | Some('E')) {
            let sign = matches!(self.peek_at(1), Some('+') | Some('-'));
            let digit_at = if sign { 2 } else { 1 };
            if matches!(self.peek_at(digit_at), Some('0'..='9')) {
                is_float = true;
                s.push('e');
                self.bump();
                if sign {
                    if let Some(c) = self.bump() {
                        s.push(c);
                    }
                }
                self.digits(&mut s, dec)?;
            } else {
                return Err(err("invalid decimal literal", pos));
            }
        }
        self.check_number_end(pos, "decimal")?;
        if is_float {
            let v: f64 = s.parse().map_err(|_| err("invalid decimal literal", pos))?;
            self.push(Tok::Float(v), pos);
        } else {
            if s.len() > 1 && s.starts_with('0') && s.chars().any(|c| c != '0') {
                return Err(err(
                    "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers",
                    pos,
                ));
            }
            let tok = int_token(&s, 10);
            self.push(tok, pos);
        }
        Ok(())
    }

    fn string(&mut self, prefix: &str, pos: Pos) -> Res<()> {
        let quote = match self.bump() {
            Some(q) => q,
            None => return Err(err("invalid syntax", pos)),
        };
        let triple = self.peek() == Some(quote) && self.peek_at(1) == Some(quote);
        if triple {
            self.bump();
            self.bump();
        }
        let body_pos = self.pos();
        let mut body = String::new();
        loop {
            let c = match self.peek() {
                Some(c) => c,
                None => {
                    // Python reports the last line of the file (a final newline does not
                    // start a new line).
                    let last = if self.chars.last() == Some(&'\n') {
                        self.line.saturating_sub(1).max(1)
                    } else {
                        self.line
                    };
                    let msg = if triple {
                        format!(
                            "unterminated triple-quoted string literal (detected at line {})",
                            last
                        )
                    } else {
                        format!("unterminated string literal (detected at line {})", last)
                    };
                    return Err(err(msg, pos));
                }
            };
            if c == '\n' && !triple {
                return Err(err(
                    format!(
                        "unterminated string literal (detected at line {})",
                        self.line
                    ),
                    pos,
                ));
            }
            if c == quote {
                if !triple {
                    self.bump();
                    break;
                }
                if self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote) {
                    self.bump();
                    self.bump();
                    self.bump();
                    break;
                }
            }
            self.bump();
            body.push(c);
            if c == '\\' {
                match self.peek() {
                    Some('\n') if !triple => {
                        self.bump();
                        body.push('\n');
                    }
                    Some(d) if d != '\n' => {
                        self.bump();
                        body.push(d);
                    }
                    _ => {}
                }
            }
        }
        if prefix.contains('b') {
            return Err(err("bytes literals are not supported in Toy", pos));
        }
        let raw = prefix.contains('r');
        if prefix.contains('f') {
            self.push(
                Tok::FStr(FStrTok {
                    body,
                    raw,
                    body_pos,
                }),
                pos,
            );
        } else {
            let value = if raw { body } else { unescape(&body, pos)? };
            self.push(Tok::Str(value), pos);
        }
        Ok(())
    }
}

fn e_pos(e: &SyntaxError) -> Pos {
    Pos {
        line: e.line,
        col: e.col,
    }
}

/// Makes an int token from digits in the given radix (digits already validated).
fn int_token(digits: &str, radix: u32) -> Tok {
    if let Ok(v) = i64::from_str_radix(digits, radix) {
        return Tok::Int(v);
    }
    Tok::BigInt(to_decimal(digits, radix))
}

/// Converts validated digits in `radix` to decimal digits (no leading zeros).
pub fn to_decimal(digits: &str, radix: u32) -> String {
    // Little-endian limbs in base 10^9.
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u32> = vec![0];
    for c in digits.chars() {
        let d = match c.to_digit(radix) {
            Some(d) => d as u64,
            None => continue,
        };
        let mut carry = d;
        for limb in limbs.iter_mut() {
            let v = *limb as u64 * radix as u64 + carry;
            *limb = (v % BASE) as u32;
            carry = v / BASE;
        }
        while carry > 0 {
            limbs.push((carry % BASE) as u32);
            carry /= BASE;
        }
    }
    let mut out = String::new();
    for (k, limb) in limbs.iter().rev().enumerate() {
        if k == 0 {
            out.push_str(&limb.to_string());
        } else {
            out.push_str(&format!("{:09}", limb));
        }
    }
    out
}

/// Decodes the backslash escapes of a (non-raw) string literal body. `pos` is where the
/// literal starts, used for errors.
pub fn unescape(body: &str, pos: Pos) -> Result<String, SyntaxError> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = match chars.get(i) {
            Some(&e) => e,
            None => {
                out.push('\\');
                break;
            }
        };
        i += 1;
        match e {
            '\n' => {}
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '0'..='7' => {
                let mut v = e as u32 - '0' as u32;
                for _ in 0..2 {
                    match chars.get(i) {
                        Some(&d @ '0'..='7') => {
                            v = v * 8 + (d as u32 - '0' as u32);
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v: u32 = 0;
                for k in 0..n {
                    match chars.get(i + k).and_then(|d| d.to_digit(16)) {
                        Some(d) => v = v.wrapping_mul(16).wrapping_add(d),
                        None => {
                            let what = match e {
                                'x' => "\\xXX",
                                'u' => "\\uXXXX",
                                _ => "\\UXXXXXXXX",
                            };
                            return Err(err(
                                format!("(unicode error) 'unicodeescape' codec can't decode bytes in position 0-{}: truncated {} escape", k + 1, what),
                                pos,
                            ));
                        }
                    }
                }
                i += n;
                match char::from_u32(v) {
                    Some(ch) => out.push(ch),
                    None => {
                        return Err(err(
                            format!("(unicode error) 'unicodeescape' codec can't decode bytes in position 0-{}: illegal Unicode character", n + 1),
                            pos,
                        ))
                    }
                }
            }
            'N' => return Err(err("\\N{...} escapes are not supported in Toy", pos)),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        match tokenize(src) {
            Ok(t) => t.into_iter().map(|t| t.tok).collect(),
            Err(e) => panic!("lex error {:?}", e),
        }
    }

    fn lex_err(src: &str) -> (String, u32, u32) {
        match tokenize(src) {
            Ok(t) => panic!("expected error, got {:?}", t),
            Err(e) => (e.msg, e.line, e.col),
        }
    }

    fn name(s: &str) -> Tok {
        Tok::Name(s.to_string())
    }

    #[test]
    fn indent_and_dedent() {
        let t = toks("if x:\n    y\n\n  # c\n    z\nw\n");
        assert_eq!(
            t,
            vec![
                Tok::Kw("if"),
                name("x"),
                Tok::Op(":"),
                Tok::Newline,
                Tok::Indent,
                name("y"),
                Tok::Newline,
                name("z"),
                Tok::Newline,
                Tok::Dedent,
                name("w"),
                Tok::Newline,
                Tok::EndMarker
            ]
        );
    }

    #[test]
    fn dedents_at_eof_and_no_trailing_newline() {
        let t = toks("if a:\n  if b:\n    c");
        assert_eq!(
            &t[t.len() - 4..],
            &[Tok::Newline, Tok::Dedent, Tok::Dedent, Tok::EndMarker]
        );
    }

    #[test]
    fn crlf_and_lone_cr_and_joining() {
        let t = toks("a = (1,\r\n 2)\rb = \\\n 3\r\n");
        assert_eq!(
            t,
            vec![
                name("a"),
                Tok::Op("="),
                Tok::Op("("),
                Tok::Int(1),
                Tok::Op(","),
                Tok::Int(2),
                Tok::Op(")"),
                Tok::Newline,
                name("b"),
                Tok::Op("="),
                Tok::Int(3),
                Tok::Newline,
                Tok::EndMarker
            ]
        );
    }

    #[test]
    fn tabs_count_to_multiples_of_eight() {
        let t = toks("if x:\n\ty\n\tz\nw\n");
        assert_eq!(t.iter().filter(|t| **t == Tok::Indent).count(), 1);
        assert_eq!(t.iter().filter(|t| **t == Tok::Dedent).count(), 1);
        assert!(tokenize("if x:\n  \ty\n  \tz\n").is_ok());
        for bad in [
            "if x:\n\ty\n        z\n",
            "if x:\n        y\n\tz\n",
            "if x:\n    \ty\n\tz\n",
        ] {
            let e = tokenize(bad).unwrap_err();
            assert_eq!(e.kind, SyntaxErrorKind::Tab);
            assert_eq!((e.line, e.col), (3, 1));
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(
            toks("1_000 0x_ff 0o17 0b101 1.5 .5 1. 1e10 1.5E-3 1_0.2_5"),
            vec![
                Tok::Int(1000),
                Tok::Int(255),
                Tok::Int(15),
                Tok::Int(5),
                Tok::Float(1.5),
                Tok::Float(0.5),
                Tok::Float(1.0),
                Tok::Float(1e10),
                Tok::Float(1.5e-3),
                Tok::Float(10.25),
                Tok::Newline,
                Tok::EndMarker
            ]
        );
        assert_eq!(toks("9223372036854775807")[0], Tok::Int(i64::MAX));
        assert_eq!(
            toks("9223372036854775808")[0],
            Tok::BigInt("9223372036854775808".into())
        );
        assert_eq!(
            toks("0xffffffffffffffffffff")[0],
            Tok::BigInt("1208925819614629174706175".into())
        );
        assert_eq!(
            toks("0b1_0000000000000000000000000000000000000000000000000000000000000000")[0],
            Tok::BigInt("18446744073709551616".into())
        );
        assert_eq!(toks("00")[0], Tok::Int(0));
        assert_eq!(lex_err("x = 1abc").0, "invalid decimal literal");
        assert_eq!(lex_err("x = 1_"), ("invalid decimal literal".into(), 1, 6));
        assert_eq!(
            lex_err("1j").0,
            "imaginary literals are not supported in Toy"
        );
        assert_eq!(lex_err("0x").0, "invalid hexadecimal literal");
        assert_eq!(lex_err("0b102").0, "invalid binary literal");
        assert!(lex_err("0123").0.starts_with("leading zeros"));
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            toks(
                r#"'a\n\t\\\'\"' "\x41\u00e9\U0001F600\101\0" r'\n' 'q\d' '''x
y'''"#
            ),
            vec![
                Tok::Str("a\n\t\\'\"".into()),
                Tok::Str("Aé😀A\0".into()),
                Tok::Str("\\n".into()),
                Tok::Str("q\\d".into()),
                Tok::Str("x\ny".into()),
                Tok::Newline,
                Tok::EndMarker
            ]
        );
        assert_eq!(toks("'a\\\nb'")[0], Tok::Str("ab".into()));
        assert_eq!(toks("u'x'")[0], Tok::Str("x".into()));
        assert_eq!(
            toks(r"'\a\b\f\v\r'")[0],
            Tok::Str("\x07\x08\x0c\x0b\r".into())
        );
        assert_eq!(
            lex_err("x = 'abc\n"),
            (
                "unterminated string literal (detected at line 1)".into(),
                1,
                5
            )
        );
        assert_eq!(
            lex_err("x = f'''abc\n\n"),
            (
                "unterminated triple-quoted string literal (detected at line 2)".into(),
                1,
                5
            )
        );
        assert_eq!(lex_err("b'x'").0, "bytes literals are not supported in Toy");
        assert!(lex_err("'\\x1'").0.contains("truncated \\xXX escape"));
        assert!(lex_err("'\\N{DASH}'").0.contains("not supported"));
    }

    #[test]
    fn fstring_token_keeps_raw_body() {
        let t = tokenize("x = f'{a}\\n'").unwrap_or_default();
        assert_eq!(
            t[2].tok,
            Tok::FStr(FStrTok {
                body: "{a}\\n".into(),
                raw: false,
                body_pos: Pos { line: 1, col: 7 }
            })
        );
        assert!(matches!(&toks("rf'{x}'")[0], Tok::FStr(f) if f.raw));
    }

    #[test]
    fn bracket_errors() {
        assert_eq!(lex_err("x = (1 +\n"), ("'(' was never closed".into(), 1, 5));
        assert_eq!(lex_err("x = )"), ("unmatched ')'".into(), 1, 5));
        assert_eq!(
            lex_err("x = (]"),
            (
                "closing parenthesis ']' does not match opening parenthesis '('".into(),
                1,
                6
            )
        );
        assert_eq!(
            lex_err("x = (\n]"),
            (
                "closing parenthesis ']' does not match opening parenthesis '(' on line 1".into(),
                2,
                1
            )
        );
        let deep = "(".repeat(201);
        assert_eq!(
            lex_err(&deep),
            ("too many nested parentheses".into(), 1, 201)
        );
    }

    #[test]
    fn misc_errors() {
        assert_eq!(
            lex_err("a € b"),
            ("invalid character '€' (U+20AC)".into(), 1, 3)
        );
        assert_eq!(lex_err("a ? b").0, "invalid syntax");
        assert_eq!(
            lex_err("x \\ y").0,
            "unexpected character after line continuation character"
        );
        assert_eq!(lex_err("x = \\").0, "unexpected EOF while parsing");
        assert_eq!(lex_err("x = \0").0, "source code cannot contain null bytes");
        assert_eq!(
            lex_err("if 1:\n    a\n  b\n"),
            (
                "unindent does not match any outer indentation level".into(),
                3,
                4
            )
        );
        let mut deep = String::new();
        for k in 0..101 {
            deep.push_str(&" ".repeat(k));
            deep.push_str("if x:\n");
        }
        assert_eq!(lex_err(&deep).0, "too many levels of indentation");
    }

    #[test]
    fn non_ascii_identifiers() {
        assert_eq!(toks("héllo = 1")[0], name("héllo"));
        assert_eq!(toks("x\u{301} = 1")[0], name("x\u{301}"));
        assert_eq!(
            lex_err("\u{301}x").0,
            "invalid character '\u{301}' (U+0301)"
        );
    }
}
