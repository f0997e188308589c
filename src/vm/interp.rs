//! The dispatch loop: one function, one `match`, as in clox's `run()`.
//!
//! The current frame's code, constants and slot base are cached in locals; common
//! cases (small-int and float arithmetic, local loads and stores, jumps) take a few
//! lines, and everything else calls out of line (`ops`, `call`, `iter`).
//!
//! Reference counting follows CPython's bytecode discipline: pushing a copy of a
//! reference increments its count, popping one decrements it, and a store releases
//! the old value only *after* the new one is in place (see `StoreFast`), because a
//! release may free objects.
//!
//! The eval breaker is read at `JumpBackward` and at calls, exactly where CPython
//! reads it; nowhere else can a thread switch happen.

use super::frames::Block;
use super::{ExcKind, PyErr, PyResult, Vm};
use crate::bytecode::{BinOpKind, CmpKind, Instr};
use crate::heap::{Obj, TbEntry, Value};
use std::sync::atomic::Ordering::Relaxed;

impl Vm {
    /// Run from the top frame until the entry frame (the one marked `is_entry`)
    /// returns; its return value is the result.
    ///
    /// # Errors
    /// An exception that no handler in the entered frames catches.
    pub fn run(&mut self) -> PyResult<Value> {
        if self.rt.options.track_sites {
            self.run_loop::<true>()
        } else {
            self.run_loop::<false>()
        }
    }

    /// The loop itself, in two copies: with `TRACK`, each instruction records
    /// where the thread is (for the heap's allocation and free records) and is
    /// counted (for `--stats`); without it, neither, for runs that report
    /// neither (see `Options::track_sites`).
    fn run_loop<const TRACK: bool>(&mut self) -> PyResult<Value> {
        let rt = self.rt;
        let program = &*rt.program;
        'frame: loop {
            let fi = self.frames.len() - 1;
            let frame = self.frames[fi];
            let run = &rt.code_runs[frame.code as usize];
            let (instrs, consts) = (&run.instrs[..], &run.consts[..]);
            let base = frame.base as usize;
            let mut ip = frame.ip as usize;

            // Leave the instruction loop with an error: record where we were and
            // let `unwind` find a handler (then resume) or give up.
            macro_rules! throw {
                ($e:expr) => {{
                    let e = $e;
                    self.frames[fi].ip = ip as u32;
                    match self.unwind(e) {
                        Ok(()) => continue 'frame,
                        Err(e) => return Err(e),
                    }
                }};
            }
            macro_rules! tri {
                ($e:expr) => {
                    match $e {
                        Ok(v) => v,
                        Err(e) => throw!(e),
                    }
                };
            }
            macro_rules! pop {
                () => {
                    match self.stack.pop() {
                        Some(v) => v,
                        None => Value::None,
                    }
                };
            }
            macro_rules! top {
                () => {
                    match self.stack.last() {
                        Some(v) => *v,
                        None => Value::None,
                    }
                };
            }
            // Pop one operand, apply a slow-path method, release the operand,
            // push the result.
            macro_rules! unary {
                ($method:ident) => {{
                    let a = pop!();
                    let r = self.$method(a);
                    self.decref(a);
                    let v = tri!(r);
                    self.stack.push(v);
                }};
            }
            // The commonest call, inline: a function whose parameters are
            // exactly the positional arguments given (they are already its first
            // slots). Only a function with a closure takes its lock, to copy its
            // cells. Enters the callee's frame, or falls through.
            macro_rules! fast_call {
                ($callee_idx:expr, $argc:expr) => {
                    let callee_idx: usize = $callee_idx;
                    macro_rules! enter {
                        ($code_id:expr) => {
                            self.frames.push(super::frames::Frame {
                                code: $code_id,
                                ip: 0,
                                base: callee_idx as u32 + 1,
                                block_base: self.blocks.len() as u32,
                                handling_base: self.handling.len() as u32,
                                is_entry: false,
                            });
                            continue 'frame;
                        };
                    }
                    if let Some(&Value::Obj(r)) = self.stack.get(callee_idx) {
                        let depth_ok =
                            || self.frames.len() < rt.recursion_limit.load(Relaxed) as usize;
                        if let Some((code_id, closure)) = rt.heap.function_code(r) {
                            if let Some(fc) = rt.fast_calls.get(code_id as usize) {
                                if fc.argc == $argc && depth_ok() {
                                    if !closure {
                                        // (`resize` is a call even when it adds nothing.)
                                        if fc.extra != 0 {
                                            self.stack.extend(std::iter::repeat_n(
                                                Value::Unbound,
                                                fc.extra as usize,
                                            ));
                                        }
                                        enter!(code_id);
                                    } else if self.push_closure(r, fc) {
                                        enter!(code_id);
                                    }
                                }
                            }
                        }
                    }
                };
            }
            // The operands of a superinstruction that borrows them: a local (slot
            // `$a`) and either a second local (slot `$b`, when `$fast`) or
            // constant `$b`. An unbound local raises as `LoadFast` would.
            macro_rules! slot_and {
                ($a:expr, $b:expr, $fast:expr) => {{
                    let (a, b) = ($a as usize, $b as usize);
                    let l = self.stack[base + a];
                    let r = if $fast {
                        self.stack[base + b]
                    } else {
                        consts.get(b).copied().unwrap_or(Value::None)
                    };
                    if let Value::Unbound = l {
                        throw!(unbound_local(local_name(program, frame.code, a as u32)));
                    }
                    if let Value::Unbound = r {
                        throw!(unbound_local(local_name(program, frame.code, b as u32)));
                    }
                    (l, r)
                }};
            }
            // Pop the two operands of a binary instruction (the left one first),
            // whose references the handler now owns.
            macro_rules! pop2 {
                () => {{
                    let n = self.stack.len();
                    if n < 2 {
                        throw!(stack_underflow());
                    }
                    let ab = (self.stack[n - 2], self.stack[n - 1]);
                    self.stack.truncate(n - 2);
                    ab
                }};
            }
            // Return `$v` (a reference the caller owns) from this frame, whose
            // values on the stack end at `$end` (the result is above them when
            // it was pushed, or not on the stack at all).
            macro_rules! do_return {
                ($v:expr, $end:expr) => {{
                    let (v, end): (Value, usize) = ($v, $end);
                    let f = self.frames[fi];
                    if f.block_base as usize == self.blocks.len()
                        && f.handling_base as usize == self.handling.len()
                        && base >= 1
                        && base <= end
                        && !f.is_entry
                    {
                        // The common return: no handler blocks or handled
                        // exceptions to drop. Release the callee, the slots and
                        // any operands in place, then the result takes the
                        // callee's place: no pop and push.
                        self.frames.pop();
                        let from = base - 1;
                        for &x in &self.stack[from..end] {
                            if let Value::Obj(r) = x {
                                rt.heap.decref_obj(&mut self.local, r);
                            }
                        }
                        self.stack[from] = v;
                        self.stack.truncate(from + 1);
                        continue 'frame;
                    }
                    if end == self.stack.len() {
                        self.stack.push(v);
                    }
                    let v = pop!();
                    self.pop_frame(f);
                    if f.is_entry {
                        return Ok(v);
                    }
                    self.stack.push(v);
                    continue 'frame;
                }};
            }
            macro_rules! breaker_check {
                () => {
                    if rt.breaker.is_set() {
                        self.frames[fi].ip = ip as u32;
                        tri!(self.handle_pending());
                    }
                };
            }

            loop {
                let Some(&ins) = instrs.get(ip) else {
                    throw!(PyErr::new(
                        ExcKind::RuntimeError,
                        "instruction pointer out of range"
                    ))
                };
                // Where this thread is, for the heap's allocation and free records
                // (one store; the crash report turns it into file:line).
                if TRACK {
                    self.local.site = ((frame.code as u64) << 32) | ip as u64;
                    self.instructions += 1;
                }
                ip += 1;
                match ins {
                    Instr::Nop => {}
                    Instr::PopTop => {
                        let v = pop!();
                        self.decref(v);
                    }
                    Instr::DupTop => {
                        let v = top!();
                        self.incref(v);
                        self.stack.push(v);
                    }
                    Instr::DupTop2 => {
                        let n = self.stack.len();
                        if n < 2 {
                            throw!(stack_underflow());
                        }
                        let (a, b) = (self.stack[n - 2], self.stack[n - 1]);
                        self.incref(a);
                        self.incref(b);
                        self.stack.push(a);
                        self.stack.push(b);
                    }
                    Instr::RotTwo => {
                        let n = self.stack.len();
                        if n >= 2 {
                            self.stack.swap(n - 1, n - 2);
                        }
                    }
                    Instr::RotThree => {
                        // a b c -> c a b
                        let n = self.stack.len();
                        if n >= 3 {
                            self.stack[n - 3..].rotate_right(1);
                        }
                    }
                    Instr::RotFour => {
                        let n = self.stack.len();
                        if n >= 4 {
                            self.stack[n - 4..].rotate_right(1);
                        }
                    }
                    Instr::LoadConst(i) => {
                        let v = consts.get(i as usize).copied().unwrap_or(Value::None);
                        self.incref(v);
                        self.stack.push(v);
                    }
                    Instr::LoadFast(n) => {
                        let v = self.stack[base + n as usize];
                        if let Value::Unbound = v {
                            throw!(unbound_local(local_name(program, frame.code, n)));
                        }
                        self.incref(v);
                        self.stack.push(v);
                    }
                    Instr::LoadFast2(n) => {
                        let (a, b) = ((n >> 16) as usize, (n & 0xffff) as usize);
                        let va = self.stack[base + a];
                        let vb = self.stack[base + b];
                        if let Value::Unbound = va {
                            throw!(unbound_local(local_name(program, frame.code, a as u32)));
                        }
                        if let Value::Unbound = vb {
                            throw!(unbound_local(local_name(program, frame.code, b as u32)));
                        }
                        self.incref(va);
                        self.incref(vb);
                        self.stack.push(va);
                        self.stack.push(vb);
                    }
                    Instr::BinaryFastConst(op, s, c) => {
                        let a = self.stack[base + s as usize];
                        let b = consts.get(c as usize).copied().unwrap_or(Value::None);
                        if let Value::Unbound = a {
                            throw!(unbound_local(local_name(program, frame.code, s as u32)));
                        }
                        let fast = num_fast(op, a, b);
                        let v = match fast {
                            Some(v) => v,
                            None => tri!(self.binary_op(op, a, b)),
                        };
                        self.stack.push(v);
                    }
                    Instr::AugFastConst(op, s, c) => {
                        let slot = base + s as usize;
                        let a = self.stack[slot];
                        let b = consts.get(c as usize).copied().unwrap_or(Value::None);
                        if let Value::Unbound = a {
                            throw!(unbound_local(local_name(program, frame.code, s as u32)));
                        }
                        let fast = num_fast(op, a, b);
                        let v = match fast {
                            Some(v) => v,
                            None => tri!(self.inplace_op(op, a, b)),
                        };
                        // new value in first, then release the old (see StoreFast)
                        let old = std::mem::replace(&mut self.stack[slot], v);
                        self.decref(old);
                    }
                    Instr::StoreFast(n) => {
                        let v = pop!();
                        // New value in first, old one released after: releasing can
                        // free objects, and nothing may see the slot half-updated.
                        let old = std::mem::replace(&mut self.stack[base + n as usize], v);
                        self.decref(old);
                    }
                    Instr::DeleteFast(n) => {
                        let old =
                            std::mem::replace(&mut self.stack[base + n as usize], Value::Unbound);
                        if let Value::Unbound = old {
                            throw!(unbound_local(local_name(program, frame.code, n)));
                        }
                        self.decref(old);
                    }
                    Instr::LoadDeref(n) => {
                        let cell = self.stack[base + n as usize];
                        let v = tri!(self.cell_get(cell));
                        if let Value::Unbound = v {
                            throw!(PyErr::new(
                                ExcKind::NameError,
                                format!(
                                    "cannot access free variable '{}' where it is not associated with a value in enclosing scope",
                                    local_name(program, frame.code, n)
                                )
                            ));
                        }
                        self.stack.push(v);
                    }
                    Instr::StoreDeref(n) => {
                        let v = pop!();
                        let cell = self.stack[base + n as usize];
                        tri!(self.cell_set(cell, v));
                    }
                    Instr::LoadClosure(n) => {
                        let v = self.stack[base + n as usize];
                        self.incref(v);
                        self.stack.push(v);
                    }
                    Instr::LoadGlobal(n) => {
                        let cell = rt.globals.get(n as usize);
                        if let Some(r) = cell.and_then(|c| c.load_obj()) {
                            rt.heap.incref_obj(&mut self.local, r);
                            self.stack.push(Value::Obj(r));
                            continue;
                        }
                        let v = match cell {
                            Some(c) => c.load(),
                            None => Value::Unbound,
                        };
                        if let Value::Unbound = v {
                            throw!(name_error(&program.global_names[n as usize]));
                        }
                        self.incref(v);
                        self.stack.push(v);
                    }
                    Instr::StoreGlobal(n) => {
                        let v = pop!();
                        if let Some(c) = rt.globals.get(n as usize) {
                            let old = c.replace(v);
                            self.decref(old);
                        }
                    }
                    Instr::DeleteGlobal(n) => tri!(self.delete_global(n)),
                    Instr::LoadName(s) => {
                        let ns = self.stack[base];
                        let v = tri!(self.load_name(ns, s));
                        self.stack.push(v);
                    }
                    Instr::StoreName(s) => {
                        let v = pop!();
                        let ns = self.stack[base];
                        tri!(self.ns_store(ns, s, v));
                    }
                    Instr::LoadAttr(s) => {
                        let obj = pop!();
                        let r = self.get_attr(obj, s);
                        self.decref(obj);
                        let v = tri!(r);
                        self.stack.push(v);
                    }
                    Instr::StoreAttr(s) => {
                        let obj = pop!();
                        let v = pop!();
                        let r = self.set_attr(obj, s, v);
                        self.decref(obj);
                        tri!(r);
                    }
                    Instr::DeleteAttr(s) => {
                        let obj = pop!();
                        let r = self.del_attr(obj, s);
                        self.decref(obj);
                        tri!(r);
                    }
                    Instr::LoadFastMethod(a, s) => {
                        let obj = self.stack[base + a as usize];
                        let r = match obj {
                            Value::Obj(o) => {
                                rt.heap.incref_obj(&mut self.local, o);
                                self.load_method(o, s)
                            }
                            Value::Unbound => {
                                throw!(unbound_local(local_name(program, frame.code, a as u32)))
                            }
                            _ => self.load_method_slow(obj, s),
                        };
                        tri!(r);
                    }
                    Instr::LoadGlobalMethod(g, s) => {
                        let cell = rt.globals.get(g as usize);
                        let r = if let Some(o) = cell.and_then(|c| c.load_obj()) {
                            rt.heap.incref_obj(&mut self.local, o);
                            self.load_method(o, s)
                        } else {
                            let v = cell.map_or(Value::Unbound, |c| c.load());
                            if let Value::Unbound = v {
                                throw!(name_error(&program.global_names[g as usize]));
                            }
                            self.incref(v);
                            self.load_method_slow(v, s)
                        };
                        tri!(r);
                    }
                    Instr::LoadMethod(s) => {
                        // pushes (callable, self) or (callable, Unbound)
                        let r = match self.stack.last() {
                            // (Read in place, tag and handle apart: see `load_method`.)
                            Some(&Value::Obj(o)) => {
                                self.stack.truncate(self.stack.len() - 1);
                                self.load_method(o, s)
                            }
                            _ => {
                                let obj = pop!();
                                self.load_method_slow(obj, s)
                            }
                        };
                        tri!(r);
                    }
                    Instr::BinarySubscr => {
                        let idx = pop!();
                        let obj = pop!();
                        // Fast path: list[int]
                        if let (Value::Obj(r), Value::Int(i)) = (obj, idx) {
                            let fast = list_item(rt, r, i);
                            if let Some(v) = fast {
                                self.incref(v);
                                self.decref(obj);
                                self.stack.push(v);
                                continue;
                            }
                        }
                        let r = self.get_item(obj, idx);
                        self.decref(obj);
                        self.decref(idx);
                        let v = tri!(r);
                        self.stack.push(v);
                    }
                    Instr::LoadAttrFast(s, a) => {
                        // The object stays borrowed from its slot.
                        let obj = self.stack[base + s as usize];
                        if let Value::Unbound = obj {
                            throw!(unbound_local(local_name(program, frame.code, s as u32)));
                        }
                        let v = tri!(self.get_attr(obj, a));
                        self.stack.push(v);
                    }
                    Instr::SubscrFastConst(s, x) | Instr::SubscrFastFast(s, x) => {
                        // The container (and index) stay borrowed from the frame's
                        // slots: no reference is taken or dropped for them.
                        let (obj, idx) = slot_and!(s, x, matches!(ins, Instr::SubscrFastFast(..)));
                        if let (Value::Obj(r), Value::Int(i)) = (obj, idx) {
                            let fast = list_item(rt, r, i);
                            if let Some(v) = fast {
                                self.incref(v);
                                self.stack.push(v);
                                continue;
                            }
                        }
                        self.frames[fi].ip = ip as u32;
                        let v = tri!(self.get_item(obj, idx));
                        self.stack.push(v);
                    }
                    Instr::StoreSubscrFastFast(a, b) | Instr::StoreSubscrFastConst(a, b) => {
                        // Container (and index) borrowed from the frame's slots.
                        let (obj, idx) =
                            slot_and!(a, b, matches!(ins, Instr::StoreSubscrFastFast(..)));
                        let v = pop!();
                        if let (Value::Obj(r), Value::Int(i)) = (obj, idx) {
                            if let Some(old) = store_list_item(rt, r, i, v) {
                                self.decref(old);
                                continue;
                            }
                        }
                        self.frames[fi].ip = ip as u32;
                        tri!(self.set_item(obj, idx, v));
                    }
                    Instr::StoreConstSubscrFastFast(a, b, c) => {
                        // Container and index borrowed from the slots, the value a
                        // constant: nothing was pushed.
                        let (obj, idx) = slot_and!(a, b, true);
                        let v = consts.get(c as usize).copied().unwrap_or(Value::None);
                        self.incref(v);
                        if let (Value::Obj(r), Value::Int(i)) = (obj, idx) {
                            if let Some(old) = store_list_item(rt, r, i, v) {
                                self.decref(old);
                                continue;
                            }
                        }
                        self.frames[fi].ip = ip as u32;
                        tri!(self.set_item(obj, idx, v));
                    }
                    Instr::StoreSubscr => {
                        let idx = pop!();
                        let obj = pop!();
                        let v = pop!();
                        if let (Value::Obj(r), Value::Int(i)) = (obj, idx) {
                            if let Some(old) = store_list_item(rt, r, i, v) {
                                self.decref(old);
                                self.decref(obj);
                                continue;
                            }
                        }
                        let r = self.set_item(obj, idx, v);
                        self.decref(obj);
                        self.decref(idx);
                        tri!(r);
                    }
                    Instr::DeleteSubscr => {
                        let idx = pop!();
                        let obj = pop!();
                        let r = self.del_item(obj, idx);
                        self.decref(obj);
                        self.decref(idx);
                        tri!(r);
                    }
                    Instr::SubscrSlice(n) | Instr::StoreSlice(n) => {
                        self.frames[fi].ip = ip as u32;
                        tri!(self.slice_op(matches!(ins, Instr::StoreSlice(_)), n));
                    }
                    Instr::BuildSlice(n) => {
                        let step = if n == 3 { pop!() } else { Value::None };
                        let stop = pop!();
                        let start = pop!();
                        let v = tri!(self.alloc(Obj::Slice { start, stop, step }));
                        self.stack.push(v);
                    }
                    Instr::BinaryFastFast(op, a, b) => {
                        // Both operands borrowed from their slots.
                        let x = self.stack[base + a as usize];
                        let y = self.stack[base + b as usize];
                        if let Value::Unbound = x {
                            throw!(unbound_local(local_name(program, frame.code, a as u32)));
                        }
                        if let Value::Unbound = y {
                            throw!(unbound_local(local_name(program, frame.code, b as u32)));
                        }
                        let v = match num_fast(op, x, y) {
                            Some(v) => v,
                            None => tri!(self.binary_op(op, x, y)),
                        };
                        self.stack.push(v);
                    }
                    Instr::BinaryConst(op, _) | Instr::BinaryTosFast(op, _) => {
                        // TOS op (a constant, or a local borrowed from its slot).
                        let b = match ins {
                            Instr::BinaryTosFast(_, s) => {
                                let b = self.stack[base + s as usize];
                                if let Value::Unbound = b {
                                    throw!(unbound_local(local_name(program, frame.code, s)));
                                }
                                b
                            }
                            Instr::BinaryConst(_, c) => {
                                consts.get(c as usize).copied().unwrap_or(Value::None)
                            }
                            _ => Value::None,
                        };
                        let Some(&a) = self.stack.last() else {
                            throw!(stack_underflow())
                        };
                        if let Some(v) = num_fast(op, a, b) {
                            if let Some(top) = self.stack.last_mut() {
                                *top = v;
                            }
                            continue;
                        }
                        self.stack.pop();
                        let r = self.binary_op(op, a, b);
                        self.decref(a);
                        let v = tri!(r);
                        self.stack.push(v);
                    }
                    Instr::BinaryStoreFast(op, s) => {
                        let (a, b) = pop2!();
                        let v = match num_fast(op, a, b) {
                            Some(v) => v,
                            None => {
                                let r = self.binary_op(op, a, b);
                                self.decref(a);
                                self.decref(b);
                                tri!(r)
                            }
                        };
                        // New value in first, old one released after (see StoreFast).
                        let old = std::mem::replace(&mut self.stack[base + s as usize], v);
                        self.decref(old);
                    }
                    Instr::AugStoreAttrFast(op, s, a) => {
                        let v = tri!(self.aug_value(op));
                        let obj = self.stack[base + s as usize];
                        if let Value::Unbound = obj {
                            self.decref(v);
                            throw!(unbound_local(local_name(program, frame.code, s as u32)));
                        }
                        tri!(self.set_attr(obj, a, v));
                    }
                    Instr::AugStoreSubscrFastConst(op, s, x)
                    | Instr::AugStoreSubscrFastFast(op, s, x) => {
                        // Container (and index) borrowed from the frame's slots, as
                        // `SubscrFast*` read them.
                        let (obj, idx) =
                            slot_and!(s, x, matches!(ins, Instr::AugStoreSubscrFastFast(..)));
                        let v = tri!(self.aug_value(op));
                        if let (Value::Obj(r), Value::Int(i)) = (obj, idx) {
                            if let Some(old) = store_list_item(rt, r, i, v) {
                                self.decref(old);
                                continue;
                            }
                        }
                        self.frames[fi].ip = ip as u32;
                        tri!(self.set_item(obj, idx, v));
                    }
                    Instr::BinaryInplace(op) => {
                        let b = pop!();
                        let a = pop!();
                        if let Some(v) = num_fast(op, a, b) {
                            self.stack.push(v);
                            continue;
                        }
                        let r = self.inplace_op(op, a, b);
                        self.decref(a);
                        self.decref(b);
                        let v = tri!(r);
                        self.stack.push(v);
                    }
                    Instr::Binary(op) => {
                        let n = self.stack.len();
                        if n < 2 {
                            throw!(stack_underflow());
                        }
                        let (a, b) = (self.stack[n - 2], self.stack[n - 1]);
                        if let Some(v) = num_fast(op, a, b) {
                            self.stack[n - 2] = v;
                            self.stack.truncate(n - 1);
                            continue;
                        }
                        self.stack.truncate(n - 2);
                        let r = self.binary_op(op, a, b);
                        self.decref(a);
                        self.decref(b);
                        let v = tri!(r);
                        self.stack.push(v);
                    }
                    Instr::Compare(op) => {
                        let (a, b) = pop2!();
                        let fast = match (a, b) {
                            (Value::Int(x), Value::Int(y)) => Some(cmp_fast(op, x, y)),
                            (Value::Float(x), Value::Float(y)) => Some(cmp_fast_f(op, x, y)),
                            _ => None,
                        };
                        if let Some(v) = fast {
                            self.stack.push(Value::Bool(v));
                            continue;
                        }
                        let r = self.compare_op(op, a, b);
                        self.decref(a);
                        self.decref(b);
                        let v = tri!(r);
                        self.stack.push(v);
                    }
                    Instr::CompareJump(op, t) => {
                        let (a, b) = pop2!();
                        let truth = match (a, b) {
                            (Value::Int(x), Value::Int(y)) => cmp_fast(op, x, y),
                            (Value::Float(x), Value::Float(y)) => cmp_fast_f(op, x, y),
                            _ => {
                                let r = self.compare_truth(op, a, b);
                                self.decref(a);
                                self.decref(b);
                                tri!(r)
                            }
                        };
                        if !truth {
                            ip = t as usize;
                        }
                    }
                    Instr::CompareFastConstJump(op, a, x, t)
                    | Instr::CompareFastFastJump(op, a, x, t) => {
                        // Operands borrowed from the slots (and constants).
                        let (l, r) = slot_and!(a, x, matches!(ins, Instr::CompareFastFastJump(..)));
                        let truth = match (l, r) {
                            (Value::Int(x), Value::Int(y)) => cmp_fast(op, x, y),
                            (Value::Float(x), Value::Float(y)) => cmp_fast_f(op, x, y),
                            _ => tri!(self.compare_truth(op, l, r)),
                        };
                        if !truth {
                            ip = t as usize;
                        }
                    }
                    Instr::CompareConstJump(op, c, t) => {
                        let Some(l) = self.stack.pop() else {
                            throw!(stack_underflow())
                        };
                        let r = consts.get(c as usize).copied().unwrap_or(Value::None);
                        let truth = match (l, r) {
                            (Value::Int(x), Value::Int(y)) => cmp_fast(op, x, y),
                            (Value::Float(x), Value::Float(y)) => cmp_fast_f(op, x, y),
                            _ => {
                                let res = self.compare_truth(op, l, r);
                                self.decref(l);
                                tri!(res)
                            }
                        };
                        if !truth {
                            ip = t as usize;
                        }
                    }
                    Instr::IsNoneFastJump(neg, s, t) => {
                        // The local is borrowed from its slot; `is` touches no count.
                        let v = self.stack[base + s as usize];
                        if let Value::Unbound = v {
                            throw!(unbound_local(local_name(program, frame.code, s as u32)));
                        }
                        // Jump when the test is false: `is None` on a value that is
                        // not None, or `is not None` on None.
                        if matches!(v, Value::None) == neg {
                            ip = t as usize;
                        }
                    }
                    Instr::IsOp(neg) => {
                        let b = pop!();
                        let a = pop!();
                        let same = a.is(b);
                        self.decref(a);
                        self.decref(b);
                        self.stack.push(Value::Bool(same != neg));
                    }
                    Instr::ContainsOp(neg) => {
                        let container = pop!();
                        let item = pop!();
                        let r = self.contains(container, item);
                        self.decref(container);
                        self.decref(item);
                        let found = tri!(r);
                        self.stack.push(Value::Bool(found != neg));
                    }
                    Instr::UnaryNeg => {
                        let a = pop!();
                        let r = match a {
                            Value::Int(x) if x != i64::MIN => Ok(Value::Int(-x)),
                            Value::Float(x) => Ok(Value::Float(-x)),
                            _ => self.unary_neg(a),
                        };
                        self.decref(a);
                        let v = tri!(r);
                        self.stack.push(v);
                    }
                    Instr::UnaryPos => unary!(unary_pos),
                    Instr::UnaryInvert => unary!(unary_invert),
                    Instr::UnaryNot => {
                        let a = pop!();
                        let r = self.truthy(a);
                        self.decref(a);
                        let t = tri!(r);
                        self.stack.push(Value::Bool(!t));
                    }
                    Instr::Jump(t) => ip = t as usize,
                    Instr::JumpBackward(t) => {
                        ip = t as usize;
                        breaker_check!();
                        // The back edge of `for x in range(...)`: take the next step
                        // here rather than dispatch again (the loop's head is
                        // still the instruction that owns it; see ForIterStore).
                        if let Some(&Instr::ForIterStore(exit, s)) = instrs.get(ip) {
                            let n = self.stack.len();
                            if let (
                                Some(&Value::Int(cur)),
                                Some(&Value::Int(stop)),
                                Some(&Value::Int(step)),
                            ) = (
                                self.stack.get(n.wrapping_sub(3)),
                                self.stack.get(n.wrapping_sub(2)),
                                self.stack.get(n.wrapping_sub(1)),
                            ) {
                                if TRACK {
                                    self.local.site = ((frame.code as u64) << 32) | ip as u64;
                                    self.instructions += 1;
                                }
                                let mut cur = cur;
                                // `for i in range(...): seq[i] = const`: a batch of
                                // steps under one lock (see `range_fill`).
                                if !TRACK {
                                    if let Some(Instr::StoreConstSubscrFastFast(..)) =
                                        instrs.get(ip + 1)
                                    {
                                        cur = self.range_fill(run, ip, base, cur, stop, step);
                                    }
                                }
                                if range_has(cur, stop, step) {
                                    self.stack[n - 3] = Value::Int(next_in_range(cur, step, stop));
                                    let old = std::mem::replace(
                                        &mut self.stack[base + s as usize],
                                        Value::Int(cur),
                                    );
                                    self.decref(old);
                                    ip += 1;
                                } else {
                                    self.stack.truncate(n - 3);
                                    ip = exit as usize;
                                }
                            }
                        }
                    }
                    Instr::FastJumpIfFalse(s, t) => {
                        let v = self.stack[base + s as usize];
                        let b = match v {
                            Value::Bool(b) => b,
                            Value::Int(i) => i != 0,
                            Value::None => false,
                            Value::Unbound => {
                                throw!(unbound_local(local_name(program, frame.code, s as u32)))
                            }
                            _ => {
                                // Held while its truth is asked (which may run
                                // `__bool__` or `__len__`), as LoadFast would.
                                self.incref(v);
                                let r = self.truthy(v);
                                self.decref(v);
                                tri!(r)
                            }
                        };
                        if !b {
                            ip = t as usize;
                        }
                    }
                    Instr::PopJumpIfFalse(t) => {
                        let v = pop!();
                        let b = match v {
                            Value::Bool(b) => b,
                            _ => {
                                let r = self.truthy(v);
                                self.decref(v);
                                tri!(r)
                            }
                        };
                        if !b {
                            ip = t as usize;
                        }
                    }
                    Instr::PopJumpIfTrue(t) => {
                        let v = pop!();
                        let b = match v {
                            Value::Bool(b) => b,
                            _ => {
                                let r = self.truthy(v);
                                self.decref(v);
                                tri!(r)
                            }
                        };
                        if b {
                            ip = t as usize;
                        }
                    }
                    Instr::JumpIfFalseOrPop(t) => {
                        let v = top!();
                        let b = tri!(self.truthy(v));
                        if !b {
                            ip = t as usize;
                        } else {
                            self.stack.pop();
                            self.decref(v);
                        }
                    }
                    Instr::JumpIfTrueOrPop(t) => {
                        let v = top!();
                        let b = tri!(self.truthy(v));
                        if b {
                            ip = t as usize;
                        } else {
                            self.stack.pop();
                            self.decref(v);
                        }
                    }
                    Instr::MakeIter => {
                        let v = pop!();
                        let r = self.make_iter(v);
                        self.decref(v);
                        let it = tri!(r);
                        self.stack.push(it);
                    }
                    Instr::GetIter => {
                        let v = pop!();
                        tri!(self.get_iter_slots(v));
                    }
                    Instr::ForIter(_) | Instr::ForIterStore(..) | Instr::ForIterStoreGlobal(..) => {
                        // Three iteration slots (see vm::iter). Ranges and lists are
                        // stepped here without touching an iterator object.
                        let (t, store) = match ins {
                            Instr::ForIterStore(t, s) => (t, Deliver::Local(s)),
                            Instr::ForIterStoreGlobal(t, g) => (t, Deliver::Global(g)),
                            Instr::ForIter(t) => (t, Deliver::Push),
                            _ => (0, Deliver::Push),
                        };
                        // The next item goes on the stack, or into a local or a global.
                        macro_rules! deliver {
                            ($v:expr) => {{
                                let v = $v;
                                match store {
                                    Deliver::Local(s) => {
                                        let old = std::mem::replace(
                                            &mut self.stack[base + s as usize],
                                            v,
                                        );
                                        self.decref(old);
                                    }
                                    Deliver::Global(g) => {
                                        if let Some(c) = rt.globals.get(g as usize) {
                                            let old = c.replace(v);
                                            self.decref(old);
                                        }
                                    }
                                    Deliver::Push => self.stack.push(v),
                                }
                            }};
                        }
                        let n = self.stack.len();
                        if n < 3 {
                            throw!(stack_underflow());
                        }
                        match (self.stack[n - 3], self.stack[n - 2], self.stack[n - 1]) {
                            (Value::Int(cur), Value::Int(stop), Value::Int(step)) => {
                                if range_has(cur, stop, step) {
                                    self.stack[n - 3] = Value::Int(next_in_range(cur, step, stop));
                                    deliver!(Value::Int(cur));
                                } else {
                                    self.stack.truncate(n - 3);
                                    ip = t as usize;
                                }
                            }
                            (seq @ Value::Obj(r), Value::Int(pos), Value::Bool(true)) => {
                                let item = match rt.heap.get(r) {
                                    Ok(g) => match &*g {
                                        Obj::List(items) => items.get(pos as usize).copied(),
                                        Obj::Tuple(items) => items.get(pos as usize).copied(),
                                        _ => None,
                                    },
                                    Err(e) => {
                                        let err = self.heap_error(e);
                                        throw!(err)
                                    }
                                };
                                match item {
                                    Some(v) => {
                                        self.incref(v);
                                        self.stack[n - 2] = Value::Int(pos + 1);
                                        deliver!(v);
                                    }
                                    None => {
                                        self.stack.truncate(n - 3);
                                        self.decref(seq);
                                        ip = t as usize;
                                    }
                                }
                            }
                            (it, _, _) => match tri!(self.iter_next(it)) {
                                Some(v) => deliver!(v),
                                None => {
                                    self.stack.truncate(n - 3);
                                    self.decref(it);
                                    ip = t as usize;
                                }
                            },
                        }
                    }
                    Instr::ReturnValue => match self.stack.last() {
                        Some(&v) => {
                            let end = self.stack.len() - 1;
                            do_return!(v, end);
                        }
                        None => throw!(stack_underflow()),
                    },
                    Instr::ReturnFast(s) => {
                        // Moved out of its slot: the slot's reference is the
                        // result's, and the release of the slots skips it.
                        let Some(x) = self.stack.get_mut(base + s as usize) else {
                            throw!(stack_underflow())
                        };
                        let v = std::mem::replace(x, Value::Unbound);
                        if let Value::Unbound = v {
                            throw!(unbound_local(local_name(program, frame.code, s)));
                        }
                        let end = self.stack.len();
                        do_return!(v, end);
                    }
                    Instr::ReturnConst(c) => {
                        let v = consts.get(c as usize).copied().unwrap_or(Value::None);
                        self.incref(v);
                        let end = self.stack.len();
                        do_return!(v, end);
                    }
                    Instr::BuildList(n) => {
                        let items = self.pop_n(n as usize);
                        let v = tri!(self.new_list(items));
                        self.stack.push(v);
                    }
                    Instr::BuildTuple(n) => {
                        let items = self.pop_n(n as usize);
                        let v = tri!(self.new_tuple(items));
                        self.stack.push(v);
                    }
                    Instr::BuildDict(n) => {
                        let items = self.pop_n(2 * n as usize);
                        let v = tri!(self.build_dict(items));
                        self.stack.push(v);
                    }
                    Instr::BuildSet(n) => {
                        let items = self.pop_n(n as usize);
                        let v = tri!(self.build_set(items));
                        self.stack.push(v);
                    }
                    Instr::ListAppend(depth) => {
                        let v = pop!();
                        let at = self.stack.len().wrapping_sub(1 + depth as usize);
                        let list = self.stack.get(at).copied().unwrap_or(Value::None);
                        tri!(self.list_append(list, v));
                    }
                    Instr::SetAdd(depth) => {
                        let v = pop!();
                        let at = self.stack.len().wrapping_sub(1 + depth as usize);
                        let set = self.stack.get(at).copied().unwrap_or(Value::None);
                        let r = self.set_add(set, v);
                        self.decref(v);
                        tri!(r);
                    }
                    Instr::DictSetItem(depth) => {
                        let v = pop!();
                        let k = pop!();
                        let at = self.stack.len().wrapping_sub(1 + depth as usize);
                        let d = self.stack.get(at).copied().unwrap_or(Value::None);
                        tri!(self.dict_set(d, k, v));
                    }
                    Instr::ListExtend(depth) => {
                        let it = pop!();
                        let at = self.stack.len().wrapping_sub(1 + depth as usize);
                        let list = self.stack.get(at).copied().unwrap_or(Value::None);
                        let r = self.list_extend(list, it);
                        self.decref(it);
                        tri!(r);
                    }
                    Instr::ListToTuple => {
                        let l = pop!();
                        let items = tri!(self.collect_iterable(l));
                        self.decref(l);
                        let v = tri!(self.new_tuple(items));
                        self.stack.push(v);
                    }
                    Instr::DictUpdate(depth) => {
                        let m = pop!();
                        let at = self.stack.len().wrapping_sub(1 + depth as usize);
                        let d = self.stack.get(at).copied().unwrap_or(Value::None);
                        let r = self.display_update(d, m);
                        self.decref(m);
                        tri!(r);
                    }
                    Instr::DictMerge => {
                        let m = pop!();
                        let n = self.stack.len();
                        let d = self
                            .stack
                            .get(n.wrapping_sub(1))
                            .copied()
                            .unwrap_or(Value::None);
                        let f = self
                            .stack
                            .get(n.wrapping_sub(3))
                            .copied()
                            .unwrap_or(Value::None);
                        let r = self.dict_merge(d, m, f);
                        self.decref(m);
                        tri!(r);
                    }
                    Instr::UnpackSequence(n) => {
                        let seq = pop!();
                        let r = self.unpack(seq, n as usize, None);
                        self.decref(seq);
                        tri!(r);
                    }
                    Instr::UnpackEx(n) => {
                        let seq = pop!();
                        let r = self.unpack(seq, (n >> 16) as usize, Some((n & 0xffff) as usize));
                        self.decref(seq);
                        tri!(r);
                    }
                    Instr::FormatValue(flags) => {
                        let spec = if flags & 4 != 0 { Some(pop!()) } else { None };
                        let v = pop!();
                        let r = self.format_value(v, flags & 3, spec);
                        self.decref(v);
                        if let Some(s) = spec {
                            self.decref(s);
                        }
                        let s = tri!(r);
                        self.stack.push(s);
                    }
                    Instr::BuildString(n) => {
                        let parts = self.pop_n(n as usize);
                        let r = self.concat_strings(&parts);
                        for p in parts {
                            self.decref(p);
                        }
                        let v = tri!(r);
                        self.stack.push(v);
                    }
                    Instr::Call(argc) => {
                        breaker_check!();
                        self.frames[fi].ip = ip as u32;
                        let callee_idx = self.stack.len().wrapping_sub(argc as usize + 1);
                        fast_call!(callee_idx, argc);
                        if tri!(self.call_setup(callee_idx, argc as usize, None)) {
                            continue 'frame;
                        }
                    }
                    Instr::CallKw(argc) => {
                        breaker_check!();
                        self.frames[fi].ip = ip as u32;
                        let names = pop!();
                        let callee_idx = self.stack.len().wrapping_sub(argc as usize + 1);
                        let r = self.call_setup(callee_idx, argc as usize, Some(names));
                        self.decref(names);
                        if tri!(r) {
                            continue 'frame;
                        }
                    }
                    Instr::CallEx => {
                        breaker_check!();
                        self.frames[fi].ip = ip as u32;
                        if tri!(self.call_ex()) {
                            continue 'frame;
                        }
                    }
                    Instr::CallMethod(argc) => {
                        breaker_check!();
                        self.frames[fi].ip = ip as u32;
                        let n = self.stack.len();
                        let self_idx = n.wrapping_sub(argc as usize + 1);
                        let pushed = if let Some(Value::Unbound) = self.stack.get(self_idx) {
                            self.stack.remove(self_idx);
                            tri!(self.call_setup(self_idx - 1, argc as usize, None))
                        } else {
                            fast_call!(self_idx.wrapping_sub(1), argc + 1);
                            tri!(self.call_method(self_idx.wrapping_sub(1), argc as usize + 1))
                        };
                        if pushed {
                            continue 'frame;
                        }
                    }
                    Instr::MakeFunction(id) => {
                        self.frames[fi].ip = ip as u32;
                        tri!(self.make_function(id));
                    }
                    Instr::MakeClass(id) => {
                        self.frames[fi].ip = ip as u32;
                        tri!(self.make_class(id));
                    }
                    Instr::ImportName(s) => {
                        let m = tri!(self.import(s));
                        self.stack.push(m);
                    }
                    Instr::ImportFrom(s) => {
                        let m = top!();
                        let r = self.get_attr(m, s);
                        let v = match r {
                            Ok(v) => v,
                            Err(_) => {
                                let mname = self.module_name(m);
                                throw!(PyErr::new(
                                    ExcKind::ImportError,
                                    format!(
                                        "cannot import name '{}' from '{}'",
                                        crate::bytecode::sym_name(s),
                                        mname
                                    )
                                ))
                            }
                        };
                        self.stack.push(v);
                    }
                    Instr::SetupExcept(t) => {
                        self.blocks.push(Block {
                            handler: t,
                            stack_depth: self.stack.len() as u32,
                            handling_depth: self.handling.len() as u32,
                        });
                    }
                    Instr::PopBlock => {
                        self.blocks.pop();
                    }
                    Instr::PopExcept => {
                        if let Some(e) = self.handling.pop() {
                            self.decref(e);
                        }
                    }
                    Instr::JumpIfNotExcMatch(t) => {
                        // exc ty -> (nothing): the clause's copy of the exception and
                        // the type it is tested against are both consumed.
                        let ty = pop!();
                        let exc = pop!();
                        let r = self.exc_match_value(exc, ty);
                        self.decref(ty);
                        self.decref(exc);
                        if !tri!(r) {
                            ip = t as usize;
                        }
                    }
                    Instr::Raise(kind) => {
                        self.frames[fi].ip = ip as u32;
                        let e = self.do_raise(kind);
                        throw!(e);
                    }
                    Instr::Reraise => {
                        let exc = pop!();
                        self.frames[fi].ip = ip as u32;
                        match exc {
                            Value::Obj(r) => {
                                self.reraising = true;
                                throw!(PyErr::from_obj(r))
                            }
                            _ => throw!(PyErr::new(
                                ExcKind::RuntimeError,
                                "no exception to re-raise"
                            )),
                        }
                    }
                    Instr::LoadAssertionError => {
                        let c = rt.builtins.exc_class(ExcKind::AssertionError);
                        let v = Value::Obj(c);
                        self.incref(v);
                        self.stack.push(v);
                    }
                    Instr::BeforeWith | Instr::BeforeAsyncWith => {
                        self.frames[fi].ip = ip as u32;
                        let ctx = pop!();
                        let r = self.before_with(ctx, matches!(ins, Instr::BeforeAsyncWith));
                        self.decref(ctx);
                        tri!(r);
                    }
                    Instr::WithExitNormal | Instr::AsyncWithExitNormal => {
                        self.frames[fi].ip = ip as u32;
                        let exit = pop!();
                        let r =
                            self.call_value(exit, &[Value::None, Value::None, Value::None], &[]);
                        self.decref(exit);
                        let v = tri!(r);
                        if matches!(ins, Instr::AsyncWithExitNormal) {
                            self.stack.push(v);
                        } else {
                            self.decref(v);
                        }
                    }
                    Instr::WithExitExc => {
                        self.frames[fi].ip = ip as u32;
                        let exc = pop!();
                        let exit = pop!();
                        let ty = tri!(self.type_of(exc));
                        let r = self.call_value(exit, &[Value::Obj(ty), exc, Value::None], &[]);
                        self.decref(exit);
                        let res = tri!(r);
                        let sup = self.truthy(res);
                        self.decref(res);
                        self.stack.push(exc);
                        let sup = tri!(sup);
                        self.stack.push(Value::Bool(sup));
                    }
                    Instr::GenStart => {}
                    Instr::YieldValue | Instr::YieldFrom | Instr::GetAwaitable => {
                        self.frames[fi].ip = ip as u32;
                        match self.suspend_or_delegate(ins) {
                            Ok(Some(v)) => return Ok(v),
                            Ok(None) => continue 'frame,
                            Err(e) => throw!(e),
                        }
                    }
                }
            }
        }
    }

    /// Find a handler for `err`, unwinding frames of this `run` as needed.
    /// Ok: a handler was found and the top frame's ip points at it.
    pub(super) fn unwind(&mut self, err: PyErr) -> Result<(), PyErr> {
        let exc = self.materialize(err);
        let mut add_tb = !std::mem::replace(&mut self.reraising, false);
        // Chain: an exception raised while another is being handled remembers it.
        if add_tb {
            if let Some(&Value::Obj(h)) = self.handling.last() {
                if h != exc {
                    self.set_context(exc, h);
                }
            }
        }
        loop {
            let Some(&f) = self.frames.last() else {
                return Err(PyErr::from_obj(exc));
            };
            if add_tb {
                let code = &self.rt.program.codes[f.code as usize];
                let line = code.line_at(f.ip.saturating_sub(1) as usize);
                self.add_traceback(exc, TbEntry { code: f.code, line });
            }
            add_tb = true;
            if self.blocks.len() > f.block_base as usize {
                let Some(b) = self.blocks.pop() else {
                    continue;
                };
                self.truncate_stack(b.stack_depth as usize);
                while self.handling.len() > b.handling_depth as usize {
                    if let Some(h) = self.handling.pop() {
                        self.decref(h);
                    }
                }
                self.stack.push(Value::Obj(exc));
                self.incref(Value::Obj(exc));
                self.handling.push(Value::Obj(exc));
                if let Some(top) = self.frames.last_mut() {
                    top.ip = b.handler;
                }
                return Ok(());
            }
            self.pop_frame(f);
            if f.is_entry {
                return Err(PyErr::from_obj(exc));
            }
        }
    }

    fn set_context(&mut self, exc: crate::heap::ObjRef, ctx: crate::heap::ObjRef) {
        let old = match self.rt.heap.get_mut(exc) {
            Ok(mut g) => match &mut *g {
                Obj::Exception(e) if matches!(e.context, Value::None) => {
                    Some(std::mem::replace(&mut e.context, Value::Obj(ctx)))
                }
                _ => None,
            },
            Err(_) => None,
        };
        if let Some(old) = old {
            self.incref(Value::Obj(ctx));
            self.decref(old);
        }
    }

    /// The top `n` operands, bottom first, popped (their references move to the
    /// caller). A copy and a cut: cheaper than draining for the few items of a
    /// `BuildList`.
    #[inline]
    fn pop_n(&mut self, n: usize) -> Vec<Value> {
        let at = self.stack.len().saturating_sub(n);
        let items = self.stack[at..].to_vec();
        self.stack.truncate(at);
        items
    }

    pub fn truncate_stack(&mut self, depth: usize) {
        // Releasing frees objects only on the heap, never touches the stack, so
        // release in place and cut the stack once.
        let rt = self.rt;
        if let Some(tail) = self.stack.get(depth..) {
            for &v in tail {
                if let Value::Obj(r) = v {
                    rt.heap.decref_obj(&mut self.local, r);
                }
            }
        }
        self.stack.truncate(depth);
    }

    /// Remove frame `f` (the top one): its blocks, its handled exceptions, its slots
    /// and operands, and the callee below them.
    pub fn pop_frame(&mut self, f: super::frames::Frame) {
        self.frames.pop();
        self.blocks.truncate(f.block_base as usize);
        while self.handling.len() > f.handling_base as usize {
            if let Some(h) = self.handling.pop() {
                self.decref(h);
            }
        }
        self.truncate_stack((f.base as usize).saturating_sub(1));
    }

    fn handle_pending(&mut self) -> PyResult<()> {
        let hooks = &self.rt.hooks;
        hooks.handle_pending(self)
    }

    fn do_raise(&mut self, kind: u32) -> PyErr {
        match kind {
            0 => match self.handling.last().copied() {
                Some(Value::Obj(r)) => {
                    self.incref(Value::Obj(r));
                    self.reraising = true;
                    PyErr::from_obj(r)
                }
                _ => PyErr::new(ExcKind::RuntimeError, "No active exception to reraise"),
            },
            1 => {
                let v = self.stack.pop().unwrap_or(Value::None);
                self.make_exception(v)
            }
            _ => {
                let cause = self.stack.pop().unwrap_or(Value::None);
                let v = self.stack.pop().unwrap_or(Value::None);
                let e = self.make_exception(v);
                let r = self.materialize(e);
                let cause_exc = match cause {
                    Value::None => Value::None,
                    c => {
                        let e = self.make_exception(c);
                        Value::Obj(self.materialize(e))
                    }
                };
                let old = match self.rt.heap.get_mut(r) {
                    Ok(mut g) => match &mut *g {
                        Obj::Exception(e) => {
                            e.suppress_context = true;
                            Some(std::mem::replace(&mut e.cause, cause_exc))
                        }
                        _ => None,
                    },
                    Err(_) => None,
                };
                match old {
                    Some(o) => self.decref(o),
                    None => self.decref(cause_exc),
                }
                PyErr::from_obj(r)
            }
        }
    }
}

/// `list[i]` for an in-range int index, borrowed; None for anything else.
#[inline(always)]
fn list_item(rt: &super::Runtime, r: crate::heap::ObjRef, i: i64) -> Option<Value> {
    match &*rt.heap.get(r).ok()? {
        Obj::List(items) => {
            let n = items.len() as i64;
            let j = if i < 0 { i + n } else { i };
            if j >= 0 && j < n {
                Some(items[j as usize])
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Where `ForIter` and its fused forms put the next item.
#[derive(Clone, Copy)]
enum Deliver {
    Push,
    Local(u16),
    Global(u16),
}

/// Does a range at `cur`, ending at `stop`, have a next value?
#[inline(always)]
pub(super) fn range_has(cur: i64, stop: i64, step: i64) -> bool {
    (step > 0 && cur < stop) || (step < 0 && cur > stop)
}

/// The position after `cur` in a range ending at `stop`: past the end of i64
/// it is the end itself (the range is then done), never a wrapped-around
/// value, as the range iterator saturates.
#[inline(always)]
fn next_in_range(cur: i64, step: i64, stop: i64) -> i64 {
    cur.checked_add(step).unwrap_or(stop)
}

/// How many steps of a fill loop `range_fill` takes between two looks at the
/// eval breaker: a few hundred nanoseconds, far below any switch interval.
const FILL_BATCH: usize = 256;

impl Vm {
    /// Up to `FILL_BATCH` steps of `for i in range(...): seq[i] = v` (`v` a
    /// constant), from `cur`, with the list's lock taken once: a loop of this
    /// shape spends most of its time taking and releasing that lock, once for
    /// each store (the sieve of Eratosthenes is the classic case). Each step
    /// does what the two instructions would: the loop variable's final value
    /// and the range's position are returned for the caller to store. The
    /// batch stops before any step the instructions would do differently (an
    /// index out of range, an item that is an object and would be released
    /// here, the range's end), leaving it to them; it is used only under the
    /// GIL and when no instruction counts or sites are tracked, so that an
    /// instruction-level observer (`--stats`, races without the GIL) sees
    /// every step.
    ///
    /// Called at the back edge of a range loop whose head is at `head` and
    /// whose next instruction is a `StoreConstSubscrFastFast`; returns the
    /// range's position after the steps taken (`cur` if none), having stored
    /// it and the loop variable. Out of the loop: every line added to the
    /// loop's arms has cost unrelated programs time (see README, Speed).
    #[inline(never)]
    fn range_fill(
        &mut self,
        run: &super::CodeRun,
        head: usize,
        base: usize,
        cur: i64,
        stop: i64,
        step: i64,
    ) -> i64 {
        let (
            Some(&Instr::ForIterStore(_, s)),
            Some(&Instr::StoreConstSubscrFastFast(a, b, c)),
            Some(&Instr::JumpBackward(back)),
        ) = (
            run.instrs.get(head),
            run.instrs.get(head + 1),
            run.instrs.get(head + 2),
        )
        else {
            return cur;
        };
        if b != s || back as usize != head || self.rt.heap.serializes() {
            return cur;
        }
        let (Some(&seq), Some(&v)) = (
            self.stack.get(base + a as usize),
            run.consts.get(c as usize),
        ) else {
            return cur;
        };
        let Some((next, last)) = self.fill_steps(seq, v, cur, stop, step) else {
            return cur;
        };
        let n = self.stack.len();
        self.stack[n - 3] = Value::Int(next);
        let old = std::mem::replace(&mut self.stack[base + s as usize], Value::Int(last));
        self.decref(old);
        next
    }

    /// The steps themselves (see `range_fill`): the range's next position and
    /// the loop variable's last value, or None when no step was taken.
    fn fill_steps(
        &mut self,
        seq: Value,
        v: Value,
        cur: i64,
        stop: i64,
        step: i64,
    ) -> Option<(i64, i64)> {
        let Value::Obj(r) = seq else { return None };
        let rt = self.rt;
        let mut g = rt.heap.get_mut(r).ok()?;
        let Obj::List(items) = &mut *g else {
            return None;
        };
        let n = items.len() as i64;
        let (mut cur, mut last) = (cur, None);
        for _ in 0..FILL_BATCH {
            if !range_has(cur, stop, step) {
                break;
            }
            let j = if cur < 0 { cur + n } else { cur };
            let Some(item) = usize::try_from(j).ok().and_then(|j| items.get_mut(j)) else {
                break;
            };
            if let Value::Obj(_) = item {
                break;
            }
            *item = v;
            // (a count update takes no lock)
            rt.heap.incref(&mut self.local, v);
            last = Some(cur);
            cur = next_in_range(cur, step, stop);
        }
        drop(g);
        last.map(|k| (cur, k))
    }
}

/// `list[i] = v` for an in-range int index: the old item (to release), or None
/// (and `v` untouched) for anything else.
#[inline(always)]
fn store_list_item(rt: &super::Runtime, r: crate::heap::ObjRef, i: i64, v: Value) -> Option<Value> {
    match &mut *rt.heap.get_mut(r).ok()? {
        Obj::List(items) => {
            let n = items.len() as i64;
            let j = if i < 0 { i + n } else { i };
            if j >= 0 && j < n {
                Some(std::mem::replace(&mut items[j as usize], v))
            } else {
                None
            }
        }
        _ => None,
    }
}

impl Vm {
    /// Whether `l op r` holds, the slow way: the rich comparison, then the truth
    /// of its result (which may be any object). The operands stay the caller's.
    #[inline(never)]
    fn compare_truth(&mut self, op: CmpKind, l: Value, r: Value) -> PyResult<bool> {
        match self.compare_op(op, l, r)? {
            Value::Bool(t) => Ok(t),
            other => {
                let r = self.truthy(other);
                self.decref(other);
                r
            }
        }
    }

    /// The value of `target op= operand` from the two values on top (the target's
    /// current value under the operand), which it pops and releases.
    #[inline(always)]
    fn aug_value(&mut self, op: BinOpKind) -> PyResult<Value> {
        let n = self.stack.len();
        if n < 2 {
            return Err(stack_underflow());
        }
        let (a, b) = (self.stack[n - 2], self.stack[n - 1]);
        self.stack.truncate(n - 2);
        if let Some(v) = num_fast(op, a, b) {
            return Ok(v);
        }
        let r = self.inplace_op(op, a, b);
        self.decref(a);
        self.decref(b);
        r
    }
}

fn stack_underflow() -> PyErr {
    PyErr::new(ExcKind::RuntimeError, "internal error: stack underflow")
}

/// The name of a frame slot, for an error message (found only when needed,
/// so that entering a frame does not look up its code object).
fn local_name(program: &crate::bytecode::Program, code: u32, n: u32) -> &str {
    program
        .codes
        .get(code as usize)
        .map_or("?", |c| c.slot_name(n))
}

pub fn unbound_local(name: &str) -> PyErr {
    PyErr::new(
        ExcKind::UnboundLocalError,
        format!("cannot access local variable '{name}' where it is not associated with a value"),
    )
}

impl Vm {
    /// `del name` of a global. A global named like a built-in starts out
    /// holding the built-in (globals are slots, not CPython's two dicts), so
    /// deleting the module's own value puts the built-in back, as CPython's
    /// lookup would find it again in `builtins`; and deleting a name that
    /// still holds its built-in is CPython's NameError, since the module
    /// never had it (a program that assigned a built-in to its own name,
    /// `str = str`, and deletes it gets the NameError too: the one case
    /// this cannot tell apart).
    ///
    /// (Out of line, not `#[cold]`: marked cold, the loop's code moved and
    /// fib.py took 5% longer, `bench/ab.py`.)
    #[inline(never)]
    fn delete_global(&mut self, n: u32) -> PyResult<()> {
        let rt = self.rt;
        let Some(c) = rt.globals.get(n as usize) else {
            return Ok(());
        };
        let name = &rt.program.global_names[n as usize];
        let builtin = rt.builtins.lookup(name);
        let now = c.load();
        if matches!(now, Value::Unbound) || builtin.is_some_and(|b| b.is(now)) {
            return Err(name_error(name));
        }
        let back = builtin.unwrap_or(Value::Unbound);
        self.incref(back);
        let old = c.replace(back);
        self.decref(old);
        Ok(())
    }
}

pub fn name_error(name: &str) -> PyErr {
    PyErr::new(ExcKind::NameError, format!("name '{name}' is not defined"))
}

/// The arithmetic fast path shared by every binary instruction: small ints and
/// floats, mixed as Python mixes them; None sends the slow path.
#[inline(always)]
fn num_fast(op: BinOpKind, a: Value, b: Value) -> Option<Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => int_fast(op, x, y),
        (Value::Float(x), Value::Float(y)) => float_fast(op, x, y),
        (Value::Float(x), Value::Int(y)) => float_fast(op, x, y as f64),
        (Value::Int(x), Value::Float(y)) => float_fast(op, x as f64, y),
        _ => None,
    }
}

/// Small-int arithmetic that cannot fail; None sends the slow path (overflow to a
/// big int, division by zero, negative shifts, ...).
#[inline(always)]
fn int_fast(op: BinOpKind, x: i64, y: i64) -> Option<Value> {
    match op {
        BinOpKind::Add => x.checked_add(y).map(Value::Int),
        BinOpKind::Sub => x.checked_sub(y).map(Value::Int),
        BinOpKind::Mul => x.checked_mul(y).map(Value::Int),
        BinOpKind::Mod if y > 0 && x >= 0 => Some(Value::Int(x % y)),
        BinOpKind::FloorDiv if y > 0 && x >= 0 => Some(Value::Int(x / y)),
        // Python's floor semantics for the other signs: the remainder takes the
        // divisor's sign, the quotient rounds down (None for y == 0 and for
        // i64::MIN / -1, which the slow path handles).
        BinOpKind::Mod => {
            let r = x.checked_rem(y)?;
            Some(Value::Int(if r != 0 && (r ^ y) < 0 { r + y } else { r }))
        }
        BinOpKind::FloorDiv => {
            let q = x.checked_div(y)?;
            let inexact = x.checked_rem(y)? != 0;
            Some(Value::Int(if inexact && (x ^ y) < 0 { q - 1 } else { q }))
        }
        BinOpKind::Pow if (0..=u32::MAX as i64).contains(&y) => {
            x.checked_pow(y as u32).map(Value::Int)
        }
        BinOpKind::And => Some(Value::Int(x & y)),
        BinOpKind::Or => Some(Value::Int(x | y)),
        BinOpKind::Xor => Some(Value::Int(x ^ y)),
        BinOpKind::TrueDiv
            if y != 0 && x.unsigned_abs() < (1 << 53) && y.unsigned_abs() < (1 << 53) =>
        {
            Some(Value::Float(x as f64 / y as f64))
        }
        _ => None,
    }
}

#[inline(always)]
fn float_fast(op: BinOpKind, x: f64, y: f64) -> Option<Value> {
    match op {
        BinOpKind::Add => Some(Value::Float(x + y)),
        BinOpKind::Sub => Some(Value::Float(x - y)),
        BinOpKind::Mul => Some(Value::Float(x * y)),
        BinOpKind::TrueDiv if y != 0.0 => Some(Value::Float(x / y)),
        // A positive finite base to a finite power is the C library's pow, as in
        // CPython's float_pow; a result that overflowed is its OverflowError, so
        // it takes the slow path.
        BinOpKind::Pow if x > 0.0 && x.is_finite() && y.is_finite() => {
            let r = x.powf(y);
            r.is_finite().then_some(Value::Float(r))
        }
        _ => None,
    }
}

#[inline(always)]
fn cmp_fast(op: CmpKind, x: i64, y: i64) -> bool {
    match op {
        CmpKind::Lt => x < y,
        CmpKind::Le => x <= y,
        CmpKind::Eq => x == y,
        CmpKind::Ne => x != y,
        CmpKind::Gt => x > y,
        CmpKind::Ge => x >= y,
    }
}

#[inline(always)]
fn cmp_fast_f(op: CmpKind, x: f64, y: f64) -> bool {
    match op {
        CmpKind::Lt => x < y,
        CmpKind::Le => x <= y,
        CmpKind::Eq => x == y,
        CmpKind::Ne => x != y,
        CmpKind::Gt => x > y,
        CmpKind::Ge => x >= y,
    }
}
