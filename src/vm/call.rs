//! Calls: binding arguments to parameters, pushing frames, and calling anything
//! callable (functions, bound methods, built-ins, classes).
//!
//! A call to a Toy function never recurses in Rust: `call_setup` lays the frame's
//! slots out on the value stack and pushes a `Frame`; the loop in `interp` carries
//! on with it. Built-ins that need to call back into Toy code (`sorted(key=...)`,
//! `__repr__`, class instantiation) use `call_value`, which enters the loop again;
//! that nesting is bounded (`MAX_NATIVE_DEPTH`) so the Rust stack cannot overflow.

use super::frames::Frame;
use super::{ExcKind, PyErr, PyResult, Vm};
use crate::bytecode::{intern, sym, sym_name, Code, Sym};
use crate::heap::{Class, Function, Instance, Obj, ObjRef, TypeTag, Value};
use rustc_hash::FxHashMap;

/// How many times built-ins may re-enter the interpreter loop inside each other.
pub const MAX_NATIVE_DEPTH: u32 = 200;

impl Vm {
    /// Call `callee` with borrowed arguments, from Rust. Returns a new reference.
    pub fn call_value(
        &mut self,
        callee: Value,
        args: &[Value],
        kw: &[(Sym, Value)],
    ) -> PyResult<Value> {
        if self.native_depth >= MAX_NATIVE_DEPTH {
            return Err(PyErr::new(
                ExcKind::RecursionError,
                "maximum recursion depth exceeded",
            ));
        }
        let callee_idx = self.stack.len();
        self.incref(callee);
        self.stack.push(callee);
        for &a in args {
            self.incref(a);
            self.stack.push(a);
        }
        let names = if kw.is_empty() {
            None
        } else {
            for &(_, v) in kw {
                self.incref(v);
                self.stack.push(v);
            }
            let mut ns = Vec::with_capacity(kw.len());
            for &(k, _) in kw {
                let s = self.new_str(&sym_name(k));
                match s {
                    Ok(s) => ns.push(s),
                    Err(e) => {
                        self.truncate_stack(callee_idx);
                        self.decref_all(ns);
                        return Err(e);
                    }
                }
            }
            Some(self.new_tuple(ns)?)
        };
        let depth = self.frames.len();
        let r = self.call_setup(callee_idx, args.len() + kw.len(), names);
        if let Some(n) = names {
            self.decref(n);
        }
        if !r? {
            return Ok(self.stack.pop().unwrap_or(Value::None));
        }
        // A frame was pushed: run it to completion.
        if let Some(f) = self.frames.get_mut(depth) {
            f.is_entry = true;
        }
        self.native_depth += 1;
        let r = self.run();
        self.native_depth -= 1;
        r
    }

    pub fn decref_all(&mut self, vs: Vec<Value>) {
        for v in vs {
            self.decref(v);
        }
    }

    /// The stack holds `callee arg1 .. argn` from `callee_idx` (the last
    /// `kwnames.len()` arguments are keyword values). Either pushes a frame
    /// (returns true) or replaces callee and arguments with the result (false).
    pub fn call_setup(
        &mut self,
        callee_idx: usize,
        nargs: usize,
        kwnames: Option<Value>,
    ) -> PyResult<bool> {
        let Some(&callee) = self.stack.get(callee_idx) else {
            return Err(PyErr::new(
                ExcKind::RuntimeError,
                "internal error: bad call",
            ));
        };
        let Value::Obj(r) = callee else {
            let tn = self.type_name(callee);
            self.truncate_stack(callee_idx);
            return Err(PyErr::type_error(format!("'{tn}' object is not callable")));
        };
        let rt = self.rt;
        let aux = rt.heap.aux(r).unwrap_or(0);
        if aux & 0xff == crate::heap::AUX_BUILTIN {
            // A built-in (`len`, or a method pushed by LoadMethod): known from
            // the slot's hint, without its lock.
            return self.call_builtin((aux >> 8) as u16, callee_idx, None, nargs, kwnames);
        }
        if kwnames.is_none() && aux & 0xff == crate::heap::AUX_PLAIN_FUNCTION {
            {
                let code_id = (aux >> 8) as u32;
                let code = &rt.program.codes[code_id as usize];
                if code.is_simple() && nargs == code.argcount as usize && code.cellnames.is_empty()
                {
                    // Fast path: the arguments are already the first slots.
                    for _ in nargs..code.nslots() as usize {
                        self.stack.push(Value::Unbound);
                    }
                    self.push_frame(code_id, callee_idx + 1)?;
                    return Ok(true);
                }
            }
        }
        let g = match rt.heap.get(r) {
            Ok(g) => g,
            Err(e) => {
                self.truncate_stack(callee_idx);
                return Err(self.heap_error(e));
            }
        };
        match &*g {
            Obj::Function(f) => {
                let code_id = f.code;
                let code = &rt.program.codes[code_id as usize];
                // The keyword names of a call site are a constant tuple, interned
                // once at start; names built at run time (`f(**d)`) take the
                // general binder.
                let kwsyms: Option<&[Sym]> = match kwnames {
                    None => Some(&[]),
                    Some(Value::Obj(n)) => rt.kwname_syms.get(&n).map(|s| &s[..]),
                    Some(_) => None,
                };
                if let Some(kwsyms) = kwsyms {
                    match self.bind_simple(f, code, callee_idx, nargs, kwsyms) {
                        Ok(true) => {
                            drop(g);
                            self.push_frame(code_id, callee_idx + 1)?;
                            return Ok(true);
                        }
                        Ok(false) => {}
                        Err(e) => {
                            // The function's guard goes before the stack is
                            // cut: that may release the function's last
                            // reference, and freeing it takes its lock.
                            drop(g);
                            self.truncate_stack(callee_idx);
                            return Err(e);
                        }
                    }
                }
                drop(g);
                self.bind_and_push(r, callee_idx, nargs, kwnames)
            }
            Obj::BoundMethod { receiver, func } => {
                let (recv, func) = (*receiver, *func);
                drop(g);
                if let Value::Obj(f) = func {
                    let builtin = match rt.heap.get(f).as_deref() {
                        Ok(Obj::Builtin(b)) => Some(b.0),
                        _ => None,
                    };
                    if let Some(id) = builtin {
                        // Like CPython's method_vectorcall, borrow the receiver and
                        // the function instead of taking references: the bound
                        // method stays on the stack during the call and holds both.
                        // Besides saving four count updates per call, this keeps
                        // `add = items.append; add(x)` off the shared list's and
                        // the shared built-in's counts, as in CPython, so that
                        // races show where CPython's would.
                        return self.call_builtin(id, callee_idx, Some(recv), nargs, kwnames);
                    }
                }
                self.incref(recv);
                self.incref(func);
                // callee := func, insert receiver as the first argument
                let old = std::mem::replace(&mut self.stack[callee_idx], func);
                self.stack.insert(callee_idx + 1, recv);
                self.decref(old);
                self.call_setup(callee_idx, nargs + 1, kwnames)
            }
            Obj::Builtin(b) => {
                let id = b.0;
                drop(g);
                self.call_builtin(id, callee_idx, None, nargs, kwnames)
            }
            Obj::Class(c) => {
                let tag = c.tag;
                drop(g);
                let kw = match self.split_kwargs(callee_idx, nargs, kwnames) {
                    Ok(kw) => kw,
                    Err(e) => {
                        self.truncate_stack(callee_idx);
                        return Err(e);
                    }
                };
                // The arguments in the reusable buffer (a nested call made while
                // it is taken finds it empty and allocates its own).
                let mut args = std::mem::take(&mut self.argbuf);
                args.clear();
                args.extend_from_slice(self.stack.get(callee_idx + 1..).unwrap_or(&[]));
                let res = self.instantiate(r, tag, &args, &kw);
                self.argbuf = args;
                for (_, v) in kw {
                    self.decref(v);
                }
                self.truncate_stack(callee_idx);
                self.stack.push(res?);
                Ok(false)
            }
            Obj::Instance(_) => {
                drop(g);
                // an instance with __call__
                let m = self.lookup_type_attr(callee, sym::__call__)?;
                match m {
                    Some(func) => {
                        self.incref(func);
                        let old = std::mem::replace(&mut self.stack[callee_idx], func);
                        self.stack.insert(callee_idx + 1, old);
                        self.call_setup(callee_idx, nargs + 1, kwnames)
                    }
                    None => {
                        let tn = self.type_name(callee);
                        self.truncate_stack(callee_idx);
                        Err(PyErr::type_error(format!("'{tn}' object is not callable")))
                    }
                }
            }
            other => {
                let tn = match other {
                    Obj::Str(_) => "str".to_string(),
                    _ => {
                        drop(g);
                        self.type_name(callee)
                    }
                };
                self.truncate_stack(callee_idx);
                Err(PyErr::type_error(format!("'{tn}' object is not callable")))
            }
        }
    }

    /// CallMethod with a receiver: the stack holds `callee self arg1 .. argn`
    /// from `callee_idx`, `nargs` counting self.
    ///
    /// When `LoadMethod` found a method of a built-in type (`w.upper()`,
    /// `d.get(k, 0)`), the callee is the method's number as an int rather than
    /// the built-in's heap object: no other instruction can leave an int below
    /// a receiver, since `LoadMethod` pushes Unbound above any other callable
    /// it finds. The number holds no reference, so the call takes none and
    /// releases none, and goes straight to the built-in, without the checks of
    /// `call_setup`: about 75 instructions less per call, a sixth of the cost
    /// of `counts.get(key, 0)` in strings.py. CPython's `LOAD_METHOD` takes a
    /// reference to the method descriptor; ours are kept alive by `Builtins`
    /// for the whole run, so not counting this one changes nothing that a
    /// program can observe.
    pub(super) fn call_method(&mut self, callee_idx: usize, nargs: usize) -> PyResult<bool> {
        let Some(&Value::Int(id)) = self.stack.get(callee_idx) else {
            return self.call_setup(callee_idx, nargs, None);
        };
        // `list.append(x)` on a list: the argument's reference moves into the
        // list, with no general built-in call (CPython 3.11 specializes it).
        if id == self.rt.builtins.list_append && nargs == 2 {
            if let (Some(&recv @ Value::Obj(lr)), Some(&x)) = (
                self.stack.get(callee_idx + 1),
                self.stack.get(callee_idx + 2),
            ) {
                if self.rt.heap.aux(lr).map(|a| a & 0xff) == Some(crate::heap::AUX_LIST) {
                    self.stack.truncate(callee_idx);
                    let r = self.list_append(recv, x);
                    self.decref(recv);
                    r?;
                    self.stack.push(Value::None);
                    return Ok(false);
                }
            }
        }
        let f = super::builtins::builtin_impl(id as u16);
        // The receiver and up to two arguments (`w.upper()`, `d.get(k, 0)`)
        // go to the built-in as an array of known length, and are released
        // one by one; any other call the general way. The number below the
        // receiver needs no release.
        let r = match *self.stack.get(callee_idx + 1..).unwrap_or(&[]) {
            [a] => {
                let r = f(self, &[a], &[]);
                self.stack.truncate(callee_idx);
                self.decref(a);
                r
            }
            [a, b] => {
                let r = f(self, &[a, b], &[]);
                self.stack.truncate(callee_idx);
                self.decref(a);
                self.decref(b);
                r
            }
            [a, b, c] => {
                let r = f(self, &[a, b, c], &[]);
                self.stack.truncate(callee_idx);
                self.decref(a);
                self.decref(b);
                self.decref(c);
                r
            }
            _ => {
                let r = self.run_builtin(f, None, callee_idx + 1, &[]);
                self.truncate_stack(callee_idx);
                r
            }
        };
        self.stack.push(r?);
        Ok(false)
    }

    /// The rest of the frame of a function with a closure called with exactly
    /// its positional arguments (`fast_call!` in the loop checked the shape):
    /// its other locals unbound, then its cells. False, with the stack
    /// untouched, if the function is not what its `aux` word said.
    #[inline(never)]
    pub(super) fn push_closure(&mut self, r: ObjRef, fc: &super::FastCall) -> bool {
        let rt = self.rt;
        let Ok(g) = rt.heap.get(r) else {
            return false;
        };
        let Obj::Function(f) = &*g else {
            return false;
        };
        if f.closure.len() != fc.nfree as usize {
            return false;
        }
        let unbound = (fc.extra - fc.nfree) as usize;
        if unbound != 0 {
            self.stack
                .resize(self.stack.len() + unbound, Value::Unbound);
        }
        for &c in &f.closure {
            rt.heap.incref(&mut self.local, c);
            self.stack.push(c);
        }
        true
    }

    /// Run built-in `f` on `receiver` (if any) followed by the stack's values
    /// from `from` on. The builtin borrows the VM mutably, so it cannot borrow
    /// its arguments where they are: up to four (`d.get(k, 0)` with its
    /// receiver, `s.upper()`) are copied to the Rust stack, more to the
    /// reusable buffer, whose take, clear and put back cost more per call.
    #[inline(always)]
    fn run_builtin(
        &mut self,
        f: super::builtins::Impl,
        receiver: Option<Value>,
        from: usize,
        kw: &[(Sym, Value)],
    ) -> PyResult<Value> {
        let given = self.stack.get(from..).unwrap_or(&[]);
        let lead = receiver.is_some() as usize;
        let n = lead + given.len();
        if n <= 4 {
            let mut args = [receiver.unwrap_or(Value::None); 4];
            args[lead..n].copy_from_slice(given);
            f(self, &args[..n], kw)
        } else {
            let mut buf = std::mem::take(&mut self.argbuf);
            buf.clear();
            buf.extend(receiver);
            buf.extend_from_slice(given);
            let r = f(self, &buf, kw);
            buf.clear();
            self.argbuf = buf;
            r
        }
    }

    /// Call built-in `id` on the arguments above `callee_idx`, after `receiver`
    /// if there is one (borrowed: the caller guarantees that the object at
    /// `callee_idx` holds it until the call returns), and replace callee and
    /// arguments with the result.
    fn call_builtin(
        &mut self,
        id: u16,
        callee_idx: usize,
        receiver: Option<Value>,
        nargs: usize,
        kwnames: Option<Value>,
    ) -> PyResult<bool> {
        let kw = match self.split_kwargs(callee_idx, nargs, kwnames) {
            Ok(kw) => kw,
            Err(e) => {
                self.truncate_stack(callee_idx);
                return Err(e);
            }
        };
        let f = super::builtins::builtin_impl(id);
        let r = self.run_builtin(f, receiver, callee_idx + 1, &kw);
        for (_, v) in kw {
            self.decref(v);
        }
        self.truncate_stack(callee_idx);
        self.stack.push(r?);
        Ok(false)
    }

    /// Pop keyword values (the last `len(kwnames)` arguments) into (name, value) pairs.
    #[inline]
    fn split_kwargs(
        &mut self,
        _callee_idx: usize,
        _nargs: usize,
        kwnames: Option<Value>,
    ) -> PyResult<Vec<(Sym, Value)>> {
        let Some(Value::Obj(names)) = kwnames else {
            return Ok(Vec::new());
        };
        self.split_named_kwargs(names)
    }

    /// `split_kwargs` for a call that has keywords, out of line: most calls
    /// have none.
    #[inline(never)]
    fn split_named_kwargs(&mut self, names: ObjRef) -> PyResult<Vec<(Sym, Value)>> {
        if let Some(syms) = self.rt.kwname_syms.get(&names) {
            let at = self.stack.len().saturating_sub(syms.len());
            let vals = self.stack.drain(at..);
            return Ok(syms.iter().copied().zip(vals).collect());
        }
        let names: Vec<Value> = match &*self.get(names)? {
            Obj::Tuple(t) => t.to_vec(),
            _ => vec![],
        };
        let at = self.stack.len().saturating_sub(names.len());
        let vals: Vec<Value> = self.stack.drain(at..).collect();
        let mut out = Vec::with_capacity(names.len());
        for (n, v) in names.into_iter().zip(vals) {
            let s = self.str_value(n).unwrap_or_default();
            out.push((intern(&s), v));
        }
        Ok(out)
    }

    #[inline]
    pub fn push_frame(&mut self, code: u32, base: usize) -> PyResult<()> {
        let limit = self
            .rt
            .recursion_limit
            .load(std::sync::atomic::Ordering::Relaxed);
        if self.frames.len() >= limit as usize {
            self.truncate_stack(base.saturating_sub(1));
            return Err(PyErr::new(
                ExcKind::RecursionError,
                "maximum recursion depth exceeded",
            ));
        }
        self.frames.push(Frame {
            code,
            ip: 0,
            base: base as u32,
            block_base: self.blocks.len() as u32,
            handling_base: self.handling.len() as u32,
            is_entry: false,
        });
        Ok(())
    }

    /// Lay out the frame of a call of `f` without the general binder, when its
    /// code is simple (no `*args`, `**kwargs`, keyword-only parameters, generator)
    /// and every parameter gets exactly one value: the positional arguments are
    /// already the first slots; keyword arguments (`kwsyms` names the last
    /// `kwsyms.len()` of the `nargs` values on the stack) that name positional
    /// parameters after them are moved into their slots; the parameters left come
    /// from the defaults. Then the other locals (unbound), the cells and the
    /// closure's cells. No allocation but the cells themselves.
    ///
    /// Ok(false), with the stack untouched, when the call needs the general
    /// binder: that includes every call that is an error, so its messages live
    /// in one place (`bind`). Err only when a cell cannot be allocated; the
    /// caller then cuts the stack back to the callee.
    #[inline]
    fn bind_simple(
        &mut self,
        f: &Function,
        code: &Code,
        callee_idx: usize,
        nargs: usize,
        kwsyms: &[Sym],
    ) -> PyResult<bool> {
        /// Keyword arguments bound here at most (`f(a=1, b=2)` has two).
        const MAX_KW: usize = 8;
        let rt = self.rt;
        let argc = code.argcount as usize;
        let nkw = kwsyms.len();
        let Some(npos) = nargs.checked_sub(nkw) else {
            return Ok(false);
        };
        if !code.is_simple()
            || npos > argc
            || nkw > MAX_KW
            || argc > 64
            || f.closure.len() != code.freenames.len()
            || self.stack.len() != callee_idx + 1 + nargs
        {
            return Ok(false);
        }
        let first_default = argc.saturating_sub(f.defaults.len());
        // Which parameter each keyword names, and the set of those (bit i: slot
        // npos + i), checked for duplicates.
        let mut slot_of = [0usize; MAX_KW];
        let mut named = 0u64;
        if nkw > 0 {
            let params = &rt.param_syms[f.code as usize];
            for (j, k) in kwsyms.iter().enumerate() {
                let Some(p) = params
                    .get(npos..argc)
                    .and_then(|ps| ps.iter().position(|s| s == k))
                else {
                    return Ok(false);
                };
                if named & (1 << p) != 0 {
                    return Ok(false);
                }
                named |= 1 << p;
                slot_of[j] = npos + p;
            }
        }
        // Every parameter not given must have a default.
        if (npos..argc).any(|i| i < first_default && named & (1 << (i - npos)) == 0) {
            return Ok(false);
        }
        let base = callee_idx + 1;
        let in_order = slot_of[..nkw]
            .iter()
            .enumerate()
            .all(|(j, &p)| p == npos + j);
        if in_order {
            // `f(x, times=2)` for `def f(x, times=1, ...)`: the values already
            // sit in their slots.
            for i in npos + nkw..argc {
                let d = f.defaults[i - first_default];
                rt.heap.incref(&mut self.local, d);
                self.stack.push(d);
            }
        } else {
            let mut vals = [Value::None; MAX_KW];
            vals[..nkw].copy_from_slice(&self.stack[base + npos..]);
            self.stack.truncate(base + npos);
            for i in npos..argc {
                if named & (1 << (i - npos)) != 0 {
                    let j = slot_of[..nkw].iter().position(|&p| p == i).unwrap_or(0);
                    self.stack.push(vals[j]);
                } else {
                    let d = f.defaults[i - first_default];
                    rt.heap.incref(&mut self.local, d);
                    self.stack.push(d);
                }
            }
        }
        let n = base + code.nlocals() as usize;
        if n > self.stack.len() {
            self.stack.resize(n, Value::Unbound);
        }
        for i in 0..code.cellnames.len() {
            let init = code
                .cell_args
                .iter()
                .find(|(c, _)| *c as usize == i)
                .map(|&(_, p)| self.stack[base + p as usize])
                .unwrap_or(Value::Unbound);
            rt.heap.incref(&mut self.local, init);
            match rt.heap.alloc(&mut self.local, Obj::Cell(init)) {
                Ok(c) => self.stack.push(Value::Obj(c)),
                Err(e) => {
                    // (the caller cuts the stack, once the function's
                    // guard is gone)
                    self.decref(init);
                    return Err(self.heap_error(e));
                }
            }
        }
        for &c in &f.closure {
            rt.heap.incref(&mut self.local, c);
            self.stack.push(c);
        }
        Ok(true)
    }

    /// The general case: keywords, defaults, *args, **kwargs, cells, closures.
    fn bind_and_push(
        &mut self,
        func_ref: ObjRef,
        callee_idx: usize,
        nargs: usize,
        kwnames: Option<Value>,
    ) -> PyResult<bool> {
        let rt = self.rt;
        let kw = match self.split_kwargs(callee_idx, nargs, kwnames) {
            Ok(kw) => kw,
            Err(e) => {
                self.truncate_stack(callee_idx);
                return Err(e);
            }
        };
        let g = match rt.heap.get(func_ref) {
            Ok(g) => g,
            Err(e) => {
                self.truncate_stack(callee_idx);
                return Err(self.heap_error(e));
            }
        };
        let Obj::Function(f) = &*g else {
            return Err(PyErr::type_error("not a function"));
        };
        let code: &Code = &rt.program.codes[f.code as usize];
        let code_id = f.code;
        let defaults = f.defaults.clone();
        let kwdefaults = f.kwdefaults.clone();
        let closure = f.closure.clone();
        let fname = f.qualname.clone();
        drop(g);
        let positional: Vec<Value> = self.stack.drain(callee_idx + 1..).collect();
        let r = self.bind(code, &fname, positional, kw, &defaults, &kwdefaults);
        let mut slots = match r {
            Ok(s) => s,
            Err(e) => {
                self.truncate_stack(callee_idx);
                return Err(e);
            }
        };
        // cells, then free variables
        for (i, _) in code.cellnames.iter().enumerate() {
            let init = code
                .cell_args
                .iter()
                .find(|(c, _)| *c as usize == i)
                .map(|&(_, p)| {
                    let v = slots[p as usize];
                    self.incref(v);
                    v
                })
                .unwrap_or(Value::Unbound);
            match self.alloc(Obj::Cell(init)) {
                Ok(c) => slots.push(c),
                Err(e) => {
                    self.decref_all(slots);
                    self.truncate_stack(callee_idx);
                    return Err(e);
                }
            }
        }
        for c in closure {
            self.incref(c);
            slots.push(c);
        }
        if code.flags.generator || code.flags.coroutine {
            self.truncate_stack(callee_idx);
            let g = self.new_generator(code_id, slots)?;
            self.stack.push(g);
            return Ok(false);
        }
        self.stack.extend(slots);
        self.push_frame(code_id, callee_idx + 1)?;
        Ok(true)
    }

    /// Match arguments to parameters, as CPython's `_PyEval_MakeFrameVector` does,
    /// with its error messages. Returns the frame's local slots (not cells/frees).
    fn bind(
        &mut self,
        code: &Code,
        fname: &str,
        positional: Vec<Value>,
        kw: Vec<(Sym, Value)>,
        defaults: &[Value],
        kwdefaults: &[(Sym, Value)],
    ) -> PyResult<Vec<Value>> {
        let argc = code.argcount as usize;
        let kwonly = code.kwonlycount as usize;
        let nlocals = code.nlocals() as usize;
        let mut slots = vec![Value::Unbound; nlocals];
        let npos = positional.len();
        let mut extra = Vec::new();
        for (i, v) in positional.into_iter().enumerate() {
            if i < argc {
                slots[i] = v;
            } else {
                extra.push(v);
            }
        }
        let mut slot_i = argc + kwonly;
        let cleanup = |vm: &mut Vm, slots: Vec<Value>, extra: Vec<Value>, kw: Vec<(Sym, Value)>| {
            vm.decref_all(slots);
            vm.decref_all(extra);
            for (_, v) in kw {
                vm.decref(v);
            }
        };
        if code.flags.varargs {
            let t = match self.new_tuple(std::mem::take(&mut extra)) {
                Ok(t) => t,
                Err(e) => {
                    cleanup(self, slots, vec![], kw);
                    return Err(e);
                }
            };
            slots[slot_i] = t;
            slot_i += 1;
        } else if !extra.is_empty() {
            let given = npos;
            let ndef = defaults.len();
            let msg = if ndef > 0 {
                format!(
                    "{}() takes from {} to {} positional arguments but {} were given",
                    fname,
                    argc - ndef,
                    argc,
                    given
                )
            } else {
                format!(
                    "{}() takes {} positional argument{} but {} {} given",
                    fname,
                    argc,
                    if argc == 1 { "" } else { "s" },
                    given,
                    if given == 1 { "was" } else { "were" }
                )
            };
            cleanup(self, slots, extra, kw);
            return Err(PyErr::type_error(msg));
        }
        let mut kwdict: Option<crate::heap::Dict> = if code.flags.varkeywords {
            Some(crate::heap::Dict::new())
        } else {
            None
        };
        let mut kw_iter = kw.into_iter();
        while let Some((name, v)) = kw_iter.next() {
            let n = sym_name(name);
            let pos = code.varnames[..argc + kwonly]
                .iter()
                .position(|p| **p == *n);
            match pos {
                Some(p) => {
                    if !matches!(slots[p], Value::Unbound) {
                        self.decref(v);
                        let rest: Vec<(Sym, Value)> = kw_iter.collect();
                        cleanup(self, slots, vec![], rest);
                        return Err(PyErr::type_error(format!(
                            "{fname}() got multiple values for argument '{n}'"
                        )));
                    }
                    slots[p] = v;
                }
                None => match kwdict.as_mut() {
                    Some(d) => {
                        let key = match self.new_str(&n) {
                            Ok(k) => k,
                            Err(e) => {
                                self.decref(v);
                                return Err(e);
                            }
                        };
                        if let Some((k2, old)) = d.insert(
                            &self.rt.heap,
                            &crate::heap::DictKey::Str(n.clone().into()),
                            key,
                            v,
                        ) {
                            self.decref(k2);
                            self.decref(old);
                        }
                    }
                    None => {
                        self.decref(v);
                        let rest: Vec<(Sym, Value)> = kw_iter.collect();
                        cleanup(self, slots, vec![], rest);
                        return Err(PyErr::type_error(format!(
                            "{fname}() got an unexpected keyword argument '{n}'"
                        )));
                    }
                },
            }
        }
        if let Some(d) = kwdict {
            let v = match self.alloc(Obj::Dict(d)) {
                Ok(v) => v,
                Err(e) => {
                    cleanup(self, slots, vec![], vec![]);
                    return Err(e);
                }
            };
            slots[slot_i] = v;
        }
        // defaults for missing positionals
        let ndef = defaults.len();
        let mut missing = Vec::new();
        for i in 0..argc {
            if matches!(slots[i], Value::Unbound) {
                if i + ndef >= argc {
                    let d = defaults[i + ndef - argc];
                    self.incref(d);
                    slots[i] = d;
                } else {
                    missing.push(code.varnames[i].to_string());
                }
            }
        }
        if !missing.is_empty() {
            cleanup(self, slots, vec![], vec![]);
            return Err(PyErr::type_error(format!(
                "{}() missing {} required positional argument{}: {}",
                fname,
                missing.len(),
                if missing.len() == 1 { "" } else { "s" },
                name_list(&missing)
            )));
        }
        let mut missing_kw = Vec::new();
        for (i, slot) in slots.iter_mut().enumerate().take(argc + kwonly).skip(argc) {
            if matches!(*slot, Value::Unbound) {
                let name = intern(&code.varnames[i]);
                match kwdefaults.iter().find(|(k, _)| *k == name) {
                    Some(&(_, d)) => {
                        self.rt.heap.incref(&mut self.local, d);
                        *slot = d;
                    }
                    None => missing_kw.push(code.varnames[i].to_string()),
                }
            }
        }
        if !missing_kw.is_empty() {
            cleanup(self, slots, vec![], vec![]);
            return Err(PyErr::type_error(format!(
                "{}() missing {} required keyword-only argument{}: {}",
                fname,
                missing_kw.len(),
                if missing_kw.len() == 1 { "" } else { "s" },
                name_list(&missing_kw)
            )));
        }
        Ok(slots)
    }

    /// `f(*args, **kwargs)`: stack holds callee, args tuple, kwargs dict or None.
    pub fn call_ex(&mut self) -> PyResult<bool> {
        let kwargs = self.stack.pop().unwrap_or(Value::None);
        let args = self.stack.pop().unwrap_or(Value::None);
        let callee_idx = self.stack.len() - 1;
        let items = self.collect_iterable(args);
        self.decref(args);
        let items = match items {
            Ok(i) => i,
            Err(e) => {
                self.decref(kwargs);
                self.truncate_stack(callee_idx);
                return Err(e);
            }
        };
        let n = items.len();
        self.stack.extend(items);
        let mut names = Vec::new();
        if let Value::Obj(d) = kwargs {
            let pairs: Option<Vec<(Value, Value)>> = match &*self.get(d)? {
                Obj::Dict(d) => Some(d.iter().collect()),
                _ => None,
            };
            // (the guard is gone before `kwargs`, maybe its last reference,
            // is released)
            let Some(pairs) = pairs else {
                self.decref(kwargs);
                self.truncate_stack(callee_idx);
                return Err(PyErr::type_error("argument after ** must be a mapping"));
            };
            for (k, v) in pairs {
                self.incref(k);
                self.incref(v);
                names.push(k);
                self.stack.push(v);
            }
        }
        self.decref(kwargs);
        if names.is_empty() {
            return self.call_setup(callee_idx, n, None);
        }
        let nk = names.len();
        let t = self.new_tuple(names)?;
        let r = self.call_setup(callee_idx, n + nk, Some(t));
        self.decref(t);
        r
    }

    /// MakeFunction: pops closure / kwdefaults / defaults as the code requires.
    pub fn make_function(&mut self, id: u32) -> PyResult<()> {
        let rt = self.rt;
        let code = &rt.program.codes[id as usize];
        let closure = if !code.freenames.is_empty() {
            let t = self.stack.pop().unwrap_or(Value::None);
            let items = self.tuple_items(t)?;
            for &i in &items {
                self.incref(i);
            }
            self.decref(t);
            items
        } else {
            vec![]
        };
        let kwdefaults = if code.has_kwdefaults {
            let d = self.stack.pop().unwrap_or(Value::None);
            let mut out = Vec::new();
            if let Value::Obj(r) = d {
                let pairs: Vec<(Value, Value)> = match &*self.get(r)? {
                    Obj::Dict(dd) => dd.iter().collect(),
                    _ => vec![],
                };
                for (k, v) in pairs {
                    let name = self.str_value(k).unwrap_or_default();
                    self.incref(v);
                    out.push((intern(&name), v));
                }
            }
            self.decref(d);
            out
        } else {
            vec![]
        };
        let defaults = if code.n_defaults > 0 {
            let t = self.stack.pop().unwrap_or(Value::None);
            let items = self.tuple_items(t)?;
            for &i in &items {
                self.incref(i);
            }
            self.decref(t);
            items
        } else {
            vec![]
        };
        let f = Function {
            code: id,
            name: code.name.clone(),
            qualname: code.qualname.clone(),
            defaults,
            kwdefaults,
            closure,
            attrs: vec![],
        };
        let v = self.alloc(Obj::Function(Box::new(f)))?;
        self.stack.push(v);
        Ok(())
    }

    /// MakeClass: run the class body in a fresh namespace, then build the class.
    pub fn make_class(&mut self, id: u32) -> PyResult<()> {
        let rt = self.rt;
        let code = &rt.program.codes[id as usize];
        let closure = if !code.freenames.is_empty() {
            let t = self.stack.pop().unwrap_or(Value::None);
            let items = self.tuple_items(t)?;
            for &i in &items {
                self.incref(i);
            }
            self.decref(t);
            items
        } else {
            vec![]
        };
        let bases = self.stack.pop().unwrap_or(Value::None);
        let base_items = self.tuple_items(bases)?;
        let base = match base_items.len() {
            0 => None,
            1 => match base_items[0] {
                Value::Obj(b) if matches!(&*self.get(b)?, Obj::Class(_)) => Some(b),
                other => {
                    self.decref(bases);
                    let tn = self.type_name(other);
                    return Err(PyErr::type_error(format!(
                        "bases must be types, not '{tn}'"
                    )));
                }
            },
            _ => {
                self.decref(bases);
                return Err(PyErr::type_error(
                    "multiple inheritance is not supported in Toy (use one base class)",
                ));
            }
        };
        // Err: a built-in type that cannot be subclassed, by name (`bases` is
        // released once the base's guard is gone).
        let tag = match base {
            Some(b) => match &*self.get(b)? {
                Obj::Class(c) => match c.tag {
                    Some(TypeTag::Exception) => Ok(Some(TypeTag::Exception)),
                    Some(TypeTag::Object) | None => Ok(None),
                    Some(_) => Err(c.name.clone()),
                },
                _ => Ok(None),
            },
            None => Ok(None),
        };
        let tag = match tag {
            Ok(tag) => tag,
            Err(name) => {
                self.decref(bases);
                return Err(PyErr::type_error(format!(
                    "subclassing the built-in type '{name}' is not supported in Toy"
                )));
            }
        };
        let base = base.or(Some(rt.builtins.object));
        if let Some(b) = base {
            self.incref(Value::Obj(b));
        }
        self.decref(bases);
        // namespace dict in slot 0, then cells, then frees
        let ns = self.alloc(Obj::Dict(crate::heap::Dict::new()))?;
        let callee_idx = self.stack.len();
        self.stack.push(Value::None);
        self.stack.push(ns);
        self.incref(ns);
        for _ in &code.cellnames {
            let c = self.alloc(Obj::Cell(Value::Unbound))?;
            self.stack.push(c);
        }
        self.stack.extend(closure);
        self.push_frame(id, callee_idx + 1)?;
        let depth = self.frames.len() - 1;
        self.frames[depth].is_entry = true;
        self.native_depth += 1;
        let r = self.run();
        self.native_depth -= 1;
        let class_cell = match r {
            Ok(v) => v,
            Err(e) => {
                self.decref(ns);
                if let Some(b) = base {
                    self.decref(Value::Obj(b));
                }
                return Err(e);
            }
        };
        let mut attrs = FxHashMap::default();
        if let Value::Obj(d) = ns {
            let pairs: Vec<(Value, Value)> = match &mut *self.get_mut(d)? {
                Obj::Dict(dd) => dd.take_all(),
                _ => vec![],
            };
            for (k, v) in pairs {
                let name = self.str_value(k).unwrap_or_default();
                self.decref(k);
                if let Some(old) = attrs.insert(intern(&name), v) {
                    self.decref(old);
                }
            }
        }
        self.decref(ns);
        let class = Class {
            name: code.name.clone(),
            qualname: code.qualname.clone(),
            base,
            attrs,
            tag,
            module: "__main__".into(),
        };
        let cv = self.alloc(Obj::Class(Box::new(class)))?;
        if let Value::Obj(_) = class_cell {
            self.incref(cv);
            self.cell_set(class_cell, cv)?;
            self.decref(class_cell);
        }
        self.stack.push(cv);
        Ok(())
    }

    /// Calling a class: built-in types construct; user classes make an instance and
    /// run `__init__`.
    pub fn instantiate(
        &mut self,
        class: ObjRef,
        tag: Option<TypeTag>,
        args: &[Value],
        kw: &[(Sym, Value)],
    ) -> PyResult<Value> {
        let is_exc = tag == Some(TypeTag::Exception);
        if let Some(t) = tag {
            if !is_exc {
                return super::builtins::construct(self, class, t, args, kw);
            }
        }
        let inst = if is_exc {
            for &a in args {
                self.incref(a);
            }
            self.incref(Value::Obj(class));
            self.alloc(Obj::Exception(Box::new(crate::heap::ExcObj {
                class,
                args: args.to_vec(),
                attrs: vec![],
                traceback: vec![],
                cause: Value::None,
                context: Value::None,
                suppress_context: false,
            })))?
        } else {
            self.incref(Value::Obj(class));
            self.alloc(Obj::Instance(Instance {
                class,
                attrs: Vec::new(),
            }))?
        };
        let init = self.class_lookup(class, sym::__init__)?;
        match init {
            Some(f) if !self.is_builtin_value(f) => {
                let mut full = Vec::with_capacity(args.len() + 1);
                full.push(inst);
                full.extend_from_slice(args);
                let r = self.call_value(f, &full, kw);
                match r {
                    Ok(v) => {
                        if !matches!(v, Value::None) {
                            self.decref(v);
                            self.decref(inst);
                            return Err(PyErr::type_error(
                                "__init__() should return None, not something else",
                            ));
                        }
                    }
                    Err(e) => {
                        self.decref(inst);
                        return Err(e);
                    }
                }
            }
            _ => {
                if !is_exc && (!args.is_empty() || !kw.is_empty()) {
                    self.decref(inst);
                    let name = self.class_name(class);
                    return Err(PyErr::type_error(format!("{name}() takes no arguments")));
                }
            }
        }
        Ok(inst)
    }

    pub fn is_builtin_value(&mut self, v: Value) -> bool {
        match v {
            Value::Obj(r) => matches!(self.rt.heap.get(r).as_deref(), Ok(Obj::Builtin(_))),
            _ => false,
        }
    }
}

fn name_list(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        2 => format!("{} and {}", q[0], q[1]),
        n => format!("{}, and {}", q[..n - 1].join(", "), q[n - 1]),
    }
}
