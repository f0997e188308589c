//! Exceptions: the built-in exception classes, the error value the VM passes around
//! (`PyErr`), and the printing of an uncaught exception as Python does it.
//!
//! Rust code that fails says what failed (`PyErr::new(ExcKind::TypeError, msg)`);
//! the exception object is only created on the heap when the VM starts unwinding,
//! so the common "raise, catch, ignore" path of built-ins stays cheap.

use super::{PyResult, Vm};
use crate::heap::{ExcObj, HeapError, Obj, ObjRef, TbEntry, Value};
use std::fmt::Write;

macro_rules! exc_kinds {
    ($($kind:ident : $parent:ident),* $(,)?) => {
        /// The built-in exception classes, in the order of `EXC_TABLE`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub enum ExcKind { $($kind),* }
        /// (name, parent) of each built-in exception class; BaseException's parent is
        /// itself and means "object".
        pub const EXC_TABLE: &[(&str, ExcKind)] = &[$((stringify!($kind), ExcKind::$parent)),*];
    };
}

exc_kinds! {
    BaseException: BaseException,
    Exception: BaseException,
    SystemExit: BaseException,
    KeyboardInterrupt: BaseException,
    GeneratorExit: BaseException,
    ArithmeticError: Exception,
    ZeroDivisionError: ArithmeticError,
    OverflowError: ArithmeticError,
    FloatingPointError: ArithmeticError,
    LookupError: Exception,
    IndexError: LookupError,
    KeyError: LookupError,
    ValueError: Exception,
    TypeError: Exception,
    NameError: Exception,
    UnboundLocalError: NameError,
    AttributeError: Exception,
    RuntimeError: Exception,
    RecursionError: RuntimeError,
    NotImplementedError: RuntimeError,
    AssertionError: Exception,
    MemoryError: Exception,
    SyntaxError: Exception,
    IndentationError: SyntaxError,
    ImportError: Exception,
    ModuleNotFoundError: ImportError,
    StopIteration: Exception,
    StopAsyncIteration: Exception,
    OSError: Exception,
    TimeoutError: OSError,
    ConnectionError: OSError,
    EOFError: Exception,
    MemoryCorruptionError: Exception,
    CancelledError: BaseException,
}

impl ExcKind {
    pub fn name(self) -> &'static str {
        EXC_TABLE[self as usize].0
    }
}

#[derive(Debug)]
pub enum ErrRepr {
    /// Not yet on the heap: a built-in class and its message ("" for no args).
    New { kind: ExcKind, msg: String },
    /// An exception object; the error owns one reference to it.
    Obj(ObjRef),
}

/// An exception on its way up. Boxed so that `PyResult<Value>` stays small.
#[derive(Debug)]
pub struct PyErr(pub Box<ErrRepr>);

impl PyErr {
    pub fn new(kind: ExcKind, msg: impl Into<String>) -> PyErr {
        PyErr(Box::new(ErrRepr::New {
            kind,
            msg: msg.into(),
        }))
    }
    pub fn from_obj(r: ObjRef) -> PyErr {
        PyErr(Box::new(ErrRepr::Obj(r)))
    }
    pub fn type_error(msg: impl Into<String>) -> PyErr {
        PyErr::new(ExcKind::TypeError, msg)
    }
    pub fn value_error(msg: impl Into<String>) -> PyErr {
        PyErr::new(ExcKind::ValueError, msg)
    }
    pub fn index_error(msg: impl Into<String>) -> PyErr {
        PyErr::new(ExcKind::IndexError, msg)
    }
    /// The built-in kind, when the error has not been materialised yet.
    pub fn kind(&self) -> Option<ExcKind> {
        match &*self.0 {
            ErrRepr::New { kind, .. } => Some(*kind),
            ErrRepr::Obj(_) => None,
        }
    }
}

impl From<crate::text::PyErr> for PyErr {
    fn from(e: crate::text::PyErr) -> Self {
        let kind = EXC_TABLE
            .iter()
            .position(|(n, _)| *n == e.kind)
            .map(|i| kind_from_index(i as u8))
            .unwrap_or(ExcKind::ValueError);
        PyErr::new(kind, e.msg)
    }
}

/// Whether built-in exception class `k` is `t` or a subclass of it: a walk up
/// `EXC_TABLE`, with no heap access (built-in classes cannot change).
pub fn kind_is_subclass(mut k: ExcKind, t: ExcKind) -> bool {
    loop {
        if k == t {
            return true;
        }
        let parent = EXC_TABLE[k as usize].1;
        if parent == k {
            return false;
        }
        k = parent;
    }
}

pub fn kind_from_index(i: u8) -> ExcKind {
    // EXC_TABLE and ExcKind are generated together, in the same order.
    const ALL: &[ExcKind] = &{
        use ExcKind::*;
        [
            BaseException,
            Exception,
            SystemExit,
            KeyboardInterrupt,
            GeneratorExit,
            ArithmeticError,
            ZeroDivisionError,
            OverflowError,
            FloatingPointError,
            LookupError,
            IndexError,
            KeyError,
            ValueError,
            TypeError,
            NameError,
            UnboundLocalError,
            AttributeError,
            RuntimeError,
            RecursionError,
            NotImplementedError,
            AssertionError,
            MemoryError,
            SyntaxError,
            IndentationError,
            ImportError,
            ModuleNotFoundError,
            StopIteration,
            StopAsyncIteration,
            OSError,
            TimeoutError,
            ConnectionError,
            EOFError,
            MemoryCorruptionError,
            CancelledError,
        ]
    };
    ALL.get(i as usize).copied().unwrap_or(ExcKind::Exception)
}

/// A stale handle was used: under the GIL this cannot happen; without it, it is the
/// simulated use-after-free that `--gil off` exists to show.
pub fn corruption_error(vm: &mut Vm, e: HeapError) -> PyErr {
    let rt = vm.rt;
    rt.heap.report(&mut vm.local, e.clone());
    let msg = match e {
        HeapError::UseAfterFree {
            r,
            freed_kind,
            now_kind,
            ..
        } => format!(
            "{} at slot {} (generation {}) was used after it was freed; the slot now holds {}",
            match freed_kind {
                // the kind is unknown once the slot was reused and freed again
                "object" => "an object".to_string(),
                kind => format!("{kind} object"),
            },
            r.idx,
            r.gen,
            now_kind
        ),
        HeapError::Wild(r) => format!("reference to slot {} is not a valid object", r.idx),
        HeapError::Full => "heap full".into(),
        HeapError::Stuck(r) => format!("the object in slot {} stayed locked", r.idx),
    };
    PyErr::new(ExcKind::MemoryCorruptionError, msg)
}

impl Vm {
    /// Release the references of the objects that found no room (see
    /// `Heap::unplaced`), as their free would have. Called through a pointer
    /// the optimiser cannot see through: called directly from `heap_error`,
    /// the walk over the objects' references changed how LTO inlined half
    /// the crate (strings.py ran 6% more instructions).
    #[inline]
    pub fn release_unplaced(&mut self) {
        let release: fn(&mut Vm) = std::hint::black_box(Vm::release_unplaced_now);
        release(self);
    }

    #[cold]
    #[inline(never)]
    fn release_unplaced_now(&mut self) {
        let held = self.rt.heap.take_unplaced(&mut self.local);
        self.decref_all(held);
    }

    /// Turn an error into an exception object on the heap (the error's reference
    /// becomes the returned one).
    pub fn materialize(&mut self, err: PyErr) -> ObjRef {
        match *err.0 {
            ErrRepr::Obj(r) => r,
            ErrRepr::New { kind, msg } => {
                let class = self.rt.builtins.exc_class(kind);
                let mut args = Vec::new();
                if !msg.is_empty() {
                    if let Ok(s) = self.new_string(msg) {
                        args.push(s);
                    }
                }
                self.incref(Value::Obj(class));
                let exc = ExcObj {
                    class,
                    args,
                    attrs: Vec::new(),
                    traceback: Vec::new(),
                    cause: Value::None,
                    context: Value::None,
                    suppress_context: false,
                };
                match self
                    .rt
                    .heap
                    .alloc(&mut self.local, Obj::Exception(Box::new(exc)))
                {
                    Ok(r) => r,
                    // No room even for the exception: use the preallocated MemoryError.
                    Err(_) => {
                        self.release_unplaced();
                        let r = self.rt.builtins.memory_error_instance;
                        self.incref(Value::Obj(r));
                        r
                    }
                }
            }
        }
    }

    pub fn add_traceback(&mut self, exc: ObjRef, entry: TbEntry) {
        if let Ok(mut g) = self.rt.heap.get_mut(exc) {
            if let Obj::Exception(e) = &mut *g {
                e.traceback.push(entry);
            }
        }
    }

    /// Whether exception object `exc` is an instance of class `class` (or a subclass).
    pub fn exc_matches(&mut self, exc: Value, class: ObjRef) -> PyResult<bool> {
        let ty = self.type_of(exc)?;
        Ok(self.is_subclass(ty, class))
    }

    /// The last line of a traceback: `ValueError: message`.
    pub fn exception_line(&mut self, exc: Value) -> String {
        let ty = self.type_of(exc).ok();
        let name = ty
            .map(|t| self.class_name(t))
            .unwrap_or_else(|| "Exception".into());
        let text = self.str_of(exc).unwrap_or_else(|e| {
            let r = self.materialize(e);
            self.decref(Value::Obj(r));
            "<exception str() failed>".into()
        });
        if text.is_empty() {
            name
        } else {
            format!("{name}: {text}")
        }
    }

    /// Python's report of an uncaught exception, chained causes first.
    pub fn format_exception(&mut self, exc: ObjRef) -> String {
        let mut chain = vec![(exc, 0u8)];
        let mut cur = exc;
        while chain.len() < 32 {
            let (cause, context, suppress) = match self.rt.heap.get(cur) {
                Ok(g) => match &*g {
                    Obj::Exception(e) => (e.cause, e.context, e.suppress_context),
                    _ => (Value::None, Value::None, false),
                },
                Err(_) => break,
            };
            if let Value::Obj(c) = cause {
                chain.push((c, 1));
                cur = c;
            } else if let (Value::Obj(c), false) = (context, suppress) {
                chain.push((c, 2));
                cur = c;
            } else {
                break;
            }
        }
        let mut out = String::new();
        for i in (0..chain.len()).rev() {
            let (e, _) = chain[i];
            out.push_str(&self.format_one(e));
            if i > 0 {
                // how chain[i - 1] relates to chain[i]: recorded on chain[i]
                let how = chain[i].1;
                out.push_str(if how == 1 {
                    "\nThe above exception was the direct cause of the following exception:\n\n"
                } else {
                    "\nDuring handling of the above exception, another exception occurred:\n\n"
                });
            }
        }
        out
    }

    fn format_one(&mut self, exc: ObjRef) -> String {
        let tb = match self.rt.heap.get(exc) {
            Ok(g) => match &*g {
                Obj::Exception(e) => e.traceback.clone(),
                _ => vec![],
            },
            Err(_) => vec![],
        };
        let mut out = String::new();
        if !tb.is_empty() {
            out.push_str("Traceback (most recent call last):\n");
            let program = &self.rt.program;
            // As CPython: after three identical entries in a row, one line says
            // how many more there were.
            let mut prev: Option<TbEntry> = None;
            let mut repeats = 0usize;
            let flush = |out: &mut String, repeats: usize| {
                if repeats > 3 {
                    let n = repeats - 3;
                    let _ = writeln!(
                        out,
                        "  [Previous line repeated {n} more time{}]",
                        if n == 1 { "" } else { "s" }
                    );
                }
            };
            for entry in tb.iter().rev() {
                if prev == Some(*entry) {
                    repeats += 1;
                } else {
                    flush(&mut out, repeats);
                    repeats = 1;
                }
                prev = Some(*entry);
                if repeats > 3 {
                    continue;
                }
                let code = &program.codes[entry.code as usize];
                let _ = writeln!(
                    out,
                    "  File \"{}\", line {}, in {}",
                    program.filename, entry.line, code.name
                );
                if let Some(src) = program.source_line(entry.line) {
                    if !src.is_empty() {
                        let _ = writeln!(out, "    {src}");
                    }
                }
            }
            flush(&mut out, repeats);
        }
        out.push_str(&self.exception_line(Value::Obj(exc)));
        out.push('\n');
        out
    }
}
