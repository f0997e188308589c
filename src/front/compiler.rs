//! The compiler: syntax tree -> `Program` (a table of code objects).
//!
//! One pass over the tree per code object, emitting instructions with their source
//! lines. Names are resolved here, once, to frame slots (locals, cells, free
//! variables), to global slots, or (in class bodies only) to a namespace lookup,
//! so the VM never hashes a variable name (see `scope` for the analysis).
//!
//! Control flow that leaves a `try`, `with` or loop early (`break`, `continue`,
//! `return`) is compiled like CPython 3.9+: the compiler walks its stack of open
//! blocks and emits their clean-up inline (pop the handler, run the `finally` body,
//! call `__exit__`), so the VM's block stack stays simple.

use super::ast::*;
use super::scope::{node_key, params_in_order, Analyzer, ScopeInfo, ScopeKind};
use crate::bytecode::{intern, BinOpKind, CmpKind, Code, CodeFlags, Const, Instr, Program};
use std::collections::HashMap;
use std::sync::Arc;

/// A problem the parser could not see: `return` outside a function and the like.
/// Reported as a SyntaxError.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    pub msg: String,
    pub line: u32,
    pub col: u32,
}

type CResult<T = ()> = Result<T, CompileError>;

#[derive(Clone, Copy)]
enum NameOp {
    Fast(u32),
    Deref(u32),
    Global(u32),
    Name(crate::bytecode::Sym),
}

/// A block that early exits must clean up after, innermost last.
enum FBlock<'a> {
    /// A `while` or `for` loop; `for_loop` loops keep three iteration slots on the stack.
    Loop {
        continue_to: u32,
        breaks: Vec<usize>,
        for_loop: bool,
    },
    /// Inside a `try` body with an except handler.
    Try,
    /// Inside a `try` body with a `finally`: leaving runs the body.
    Finally(&'a [Stmt]),
    /// Inside a finally body run for an exception: the exception sits on the stack.
    FinallyExc,
    /// Inside an `except` clause.
    Handler,
    /// Inside a `with` (or `async with`) body: the exit method sits on the stack.
    With(bool),
}

struct CodeBuilder {
    code: Code,
}

struct ScopeCtx<'a> {
    kind: ScopeKind,
    info: ScopeInfo,
    b: CodeBuilder,
    fblocks: Vec<FBlock<'a>>,
    line: u32,
    /// slot of each local / cell / free name
    fast: HashMap<String, u32>,
    cells: HashMap<String, u32>,
    frees: HashMap<String, u32>,
    is_async: bool,
    /// Positions that jumps land on.
    labels: std::collections::HashSet<u32>,
}

pub struct Compiler<'a> {
    codes: Vec<Option<Code>>,
    globals: Vec<Arc<str>>,
    global_index: HashMap<String, u32>,
    scopes: Vec<ScopeCtx<'a>>,
    analyzer: Analyzer,
}

/// Names every program can use without defining them. They get global slots up front
/// so that the VM can fill them before the program starts.
pub const BUILTIN_NAMES: &[&str] = &[
    "print",
    "len",
    "range",
    "str",
    "repr",
    "int",
    "float",
    "bool",
    "list",
    "tuple",
    "dict",
    "set",
    "type",
    "isinstance",
    "issubclass",
    "abs",
    "min",
    "max",
    "sum",
    "round",
    "divmod",
    "sorted",
    "reversed",
    "enumerate",
    "zip",
    "any",
    "all",
    "ord",
    "chr",
    "iter",
    "next",
    "map",
    "filter",
    "hasattr",
    "getattr",
    "setattr",
    "callable",
    "id",
    "hash",
    "pow",
    "hex",
    "oct",
    "bin",
    "input",
    "object",
    "super",
    "format",
    "frozenset",
    "slice",
    "vars",
    "ascii",
    "BaseException",
    "Exception",
    "ValueError",
    "TypeError",
    "NameError",
    "IndexError",
    "KeyError",
    "ZeroDivisionError",
    "AttributeError",
    "RecursionError",
    "OverflowError",
    "AssertionError",
    "RuntimeError",
    "MemoryError",
    "SyntaxError",
    "ImportError",
    "StopIteration",
    "LookupError",
    "ArithmeticError",
    "NotImplementedError",
    "UnboundLocalError",
    "ModuleNotFoundError",
    "KeyboardInterrupt",
    "SystemExit",
    "TimeoutError",
    "StopAsyncIteration",
    "GeneratorExit",
    "IndentationError",
    "MemoryCorruptionError",
    "OSError",
    "ConnectionError",
    "FloatingPointError",
    "EOFError",
    "NotImplemented",
    "Ellipsis",
    "__name__",
    "__file__",
];

fn err<T>(msg: impl Into<String>, pos: Pos) -> CResult<T> {
    Err(CompileError {
        msg: msg.into(),
        line: pos.line,
        col: pos.col,
    })
}

fn binop_kind(op: BinOp) -> BinOpKind {
    match op {
        BinOp::Add => BinOpKind::Add,
        BinOp::Sub => BinOpKind::Sub,
        BinOp::Mul => BinOpKind::Mul,
        BinOp::Div => BinOpKind::TrueDiv,
        BinOp::FloorDiv => BinOpKind::FloorDiv,
        BinOp::Mod => BinOpKind::Mod,
        BinOp::Pow => BinOpKind::Pow,
        BinOp::LShift => BinOpKind::LShift,
        BinOp::RShift => BinOpKind::RShift,
        BinOp::BitOr => BinOpKind::Or,
        BinOp::BitXor => BinOpKind::Xor,
        BinOp::BitAnd => BinOpKind::And,
        BinOp::MatMul => BinOpKind::MatMul,
    }
}

fn set_target(i: &mut Instr, t: u32) {
    use Instr::*;
    match i {
        Jump(x)
        | JumpBackward(x)
        | PopJumpIfFalse(x)
        | PopJumpIfTrue(x)
        | JumpIfFalseOrPop(x)
        | JumpIfTrueOrPop(x)
        | ForIter(x)
        | ForIterStore(x, _)
        | ForIterStoreGlobal(x, _)
        | SetupExcept(x)
        | JumpIfNotExcMatch(x)
        | CompareJump(_, x)
        | CompareFastConstJump(_, _, _, x)
        | CompareFastFastJump(_, _, _, x)
        | CompareConstJump(_, _, x)
        | IsNoneFastJump(_, _, x)
        | FastJumpIfFalse(_, x) => *x = t,
        _ => {}
    }
}

fn const_eq(a: &Const, b: &Const) -> bool {
    match (a, b) {
        (Const::Float(x), Const::Float(y)) => x.to_bits() == y.to_bits(),
        (Const::Int(x), Const::Int(y)) => x == y,
        (Const::Bool(x), Const::Bool(y)) => x == y,
        (Const::Str(x), Const::Str(y)) => x == y,
        (Const::BigInt(x), Const::BigInt(y)) => x == y,
        (Const::None, Const::None) | (Const::Ellipsis, Const::Ellipsis) => true,
        (Const::Tuple(x), Const::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| const_eq(p, q))
        }
        _ => false,
    }
}

/// Compile a parsed module. `filename` appears in tracebacks.
pub fn compile(module: &Module, filename: &str, source: &str) -> Result<Program, CompileError> {
    let mut c = Compiler {
        codes: vec![None],
        globals: Vec::new(),
        global_index: HashMap::new(),
        scopes: Vec::new(),
        analyzer: Analyzer::default(),
    };
    for b in BUILTIN_NAMES {
        c.global_slot(b);
    }
    let info = c.analyzer.module(&module.body);
    c.push_scope(
        ScopeKind::Module,
        info,
        "<module>",
        "<module>",
        1,
        &Params::default(),
        false,
    );
    c.stmts(&module.body)?;
    c.load_const(Const::None);
    c.emit(Instr::ReturnValue);
    let code = c.pop_scope();
    c.codes[0] = Some(code);
    let codes = c
        .codes
        .into_iter()
        .map(|c| c.unwrap_or_else(empty_code))
        .collect();
    Ok(Program {
        codes,
        global_names: c.globals,
        filename: Arc::from(filename),
        source: Arc::from(source),
    })
}

fn empty_code() -> Code {
    Code {
        name: Arc::from("?"),
        qualname: Arc::from("?"),
        first_line: 0,
        instrs: vec![Instr::ReturnValue],
        lines: vec![0],
        consts: vec![],
        flags: CodeFlags::default(),
        argcount: 0,
        kwonlycount: 0,
        n_defaults: 0,
        has_kwdefaults: false,
        varnames: vec![],
        cellnames: vec![],
        freenames: vec![],
        cell_args: vec![],
    }
}

impl<'a> Compiler<'a> {
    fn global_slot(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.global_index.get(name) {
            return i;
        }
        let i = self.globals.len() as u32;
        self.globals.push(Arc::from(name));
        self.global_index.insert(name.to_string(), i);
        i
    }

    fn sc(&mut self) -> &mut ScopeCtx<'a> {
        let n = self.scopes.len() - 1;
        &mut self.scopes[n]
    }

    fn here(&self) -> u32 {
        self.scopes
            .last()
            .map_or(0, |s| s.b.code.instrs.len() as u32)
    }

    fn emit(&mut self, i: Instr) -> usize {
        let sc = self.sc();
        let here = sc.b.code.instrs.len() as u32;
        // Peephole: fuse `Compare; PopJumpIfFalse` unless a jump lands between them.
        if let (Instr::PopJumpIfFalse(t), Some(&Instr::Compare(op))) = (i, sc.b.code.instrs.last())
        {
            if !sc.labels.contains(&here) {
                let last = sc.b.code.instrs.len() - 1;
                // ... and the operands' loads with them, when they are a local and a
                // constant, or two locals (`while i < n`, `if n < 2`).
                let small = |x: u32| u8::try_from(x).ok();
                let operands = match sc.b.code.instrs[..last] {
                    [.., Instr::LoadFast(a), Instr::LoadConst(c)]
                        if !sc.labels.contains(&(last as u32 - 1)) =>
                    {
                        small(a)
                            .zip(small(c))
                            .map(|(a, c)| (2, Instr::CompareFastConstJump(op, a, c, t)))
                    }
                    [.., Instr::LoadFast2(ab)] => small(ab >> 16)
                        .zip(small(ab & 0xffff))
                        .map(|(a, b)| (1, Instr::CompareFastFastJump(op, a, b, t))),
                    [.., Instr::LoadConst(c)] => u16::try_from(c)
                        .ok()
                        .map(|c| (1, Instr::CompareConstJump(op, c, t))),
                    _ => None,
                };
                if let Some((k, f)) = operands.filter(|_| !sc.labels.contains(&(last as u32))) {
                    let start = last - k;
                    sc.b.code.instrs.truncate(start);
                    sc.b.code.lines.truncate(start + 1);
                    sc.b.code.instrs.push(f);
                    return start;
                }
                sc.b.code.instrs[last] = Instr::CompareJump(op, t);
                return last;
            }
        }
        // `if x is None:` and `if x is not None:` on a local, in one instruction.
        if let (
            Instr::PopJumpIfFalse(t),
            [.., Instr::LoadFast(s), Instr::LoadConst(c), Instr::IsOp(neg)],
        ) = (i, sc.b.code.instrs.as_slice())
        {
            let n = sc.b.code.instrs.len() as u32;
            let none = matches!(sc.b.code.consts.get(*c as usize), Some(Const::None));
            if let (true, Ok(s)) = (none, u16::try_from(*s)) {
                if (n - 2..=n).all(|p| !sc.labels.contains(&p)) {
                    let start = n as usize - 3;
                    let f = Instr::IsNoneFastJump(*neg, s, t);
                    sc.b.code.instrs.truncate(start);
                    sc.b.code.lines.truncate(start + 1);
                    sc.b.code.instrs.push(f);
                    return start;
                }
            }
        }
        // Superinstructions for the commonest sequences (see Instr).
        let n = sc.b.code.instrs.len();
        let is_label = |p: usize| sc.labels.contains(&(p as u32));
        let fused = match (i, sc.b.code.instrs.as_slice()) {
            (Instr::PopJumpIfFalse(t), [.., Instr::LoadFast(s)])
                if *s < 0x10000 && !is_label(n) =>
            {
                Some((1, Instr::FastJumpIfFalse(*s as u16, t)))
            }
            // The value under the container and index is the constant pushed just
            // before them (no jump lands in between).
            (Instr::StoreSubscr, [.., Instr::LoadConst(c), Instr::LoadFast2(ab)])
                if *c < 0x10000 && !is_label(n) && !is_label(n - 1) =>
            {
                Some((
                    2,
                    Instr::StoreConstSubscrFastFast((*ab >> 16) as u16, *ab as u16, *c as u16),
                ))
            }
            (Instr::LoadFast(b), [.., Instr::LoadFast(a)])
                if *a < 0x10000 && b < 0x10000 && !is_label(n) =>
            {
                Some((1, Instr::LoadFast2((*a << 16) | b)))
            }
            (Instr::BinarySubscr, [.., Instr::LoadFast(s), Instr::LoadConst(c)])
                if *s < 0x10000 && *c < 0x10000 && !is_label(n) && !is_label(n - 1) =>
            {
                Some((2, Instr::SubscrFastConst(*s as u16, *c as u16)))
            }
            (Instr::BinarySubscr, [.., Instr::BuildSlice(k)]) if !is_label(n) => {
                Some((1, Instr::SubscrSlice(*k)))
            }
            (Instr::StoreSubscr, [.., Instr::BuildSlice(k)]) if !is_label(n) => {
                Some((1, Instr::StoreSlice(*k)))
            }
            (Instr::StoreFast(s), [.., Instr::ForIter(t)]) if s < 0x10000 && !is_label(n) => {
                Some((1, Instr::ForIterStore(*t, s as u16)))
            }
            (Instr::StoreGlobal(g), [.., Instr::ForIter(t)]) if g < 0x10000 && !is_label(n) => {
                Some((1, Instr::ForIterStoreGlobal(*t, g as u16)))
            }
            (Instr::LoadMethod(m), [.., Instr::LoadFast(s)]) if *s < 0x10000 && !is_label(n) => {
                Some((1, Instr::LoadFastMethod(*s as u16, m)))
            }
            (Instr::LoadMethod(m), [.., Instr::LoadGlobal(g)]) if *g < 0x10000 && !is_label(n) => {
                Some((1, Instr::LoadGlobalMethod(*g as u16, m)))
            }
            (Instr::StoreSubscr, [.., Instr::LoadFast2(ab)]) if !is_label(n) => Some((
                1,
                Instr::StoreSubscrFastFast((*ab >> 16) as u16, *ab as u16),
            )),
            (Instr::StoreSubscr, [.., Instr::LoadFast(s), Instr::LoadConst(c)])
                if *s < 0x10000 && *c < 0x10000 && !is_label(n) && !is_label(n - 1) =>
            {
                Some((2, Instr::StoreSubscrFastConst(*s as u16, *c as u16)))
            }
            (Instr::BinarySubscr, [.., Instr::LoadFast2(ab)]) if !is_label(n) => {
                Some((1, Instr::SubscrFastFast((*ab >> 16) as u16, *ab as u16)))
            }
            (Instr::Binary(op), [.., Instr::LoadFast(s), Instr::LoadConst(c)])
                if *s < 0x10000 && *c < 0x10000 && !is_label(n) && !is_label(n - 1) =>
            {
                Some((2, Instr::BinaryFastConst(op, *s as u16, *c as u16)))
            }
            (Instr::Binary(op), [.., Instr::LoadFast2(ab)]) if !is_label(n) => {
                Some((1, Instr::BinaryFastFast(op, (*ab >> 16) as u16, *ab as u16)))
            }
            (Instr::Binary(op), [.., Instr::LoadConst(c)]) if !is_label(n) => {
                Some((1, Instr::BinaryConst(op, *c)))
            }
            (Instr::Binary(op), [.., Instr::LoadFast(s)]) if !is_label(n) => {
                Some((1, Instr::BinaryTosFast(op, *s)))
            }
            (Instr::StoreFast(s), [.., Instr::Binary(op)]) if !is_label(n) => {
                Some((1, Instr::BinaryStoreFast(*op, s)))
            }
            (Instr::ReturnValue, [.., Instr::LoadFast(s)]) if !is_label(n) => {
                Some((1, Instr::ReturnFast(*s)))
            }
            (Instr::ReturnValue, [.., Instr::LoadConst(c)]) if !is_label(n) => {
                Some((1, Instr::ReturnConst(*c)))
            }
            (Instr::LoadAttr(a), [.., Instr::LoadFast(s)]) if *s < 0x10000 && !is_label(n) => {
                Some((1, Instr::LoadAttrFast(*s as u16, a)))
            }
            (
                Instr::StoreFast(t),
                [.., Instr::LoadFast(s), Instr::LoadConst(c), Instr::BinaryInplace(op)],
            ) if *s == t
                && *s < 0x10000
                && *c < 0x10000
                && !is_label(n)
                && !is_label(n - 1)
                && !is_label(n - 2) =>
            {
                Some((3, Instr::AugFastConst(*op, *s as u16, *c as u16)))
            }
            _ => None,
        };
        if let Some((k, f)) = fused {
            let start = n - k;
            sc.b.code.instrs.truncate(start);
            sc.b.code.lines.truncate(start + 1);
            sc.b.code.instrs.push(f);
            return start;
        }
        let line = sc.line;
        sc.b.code.instrs.push(i);
        sc.b.code.lines.push(line);
        sc.b.code.instrs.len() - 1
    }

    /// The current position, recorded as a jump target (so no peephole fusion
    /// swallows the instruction a jump lands on).
    fn label(&mut self) -> u32 {
        let h = self.here();
        self.sc().labels.insert(h);
        h
    }

    fn patch_here(&mut self, at: usize) {
        let t = self.label();
        if let Some(i) = self.sc().b.code.instrs.get_mut(at) {
            set_target(i, t);
        }
    }

    fn const_index(&mut self, c: Const) -> u32 {
        let consts = &mut self.sc().b.code.consts;
        if let Some(i) = consts.iter().position(|x| const_eq(x, &c)) {
            return i as u32;
        }
        consts.push(c);
        (consts.len() - 1) as u32
    }

    fn load_const(&mut self, c: Const) {
        let i = self.const_index(c);
        self.emit(Instr::LoadConst(i));
    }

    #[allow(clippy::too_many_arguments)]
    fn push_scope(
        &mut self,
        kind: ScopeKind,
        info: ScopeInfo,
        name: &str,
        qualname: &str,
        line: u32,
        params: &Params,
        is_async: bool,
    ) {
        // Which of the names this scope uses freely are bound in an enclosing function?
        let mut freenames: Vec<String> = Vec::new();
        if kind != ScopeKind::Module {
            for u in &info.free_uses {
                if info.globals.contains(u) {
                    continue;
                }
                let mut found = false;
                for s in self.scopes.iter().rev() {
                    match s.kind {
                        ScopeKind::Function => {
                            if s.info.is_local(u) || s.frees.contains_key(u) {
                                found = true;
                                break;
                            }
                            if s.info.globals.contains(u) {
                                break;
                            }
                        }
                        ScopeKind::Class => {
                            if u == "__class__" && s.cells.contains_key(u) {
                                found = true;
                                break;
                            }
                        }
                        ScopeKind::Module => break,
                    }
                }
                if found {
                    freenames.push(u.clone());
                }
            }
        }
        let mut varnames: Vec<String> = Vec::new();
        let mut cellnames: Vec<String> = Vec::new();
        match kind {
            ScopeKind::Module => {}
            ScopeKind::Class => {
                varnames.push(".ns".into());
                cellnames.extend(info.cells.iter().cloned());
            }
            ScopeKind::Function => {
                varnames.extend(info.params.iter().cloned());
                for b in &info.bound {
                    if info.is_local(b) && !info.cells.contains(b) && !varnames.contains(b) {
                        varnames.push(b.clone());
                    }
                }
                cellnames.extend(info.cells.iter().cloned());
            }
        }
        let mut fast = HashMap::new();
        for (i, v) in varnames.iter().enumerate() {
            fast.insert(v.clone(), i as u32);
        }
        let mut cells = HashMap::new();
        let mut cell_args = Vec::new();
        for (i, v) in cellnames.iter().enumerate() {
            let slot = (varnames.len() + i) as u32;
            cells.insert(v.clone(), slot);
            if let Some(p) = info.params.iter().position(|p| p == v) {
                cell_args.push((i as u32, p as u32));
            }
        }
        let mut frees = HashMap::new();
        for (i, v) in freenames.iter().enumerate() {
            frees.insert(v.clone(), (varnames.len() + cellnames.len() + i) as u32);
        }
        let flags = CodeFlags {
            generator: info.is_generator && !is_async,
            coroutine: is_async,
            varargs: params.vararg.is_some(),
            varkeywords: params.kwarg.is_some(),
            class_body: kind == ScopeKind::Class,
            module: kind == ScopeKind::Module,
        };
        let n_defaults = params.args.iter().filter(|p| p.default.is_some()).count() as u32;
        let code = Code {
            name: Arc::from(name),
            qualname: Arc::from(qualname),
            first_line: line,
            instrs: Vec::new(),
            lines: Vec::new(),
            consts: Vec::new(),
            flags,
            argcount: params.args.len() as u32,
            kwonlycount: params.kwonly.len() as u32,
            n_defaults,
            has_kwdefaults: params.kwonly.iter().any(|p| p.default.is_some()),
            varnames: varnames.iter().map(|s| Arc::from(s.as_str())).collect(),
            cellnames: cellnames.iter().map(|s| Arc::from(s.as_str())).collect(),
            freenames: freenames.iter().map(|s| Arc::from(s.as_str())).collect(),
            cell_args,
        };
        self.scopes.push(ScopeCtx {
            kind,
            info,
            b: CodeBuilder { code },
            fblocks: Vec::new(),
            line,
            fast,
            cells,
            frees,
            is_async,
            labels: Default::default(),
        });
        if flags.generator || flags.coroutine {
            self.emit(Instr::GenStart);
        }
    }

    fn pop_scope(&mut self) -> Code {
        match self.scopes.pop() {
            Some(s) => s.b.code,
            None => empty_code(),
        }
    }

    fn qualname_for(&self, name: &str) -> String {
        match self.scopes.last() {
            Some(s) if s.kind == ScopeKind::Function => {
                format!("{}.<locals>.{}", s.b.code.qualname, name)
            }
            Some(s) if s.kind == ScopeKind::Class => format!("{}.{}", s.b.code.qualname, name),
            _ => name.to_string(),
        }
    }

    fn resolve(&mut self, name: &str) -> NameOp {
        let Some(sc) = self.scopes.last() else {
            return NameOp::Name(intern(name));
        };
        match sc.kind {
            ScopeKind::Module => NameOp::Global(self.global_slot(name)),
            ScopeKind::Class => {
                if sc.info.globals.contains(name) {
                    return NameOp::Global(self.global_slot(name));
                }
                if !sc.info.bound.iter().any(|b| b == name) {
                    if let Some(&s) = sc.frees.get(name) {
                        return NameOp::Deref(s);
                    }
                }
                NameOp::Name(intern(name))
            }
            ScopeKind::Function => {
                if sc.info.globals.contains(name) {
                    return NameOp::Global(self.global_slot(name));
                }
                if let Some(&s) = sc.cells.get(name) {
                    return NameOp::Deref(s);
                }
                if let Some(&s) = sc.frees.get(name) {
                    return NameOp::Deref(s);
                }
                if let Some(&s) = sc.fast.get(name) {
                    return NameOp::Fast(s);
                }
                NameOp::Global(self.global_slot(name))
            }
        }
    }

    fn load_name(&mut self, name: &str) {
        let op = self.resolve(name);
        if let NameOp::Name(s) = op {
            // A name the class body does not bind: CPython's LOAD_NAME falls back to
            // globals; make sure the global slot exists so the VM can find it.
            self.global_slot(name);
            self.emit(Instr::LoadName(s));
            return;
        }
        self.emit(match op {
            NameOp::Fast(s) => Instr::LoadFast(s),
            NameOp::Deref(s) => Instr::LoadDeref(s),
            NameOp::Global(s) => Instr::LoadGlobal(s),
            NameOp::Name(s) => Instr::LoadName(s),
        });
    }

    fn store_name(&mut self, name: &str) {
        let op = self.resolve(name);
        self.emit(match op {
            NameOp::Fast(s) => Instr::StoreFast(s),
            NameOp::Deref(s) => Instr::StoreDeref(s),
            NameOp::Global(s) => Instr::StoreGlobal(s),
            NameOp::Name(s) => Instr::StoreName(s),
        });
    }

    fn delete_name(&mut self, name: &str, pos: Pos) -> CResult {
        let op = self.resolve(name);
        match op {
            NameOp::Fast(s) => {
                self.emit(Instr::DeleteFast(s));
            }
            NameOp::Global(s) => {
                self.emit(Instr::DeleteGlobal(s));
            }
            _ => return err(format!("cannot delete '{name}' here in Toy"), pos),
        }
        Ok(())
    }

    // ------------------------------------------------------------------ statements

    fn stmts(&mut self, body: &'a [Stmt]) -> CResult {
        for s in body {
            self.stmt(s)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &'a Stmt) -> CResult {
        self.sc().line = s.pos.line;
        match &s.kind {
            StmtKind::Expr(e) => {
                self.expr(e)?;
                self.emit(Instr::PopTop);
            }
            StmtKind::Assign { targets, value } => {
                self.expr(value)?;
                for (i, t) in targets.iter().enumerate() {
                    if i + 1 < targets.len() {
                        self.emit(Instr::DupTop);
                    }
                    self.store_target(t)?;
                }
            }
            StmtKind::AugAssign { target, op, value } => self.aug_assign(target, *op, value)?,
            StmtKind::AnnAssign { target, value, .. } => {
                if let Some(v) = value {
                    self.expr(v)?;
                    self.store_target(target)?;
                }
            }
            StmtKind::If { test, body, orelse } => {
                self.expr(test)?;
                let jf = self.emit(Instr::PopJumpIfFalse(0));
                self.stmts(body)?;
                if orelse.is_empty() {
                    self.patch_here(jf);
                } else {
                    let je = self.emit(Instr::Jump(0));
                    self.patch_here(jf);
                    self.stmts(orelse)?;
                    self.patch_here(je);
                }
            }
            StmtKind::While { test, body, orelse } => {
                let top = self.label();
                // `while True:` (or `while 1:`) tests nothing, as in CPython: the
                // loop is left only by break, return or an exception.
                let always = match test.kind {
                    ExprKind::Bool(b) => b,
                    ExprKind::Int(i) => i != 0,
                    _ => false,
                };
                let jf = if always {
                    None
                } else {
                    self.expr(test)?;
                    Some(self.emit(Instr::PopJumpIfFalse(0)))
                };
                self.sc().fblocks.push(FBlock::Loop {
                    continue_to: top,
                    breaks: vec![],
                    for_loop: false,
                });
                self.stmts(body)?;
                self.sc().line = s.pos.line;
                self.emit(Instr::JumpBackward(top));
                let breaks = match self.sc().fblocks.pop() {
                    Some(FBlock::Loop { breaks, .. }) => breaks,
                    _ => vec![],
                };
                if let Some(jf) = jf {
                    self.patch_here(jf);
                }
                self.stmts(orelse)?;
                for b in breaks {
                    self.patch_here(b);
                }
            }
            StmtKind::For {
                target,
                iter,
                body,
                orelse,
                is_async,
            } => {
                if *is_async {
                    return err("'async for' is not supported in Toy", s.pos);
                }
                self.expr(iter)?;
                self.emit(Instr::GetIter);
                let top = self.label();
                let fi = self.emit(Instr::ForIter(0));
                self.store_target(target)?;
                self.sc().fblocks.push(FBlock::Loop {
                    continue_to: top,
                    breaks: vec![],
                    for_loop: true,
                });
                self.stmts(body)?;
                self.sc().line = s.pos.line;
                self.emit(Instr::JumpBackward(top));
                let breaks = match self.sc().fblocks.pop() {
                    Some(FBlock::Loop { breaks, .. }) => breaks,
                    _ => vec![],
                };
                self.patch_here(fi);
                self.stmts(orelse)?;
                for b in breaks {
                    self.patch_here(b);
                }
            }
            StmtKind::Break => self.break_continue(true, s.pos)?,
            StmtKind::Continue => self.break_continue(false, s.pos)?,
            StmtKind::Pass => {}
            StmtKind::Return(v) => {
                if self.sc().kind != ScopeKind::Function {
                    return err("'return' outside function", s.pos);
                }
                match v {
                    Some(v) => self.expr(v)?,
                    None => self.load_const(Const::None),
                }
                self.unwind_all(true)?;
                self.emit(Instr::ReturnValue);
            }
            StmtKind::FunctionDef(f) => self.function_def(f, s.pos)?,
            StmtKind::ClassDef(c) => self.class_def(c, s.pos)?,
            StmtKind::Global(names) => {
                if self.sc().kind == ScopeKind::Module {
                    // harmless at module level, as in Python
                } else {
                    for n in names {
                        if self.sc().info.params.contains(n) {
                            return err(format!("name '{n}' is parameter and global"), s.pos);
                        }
                    }
                }
            }
            StmtKind::Nonlocal(names) => {
                if self.sc().kind == ScopeKind::Module {
                    return err("nonlocal declaration not allowed at module level", s.pos);
                }
                for n in names {
                    if !self.sc().frees.contains_key(n) {
                        return err(format!("no binding for nonlocal '{n}' found"), s.pos);
                    }
                }
            }
            StmtKind::Try(t) => self.try_stmt(t)?,
            StmtKind::Raise { exc, cause } => match (exc, cause) {
                (None, _) => {
                    self.emit(Instr::Raise(0));
                }
                (Some(e), None) => {
                    self.expr(e)?;
                    self.emit(Instr::Raise(1));
                }
                (Some(e), Some(c)) => {
                    self.expr(e)?;
                    self.expr(c)?;
                    self.emit(Instr::Raise(2));
                }
            },
            StmtKind::Assert { test, msg } => {
                self.expr(test)?;
                let jt = self.emit(Instr::PopJumpIfTrue(0));
                self.emit(Instr::LoadAssertionError);
                if let Some(m) = msg {
                    self.expr(m)?;
                    self.emit(Instr::Call(1));
                }
                self.emit(Instr::Raise(1));
                self.patch_here(jt);
            }
            StmtKind::Delete(targets) => {
                for t in targets {
                    self.delete_target(t)?;
                }
            }
            StmtKind::Import(names) => {
                for al in names {
                    self.emit(Instr::ImportName(intern(&al.name)));
                    match &al.asname {
                        Some(a) => self.store_name(a),
                        None => {
                            let top = al.name.split('.').next().unwrap_or(&al.name).to_string();
                            if top != al.name {
                                self.emit(Instr::PopTop);
                                self.emit(Instr::ImportName(intern(&top)));
                            }
                            self.store_name(&top);
                        }
                    }
                }
            }
            StmtKind::ImportFrom { module, names } => {
                self.emit(Instr::ImportName(intern(module)));
                for al in names {
                    if al.name == "*" {
                        return err("'from ... import *' is not supported in Toy", al.pos);
                    }
                    self.emit(Instr::ImportFrom(intern(&al.name)));
                    self.store_name(al.asname.as_ref().unwrap_or(&al.name));
                }
                self.emit(Instr::PopTop);
            }
            StmtKind::With {
                items,
                body,
                is_async,
            } => {
                if *is_async && !self.sc().is_async {
                    return err("'async with' outside async function", s.pos);
                }
                self.with_items(items, body, *is_async, s.pos)?;
            }
        }
        Ok(())
    }

    fn with_items(
        &mut self,
        items: &'a [WithItem],
        body: &'a [Stmt],
        is_async: bool,
        pos: Pos,
    ) -> CResult {
        let Some((first, rest)) = items.split_first() else {
            return self.stmts(body);
        };
        self.expr(&first.context)?;
        self.emit(if is_async {
            Instr::BeforeAsyncWith
        } else {
            Instr::BeforeWith
        });
        if is_async {
            self.emit(Instr::GetAwaitable);
            self.load_const(Const::None);
            self.emit(Instr::YieldFrom);
        }
        match &first.target {
            Some(t) => self.store_target(t)?,
            None => {
                self.emit(Instr::PopTop);
            }
        }
        let setup = self.emit(Instr::SetupExcept(0));
        self.sc().fblocks.push(FBlock::With(is_async));
        self.with_items(rest, body, is_async, pos)?;
        self.sc().fblocks.pop();
        self.sc().line = pos.line;
        self.emit(Instr::PopBlock);
        if is_async {
            self.emit(Instr::AsyncWithExitNormal);
            self.emit(Instr::GetAwaitable);
            self.load_const(Const::None);
            self.emit(Instr::YieldFrom);
            self.emit(Instr::PopTop);
        } else {
            self.emit(Instr::WithExitNormal);
        }
        let jend = self.emit(Instr::Jump(0));
        self.patch_here(setup);
        // stack: exit exc
        self.emit(Instr::WithExitExc);
        if is_async {
            // the exit result is an awaitable: exc awaitable -> exc result
            self.emit(Instr::GetAwaitable);
            self.load_const(Const::None);
            self.emit(Instr::YieldFrom);
        }
        let jsup = self.emit(Instr::PopJumpIfTrue(0));
        self.emit(Instr::Reraise);
        self.patch_here(jsup);
        self.emit(Instr::PopTop);
        self.emit(Instr::PopExcept);
        self.patch_here(jend);
        Ok(())
    }

    /// Emit the clean-up of every open block, innermost first, for a `return`.
    /// `value_on_top`: the return value sits above the blocks' stack items.
    fn unwind_all(&mut self, value_on_top: bool) -> CResult {
        let n = self.sc().fblocks.len();
        self.unwind_range(n, 0, value_on_top)
    }

    /// Clean up blocks `from-1` down to `to` (indices into fblocks).
    fn unwind_range(&mut self, from: usize, to: usize, value_on_top: bool) -> CResult {
        let mut i = from;
        while i > to {
            i -= 1;
            let action = match &self.sc().fblocks[i] {
                FBlock::Loop { for_loop, .. } => {
                    if *for_loop && !value_on_top {
                        0
                    } else if *for_loop {
                        6
                    } else {
                        1
                    }
                }
                FBlock::Try => 2,
                FBlock::Finally(_) => 3,
                FBlock::FinallyExc => 4,
                FBlock::Handler => 5,
                FBlock::With(false) => 7,
                FBlock::With(true) => 8,
            };
            match action {
                0 => {
                    // leaving a for loop to an outer target: drop its iteration slots
                    for _ in 0..3 {
                        self.emit(Instr::PopTop);
                    }
                }
                6 => {
                    // return from inside a for loop: the value is above the slots
                    for _ in 0..3 {
                        self.emit(Instr::RotTwo);
                        self.emit(Instr::PopTop);
                    }
                }
                1 => {}
                2 => {
                    self.emit(Instr::PopBlock);
                }
                3 => {
                    self.emit(Instr::PopBlock);
                    let body = match &self.sc().fblocks[i] {
                        FBlock::Finally(b) => *b,
                        _ => &[],
                    };
                    // Run the finally body with only the outer blocks open.
                    let saved: Vec<FBlock<'a>> = self.sc().fblocks.drain(i..).collect();
                    let r = self.stmts(body);
                    self.sc().fblocks.extend(saved);
                    r?;
                }
                4 => {
                    if value_on_top {
                        self.emit(Instr::RotTwo);
                    }
                    self.emit(Instr::PopTop);
                    self.emit(Instr::PopExcept);
                }
                5 => {
                    self.emit(Instr::PopExcept);
                }
                7 => {
                    self.emit(Instr::PopBlock);
                    if value_on_top {
                        self.emit(Instr::RotTwo);
                    }
                    self.emit(Instr::WithExitNormal);
                }
                _ => {
                    self.emit(Instr::PopBlock);
                    if value_on_top {
                        self.emit(Instr::RotTwo);
                    }
                    self.emit(Instr::AsyncWithExitNormal);
                    self.emit(Instr::GetAwaitable);
                    self.load_const(Const::None);
                    self.emit(Instr::YieldFrom);
                    self.emit(Instr::PopTop);
                }
            }
        }
        Ok(())
    }

    fn break_continue(&mut self, is_break: bool, pos: Pos) -> CResult {
        let Some(loop_idx) = self
            .sc()
            .fblocks
            .iter()
            .rposition(|b| matches!(b, FBlock::Loop { .. }))
        else {
            return if is_break {
                err("'break' outside loop", pos)
            } else {
                err("'continue' not properly in loop", pos)
            };
        };
        let n = self.sc().fblocks.len();
        self.unwind_range(n, loop_idx + 1, false)?;
        if is_break {
            if let Some(FBlock::Loop { for_loop: true, .. }) = self.sc().fblocks.get(loop_idx) {
                for _ in 0..3 {
                    self.emit(Instr::PopTop);
                }
            }
            let j = self.emit(Instr::Jump(0));
            if let Some(FBlock::Loop { breaks, .. }) = self.sc().fblocks.get_mut(loop_idx) {
                breaks.push(j);
            }
        } else {
            let target = match self.sc().fblocks.get(loop_idx) {
                Some(FBlock::Loop { continue_to, .. }) => *continue_to,
                _ => 0,
            };
            self.emit(Instr::JumpBackward(target));
        }
        Ok(())
    }

    fn try_stmt(&mut self, t: &'a Try) -> CResult {
        if t.finalbody.is_empty() {
            return self.try_except(t);
        }
        let setup = self.emit(Instr::SetupExcept(0));
        self.sc().fblocks.push(FBlock::Finally(&t.finalbody));
        if t.handlers.is_empty() {
            self.stmts(&t.body)?;
        } else {
            self.try_except(t)?;
        }
        self.sc().fblocks.pop();
        self.emit(Instr::PopBlock);
        self.stmts(&t.finalbody)?;
        let jend = self.emit(Instr::Jump(0));
        self.patch_here(setup);
        self.sc().fblocks.push(FBlock::FinallyExc);
        self.stmts(&t.finalbody)?;
        self.sc().fblocks.pop();
        self.emit(Instr::Reraise);
        self.patch_here(jend);
        Ok(())
    }

    fn try_except(&mut self, t: &'a Try) -> CResult {
        let setup = self.emit(Instr::SetupExcept(0));
        self.sc().fblocks.push(FBlock::Try);
        self.stmts(&t.body)?;
        self.sc().fblocks.pop();
        self.emit(Instr::PopBlock);
        self.stmts(&t.orelse)?;
        let mut ends = vec![self.emit(Instr::Jump(0))];
        self.patch_here(setup);
        // stack: exc
        for h in &t.handlers {
            self.sc().line = h.pos.line;
            let mut next = None;
            if let Some(ty) = &h.typ {
                self.emit(Instr::DupTop);
                self.expr(ty)?;
                next = Some(self.emit(Instr::JumpIfNotExcMatch(0)));
            }
            match &h.name {
                Some(n) => self.store_name(n),
                None => {
                    self.emit(Instr::PopTop);
                }
            }
            self.sc().fblocks.push(FBlock::Handler);
            self.stmts(&h.body)?;
            self.sc().fblocks.pop();
            self.emit(Instr::PopExcept);
            if let Some(n) = &h.name {
                // Python unbinds the name at the end of the clause.
                self.load_const(Const::None);
                self.store_name(n);
                self.delete_name(n, h.pos).ok();
            }
            ends.push(self.emit(Instr::Jump(0)));
            if let Some(nx) = next {
                self.patch_here(nx);
            }
        }
        self.emit(Instr::Reraise);
        for e in ends {
            self.patch_here(e);
        }
        Ok(())
    }

    fn function_def(&mut self, f: &'a FunctionDef, pos: Pos) -> CResult {
        for d in &f.decorators {
            self.expr(d)?;
        }
        let info = self.analyzer.function(node_key(f), &f.params, &f.body);
        let qual = self.qualname_for(&f.name);
        self.defaults(&f.params)?;
        self.make_function(&f.name, &qual, info, &f.params, pos, f.is_async, |c| {
            c.stmts(&f.body)?;
            c.load_const(Const::None);
            c.emit(Instr::ReturnValue);
            Ok(())
        })?;
        for _ in &f.decorators {
            self.emit(Instr::Call(1));
        }
        self.store_name(&f.name);
        Ok(())
    }

    /// Push the defaults tuple and the keyword-defaults dict, where there are any
    /// (MakeFunction pops them).
    fn defaults(&mut self, params: &'a Params) -> CResult {
        let ndef = params.args.iter().filter(|p| p.default.is_some()).count();
        if ndef > 0 {
            for p in params.args.iter() {
                if let Some(d) = &p.default {
                    self.expr(d)?;
                }
            }
            self.emit(Instr::BuildTuple(ndef as u32));
        }
        let kwd: Vec<&'a Param> = params
            .kwonly
            .iter()
            .filter(|p| p.default.is_some())
            .collect();
        if !kwd.is_empty() {
            for p in &kwd {
                self.load_const(Const::Str(Arc::from(p.name.as_str())));
                if let Some(d) = &p.default {
                    self.expr(d)?;
                }
            }
            self.emit(Instr::BuildDict(kwd.len() as u32));
        }
        Ok(())
    }

    /// Compile the body (via `body`) and the closure, then MakeFunction.
    #[allow(clippy::too_many_arguments)]
    fn make_function(
        &mut self,
        name: &str,
        qualname: &str,
        info: ScopeInfo,
        params: &Params,
        pos: Pos,
        is_async: bool,
        body: impl FnOnce(&mut Self) -> CResult,
    ) -> CResult {
        // Default values are evaluated where the function is defined; the
        // callers with defaults (def, lambda) compiled them already.
        let ndef = params.args.iter().filter(|p| p.default.is_some()).count();
        let _ = ndef;
        let mut seen = std::collections::HashSet::new();
        for p in params_in_order(params) {
            if !seen.insert(p.name.as_str()) {
                return err(
                    format!("duplicate argument '{}' in function definition", p.name),
                    p.pos,
                );
            }
        }
        let id = self.codes.len() as u32;
        self.codes.push(None);
        self.push_scope(
            ScopeKind::Function,
            info,
            name,
            qualname,
            pos.line,
            params,
            is_async,
        );
        let r = body(self);
        let code = self.pop_scope();
        r?;
        let freenames = code.freenames.clone();
        self.codes[id as usize] = Some(code);
        if !freenames.is_empty() {
            for n in &freenames {
                self.load_closure(n, pos)?;
            }
            self.emit(Instr::BuildTuple(freenames.len() as u32));
        }
        self.emit(Instr::MakeFunction(id));
        Ok(())
    }

    fn load_closure(&mut self, name: &str, pos: Pos) -> CResult {
        let sc = self.sc();
        let slot = sc.cells.get(name).or_else(|| sc.frees.get(name)).copied();
        match slot {
            Some(s) => {
                self.emit(Instr::LoadClosure(s));
                Ok(())
            }
            None => err(format!("internal: no cell for '{name}'"), pos),
        }
    }

    fn class_def(&mut self, c: &'a ClassDef, pos: Pos) -> CResult {
        for d in &c.decorators {
            self.expr(d)?;
        }
        for b in &c.bases {
            if let ExprKind::Starred(_) = b.kind {
                return err(
                    "star-arguments in class bases are not supported in Toy",
                    b.pos,
                );
            }
            self.expr(b)?;
        }
        self.emit(Instr::BuildTuple(c.bases.len() as u32));
        let info = self.analyzer.class(node_key(c), &c.body);
        let qual = self.qualname_for(&c.name);
        let id = self.codes.len() as u32;
        self.codes.push(None);
        self.push_scope(
            ScopeKind::Class,
            info,
            &c.name,
            &qual,
            pos.line,
            &Params::default(),
            false,
        );
        self.load_const(Const::Str(Arc::from("__main__")));
        self.emit(Instr::StoreName(intern("__module__")));
        self.load_const(Const::Str(Arc::from(qual.as_str())));
        self.emit(Instr::StoreName(intern("__qualname__")));
        let r = self.stmts(&c.body);
        if r.is_ok() {
            if let Some(&cell) = self.sc().cells.get("__class__") {
                self.emit(Instr::LoadClosure(cell));
            } else {
                self.load_const(Const::None);
            }
            self.emit(Instr::ReturnValue);
        }
        let code = self.pop_scope();
        r?;
        let freenames = code.freenames.clone();
        self.codes[id as usize] = Some(code);
        if !freenames.is_empty() {
            for n in &freenames {
                self.load_closure(n, pos)?;
            }
            self.emit(Instr::BuildTuple(freenames.len() as u32));
        }
        self.emit(Instr::MakeClass(id));
        for _ in &c.decorators {
            self.emit(Instr::Call(1));
        }
        self.store_name(&c.name);
        Ok(())
    }

    fn aug_assign(&mut self, target: &'a Expr, op: BinOp, value: &'a Expr) -> CResult {
        let k = binop_kind(op);
        match &target.kind {
            ExprKind::Name(n) => {
                self.load_name(n);
                self.expr(value)?;
                self.emit(Instr::BinaryInplace(k));
                self.store_name(n);
            }
            // A local's attribute or item: the local is read again to store, not
            // kept on the stack, which is the same object unless the right-hand
            // side rebinds the local (only `:=` could; see `may_rebind`).
            ExprKind::Attribute { value: obj, attr } if self.fast_slot(obj, value).is_some() => {
                let s = self.fast_slot(obj, value).unwrap_or(0);
                let a = intern(attr);
                self.emit(Instr::LoadFast(s as u32));
                let at = self.emit(Instr::LoadAttr(a));
                let fused = self.sc().b.code.instrs.get(at) == Some(&Instr::LoadAttrFast(s, a));
                self.expr(value)?;
                if fused {
                    self.emit(Instr::AugStoreAttrFast(k, s, a));
                } else {
                    self.emit(Instr::BinaryInplace(k));
                    self.emit(Instr::LoadFast(s as u32));
                    self.emit(Instr::StoreAttr(a));
                }
            }
            ExprKind::Subscript { value: obj, index } if self.fast_slot(obj, value).is_some() => {
                let s = self.fast_slot(obj, value).unwrap_or(0);
                self.emit(Instr::LoadFast(s as u32));
                self.subscript_index(index)?;
                // Fused only when the item's load fuses (`local[const]` or
                // `local[local]`); otherwise the plain sequence.
                let sc = self.sc();
                let n = sc.b.code.instrs.len() as u32;
                let unlabelled = |k: u32| (n - k..=n).all(|p| !sc.labels.contains(&p));
                let store = match sc.b.code.instrs[..] {
                    [.., Instr::LoadFast(a), Instr::LoadConst(c)]
                        if a == s as u32 && c < 0x10000 && unlabelled(1) =>
                    {
                        Some(Instr::AugStoreSubscrFastConst(k, s, c as u16))
                    }
                    [.., Instr::LoadFast2(ab)] if ab >> 16 == s as u32 && unlabelled(0) => {
                        Some(Instr::AugStoreSubscrFastFast(k, s, ab as u16))
                    }
                    _ => None,
                };
                match store {
                    Some(store) => {
                        self.emit(Instr::BinarySubscr);
                        self.expr(value)?;
                        self.emit(store);
                    }
                    None => self.aug_subscript_rest(k, value)?,
                }
            }
            ExprKind::Attribute { value: obj, attr } => {
                self.expr(obj)?;
                self.emit(Instr::DupTop);
                self.emit(Instr::LoadAttr(intern(attr)));
                self.expr(value)?;
                self.emit(Instr::BinaryInplace(k));
                self.emit(Instr::RotTwo);
                self.emit(Instr::StoreAttr(intern(attr)));
            }
            ExprKind::Subscript { value: obj, index } => {
                self.expr(obj)?;
                self.subscript_index(index)?;
                self.aug_subscript_rest(k, value)?;
            }
            _ => {
                return err(
                    "'expression' is an illegal expression for augmented assignment",
                    target.pos,
                )
            }
        }
        Ok(())
    }

    /// `obj[index] op= value` once the container and index are on the stack:
    /// keep them for the store, read the item, apply, store.
    fn aug_subscript_rest(&mut self, k: BinOpKind, value: &'a Expr) -> CResult {
        self.emit(Instr::DupTop2);
        self.emit(Instr::BinarySubscr);
        self.expr(value)?;
        self.emit(Instr::BinaryInplace(k));
        self.emit(Instr::RotThree);
        self.emit(Instr::StoreSubscr);
        Ok(())
    }

    /// The frame slot of `obj` if it is a plain local (not a cell, global or
    /// class-body name) that `rhs` cannot rebind, for the fused `op=` forms.
    fn fast_slot(&mut self, obj: &Expr, rhs: &Expr) -> Option<u16> {
        let ExprKind::Name(n) = &obj.kind else {
            return None;
        };
        if may_rebind(rhs) {
            return None;
        }
        match self.resolve(n) {
            NameOp::Fast(s) => u16::try_from(s).ok(),
            _ => None,
        }
    }

    fn store_target(&mut self, t: &'a Expr) -> CResult {
        match &t.kind {
            ExprKind::Name(n) => self.store_name(n),
            ExprKind::Attribute { value, attr } => {
                self.expr(value)?;
                self.emit(Instr::StoreAttr(intern(attr)));
            }
            ExprKind::Subscript { value, index } => {
                self.expr(value)?;
                self.subscript_index(index)?;
                self.emit(Instr::StoreSubscr);
            }
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                let star = items
                    .iter()
                    .position(|e| matches!(e.kind, ExprKind::Starred(_)));
                match star {
                    None => {
                        self.emit(Instr::UnpackSequence(items.len() as u32));
                    }
                    Some(i) => {
                        if items
                            .iter()
                            .filter(|e| matches!(e.kind, ExprKind::Starred(_)))
                            .count()
                            > 1
                        {
                            return err("multiple starred expressions in assignment", t.pos);
                        }
                        let after = items.len() - i - 1;
                        self.emit(Instr::UnpackEx(((i as u32) << 16) | after as u32));
                    }
                }
                for it in items {
                    match &it.kind {
                        ExprKind::Starred(inner) => self.store_target(inner)?,
                        _ => self.store_target(it)?,
                    }
                }
            }
            ExprKind::Starred(_) => {
                return err(
                    "starred assignment target must be in a list or tuple",
                    t.pos,
                )
            }
            _ => return err("cannot assign to expression", t.pos),
        }
        Ok(())
    }

    fn delete_target(&mut self, t: &'a Expr) -> CResult {
        match &t.kind {
            ExprKind::Name(n) => self.delete_name(n, t.pos)?,
            ExprKind::Attribute { value, attr } => {
                self.expr(value)?;
                self.emit(Instr::DeleteAttr(intern(attr)));
            }
            ExprKind::Subscript { value, index } => {
                self.expr(value)?;
                self.subscript_index(index)?;
                self.emit(Instr::DeleteSubscr);
            }
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                for i in items {
                    self.delete_target(i)?;
                }
            }
            _ => return err("cannot delete expression", t.pos),
        }
        Ok(())
    }

    // ----------------------------------------------------------------- expressions

    fn subscript_index(&mut self, index: &'a Expr) -> CResult {
        match &index.kind {
            ExprKind::Slice { lower, upper, step } => {
                for part in [lower, upper] {
                    match part {
                        Some(e) => self.expr(e)?,
                        None => self.load_const(Const::None),
                    }
                }
                match step {
                    Some(e) => {
                        self.expr(e)?;
                        self.emit(Instr::BuildSlice(3));
                    }
                    None => {
                        self.emit(Instr::BuildSlice(2));
                    }
                }
                Ok(())
            }
            ExprKind::Tuple(items) => {
                for i in items {
                    self.subscript_index(i)?;
                }
                self.emit(Instr::BuildTuple(items.len() as u32));
                Ok(())
            }
            _ => self.expr(index),
        }
    }

    fn expr(&mut self, e: &'a Expr) -> CResult {
        if e.pos.line != 0 {
            self.sc().line = e.pos.line;
        }
        match &e.kind {
            ExprKind::Int(i) => self.load_const(Const::Int(*i)),
            ExprKind::BigInt(s) => self.load_const(Const::BigInt(Arc::from(s.as_str()))),
            ExprKind::Float(f) => self.load_const(Const::Float(*f)),
            ExprKind::Str(s) => self.load_const(Const::Str(Arc::from(s.as_str()))),
            ExprKind::Bool(b) => self.load_const(Const::Bool(*b)),
            ExprKind::NoneLit => self.load_const(Const::None),
            ExprKind::Ellipsis => self.load_const(Const::Ellipsis),
            ExprKind::FString(parts) => {
                let n = self.fparts(parts)?;
                if n != 1 || !matches!(parts.first(), Some(FPart::Value { .. })) || n == 0 {
                    self.emit(Instr::BuildString(n));
                }
            }
            ExprKind::Name(n) => self.load_name(n),
            ExprKind::BinOp { left, op, right } => {
                self.expr(left)?;
                self.expr(right)?;
                self.sc().line = e.pos.line;
                self.emit(Instr::Binary(binop_kind(*op)));
            }
            ExprKind::UnaryOp { op, operand } => {
                // Fold -<literal> so that `-5` is one constant, as CPython does.
                if let (UnaryOp::Neg, ExprKind::Int(i)) = (op, &operand.kind) {
                    self.load_const(Const::Int(-i));
                    return Ok(());
                }
                if let (UnaryOp::Neg, ExprKind::Float(f)) = (op, &operand.kind) {
                    self.load_const(Const::Float(-f));
                    return Ok(());
                }
                self.expr(operand)?;
                self.emit(match op {
                    UnaryOp::Neg => Instr::UnaryNeg,
                    UnaryOp::Pos => Instr::UnaryPos,
                    UnaryOp::Not => Instr::UnaryNot,
                    UnaryOp::Invert => Instr::UnaryInvert,
                });
            }
            ExprKind::BoolOp { op, values } => {
                let mut jumps = Vec::new();
                for (i, v) in values.iter().enumerate() {
                    self.expr(v)?;
                    if i + 1 < values.len() {
                        jumps.push(self.emit(match op {
                            BoolOp::And => Instr::JumpIfFalseOrPop(0),
                            BoolOp::Or => Instr::JumpIfTrueOrPop(0),
                        }));
                    }
                }
                for j in jumps {
                    self.patch_here(j);
                }
            }
            ExprKind::Compare { left, ops } => self.compare(left, ops)?,
            ExprKind::IfExp { test, body, orelse } => {
                self.expr(test)?;
                let jf = self.emit(Instr::PopJumpIfFalse(0));
                self.expr(body)?;
                let je = self.emit(Instr::Jump(0));
                self.patch_here(jf);
                self.expr(orelse)?;
                self.patch_here(je);
            }
            ExprKind::Call { func, args } => self.call(func, args, e.pos)?,
            ExprKind::Attribute { value, attr } => {
                self.expr(value)?;
                self.emit(Instr::LoadAttr(intern(attr)));
            }
            ExprKind::Subscript { value, index } => {
                self.expr(value)?;
                self.subscript_index(index)?;
                self.sc().line = e.pos.line;
                self.emit(Instr::BinarySubscr);
            }
            ExprKind::Slice { .. } => {
                self.subscript_index(e)?;
            }
            ExprKind::List(items) => {
                if items.iter().any(|i| matches!(i.kind, ExprKind::Starred(_))) {
                    self.starred_list(items)?;
                } else {
                    for i in items {
                        self.expr(i)?;
                    }
                    self.emit(Instr::BuildList(items.len() as u32));
                }
            }
            ExprKind::Tuple(items) => {
                if items.iter().any(|i| matches!(i.kind, ExprKind::Starred(_))) {
                    self.starred_list(items)?;
                    self.emit(Instr::ListToTuple);
                } else {
                    for i in items {
                        self.expr(i)?;
                    }
                    self.emit(Instr::BuildTuple(items.len() as u32));
                }
            }
            ExprKind::Set(items) => {
                for i in items {
                    if let ExprKind::Starred(_) = i.kind {
                        return err(
                            "starred items in set displays are not supported in Toy",
                            i.pos,
                        );
                    }
                    self.expr(i)?;
                }
                self.emit(Instr::BuildSet(items.len() as u32));
            }
            ExprKind::Dict(pairs) => {
                if pairs.iter().any(|(k, _)| k.is_none()) {
                    self.emit(Instr::BuildDict(0));
                    for (k, v) in pairs {
                        match k {
                            Some(k) => {
                                self.expr(k)?;
                                self.expr(v)?;
                                self.emit(Instr::DictSetItem(0));
                            }
                            None => {
                                self.expr(v)?;
                                self.emit(Instr::DictUpdate(0));
                            }
                        }
                    }
                } else {
                    for (k, v) in pairs {
                        if let Some(k) = k {
                            self.expr(k)?;
                        }
                        self.expr(v)?;
                    }
                    self.emit(Instr::BuildDict(pairs.len() as u32));
                }
            }
            ExprKind::ListComp { elt, generators } => {
                self.comprehension(e, CompKind::List, &[&**elt], generators)?
            }
            ExprKind::SetComp { elt, generators } => {
                self.comprehension(e, CompKind::Set, &[&**elt], generators)?
            }
            ExprKind::DictComp {
                key,
                value,
                generators,
            } => self.comprehension(e, CompKind::Dict, &[&**key, &**value], generators)?,
            ExprKind::GeneratorExp { elt, generators } => {
                self.comprehension(e, CompKind::Gen, &[&**elt], generators)?
            }
            ExprKind::Lambda { params, body } => {
                let info = self.analyzer.lambda(node_key(e), params, body);
                let qual = self.qualname_for("<lambda>");
                self.defaults(params)?;
                self.make_function("<lambda>", &qual, info, params, e.pos, false, |c| {
                    c.expr(body)?;
                    c.emit(Instr::ReturnValue);
                    Ok(())
                })?;
            }
            ExprKind::Starred(_) => return err("can't use starred expression here", e.pos),
            ExprKind::Yield(v) => {
                if self.sc().kind != ScopeKind::Function {
                    return err("'yield' outside function", e.pos);
                }
                match v {
                    Some(v) => self.expr(v)?,
                    None => self.load_const(Const::None),
                }
                self.emit(Instr::YieldValue);
            }
            ExprKind::YieldFrom(v) => {
                if self.sc().kind != ScopeKind::Function {
                    return err("'yield' outside function", e.pos);
                }
                self.expr(v)?;
                self.emit(Instr::MakeIter);
                self.load_const(Const::None);
                self.emit(Instr::YieldFrom);
            }
            ExprKind::Await(v) => {
                if !self.sc().is_async {
                    return err("'await' outside async function", e.pos);
                }
                self.expr(v)?;
                self.emit(Instr::GetAwaitable);
                self.load_const(Const::None);
                self.emit(Instr::YieldFrom);
            }
            ExprKind::NamedExpr { target, value } => {
                self.expr(value)?;
                self.emit(Instr::DupTop);
                self.store_name(target);
            }
        }
        Ok(())
    }

    /// Build a list from items some of which are `*iterable`.
    fn starred_list(&mut self, items: &'a [Expr]) -> CResult {
        self.emit(Instr::BuildList(0));
        for i in items {
            match &i.kind {
                ExprKind::Starred(inner) => {
                    self.expr(inner)?;
                    self.emit(Instr::ListExtend(0));
                }
                _ => {
                    self.expr(i)?;
                    self.emit(Instr::ListAppend(0));
                }
            }
        }
        Ok(())
    }

    fn fparts(&mut self, parts: &'a [FPart]) -> CResult<u32> {
        let mut n = 0;
        for p in parts {
            match p {
                FPart::Lit(s) => {
                    if !s.is_empty() {
                        self.load_const(Const::Str(Arc::from(s.as_str())));
                        n += 1;
                    }
                }
                FPart::Value {
                    expr,
                    conversion,
                    spec,
                    debug_text,
                } => {
                    if let Some(d) = debug_text {
                        self.load_const(Const::Str(Arc::from(d.as_str())));
                        n += 1;
                    }
                    self.expr(expr)?;
                    let mut conv = match conversion {
                        Some('s') => 1,
                        Some('r') => 2,
                        Some('a') => 3,
                        _ => 0,
                    };
                    if debug_text.is_some() && conversion.is_none() && spec.is_empty() {
                        conv = 2;
                    }
                    let mut flags = conv;
                    if !spec.is_empty() {
                        let k = self.fparts(spec)?;
                        if k != 1 || !matches!(spec.first(), Some(FPart::Lit(_))) {
                            self.emit(Instr::BuildString(k));
                        }
                        flags |= 4;
                    }
                    self.emit(Instr::FormatValue(flags));
                    n += 1;
                }
            }
        }
        if n == 0 {
            self.load_const(Const::Str(Arc::from("")));
            n = 1;
        }
        Ok(n)
    }

    fn compare(&mut self, left: &'a Expr, ops: &'a [(CmpOp, Expr)]) -> CResult {
        self.expr(left)?;
        if ops.len() == 1 {
            let (op, right) = &ops[0];
            self.expr(right)?;
            self.emit_cmp(*op);
            return Ok(());
        }
        let mut cleanups = Vec::new();
        for (i, (op, right)) in ops.iter().enumerate() {
            self.expr(right)?;
            if i + 1 < ops.len() {
                self.emit(Instr::DupTop);
                self.emit(Instr::RotThree);
                self.emit_cmp(*op);
                cleanups.push(self.emit(Instr::JumpIfFalseOrPop(0)));
            } else {
                self.emit_cmp(*op);
            }
        }
        let jend = self.emit(Instr::Jump(0));
        for c in cleanups {
            self.patch_here(c);
        }
        self.emit(Instr::RotTwo);
        self.emit(Instr::PopTop);
        self.patch_here(jend);
        Ok(())
    }

    fn emit_cmp(&mut self, op: CmpOp) {
        self.emit(match op {
            CmpOp::Eq => Instr::Compare(CmpKind::Eq),
            CmpOp::NotEq => Instr::Compare(CmpKind::Ne),
            CmpOp::Lt => Instr::Compare(CmpKind::Lt),
            CmpOp::LtE => Instr::Compare(CmpKind::Le),
            CmpOp::Gt => Instr::Compare(CmpKind::Gt),
            CmpOp::GtE => Instr::Compare(CmpKind::Ge),
            CmpOp::Is => Instr::IsOp(false),
            CmpOp::IsNot => Instr::IsOp(true),
            CmpOp::In => Instr::ContainsOp(false),
            CmpOp::NotIn => Instr::ContainsOp(true),
        });
    }

    fn call(&mut self, func: &'a Expr, args: &'a [Arg], pos: Pos) -> CResult {
        // Zero-argument super(): pass the class cell and the first argument, as
        // CPython's compiler arranges for it.
        if let ExprKind::Name(n) = &func.kind {
            if n == "super" && args.is_empty() && self.sc().kind == ScopeKind::Function {
                let first = self.sc().info.params.first().cloned();
                if let (Some(first), true) = (first, self.sc().frees.contains_key("__class__")) {
                    self.load_name("super");
                    self.load_name("__class__");
                    self.load_name(&first);
                    self.emit(Instr::Call(2));
                    return Ok(());
                }
            }
        }
        let simple = args.iter().all(|a| matches!(a, Arg::Positional(_)));
        if simple {
            if let ExprKind::Attribute { value, attr } = &func.kind {
                self.expr(value)?;
                self.emit(Instr::LoadMethod(intern(attr)));
                for a in args {
                    if let Arg::Positional(v) = a {
                        self.expr(v)?;
                    }
                }
                self.sc().line = pos.line;
                self.emit(Instr::CallMethod(args.len() as u32));
                return Ok(());
            }
        }
        self.expr(func)?;
        let has_star = args
            .iter()
            .any(|a| matches!(a, Arg::Star(_) | Arg::DoubleStar(_)));
        if !has_star {
            let mut kwnames = Vec::new();
            for a in args {
                match a {
                    Arg::Positional(v) => {
                        if !kwnames.is_empty() {
                            return err("positional argument follows keyword argument", v.pos);
                        }
                        self.expr(v)?
                    }
                    Arg::Keyword(k, v) => {
                        if kwnames
                            .iter()
                            .any(|x: &Const| *x == Const::Str(Arc::from(k.as_str())))
                        {
                            return err(format!("keyword argument repeated: {k}"), v.pos);
                        }
                        self.expr(v)?;
                        kwnames.push(Const::Str(Arc::from(k.as_str())));
                    }
                    _ => {}
                }
            }
            self.sc().line = pos.line;
            if kwnames.is_empty() {
                self.emit(Instr::Call(args.len() as u32));
            } else {
                self.load_const(Const::Tuple(kwnames));
                self.emit(Instr::CallKw(args.len() as u32));
            }
            return Ok(());
        }
        // General form: build the positional tuple and the keyword dict.
        self.emit(Instr::BuildList(0));
        for a in args {
            match a {
                Arg::Positional(v) => {
                    self.expr(v)?;
                    self.emit(Instr::ListAppend(0));
                }
                Arg::Star(v) => {
                    self.expr(v)?;
                    self.emit(Instr::ListExtend(0));
                }
                _ => {}
            }
        }
        self.emit(Instr::ListToTuple);
        let has_kw = args
            .iter()
            .any(|a| matches!(a, Arg::Keyword(..) | Arg::DoubleStar(_)));
        if has_kw {
            self.emit(Instr::BuildDict(0));
            for a in args {
                match a {
                    Arg::Keyword(k, v) => {
                        self.load_const(Const::Str(Arc::from(k.as_str())));
                        self.expr(v)?;
                        self.emit(Instr::DictSetItem(0));
                    }
                    Arg::DoubleStar(v) => {
                        self.expr(v)?;
                        self.emit(Instr::DictMerge);
                    }
                    _ => {}
                }
            }
        } else {
            self.load_const(Const::None);
        }
        self.sc().line = pos.line;
        self.emit(Instr::CallEx);
        Ok(())
    }

    fn comprehension(
        &mut self,
        e: &'a Expr,
        kind: CompKind,
        elts: &[&'a Expr],
        gens: &'a [Comprehension],
    ) -> CResult {
        let Some(first) = gens.first() else {
            return err("comprehension without 'for'", e.pos);
        };
        let elt_refs: Vec<&Expr> = elts.to_vec();
        let mut info = self.analyzer.comprehension(node_key(e), &elt_refs, gens);
        let name = match kind {
            CompKind::List => "<listcomp>",
            CompKind::Set => "<setcomp>",
            CompKind::Dict => "<dictcomp>",
            CompKind::Gen => "<genexpr>",
        };
        if kind == CompKind::Gen {
            info.is_generator = true;
        }
        let qual = self.qualname_for(name);
        let params = Params {
            args: vec![Param {
                name: ".0".into(),
                default: None,
                annotation: None,
                pos: e.pos,
            }],
            ..Default::default()
        };
        let elts_owned: Vec<&'a Expr> = elts.to_vec();
        self.make_function(name, &qual, info, &params, e.pos, false, |c| {
            match kind {
                CompKind::List => {
                    c.emit(Instr::BuildList(0));
                }
                CompKind::Set => {
                    c.emit(Instr::BuildSet(0));
                }
                CompKind::Dict => {
                    c.emit(Instr::BuildDict(0));
                }
                CompKind::Gen => {}
            }
            c.comp_loop(kind, &elts_owned, gens, 0)?;
            if kind == CompKind::Gen {
                c.load_const(Const::None);
            }
            c.emit(Instr::ReturnValue);
            Ok(())
        })?;
        self.expr(&first.iter)?;
        self.emit(Instr::MakeIter);
        self.emit(Instr::Call(1));
        Ok(())
    }

    fn comp_loop(
        &mut self,
        kind: CompKind,
        elts: &[&'a Expr],
        gens: &'a [Comprehension],
        depth: usize,
    ) -> CResult {
        let Some(g) = gens.get(depth) else {
            // innermost: produce the element
            match kind {
                CompKind::List => {
                    self.expr(elts[0])?;
                    self.emit(Instr::ListAppend((depth * 3) as u32));
                }
                CompKind::Set => {
                    self.expr(elts[0])?;
                    self.emit(Instr::SetAdd((depth * 3) as u32));
                }
                CompKind::Dict => {
                    self.expr(elts[0])?;
                    self.expr(elts[1])?;
                    self.emit(Instr::DictSetItem((depth * 3) as u32));
                }
                CompKind::Gen => {
                    self.expr(elts[0])?;
                    self.emit(Instr::YieldValue);
                    self.emit(Instr::PopTop);
                }
            }
            return Ok(());
        };
        if g.is_async {
            return err(
                "asynchronous comprehensions are not supported in Toy",
                g.target.pos,
            );
        }
        if depth == 0 {
            // `.0` is moved, not copied, onto the stack: the iterator is then
            // held only there, and GetIter may take it apart (see
            // `Vm::get_iter_slots`).
            self.emit(Instr::LoadFast(0));
            self.emit(Instr::DeleteFast(0));
        } else {
            self.expr(&g.iter)?;
        }
        self.emit(Instr::GetIter);
        let top = self.label();
        let fi = self.emit(Instr::ForIter(0));
        self.store_target(&g.target)?;
        let mut skips = Vec::new();
        for c in &g.ifs {
            self.expr(c)?;
            skips.push(self.emit(Instr::PopJumpIfFalse(0)));
        }
        self.comp_loop(kind, elts, gens, depth + 1)?;
        for s in skips {
            if let Some(i) = self.sc().b.code.instrs.get_mut(s) {
                set_target(i, top);
            }
        }
        self.emit(Instr::JumpBackward(top));
        self.patch_here(fi);
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CompKind {
    List,
    Set,
    Dict,
    Gen,
}

/// Whether evaluating `e` might rebind a local of the current frame: only an
/// assignment expression can, directly or inside a comprehension (whose `:=`
/// binds in the enclosing function). Conservative: anything not listed may.
fn may_rebind(e: &Expr) -> bool {
    use ExprKind as K;
    match &e.kind {
        K::Int(_)
        | K::BigInt(_)
        | K::Float(_)
        | K::Str(_)
        | K::Bool(_)
        | K::NoneLit
        | K::Ellipsis
        | K::Name(_) => false,
        K::BinOp { left, right, .. } => may_rebind(left) || may_rebind(right),
        K::UnaryOp { operand, .. } => may_rebind(operand),
        K::BoolOp { values, .. } | K::List(values) | K::Tuple(values) | K::Set(values) => {
            values.iter().any(may_rebind)
        }
        K::Compare { left, ops } => may_rebind(left) || ops.iter().any(|(_, x)| may_rebind(x)),
        K::IfExp { test, body, orelse } => {
            may_rebind(test) || may_rebind(body) || may_rebind(orelse)
        }
        K::Call { func, args } => {
            may_rebind(func)
                || args.iter().any(|a| match a {
                    Arg::Positional(x) | Arg::Keyword(_, x) | Arg::Star(x) | Arg::DoubleStar(x) => {
                        may_rebind(x)
                    }
                })
        }
        K::Attribute { value, .. } => may_rebind(value),
        K::Subscript { value, index } => may_rebind(value) || may_rebind(index),
        K::Slice { lower, upper, step } => [lower, upper, step]
            .into_iter()
            .any(|p| p.as_deref().is_some_and(may_rebind)),
        _ => true,
    }
}
