//! Splitting an f-string literal into literal text and replacement fields
//! (`{expr!conv:spec}`, `{x=}`), parsing each embedded expression with the parser.

use super::{syntax, Parser, Res};
use crate::front::ast::{FPart, Pos};
use crate::front::diagnostics::{SyntaxError, SyntaxErrorKind};
use crate::front::lexer::{unescape, FStrTok};

/// Prefixes a syntax error from inside an f-string with `f-string: ` (as Python does).
pub(super) fn prefix(mut e: SyntaxError) -> SyntaxError {
    if e.kind == SyntaxErrorKind::Syntax && !e.msg.starts_with("f-string") {
        e.msg = format!("f-string: {}", e.msg);
    }
    e
}

/// Appends literal text, merging it with a preceding literal part.
pub(super) fn push_lit(parts: &mut Vec<FPart>, s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(FPart::Lit(prev)) = parts.last_mut() {
        prev.push_str(s);
    } else {
        parts.push(FPart::Lit(s.to_string()));
    }
}

struct Scan<'p> {
    parser: &'p Parser,
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    raw: bool,
    /// Where the whole literal starts (for escape errors).
    start: Pos,
}

/// Splits one f-string literal into parts. `start` is the position of the literal.
pub(super) fn parse_fstring(parser: &Parser, tok: &FStrTok, start: Pos) -> Res<Vec<FPart>> {
    let mut s = Scan {
        parser,
        chars: tok.body.chars().collect(),
        i: 0,
        line: tok.body_pos.line,
        col: tok.body_pos.col,
        raw: tok.raw,
        start,
    };
    let parts = s.parts(false, 0)?;
    if s.i < s.chars.len() {
        return Err(syntax("f-string: single '}' is not allowed", s.pos()));
    }
    Ok(parts)
}

impl Scan<'_> {
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

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.i += 1;
            if c == '\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
        }
    }

    fn flush(&self, lit: &mut String, parts: &mut Vec<FPart>) -> Res<()> {
        if !lit.is_empty() {
            let text = if self.raw {
                std::mem::take(lit)
            } else {
                unescape(lit, self.start)?
            };
            lit.clear();
            push_lit(parts, &text);
        }
        Ok(())
    }

    /// Literal text and fields up to the end of the body, or (in a format spec) up to
    /// the `}` closing the enclosing field, which is left unconsumed.
    fn parts(&mut self, in_spec: bool, nest: u32) -> Res<Vec<FPart>> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        while let Some(c) = self.peek() {
            if c == '{' {
                if self.peek_at(1) == Some('{') {
                    lit.push('{');
                    self.bump();
                    self.bump();
                    continue;
                }
                self.flush(&mut lit, &mut parts)?;
                self.bump();
                parts.push(self.field(nest)?);
                continue;
            }
            if c == '}' {
                if in_spec {
                    break;
                }
                if self.peek_at(1) == Some('}') {
                    lit.push('}');
                    self.bump();
                    self.bump();
                    continue;
                }
                return Err(syntax("f-string: single '}' is not allowed", self.pos()));
            }
            lit.push(c);
            self.bump();
        }
        self.flush(&mut lit, &mut parts)?;
        Ok(parts)
    }

    /// A replacement field; the opening `{` has been consumed.
    fn field(&mut self, nest: u32) -> Res<FPart> {
        if nest >= 2 {
            return Err(syntax(
                "f-string: expressions nested too deeply",
                self.pos(),
            ));
        }
        let expr_pos = self.pos();
        let start_i = self.i;
        let mut depth = 0usize;
        let mut quote: Option<(char, bool)> = None;
        let expecting = |s: &Self| syntax("f-string: expecting '}'", s.pos());
        loop {
            let c = match self.peek() {
                Some(c) => c,
                None => return Err(expecting(self)),
            };
            if let Some((q, triple)) = quote {
                if c == '\\' {
                    return Err(syntax(
                        "f-string expression part cannot include a backslash",
                        self.pos(),
                    ));
                }
                if c == q {
                    if !triple {
                        quote = None;
                    } else if self.peek_at(1) == Some(q) && self.peek_at(2) == Some(q) {
                        self.bump();
                        self.bump();
                        quote = None;
                    }
                }
                self.bump();
                continue;
            }
            match c {
                '\\' => {
                    return Err(syntax(
                        "f-string expression part cannot include a backslash",
                        self.pos(),
                    ))
                }
                '#' => {
                    return Err(syntax(
                        "f-string expression part cannot include '#'",
                        self.pos(),
                    ))
                }
                '\'' | '"' => {
                    let triple = self.peek_at(1) == Some(c) && self.peek_at(2) == Some(c);
                    if triple {
                        self.bump();
                        self.bump();
                    }
                    quote = Some((c, triple));
                }
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    if depth == 0 {
                        if c == '}' {
                            break;
                        }
                        return Err(syntax(format!("f-string: unmatched '{}'", c), self.pos()));
                    }
                    depth -= 1;
                }
                '!' if depth == 0 && self.peek_at(1) != Some('=') => break,
                ':' if depth == 0 => break,
                '=' if depth == 0 => {
                    let prev = self
                        .i
                        .checked_sub(1)
                        .and_then(|k| self.chars.get(k))
                        .copied();
                    let next = self.peek_at(1);
                    if next != Some('=') && !matches!(prev, Some('=' | '!' | '<' | '>')) {
                        break;
                    }
                }
                _ => {}
            }
            self.bump();
        }
        let text: String = self
            .chars
            .get(start_i..self.i)
            .unwrap_or(&[])
            .iter()
            .collect();
        if text.trim().is_empty() {
            return Err(syntax("f-string: empty expression not allowed", self.pos()));
        }
        let mut debug_text = None;
        if self.peek() == Some('=') {
            self.bump();
            while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\x0c')) {
                self.bump();
            }
            debug_text = Some(
                self.chars
                    .get(start_i..self.i)
                    .unwrap_or(&[])
                    .iter()
                    .collect(),
            );
        }
        let mut conversion = None;
        if self.peek() == Some('!') {
            self.bump();
            match self.peek() {
                Some(c @ ('r' | 's' | 'a')) => {
                    conversion = Some(c);
                    self.bump();
                }
                _ => {
                    return Err(syntax(
                        "f-string: invalid conversion character: expected 's', 'r', or 'a'",
                        self.pos(),
                    ))
                }
            }
        }
        let mut spec = Vec::new();
        if self.peek() == Some(':') {
            self.bump();
            spec = self.parts(true, nest + 1)?;
        }
        if self.peek() != Some('}') {
            return Err(expecting(self));
        }
        self.bump();
        let expr = self.parser.sub_expression(&text, expr_pos)?;
        Ok(FPart::Value {
            expr: Box::new(expr),
            conversion,
            spec,
            debug_text,
        })
    }
}
