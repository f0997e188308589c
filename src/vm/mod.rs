//! The virtual machine: runs a `Program` on one OS thread over the shared heap.
//!
//! - `Runtime` is what all threads of one program share: the program, the heap, the
//!   global slots, the built-in objects and the configuration.
//! - `Vm` is one thread's interpreter: its value stack, its frame stack (Toy frames
//!   live here, never on the Rust stack) and its counters.
//! - `interp` is the dispatch loop; `call` binds arguments and pushes frames; `ops`
//!   holds the slow paths of operators; `exceptions` raises and prints them;
//!   `builtins` implements the built-in functions and the methods of built-in types.
//!
//! The loop never calls into the GIL: where CPython checks its eval breaker (back
//! edges and calls), the VM loads `Runtime::breaker` and, if a bit is set, calls the
//! `Hooks` the concurrency layer installed (see `breaker`).

pub mod attrs;
pub mod breaker;
pub mod builtins;
pub mod call;
pub mod convert;
pub mod exceptions;
pub mod frames;
pub mod interp;
pub mod items;
pub mod iter;
pub mod ops;

use crate::bytecode::{Const, Program, Sym};
use crate::heap::{AtomicValue, Heap, HeapError, LocalHeap, Obj, ObjRef, StrObj, Value};
use builtins::Builtins;
pub use exceptions::{ExcKind, PyErr};
use frames::{Block, Frame};
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use std::io::Write;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

pub type PyResult<T = Value> = Result<T, PyErr>;

/// What the VM asks of the layers above it (threads, the GIL, the event loop).
/// The default does nothing: a single-threaded run needs no hooks.
pub trait Hooks: Send + Sync {
    /// The eval breaker was found set at a back edge or call: do the pending work
    /// (for example, drop the GIL on request and take it back).
    fn handle_pending(&self, _vm: &mut Vm) -> PyResult<()> {
        Ok(())
    }

    /// Run `f`, a call that blocks (sleep, I/O, waiting on a lock), on behalf of
    /// the thread running `vm`; the GIL layer releases the lock around it.
    fn blocking(&self, _vm: &mut Vm, f: &mut dyn FnMut()) {
        f()
    }

    /// For layers that need their own hooks type back (threads find the GIL).
    fn as_any(&self) -> &dyn std::any::Any;
}

pub struct NoHooks;
impl Hooks for NoHooks {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A thread's GIL and I/O counters (observation reads them when it ends).
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub gil_acquisitions: u64,
    pub forced_switches: u64,
    pub voluntary_releases: u64,
    pub drop_requests: u64,
    pub gil_hold_ns: u64,
    pub gil_wait_ns: u64,
    pub io_ns: u64,
    pub coroutine_steps: u64,
    /// asyncio: tasks this thread's loops created, and time they sat idle
    /// waiting for a timer or I/O.
    pub tasks_created: u64,
    pub loop_idle_ns: u64,
}

/// Settings fixed for a run.
#[derive(Clone, Debug)]
pub struct Options {
    pub max_heap: u64,
    pub refcount: crate::heap::RefcountMode,
    /// `--gil on|off`: without the GIL, plain counts and list appends race (see
    /// `Heap::without_gil`).
    pub gil: bool,
    /// Count the reference-count updates lost without the GIL (for `--stats`; it
    /// costs a swap per update, see `heap::slots::Update::Watched`).
    pub watch_lost_updates: bool,
    pub argv: Vec<String>,
    pub recursion_limit: u32,
    /// The simulated network: seed, latency scale, per-host latencies.
    pub seed: u64,
    pub latency_s: f64,
    pub host_latency: Vec<(String, f64)>,
    /// Fetch `http://127.0.0.1:PORT/...` and `http://localhost:PORT/...` for
    /// real (the default); off, they are simulated like any other URL
    /// (`--no-loopback`, which `gilsim serve` passes to every run).
    pub loopback: bool,
    /// Record, at every instruction, where the thread is and how many
    /// instructions it ran: the sites that crash reports, the audit and the
    /// lost-update hook name, and the count of `--stats`. On by default; the
    /// CLI turns it off for runs that report none of these (a few percent of
    /// the loop's time).
    pub track_sites: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_heap: 4 << 30,
            refcount: crate::heap::RefcountMode::Plain,
            gil: true,
            watch_lost_updates: false,
            argv: vec![],
            recursion_limit: 1000,
            seed: 0,
            latency_s: 0.1,
            host_latency: vec![],
            loopback: true,
            track_sites: true,
        }
    }
}

/// Everything the threads of one program share.
/// How a call to a code object can skip the general argument binder: when the
/// code takes exactly `argc` positional arguments and nothing else (no `*args`,
/// keyword-only parameters, cells, generator or coroutine), a call with `argc`
/// positional arguments only needs `extra` more slots, set unbound (or, for
/// the free variables of a function with a closure, its cells).
#[derive(Clone, Copy, Debug)]
pub struct FastCall {
    /// `u32::MAX` when the code never takes the fast path.
    pub argc: u32,
    pub extra: u32,
    /// How many of the `extra` slots are free variables (the last ones): a
    /// function with a closure fills them with its cells.
    pub nfree: u32,
}

impl FastCall {
    fn of(code: &crate::bytecode::Code) -> FastCall {
        if code.is_simple() && code.cellnames.is_empty() && code.nslots() >= code.argcount {
            FastCall {
                argc: code.argcount,
                extra: code.nslots() - code.argcount,
                nfree: code.freenames.len() as u32,
            }
        } else {
            FastCall {
                argc: u32::MAX,
                extra: 0,
                nfree: 0,
            }
        }
    }
}

/// A code object's instructions and its constants as heap values (made once at
/// start), side by side: entering a frame finds both with one lookup.
pub struct CodeRun {
    pub instrs: Box<[crate::bytecode::Instr]>,
    pub consts: Box<[Value]>,
}

pub struct Runtime {
    pub program: Arc<Program>,
    pub heap: Heap,
    pub globals: Box<[AtomicValue]>,
    /// What the interpreter loop reads on entering a frame of each code object
    /// (see `CodeRun`).
    pub code_runs: Vec<CodeRun>,
    pub builtins: Builtins,
    pub global_by_sym: FxHashMap<Sym, u32>,
    /// Keyword-name tuples of calls (constants), already interned.
    pub kwname_syms: FxHashMap<ObjRef, Box<[Sym]>>,
    /// Each code object's positional parameter names, interned (keyword calls
    /// bind by comparing symbols).
    pub param_syms: Vec<Box<[Sym]>>,
    /// Each code object's fast-call shape (see `FastCall`).
    pub fast_calls: Vec<FastCall>,
    pub modules: Mutex<FxHashMap<Sym, Value>>,
    pub out: Mutex<Box<dyn Write + Send>>,
    pub recursion_limit: AtomicU32,
    /// Name of every thread that ever ran, by number (`LocalHeap::thread`).
    pub thread_names: Mutex<Vec<String>>,
    /// The eval breaker: non-zero when a thread should stop at its next check.
    pub breaker: breaker::Breaker,
    pub hooks: Box<dyn Hooks>,
    pub options: Options,
}

/// One thread's interpreter state.
pub struct Vm {
    pub rt: &'static Runtime,
    pub stack: Vec<Value>,
    pub frames: Vec<Frame>,
    pub blocks: Vec<Block>,
    /// Exceptions being handled (`except` clauses entered and not yet left), for
    /// bare `raise` and for chaining.
    pub handling: Vec<Value>,
    pub local: LocalHeap,
    /// Nesting of Rust-level re-entries into the loop (a built-in calling back into
    /// Toy code); bounded so the Rust stack cannot overflow.
    pub native_depth: u32,
    /// Scratch buffer for built-in call arguments.
    pub argbuf: Vec<Value>,
    /// Scratch buffer for building strings.
    pub scratch: String,
    pub instructions: u64,
    /// Thread name, for tracebacks of uncaught exceptions in threads.
    pub thread_name: String,
    /// Objects being repr'd, to print `[...]` for self-containing lists.
    pub repr_stack: Vec<ObjRef>,
    /// How many container comparisons enclose the current one (`Vm::seq_eq`).
    pub cmp_depth: usize,
    /// Set by `Reraise` and bare `raise`: the exception keeps its traceback.
    pub reraising: bool,
    /// Set when a generator frame suspended (rather than returned).
    pub gen_yielded: bool,
    /// `sys.exit(n)` was called.
    pub exit_code: Option<i32>,
    /// `threading.get_ident()` of this thread.
    pub ident: u64,
    /// This thread's `threading.Thread` object (None until asked for, on the main thread).
    pub thread_obj: Value,
    pub counters: Counters,
    /// Where the last `dict.get` found its key (see `items::DictHit`).
    pub dict_hit: Option<items::DictHit>,
}

impl Runtime {
    /// Prepare a program to run: heap, constants, built-ins, globals.
    pub fn new(
        program: Program,
        options: Options,
        out: Box<dyn Write + Send>,
        hooks: Box<dyn Hooks>,
    ) -> Result<&'static Runtime, String> {
        let program = Arc::new(program);
        let mut heap = Heap::new(options.max_heap, options.refcount);
        if options.track_sites {
            heap = heap.with_sites();
        }
        if !options.gil {
            heap = heap.without_gil(options.watch_lost_updates);
        }
        let globals: Box<[AtomicValue]> = program
            .global_names
            .iter()
            .map(|_| AtomicValue::new(Value::Unbound))
            .collect();
        let mut global_by_sym = FxHashMap::default();
        for (i, n) in program.global_names.iter().enumerate() {
            global_by_sym.insert(crate::bytecode::intern(n), i as u32);
        }
        let mut local = LocalHeap::default();
        let builtins =
            Builtins::create(&heap, &mut local).map_err(|_| "heap too small".to_string())?;
        let mut code_runs = Vec::with_capacity(program.codes.len());
        let mut kwname_syms = FxHashMap::default();
        for code in &program.codes {
            let mut vals = Vec::with_capacity(code.consts.len());
            for c in &code.consts {
                let v = make_const(&heap, &mut local, c).map_err(|_| "heap too small")?;
                if let (Const::Tuple(items), Value::Obj(r)) = (c, v) {
                    let syms: Option<Vec<Sym>> = items
                        .iter()
                        .map(|i| match i {
                            Const::Str(s) => Some(crate::bytecode::intern(s)),
                            _ => None,
                        })
                        .collect();
                    if let Some(syms) = syms {
                        kwname_syms.insert(r, syms.into_boxed_slice());
                    }
                }
                vals.push(v);
            }
            code_runs.push(CodeRun {
                instrs: code.instrs.clone().into_boxed_slice(),
                consts: vals.into_boxed_slice(),
            });
        }
        heap.retire(&mut local);
        let param_syms = program
            .codes
            .iter()
            .map(|c| {
                c.varnames[..(c.argcount as usize).min(c.varnames.len())]
                    .iter()
                    .map(|n| crate::bytecode::intern(n))
                    .collect()
            })
            .collect();
        let fast_calls = program.codes.iter().map(FastCall::of).collect();
        let rt = Runtime {
            program,
            heap,
            globals,
            code_runs,
            builtins,
            global_by_sym,
            kwname_syms,
            param_syms,
            fast_calls,
            modules: Mutex::new(FxHashMap::default()),
            out: Mutex::new(out),
            recursion_limit: AtomicU32::new(options.recursion_limit),
            thread_names: Mutex::new(Vec::new()),
            breaker: breaker::Breaker::default(),
            hooks,
            options,
        };
        // A process runs one program, and its runtime lives until the process ends:
        // leaking it gives every thread a plain `&'static` reference, with no
        // reference counting on the hot path.
        let rt: &'static Runtime = Box::leak(Box::new(rt));
        {
            let mut vm = Vm::new(rt, "MainThread".into());
            vm.install_builtin_globals()?;
            vm.finish();
        }
        Ok(rt)
    }
}

fn make_const(heap: &Heap, local: &mut LocalHeap, c: &Const) -> Result<Value, HeapError> {
    Ok(match c {
        Const::None => Value::None,
        Const::Bool(b) => Value::Bool(*b),
        Const::Int(i) => Value::Int(*i),
        Const::Float(f) => Value::Float(*f),
        Const::BigInt(digits) => {
            let b: num_bigint::BigInt = digits.parse().unwrap_or_default();
            Value::Obj(heap.alloc(local, Obj::BigInt(b))?)
        }
        Const::Str(s) => Value::Obj(heap.alloc(local, Obj::Str(StrObj::new(s.clone())))?),
        Const::Tuple(items) => {
            let mut vals = Vec::with_capacity(items.len());
            for i in items {
                vals.push(make_const(heap, local, i)?);
            }
            Value::Obj(heap.alloc(local, Obj::Tuple(vals.into_boxed_slice()))?)
        }
        Const::Ellipsis => Value::None,
    })
}

impl Vm {
    pub fn new(rt: &'static Runtime, thread_name: String) -> Vm {
        let mut local = LocalHeap::default();
        {
            let mut names = rt.thread_names.lock();
            local.thread = names.len().min(u16::MAX as usize) as u16;
            names.push(thread_name.clone());
        }
        Vm {
            rt,
            stack: Vec::with_capacity(1024),
            frames: Vec::with_capacity(64),
            blocks: Vec::new(),
            handling: Vec::new(),
            local,
            native_depth: 0,
            argbuf: Vec::new(),
            scratch: String::new(),
            instructions: 0,
            thread_name,
            repr_stack: Vec::new(),
            cmp_depth: 0,
            reraising: false,
            gen_yielded: false,
            exit_code: None,
            ident: 0,
            thread_obj: Value::None,
            counters: Counters::default(),
            dict_hit: None,
        }
    }

    /// Hand this thread's heap counters and free-slot cache back to the runtime.
    pub fn finish(&mut self) {
        self.rt.heap.retire(&mut self.local);
    }

    fn install_builtin_globals(&mut self) -> Result<(), String> {
        let rt = self.rt;
        for (i, name) in rt.program.global_names.iter().enumerate() {
            let v = match &**name {
                "__name__" => self.new_str("__main__").map_err(|_| "heap")?,
                "__file__" => self.new_str(&rt.program.filename).map_err(|_| "heap")?,
                n => match rt.builtins.lookup(n) {
                    Some(v) => {
                        self.incref(v);
                        v
                    }
                    None => continue,
                },
            };
            rt.globals[i].replace(v);
        }
        Ok(())
    }

    // ------------------------------------------------------------ heap shortcuts

    #[inline]
    pub fn incref(&mut self, v: Value) {
        if let Value::Obj(r) = v {
            self.rt.heap.incref_obj(&mut self.local, r);
        }
    }

    /// Release a reference. Only the test for an object is inlined: most
    /// released values in arithmetic code are unboxed numbers, for which this
    /// is one compare, and the object path is too big to repeat at every site.
    #[inline(always)]
    pub fn decref(&mut self, v: Value) {
        if let Value::Obj(r) = v {
            self.decref_object(r);
        }
    }

    #[inline(never)]
    fn decref_object(&mut self, r: ObjRef) {
        self.rt.heap.decref_obj(&mut self.local, r);
    }

    pub fn alloc(&mut self, obj: Obj) -> PyResult<Value> {
        match self.rt.heap.alloc(&mut self.local, obj) {
            Ok(r) => Ok(Value::Obj(r)),
            Err(e) => Err(self.heap_error(e)),
        }
    }

    pub fn new_str(&mut self, s: &str) -> PyResult<Value> {
        let nchars = crate::text::strings::char_len(s);
        if s.len() <= crate::heap::Text::INLINE_CAP {
            return self.alloc_short_str(s, nchars, |_| {}).map(Value::Obj);
        }
        self.alloc_str(StrObj::with_nchars(crate::heap::text(s), nchars))
    }

    pub fn new_string(&mut self, s: String) -> PyResult<Value> {
        self.new_str(&s)
    }

    /// Allocate a str object (see `Heap::alloc_str`).
    pub fn alloc_str(&mut self, s: StrObj) -> PyResult<Value> {
        match self.rt.heap.alloc_str(&mut self.local, s) {
            Ok(r) => Ok(Value::Obj(r)),
            Err(e) => Err(self.heap_error(e)),
        }
    }

    /// Allocate a str of at most `Text::INLINE_CAP` bytes, written straight
    /// into its slot (see `Heap::alloc_short_str`). The handle comes back
    /// alone, for the caller to store in one 8-byte write: a `Value` read back
    /// whole from a result just written in two parts waits for both writes.
    #[inline]
    pub fn alloc_short_str(
        &mut self,
        s: &str,
        nchars: usize,
        map: impl FnOnce(&mut str),
    ) -> PyResult<ObjRef> {
        match self
            .rt
            .heap
            .alloc_short_str(&mut self.local, s, nchars, map)
        {
            Ok(r) => Ok(r),
            Err(e) => Err(self.heap_error(e)),
        }
    }

    pub fn new_list(&mut self, items: Vec<Value>) -> PyResult<Value> {
        match self.rt.heap.alloc_list(&mut self.local, items) {
            Ok(r) => Ok(Value::Obj(r)),
            Err(e) => Err(self.heap_error(e)),
        }
    }

    pub fn new_tuple(&mut self, items: Vec<Value>) -> PyResult<Value> {
        self.alloc(Obj::Tuple(items.into_boxed_slice()))
    }

    /// An int from a BigInt, unboxed when it fits in i64.
    pub fn new_int(&mut self, b: num_bigint::BigInt) -> PyResult<Value> {
        use num_traits::ToPrimitive;
        match b.to_i64() {
            Some(i) => Ok(Value::Int(i)),
            None => self.alloc(Obj::BigInt(b)),
        }
    }

    #[cold]
    #[inline(never)]
    pub fn heap_error(&mut self, e: HeapError) -> PyErr {
        self.release_unplaced();
        match e {
            HeapError::Full => PyErr::new(ExcKind::MemoryError, ""),
            HeapError::Stuck(r) => PyErr::new(
                ExcKind::RuntimeError,
                format!(
                    "gilsim internal error: the object in heap slot {} stayed locked (its own thread asked for it again)",
                    r.idx
                ),
            ),
            other => exceptions::corruption_error(self, other),
        }
    }

    /// Read access to an object, or a MemoryCorruptionError if the handle is stale.
    /// The guard borrows the runtime, not the VM, so the VM stays usable meanwhile.
    #[inline]
    pub fn get(&mut self, r: ObjRef) -> PyResult<crate::heap::ObjRead<'static>> {
        let rt = self.rt;
        rt.heap.get(r).map_err(|e| self.heap_error(e))
    }

    #[inline]
    pub fn get_mut(&mut self, r: ObjRef) -> PyResult<crate::heap::ObjWrite<'static>> {
        let rt = self.rt;
        rt.heap.get_mut(r).map_err(|e| self.heap_error(e))
    }

    /// Read access to two objects at once. A thread must not lock one object
    /// twice (see `heap::ObjRead`), so when both handles name the same object
    /// it is locked once and `Pair::second` reads the first guard again.
    #[inline]
    pub fn get_pair(&mut self, a: ObjRef, b: ObjRef) -> PyResult<Pair> {
        let first = self.get(a)?;
        let second = self.get_other(a, b)?;
        Ok(Pair { first, second })
    }

    /// Read access to `r` for a caller that holds `held`'s guard: None when
    /// they are one object, which the caller then reads through its guard.
    #[inline]
    pub fn get_other(
        &mut self,
        held: ObjRef,
        r: ObjRef,
    ) -> PyResult<Option<crate::heap::ObjRead<'static>>> {
        if held == r {
            return Ok(None);
        }
        self.get(r).map(Some)
    }

    /// Run a blocking call through the hooks (so that the GIL can be released).
    pub fn blocking(&mut self, mut f: impl FnMut()) -> PyResult<()> {
        let hooks = &self.rt.hooks;
        hooks.blocking(self, &mut f);
        Ok(())
    }

    pub fn write_out(&mut self, s: &str) -> PyResult<()> {
        let mut out = self.rt.out.lock();
        let _ = out.write_all(s.as_bytes());
        Ok(())
    }

    pub fn flush_out(&self) {
        let _ = self.rt.out.lock().flush();
    }

    /// The current source position: (code index, line).
    pub fn site(&self) -> (u32, u32) {
        match self.frames.last() {
            Some(f) => {
                let code = &self.rt.program.codes[f.code as usize];
                (f.code, code.line_at(f.ip.saturating_sub(1) as usize))
            }
            None => (0, 0),
        }
    }
}

/// Two objects read at once (`Vm::get_pair`).
pub struct Pair {
    pub first: crate::heap::ObjRead<'static>,
    second: Option<crate::heap::ObjRead<'static>>,
}

impl Pair {
    #[inline]
    pub fn second(&self) -> &Obj {
        match &self.second {
            Some(g) => g,
            None => &self.first,
        }
    }
}
