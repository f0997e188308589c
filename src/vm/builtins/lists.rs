//! Methods of `list` and `tuple`.

use super::functions::{sort_kwargs, sort_owned};
use super::{arity, def, no_kwargs, Def, Owner};
use crate::bytecode::Sym;
use crate::heap::{Obj, ObjRef, TypeTag, Value};
use crate::vm::{PyErr, PyResult, Vm};

pub fn defs() -> Vec<Def> {
    let l = Owner::Method(TypeTag::List);
    let t = Owner::Method(TypeTag::Tuple);
    vec![
        def("append", l, append),
        def("pop", l, pop),
        def("extend", l, extend),
        def("insert", l, insert),
        def("remove", l, remove),
        def("index", l, |vm, a, _| index(vm, a, false)),
        def("count", l, |vm, a, _| count(vm, a, false)),
        def("sort", l, sort),
        def("reverse", l, reverse),
        def("copy", l, copy),
        def("clear", l, clear),
        def("index", t, |vm, a, _| index(vm, a, true)),
        def("count", t, |vm, a, _| count(vm, a, true)),
    ]
}

/// The receiver of a list method. Its kind is read from the slot's hint, not
/// under the object's lock, which the method itself takes next (a lock less
/// per `append`); a stale handle goes the locked way, which reports it.
fn this(vm: &mut Vm, args: &[Value], name: &str) -> PyResult<ObjRef> {
    this_of(vm, args, name, false)
}

/// The receiver of a method of `tuple` (when `tuple`) or of `list`, which
/// share `index` and `count`: each refuses the other's objects, as CPython's
/// descriptors do.
fn this_of(vm: &mut Vm, args: &[Value], name: &str, tuple: bool) -> PyResult<ObjRef> {
    use crate::heap::{AUX_LIST, AUX_TUPLE};
    if let Some(&Value::Obj(r)) = args.first() {
        let want = if tuple { AUX_TUPLE } else { AUX_LIST };
        let ok = match vm.rt.heap.aux(r) {
            Some(aux) => aux & 0xff == want,
            None => match &*vm.get(r)? {
                Obj::List(_) => !tuple,
                Obj::Tuple(_) => tuple,
                _ => false,
            },
        };
        if ok {
            return Ok(r);
        }
    }
    Err(super::descriptor_error(
        vm,
        args,
        name,
        if tuple { "tuple" } else { "list" },
    ))
}

fn append(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    no_kwargs("list.append", kw)?;
    this(vm, args, "append")?;
    arity("list.append", &args[1..], 1, 1)?;
    vm.incref(args[1]);
    vm.list_append(args[0], args[1])?;
    Ok(Value::None)
}

fn pop(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let r = this(vm, args, "pop")?;
    arity("pop", &args[1..], 0, 1)?;
    let i = match args.get(1) {
        Some(&v) => Some(vm.arg_int(v, "")?),
        None => None,
    };
    match &mut *vm.get_mut(r)? {
        Obj::List(items) => {
            if items.is_empty() {
                Err(PyErr::index_error("pop from empty list"))
            } else {
                let n = items.len() as i64;
                let j = match i {
                    None => n - 1,
                    Some(i) if i < 0 => i + n,
                    Some(i) => i,
                };
                if j < 0 || j >= n {
                    Err(PyErr::index_error("pop index out of range"))
                } else if j == n - 1 {
                    Ok(items.pop().unwrap_or(Value::None))
                } else {
                    Ok(items.remove(j as usize))
                }
            }
        }
        _ => Err(PyErr::type_error("pop needs a list")),
    }
}

fn extend(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    this(vm, args, "extend")?;
    arity("list.extend", &args[1..], 1, 1)?;
    vm.list_extend(args[0], args[1])?;
    Ok(Value::None)
}

fn insert(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let r = this(vm, args, "insert")?;
    arity("insert", &args[1..], 2, 2)?;
    let i = vm.arg_int(args[1], "")?;
    let v = args[2];
    vm.incref(v);
    if let Obj::List(items) = &mut *vm.get_mut(r)? {
        let n = items.len() as i64;
        let j = if i < 0 { (i + n).max(0) } else { i.min(n) };
        items.insert(j as usize, v);
    }
    vm.rt.heap.charge(16).map_err(|e| vm.heap_error(e))?;
    Ok(Value::None)
}

fn position(
    vm: &mut Vm,
    r: ObjRef,
    x: Value,
    start: usize,
    stop: usize,
) -> PyResult<Option<usize>> {
    let items = match &*vm.get(r)? {
        Obj::List(items) => items.clone(),
        Obj::Tuple(items) => items.to_vec(),
        _ => vec![],
    };
    for (i, &v) in items.iter().enumerate().take(stop).skip(start) {
        if vm.eq(v, x)? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn remove(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let r = this(vm, args, "remove")?;
    arity("list.remove", &args[1..], 1, 1)?;
    match position(vm, r, args[1], 0, usize::MAX)? {
        Some(i) => {
            let old = match &mut *vm.get_mut(r)? {
                Obj::List(items) if i < items.len() => Some(items.remove(i)),
                _ => None,
            };
            if let Some(o) = old {
                vm.decref(o);
            }
            Ok(Value::None)
        }
        None => Err(PyErr::value_error("list.remove(x): x not in list")),
    }
}

fn index(vm: &mut Vm, args: &[Value], tuple: bool) -> PyResult<Value> {
    let r = this_of(vm, args, "index", tuple)?;
    arity("index", &args[1..], 1, 3)?;
    let is_tuple = matches!(&*vm.get(r)?, Obj::Tuple(_));
    let len = super::functions::len_of(vm, args[0])?;
    let norm = |i: i64| -> usize {
        if i < 0 {
            (i + len).max(0) as usize
        } else {
            i.min(len) as usize
        }
    };
    let start = match args.get(2) {
        Some(&v) => norm(vm.arg_int(v, "")?),
        None => 0,
    };
    let stop = match args.get(3) {
        Some(&v) => norm(vm.arg_int(v, "")?),
        None => len as usize,
    };
    match position(vm, r, args[1], start, stop)? {
        Some(i) => Ok(Value::Int(i as i64)),
        None => Err(PyErr::value_error(if is_tuple {
            "tuple.index(x): x not in tuple".to_string()
        } else {
            let rep = vm.repr(args[1])?;
            format!("{rep} is not in list")
        })),
    }
}

fn count(vm: &mut Vm, args: &[Value], tuple: bool) -> PyResult<Value> {
    let r = this_of(vm, args, "count", tuple)?;
    arity("count", &args[1..], 1, 1)?;
    let items = match &*vm.get(r)? {
        Obj::List(items) => items.clone(),
        Obj::Tuple(items) => items.to_vec(),
        _ => vec![],
    };
    let mut n = 0;
    for v in items {
        if vm.eq(v, args[1])? {
            n += 1;
        }
    }
    Ok(Value::Int(n))
}

fn sort(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    let r = this(vm, args, "sort")?;
    arity("sort", &args[1..], 0, 0)?;
    let (key, reverse) = sort_kwargs(vm, kw, "sort")?;
    // Sort a private copy (as CPython empties the list while sorting), then put
    // the result back.
    let mut items = match &mut *vm.get_mut(r)? {
        Obj::List(items) => std::mem::take(items),
        _ => vec![],
    };
    let res = sort_owned(vm, &mut items, key, reverse);
    let leftovers = match &mut *vm.get_mut(r)? {
        Obj::List(l) => std::mem::replace(l, items),
        _ => items,
    };
    // Items added while the sort ran are dropped, and the sort fails, as in
    // CPython (which sees that the emptied list was given new storage).
    let modified = !leftovers.is_empty();
    vm.decref_all(leftovers);
    res?;
    if modified {
        return Err(PyErr::new(
            crate::vm::ExcKind::ValueError,
            "list modified during sort",
        ));
    }
    Ok(Value::None)
}

fn reverse(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let r = this(vm, args, "reverse")?;
    if let Obj::List(items) = &mut *vm.get_mut(r)? {
        items.reverse();
    }
    Ok(Value::None)
}

fn copy(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let r = this(vm, args, "copy")?;
    let items = match &*vm.get(r)? {
        Obj::List(items) => items.clone(),
        _ => vec![],
    };
    for &v in &items {
        vm.incref(v);
    }
    vm.new_list(items)
}

fn clear(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let r = this(vm, args, "clear")?;
    let items = match &mut *vm.get_mut(r)? {
        Obj::List(items) => std::mem::take(items),
        _ => vec![],
    };
    vm.decref_all(items);
    Ok(Value::None)
}
