//! The global built-in functions: `print`, `len`, `sorted`, `min`, ... with
//! CPython's behaviour and messages.

use super::{arity, def, kwarg, no_kwargs, only_kwargs, Def, Owner};
use crate::bytecode::{sym, BinOpKind, CmpKind, Sym};
use crate::heap::{IterState, Obj, Value};
use crate::text;
use crate::vm::ops::Num;
use crate::vm::{ExcKind, PyErr, PyResult, Vm};
use num_bigint::BigInt;
use std::cmp::Ordering;

pub fn defs() -> Vec<Def> {
    use Owner::Global as G;
    vec![
        def("print", G, print),
        def("len", G, len),
        def("repr", G, repr),
        def("ascii", G, ascii),
        def("isinstance", G, isinstance),
        def("issubclass", G, issubclass),
        def("abs", G, abs),
        def("min", G, min),
        def("max", G, max),
        def("sum", G, sum),
        def("round", G, round),
        def("divmod", G, divmod),
        def("sorted", G, sorted),
        def("reversed", G, reversed),
        def("enumerate", G, enumerate),
        def("zip", G, zip),
        def("map", G, map),
        def("filter", G, filter),
        def("any", G, any),
        def("all", G, all),
        def("ord", G, ord),
        def("chr", G, chr),
        def("iter", G, iter),
        def("next", G, next),
        def("hasattr", G, hasattr),
        def("getattr", G, getattr),
        def("setattr", G, setattr),
        def("callable", G, callable),
        def("id", G, id),
        def("hash", G, hash),
        def("pow", G, pow),
        def("hex", G, hex),
        def("oct", G, oct),
        def("bin", G, bin),
        def("format", G, format),
        def("super", G, super_),
        def("input", G, input),
        def("vars", G, vars),
        def("__init__", Owner::Hidden, base_init),
    ]
}

fn print(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    only_kwargs("print", kw, &["sep", "end", "file", "flush"])?;
    let sep = match kwarg(kw, "sep") {
        Some(Value::None) | None => " ".to_string(),
        Some(v) => vm
            .str_value(v)
            .ok_or_else(|| PyErr::type_error("sep must be None or a string"))?,
    };
    let end = match kwarg(kw, "end") {
        Some(Value::None) | None => "\n".to_string(),
        Some(v) => vm
            .str_value(v)
            .ok_or_else(|| PyErr::type_error("end must be None or a string"))?,
    };
    let mut out = String::new();
    for (i, &a) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(&sep);
        }
        match a {
            Value::Obj(r) => {
                let g = vm.get(r)?;
                if let Obj::Str(s) = &*g {
                    out.push_str(&s.s);
                } else {
                    drop(g);
                    out.push_str(&vm.str_of(a)?);
                }
            }
            _ => out.push_str(&vm.str_of(a)?),
        }
    }
    out.push_str(&end);
    vm.write_out(&out)?;
    if let Some(f) = kwarg(kw, "flush") {
        if vm.truthy(f)? {
            vm.flush_out();
        }
    }
    Ok(Value::None)
}

pub fn len_of(vm: &mut Vm, v: Value) -> PyResult<i64> {
    if let Value::Obj(r) = v {
        let g = vm.get(r)?;
        let n = match &*g {
            Obj::Str(s) => Some(s.nchars),
            Obj::List(l) => Some(l.len()),
            Obj::Tuple(t) => Some(t.len()),
            Obj::Dict(d) | Obj::Set(d) => Some(d.len()),
            Obj::Range { start, stop, step } => {
                Some(crate::vm::ops::range_len(*start, *stop, *step) as usize)
            }
            Obj::DictView {
                dict: Value::Obj(d),
                ..
            } => {
                let d = *d;
                drop(g);
                return match &*vm.get(d)? {
                    Obj::Dict(dd) => Ok(dd.len() as i64),
                    _ => Ok(0),
                };
            }
            _ => None,
        };
        drop(g);
        if let Some(n) = n {
            return Ok(n as i64);
        }
        if let Some(x) = vm.call_dunder(v, sym::__len__, &[])? {
            let n = vm.arg_int(x, "");
            vm.decref(x);
            return n;
        }
    }
    let t = vm.type_name(v);
    Err(PyErr::type_error(format!(
        "object of type '{t}' has no len()"
    )))
}

fn len(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    no_kwargs("len", kw)?;
    arity("len", args, 1, 1)?;
    Ok(Value::Int(len_of(vm, args[0])?))
}

fn repr(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("repr", args, 1, 1)?;
    let s = vm.repr(args[0])?;
    vm.new_string(s)
}

fn ascii(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("ascii", args, 1, 1)?;
    let s = vm.repr(args[0])?;
    vm.new_string(crate::vm::convert::ascii_escape(&s))
}

fn class_arg(vm: &mut Vm, v: Value, fname: &str) -> PyResult<Vec<crate::heap::ObjRef>> {
    if let Value::Obj(r) = v {
        let g = vm.get(r)?;
        match &*g {
            Obj::Class(_) => return Ok(vec![r]),
            Obj::Tuple(items) => {
                let items = items.to_vec();
                drop(g);
                let mut out = Vec::new();
                for i in items {
                    out.extend(class_arg(vm, i, fname)?);
                }
                return Ok(out);
            }
            _ => {}
        }
    }
    Err(PyErr::type_error(format!(
        "{fname}() arg 2 must be a type, a tuple of types, or a union"
    )))
}

fn isinstance(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("isinstance", args, 2, 2)?;
    let classes = class_arg(vm, args[1], "isinstance")?;
    for c in classes {
        if vm.isinstance(args[0], c)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn issubclass(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("issubclass", args, 2, 2)?;
    let Value::Obj(c) = args[0] else {
        return Err(PyErr::type_error("issubclass() arg 1 must be a class"));
    };
    if !matches!(&*vm.get(c)?, Obj::Class(_)) {
        return Err(PyErr::type_error("issubclass() arg 1 must be a class"));
    }
    for t in class_arg(vm, args[1], "issubclass")? {
        if vm.is_subclass(c, t) {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn abs(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("abs", args, 1, 1)?;
    match vm.num_of(args[0])? {
        Some(Num::I(i)) => match i.checked_abs() {
            Some(a) => Ok(Value::Int(a)),
            None => vm.new_int(BigInt::from(i).magnitude().clone().into()),
        },
        Some(Num::B(b)) => vm.new_int(b.magnitude().clone().into()),
        Some(Num::F(f)) => Ok(Value::Float(f.abs())),
        None => match vm.call_dunder(args[0], crate::bytecode::intern("__abs__"), &[])? {
            Some(v) => Ok(v),
            None => {
                let t = vm.type_name(args[0]);
                Err(PyErr::type_error(format!(
                    "bad operand type for abs(): '{t}'"
                )))
            }
        },
    }
}

fn min_max(
    vm: &mut Vm,
    args: &[Value],
    kw: &[(Sym, Value)],
    name: &str,
    want: CmpKind,
) -> PyResult<Value> {
    only_kwargs(name, kw, &["key", "default"])?;
    let key = kwarg(kw, "key").filter(|k| !matches!(k, Value::None));
    let default = kwarg(kw, "default");
    if args.is_empty() {
        return Err(PyErr::type_error(format!(
            "{name} expected at least 1 argument, got 0"
        )));
    }
    let items = if args.len() == 1 {
        vm.collect_iterable(args[0])?
    } else {
        if default.is_some() {
            return Err(PyErr::type_error(format!(
                "Cannot specify a default for {name}() with multiple positional arguments"
            )));
        }
        for &a in args {
            vm.incref(a);
        }
        args.to_vec()
    };
    if items.is_empty() {
        return match default {
            Some(d) => {
                vm.incref(d);
                Ok(d)
            }
            None => Err(PyErr::value_error(format!(
                "{name}() arg is an empty sequence"
            ))),
        };
    }
    let mut best = items[0];
    let mut best_key = match key {
        Some(k) => vm.call_value(k, &[best], &[]),
        None => {
            vm.incref(best);
            Ok(best)
        }
    };
    let mut result = Ok(());
    if best_key.is_ok() {
        for &x in &items[1..] {
            let k = match key {
                Some(f) => match vm.call_value(f, &[x], &[]) {
                    Ok(k) => k,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                },
                None => {
                    vm.incref(x);
                    x
                }
            };
            let bk = *best_key.as_ref().unwrap_or(&Value::None);
            match vm.order(want, k, bk) {
                Ok(true) => {
                    best = x;
                    vm.decref(bk);
                    best_key = Ok(k);
                }
                Ok(false) => vm.decref(k),
                Err(e) => {
                    vm.decref(k);
                    result = Err(e);
                    break;
                }
            }
        }
    }
    vm.incref(best);
    if let Ok(k) = best_key {
        vm.decref(k);
    } else if let Err(e) = best_key {
        result = Err(e);
    }
    vm.decref_all(items);
    match result {
        Ok(()) => Ok(best),
        Err(e) => {
            vm.decref(best);
            Err(e)
        }
    }
}

fn min(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    min_max(vm, args, kw, "min", CmpKind::Lt)
}

fn max(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    min_max(vm, args, kw, "max", CmpKind::Gt)
}

fn sum(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    only_kwargs("sum", kw, &["start"])?;
    arity("sum", args, 1, 2)?;
    let start = args
        .get(1)
        .copied()
        .or(kwarg(kw, "start"))
        .unwrap_or(Value::Int(0));
    if let Some(s) = vm.str_value(start) {
        let _ = s;
        return Err(PyErr::type_error(
            "sum() can't sum strings [use ''.join(seq) instead]",
        ));
    }
    let items = vm.collect_iterable(args[0])?;
    vm.incref(start);
    let mut acc = start;
    let mut err = None;
    for &x in &items {
        let fast = match (acc, x) {
            (Value::Int(a), Value::Int(b)) => a.checked_add(b).map(Value::Int),
            (Value::Float(a), Value::Float(b)) => Some(Value::Float(a + b)),
            (Value::Float(a), Value::Int(b)) => Some(Value::Float(a + b as f64)),
            _ => None,
        };
        match fast {
            Some(v) => acc = v,
            None => match vm.binary_op(BinOpKind::Add, acc, x) {
                Ok(v) => {
                    vm.decref(acc);
                    acc = v;
                }
                Err(e) => {
                    err = Some(e);
                    break;
                }
            },
        }
    }
    vm.decref_all(items);
    match err {
        Some(e) => {
            vm.decref(acc);
            Err(e)
        }
        None => Ok(acc),
    }
}

fn round(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    only_kwargs("round", kw, &["ndigits"])?;
    arity("round", args, 1, 2)?;
    let nd = args
        .get(1)
        .copied()
        .or(kwarg(kw, "ndigits"))
        .unwrap_or(Value::None);
    match vm.num_of(args[0])? {
        Some(Num::F(f)) => match nd {
            Value::None => {
                if f.is_nan() {
                    return Err(PyErr::value_error("cannot convert float NaN to integer"));
                }
                if f.is_infinite() {
                    return Err(PyErr::new(
                        ExcKind::OverflowError,
                        "cannot convert float infinity to integer",
                    ));
                }
                let r = f.round_ties_even();
                vm.new_int(text::float::float_to_int_checked(r)?)
            }
            n => {
                let n = vm.arg_int(n, "")?;
                Ok(Value::Float(text::float::round_float(f, n)?))
            }
        },
        Some(Num::I(i)) => match nd {
            Value::None => Ok(Value::Int(i)),
            n => {
                let n = vm.arg_int(n, "")?;
                if n >= 0 {
                    return Ok(Value::Int(i));
                }
                round_int(vm, BigInt::from(i), n)
            }
        },
        Some(Num::B(b)) => match nd {
            Value::None => vm.new_int(b),
            n => {
                let n = vm.arg_int(n, "")?;
                if n >= 0 {
                    return vm.new_int(b);
                }
                round_int(vm, b, n)
            }
        },
        None => {
            let t = vm.type_name(args[0]);
            Err(PyErr::type_error(format!(
                "type {t} doesn't define __round__ method"
            )))
        }
    }
}

/// round(int, negative n): half to even at 10**-n.
fn round_int(vm: &mut Vm, b: BigInt, n: i64) -> PyResult<Value> {
    use num_integer::Integer;
    if -n > 4300 {
        return Ok(Value::Int(0));
    }
    let p = num_traits::Pow::pow(BigInt::from(10), (-n) as u32);
    let (q, r) = b.div_mod_floor(&p);
    let twice: BigInt = &r * 2;
    let q = match twice.cmp(&p) {
        Ordering::Greater => q + 1,
        Ordering::Less => q,
        Ordering::Equal => {
            if q.is_odd() {
                q + 1
            } else {
                q
            }
        }
    };
    vm.new_int(q * p)
}

fn divmod(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("divmod", args, 2, 2)?;
    let (a, b) = (args[0], args[1]);
    match (vm.num_of(a)?, vm.num_of(b)?) {
        (Some(Num::F(_)), Some(_)) | (Some(_), Some(Num::F(_))) => {
            let x = vm.num_of(a)?.map(|n| match n {
                Num::F(f) => Ok(f),
                Num::I(i) => Ok(i as f64),
                Num::B(b) => text::int::bigint_to_f64(&b),
            });
            let y = vm.num_of(b)?.map(|n| match n {
                Num::F(f) => Ok(f),
                Num::I(i) => Ok(i as f64),
                Num::B(b) => text::int::bigint_to_f64(&b),
            });
            let (Some(x), Some(y)) = (x, y) else {
                return Ok(Value::None);
            };
            let (q, r) = text::float::float_divmod(x?, y?)?;
            vm.new_tuple(vec![Value::Float(q), Value::Float(r)])
        }
        (Some(_), Some(_)) => {
            let q = vm.binary_op(BinOpKind::FloorDiv, a, b)?;
            let r = match vm.binary_op(BinOpKind::Mod, a, b) {
                Ok(r) => r,
                Err(e) => {
                    vm.decref(q);
                    return Err(e);
                }
            };
            vm.new_tuple(vec![q, r])
        }
        _ => {
            let (ta, tb) = (vm.type_name(a), vm.type_name(b));
            Err(PyErr::type_error(format!(
                "unsupported operand type(s) for divmod(): '{ta}' and '{tb}'"
            )))
        }
    }
}

/// A sort key converted to plain Rust data, so most sorts never call back into
/// the VM for comparisons.
#[derive(Clone, Debug)]
enum NativeKey {
    Int(i64),
    Float(f64),
    Str(crate::heap::Text),
    Tuple(Vec<NativeKey>),
}

fn native_cmp(a: &NativeKey, b: &NativeKey) -> Option<Ordering> {
    match (a, b) {
        (NativeKey::Int(x), NativeKey::Int(y)) => Some(x.cmp(y)),
        (NativeKey::Float(x), NativeKey::Float(y)) => x.partial_cmp(y),
        (NativeKey::Int(x), NativeKey::Float(y)) => (*x as f64).partial_cmp(y),
        (NativeKey::Float(x), NativeKey::Int(y)) => x.partial_cmp(&(*y as f64)),
        (NativeKey::Str(x), NativeKey::Str(y)) => Some(x.as_str().cmp(y.as_str())),
        (NativeKey::Tuple(x), NativeKey::Tuple(y)) => {
            for (p, q) in x.iter().zip(y) {
                match native_cmp(p, q)? {
                    Ordering::Equal => continue,
                    o => return Some(o),
                }
            }
            Some(x.len().cmp(&y.len()))
        }
        _ => None,
    }
}

fn to_native(vm: &mut Vm, v: Value, depth: u32) -> Option<NativeKey> {
    match v {
        Value::Int(i) => Some(NativeKey::Int(i)),
        Value::Bool(b) => Some(NativeKey::Int(b as i64)),
        Value::Float(f) if !f.is_nan() && f.abs() < 9.0e15 => Some(NativeKey::Float(f)),
        Value::Obj(r) if depth < 4 => {
            let g = vm.rt.heap.get(r).ok()?;
            match &*g {
                Obj::Str(s) => Some(NativeKey::Str(s.s.clone())),
                Obj::Tuple(items) => {
                    let items = items.to_vec();
                    drop(g);
                    let mut out = Vec::with_capacity(items.len());
                    for i in items {
                        out.push(to_native(vm, i, depth + 1)?);
                    }
                    Some(NativeKey::Tuple(out))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Sort `items` in place, stably, by `keys` (parallel to items) or by the items.
/// Python's `list.sort` semantics, including `reverse` keeping equal items in order.
pub fn sort_values(
    vm: &mut Vm,
    items: &mut [Value],
    keys: Option<&[Value]>,
    reverse: bool,
) -> PyResult<()> {
    let n = items.len();
    let keyvals: Vec<Value> = match keys {
        Some(k) => k.to_vec(),
        None => items.to_vec(),
    };
    let mut idx: Vec<usize> = (0..n).collect();
    if reverse {
        idx.reverse();
    }
    // Native fast path: every key converts and every pair compares.
    let mut natives = Vec::with_capacity(n);
    for &k in &keyvals {
        match to_native(vm, k, 0) {
            Some(nk) => natives.push(nk),
            None => break,
        }
    }
    if natives.len() == n {
        let mut ok = true;
        idx.sort_by(|&a, &b| match native_cmp(&natives[a], &natives[b]) {
            Some(o) => o,
            None => {
                ok = false;
                Ordering::Equal
            }
        });
        if ok {
            if reverse {
                idx.reverse();
            }
            let sorted: Vec<Value> = idx.iter().map(|&i| items[i]).collect();
            items.copy_from_slice(&sorted);
            return Ok(());
        }
        idx = (0..n).collect();
        if reverse {
            idx.reverse();
        }
    }
    // General path: a stable merge sort whose comparisons may fail.
    let mut buf = idx.clone();
    merge_sort(vm, &mut idx, &mut buf, &keyvals)?;
    if reverse {
        idx.reverse();
    }
    let sorted: Vec<Value> = idx.iter().map(|&i| items[i]).collect();
    items.copy_from_slice(&sorted);
    Ok(())
}

fn merge_sort(vm: &mut Vm, idx: &mut [usize], buf: &mut [usize], keys: &[Value]) -> PyResult<()> {
    let n = idx.len();
    let mut width = 1;
    while width < n {
        let mut i = 0;
        while i < n {
            let mid = (i + width).min(n);
            let hi = (i + 2 * width).min(n);
            let (mut a, mut b, mut k) = (i, mid, i);
            while a < mid && b < hi {
                // take from the right only if strictly less: stability
                if vm.order(CmpKind::Lt, keys[idx[b]], keys[idx[a]])? {
                    buf[k] = idx[b];
                    b += 1;
                } else {
                    buf[k] = idx[a];
                    a += 1;
                }
                k += 1;
            }
            while a < mid {
                buf[k] = idx[a];
                a += 1;
                k += 1;
            }
            while b < hi {
                buf[k] = idx[b];
                b += 1;
                k += 1;
            }
            i += 2 * width;
        }
        idx.copy_from_slice(buf);
        width *= 2;
    }
    Ok(())
}

/// The `key=` and `reverse=` arguments of sort and sorted.
pub fn sort_kwargs(
    vm: &mut Vm,
    kw: &[(Sym, Value)],
    fname: &str,
) -> PyResult<(Option<Value>, bool)> {
    only_kwargs(fname, kw, &["key", "reverse"])?;
    let key = kwarg(kw, "key").filter(|k| !matches!(k, Value::None));
    let reverse = match kwarg(kw, "reverse") {
        Some(r) => vm.truthy(r)?,
        None => false,
    };
    Ok((key, reverse))
}

/// Sort a vector of owned values with an optional key function.
pub fn sort_owned(
    vm: &mut Vm,
    items: &mut [Value],
    key: Option<Value>,
    reverse: bool,
) -> PyResult<()> {
    match key {
        None => sort_values(vm, items, None, reverse),
        Some(f) => {
            let mut keys = Vec::with_capacity(items.len());
            for &x in items.iter() {
                match vm.call_value(f, &[x], &[]) {
                    Ok(k) => keys.push(k),
                    Err(e) => {
                        vm.decref_all(keys);
                        return Err(e);
                    }
                }
            }
            let r = sort_values(vm, items, Some(&keys), reverse);
            vm.decref_all(keys);
            r
        }
    }
}

fn sorted(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    if args.len() != 1 {
        return Err(PyErr::type_error(format!(
            "sorted expected 1 argument, got {}",
            args.len()
        )));
    }
    let (key, reverse) = sort_kwargs(vm, kw, "sorted")?;
    let mut items = vm.collect_iterable(args[0])?;
    if let Err(e) = sort_owned(vm, &mut items, key, reverse) {
        vm.decref_all(items);
        return Err(e);
    }
    vm.new_list(items)
}

fn reversed(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("reversed", args, 1, 1)?;
    let v = args[0];
    if let Value::Obj(r) = v {
        let g = vm.get(r)?;
        match &*g {
            Obj::Range { start, stop, step } => {
                let (a, b, c) = (*start, *stop, *step);
                drop(g);
                let n = crate::vm::ops::range_len(a, b, c);
                let last = a + (n - 1) * c;
                return vm.alloc(Obj::Iter(IterState::Range {
                    next: last,
                    stop: a - c,
                    step: -c,
                }));
            }
            Obj::List(_) | Obj::Tuple(_) | Obj::Str(_) => {
                drop(g);
                let n = len_of(vm, v)? as usize;
                vm.incref(v);
                return vm.alloc(Obj::Iter(IterState::Reversed { seq: v, pos: n }));
            }
            Obj::Dict(_) => {
                drop(g);
                let mut keys = vm.collect_iterable(v)?;
                keys.reverse();
                return vm.alloc(Obj::Iter(IterState::Buffer {
                    items: keys,
                    pos: 0,
                }));
            }
            _ => {}
        }
    }
    let t = vm.type_name(v);
    Err(PyErr::type_error(format!("'{t}' object is not reversible")))
}

fn enumerate(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    only_kwargs("enumerate", kw, &["start"])?;
    arity("enumerate", args, 1, 2)?;
    let start = match args.get(1).copied().or(kwarg(kw, "start")) {
        Some(s) => vm.arg_int(s, "")?,
        None => 0,
    };
    let inner = vm.make_iter(args[0])?;
    vm.alloc(Obj::Iter(IterState::Enumerate {
        inner,
        count: start,
    }))
}

fn zip(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    no_kwargs("zip", kw)?;
    let mut inners = Vec::with_capacity(args.len());
    for (i, &a) in args.iter().enumerate() {
        match vm.make_iter(a) {
            Ok(it) => inners.push(it),
            Err(_) => {
                vm.decref_all(inners);
                let t = vm.type_name(a);
                return Err(PyErr::type_error(format!(
                    "zip argument #{} must support iteration",
                    i + 1
                ))
                .with_hint(t));
            }
        }
    }
    vm.alloc(Obj::Iter(IterState::Zip { inners }))
}

fn map(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    no_kwargs("map", kw)?;
    if args.len() < 2 {
        return Err(PyErr::type_error("map() must have at least two arguments."));
    }
    let mut inners = Vec::new();
    for &a in &args[1..] {
        match vm.make_iter(a) {
            Ok(it) => inners.push(it),
            Err(e) => {
                vm.decref_all(inners);
                return Err(e);
            }
        }
    }
    vm.incref(args[0]);
    vm.alloc(Obj::Iter(IterState::Map {
        func: args[0],
        inners,
    }))
}

fn filter(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    no_kwargs("filter", kw)?;
    arity("filter", args, 2, 2)?;
    let inner = vm.make_iter(args[1])?;
    vm.incref(args[0]);
    vm.alloc(Obj::Iter(IterState::Filter {
        func: args[0],
        inner,
    }))
}

fn any_all(vm: &mut Vm, args: &[Value], want: bool) -> PyResult<Value> {
    let it = vm.make_iter(args[0])?;
    loop {
        match vm.iter_next(it) {
            Ok(Some(x)) => {
                let t = vm.truthy(x);
                vm.decref(x);
                match t {
                    Ok(t) if t == want => {
                        vm.decref(it);
                        return Ok(Value::Bool(want));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        vm.decref(it);
                        return Err(e);
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                vm.decref(it);
                return Err(e);
            }
        }
    }
    vm.decref(it);
    Ok(Value::Bool(!want))
}

fn any(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("any", args, 1, 1)?;
    any_all(vm, args, true)
}

fn all(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("all", args, 1, 1)?;
    any_all(vm, args, false)
}

fn ord(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("ord", args, 1, 1)?;
    match vm.str_text(args[0]) {
        Some(s) => {
            let mut cs = s.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => Ok(Value::Int(c as i64)),
                _ => Err(PyErr::type_error(format!(
                    "ord() expected a character, but string of length {} found",
                    s.chars().count()
                ))),
            }
        }
        None => {
            let t = vm.type_name(args[0]);
            Err(PyErr::type_error(format!(
                "ord() expected string of length 1, but {t} found"
            )))
        }
    }
}

fn chr(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("chr", args, 1, 1)?;
    let i = vm.arg_int(args[0], "")?;
    match u32::try_from(i).ok().and_then(char::from_u32) {
        Some(c) => vm.new_string(c.to_string()),
        None if (0..0x110000).contains(&i) => Err(PyErr::value_error(
            "surrogate characters are not supported in Toy",
        )),
        None => Err(PyErr::value_error("chr() arg not in range(0x110000)")),
    }
}

fn iter(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("iter", args, 1, 1)?;
    vm.make_iter(args[0])
}

fn next(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("next", args, 1, 2)?;
    let (is_iter, is_gen) = match args[0] {
        Value::Obj(r) => match &*vm.get(r)? {
            Obj::Generator(g) => (!g.is_coroutine, true),
            Obj::Iter(_) | Obj::Instance(_) => (true, false),
            _ => (false, false),
        },
        _ => (false, false),
    };
    if let (true, Value::Obj(g), None) = (is_gen && is_iter, args[0], args.get(1)) {
        // A generator's return value travels in the StopIteration.
        let r = vm.resume(g, Value::None)?;
        return super::others::finish_step(vm, r);
    }
    if !is_iter {
        let t = vm.type_name(args[0]);
        return Err(PyErr::type_error(format!(
            "'{t}' object is not an iterator"
        )));
    }
    match vm.iter_next(args[0])? {
        Some(v) => Ok(v),
        None => match args.get(1) {
            Some(&d) => {
                vm.incref(d);
                Ok(d)
            }
            None => Err(PyErr::new(ExcKind::StopIteration, "")),
        },
    }
}

fn attr_name(vm: &mut Vm, v: Value, fname: &str) -> PyResult<Sym> {
    match vm.str_text(v) {
        Some(s) => Ok(crate::bytecode::intern(&s)),
        None => {
            let t = vm.type_name(v);
            Err(PyErr::type_error(format!(
                "{fname}(): attribute name must be string, not '{t}'"
            )))
        }
    }
}

fn hasattr(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("hasattr", args, 2, 2)?;
    let name = attr_name(vm, args[1], "hasattr")?;
    match vm.get_attr_opt(args[0], name)? {
        Some(v) => {
            vm.decref(v);
            Ok(Value::Bool(true))
        }
        None => Ok(Value::Bool(false)),
    }
}

fn getattr(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("getattr", args, 2, 3)?;
    let name = attr_name(vm, args[1], "getattr")?;
    match vm.get_attr(args[0], name) {
        Ok(v) => Ok(v),
        Err(e) => match args.get(2) {
            Some(&d) if vm.err_is(&e, ExcKind::AttributeError) => {
                let r = vm.materialize(e);
                vm.decref(Value::Obj(r));
                vm.incref(d);
                Ok(d)
            }
            _ => Err(e),
        },
    }
}

fn setattr(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("setattr", args, 3, 3)?;
    let name = attr_name(vm, args[1], "setattr")?;
    vm.incref(args[2]);
    vm.set_attr(args[0], name, args[2])?;
    Ok(Value::None)
}

fn callable(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("callable", args, 1, 1)?;
    let Value::Obj(r) = args[0] else {
        return Ok(Value::Bool(false));
    };
    let c = match &*vm.get(r)? {
        Obj::Function(_) | Obj::BoundMethod { .. } | Obj::Builtin(_) | Obj::Class(_) => true,
        Obj::Instance(_) => false,
        _ => false,
    };
    if !c {
        if let Some(_f) = vm.lookup_type_attr(args[0], sym::__call__)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(c))
}

fn id(_vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("id", args, 1, 1)?;
    Ok(Value::Int(match args[0] {
        Value::Obj(r) => 140_000_000_000 + (r.idx as i64) * 64,
        Value::Int(i) => 94_000_000_000 + i.wrapping_mul(32),
        Value::None => 94_000_000_000 - 64,
        Value::Bool(b) => 94_000_000_000 - 128 - b as i64 * 32,
        Value::Float(f) => (f.to_bits() >> 4) as i64,
        Value::Unbound => 0,
    }))
}

fn hash(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    use std::hash::{Hash, Hasher};
    arity("hash", args, 1, 1)?;
    let k = vm.dict_key(args[0])?;
    if let crate::heap::DictKey::Int(i) = k {
        // CPython: hash(i) == i for small ints, and hash(-1) == -2
        return Ok(Value::Int(if i == -1 { -2 } else { i % ((1 << 61) - 1) }));
    }
    let mut h = rustc_hash::FxHasher::default();
    k.hash(&mut h);
    Ok(Value::Int((h.finish() >> 2) as i64))
}

fn pow(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("pow", args, 2, 3)?;
    if let Some(&m) = args.get(2) {
        if !matches!(m, Value::None) {
            let (Some(a), Some(b), Some(c)) =
                (vm.num_of(args[0])?, vm.num_of(args[1])?, vm.num_of(m)?)
            else {
                return Err(PyErr::type_error("unsupported operand type(s) for pow()"));
            };
            let big = |n: Num| match n {
                Num::I(i) => Some(BigInt::from(i)),
                Num::B(b) => Some(b),
                Num::F(_) => None,
            };
            let (Some(a), Some(b), Some(c)) = (big(a), big(b), big(c)) else {
                return Err(PyErr::type_error(
                    "pow() 3rd argument not allowed unless all arguments are integers",
                ));
            };
            if c == BigInt::from(0) {
                return Err(PyErr::value_error("pow() 3rd argument cannot be 0"));
            }
            if b < BigInt::from(0) {
                return Err(PyErr::value_error(
                    "pow() negative exponent with modulus is not supported in Toy",
                ));
            }
            use num_integer::Integer;
            let r = a.modpow(&b, &c);
            let r = if r != BigInt::from(0) && (r < BigInt::from(0)) != (c < BigInt::from(0)) {
                r + &c
            } else {
                r
            };
            let _ = r.is_even();
            return vm.new_int(r);
        }
    }
    vm.binary_op(BinOpKind::Pow, args[0], args[1])
}

fn int_format(vm: &mut Vm, v: Value, spec: &str, fname: &str) -> PyResult<Value> {
    match vm.num_of(v)? {
        Some(Num::I(i)) => vm.new_string(text::format::format_int(&BigInt::from(i), spec)?),
        Some(Num::B(b)) => vm.new_string(text::format::format_int(&b, spec)?),
        _ => {
            let t = vm.type_name(v);
            let _ = fname;
            Err(PyErr::type_error(format!(
                "'{t}' object cannot be interpreted as an integer"
            )))
        }
    }
}

fn hex(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("hex", args, 1, 1)?;
    int_format(vm, args[0], "#x", "hex")
}

fn oct(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("oct", args, 1, 1)?;
    int_format(vm, args[0], "#o", "oct")
}

fn bin(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("bin", args, 1, 1)?;
    int_format(vm, args[0], "#b", "bin")
}

fn format(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("format", args, 1, 2)?;
    let spec = match args.get(1) {
        Some(&s) => vm.arg_str(s, "format() argument 2")?.to_string(),
        None => String::new(),
    };
    if spec.is_empty() {
        let s = vm.str_of(args[0])?;
        return vm.new_string(s);
    }
    let s = vm.format_with_spec(args[0], &spec)?;
    vm.new_string(s)
}

fn super_(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    if args.len() != 2 {
        return Err(PyErr::new(
            ExcKind::RuntimeError,
            "super(): no arguments (Toy supports super() inside methods and super(Class, obj))",
        ));
    }
    let Value::Obj(c) = args[0] else {
        return Err(PyErr::type_error("super() argument 1 must be a type"));
    };
    if !matches!(&*vm.get(c)?, Obj::Class(_)) {
        return Err(PyErr::type_error("super() argument 1 must be a type"));
    }
    vm.incref(args[0]);
    vm.incref(args[1]);
    vm.alloc(Obj::Super {
        class: c,
        obj: args[1],
    })
}

fn input(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("input", args, 0, 1)?;
    if let Some(&p) = args.first() {
        let s = vm.str_of(p)?;
        vm.write_out(&s)?;
    }
    vm.flush_out();
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) => Err(PyErr::new(ExcKind::EOFError, "EOF when reading a line")),
        Ok(_) => {
            if line.ends_with('\n') {
                line.pop();
                if line.ends_with('\r') {
                    line.pop();
                }
            }
            vm.new_string(line)
        }
        Err(e) => Err(PyErr::new(ExcKind::OSError, e.to_string())),
    }
}

fn vars(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("vars", args, 1, 1)?;
    let attrs = match args[0] {
        Value::Obj(r) => match &*vm.get(r)? {
            Obj::Instance(i) => Some(i.attrs.clone()),
            _ => None,
        },
        _ => None,
    };
    let Some(attrs) = attrs else {
        return Err(PyErr::type_error(
            "vars() argument must have __dict__ attribute",
        ));
    };
    let d = vm.alloc(Obj::Dict(crate::heap::Dict::new()))?;
    for (k, v) in attrs {
        let key = vm.new_str(&crate::bytecode::sym_name(k))?;
        vm.incref(v);
        vm.dict_set(d, key, v)?;
    }
    Ok(d)
}

/// `object.__init__` and `BaseException.__init__` (via `super().__init__(...)`).
fn base_init(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let Some(&this) = args.first() else {
        return Ok(Value::None);
    };
    if let Value::Obj(r) = this {
        let new_args: Vec<Value> = args[1..].to_vec();
        let is_exc = matches!(&*vm.get(r)?, Obj::Exception(_));
        if is_exc {
            for &a in &new_args {
                vm.incref(a);
            }
            let old = match &mut *vm.get_mut(r)? {
                Obj::Exception(e) => std::mem::replace(&mut e.args, new_args),
                _ => vec![],
            };
            vm.decref_all(old);
        } else if !new_args.is_empty() {
            return Err(PyErr::type_error(
                "object.__init__() takes exactly one argument (the instance to initialize)",
            ));
        }
    }
    Ok(Value::None)
}

trait Hint {
    fn with_hint(self, _t: String) -> Self;
}
impl Hint for PyErr {
    fn with_hint(self, _t: String) -> Self {
        self
    }
}
