//! `Code`: one compiled function body (or module body, class body, comprehension),
//! and `Program`: every code object of one source file plus its global names.
//!
//! A frame's slots are laid out as CPython's "localsplus": first the locals (the
//! parameters come first among them), then the cells this code creates for
//! variables that inner functions capture, then the free variables it receives from
//! its closure. `LoadDeref(n)` and friends use the absolute slot number.

use super::instr::Instr;
use std::sync::Arc;

/// A compile-time constant. Plain data: the VM turns each into a heap value once, at
/// program start, and keeps it alive for the whole run (as CPython's `co_consts` does).
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    None,
    Bool(bool),
    Int(i64),
    /// Decimal digits of an int literal beyond i64.
    BigInt(Arc<str>),
    Float(f64),
    Str(Arc<str>),
    /// Keyword-argument names of a call, and other constant tuples.
    Tuple(Vec<Const>),
    Ellipsis,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeFlags {
    pub generator: bool,
    pub coroutine: bool,
    /// Has `*args`: the slot after the positional and keyword-only parameters.
    pub varargs: bool,
    /// Has `**kwargs`: the slot after `*args` (or where it would be).
    pub varkeywords: bool,
    pub class_body: bool,
    pub module: bool,
}

#[derive(Clone, Debug)]
pub struct Code {
    /// The function's name (`<module>`, `<lambda>`, `<listcomp>` ...).
    pub name: Arc<str>,
    pub qualname: Arc<str>,
    pub first_line: u32,
    pub instrs: Vec<Instr>,
    /// Source line of each instruction (parallel to `instrs`).
    pub lines: Vec<u32>,
    pub consts: Vec<Const>,
    pub flags: CodeFlags,
    /// Positional parameters (including those with defaults).
    pub argcount: u32,
    pub kwonlycount: u32,
    /// How many trailing positional parameters have defaults.
    pub n_defaults: u32,
    pub has_kwdefaults: bool,
    /// Names of the local slots (parameters first).
    pub varnames: Vec<Arc<str>>,
    pub cellnames: Vec<Arc<str>>,
    pub freenames: Vec<Arc<str>>,
    /// Cells that are also parameters: (cell index, parameter slot). The cell starts
    /// out holding the argument.
    pub cell_args: Vec<(u32, u32)>,
}

impl Code {
    pub fn nlocals(&self) -> u32 {
        self.varnames.len() as u32
    }
    /// Total frame slots: locals, cells, free variables.
    pub fn nslots(&self) -> u32 {
        (self.varnames.len() + self.cellnames.len() + self.freenames.len()) as u32
    }
    /// Slot number of cell `i` (cells come after the locals).
    pub fn cell_slot(&self, i: u32) -> u32 {
        self.varnames.len() as u32 + i
    }
    pub fn free_slot(&self, i: u32) -> u32 {
        (self.varnames.len() + self.cellnames.len()) as u32 + i
    }
    /// Name of frame slot `n`, whichever region it is in.
    pub fn slot_name(&self, n: u32) -> &str {
        let n = n as usize;
        let (l, c) = (self.varnames.len(), self.cellnames.len());
        if n < l {
            &self.varnames[n]
        } else if n < l + c {
            &self.cellnames[n - l]
        } else {
            self.freenames.get(n - l - c).map(|s| &**s).unwrap_or("?")
        }
    }
    /// Source line of the instruction at `ip` (0 if out of range).
    pub fn line_at(&self, ip: usize) -> u32 {
        self.lines.get(ip).copied().unwrap_or(self.first_line)
    }
    /// Whether a simple call can bind positional arguments straight into the slots.
    pub fn is_simple(&self) -> bool {
        !self.flags.varargs
            && !self.flags.varkeywords
            && self.kwonlycount == 0
            && !self.flags.generator
            && !self.flags.coroutine
    }
}

/// A whole compiled source file. Code 0 is the module body.
#[derive(Debug)]
pub struct Program {
    pub codes: Vec<Code>,
    /// One slot per global name the program mentions (builtins included).
    pub global_names: Vec<Arc<str>>,
    pub filename: Arc<str>,
    pub source: Arc<str>,
}

impl Program {
    /// The text of source line `line` (1-based), without its indentation.
    pub fn source_line(&self, line: u32) -> Option<&str> {
        if line == 0 {
            return None;
        }
        self.source
            .split('\n')
            .nth(line as usize - 1)
            .map(|l| l.trim_end_matches('\r').trim())
    }

    pub fn global_slot(&self, name: &str) -> Option<u32> {
        self.global_names
            .iter()
            .position(|n| &**n == name)
            .map(|i| i as u32)
    }
}
