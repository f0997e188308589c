//! Containers from the VM's side: subscripts and slices, building lists, tuples,
//! dicts and sets, unpacking, and the hashing of dict keys.
//!
//! Locking discipline (see `heap::slots`): a container's lock is held only while
//! its own data is read or changed; references that must be released are collected
//! and released after the lock is dropped.

use super::{ExcKind, PyErr, PyResult, Vm};
use crate::bytecode::sym;
use crate::heap::Text;
use crate::heap::{Dict, DictKey, KeyRef, Obj, ObjRef, StrObj, Value};
use crate::text;

/// The containers that item assignment and deletion treat each their own way.
enum ItemTarget {
    List,
    Dict,
    Instance,
    Other,
}

/// Where the last `dict.get` found its key, so that a store under the same
/// key that follows (`counts[key] = counts.get(key, 0) + 1`, the commonest
/// use of a dict) replaces the value without a second lookup: no lock of the
/// key, no hash, no probe, no comparison of texts. Kept only for a str key
/// (which never changes) or an int. Checked when used, under the dict's lock:
/// the same dict, the same key (the same object, or the same number), and at
/// the entry's position still the key object the dict keeps. A dict has one
/// entry per key, so a match there is that key's entry wherever the dict has
/// moved its entries since; anything else takes the general path.
#[derive(Clone, Copy)]
pub struct DictHit {
    pub dict: ObjRef,
    pub key: Value,
    pub pos: u32,
    pub stored: Value,
}

/// A dict key held for one lookup. A str is borrowed under its object's read
/// guard, with the hash the object caches, so the lookup neither copies nor
/// re-hashes the text; any other key is its owned content (`Vm::dict_key`).
///
/// Holding a str's guard while the dict is locked cannot deadlock: they are
/// two objects (a str is never a dict), and two threads never wait for each
/// other's slot locks (see `Heap::lock`). Like any guard, it must be dropped
/// before references are released.
pub enum HeldKey {
    Str(crate::heap::ObjRef, crate::heap::ObjRead<'static>),
    Owned(DictKey),
}

impl HeldKey {
    #[inline]
    pub fn key_ref(&self) -> KeyRef<'_> {
        match self {
            HeldKey::Str(r, g) => match &**g {
                Obj::Str(s) => KeyRef::Str(*r, &s.s, s.hash()),
                // `held_key` holds only a str's guard here.
                _ => unreachable!("a held key is a str"),
            },
            HeldKey::Owned(k) => KeyRef::Key(k),
        }
    }
}

fn index_of(v: Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i),
        Value::Bool(b) => Some(b as i64),
        _ => None,
    }
}

/// Normalise an index against a length; None if out of range.
fn norm(i: i64, len: usize) -> Option<usize> {
    let n = len as i64;
    let j = if i < 0 { i.checked_add(n)? } else { i };
    if j >= 0 && j < n {
        Some(j as usize)
    } else {
        None
    }
}

/// A slice bound that needs no conversion: None, an int or a bool (None when
/// it needs the general path of `slice_bounds`).
#[inline]
fn plain_bound(v: Value) -> Option<Option<i64>> {
    match v {
        Value::None => Some(None),
        Value::Int(i) => Some(Some(i)),
        Value::Bool(b) => Some(Some(b as i64)),
        _ => None,
    }
}

/// A slice's start, stop and step, each possibly absent.
type SliceParts = (Option<i64>, Option<i64>, Option<i64>);

/// A slice of a list of `len` items as (start, step, count), as CPython's
/// PySlice_Unpack and PySlice_AdjustIndices compute it; None for a zero step.
/// `text::strings::slice_indices` computes the same for every sequence,
/// through i128 and out of line; the list fast paths (fannkuch slices twice
/// per flip) use this one, inline. No sum here can overflow: a negative bound
/// has the length (at most i64::MAX) added, and the step is kept above
/// i64::MIN so that it can be negated.
#[inline(always)]
fn list_slice(
    len: usize,
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
) -> Option<(i64, i64, i64)> {
    let len = len as i64;
    let step = match step {
        None => 1,
        Some(0) => return None,
        Some(s) => s.max(-i64::MAX),
    };
    let clamp = |v: i64| {
        if v < 0 {
            let v = v + len;
            if v < 0 {
                if step < 0 {
                    -1
                } else {
                    0
                }
            } else {
                v
            }
        } else if v >= len {
            if step < 0 {
                len - 1
            } else {
                len
            }
        } else {
            v
        }
    };
    let st = match start {
        Some(v) => clamp(v),
        None if step < 0 => len - 1,
        None => 0,
    };
    let sp = match stop {
        Some(v) => clamp(v),
        None if step < 0 => -1,
        None => len,
    };
    Some((st, step, text::strings::slice_len(st, sp, step)))
}

fn zero_step() -> PyErr {
    PyErr::value_error("slice step cannot be zero")
}

impl Vm {
    fn slice_parts(&mut self, s: Value) -> PyResult<Option<SliceParts>> {
        let Value::Obj(r) = s else { return Ok(None) };
        let (a, b, c) = match &*self.get(r)? {
            Obj::Slice { start, stop, step } => (*start, *stop, *step),
            _ => return Ok(None),
        };
        self.slice_bounds(a, b, c).map(Some)
    }

    /// A slice's bounds from its three (borrowed) values.
    fn slice_bounds(&mut self, a: Value, b: Value, c: Value) -> PyResult<SliceParts> {
        let conv = |vm: &mut Vm, v: Value| -> PyResult<Option<i64>> {
            match v {
                Value::None => Ok(None),
                Value::Int(i) => Ok(Some(i)),
                Value::Bool(b) => Ok(Some(b as i64)),
                Value::Obj(_) => match vm.num_of(v)? {
                    Some(super::ops::Num::B(b)) => {
                        Ok(Some(if b.sign() == num_bigint::Sign::Minus {
                            i64::MIN
                        } else {
                            i64::MAX
                        }))
                    }
                    _ => Err(PyErr::type_error(
                        "slice indices must be integers or None or have an __index__ method",
                    )),
                },
                _ => Err(PyErr::type_error(
                    "slice indices must be integers or None or have an __index__ method",
                )),
            }
        };
        Ok((conv(self, a)?, conv(self, b)?, conv(self, c)?))
    }

    /// `SubscrSlice(n)` (`obj[a:b]`, `obj[a:b:c]` for n = 3) and `StoreSlice(n)`
    /// (`obj[a:b] = v`): the operands are popped (v, obj, a, b[, c] from the
    /// bottom) and released, and a load's result pushed. Lists, tuples and
    /// strings are sliced without a slice object (`get_slice`, `set_slice`);
    /// anything else gets one, as CPython's BINARY_SLICE builds it.
    ///
    /// Out of the dispatch loop, so that its many paths do not weigh on the
    /// loop's code; the bounds, nearly always ints or None, are released
    /// without a call (fannkuch slices twice per flip).
    #[inline(never)]
    pub fn slice_op(&mut self, store: bool, n: u32) -> PyResult<()> {
        let mut pop = || self.stack.pop().unwrap_or(Value::None);
        let step = if n == 3 { pop() } else { Value::None };
        let stop = pop();
        let start = pop();
        let obj = pop();
        let done = if store {
            let v = self.stack.pop().unwrap_or(Value::None);
            match self.set_slice(obj, start, stop, step, v) {
                Ok(r) => Some(r.map(|()| None)),
                Err(v) => {
                    // Not a list: the general path, with a slice object.
                    self.stack.push(v);
                    None
                }
            }
        } else {
            self.get_slice(obj, start, stop, step)
                .transpose()
                .map(|r| r.map(Some))
        };
        let r = match done {
            Some(r) => {
                for v in [start, stop, step, obj] {
                    if let Value::Obj(_) = v {
                        self.decref(v);
                    }
                }
                r
            }
            None => {
                let sl = match self.alloc(Obj::Slice { start, stop, step }) {
                    Ok(sl) => sl,
                    Err(e) => {
                        for v in [start, stop, step, obj] {
                            self.decref(v);
                        }
                        return Err(e);
                    }
                };
                let r = if store {
                    let v = self.stack.pop().unwrap_or(Value::None);
                    self.set_item(obj, sl, v).map(|()| None)
                } else {
                    self.get_item(obj, sl).map(Some)
                };
                self.decref(sl);
                self.decref(obj);
                r
            }
        };
        if let Some(v) = r? {
            self.stack.push(v);
        }
        Ok(())
    }

    /// `obj[a:b:c]` without a slice object, for the sequences that slice
    /// natively; None (nothing done) for other objects.
    pub fn get_slice(
        &mut self,
        obj: Value,
        a: Value,
        b: Value,
        c: Value,
    ) -> PyResult<Option<Value>> {
        let Value::Obj(r) = obj else { return Ok(None) };
        if let (Some(a), Some(b), Some(c)) = (plain_bound(a), plain_bound(b), plain_bound(c)) {
            // A list sliced by ints: the copy is made under one look at the
            // list, its items counted while it is still held (see seq_item).
            // The guard comes from the heap directly: `Vm::get` is a call.
            let rt = self.rt;
            let g = match rt.heap.get(r) {
                Ok(g) => g,
                Err(e) => return Err(self.heap_error(e)),
            };
            if let Obj::List(items) = &*g {
                let Some((start, step, n)) = list_slice(items.len(), a, b, c) else {
                    return Err(zero_step());
                };
                // The two steps fannkuch uses (`perm1[:]`, `perm[k::-1]`) copy
                // without an index computation and bounds check per item.
                // (An empty slice may start at -1, whence the test for n.)
                let out: Vec<Value> = match step {
                    _ if n == 0 => Vec::new(),
                    1 => items[start as usize..(start + n) as usize].to_vec(),
                    -1 => items[(start + 1 - n) as usize..=start as usize]
                        .iter()
                        .rev()
                        .copied()
                        .collect(),
                    _ => (0..n).map(|k| items[(start + k * step) as usize]).collect(),
                };
                for &v in &out {
                    if let Value::Obj(o) = v {
                        rt.heap.incref_obj(&mut self.local, o);
                    }
                }
                drop(g);
                return self.new_list(out).map(Some);
            }
        }
        if !matches!(&*self.get(r)?, Obj::List(_) | Obj::Tuple(_) | Obj::Str(_)) {
            return Ok(None);
        }
        let parts = self.slice_bounds(a, b, c)?;
        self.get_item_with(obj, Value::None, Some(parts)).map(Some)
    }

    /// `list[a:b:c] = v` without a slice object; Err(v) back for other objects.
    pub fn set_slice(
        &mut self,
        obj: Value,
        a: Value,
        b: Value,
        c: Value,
        v: Value,
    ) -> Result<PyResult<()>, Value> {
        let Value::Obj(r) = obj else { return Err(v) };
        if let (Some(a), Some(b), Some(c)) = (plain_bound(a), plain_bound(b), plain_bound(c)) {
            if let Some(done) = self.assign_from_temporary(r, a, b, c, v) {
                // The temporary now holds the replaced items: releasing it
                // releases them.
                self.decref(v);
                return Ok(done);
            }
        }
        match self.get(r).as_deref() {
            Ok(Obj::List(_)) => {}
            _ => return Err(v),
        }
        let bounds = match (plain_bound(a), plain_bound(b), plain_bound(c)) {
            (Some(a), Some(b), Some(c)) => Ok((a, b, c)),
            _ => self.slice_bounds(a, b, c),
        };
        let (a, b, c) = match bounds {
            Ok(p) => p,
            Err(e) => {
                self.decref(v);
                return Ok(Err(e));
            }
        };
        let new_items = match self.take_temporary_items(v, r) {
            Some(items) => Ok(items),
            None => self.slice_source(v, c),
        };
        self.decref(v);
        Ok(new_items.and_then(|items| self.list_assign_slice(r, a, b, c, items)))
    }

    /// The items to assign to a list's slice of step `step`, new references;
    /// `v` stays the caller's. A value that cannot be iterated gets CPython's
    /// message (list_ass_slice's and list_ass_subscript's), not iter()'s.
    fn slice_source(&mut self, v: Value, step: Option<i64>) -> PyResult<Vec<Value>> {
        if let Value::Obj(r) = v {
            if matches!(&*self.get(r)?, Obj::List(_) | Obj::Tuple(_)) {
                return self.collect_iterable(v);
            }
        }
        let it = match self.make_iter(v) {
            Ok(it) => it,
            Err(e) if self.err_is(&e, ExcKind::TypeError) => {
                // Replaced, as PySequence_Fast replaces it (an `__iter__`'s
                // own TypeError included): its object, if any, is released.
                if e.kind().is_none() {
                    let r = self.materialize(e);
                    self.decref(Value::Obj(r));
                }
                return Err(PyErr::type_error(if step.unwrap_or(1) == 1 {
                    "can only assign an iterable"
                } else {
                    "must assign iterable to extended slice"
                }));
            }
            Err(e) => return Err(e),
        };
        let items = self.collect_iterable(it);
        self.decref(it);
        items
    }

    /// `list[a:b:c] = v` where `v` is a list that nothing but the caller refers
    /// to (the `perm[k::-1]` of fannkuch's `perm[:k + 1] = perm[k::-1]`) and
    /// the slice has as many items as `v`: the items are exchanged between the
    /// two lists, so that `v` ends up holding the replaced ones and no count
    /// changes. None (nothing done, `v` untouched) for anything else.
    ///
    /// Both lists are locked at once. That cannot deadlock: `v` is not
    /// `target`, and no other thread can lock `v`, which it cannot reach (the
    /// count is true under the GIL, which is why this is not done without it).
    fn assign_from_temporary(
        &mut self,
        target: ObjRef,
        a: Option<i64>,
        b: Option<i64>,
        c: Option<i64>,
        v: Value,
    ) -> Option<PyResult<()>> {
        let Value::Obj(vr) = v else { return None };
        let heap = &self.rt.heap;
        if vr == target || heap.unguarded() || heap.refcount(vr) != 1 {
            return None;
        }
        let mut g = heap.get_mut(target).ok()?;
        let Obj::List(items) = &mut *g else {
            return None;
        };
        let Some((start, step, n)) = list_slice(items.len(), a, b, c) else {
            return Some(Err(zero_step()));
        };
        let mut gv = heap.get_mut(vr).ok()?;
        let Obj::List(new_items) = &mut *gv else {
            return None;
        };
        if new_items.len() != n as usize {
            return None;
        }
        if step == 1 {
            // (A loop: `swap_with_slice` is a call, as long as this whole
            // exchange for fannkuch's few items.)
            let start = start as usize;
            for (x, y) in items[start..start + n as usize].iter_mut().zip(new_items) {
                std::mem::swap(x, y);
            }
        } else {
            for (k, x) in new_items.iter_mut().enumerate() {
                std::mem::swap(&mut items[(start + k as i64 * step) as usize], x);
            }
        }
        Some(Ok(()))
    }

    /// The items of `v` if it is a list that nothing but the caller refers to
    /// (a temporary such as the `b[::-1]` of `a[:k] = b[::-1]`): they are moved
    /// out, their references with them, instead of being copied and counted
    /// once more only for the emptied list to release them. Never `target`
    /// itself, and never without the GIL's guarantee that the count is true.
    fn take_temporary_items(&mut self, v: Value, target: ObjRef) -> Option<Vec<Value>> {
        let Value::Obj(vr) = v else { return None };
        if vr == target || self.rt.heap.unguarded() || self.rt.heap.refcount(vr) != 1 {
            return None;
        }
        let items = match &mut *self.get_mut(vr).ok()? {
            Obj::List(items) => std::mem::take(items),
            _ => return None,
        };
        // The emptied list is freed as a small object: its items' bytes leave
        // the heap's account here.
        self.rt.heap.uncharge(items.capacity() * 16);
        Some(items)
    }

    /// `obj[idx]`, a new reference.
    pub fn get_item(&mut self, obj: Value, idx: Value) -> PyResult<Value> {
        let Value::Obj(_) = obj else {
            let t = self.type_name(obj);
            return Err(PyErr::type_error(format!(
                "'{t}' object is not subscriptable"
            )));
        };
        let slice = self.slice_parts(idx)?;
        self.get_item_with(obj, idx, slice)
    }

    /// `obj[idx]` where `slice` holds idx's bounds if it is a slice.
    fn get_item_with(
        &mut self,
        obj: Value,
        idx: Value,
        slice: Option<SliceParts>,
    ) -> PyResult<Value> {
        let Value::Obj(r) = obj else {
            return Err(PyErr::type_error("object is not subscriptable"));
        };
        let g = self.get(r)?;
        match &*g {
            // The guard borrows the heap, not the VM: the items can be read in
            // place while the VM increfs and allocates (other slots only).
            // A bad index is named with its type, which may mean reading the
            // very object held here (`l[l]`): the guard goes first.
            Obj::List(_) | Obj::Tuple(_) if slice.is_none() && index_of(idx).is_none() => {
                let what = match &*g {
                    Obj::List(_) => "list indices must be integers or slices",
                    _ => "tuple indices must be integers or slices",
                };
                drop(g);
                Err(self.bad_index(idx, what))
            }
            Obj::List(items) => self.seq_item(items, idx, slice, "list"),
            Obj::Tuple(items) => self.seq_item(items, idx, slice, "tuple"),
            Obj::Str(s) => {
                if let Some((a, b, c)) = slice {
                    let (start, stop, step, _n) =
                        text::strings::slice_indices(s.nchars as i64, a, b, c)?;
                    let out = if s.is_ascii() && step == 1 {
                        s.s[start as usize..stop.max(start) as usize].to_string()
                    } else {
                        text::strings::char_slice(&s.s, start, stop, step)
                    };
                    drop(g);
                    return self.new_string(out);
                }
                let Some(i) = index_of(idx) else {
                    drop(g);
                    if let Ok(Some(super::ops::Num::B(_))) = self.num_of(idx) {
                        return Err(PyErr::index_error(
                            "cannot fit 'int' into an index-sized integer",
                        ));
                    }
                    let t = self.type_name(idx);
                    return Err(PyErr::type_error(format!(
                        "string indices must be integers, not '{t}'"
                    )));
                };
                match norm(i, s.nchars) {
                    Some(j) => {
                        let c: String = if s.is_ascii() {
                            s.s[j..j + 1].to_string()
                        } else {
                            s.s.chars().nth(j).map(String::from).unwrap_or_default()
                        };
                        drop(g);
                        self.new_string(c)
                    }
                    None => Err(PyErr::index_error("string index out of range")),
                }
            }
            Obj::Dict(d) => {
                let v = if let Value::Obj(_) = idx {
                    drop(g);
                    let k = self.held_key(idx)?;
                    let v = match &*self.get(r)? {
                        Obj::Dict(d) => d.get_ref(&self.rt.heap, k.key_ref()),
                        _ => None,
                    };
                    drop(k);
                    v
                } else {
                    // An int, float, bool or None: its content takes no lock,
                    // so the dict's guard can stay.
                    let k = crate::heap::dict::scalar_key(idx).unwrap_or(DictKey::None);
                    let v = d.get(&self.rt.heap, &k);
                    drop(g);
                    v
                };
                match v {
                    Some(v) => {
                        self.incref(v);
                        Ok(v)
                    }
                    None => Err(self.key_error(idx)),
                }
            }
            Obj::Range { start, stop, step } => {
                let (a, b, c) = (*start, *stop, *step);
                drop(g);
                let n = super::ops::range_len(a, b, c);
                if let Some((x, y, z)) = slice {
                    let (s0, _s1, st, len) = text::strings::slice_indices(n, x, y, z)?;
                    let ns = a + s0 * c;
                    let nstep = c * st;
                    return self.alloc(Obj::Range {
                        start: ns,
                        stop: ns + len * nstep,
                        step: nstep,
                    });
                }
                let Some(i) = index_of(idx) else {
                    let t = self.type_name(idx);
                    return Err(PyErr::type_error(format!(
                        "range indices must be integers or slices, not {t}"
                    )));
                };
                match norm(i, n as usize) {
                    Some(j) => Ok(Value::Int(a + j as i64 * c)),
                    None => Err(PyErr::index_error("range object index out of range")),
                }
            }
            Obj::Instance(_) => {
                drop(g);
                match self.call_dunder(obj, sym::__getitem__, &[idx])? {
                    Some(v) => Ok(v),
                    None => {
                        let t = self.type_name(obj);
                        Err(PyErr::type_error(format!(
                            "'{t}' object is not subscriptable"
                        )))
                    }
                }
            }
            Obj::Class(k) if k.tag.is_some() => {
                // `list[int]`, `Tuple[str, int]` in annotations: return the class.
                drop(g);
                self.incref(obj);
                Ok(obj)
            }
            _ => {
                drop(g);
                let t = self.type_name(obj);
                Err(PyErr::type_error(format!(
                    "'{t}' object is not subscriptable"
                )))
            }
        }
    }

    /// `items[idx]` for a list or tuple (`what`), a new reference; a slice
    /// makes a new list or tuple.
    fn seq_item(
        &mut self,
        items: &[Value],
        idx: Value,
        slice: Option<SliceParts>,
        what: &str,
    ) -> PyResult<Value> {
        if let Some((a, b, c)) = slice {
            let (start, _stop, step, n) =
                text::strings::slice_indices(items.len() as i64, a, b, c)?;
            let out: Vec<Value> = (0..n).map(|k| items[(start + k * step) as usize]).collect();
            for &v in &out {
                self.incref(v);
            }
            return if what == "list" {
                self.new_list(out)
            } else {
                self.new_tuple(out)
            };
        }
        let Some(i) = index_of(idx) else {
            return Err(self.bad_index(idx, &format!("{what} indices must be integers or slices")));
        };
        match norm(i, items.len()) {
            Some(j) => {
                self.incref(items[j]);
                Ok(items[j])
            }
            None => Err(PyErr::index_error(format!("{what} index out of range"))),
        }
    }

    /// The error for a non-index subscript: a big int does not fit (IndexError,
    /// as CPython), anything else is the wrong type.
    fn bad_index(&mut self, idx: Value, what: &str) -> PyErr {
        if let Ok(Some(super::ops::Num::B(_))) = self.num_of(idx) {
            return PyErr::index_error("cannot fit 'int' into an index-sized integer");
        }
        let t = self.type_name(idx);
        PyErr::type_error(format!("{what}, not {t}"))
    }

    pub fn key_error(&mut self, key: Value) -> PyErr {
        let class = self.rt.builtins.exc_class(ExcKind::KeyError);
        self.incref(key);
        self.incref(Value::Obj(class));
        match self.alloc(Obj::Exception(Box::new(crate::heap::ExcObj {
            class,
            args: vec![key],
            attrs: vec![],
            traceback: vec![],
            cause: Value::None,
            context: Value::None,
            suppress_context: false,
        }))) {
            Ok(Value::Obj(r)) => PyErr::from_obj(r),
            Ok(_) => PyErr::new(ExcKind::KeyError, ""),
            Err(e) => e,
        }
    }

    /// What `obj[k] = v` and `del obj[k]` act on. A list or a dict is known
    /// from the slot's `aux` word, without a lock (see `heap::AUX_LIST`);
    /// anything else, or a stale handle, is looked at.
    #[inline(always)]
    fn item_target(&mut self, r: ObjRef) -> PyResult<ItemTarget> {
        Ok(match self.rt.heap.aux(r).map(|a| a & 0xff) {
            Some(crate::heap::AUX_LIST) => ItemTarget::List,
            Some(crate::heap::AUX_DICT) => ItemTarget::Dict,
            _ => match &*self.get(r)? {
                Obj::List(_) => ItemTarget::List,
                Obj::Dict(_) => ItemTarget::Dict,
                Obj::Instance(_) => ItemTarget::Instance,
                _ => ItemTarget::Other,
            },
        })
    }

    /// `obj[idx] = v`; takes ownership of `v`.
    pub fn set_item(&mut self, obj: Value, idx: Value, v: Value) -> PyResult<()> {
        let Value::Obj(r) = obj else {
            self.decref(v);
            let t = self.type_name(obj);
            return Err(PyErr::type_error(format!(
                "'{t}' object does not support item assignment"
            )));
        };
        match self.item_target(r)? {
            ItemTarget::List => {
                if let Some((a, b, c)) = self.slice_parts(idx)? {
                    let new_items = match self.slice_source(v, c) {
                        Ok(i) => i,
                        Err(e) => {
                            self.decref(v);
                            return Err(e);
                        }
                    };
                    self.decref(v);
                    return self.list_assign_slice(r, a, b, c, new_items);
                }
                let Some(i) = index_of(idx) else {
                    self.decref(v);
                    let t = self.type_name(idx);
                    return Err(PyErr::type_error(format!(
                        "list indices must be integers or slices, not {t}"
                    )));
                };
                let old = match &mut *self.get_mut(r)? {
                    Obj::List(items) => match norm(i, items.len()) {
                        Some(j) => Some(std::mem::replace(&mut items[j], v)),
                        None => None,
                    },
                    _ => None,
                };
                match old {
                    Some(o) => {
                        self.decref(o);
                        Ok(())
                    }
                    None => {
                        self.decref(v);
                        Err(PyErr::index_error("list assignment index out of range"))
                    }
                }
            }
            ItemTarget::Dict => self.dict_store(obj, idx, v, false),
            ItemTarget::Instance => {
                let r = self.call_dunder(obj, sym::__setitem__, &[idx, v]);
                self.decref(v);
                match r? {
                    Some(x) => {
                        self.decref(x);
                        Ok(())
                    }
                    None => {
                        let t = self.type_name(obj);
                        Err(PyErr::type_error(format!(
                            "'{t}' object does not support item assignment"
                        )))
                    }
                }
            }
            ItemTarget::Other => {
                self.decref(v);
                let t = self.type_name(obj);
                Err(PyErr::type_error(format!(
                    "'{t}' object does not support item assignment"
                )))
            }
        }
    }

    fn list_assign_slice(
        &mut self,
        r: crate::heap::ObjRef,
        a: Option<i64>,
        b: Option<i64>,
        c: Option<i64>,
        new_items: Vec<Value>,
    ) -> PyResult<()> {
        let mut released = Vec::new();
        let res = {
            let mut g = self.get_mut(r)?;
            let Obj::List(items) = &mut *g else {
                return Ok(());
            };
            let (start, stop, step, n) = text::strings::slice_indices(items.len() as i64, a, b, c)?;
            let stop = stop.max(start) as usize;
            if step == 1 && stop - start as usize == new_items.len() {
                // Same length (`perm[:k] = perm[k-1::-1]`): replaced in place;
                // only the old items that are objects need releasing.
                for (slot, v) in items[start as usize..stop].iter_mut().zip(new_items) {
                    if let Value::Obj(_) = slot {
                        released.push(*slot);
                    }
                    *slot = v;
                }
                Ok(())
            } else if step == 1 {
                released.extend(items.splice(start as usize..stop, new_items));
                Ok(())
            } else if n as usize != new_items.len() {
                Err((new_items, n))
            } else {
                for (k, v) in new_items.into_iter().enumerate() {
                    let j = (start + k as i64 * step) as usize;
                    released.push(std::mem::replace(&mut items[j], v));
                }
                Ok(())
            }
        };
        self.decref_all(released);
        match res {
            Ok(()) => Ok(()),
            Err((items, n)) => {
                let len = items.len();
                self.decref_all(items);
                Err(PyErr::value_error(format!(
                    "attempt to assign sequence of size {len} to extended slice of size {n}"
                )))
            }
        }
    }

    pub fn del_item(&mut self, obj: Value, idx: Value) -> PyResult<()> {
        let Value::Obj(r) = obj else {
            let t = self.type_name(obj);
            return Err(PyErr::type_error(format!(
                "'{t}' object doesn't support item deletion"
            )));
        };
        match self.item_target(r)? {
            ItemTarget::List => {
                if let Some((a, b, c)) = self.slice_parts(idx)? {
                    let mut released = Vec::new();
                    {
                        let mut g = self.get_mut(r)?;
                        if let Obj::List(items) = &mut *g {
                            let (start, stop, step, n) =
                                text::strings::slice_indices(items.len() as i64, a, b, c)?;
                            if step == 1 {
                                released
                                    .extend(items.drain(start as usize..stop.max(start) as usize));
                            } else {
                                let mut idxs: Vec<usize> =
                                    (0..n).map(|k| (start + k * step) as usize).collect();
                                idxs.sort_unstable();
                                for j in idxs.into_iter().rev() {
                                    released.push(items.remove(j));
                                }
                            }
                        }
                    }
                    self.decref_all(released);
                    return Ok(());
                }
                let Some(i) = index_of(idx) else {
                    let t = self.type_name(idx);
                    return Err(PyErr::type_error(format!(
                        "list indices must be integers or slices, not {t}"
                    )));
                };
                let old = match &mut *self.get_mut(r)? {
                    Obj::List(items) => norm(i, items.len()).map(|j| items.remove(j)),
                    _ => None,
                };
                match old {
                    Some(o) => {
                        self.decref(o);
                        Ok(())
                    }
                    None => Err(PyErr::index_error("list assignment index out of range")),
                }
            }
            ItemTarget::Dict => {
                let k = self.held_key(idx)?;
                let old = match &mut *self.get_mut(r)? {
                    Obj::Dict(d) => d.remove_ref(&self.rt.heap, k.key_ref()),
                    _ => None,
                };
                drop(k);
                match old {
                    Some((k, v)) => {
                        self.decref(k);
                        self.decref(v);
                        Ok(())
                    }
                    None => Err(self.key_error(idx)),
                }
            }
            ItemTarget::Instance => match self.call_dunder(obj, sym::__delitem__, &[idx])? {
                Some(x) => {
                    self.decref(x);
                    Ok(())
                }
                None => {
                    let t = self.type_name(obj);
                    Err(PyErr::type_error(format!(
                        "'{t}' object doesn't support item deletion"
                    )))
                }
            },
            ItemTarget::Other => {
                let t = self.type_name(obj);
                Err(PyErr::type_error(format!(
                    "'{t}' object doesn't support item deletion"
                )))
            }
        }
    }

    /// A key for one dict lookup (see `HeldKey`). Always inlined: out of line,
    /// saving registers and returning the guard through memory took half of
    /// its 67 instructions a call in strings.py.
    #[inline(always)]
    pub fn held_key(&mut self, v: Value) -> PyResult<HeldKey> {
        let Value::Obj(r) = v else {
            let k = crate::heap::dict::scalar_key(v).unwrap_or(DictKey::None);
            return Ok(HeldKey::Owned(k));
        };
        let g = self.get(r)?;
        match &*g {
            Obj::Str(_) => Ok(HeldKey::Str(r, g)),
            _ => {
                drop(g);
                Ok(HeldKey::Owned(self.dict_key(v)?))
            }
        }
    }

    /// The hashable content of a dict key (see `heap::dict`).
    pub fn dict_key(&mut self, v: Value) -> PyResult<DictKey> {
        let Value::Obj(r) = v else {
            return Ok(crate::heap::dict::scalar_key(v).unwrap_or(DictKey::None));
        };
        let g = self.get(r)?;
        Ok(match &*g {
            Obj::Str(s) => DictKey::Str(s.s.clone()),
            Obj::BigInt(b) => DictKey::Big(Box::new(b.clone())),
            Obj::Tuple(items) => {
                let items = items.to_vec();
                drop(g);
                let mut keys = Vec::with_capacity(items.len());
                for i in items {
                    keys.push(self.dict_key(i)?);
                }
                DictKey::Tuple(keys.into_boxed_slice())
            }
            Obj::List(_) | Obj::Dict(_) | Obj::Set(_) | Obj::Slice { .. } => {
                let t = super::attrs::tag_of_obj(&g);
                drop(g);
                let name = match t {
                    crate::heap::TypeTag::List => "list",
                    crate::heap::TypeTag::Dict => "dict",
                    crate::heap::TypeTag::Slice => "slice",
                    _ => "set",
                };
                return Err(PyErr::type_error(format!("unhashable type: '{name}'")));
            }
            _ => DictKey::Id(r.idx, r.gen),
        })
    }

    /// `d[k] = v` on a dict; takes ownership of `k` and `v`.
    pub fn dict_set(&mut self, d: Value, k: Value, v: Value) -> PyResult<()> {
        self.dict_store(d, k, v, true)
    }

    /// `d[k] = v` on a dict; takes ownership of `v`, and of `k` if `owned`.
    ///
    /// A borrowed key (`x[k] = v`, whose `k` the stack or a local holds) is
    /// counted only when the dict keeps it, that is when it is new: storing
    /// under a key that is there already (`counts[key] = n` in strings.py)
    /// then touches no count of the key at all, where taking a reference
    /// first would add one only to release it again.
    pub fn dict_store(&mut self, d: Value, k: Value, v: Value, owned: bool) -> PyResult<()> {
        if let (Value::Obj(dr), Some(hit)) = (d, self.dict_hit) {
            if hit.dict == dr && hit.key.is(k) {
                let replaced = match self.rt.heap.get_mut(dr).as_deref_mut() {
                    Ok(Obj::Dict(dd)) => dd.replace_at(hit.pos as usize, hit.stored, v).ok(),
                    _ => None,
                };
                if let Some(old) = replaced {
                    // The dict keeps its own key object, as below.
                    if owned {
                        self.decref(k);
                    }
                    self.decref(old);
                    return Ok(());
                }
            }
        }
        let release = |vm: &mut Vm| {
            if owned {
                vm.decref(k);
            }
            vm.decref(v);
        };
        let key = match self.held_key(k) {
            Ok(key) => key,
            Err(e) => {
                release(self);
                return Err(e);
            }
        };
        let Value::Obj(r) = d else {
            drop(key);
            release(self);
            return Err(PyErr::type_error("not a dict"));
        };
        let grew;
        let old = {
            let mut g = match self.get_mut(r) {
                Ok(g) => g,
                Err(e) => {
                    drop(key);
                    release(self);
                    return Err(e);
                }
            };
            match &mut *g {
                Obj::Dict(dd) => {
                    let before = dd.slots_len();
                    let o = dd.insert_ref(&self.rt.heap, key.key_ref(), k, v);
                    grew = dd.slots_len() > before;
                    o
                }
                _ => {
                    // (callers check the kind first; as before, nothing stored)
                    drop(g);
                    drop(key);
                    release(self);
                    return Ok(());
                }
            }
        };
        drop(key);
        match old {
            // The key was new and the dict keeps it: a borrowed one needs its
            // own reference now (the caller's keeps it alive until then).
            None if !owned => self.incref(k),
            None => {}
            Some((a, b)) => {
                if owned {
                    self.decref(a);
                }
                self.decref(b);
            }
        }
        if grew {
            if let Err(e) = self.rt.heap.charge(48) {
                let err = self.heap_error(e);
                return Err(err);
            }
        }
        Ok(())
    }

    pub fn build_dict(&mut self, items: Vec<Value>) -> PyResult<Value> {
        let d = self.alloc(Obj::Dict(Dict::with_capacity(items.len() / 2)))?;
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if let Err(e) = self.dict_set(d, k, v) {
                let rest: Vec<Value> = it.collect();
                self.decref_all(rest);
                self.decref(d);
                return Err(e);
            }
        }
        Ok(d)
    }

    pub fn build_set(&mut self, items: Vec<Value>) -> PyResult<Value> {
        let s = self.alloc(Obj::Set(Dict::new()))?;
        let mut it = items.into_iter();
        while let Some(v) = it.next() {
            let r = self.set_add(s, v);
            self.decref(v);
            if let Err(e) = r {
                let rest: Vec<Value> = it.collect();
                self.decref_all(rest);
                self.decref(s);
                return Err(e);
            }
        }
        Ok(s)
    }

    /// Add a borrowed value to a set.
    pub fn set_add(&mut self, s: Value, v: Value) -> PyResult<()> {
        let key = self.held_key(v)?;
        let Value::Obj(r) = s else { return Ok(()) };
        self.incref(v);
        let old = match &mut *self.get_mut(r)? {
            Obj::Set(d) => d.insert_ref(&self.rt.heap, key.key_ref(), v, Value::None),
            _ => Some((v, Value::None)),
        };
        drop(key);
        if let Some((a, _)) = old {
            self.decref(a);
        }
        Ok(())
    }

    /// Append, taking ownership of `v`.
    ///
    /// CPython's `app1` (Objects/listobject.c) appends in steps: read the size n,
    /// grow the array, store the item at n, set the size to n + 1. The GIL keeps
    /// those steps together; without it two threads can read the same n, and the
    /// second writes over the first one's item (whose reference leaks: nothing
    /// releases it). Under `--gil off --refcount plain` (`Heap::unguarded`) the
    /// size is therefore read under one lock and the item stored under another,
    /// and an append that finds the list longer than it read does what `app1`
    /// would: its item goes at n and the size becomes n + 1. The slot's lock
    /// keeps this memory-safe; only the simulated list loses items.
    pub fn list_append(&mut self, list: Value, v: Value) -> PyResult<()> {
        let Value::Obj(r) = list else {
            self.decref(v);
            return Ok(());
        };
        let read_len = if self.rt.heap.unguarded() {
            match &*self.get(r)? {
                Obj::List(items) => Some(items.len()),
                _ => None,
            }
        } else {
            None
        };
        let grew = match &mut *self.get_mut(r)? {
            Obj::List(items) => {
                let cap = items.capacity();
                if let Some(n) = read_len.filter(|&n| n < items.len()) {
                    // Other threads appended since the size was read: their
                    // items are cut off without being released (a leak, as in C).
                    self.local.lost_appends += (items.len() - n) as u64;
                    items.truncate(n);
                }
                items.push(v);
                Some(items.capacity() - cap)
            }
            _ => None,
        };
        // (not a list: `v` is released once the guard is gone)
        let Some(grew) = grew else {
            self.decref(v);
            return Ok(());
        };
        if grew > 0 {
            if let Err(e) = self.rt.heap.charge(grew * 16) {
                // Undo: the list may not keep what the heap cannot afford.
                let undone = match &mut *self.get_mut(r)? {
                    Obj::List(items) => items.pop(),
                    _ => None,
                };
                if let Some(u) = undone {
                    self.decref(u);
                }
                return Err(self.heap_error(e));
            }
        }
        Ok(())
    }

    /// Extend a list with a borrowed iterable.
    pub fn list_extend(&mut self, list: Value, it: Value) -> PyResult<()> {
        // A list or a tuple is copied whole first (so `l.extend(l)` doubles
        // `l`); any other iterable is appended item by item as it yields, as
        // CPython does, so that a generator that fails part way leaves the
        // items before the failure in the list.
        let whole = match it {
            Value::Obj(s) => matches!(&*self.get(s)?, Obj::List(_) | Obj::Tuple(_)),
            _ => true,
        };
        if let (false, Value::Obj(_)) = (whole, list) {
            let iter = self.make_iter(it)?;
            let r = loop {
                match self.iter_next(iter) {
                    Ok(Some(x)) => {
                        if let Err(e) = self.list_append(list, x) {
                            break Err(e);
                        }
                    }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            self.decref(iter);
            return r;
        }
        let items = self.collect_iterable(it)?;
        let Value::Obj(r) = list else {
            self.decref_all(items);
            return Ok(());
        };
        if let Err(e) = self.rt.heap.charge(items.len() * 16) {
            self.decref_all(items);
            return Err(self.heap_error(e));
        }
        if let Obj::List(l) = &mut *self.get_mut(r)? {
            l.extend(items);
        }
        Ok(())
    }

    /// Merge a borrowed mapping into a dict.
    pub fn dict_update(&mut self, d: Value, m: Value) -> PyResult<()> {
        let pairs = self.mapping_pairs(m)?;
        self.set_all(d, pairs)
    }

    /// `{**m}`: `m` must be a mapping (a dict, in Toy).
    pub fn display_update(&mut self, d: Value, m: Value) -> PyResult<()> {
        let Some(pairs) = self.dict_pairs(m)? else {
            let t = self.type_name(m);
            return Err(PyErr::type_error(format!("'{t}' object is not a mapping")));
        };
        self.set_all(d, pairs)
    }

    /// `f(**m)`: `m` must be a mapping whose keys are strs, none of them
    /// already among the call's keywords (`callee`, for the messages, is the
    /// function called: CPython names it as `_PyObject_FunctionStr` does).
    pub fn dict_merge(&mut self, d: Value, m: Value, callee: Value) -> PyResult<()> {
        let Some(pairs) = self.dict_pairs(m)? else {
            let f = self.function_str(callee);
            let t = self.type_name(m);
            return Err(PyErr::type_error(format!(
                "{f} argument after ** must be a mapping, not {t}"
            )));
        };
        for i in 0..pairs.len() {
            let k = pairs[i].0;
            let problem = match self.str_text(k) {
                None => Some("keywords must be strings".to_string()),
                Some(name) => match self.contains(d, k) {
                    Ok(false) => None,
                    Ok(true) => Some(format!(
                        "{} got multiple values for keyword argument '{}'",
                        self.function_str(callee),
                        &*name
                    )),
                    Err(e) => {
                        self.release_pairs(pairs);
                        return Err(e);
                    }
                },
            };
            if let Some(msg) = problem {
                self.release_pairs(pairs);
                return Err(PyErr::type_error(msg));
            }
        }
        self.set_all(d, pairs)
    }

    /// Store owned pairs into dict `d`; on an error the pairs not stored are
    /// released.
    fn set_all(&mut self, d: Value, pairs: Vec<(Value, Value)>) -> PyResult<()> {
        let mut rest = pairs.into_iter();
        while let Some((k, v)) = rest.next() {
            if let Err(e) = self.dict_set(d, k, v) {
                self.release_pairs(rest.collect());
                return Err(e);
            }
        }
        Ok(())
    }

    fn release_pairs(&mut self, pairs: Vec<(Value, Value)>) {
        for (k, v) in pairs {
            self.decref(k);
            self.decref(v);
        }
    }

    /// How CPython names a callable in a call's error messages
    /// (`_PyObject_FunctionStr`): `__main__.f()`, `__main__.C.m()`, `print()`.
    pub fn function_str(&mut self, f: Value) -> String {
        let Value::Obj(r) = f else {
            return format!("{} object", self.type_name(f));
        };
        enum Named {
            Done(String),
            Bound(Value),
            Other,
        }
        let named = match self.rt.heap.get(r).as_deref() {
            Ok(Obj::Function(func)) => Named::Done(format!("__main__.{}()", func.qualname)),
            Ok(Obj::Builtin(b)) => Named::Done(format!("{}()", super::builtins::builtin_name(b.0))),
            Ok(Obj::Class(k)) if &*k.module == "builtins" => Named::Done(format!("{}()", k.name)),
            Ok(Obj::Class(k)) => Named::Done(format!("{}.{}()", k.module, k.qualname)),
            Ok(Obj::BoundMethod { func, .. }) => Named::Bound(*func),
            _ => Named::Other,
        };
        match named {
            Named::Done(s) => s,
            Named::Bound(func) => self.function_str(func),
            Named::Other => format!("{} object", self.type_name(f)),
        }
    }

    /// The pairs of a dict (new references); None for anything else.
    fn dict_pairs(&mut self, m: Value) -> PyResult<Option<Vec<(Value, Value)>>> {
        let Value::Obj(r) = m else { return Ok(None) };
        let pairs: Option<Vec<(Value, Value)>> = match &*self.get(r)? {
            Obj::Dict(dd) => Some(dd.iter().collect()),
            _ => None,
        };
        if let Some(pairs) = &pairs {
            for &(k, v) in pairs {
                self.incref(k);
                self.incref(v);
            }
        }
        Ok(pairs)
    }

    /// (key, value) pairs of a dict (new references), or of an iterable of pairs.
    pub fn mapping_pairs(&mut self, m: Value) -> PyResult<Vec<(Value, Value)>> {
        if let Some(pairs) = self.dict_pairs(m)? {
            return Ok(pairs);
        }
        let items = self.collect_iterable(m)?;
        let mut out = Vec::with_capacity(items.len());
        let mut err = None;
        for (n, item) in items.iter().enumerate() {
            match self.collect_iterable(*item) {
                Ok(kv) if kv.len() == 2 => out.push((kv[0], kv[1])),
                Ok(kv) => {
                    let len = kv.len();
                    self.decref_all(kv);
                    err = Some(PyErr::value_error(format!(
                        "dictionary update sequence element #{n} has length {len}; 2 is required"
                    )));
                    break;
                }
                Err(_) => {
                    let t = self.type_name(*item);
                    err = Some(PyErr::type_error(format!(
                        "cannot convert dictionary update sequence element #{n} to a sequence"
                    )));
                    let _ = t;
                    break;
                }
            }
        }
        self.decref_all(items);
        if let Some(e) = err {
            for (k, v) in out {
                self.decref(k);
                self.decref(v);
            }
            return Err(e);
        }
        Ok(out)
    }

    /// Unpack `seq` onto the stack (first item on top). With `after`, the form
    /// `a, *b, c`: `before` items, a list, `after` items.
    pub fn unpack(&mut self, seq: Value, before: usize, after: Option<usize>) -> PyResult<()> {
        let items = self.collect_iterable(seq).map_err(|e| {
            if e.kind() == Some(ExcKind::TypeError) {
                let t = self.type_name(seq);
                PyErr::type_error(format!("cannot unpack non-iterable {t} object"))
            } else {
                e
            }
        })?;
        match after {
            None => {
                if items.len() != before {
                    let n = items.len();
                    self.decref_all(items);
                    return Err(PyErr::value_error(if n > before {
                        format!("too many values to unpack (expected {before})")
                    } else {
                        format!("not enough values to unpack (expected {before}, got {n})")
                    }));
                }
                self.stack.extend(items.into_iter().rev());
            }
            Some(after) => {
                if items.len() < before + after {
                    let n = items.len();
                    self.decref_all(items);
                    return Err(PyErr::value_error(format!(
                        "not enough values to unpack (expected at least {}, got {n})",
                        before + after
                    )));
                }
                let mut items = items;
                let tail: Vec<Value> = items.split_off(items.len() - after);
                let mid: Vec<Value> = items.split_off(before);
                let l = self.new_list(mid)?;
                for v in tail.into_iter().rev() {
                    self.stack.push(v);
                }
                self.stack.push(l);
                for v in items.into_iter().rev() {
                    self.stack.push(v);
                }
            }
        }
        Ok(())
    }

    /// Items of a tuple (borrowed copies; empty if not a tuple).
    pub fn tuple_items(&mut self, t: Value) -> PyResult<Vec<Value>> {
        let Value::Obj(r) = t else { return Ok(vec![]) };
        Ok(match &*self.get(r)? {
            Obj::Tuple(items) => items.to_vec(),
            Obj::List(items) => items.clone(),
            _ => vec![],
        })
    }

    /// The text of a str value, if it is one.
    pub fn str_value(&mut self, v: Value) -> Option<String> {
        self.str_text(v).map(|s| s.to_string())
    }

    pub fn str_text(&mut self, v: Value) -> Option<Text> {
        let Value::Obj(r) = v else { return None };
        match self.rt.heap.get(r).as_deref() {
            Ok(Obj::Str(s)) => Some(s.s.clone()),
            _ => None,
        }
    }

    pub fn new_str_text(&mut self, s: Text) -> PyResult<Value> {
        self.alloc_str(StrObj::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::list_slice;
    use crate::text::strings::slice_indices;

    #[test]
    fn list_slice_agrees_with_slice_indices() {
        // Every bound and step near the edges of small lists, and the
        // extremes of i64, where an overflow would show.
        let mut vals: Vec<Option<i64>> = (-12..=12).map(Some).collect();
        vals.extend([None, Some(i64::MIN), Some(i64::MAX), Some(i64::MIN + 1)]);
        for len in [0usize, 1, 2, 5, 9] {
            for &a in &vals {
                for &b in &vals {
                    for &c in &vals {
                        let want = slice_indices(len as i64, a, b, c)
                            .ok()
                            .map(|(st, _, step, n)| (st, step, n));
                        assert_eq!(list_slice(len, a, b, c), want, "{len} {a:?} {b:?} {c:?}");
                    }
                }
            }
        }
    }
}
