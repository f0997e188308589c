//! The Toy parser: a hand-written recursive-descent parser over the lexer's tokens that
//! builds an `ast::Module`.
//!
//! Operator expressions are parsed with an explicit operator stack (shunting-yard), and
//! chains such as `a.b.c`, `f()()`, `x if c else y if d else z`, nested lambdas and
//! `elif` ladders are built with loops, so the only recursion left is through brackets,
//! blocks, lambda defaults and f-strings. That recursion is bounded by a depth counter,
//! and the height of every tree built by a loop is measured, so no tree deeper than
//! [`MAX_DEPTH`] is ever returned (`SyntaxErrorKind::TooDeep` instead).

mod depth;
mod fstring;

use crate::front::ast::*;
use crate::front::diagnostics::SyntaxError;
use crate::front::lexer::{self, Tok, Token};

/// Maximum nesting of expressions/statements in the tree.
pub const MAX_DEPTH: usize = 1000;

type Res<T> = Result<T, SyntaxError>;

/// Parses a whole Toy module.
pub fn parse(src: &str) -> Result<Module, SyntaxError> {
    let toks = lexer::tokenize(src)?;
    let mut p = Parser::new(toks, 0, stack_addr());
    let body = p.file()?;
    depth::check_module(&body)?;
    Ok(Module { body })
}

// Binding powers of the operator levels, loosest first.
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const CMP: u8 = 4;
const BOR: u8 = 5;
const BXOR: u8 = 6;
const BAND: u8 = 7;
const SHIFT: u8 = 8;
const ARITH: u8 = 9;
const TERM: u8 = 10;
const UNARY: u8 = 11;
const POW: u8 = 12;
const AWAIT: u8 = 13;

/// A binary-position operator just read.
#[derive(Clone, Copy)]
enum InfixOp {
    Bool(BoolOp),
    Cmp(CmpOp),
    Bin(BinOp),
}

/// An operator waiting on the operator stack.
enum Pending {
    /// A prefix operator; `None` is `await`.
    Pre(Option<UnaryOp>, u8, Pos),
    Bin(BinOp, u8),
    /// A run of `n` same boolean operators (n + 1 operands).
    Bool(BoolOp, usize),
    /// A comparison chain.
    Cmp(Vec<CmpOp>),
}

impl Pending {
    fn bp(&self) -> u8 {
        match self {
            Pending::Pre(_, bp, _) | Pending::Bin(_, bp) => *bp,
            Pending::Bool(BoolOp::Or, _) => OR,
            Pending::Bool(BoolOp::And, _) => AND,
            Pending::Cmp(_) => CMP,
        }
    }
}

/// Where an assignment-like target appears, for validation messages.
#[derive(Clone, Copy, PartialEq)]
enum TargetCtx {
    /// The left of `=` (gets the "Maybe you meant '=='" hint at top level).
    Assign,
    /// `for` targets, `with ... as` targets, comprehension targets.
    Store,
    Del,
}

static END: Tok = Tok::EndMarker;

pub(crate) struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Current recursion depth (bounded by MAX_DEPTH).
    rec: usize,
    /// Address of a local in `parse`, to measure the native stack used since.
    stack_base: usize,
}

/// Recursion levels charged for parsing a lambda's parameter list.
const LAMBDA_COST: usize = 4;

/// Native stack the parser allows itself before giving up with `TooDeep`. Realistic
/// programs (even 199 nested brackets inside dozens of nested blocks) stay below it in
/// debug builds; it guarantees that no input can overflow a 2 MiB thread stack.
const STACK_BUDGET: usize = 1536 << 10;

/// An address on the current stack (the address of a local; no unsafe code involved).
fn stack_addr() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Bytes of native stack used between `base` and here (the stack may grow either way).
fn stack_used(base: usize) -> usize {
    base.abs_diff(stack_addr())
}

fn syntax(msg: impl Into<String>, pos: Pos) -> SyntaxError {
    SyntaxError::syntax(msg, pos.line, pos.col)
}

fn too_deep(pos: Pos) -> SyntaxError {
    SyntaxError::too_deep(pos.line, pos.col)
}

fn mk(kind: ExprKind, pos: Pos) -> Expr {
    Expr { kind, pos }
}

fn check_height(h: usize, pos: Pos) -> Res<()> {
    if h > MAX_DEPTH {
        Err(too_deep(pos))
    } else {
        Ok(())
    }
}

/// The name Python uses for an expression kind in error messages.
fn expr_name(e: &Expr) -> &'static str {
    match &e.kind {
        ExprKind::Attribute { .. } => "attribute",
        ExprKind::Subscript { .. } => "subscript",
        ExprKind::Starred(_) => "starred",
        ExprKind::Name(_) => "name",
        ExprKind::List(_) => "list",
        ExprKind::Tuple(_) => "tuple",
        ExprKind::Lambda { .. } => "lambda",
        ExprKind::Call { .. } => "function call",
        ExprKind::BoolOp { .. } | ExprKind::BinOp { .. } | ExprKind::UnaryOp { .. } => "expression",
        ExprKind::GeneratorExp { .. } => "generator expression",
        ExprKind::Yield(_) | ExprKind::YieldFrom(_) => "yield expression",
        ExprKind::Await(_) => "await expression",
        ExprKind::ListComp { .. } => "list comprehension",
        ExprKind::SetComp { .. } => "set comprehension",
        ExprKind::DictComp { .. } => "dict comprehension",
        ExprKind::Dict(_) => "dict literal",
        ExprKind::Set(_) => "set display",
        ExprKind::FString(_) => "f-string expression",
        ExprKind::NoneLit => "None",
        ExprKind::Bool(true) => "True",
        ExprKind::Bool(false) => "False",
        ExprKind::Ellipsis => "ellipsis",
        ExprKind::Int(_) | ExprKind::BigInt(_) | ExprKind::Float(_) | ExprKind::Str(_) => "literal",
        ExprKind::Compare { .. } => "comparison",
        ExprKind::IfExp { .. } => "conditional expression",
        ExprKind::NamedExpr { .. } => "named expression",
        ExprKind::Slice { .. } => "slice",
    }
}

fn walrus_error(e: &Expr) -> SyntaxError {
    syntax(
        format!("cannot use assignment expressions with {}", expr_name(e)),
        e.pos,
    )
}

/// Checks that `e` can be assigned to (or deleted).
fn check_target(e: &Expr, ctx: TargetCtx, top: bool) -> Res<()> {
    match &e.kind {
        ExprKind::Name(_) | ExprKind::Attribute { .. } | ExprKind::Subscript { .. } => Ok(()),
        ExprKind::Starred(inner) if ctx != TargetCtx::Del => check_target(inner, ctx, false),
        ExprKind::Tuple(items) | ExprKind::List(items) => {
            items.iter().try_for_each(|it| check_target(it, ctx, false))
        }
        _ => {
            let what = expr_name(e);
            let msg = match ctx {
                TargetCtx::Del => format!("cannot delete {}", what),
                _ if matches!(e.kind, ExprKind::NoneLit | ExprKind::Bool(_)) => {
                    format!("cannot assign to {}", what)
                }
                TargetCtx::Assign if top => {
                    format!(
                        "cannot assign to {} here. Maybe you meant '==' instead of '='?",
                        what
                    )
                }
                _ => format!("cannot assign to {}", what),
            };
            Err(syntax(msg, e.pos))
        }
    }
}

impl Parser {
    pub(crate) fn new(toks: Vec<Token>, rec: usize, stack_base: usize) -> Self {
        Parser {
            toks,
            i: 0,
            rec,
            stack_base,
        }
    }

    // ----- token helpers -------------------------------------------------------------

    fn tok(&self) -> &Tok {
        self.toks.get(self.i).map_or(&END, |t| &t.tok)
    }

    fn peek_tok(&self, k: usize) -> &Tok {
        self.toks.get(self.i + k).map_or(&END, |t| &t.tok)
    }

    fn pos(&self) -> Pos {
        self.toks
            .get(self.i)
            .or_else(|| self.toks.last())
            .map_or(Pos { line: 1, col: 1 }, |t| t.pos)
    }

    /// The position just after the previous token.
    fn prev_end(&self) -> Pos {
        match self.i.checked_sub(1).and_then(|k| self.toks.get(k)) {
            Some(t) => t.end,
            None => self.pos(),
        }
    }

    fn advance(&mut self) {
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.tok(), Tok::Op(o) if *o == op)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.tok(), Tok::Kw(k) if *k == kw)
    }

    fn is_newline(&self) -> bool {
        matches!(self.tok(), Tok::Newline)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let yes = self.is_op(op);
        if yes {
            self.advance();
        }
        yes
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.advance();
        }
        yes
    }

    fn expect_op(&mut self, op: &str) -> Res<()> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Res<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect_name(&mut self) -> Res<String> {
        match self.tok() {
            Tok::Name(n) => {
                let n = n.clone();
                self.advance();
                Ok(n)
            }
            _ => Err(self.unexpected()),
        }
    }

    /// `:` ending a compound statement header.
    fn colon(&mut self) -> Res<()> {
        if self.eat_op(":") {
            return Ok(());
        }
        if matches!(self.tok(), Tok::Newline | Tok::EndMarker | Tok::Kw(_)) {
            let p = self.prev_end();
            return Err(syntax("expected ':'", p));
        }
        Err(self.unexpected())
    }

    /// The error for an unexpected current token.
    fn unexpected(&self) -> SyntaxError {
        let pos = self.pos();
        match self.tok() {
            Tok::Indent => SyntaxError::indentation(
                "unexpected indent",
                pos.line,
                pos.col.saturating_sub(1).max(1),
            ),
            _ => syntax("invalid syntax", pos),
        }
    }

    /// Whether the current token can begin an expression.
    fn starts_expr(&self) -> bool {
        match self.tok() {
            Tok::Name(_)
            | Tok::Int(_)
            | Tok::BigInt(_)
            | Tok::Float(_)
            | Tok::Str(_)
            | Tok::FStr(_) => true,
            Tok::Kw(k) => matches!(*k, "True" | "False" | "None" | "not" | "lambda" | "await"),
            Tok::Op(o) => matches!(*o, "(" | "[" | "{" | "-" | "+" | "~" | "*" | "..."),
            _ => false,
        }
    }

    /// Consumes the closing bracket `op`; otherwise reports the error, with the
    /// "forgot a comma" hint if another expression follows the item at `last`.
    fn close(&mut self, op: &str, last: Pos) -> Res<()> {
        if self.eat_op(op) {
            return Ok(());
        }
        Err(self.missing_comma_or_unexpected(last))
    }

    /// "Perhaps you forgot a comma?" (pointing at `last`) if an atom follows, else the
    /// error for the unexpected current token.
    fn missing_comma_or_unexpected(&self, last: Pos) -> SyntaxError {
        let atom_like = match self.tok() {
            Tok::Name(_)
            | Tok::Int(_)
            | Tok::BigInt(_)
            | Tok::Float(_)
            | Tok::Str(_)
            | Tok::FStr(_) => true,
            Tok::Kw(k) => matches!(*k, "True" | "False" | "None" | "lambda" | "not"),
            Tok::Op(o) => matches!(*o, "(" | "[" | "{" | "~" | "..."),
            _ => false,
        };
        if atom_like {
            return syntax("invalid syntax. Perhaps you forgot a comma?", last);
        }
        self.unexpected()
    }

    /// Enters one level of recursion (`cost` levels for expensive ones); fails with
    /// `TooDeep` past `MAX_DEPTH` or when the parser has used too much native stack.
    fn enter(&mut self, cost: usize) -> Res<()> {
        self.rec += cost;
        if self.rec > MAX_DEPTH || stack_used(self.stack_base) > STACK_BUDGET {
            self.rec -= cost;
            return Err(too_deep(self.pos()));
        }
        Ok(())
    }

    fn leave(&mut self, cost: usize) {
        self.rec = self.rec.saturating_sub(cost);
    }

    // ----- statements -----------------------------------------------------------------

    fn file(&mut self) -> Res<Vec<Stmt>> {
        let mut body = Vec::new();
        loop {
            match self.tok() {
                Tok::EndMarker => break,
                Tok::Newline => self.advance(),
                _ => self.statement(&mut body)?,
            }
        }
        Ok(body)
    }

    fn statement(&mut self, out: &mut Vec<Stmt>) -> Res<()> {
        match self.tok() {
            Tok::Kw("if" | "while" | "for" | "try" | "with" | "def" | "class" | "async")
            | Tok::Op("@") => {
                let s = self.compound()?;
                out.push(s);
                Ok(())
            }
            Tok::Name(n) if n == "match" && self.looks_like_block_header() => Err(syntax(
                "match statements are not supported in Toy",
                self.pos(),
            )),
            _ => self.simple_stmts(out),
        }
    }

    /// Whether the current logical line ends with `:` (a soft-keyword block header).
    fn looks_like_block_header(&self) -> bool {
        let mut k = self.i;
        while let Some(t) = self.toks.get(k) {
            if matches!(t.tok, Tok::Newline | Tok::EndMarker) {
                return k > self.i + 1
                    && matches!(self.toks.get(k - 1).map(|t| &t.tok), Some(Tok::Op(":")));
            }
            k += 1;
        }
        false
    }

    fn compound(&mut self) -> Res<Stmt> {
        let pos = self.pos();
        match self.tok() {
            Tok::Kw("if") => self.if_stmt(),
            Tok::Kw("while") => self.while_stmt(),
            Tok::Kw("for") => self.for_stmt(pos, false),
            Tok::Kw("try") => self.try_stmt(),
            Tok::Kw("with") => self.with_stmt(pos, false),
            Tok::Kw("def") => self.funcdef(Vec::new(), pos, false),
            Tok::Kw("class") => self.classdef(Vec::new()),
            Tok::Kw("async") => {
                self.advance();
                match self.tok() {
                    Tok::Kw("def") => self.funcdef(Vec::new(), pos, true),
                    Tok::Kw("for") => self.for_stmt(pos, true),
                    Tok::Kw("with") => self.with_stmt(pos, true),
                    _ => Err(self.unexpected()),
                }
            }
            _ => self.decorated(),
        }
    }

    /// A block after `:`: an indented suite or simple statements on the same line.
    fn block(&mut self, what: &str, line: u32) -> Res<Vec<Stmt>> {
        let mut body = Vec::new();
        if !self.is_newline() {
            self.simple_stmts(&mut body)?;
            return Ok(body);
        }
        let nl_pos = self.pos();
        self.advance();
        if !matches!(self.tok(), Tok::Indent) {
            let pos = if matches!(self.tok(), Tok::EndMarker) {
                nl_pos
            } else {
                self.pos()
            };
            return Err(SyntaxError::indentation(
                format!("expected an indented block after {} on line {}", what, line),
                pos.line,
                pos.col,
            ));
        }
        self.advance();
        self.enter(1)?;
        let r = loop {
            match self.tok() {
                Tok::Dedent => {
                    self.advance();
                    break Ok(());
                }
                Tok::EndMarker => break Ok(()),
                _ => {
                    if let Err(e) = self.statement(&mut body) {
                        break Err(e);
                    }
                }
            }
        };
        self.leave(1);
        r.map(|_| body)
    }

    fn if_stmt(&mut self) -> Res<Stmt> {
        let pos = self.pos();
        self.advance();
        let test = self.named_expr()?;
        self.colon()?;
        let body = self.block("'if' statement", pos.line)?;
        self.if_rest(pos, test, body)
    }

    /// The `elif`/`else` parts of an `if`: collected in a loop, nested afterwards.
    fn if_rest(&mut self, pos: Pos, test: Expr, body: Vec<Stmt>) -> Res<Stmt> {
        let mut elifs: Vec<(Expr, Vec<Stmt>, Pos)> = Vec::new();
        let mut orelse = Vec::new();
        loop {
            let p = self.pos();
            if self.eat_kw("elif") {
                let t = self.named_expr()?;
                self.colon()?;
                let b = self.block("'elif' statement", p.line)?;
                elifs.push((t, b, p));
                if elifs.len() + self.rec >= MAX_DEPTH {
                    return Err(too_deep(p));
                }
                continue;
            }
            if self.eat_kw("else") {
                self.colon()?;
                orelse = self.block("'else' statement", p.line)?;
            }
            break;
        }
        while let Some((t, b, p)) = elifs.pop() {
            let kind = StmtKind::If {
                test: t,
                body: b,
                orelse,
            };
            orelse = vec![Stmt { kind, pos: p }];
        }
        Ok(Stmt {
            kind: StmtKind::If { test, body, orelse },
            pos,
        })
    }

    fn else_block(&mut self) -> Res<Vec<Stmt>> {
        let p = self.pos();
        if self.eat_kw("else") {
            self.colon()?;
            self.block("'else' statement", p.line)
        } else {
            Ok(Vec::new())
        }
    }

    fn while_stmt(&mut self) -> Res<Stmt> {
        let pos = self.pos();
        self.advance();
        let test = self.named_expr()?;
        self.colon()?;
        let body = self.block("'while' statement", pos.line)?;
        let orelse = self.else_block()?;
        Ok(Stmt {
            kind: StmtKind::While { test, body, orelse },
            pos,
        })
    }

    fn for_stmt(&mut self, pos: Pos, is_async: bool) -> Res<Stmt> {
        let line = self.pos().line;
        self.advance();
        let target = self.target_list()?;
        check_target(&target, TargetCtx::Store, true)?;
        self.expect_kw("in")?;
        let iter = self.star_expressions()?;
        self.colon()?;
        let body = self.block("'for' statement", line)?;
        let orelse = self.else_block()?;
        Ok(Stmt {
            kind: StmtKind::For {
                target,
                iter,
                body,
                orelse,
                is_async,
            },
            pos,
        })
    }

    fn try_stmt(&mut self) -> Res<Stmt> {
        let pos = self.pos();
        self.advance();
        self.colon()?;
        let body = self.block("'try' statement", pos.line)?;
        let mut handlers = Vec::new();
        while self.is_kw("except") {
            let hpos = self.pos();
            self.advance();
            if self.is_op("*") {
                return Err(syntax("except* is not supported in Toy", self.pos()));
            }
            let typ = if self.is_op(":") {
                None
            } else {
                Some(self.expression()?)
            };
            if typ.is_some() && self.is_op(",") {
                return Err(syntax(
                    "multiple exception types must be parenthesized",
                    typ.as_ref().map_or(hpos, |t| t.pos),
                ));
            }
            let name = if self.eat_kw("as") {
                Some(self.expect_name()?)
            } else {
                None
            };
            self.colon()?;
            let hbody = self.block("'except' statement", hpos.line)?;
            handlers.push(ExceptHandler {
                typ,
                name,
                body: hbody,
                pos: hpos,
            });
        }
        let orelse = if handlers.is_empty() {
            Vec::new()
        } else {
            self.else_block()?
        };
        let mut finalbody = Vec::new();
        let fpos = self.pos();
        let has_finally = self.eat_kw("finally");
        if has_finally {
            self.colon()?;
            finalbody = self.block("'finally' statement", fpos.line)?;
        }
        if handlers.is_empty() && !has_finally {
            return Err(syntax("expected 'except' or 'finally' block", self.pos()));
        }
        let t = Try {
            body,
            handlers,
            orelse,
            finalbody,
        };
        Ok(Stmt {
            kind: StmtKind::Try(Box::new(t)),
            pos,
        })
    }

    fn with_item(&mut self) -> Res<WithItem> {
        let context = self.expression()?;
        let target = if self.eat_kw("as") {
            let t = self.star_target()?;
            check_target(&t, TargetCtx::Store, true)?;
            Some(t)
        } else {
            None
        };
        Ok(WithItem { context, target })
    }

    /// Tries `with (a as b, c as d):`; returns None (position restored) if it isn't that.
    fn paren_with_items(&mut self) -> Option<Vec<WithItem>> {
        let (save_i, save_rec) = (self.i, self.rec);
        self.advance();
        let mut items = Vec::new();
        let ok = loop {
            match self.with_item() {
                Ok(it) => items.push(it),
                Err(_) => break false,
            }
            if !self.eat_op(",") {
                break true;
            }
            if self.is_op(")") {
                break true;
            }
        };
        if ok && self.eat_op(")") && self.is_op(":") {
            return Some(items);
        }
        self.i = save_i;
        self.rec = save_rec;
        None
    }

    fn with_stmt(&mut self, pos: Pos, is_async: bool) -> Res<Stmt> {
        let line = self.pos().line;
        self.advance();
        let paren = if self.is_op("(") {
            self.paren_with_items()
        } else {
            None
        };
        let items = match paren {
            Some(items) => items,
            None => {
                let mut items = vec![self.with_item()?];
                while self.eat_op(",") {
                    items.push(self.with_item()?);
                }
                items
            }
        };
        self.colon()?;
        let body = self.block("'with' statement", line)?;
        Ok(Stmt {
            kind: StmtKind::With {
                items,
                body,
                is_async,
            },
            pos,
        })
    }

    fn decorated(&mut self) -> Res<Stmt> {
        let mut decorators = Vec::new();
        while self.eat_op("@") {
            decorators.push(self.named_expr()?);
            if !self.is_newline() {
                return Err(self.unexpected());
            }
            self.advance();
        }
        let pos = self.pos();
        match self.tok() {
            Tok::Kw("def") => self.funcdef(decorators, pos, false),
            Tok::Kw("class") => self.classdef(decorators),
            Tok::Kw("async") if matches!(self.peek_tok(1), Tok::Kw("def")) => {
                self.advance();
                self.funcdef(decorators, pos, true)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn funcdef(&mut self, decorators: Vec<Expr>, pos: Pos, is_async: bool) -> Res<Stmt> {
        let line = self.pos().line;
        self.advance();
        let name = self.expect_name()?;
        self.expect_op("(")?;
        let params = self.params(true)?;
        self.expect_op(")")?;
        let returns = if self.eat_op("->") {
            Some(self.expression()?)
        } else {
            None
        };
        self.colon()?;
        let body = self.block("function definition", line)?;
        let f = FunctionDef {
            name,
            params,
            body,
            decorators,
            returns,
            is_async,
        };
        Ok(Stmt {
            kind: StmtKind::FunctionDef(Box::new(f)),
            pos,
        })
    }

    fn classdef(&mut self, decorators: Vec<Expr>) -> Res<Stmt> {
        let pos = self.pos();
        self.advance();
        let name = self.expect_name()?;
        let mut bases = Vec::new();
        if self.is_op("(") {
            let lpar = self.pos();
            for arg in self.call_args(lpar)? {
                match arg {
                    Arg::Positional(e) => bases.push(e),
                    Arg::Keyword(_, e) => {
                        return Err(syntax(
                            "keyword arguments in class bases are not supported in Toy",
                            e.pos,
                        ))
                    }
                    Arg::Star(e) | Arg::DoubleStar(e) => {
                        return Err(syntax(
                            "unpacking in class bases is not supported in Toy",
                            e.pos,
                        ))
                    }
                }
            }
        }
        self.colon()?;
        let body = self.block("class definition", pos.line)?;
        let c = ClassDef {
            name,
            bases,
            body,
            decorators,
        };
        Ok(Stmt {
            kind: StmtKind::ClassDef(Box::new(c)),
            pos,
        })
    }

    /// Parameters of a `def` (until `)`) or a `lambda` (until `:`).
    fn params(&mut self, def: bool) -> Res<Params> {
        let end = if def { ")" } else { ":" };
        let mut p = Params::default();
        let mut seen_star = false;
        let mut seen_slash = false;
        let mut seen_default = false;
        let mut bare_star: Option<Pos> = None;
        let mut names: Vec<String> = Vec::new();
        let mut add_name = |prm: &Param| -> Res<()> {
            if names.contains(&prm.name) {
                return Err(syntax(
                    format!("duplicate argument '{}' in function definition", prm.name),
                    prm.pos,
                ));
            }
            names.push(prm.name.clone());
            Ok(())
        };
        loop {
            if self.is_op(end) {
                break;
            }
            let pos = self.pos();
            if self.is_op("/") {
                if seen_star || seen_slash || p.args.is_empty() {
                    return Err(self.unexpected());
                }
                seen_slash = true;
                self.advance();
            } else if self.eat_op("**") {
                let prm = self.param(def, false)?;
                add_name(&prm)?;
                p.kwarg = Some(prm);
                self.eat_op(",");
                if !self.is_op(end) {
                    return Err(syntax(
                        "arguments cannot follow var-keyword argument",
                        self.pos(),
                    ));
                }
                break;
            } else if self.eat_op("*") {
                if seen_star {
                    return Err(syntax("* argument may appear only once", pos));
                }
                seen_star = true;
                if matches!(self.tok(), Tok::Name(_)) {
                    let prm = self.param(def, false)?;
                    add_name(&prm)?;
                    p.vararg = Some(prm);
                } else {
                    bare_star = Some(pos);
                }
            } else {
                let prm = self.param(def, true)?;
                add_name(&prm)?;
                if seen_star {
                    p.kwonly.push(prm);
                } else {
                    if prm.default.is_some() {
                        seen_default = true;
                    } else if seen_default {
                        return Err(syntax(
                            "non-default argument follows default argument",
                            prm.pos,
                        ));
                    }
                    p.args.push(prm);
                }
            }
            if !self.eat_op(",") {
                break;
            }
        }
        if let Some(pos) = bare_star {
            if p.kwonly.is_empty() {
                return Err(syntax("named arguments must follow bare *", pos));
            }
        }
        Ok(p)
    }

    fn param(&mut self, annotations: bool, default: bool) -> Res<Param> {
        let pos = self.pos();
        let name = self.expect_name()?;
        let annotation = if annotations && self.eat_op(":") {
            Some(self.expression()?)
        } else {
            None
        };
        let default = if default && self.eat_op("=") {
            Some(self.expression()?)
        } else {
            None
        };
        Ok(Param {
            name,
            default,
            annotation,
            pos,
        })
    }

    fn simple_stmts(&mut self, out: &mut Vec<Stmt>) -> Res<()> {
        loop {
            let s = self.simple_stmt()?;
            out.push(s);
            if self.eat_op(";") {
                if self.is_newline() {
                    break;
                }
                continue;
            }
            break;
        }
        if self.is_newline() {
            self.advance();
            return Ok(());
        }
        Err(self.unexpected())
    }

    fn simple_stmt(&mut self) -> Res<Stmt> {
        let pos = self.pos();
        let kind = match self.tok() {
            Tok::Kw("pass") => {
                self.advance();
                StmtKind::Pass
            }
            Tok::Kw("break") => {
                self.advance();
                StmtKind::Break
            }
            Tok::Kw("continue") => {
                self.advance();
                StmtKind::Continue
            }
            Tok::Kw("return") => {
                self.advance();
                let v = if self.starts_expr() {
                    Some(self.star_expressions()?)
                } else {
                    None
                };
                StmtKind::Return(v)
            }
            Tok::Kw("raise") => {
                self.advance();
                let mut exc = None;
                let mut cause = None;
                if self.starts_expr() {
                    exc = Some(self.expression()?);
                    if self.eat_kw("from") {
                        cause = Some(self.expression()?);
                    }
                }
                StmtKind::Raise { exc, cause }
            }
            Tok::Kw(k @ ("global" | "nonlocal")) => {
                let global = *k == "global";
                self.advance();
                let mut names = vec![self.expect_name()?];
                while self.eat_op(",") {
                    names.push(self.expect_name()?);
                }
                if global {
                    StmtKind::Global(names)
                } else {
                    StmtKind::Nonlocal(names)
                }
            }
            Tok::Kw("del") => {
                self.advance();
                let mut targets = Vec::new();
                loop {
                    let t = self.binary(BOR)?;
                    check_target(&t, TargetCtx::Del, true)?;
                    targets.push(t);
                    if !self.eat_op(",") || !self.starts_expr() {
                        break;
                    }
                }
                StmtKind::Delete(targets)
            }
            Tok::Kw("assert") => {
                self.advance();
                let test = self.expression()?;
                let msg = if self.eat_op(",") {
                    Some(self.expression()?)
                } else {
                    None
                };
                StmtKind::Assert { test, msg }
            }
            Tok::Kw("import") => {
                self.advance();
                let mut names = Vec::new();
                loop {
                    let apos = self.pos();
                    let name = self.dotted_name()?;
                    let asname = if self.eat_kw("as") {
                        Some(self.expect_name()?)
                    } else {
                        None
                    };
                    names.push(Alias {
                        name,
                        asname,
                        pos: apos,
                    });
                    if !self.eat_op(",") {
                        break;
                    }
                }
                StmtKind::Import(names)
            }
            Tok::Kw("from") => self.import_from()?,
            _ => return self.expr_stmt(),
        };
        Ok(Stmt { kind, pos })
    }

    fn dotted_name(&mut self) -> Res<String> {
        let mut name = self.expect_name()?;
        while self.eat_op(".") {
            name.push('.');
            name.push_str(&self.expect_name()?);
        }
        Ok(name)
    }

    fn import_from(&mut self) -> Res<StmtKind> {
        self.advance();
        let mut module = String::new();
        loop {
            if self.eat_op(".") {
                module.push('.');
            } else if self.eat_op("...") {
                module.push_str("...");
            } else {
                break;
            }
        }
        if matches!(self.tok(), Tok::Name(_)) {
            module.push_str(&self.dotted_name()?);
        }
        if module.is_empty() {
            return Err(self.unexpected());
        }
        self.expect_kw("import")?;
        let mut names = Vec::new();
        let star_pos = self.pos();
        if self.eat_op("*") {
            names.push(Alias {
                name: "*".to_string(),
                asname: None,
                pos: star_pos,
            });
            return Ok(StmtKind::ImportFrom { module, names });
        }
        let lpar = self.pos();
        let parens = self.eat_op("(");
        loop {
            let apos = self.pos();
            let name = self.expect_name()?;
            let asname = if self.eat_kw("as") {
                Some(self.expect_name()?)
            } else {
                None
            };
            names.push(Alias {
                name,
                asname,
                pos: apos,
            });
            if !self.eat_op(",") {
                break;
            }
            if parens && self.is_op(")") {
                break;
            }
            if !parens && !matches!(self.tok(), Tok::Name(_)) {
                return Err(syntax(
                    "trailing comma not allowed without surrounding parentheses",
                    self.prev_end(),
                ));
            }
        }
        if parens {
            self.close(")", lpar)?;
        }
        Ok(StmtKind::ImportFrom { module, names })
    }

    fn rhs(&mut self) -> Res<Expr> {
        if self.is_kw("yield") {
            self.yield_expr()
        } else {
            self.star_expressions()
        }
    }

    fn expr_stmt(&mut self) -> Res<Stmt> {
        let pos = self.pos();
        let first = self.rhs()?;
        if self.is_op(":") {
            match first.kind {
                ExprKind::Name(_) | ExprKind::Attribute { .. } | ExprKind::Subscript { .. } => {}
                ExprKind::Tuple(_) => {
                    return Err(syntax(
                        "only single target (not tuple) can be annotated",
                        first.pos,
                    ))
                }
                ExprKind::List(_) => {
                    return Err(syntax(
                        "only single target (not list) can be annotated",
                        first.pos,
                    ))
                }
                _ => return Err(syntax("illegal target for annotation", first.pos)),
            }
            self.advance();
            let annotation = self.expression()?;
            let value = if self.eat_op("=") {
                Some(self.rhs()?)
            } else {
                None
            };
            return Ok(Stmt {
                kind: StmtKind::AnnAssign {
                    target: first,
                    annotation,
                    value,
                },
                pos,
            });
        }
        if let Tok::Op(o) = self.tok() {
            let aug = match *o {
                "+=" => Some(BinOp::Add),
                "-=" => Some(BinOp::Sub),
                "*=" => Some(BinOp::Mul),
                "/=" => Some(BinOp::Div),
                "//=" => Some(BinOp::FloorDiv),
                "%=" => Some(BinOp::Mod),
                "**=" => Some(BinOp::Pow),
                ">>=" => Some(BinOp::RShift),
                "<<=" => Some(BinOp::LShift),
                "&=" => Some(BinOp::BitAnd),
                "^=" => Some(BinOp::BitXor),
                "|=" => Some(BinOp::BitOr),
                "@=" => Some(BinOp::MatMul),
                _ => None,
            };
            if let Some(op) = aug {
                if !matches!(
                    first.kind,
                    ExprKind::Name(_) | ExprKind::Attribute { .. } | ExprKind::Subscript { .. }
                ) {
                    return Err(syntax(
                        format!(
                            "'{}' is an illegal expression for augmented assignment",
                            expr_name(&first)
                        ),
                        first.pos,
                    ));
                }
                self.advance();
                let value = self.rhs()?;
                return Ok(Stmt {
                    kind: StmtKind::AugAssign {
                        target: first,
                        op,
                        value,
                    },
                    pos,
                });
            }
        }
        if self.is_op("=") {
            let mut targets = vec![first];
            let value = loop {
                self.advance();
                let v = self.rhs()?;
                if self.is_op("=") {
                    targets.push(v);
                    continue;
                }
                break v;
            };
            for t in &targets {
                if matches!(t.kind, ExprKind::Yield(_) | ExprKind::YieldFrom(_)) {
                    return Err(syntax("assignment to yield expression not possible", t.pos));
                }
                check_target(t, TargetCtx::Assign, true)?;
            }
            return Ok(Stmt {
                kind: StmtKind::Assign { targets, value },
                pos,
            });
        }
        if matches!(first.kind, ExprKind::Starred(_)) {
            return Err(syntax("can't use starred expression here", first.pos));
        }
        if let (ExprKind::Name(n), Tok::Str(_) | Tok::FStr(_)) = (&first.kind, self.tok()) {
            if n == "print" || n == "exec" {
                return Err(syntax(
                    format!(
                        "Missing parentheses in call to '{}'. Did you mean {}(...)?",
                        n, n
                    ),
                    first.pos,
                ));
            }
        }
        Ok(Stmt {
            kind: StmtKind::Expr(first),
            pos,
        })
    }

    // ----- expressions ----------------------------------------------------------------

    /// `expression`: lambda, conditional expression, or a disjunction. Chains of lambdas
    /// and conditional expressions are collected in a loop and built afterwards.
    pub(crate) fn expression(&mut self) -> Res<Expr> {
        self.enter(1)?;
        let r = if self.is_kw("lambda") {
            self.expression_slow(None)
        } else {
            match self.binary(OR) {
                Ok(e) if self.is_kw("if") => self.expression_slow(Some(e)),
                r => r,
            }
        };
        self.leave(1);
        r
    }

    /// The general case of `expression`: lambdas and conditional expressions. `first`
    /// is an already parsed disjunction followed by `if`. Chains are collected in a
    /// loop and built afterwards, so they need no recursion.
    fn expression_slow(&mut self, first: Option<Expr>) -> Res<Expr> {
        let mut wraps: Vec<Wrap> = Vec::new();
        let mut pending = first;
        let e = loop {
            let body = match pending.take() {
                Some(b) => b,
                None => match self.lambda_or_disjunction(&mut wraps)? {
                    Some(b) => b,
                    None => continue,
                },
            };
            if !self.is_kw("if") {
                break body;
            }
            let w = self.ternary_test(body)?;
            wraps.push(w);
        };
        build_wraps(wraps, e)
    }

    /// A lambda header (pushed onto `wraps`, returning None) or a disjunction.
    fn lambda_or_disjunction(&mut self, wraps: &mut Vec<Wrap>) -> Res<Option<Expr>> {
        if !self.is_kw("lambda") {
            return self.disjunction().map(Some);
        }
        let pos = self.pos();
        self.advance();
        // Lambda parameters recurse through several large frames: charge more.
        self.enter(LAMBDA_COST)?;
        let params = self.params(false);
        self.leave(LAMBDA_COST);
        let params = params?;
        self.expect_op(":")?;
        wraps.push(Wrap::Lambda(Box::new(params), pos));
        Ok(None)
    }

    /// `if test else` after `body`; the current token is `if`.
    fn ternary_test(&mut self, body: Expr) -> Res<Wrap> {
        self.advance();
        let test = self.disjunction()?;
        if !self.eat_kw("else") {
            return Err(syntax("expected 'else' after 'if' expression", body.pos));
        }
        Ok(Wrap::IfExp(body, test))
    }

    /// `named_expression`: `name := value` or an expression.
    fn named_expr(&mut self) -> Res<Expr> {
        if matches!(
            (self.tok(), self.peek_tok(1)),
            (Tok::Name(_), Tok::Op(":="))
        ) {
            return self.walrus();
        }
        match self.expression() {
            Ok(e) if self.is_op(":=") => Err(walrus_error(&e)),
            r => r,
        }
    }

    /// `name := value`; the current token is the name.
    fn walrus(&mut self) -> Res<Expr> {
        let pos = self.pos();
        let target = self.expect_name()?;
        self.advance();
        let value = self.expression()?;
        Ok(mk(
            ExprKind::NamedExpr {
                target,
                value: Box::new(value),
            },
            pos,
        ))
    }

    /// `*x` (at bitwise-or level) or a named expression.
    fn star_named_expr(&mut self) -> Res<Expr> {
        if self.is_op("*") {
            self.starred()
        } else {
            self.named_expr()
        }
    }

    /// `*x` with `x` at bitwise-or level; the current token is `*`.
    fn starred(&mut self) -> Res<Expr> {
        let pos = self.pos();
        self.advance();
        let e = self.binary(BOR)?;
        Ok(mk(ExprKind::Starred(Box::new(e)), pos))
    }

    /// An assignment target element: `*x` or a bitwise-or-level expression.
    fn star_target(&mut self) -> Res<Expr> {
        if self.is_op("*") {
            self.starred()
        } else {
            self.binary(BOR)
        }
    }

    /// Comma-separated targets (as in `for a, *b in ...`); a tuple if there is a comma.
    fn target_list(&mut self) -> Res<Expr> {
        let pos = self.pos();
        let first = self.star_target()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if !self.starts_expr() {
                break;
            }
            items.push(self.star_target()?);
        }
        Ok(mk(ExprKind::Tuple(items), pos))
    }

    /// `star_expressions`: comma-separated expressions (with `*x`), a tuple if there is
    /// a comma.
    fn star_expressions(&mut self) -> Res<Expr> {
        let pos = self.pos();
        match self.star_expression() {
            Ok(first) if self.is_op(",") => self.star_expressions_rest(pos, first),
            r => r,
        }
    }

    fn star_expressions_rest(&mut self, pos: Pos, first: Expr) -> Res<Expr> {
        let mut items = vec![first];
        while self.eat_op(",") {
            if !self.starts_expr() {
                break;
            }
            items.push(self.star_expression()?);
        }
        Ok(mk(ExprKind::Tuple(items), pos))
    }

    fn star_expression(&mut self) -> Res<Expr> {
        if self.is_op("*") {
            self.starred()
        } else {
            self.expression()
        }
    }

    fn disjunction(&mut self) -> Res<Expr> {
        self.binary(OR)
    }

    /// The infix operator at the current token: (operator, binding power, token count).
    fn infix_op(&self) -> Option<(InfixOp, u8, usize)> {
        use InfixOp::{Bin, Bool, Cmp};
        Some(match self.tok() {
            Tok::Kw("or") => (Bool(BoolOp::Or), OR, 1),
            Tok::Kw("and") => (Bool(BoolOp::And), AND, 1),
            Tok::Kw("in") => (Cmp(CmpOp::In), CMP, 1),
            Tok::Kw("not") if matches!(self.peek_tok(1), Tok::Kw("in")) => {
                (Cmp(CmpOp::NotIn), CMP, 2)
            }
            Tok::Kw("is") => {
                if matches!(self.peek_tok(1), Tok::Kw("not")) {
                    (Cmp(CmpOp::IsNot), CMP, 2)
                } else {
                    (Cmp(CmpOp::Is), CMP, 1)
                }
            }
            Tok::Op(o) => match *o {
                "==" => (Cmp(CmpOp::Eq), CMP, 1),
                "!=" => (Cmp(CmpOp::NotEq), CMP, 1),
                "<" => (Cmp(CmpOp::Lt), CMP, 1),
                "<=" => (Cmp(CmpOp::LtE), CMP, 1),
                ">" => (Cmp(CmpOp::Gt), CMP, 1),
                ">=" => (Cmp(CmpOp::GtE), CMP, 1),
                "|" => (Bin(BinOp::BitOr), BOR, 1),
                "^" => (Bin(BinOp::BitXor), BXOR, 1),
                "&" => (Bin(BinOp::BitAnd), BAND, 1),
                "<<" => (Bin(BinOp::LShift), SHIFT, 1),
                ">>" => (Bin(BinOp::RShift), SHIFT, 1),
                "+" => (Bin(BinOp::Add), ARITH, 1),
                "-" => (Bin(BinOp::Sub), ARITH, 1),
                "*" => (Bin(BinOp::Mul), TERM, 1),
                "/" => (Bin(BinOp::Div), TERM, 1),
                "//" => (Bin(BinOp::FloorDiv), TERM, 1),
                "%" => (Bin(BinOp::Mod), TERM, 1),
                "@" => (Bin(BinOp::MatMul), TERM, 1),
                "**" => (Bin(BinOp::Pow), POW, 1),
                _ => return None,
            },
            _ => return None,
        })
    }

    /// Operator expressions from `min_bp` up (`OR` for a disjunction, `BOR` for a
    /// bitwise-or expression), parsed with explicit operand/operator stacks.
    fn binary(&mut self, min_bp: u8) -> Res<Expr> {
        if matches!(
            self.tok(),
            Tok::Kw("not" | "await") | Tok::Op("-" | "+" | "~")
        ) {
            return self.binary_slow(min_bp, None);
        }
        let e = self.primary()?;
        match self.infix_op() {
            Some((_, bp, _)) if bp >= min_bp => self.binary_slow(min_bp, Some(e)),
            _ => Ok(e),
        }
    }

    /// The general case of `binary`, possibly starting after a first operand.
    fn binary_slow(&mut self, min_bp: u8, mut first: Option<Expr>) -> Res<Expr> {
        let mut operands: Vec<(Expr, Option<usize>)> = Vec::new();
        let mut ops: Vec<Pending> = Vec::new();
        loop {
            while first.is_none() {
                let (pre, bp) = match self.tok() {
                    Tok::Kw("not") if min_bp <= NOT => (Some(UnaryOp::Not), NOT),
                    Tok::Op("-") => (Some(UnaryOp::Neg), UNARY),
                    Tok::Op("+") => (Some(UnaryOp::Pos), UNARY),
                    Tok::Op("~") => (Some(UnaryOp::Invert), UNARY),
                    Tok::Kw("await") => (None, AWAIT),
                    _ => break,
                };
                let allowed = match ops.last() {
                    None => true,
                    Some(Pending::Pre(None, ..)) => false,
                    Some(Pending::Bin(BinOp::Pow, _)) => bp >= UNARY,
                    Some(top) => top.bp() <= bp,
                };
                if !allowed {
                    return Err(self.unexpected());
                }
                ops.push(Pending::Pre(pre, bp, self.pos()));
                self.advance();
            }
            let e = match first.take() {
                Some(e) => e,
                None => self.primary()?,
            };
            operands.push((e, None));
            let (op, bp, ntoks) = match self.infix_op() {
                Some(x) if x.1 >= min_bp => x,
                _ => break,
            };
            while let Some(top) = ops.last() {
                let tbp = top.bp();
                let reduce = tbp > bp
                    || (tbp == bp
                        && bp != POW
                        && !matches!(top, Pending::Cmp(_) | Pending::Bool(..)));
                if !reduce {
                    break;
                }
                if let Some(top) = ops.pop() {
                    reduce_top(top, &mut operands)?;
                }
            }
            match (op, ops.last_mut()) {
                (InfixOp::Cmp(c), Some(Pending::Cmp(v))) => v.push(c),
                (InfixOp::Bool(b), Some(Pending::Bool(b2, n))) if *b2 == b => *n += 1,
                (InfixOp::Cmp(c), _) => ops.push(Pending::Cmp(vec![c])),
                (InfixOp::Bool(b), _) => ops.push(Pending::Bool(b, 1)),
                (InfixOp::Bin(b), _) => ops.push(Pending::Bin(b, bp)),
            }
            for _ in 0..ntoks {
                self.advance();
            }
        }
        while let Some(top) = ops.pop() {
            reduce_top(top, &mut operands)?;
        }
        match operands.pop() {
            Some((e, _)) if operands.is_empty() => Ok(e),
            _ => Err(self.unexpected()),
        }
    }

    /// An atom followed by any number of `.name`, `(args)` and `[index]`, built in a loop.
    fn primary(&mut self) -> Res<Expr> {
        let e = self.atom()?;
        if matches!(self.tok(), Tok::Op("." | "(" | "[")) {
            self.postfix(e)
        } else {
            Ok(e)
        }
    }

    fn postfix(&mut self, mut e: Expr) -> Res<Expr> {
        let mut h: usize = depth::expr_height(&e);
        loop {
            e = match self.tok() {
                Tok::Op(".") => self.attribute(e)?,
                Tok::Op("(") => self.call(e)?,
                Tok::Op("[") => self.subscription(e)?,
                _ => break,
            };
            h = post_height(&e, h);
            check_height(h, e.pos)?;
        }
        Ok(e)
    }

    fn attribute(&mut self, value: Expr) -> Res<Expr> {
        self.advance();
        let attr = self.expect_name()?;
        let pos = value.pos;
        Ok(mk(
            ExprKind::Attribute {
                value: Box::new(value),
                attr,
            },
            pos,
        ))
    }

    fn call(&mut self, func: Expr) -> Res<Expr> {
        let lpar = self.pos();
        let args = self.call_args(lpar)?;
        let pos = func.pos;
        Ok(mk(
            ExprKind::Call {
                func: Box::new(func),
                args,
            },
            pos,
        ))
    }

    fn subscription(&mut self, value: Expr) -> Res<Expr> {
        let index = self.subscript()?;
        let pos = value.pos;
        Ok(mk(
            ExprKind::Subscript {
                value: Box::new(value),
                index: Box::new(index),
            },
            pos,
        ))
    }

    fn atom(&mut self) -> Res<Expr> {
        match self.tok() {
            Tok::Str(_) | Tok::FStr(_) => self.strings(),
            Tok::Op("(") => self.paren(),
            Tok::Op("[") => self.list_display(),
            Tok::Op("{") => self.brace_display(),
            _ => self.leaf(),
        }
    }

    fn leaf(&mut self) -> Res<Expr> {
        let pos = self.pos();
        let kind = match self.tok() {
            Tok::Name(n) => ExprKind::Name(n.clone()),
            Tok::Int(v) => ExprKind::Int(*v),
            Tok::BigInt(s) => ExprKind::BigInt(s.clone()),
            Tok::Float(f) => ExprKind::Float(*f),
            Tok::Kw("True") => ExprKind::Bool(true),
            Tok::Kw("False") => ExprKind::Bool(false),
            Tok::Kw("None") => ExprKind::NoneLit,
            Tok::Op("...") => ExprKind::Ellipsis,
            Tok::Str(_) | Tok::FStr(_) => return self.strings(),
            Tok::Op("(") => return self.paren(),
            Tok::Op("[") => return self.list_display(),
            Tok::Op("{") => return self.brace_display(),
            _ => return Err(self.unexpected()),
        };
        self.advance();
        Ok(mk(kind, pos))
    }

    /// Adjacent string literals, concatenated; an f-string if any of them is one.
    fn strings(&mut self) -> Res<Expr> {
        let pos = self.pos();
        let mut plain = String::new();
        let mut parts: Vec<FPart> = Vec::new();
        let mut is_f = false;
        loop {
            match self.tok() {
                Tok::Str(s) => {
                    if is_f {
                        fstring::push_lit(&mut parts, s);
                    } else {
                        plain.push_str(s);
                    }
                }
                Tok::FStr(f) => {
                    let f = f.clone();
                    if !is_f {
                        is_f = true;
                        fstring::push_lit(&mut parts, &plain);
                    }
                    for part in fstring::parse_fstring(self, &f, pos)? {
                        match part {
                            FPart::Lit(s) => fstring::push_lit(&mut parts, &s),
                            v => parts.push(v),
                        }
                    }
                }
                _ => break,
            }
            self.advance();
        }
        let kind = if is_f {
            ExprKind::FString(parts)
        } else {
            ExprKind::Str(plain)
        };
        Ok(mk(kind, pos))
    }

    /// Parses the expression inside an f-string replacement field.
    pub(crate) fn sub_expression(&self, text: &str, start: Pos) -> Res<Expr> {
        let toks = lexer::tokenize_expr(text, start).map_err(fstring::prefix)?;
        let mut sub = Parser::new(toks, self.rec + 1, self.stack_base);
        if sub.rec > MAX_DEPTH {
            return Err(too_deep(start));
        }
        let e = sub.rhs().map_err(fstring::prefix)?;
        if !matches!(sub.tok(), Tok::EndMarker) {
            // Python parses the field as if parenthesised, hence the comma hint.
            return Err(fstring::prefix(sub.missing_comma_or_unexpected(e.pos)));
        }
        Ok(e)
    }

    fn is_comp_start(&self) -> bool {
        self.is_kw("for") || (self.is_kw("async") && matches!(self.peek_tok(1), Tok::Kw("for")))
    }

    fn comp_clauses(&mut self) -> Res<Vec<Comprehension>> {
        let mut gens = Vec::new();
        while self.is_comp_start() {
            let is_async = self.eat_kw("async");
            self.advance();
            let target = self.target_list()?;
            check_target(&target, TargetCtx::Store, true)?;
            self.expect_kw("in")?;
            let iter = self.disjunction()?;
            let mut ifs = Vec::new();
            while self.eat_kw("if") {
                ifs.push(self.disjunction()?);
            }
            gens.push(Comprehension {
                target,
                iter,
                ifs,
                is_async,
            });
        }
        Ok(gens)
    }

    fn paren(&mut self) -> Res<Expr> {
        let pos = self.pos();
        self.advance();
        if self.eat_op(")") {
            return Ok(mk(ExprKind::Tuple(Vec::new()), pos));
        }
        if self.is_kw("yield") {
            return self.paren_yield();
        }
        let first = self.star_named_expr()?;
        self.paren_rest(pos, first)
    }

    fn paren_yield(&mut self) -> Res<Expr> {
        let e = self.yield_expr()?;
        self.close(")", e.pos)?;
        Ok(e)
    }

    fn paren_rest(&mut self, pos: Pos, first: Expr) -> Res<Expr> {
        if self.is_comp_start() {
            let generators = self.comp_clauses()?;
            self.close(")", first.pos)?;
            return Ok(mk(
                ExprKind::GeneratorExp {
                    elt: Box::new(first),
                    generators,
                },
                pos,
            ));
        }
        if self.eat_op(")") {
            if matches!(first.kind, ExprKind::Starred(_)) {
                return Err(syntax("cannot use starred expression here", first.pos));
            }
            return Ok(first);
        }
        let mut last = first.pos;
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.is_op(")") {
                break;
            }
            let it = self.star_named_expr()?;
            last = it.pos;
            items.push(it);
        }
        self.close(")", last)?;
        Ok(mk(ExprKind::Tuple(items), pos))
    }

    fn list_display(&mut self) -> Res<Expr> {
        let pos = self.pos();
        self.advance();
        if self.eat_op("]") {
            return Ok(mk(ExprKind::List(Vec::new()), pos));
        }
        let first = self.star_named_expr()?;
        self.list_rest(pos, first)
    }

    fn list_rest(&mut self, pos: Pos, first: Expr) -> Res<Expr> {
        if self.is_comp_start() {
            let generators = self.comp_clauses()?;
            self.close("]", first.pos)?;
            return Ok(mk(
                ExprKind::ListComp {
                    elt: Box::new(first),
                    generators,
                },
                pos,
            ));
        }
        let mut last = first.pos;
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.is_op("]") {
                break;
            }
            let it = self.star_named_expr()?;
            last = it.pos;
            items.push(it);
        }
        self.close("]", last)?;
        Ok(mk(ExprKind::List(items), pos))
    }

    fn dict_entry(&mut self) -> Res<(Option<Expr>, Expr)> {
        if self.eat_op("**") {
            return Ok((None, self.binary(BOR)?));
        }
        let k = self.expression()?;
        self.dict_value(k)
    }

    /// `: value` after a dictionary key.
    fn dict_value(&mut self, k: Expr) -> Res<(Option<Expr>, Expr)> {
        if !self.eat_op(":") {
            return Err(syntax("':' expected after dictionary key", k.pos));
        }
        let v = self.expression()?;
        Ok((Some(k), v))
    }

    fn brace_display(&mut self) -> Res<Expr> {
        let pos = self.pos();
        self.advance();
        if self.eat_op("}") {
            return Ok(mk(ExprKind::Dict(Vec::new()), pos));
        }
        if self.is_op("**") {
            let entry = self.dict_entry()?;
            return self.dict_rest(pos, entry);
        }
        let first = self.star_named_expr()?;
        if self.is_op(":") && !matches!(first.kind, ExprKind::Starred(_)) {
            self.dict_after_key(pos, first)
        } else {
            self.set_rest(pos, first)
        }
    }

    fn set_rest(&mut self, pos: Pos, first: Expr) -> Res<Expr> {
        if self.is_comp_start() {
            let generators = self.comp_clauses()?;
            self.close("}", first.pos)?;
            return Ok(mk(
                ExprKind::SetComp {
                    elt: Box::new(first),
                    generators,
                },
                pos,
            ));
        }
        let mut last = first.pos;
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.is_op("}") {
                break;
            }
            let it = self.star_named_expr()?;
            last = it.pos;
            items.push(it);
        }
        self.close("}", last)?;
        Ok(mk(ExprKind::Set(items), pos))
    }

    fn dict_after_key(&mut self, pos: Pos, key: Expr) -> Res<Expr> {
        let entry = self.dict_value(key)?;
        if self.is_comp_start() {
            return self.dict_comp(pos, entry);
        }
        self.dict_rest(pos, entry)
    }

    fn dict_comp(&mut self, pos: Pos, entry: (Option<Expr>, Expr)) -> Res<Expr> {
        let (key, value) = entry;
        let key = match key {
            Some(k) => k,
            None => return Err(self.unexpected()),
        };
        let generators = self.comp_clauses()?;
        self.close("}", key.pos)?;
        let kind = ExprKind::DictComp {
            key: Box::new(key),
            value: Box::new(value),
            generators,
        };
        Ok(mk(kind, pos))
    }

    fn dict_rest(&mut self, pos: Pos, first: (Option<Expr>, Expr)) -> Res<Expr> {
        let mut last = first.1.pos;
        let mut entries = vec![first];
        while self.eat_op(",") {
            if self.is_op("}") {
                break;
            }
            let en = self.dict_entry()?;
            last = en.1.pos;
            entries.push(en);
        }
        self.close("}", last)?;
        Ok(mk(ExprKind::Dict(entries), pos))
    }

    /// Call arguments; the current token is `(` at `lpar`.
    fn call_args(&mut self, lpar: Pos) -> Res<Vec<Arg>> {
        self.advance();
        let mut args = Vec::new();
        let mut last = lpar;
        let (mut seen_kw, mut seen_dstar) = (false, false);
        while !self.is_op(")") {
            last = self.pos();
            let arg = self.call_arg(lpar, args.is_empty())?;
            check_arg_order(seen_kw, seen_dstar, &arg)?;
            seen_dstar |= matches!(arg, Arg::DoubleStar(_));
            seen_kw |= seen_dstar || matches!(arg, Arg::Keyword(..));
            args.push(arg);
            if !self.eat_op(",") {
                break;
            }
        }
        self.close(")", last)?;
        Ok(args)
    }

    /// One call argument. `first`: whether it is the first one (a bare generator
    /// expression is only allowed as the sole argument).
    fn call_arg(&mut self, lpar: Pos, first: bool) -> Res<Arg> {
        let pos = self.pos();
        // 0: positional, 1: *x, 2: **x, 3: keyword
        let mut name = None;
        let what = match (self.tok(), self.peek_tok(1)) {
            (Tok::Op("*"), _) => 1,
            (Tok::Op("**"), _) => 2,
            (Tok::Name(n), Tok::Op("=")) => {
                name = Some(n.clone());
                self.advance();
                3
            }
            _ => 0,
        };
        if what != 0 {
            self.advance();
            let e = self.expression()?;
            return Ok(match (what, name) {
                (1, _) => Arg::Star(e),
                (2, _) => Arg::DoubleStar(e),
                (_, Some(n)) => Arg::Keyword(n, e),
                _ => return Err(syntax("invalid syntax", pos)),
            });
        }
        let e = self.named_expr()?;
        if self.is_comp_start() {
            return self.genexp_arg(lpar, e, first);
        }
        if self.is_op("=") {
            return Err(syntax(
                "expression cannot contain assignment, perhaps you meant \"==\"?",
                e.pos,
            ));
        }
        Ok(Arg::Positional(e))
    }

    fn genexp_arg(&mut self, lpar: Pos, elt: Expr, first: bool) -> Res<Arg> {
        let generators = self.comp_clauses()?;
        if !first || !self.is_op(")") {
            return Err(syntax(
                "Generator expression must be parenthesized",
                elt.pos,
            ));
        }
        let g = ExprKind::GeneratorExp {
            elt: Box::new(elt),
            generators,
        };
        Ok(Arg::Positional(mk(g, lpar)))
    }

    /// `[index]`: the current token is `[`.
    fn subscript(&mut self) -> Res<Expr> {
        self.advance();
        let first_pos = self.pos();
        let mut items = Vec::new();
        let mut trailing = false;
        let mut last;
        loop {
            last = self.pos();
            items.push(self.slice_item()?);
            if self.eat_op(",") {
                trailing = true;
                if self.is_op("]") {
                    break;
                }
                trailing = false;
                continue;
            }
            break;
        }
        self.close("]", last)?;
        if items.len() == 1 && !trailing {
            if let Some(e) = items.pop() {
                return Ok(e);
            }
        }
        Ok(mk(ExprKind::Tuple(items), first_pos))
    }

    fn slice_item(&mut self) -> Res<Expr> {
        let pos = self.pos();
        if self.is_op(":") {
            return self.slice_from(pos, None);
        }
        match self.star_named_expr() {
            Ok(lower) if self.is_op(":") => self.slice_from(pos, Some(lower)),
            r => r,
        }
    }

    /// The rest of a slice; the current token is the first `:`.
    fn slice_from(&mut self, pos: Pos, lower: Option<Expr>) -> Res<Expr> {
        self.advance();
        let ends = |p: &Parser| p.is_op(":") || p.is_op(",") || p.is_op("]");
        let upper = if ends(self) {
            None
        } else {
            Some(Box::new(self.expression()?))
        };
        let step = if self.eat_op(":") {
            if self.is_op(",") || self.is_op("]") {
                None
            } else {
                Some(Box::new(self.expression()?))
            }
        } else {
            None
        };
        Ok(mk(
            ExprKind::Slice {
                lower: lower.map(Box::new),
                upper,
                step,
            },
            pos,
        ))
    }

    /// `yield`, `yield value(s)`, `yield from x`; the current token is `yield`.
    fn yield_expr(&mut self) -> Res<Expr> {
        let pos = self.pos();
        self.advance();
        if self.eat_kw("from") {
            let e = self.expression()?;
            return Ok(mk(ExprKind::YieldFrom(Box::new(e)), pos));
        }
        if self.starts_expr() {
            let e = self.star_expressions()?;
            return Ok(mk(ExprKind::Yield(Some(Box::new(e))), pos));
        }
        Ok(mk(ExprKind::Yield(None), pos))
    }
}

/// Height of a node just built by `postfix` whose value had height `value_h`.
fn post_height(e: &Expr, value_h: usize) -> usize {
    let child = match &e.kind {
        ExprKind::Call { args, .. } => args
            .iter()
            .map(|a| match a {
                Arg::Positional(x) | Arg::Star(x) | Arg::Keyword(_, x) | Arg::DoubleStar(x) => {
                    depth::expr_height(x)
                }
            })
            .max()
            .unwrap_or(0),
        ExprKind::Subscript { index, .. } => depth::expr_height(index),
        _ => 0,
    };
    value_h.max(child) + 1
}

/// Checks Python's rules on the order of call arguments before `arg` is appended.
fn check_arg_order(seen_kw: bool, seen_dstar: bool, arg: &Arg) -> Res<()> {
    match arg {
        Arg::Star(e) if seen_dstar => Err(syntax(
            "iterable argument unpacking follows keyword argument unpacking",
            Pos {
                line: e.pos.line,
                col: e.pos.col.saturating_sub(1).max(1),
            },
        )),
        Arg::Positional(e) if seen_dstar => Err(syntax(
            "positional argument follows keyword argument unpacking",
            e.pos,
        )),
        Arg::Positional(e) if seen_kw => Err(syntax(
            "positional argument follows keyword argument",
            e.pos,
        )),
        _ => Ok(()),
    }
}

/// A pending lambda header or `body if test else` awaiting its last part.
enum Wrap {
    Lambda(Box<Params>, Pos),
    IfExp(Expr, Expr),
}

/// Applies the collected lambda / conditional-expression wrappers around `e`.
fn build_wraps(mut wraps: Vec<Wrap>, mut e: Expr) -> Res<Expr> {
    if wraps.is_empty() {
        return Ok(e);
    }
    let mut h = depth::expr_height(&e);
    while let Some(w) = wraps.pop() {
        match w {
            Wrap::Lambda(params, pos) => {
                h = h.max(depth::params_height(&params)) + 1;
                e = mk(
                    ExprKind::Lambda {
                        params,
                        body: Box::new(e),
                    },
                    pos,
                );
            }
            Wrap::IfExp(body, test) => {
                h = h
                    .max(depth::expr_height(&body))
                    .max(depth::expr_height(&test))
                    + 1;
                let pos = body.pos;
                let kind = ExprKind::IfExp {
                    test: Box::new(test),
                    body: Box::new(body),
                    orelse: Box::new(e),
                };
                e = mk(kind, pos);
            }
        }
        check_height(h, e.pos)?;
    }
    Ok(e)
}

/// Pops one pending operator and its operands, pushing the built node.
fn reduce_top(op: Pending, operands: &mut Vec<(Expr, Option<usize>)>) -> Res<()> {
    fn height(x: &(Expr, Option<usize>)) -> usize {
        x.1.unwrap_or_else(|| depth::expr_height(&x.0))
    }
    let fail = || syntax("invalid syntax", Pos { line: 1, col: 1 });
    let n = match &op {
        Pending::Pre(..) => 1,
        Pending::Bin(..) => 2,
        Pending::Bool(_, n) => n + 1,
        Pending::Cmp(v) => v.len() + 1,
    };
    let start = operands.len().checked_sub(n).ok_or_else(fail)?;
    let mut args = operands.split_off(start);
    let h = args.iter().map(height).max().unwrap_or(0) + 1;
    let first_pos = args.first().map_or(Pos::default(), |a| a.0.pos);
    let (kind, pos) = match op {
        Pending::Pre(u, _, pos) => {
            let (x, _) = args.pop().ok_or_else(fail)?;
            match u {
                Some(op) => (
                    ExprKind::UnaryOp {
                        op,
                        operand: Box::new(x),
                    },
                    pos,
                ),
                None => (ExprKind::Await(Box::new(x)), pos),
            }
        }
        Pending::Bin(op, _) => {
            let (r, _) = args.pop().ok_or_else(fail)?;
            let (l, _) = args.pop().ok_or_else(fail)?;
            (
                ExprKind::BinOp {
                    left: Box::new(l),
                    op,
                    right: Box::new(r),
                },
                first_pos,
            )
        }
        Pending::Bool(op, _) => {
            let values = args.into_iter().map(|a| a.0).collect();
            (ExprKind::BoolOp { op, values }, first_pos)
        }
        Pending::Cmp(cops) => {
            let mut it = args.into_iter().map(|a| a.0);
            let left = it.next().ok_or_else(fail)?;
            let ops = cops.into_iter().zip(it).collect();
            (
                ExprKind::Compare {
                    left: Box::new(left),
                    ops,
                },
                first_pos,
            )
        }
    };
    check_height(h, pos)?;
    operands.push((mk(kind, pos), Some(h)));
    Ok(())
}

#[cfg(test)]
mod tests;
