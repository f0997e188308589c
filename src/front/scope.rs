//! Scope analysis: for every function, lambda, comprehension and class body, which
//! names are its locals, which of those inner functions capture (cells), and which
//! names it uses without binding them (candidates for free variables or globals).
//!
//! This is CPython's symtable pass, reduced: the compiler asks for the analysis of a
//! scope when it starts compiling it, and resolves each name against the chain of
//! enclosing scopes (see `compiler::Compiler::resolve`).

use super::ast::*;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Module,
    Function,
    Class,
}

#[derive(Debug, Default, Clone)]
pub struct ScopeInfo {
    /// Parameters, in order (positional, then keyword-only, then *args, **kwargs).
    pub params: Vec<String>,
    /// Every name bound in this scope (parameters included), in first-seen order.
    pub bound: Vec<String>,
    pub globals: BTreeSet<String>,
    pub nonlocals: BTreeSet<String>,
    /// Names this scope (or scopes nested in it) reads or writes without binding.
    pub free_uses: BTreeSet<String>,
    /// Bound names that a nested scope uses: they must live in cells.
    pub cells: BTreeSet<String>,
    pub is_generator: bool,
    /// Uses `super()` with no arguments (needs the `__class__` cell).
    pub uses_super: bool,
}

impl ScopeInfo {
    pub fn is_local(&self, name: &str) -> bool {
        !self.globals.contains(name)
            && !self.nonlocals.contains(name)
            && self.bound.iter().any(|b| b == name)
    }
}

/// Analyses scopes on demand and remembers the result per AST node.
#[derive(Default)]
pub struct Analyzer {
    cache: HashMap<usize, ScopeInfo>,
}

struct Walker<'i> {
    info: &'i mut ScopeInfo,
    kind: ScopeKind,
    uses: BTreeSet<String>,
    /// Nested scopes' analyses, whose free uses we inherit.
    children: Vec<ScopeInfo>,
}

impl Analyzer {
    pub fn function(&mut self, key: usize, params: &Params, body: &[Stmt]) -> ScopeInfo {
        if let Some(i) = self.cache.get(&key) {
            return i.clone();
        }
        let mut info = ScopeInfo::default();
        for p in params_in_order(params) {
            info.params.push(p.name.clone());
            push_unique(&mut info.bound, &p.name);
        }
        let mut w = Walker::new(&mut info, ScopeKind::Function);
        w.stmts(self, body);
        w.finish();
        self.cache.insert(key, info.clone());
        info
    }

    pub fn lambda(&mut self, key: usize, params: &Params, body: &Expr) -> ScopeInfo {
        if let Some(i) = self.cache.get(&key) {
            return i.clone();
        }
        let mut info = ScopeInfo::default();
        for p in params_in_order(params) {
            info.params.push(p.name.clone());
            push_unique(&mut info.bound, &p.name);
        }
        let mut w = Walker::new(&mut info, ScopeKind::Function);
        w.expr(self, body);
        w.finish();
        self.cache.insert(key, info.clone());
        info
    }

    /// A comprehension is a function of one parameter (`.0`, the outermost iterable,
    /// evaluated outside), as in CPython 3.11.
    pub fn comprehension(
        &mut self,
        key: usize,
        elts: &[&Expr],
        generators: &[Comprehension],
    ) -> ScopeInfo {
        if let Some(i) = self.cache.get(&key) {
            return i.clone();
        }
        let mut info = ScopeInfo {
            params: vec![".0".into()],
            bound: vec![".0".into()],
            ..Default::default()
        };
        let mut w = Walker::new(&mut info, ScopeKind::Function);
        for (i, g) in generators.iter().enumerate() {
            if i > 0 {
                w.expr(self, &g.iter);
            }
            w.target(self, &g.target);
            for c in &g.ifs {
                w.expr(self, c);
            }
        }
        for e in elts {
            w.expr(self, e);
        }
        w.finish();
        self.cache.insert(key, info.clone());
        info
    }

    pub fn class(&mut self, key: usize, body: &[Stmt]) -> ScopeInfo {
        if let Some(i) = self.cache.get(&key) {
            return i.clone();
        }
        let mut info = ScopeInfo::default();
        let mut w = Walker::new(&mut info, ScopeKind::Class);
        w.stmts(self, body);
        w.finish();
        self.cache.insert(key, info.clone());
        info
    }

    pub fn module(&mut self, body: &[Stmt]) -> ScopeInfo {
        let mut info = ScopeInfo::default();
        let mut w = Walker::new(&mut info, ScopeKind::Module);
        w.stmts(self, body);
        w.finish();
        info
    }
}

pub fn params_in_order(p: &Params) -> Vec<&Param> {
    let mut v: Vec<&Param> = p.args.iter().collect();
    v.extend(p.kwonly.iter());
    if let Some(a) = &p.vararg {
        v.push(a);
    }
    if let Some(k) = &p.kwarg {
        v.push(k);
    }
    v
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

pub fn node_key<T>(t: &T) -> usize {
    t as *const T as usize
}

impl<'i> Walker<'i> {
    fn new(info: &'i mut ScopeInfo, kind: ScopeKind) -> Self {
        Walker {
            info,
            kind,
            uses: BTreeSet::new(),
            children: Vec::new(),
        }
    }

    fn bind(&mut self, name: &str) {
        push_unique(&mut self.info.bound, name);
    }

    fn finish(self) {
        let info = self.info;
        let mut free = BTreeSet::new();
        for u in &self.uses {
            if info.globals.contains(u) {
                continue;
            }
            if !info.is_local(u) || info.nonlocals.contains(u) {
                free.insert(u.clone());
            }
        }
        for n in &info.nonlocals {
            free.insert(n.clone());
        }
        for child in &self.children {
            for u in &child.free_uses {
                let captured = (self.kind == ScopeKind::Function && info.is_local(u))
                    || (self.kind == ScopeKind::Class && u == "__class__");
                if captured {
                    info.cells.insert(u.clone());
                } else if !info.globals.contains(u) {
                    free.insert(u.clone());
                }
            }
        }
        if self.kind == ScopeKind::Module {
            free.clear();
        }
        info.free_uses = free;
    }

    fn stmts(&mut self, a: &mut Analyzer, body: &[Stmt]) {
        for s in body {
            self.stmt(a, s);
        }
    }

    fn target(&mut self, a: &mut Analyzer, t: &Expr) {
        match &t.kind {
            ExprKind::Name(n) => {
                self.bind(n);
                if self.info.nonlocals.contains(n) {
                    self.uses.insert(n.clone());
                }
            }
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                for i in items {
                    self.target(a, i)
                }
            }
            ExprKind::Starred(inner) => self.target(a, inner),
            _ => self.expr(a, t),
        }
    }

    fn stmt(&mut self, a: &mut Analyzer, s: &Stmt) {
        match &s.kind {
            StmtKind::Expr(e) => self.expr(a, e),
            StmtKind::Assign { targets, value } => {
                self.expr(a, value);
                for t in targets {
                    self.target(a, t);
                }
            }
            StmtKind::AugAssign { target, value, .. } => {
                self.expr(a, value);
                if let ExprKind::Name(n) = &target.kind {
                    self.uses.insert(n.clone());
                }
                self.target(a, target);
            }
            StmtKind::AnnAssign { target, value, .. } => {
                if let Some(v) = value {
                    self.expr(a, v);
                    self.target(a, target);
                } else if let ExprKind::Name(n) = &target.kind {
                    // `x: int` alone binds nothing at runtime but makes x local.
                    self.bind(n);
                }
            }
            StmtKind::If { test, body, orelse } | StmtKind::While { test, body, orelse } => {
                self.expr(a, test);
                self.stmts(a, body);
                self.stmts(a, orelse);
            }
            StmtKind::For {
                target,
                iter,
                body,
                orelse,
                ..
            } => {
                self.expr(a, iter);
                self.target(a, target);
                self.stmts(a, body);
                self.stmts(a, orelse);
            }
            StmtKind::Break | StmtKind::Continue | StmtKind::Pass => {}
            StmtKind::Return(v) => {
                if let Some(v) = v {
                    self.expr(a, v)
                }
            }
            StmtKind::FunctionDef(f) => {
                for d in &f.decorators {
                    self.expr(a, d);
                }
                self.param_defaults(a, &f.params);
                self.bind(&f.name);
                let child = a.function(node_key(&**f), &f.params, &f.body);
                self.children.push(child);
            }
            StmtKind::ClassDef(c) => {
                for d in &c.decorators {
                    self.expr(a, d);
                }
                for b in &c.bases {
                    self.expr(a, b);
                }
                self.bind(&c.name);
                let child = a.class(node_key(&**c), &c.body);
                self.children.push(child);
            }
            StmtKind::Global(names) => {
                for n in names {
                    self.info.globals.insert(n.clone());
                }
            }
            StmtKind::Nonlocal(names) => {
                for n in names {
                    self.info.nonlocals.insert(n.clone());
                }
            }
            StmtKind::Try(t) => {
                self.stmts(a, &t.body);
                for h in &t.handlers {
                    if let Some(ty) = &h.typ {
                        self.expr(a, ty);
                    }
                    if let Some(n) = &h.name {
                        self.bind(n);
                    }
                    self.stmts(a, &h.body);
                }
                self.stmts(a, &t.orelse);
                self.stmts(a, &t.finalbody);
            }
            StmtKind::Raise { exc, cause } => {
                if let Some(e) = exc {
                    self.expr(a, e);
                }
                if let Some(c) = cause {
                    self.expr(a, c);
                }
            }
            StmtKind::Assert { test, msg } => {
                self.expr(a, test);
                if let Some(m) = msg {
                    self.expr(a, m);
                }
            }
            StmtKind::Delete(targets) => {
                for t in targets {
                    self.target(a, t);
                }
            }
            StmtKind::Import(names) => {
                for al in names {
                    let bound = match &al.asname {
                        Some(n) => n.as_str(),
                        None => al.name.split('.').next().unwrap_or(&al.name),
                    };
                    self.bind(bound);
                }
            }
            StmtKind::ImportFrom { names, .. } => {
                for al in names {
                    if al.name != "*" {
                        self.bind(al.asname.as_ref().unwrap_or(&al.name));
                    }
                }
            }
            StmtKind::With { items, body, .. } => {
                for it in items {
                    self.expr(a, &it.context);
                    if let Some(t) = &it.target {
                        self.target(a, t);
                    }
                }
                self.stmts(a, body);
            }
        }
    }

    fn param_defaults(&mut self, a: &mut Analyzer, p: &Params) {
        for q in p.args.iter().chain(p.kwonly.iter()) {
            if let Some(d) = &q.default {
                self.expr(a, d);
            }
        }
    }

    fn expr(&mut self, a: &mut Analyzer, e: &Expr) {
        match &e.kind {
            ExprKind::Int(_)
            | ExprKind::BigInt(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::NoneLit
            | ExprKind::Ellipsis => {}
            ExprKind::FString(parts) => self.fparts(a, parts),
            ExprKind::Name(n) => {
                self.uses.insert(n.clone());
            }
            ExprKind::BinOp { left, right, .. } => {
                self.expr(a, left);
                self.expr(a, right);
            }
            ExprKind::UnaryOp { operand, .. } => self.expr(a, operand),
            ExprKind::BoolOp { values, .. } => values.iter().for_each(|v| self.expr(a, v)),
            ExprKind::Compare { left, ops } => {
                self.expr(a, left);
                ops.iter().for_each(|(_, v)| self.expr(a, v));
            }
            ExprKind::IfExp { test, body, orelse } => {
                self.expr(a, test);
                self.expr(a, body);
                self.expr(a, orelse);
            }
            ExprKind::Call { func, args } => {
                if let ExprKind::Name(n) = &func.kind {
                    if n == "super" && args.is_empty() {
                        self.info.uses_super = true;
                        self.uses.insert("__class__".into());
                    }
                }
                self.expr(a, func);
                for arg in args {
                    match arg {
                        Arg::Positional(v) | Arg::Star(v) | Arg::DoubleStar(v) => self.expr(a, v),
                        Arg::Keyword(_, v) => self.expr(a, v),
                    }
                }
            }
            ExprKind::Attribute { value, .. } => self.expr(a, value),
            ExprKind::Subscript { value, index } => {
                self.expr(a, value);
                self.expr(a, index);
            }
            ExprKind::Slice { lower, upper, step } => {
                for x in [lower, upper, step].into_iter().flatten() {
                    self.expr(a, x);
                }
            }
            ExprKind::List(v) | ExprKind::Tuple(v) | ExprKind::Set(v) => {
                v.iter().for_each(|x| self.expr(a, x))
            }
            ExprKind::Dict(pairs) => {
                for (k, v) in pairs {
                    if let Some(k) = k {
                        self.expr(a, k);
                    }
                    self.expr(a, v);
                }
            }
            ExprKind::ListComp { elt, generators }
            | ExprKind::SetComp { elt, generators }
            | ExprKind::GeneratorExp { elt, generators } => {
                self.comp(a, e, &[&**elt], generators);
            }
            ExprKind::DictComp {
                key,
                value,
                generators,
            } => {
                self.comp(a, e, &[&**key, &**value], generators);
            }
            ExprKind::Lambda { params, body } => {
                self.param_defaults(a, params);
                let child = a.lambda(node_key(e), params, body);
                self.children.push(child);
            }
            ExprKind::Starred(v) | ExprKind::YieldFrom(v) | ExprKind::Await(v) => {
                if matches!(e.kind, ExprKind::YieldFrom(_)) {
                    self.info.is_generator = true;
                }
                self.expr(a, v)
            }
            ExprKind::Yield(v) => {
                self.info.is_generator = true;
                if let Some(v) = v {
                    self.expr(a, v);
                }
            }
            ExprKind::NamedExpr { target, value } => {
                self.expr(a, value);
                self.bind(target);
            }
        }
    }

    fn comp(&mut self, a: &mut Analyzer, e: &Expr, elts: &[&Expr], gens: &[Comprehension]) {
        if let Some(first) = gens.first() {
            self.expr(a, &first.iter);
        }
        let child = a.comprehension(node_key(e), elts, gens);
        self.children.push(child);
    }

    fn fparts(&mut self, a: &mut Analyzer, parts: &[FPart]) {
        for p in parts {
            if let FPart::Value { expr, spec, .. } = p {
                self.expr(a, expr);
                self.fparts(a, spec);
            }
        }
    }
}
