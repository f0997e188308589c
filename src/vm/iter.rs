//! Iteration and generators.
//!
//! A `for` loop keeps three stack slots of iteration state, so the common loops
//! need no iterator object at all:
//! - `Int(next) Int(stop) Int(step)`: a range, stepped in place;
//! - `seq Int(pos) Bool(true)`: a list or tuple walked by position (like CPython's
//!   list iterator, which also re-reads the length at each step);
//! - `iter None None`: any other iterator object, advanced by `iter_next`.
//!
//! Generators and coroutines are frames kept off the stack: resuming one copies its
//! saved slots onto the VM stack, runs it until it yields or returns, and copies
//! them back (CPython 3.11 does the same with its generator frames). No OS thread
//! and no Rust stack frame is kept per suspended generator.

use super::frames::Block;
use super::{ExcKind, PyErr, PyResult, Vm};
use crate::bytecode::{sym, Instr};
use crate::heap::{GenObj, GenState, IterState, Obj, ObjRef, Value, ViewKind};

/// What a resumed generator did.
pub enum GenResult {
    Yielded(Value),
    Returned(Value),
}

/// How a generator is resumed: with a value (borrowed) or an exception.
pub enum Resume {
    Send(Value),
    Throw(PyErr),
}

/// What the resumed frame does first.
enum Start {
    /// Push the (owned) value sent, the result of its `yield`.
    Push(Value),
    /// Just run (first start, or a delegation that finished).
    Run,
    /// Raise this exception at the suspension point.
    Raise(PyErr),
}

impl Vm {
    /// GetIter: consume `v`, push its three iteration slots.
    pub fn get_iter_slots(&mut self, v: Value) -> PyResult<()> {
        if let Value::Obj(r) = v {
            let g = self.get(r)?;
            match &*g {
                Obj::Range { start, stop, step } => {
                    let (a, b, c) = (*start, *stop, *step);
                    drop(g);
                    self.decref(v);
                    self.stack.push(Value::Int(a));
                    self.stack.push(Value::Int(b));
                    self.stack.push(Value::Int(c));
                    return Ok(());
                }
                Obj::List(_) | Obj::Tuple(_) => {
                    drop(g);
                    self.stack.push(v);
                    self.stack.push(Value::Int(0));
                    self.stack.push(Value::Bool(true));
                    return Ok(());
                }
                // An iterator that nobody else holds (a comprehension's `.0`,
                // made by `MakeIter` in the enclosing scope and moved out of
                // its slot) cannot be seen to advance: its state moves into
                // the slots and the object goes, so that a comprehension
                // steps its list or range as a `for` loop does.
                Obj::Iter(st) if self.rt.heap.refcount(r) == 1 => {
                    let slots = match *st {
                        IterState::Range { next, stop, step } => {
                            Some((Value::Int(next), Value::Int(stop), Value::Int(step)))
                        }
                        IterState::Seq {
                            seq: seq @ Value::Obj(s),
                            pos,
                        } if self.rt.heap.aux(s).is_some_and(|a| {
                            matches!(a & 0xff, crate::heap::AUX_LIST | crate::heap::AUX_TUPLE)
                        }) =>
                        {
                            Some((seq, Value::Int(pos as i64), Value::Bool(true)))
                        }
                        _ => None,
                    };
                    if let Some((a, b, c)) = slots {
                        drop(g);
                        self.incref(a);
                        self.decref(v);
                        self.stack.push(a);
                        self.stack.push(b);
                        self.stack.push(c);
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        let r = self.make_iter(v);
        self.decref(v);
        let it = r?;
        self.stack.push(it);
        self.stack.push(Value::None);
        self.stack.push(Value::None);
        Ok(())
    }

    /// `iter(v)`: a new reference to an iterator over borrowed `v`.
    pub fn make_iter(&mut self, v: Value) -> PyResult<Value> {
        let not_iterable = |vm: &mut Vm| {
            let t = vm.type_name(v);
            PyErr::type_error(format!("'{t}' object is not iterable"))
        };
        let Value::Obj(r) = v else {
            return Err(not_iterable(self));
        };
        let g = self.get(r)?;
        let st = match &*g {
            Obj::List(_) | Obj::Tuple(_) | Obj::Str(_) => IterState::Seq { seq: v, pos: 0 },
            Obj::Dict(d) | Obj::Set(d) => IterState::Dict {
                dict: v,
                pos: 0,
                what: 0,
                len: d.len(),
            },
            Obj::DictView { dict, kind } => IterState::Dict {
                dict: *dict,
                pos: 0,
                what: match kind {
                    ViewKind::Keys => 0,
                    ViewKind::Values => 1,
                    ViewKind::Items => 2,
                },
                len: match dict.as_obj().map(|d| self.rt.heap.get(d)) {
                    Some(Ok(dg)) => match &*dg {
                        Obj::Dict(d) | Obj::Set(d) => d.len(),
                        _ => 0,
                    },
                    _ => 0,
                },
            },
            Obj::Range { start, stop, step } => IterState::Range {
                next: *start,
                stop: *stop,
                step: *step,
            },
            Obj::Iter(_) | Obj::Generator(_) => {
                drop(g);
                self.incref(v);
                return Ok(v);
            }
            Obj::Instance(_) => {
                drop(g);
                return match self.call_dunder(v, sym::__iter__, &[])? {
                    Some(it) => Ok(it),
                    None => {
                        if self.lookup_type_attr(v, sym::__getitem__)?.is_some() {
                            let items = self.collect_by_getitem(v)?;
                            return self.alloc(Obj::Iter(IterState::Buffer { items, pos: 0 }));
                        }
                        Err(not_iterable(self))
                    }
                };
            }
            _ => {
                drop(g);
                return Err(not_iterable(self));
            }
        };
        drop(g);
        match &st {
            IterState::Seq { seq, .. } => self.incref(*seq),
            IterState::Dict { dict, .. } => self.incref(*dict),
            _ => {}
        }
        self.alloc(Obj::Iter(st))
    }

    /// Old-style iteration: `__getitem__(0)`, `(1)`, ... until IndexError.
    fn collect_by_getitem(&mut self, v: Value) -> PyResult<Vec<Value>> {
        let mut out = Vec::new();
        for i in 0.. {
            match self.call_dunder(v, sym::__getitem__, &[Value::Int(i)]) {
                Ok(Some(x)) => out.push(x),
                Ok(None) => break,
                Err(e) => {
                    let stop =
                        matches!(e.kind(), Some(ExcKind::IndexError | ExcKind::StopIteration))
                            || self.err_is(&e, ExcKind::IndexError);
                    let r = self.materialize(e);
                    if stop {
                        self.decref(Value::Obj(r));
                        break;
                    }
                    self.decref_all(out);
                    return Err(PyErr::from_obj(r));
                }
            }
        }
        Ok(out)
    }

    pub fn err_is(&mut self, e: &PyErr, kind: ExcKind) -> bool {
        match &*e.0 {
            super::exceptions::ErrRepr::New { kind: k, .. } => {
                let (c, target) = (
                    self.rt.builtins.exc_class(*k),
                    self.rt.builtins.exc_class(kind),
                );
                self.is_subclass(c, target)
            }
            super::exceptions::ErrRepr::Obj(r) => {
                let target = self.rt.builtins.exc_class(kind);
                self.exc_matches(Value::Obj(*r), target).unwrap_or(false)
            }
        }
    }

    /// Advance a borrowed iterator: Some(new reference) or None when exhausted.
    pub fn iter_next(&mut self, it: Value) -> PyResult<Option<Value>> {
        let Value::Obj(r) = it else {
            let t = self.type_name(it);
            return Err(PyErr::type_error(format!(
                "'{t}' object is not an iterator"
            )));
        };
        let rt = self.rt;
        let mut g = self.get_mut(r)?;
        match &mut *g {
            Obj::Iter(st) => match st {
                IterState::Range { next, stop, step } => {
                    let cur = *next;
                    if super::interp::range_has(cur, *stop, *step) {
                        *next = cur.saturating_add(*step);
                        Ok(Some(Value::Int(cur)))
                    } else {
                        Ok(None)
                    }
                }
                IterState::Seq { seq, pos } => {
                    let Value::Obj(sr) = *seq else {
                        return Ok(None);
                    };
                    let sg = match rt.heap.get(sr) {
                        Ok(sg) => sg,
                        Err(e) => {
                            drop(g);
                            return Err(self.heap_error(e));
                        }
                    };
                    match &*sg {
                        Obj::List(items) => {
                            let item = items.get(*pos).copied();
                            // Once past the end, always past it, as CPython's list
                            // iterator drops its list: items appended later are
                            // not seen.
                            *pos = if item.is_some() { *pos + 1 } else { usize::MAX };
                            drop(sg);
                            drop(g);
                            if let Some(v) = item {
                                self.incref(v);
                            }
                            Ok(item)
                        }
                        Obj::Tuple(items) => {
                            let item = items.get(*pos).copied();
                            *pos += 1;
                            drop(sg);
                            drop(g);
                            if let Some(v) = item {
                                self.incref(v);
                            }
                            Ok(item)
                        }
                        Obj::Str(s) => {
                            // pos is a byte offset into the string
                            let rest = s.s.get(*pos..).unwrap_or("");
                            match rest.chars().next() {
                                Some(c) => {
                                    *pos += c.len_utf8();
                                    drop(sg);
                                    drop(g);
                                    let mut buf = [0u8; 4];
                                    Ok(Some(self.new_str(c.encode_utf8(&mut buf))?))
                                }
                                None => Ok(None),
                            }
                        }
                        _ => Ok(None),
                    }
                }
                IterState::Dict {
                    dict,
                    pos,
                    what,
                    len,
                } => {
                    let Value::Obj(dr) = *dict else {
                        return Ok(None);
                    };
                    let what = *what;
                    let dg = match rt.heap.get(dr) {
                        Ok(dg) => dg,
                        Err(e) => {
                            drop(g);
                            return Err(self.heap_error(e));
                        }
                    };
                    let (Obj::Dict(d) | Obj::Set(d)) = &*dg else {
                        return Ok(None);
                    };
                    if d.len() != *len {
                        *len = usize::MAX;
                        let what = if matches!(&*dg, Obj::Set(_)) {
                            "Set"
                        } else {
                            "dictionary"
                        };
                        return Err(PyErr::new(
                            super::ExcKind::RuntimeError,
                            format!("{what} changed size during iteration"),
                        ));
                    }
                    let mut found = None;
                    while let Some(e) = d.entry_at(*pos) {
                        *pos += 1;
                        if let Some(kv) = e {
                            found = Some(kv);
                            break;
                        }
                    }
                    drop(dg);
                    drop(g);
                    match found {
                        None => Ok(None),
                        Some((k, v)) => match what {
                            0 => {
                                self.incref(k);
                                Ok(Some(k))
                            }
                            1 => {
                                self.incref(v);
                                Ok(Some(v))
                            }
                            _ => {
                                self.incref(k);
                                self.incref(v);
                                Ok(Some(self.new_tuple(vec![k, v])?))
                            }
                        },
                    }
                }
                IterState::Reversed { seq, pos } => {
                    if *pos == 0 {
                        return Ok(None);
                    }
                    *pos -= 1;
                    let (seq, p) = (*seq, *pos);
                    drop(g);
                    self.get_item(seq, Value::Int(p as i64)).map(Some)
                }
                IterState::Enumerate { inner, count } => {
                    let (inner, c) = (*inner, *count);
                    *count += 1;
                    drop(g);
                    match self.iter_next(inner)? {
                        Some(v) => Ok(Some(self.new_tuple(vec![Value::Int(c), v])?)),
                        None => Ok(None),
                    }
                }
                IterState::Zip { inners } => {
                    let inners = inners.clone();
                    drop(g);
                    let mut items = Vec::with_capacity(inners.len());
                    for i in inners {
                        match self.iter_next(i)? {
                            Some(v) => items.push(v),
                            None => {
                                self.decref_all(items);
                                return Ok(None);
                            }
                        }
                    }
                    if items.is_empty() {
                        return Ok(None);
                    }
                    Ok(Some(self.new_tuple(items)?))
                }
                IterState::Map { func, inners } => {
                    let (func, inners) = (*func, inners.clone());
                    drop(g);
                    let mut items = Vec::with_capacity(inners.len());
                    for i in inners {
                        match self.iter_next(i)? {
                            Some(v) => items.push(v),
                            None => {
                                self.decref_all(items);
                                return Ok(None);
                            }
                        }
                    }
                    let r = self.call_value(func, &items, &[]);
                    self.decref_all(items);
                    r.map(Some)
                }
                IterState::Filter { func, inner } => {
                    let (func, inner) = (*func, *inner);
                    drop(g);
                    loop {
                        let Some(v) = self.iter_next(inner)? else {
                            return Ok(None);
                        };
                        let keep = if matches!(func, Value::None) {
                            self.truthy(v)
                        } else {
                            match self.call_value(func, &[v], &[]) {
                                Ok(t) => {
                                    let b = self.truthy(t);
                                    self.decref(t);
                                    b
                                }
                                Err(e) => Err(e),
                            }
                        };
                        match keep {
                            Ok(true) => return Ok(Some(v)),
                            Ok(false) => self.decref(v),
                            Err(e) => {
                                self.decref(v);
                                return Err(e);
                            }
                        }
                    }
                }
                IterState::Buffer { items, pos } => {
                    let item = items.get(*pos).copied();
                    if item.is_some() {
                        // the buffer's reference moves to the caller
                        *pos += 1;
                    }
                    Ok(item)
                }
                IterState::Exhausted => Ok(None),
            },
            Obj::Generator(_) => {
                drop(g);
                match self.resume(r, Value::None)? {
                    GenResult::Yielded(v) => Ok(Some(v)),
                    GenResult::Returned(v) => {
                        self.decref(v);
                        Ok(None)
                    }
                }
            }
            Obj::Instance(_) => {
                drop(g);
                match self.call_dunder(it, sym::__next__, &[]) {
                    Ok(Some(v)) => Ok(Some(v)),
                    Ok(None) => {
                        let t = self.type_name(it);
                        Err(PyErr::type_error(format!(
                            "'{t}' object is not an iterator"
                        )))
                    }
                    Err(e) => {
                        if self.err_is(&e, ExcKind::StopIteration) {
                            let r = self.materialize(e);
                            self.decref(Value::Obj(r));
                            Ok(None)
                        } else {
                            Err(e)
                        }
                    }
                }
            }
            _ => {
                drop(g);
                let t = self.type_name(it);
                Err(PyErr::type_error(format!(
                    "'{t}' object is not an iterator"
                )))
            }
        }
    }

    /// Everything a borrowed iterable yields, as new references.
    pub fn collect_iterable(&mut self, v: Value) -> PyResult<Vec<Value>> {
        if let Value::Obj(r) = v {
            let g = self.get(r)?;
            let fast = match &*g {
                Obj::List(items) => Some(items.clone()),
                Obj::Tuple(items) => Some(items.to_vec()),
                _ => None,
            };
            drop(g);
            if let Some(items) = fast {
                for &i in &items {
                    self.incref(i);
                }
                return Ok(items);
            }
        }
        let it = self.make_iter(v)?;
        let mut out = Vec::new();
        loop {
            match self.iter_next(it) {
                Ok(Some(x)) => {
                    if out.len() == out.capacity() {
                        if let Err(e) = self.rt.heap.charge(out.len().max(4) * 16) {
                            self.decref(it);
                            self.decref_all(out);
                            return Err(self.heap_error(e));
                        }
                        self.rt.heap.uncharge(out.len().max(4) * 16);
                    }
                    out.push(x)
                }
                Ok(None) => break,
                Err(e) => {
                    self.decref(it);
                    self.decref_all(out);
                    return Err(e);
                }
            }
        }
        self.decref(it);
        Ok(out)
    }

    // ------------------------------------------------------------------ generators

    pub fn new_generator(&mut self, code: u32, slots: Vec<Value>) -> PyResult<Value> {
        let c = &self.rt.program.codes[code as usize];
        let g = GenObj {
            code,
            name: c.name.clone(),
            qualname: c.qualname.clone(),
            is_coroutine: c.flags.coroutine,
            state: GenState::Created,
            saved: slots,
            blocks: vec![],
            ip: 0,
        };
        self.alloc(Obj::Generator(Box::new(g)))
    }

    /// Run generator `gen` until it yields or returns, sending borrowed `sent`.
    pub fn resume(&mut self, gen: ObjRef, sent: Value) -> PyResult<GenResult> {
        self.resume_with(gen, Resume::Send(sent))
    }

    /// Resume generator `gen` with a value sent in, or with an exception raised at
    /// the point where it is suspended (`gen.throw`, task cancellation). A generator
    /// suspended in `yield from` / `await` passes the exception down to the object
    /// it is delegating to first, as CPython does.
    pub fn resume_with(&mut self, gen: ObjRef, how: Resume) -> PyResult<GenResult> {
        if self.native_depth >= super::call::MAX_NATIVE_DEPTH {
            return Err(PyErr::new(
                ExcKind::RecursionError,
                "maximum recursion depth exceeded",
            ));
        }
        let (code, mut saved, blocks, mut ip, state, is_coro) = {
            let mut g = self.get_mut(gen)?;
            let Obj::Generator(st) = &mut *g else {
                return Err(PyErr::type_error("not a generator"));
            };
            match st.state {
                GenState::Running => {
                    let what = if st.is_coroutine {
                        "coroutine"
                    } else {
                        "generator"
                    };
                    return Err(PyErr::value_error(format!("{what} already executing")));
                }
                GenState::Done => {
                    if let Resume::Throw(e) = how {
                        return Err(e);
                    }
                    if st.is_coroutine {
                        return Err(PyErr::new(
                            ExcKind::RuntimeError,
                            "cannot reuse already awaited coroutine",
                        ));
                    }
                    return Ok(GenResult::Returned(Value::None));
                }
                _ => {}
            }
            let prev = st.state;
            st.state = GenState::Running;
            (
                st.code,
                std::mem::take(&mut st.saved),
                std::mem::take(&mut st.blocks),
                st.ip,
                prev,
                st.is_coroutine,
            )
        };
        let what = if is_coro { "coroutine" } else { "generator" };
        // What to do once the frame is back on the stack.
        let start = match how {
            Resume::Send(sent) if state == GenState::Created => {
                if !matches!(sent, Value::None) {
                    self.park_generator(gen, saved, blocks, ip, GenState::Created);
                    return Err(PyErr::type_error(format!(
                        "can't send non-None value to a just-started {what}"
                    )));
                }
                Start::Run
            }
            Resume::Send(sent) => {
                self.incref(sent);
                Start::Push(sent)
            }
            Resume::Throw(e) if state == GenState::Created => {
                // Never started: nothing in it can catch the exception.
                self.park_generator(gen, saved, blocks, ip, GenState::Done);
                self.finish_generator(gen);
                return Err(e);
            }
            Resume::Throw(e) => {
                let delegating = matches!(
                    self.rt.program.codes[code as usize].instrs.get(ip as usize),
                    Some(Instr::YieldFrom)
                );
                match saved.last().copied() {
                    Some(sub) if delegating => match self.throw_to(sub, e) {
                        Ok(GenResult::Yielded(v)) => {
                            self.park_generator(gen, saved, blocks, ip, GenState::Suspended);
                            return Ok(GenResult::Yielded(v));
                        }
                        Ok(GenResult::Returned(v)) => {
                            saved.pop();
                            self.decref(sub);
                            saved.push(v);
                            ip += 1;
                            Start::Run
                        }
                        Err(e) => {
                            saved.pop();
                            self.decref(sub);
                            ip += 1;
                            Start::Raise(e)
                        }
                    },
                    _ => Start::Raise(e),
                }
            }
        };
        let callee_idx = self.stack.len();
        self.incref(Value::Obj(gen));
        self.stack.push(Value::Obj(gen));
        let base = callee_idx + 1;
        self.stack.extend(saved);
        if let Err(e) = self.push_frame(code, base) {
            if let Start::Push(v) = start {
                self.decref(v);
            }
            self.finish_generator(gen);
            return Err(e);
        }
        let fi = self.frames.len() - 1;
        self.frames[fi].ip = ip;
        self.frames[fi].is_entry = true;
        for (h, d) in blocks {
            self.blocks.push(Block {
                handler: h,
                stack_depth: base as u32 + d,
                handling_depth: self.handling.len() as u32,
            });
        }
        self.gen_yielded = false;
        let r = match start {
            Start::Push(v) => {
                self.stack.push(v);
                self.run_nested()
            }
            Start::Run => self.run_nested(),
            Start::Raise(e) => match self.unwind(e) {
                Ok(()) => self.run_nested(),
                Err(e) => Err(e),
            },
        };
        let yielded = std::mem::replace(&mut self.gen_yielded, false);
        if is_coro {
            self.counters.coroutine_steps += 1;
        }
        match r {
            Ok(v) if yielded => Ok(GenResult::Yielded(v)),
            Ok(v) => {
                self.finish_generator(gen);
                Ok(GenResult::Returned(v))
            }
            Err(e) => {
                self.finish_generator(gen);
                if self.err_is(&e, ExcKind::StopIteration) {
                    let r = self.materialize(e);
                    self.decref(Value::Obj(r));
                    return Err(PyErr::new(
                        ExcKind::RuntimeError,
                        format!("{what} raised StopIteration"),
                    ));
                }
                Err(e)
            }
        }
    }

    fn run_nested(&mut self) -> PyResult<Value> {
        self.native_depth += 1;
        let r = self.run();
        self.native_depth -= 1;
        r
    }

    /// Raise `e` inside `sub`, the object a `yield from` / `await` delegates to.
    fn throw_to(&mut self, sub: Value, e: PyErr) -> PyResult<GenResult> {
        if let Value::Obj(r) = sub {
            if matches!(self.rt.heap.get(r).as_deref(), Ok(Obj::Generator(_))) {
                return self.resume_with(r, Resume::Throw(e));
            }
            return crate::stdlib::throw_native(self, sub, e);
        }
        Err(e)
    }

    /// `gen.close()`: raise GeneratorExit where it is suspended, so its `finally`
    /// blocks run; it must not yield again.
    pub fn close_generator(&mut self, gen: ObjRef) -> PyResult<()> {
        let state = match &*self.get(gen)? {
            Obj::Generator(g) => g.state,
            _ => return Ok(()),
        };
        if state != GenState::Suspended {
            if state == GenState::Created {
                self.finish_generator(gen);
            }
            return Ok(());
        }
        let exit = PyErr::new(ExcKind::GeneratorExit, "");
        match self.resume_with(gen, Resume::Throw(exit)) {
            Ok(GenResult::Yielded(v)) => {
                self.decref(v);
                Err(PyErr::new(
                    ExcKind::RuntimeError,
                    "generator ignored GeneratorExit",
                ))
            }
            Ok(GenResult::Returned(v)) => {
                self.decref(v);
                Ok(())
            }
            Err(e) => {
                if self.err_is(&e, ExcKind::GeneratorExit)
                    || self.err_is(&e, ExcKind::StopIteration)
                {
                    let r = self.materialize(e);
                    self.decref(Value::Obj(r));
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    fn park_generator(
        &mut self,
        gen: ObjRef,
        saved: Vec<Value>,
        blocks: Vec<(u32, u32)>,
        ip: u32,
        state: GenState,
    ) {
        if let Ok(mut g) = self.rt.heap.get_mut(gen) {
            if let Obj::Generator(st) = &mut *g {
                st.saved = saved;
                st.blocks = blocks;
                st.ip = ip;
                st.state = state;
                return;
            }
        }
        self.decref_all(saved);
    }

    fn finish_generator(&mut self, gen: ObjRef) {
        let saved = match self.rt.heap.get_mut(gen) {
            Ok(mut g) => match &mut *g {
                Obj::Generator(st) => {
                    st.state = GenState::Done;
                    std::mem::take(&mut st.saved)
                }
                _ => vec![],
            },
            Err(_) => vec![],
        };
        self.decref_all(saved);
    }

    /// YieldValue / YieldFrom / GetAwaitable, called from the loop with the frame's
    /// ip saved. Ok(Some(v)): the frame suspended yielding v (leave `run` with it);
    /// Ok(None): carry on in the same frame.
    pub fn suspend_or_delegate(&mut self, ins: Instr) -> PyResult<Option<Value>> {
        match ins {
            Instr::YieldValue => {
                let v = self.stack.pop().unwrap_or(Value::None);
                self.suspend_top_frame();
                Ok(Some(v))
            }
            Instr::YieldFrom => {
                let sent = self.stack.pop().unwrap_or(Value::None);
                let sub = self.stack.last().copied().unwrap_or(Value::None);
                let r = self.delegate(sub, sent);
                self.decref(sent);
                match r? {
                    GenResult::Yielded(v) => {
                        // Resume at this same instruction: the value sent next time
                        // goes down to the sub-iterator.
                        if let Some(f) = self.frames.last_mut() {
                            f.ip -= 1;
                        }
                        self.suspend_top_frame();
                        Ok(Some(v))
                    }
                    GenResult::Returned(v) => {
                        let s = self.stack.pop().unwrap_or(Value::None);
                        self.decref(s);
                        self.stack.push(v);
                        Ok(None)
                    }
                }
            }
            _ => {
                // GetAwaitable
                let v = self.stack.last().copied().unwrap_or(Value::None);
                let ok = match v {
                    Value::Obj(r) => match &*self.get(r)? {
                        Obj::Generator(g) => g.is_coroutine,
                        _ => false,
                    },
                    _ => false,
                };
                if ok {
                    return Ok(None);
                }
                if let Some(it) = self.call_dunder(v, sym::__await__, &[])? {
                    let old = self.stack.pop().unwrap_or(Value::None);
                    self.decref(old);
                    self.stack.push(it);
                    return Ok(None);
                }
                if let Some(it) = crate::stdlib::awaitable_of(self, v)? {
                    let old = self.stack.pop().unwrap_or(Value::None);
                    self.decref(old);
                    self.stack.push(it);
                    return Ok(None);
                }
                let t = self.type_name(v);
                Err(PyErr::type_error(format!(
                    "object {t} can't be used in 'await' expression"
                )))
            }
        }
    }

    /// Send borrowed `sent` into a sub-iterator of `yield from` / `await`.
    fn delegate(&mut self, sub: Value, sent: Value) -> PyResult<GenResult> {
        if let Value::Obj(r) = sub {
            if matches!(&*self.get(r)?, Obj::Generator(_)) {
                return self.resume(r, sent);
            }
            if let Some(res) = crate::stdlib::delegate_native(self, sub, sent)? {
                return Ok(res);
            }
        }
        match self.iter_next(sub)? {
            Some(v) => Ok(GenResult::Yielded(v)),
            None => Ok(GenResult::Returned(Value::None)),
        }
    }

    /// Move the top frame (a generator's, entered by `resume`) back into its
    /// generator object.
    fn suspend_top_frame(&mut self) {
        let Some(f) = self.frames.pop() else { return };
        let base = f.base as usize;
        let blocks: Vec<(u32, u32)> = self
            .blocks
            .drain(f.block_base as usize..)
            .map(|b| (b.handler, b.stack_depth.saturating_sub(f.base)))
            .collect();
        while self.handling.len() > f.handling_base as usize {
            if let Some(h) = self.handling.pop() {
                self.decref(h);
            }
        }
        let saved: Vec<Value> = self.stack.drain(base.min(self.stack.len())..).collect();
        let gen = self.stack.pop().unwrap_or(Value::None);
        if let Value::Obj(g) = gen {
            self.park_generator(g, saved, blocks, f.ip, GenState::Suspended);
        } else {
            self.decref_all(saved);
        }
        self.decref(gen);
        self.gen_yielded = true;
    }
}
