//! Methods of `dict` and `set`.

use super::{arity, def, Def, Owner};
use crate::bytecode::Sym;
use crate::heap::{Dict, Obj, ObjRef, TypeTag, Value, ViewKind};
use crate::vm::items::{DictHit, HeldKey};
use crate::vm::{ExcKind, PyErr, PyResult, Vm};

pub fn defs() -> Vec<Def> {
    let d = Owner::Method(TypeTag::Dict);
    let s = Owner::Method(TypeTag::Set);
    vec![
        def("get", d, get),
        def("keys", d, |vm, a, _| view(vm, a, ViewKind::Keys)),
        def("values", d, |vm, a, _| view(vm, a, ViewKind::Values)),
        def("items", d, |vm, a, _| view(vm, a, ViewKind::Items)),
        def("pop", d, pop),
        def("setdefault", d, setdefault),
        def("update", d, update),
        def("copy", d, |vm, a, _| copy(vm, a, Of::Dict)),
        def("clear", d, |vm, a, _| clear(vm, a, Of::Dict)),
        def("popitem", d, popitem),
        def("add", s, set_add),
        def("discard", s, |vm, a, _| set_remove(vm, a, false)),
        def("remove", s, |vm, a, _| set_remove(vm, a, true)),
        def("pop", s, set_pop),
        def("clear", s, |vm, a, _| clear(vm, a, Of::Set)),
        def("copy", s, |vm, a, _| copy(vm, a, Of::Set)),
        def("update", s, set_update),
        def("union", s, |vm, a, _| set_op(vm, a, 0)),
        def("intersection", s, |vm, a, _| set_op(vm, a, 1)),
        def("difference", s, |vm, a, _| set_op(vm, a, 2)),
        def("issubset", s, |vm, a, _| set_rel(vm, a, true)),
        def("issuperset", s, |vm, a, _| set_rel(vm, a, false)),
    ]
}

/// Which type a method of this module belongs to.
#[derive(Clone, Copy)]
enum Of {
    Dict,
    Set,
}

/// The receiver of a dict or set method, its kind read from the slot's hint
/// (see `lists::this`): a dict method refuses a set and a set method a dict,
/// with CPython's message.
fn this(vm: &mut Vm, args: &[Value], name: &str, of: Of) -> PyResult<ObjRef> {
    use crate::heap::{AUX_DICT, AUX_SET};
    let (want, type_name) = match of {
        Of::Dict => (AUX_DICT, "dict"),
        Of::Set => (AUX_SET, "set"),
    };
    if let Some(&Value::Obj(r)) = args.first() {
        let ok = match vm.rt.heap.aux(r) {
            Some(aux) => aux & 0xff == want,
            None => matches!(
                (&*vm.get(r)?, of),
                (Obj::Dict(_), Of::Dict) | (Obj::Set(_), Of::Set)
            ),
        };
        if ok {
            return Ok(r);
        }
    }
    Err(super::descriptor_error(vm, args, name, type_name))
}

fn get(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    // The common `d.get(k)` / `d.get(k, default)` locks the dict once; anything
    // else (a wrong receiver or argument count) goes the checked way for its error.
    // The arguments are read where they are, tag and payload apart: copied
    // whole, with one 16-byte load, they would wait for the two 8-byte stores
    // that `CallMethod` has just made of them (see `Vm::load_method`).
    let found = match args {
        // (`dict.get(s, s)`: the key's guard must not be the receiver's)
        [Value::Obj(r), k, ..] if args.len() <= 3 && !matches!(k, Value::Obj(o) if o == r) => {
            let r = *r;
            let (key, k) = match *k {
                Value::Obj(o) => (Value::Obj(o), vm.held_key(Value::Obj(o))),
                Value::Int(i) => (Value::Int(i), vm.held_key(Value::Int(i))),
                other => (other, vm.held_key(other)),
            };
            let g = vm.get(r)?;
            match (&*g, k) {
                (Obj::Dict(d), Ok(k)) => {
                    let found = d.get_entry(&vm.rt.heap, k.key_ref());
                    // A str or an int key: remembered for a store that follows
                    // (see `DictHit`).
                    let lasting = matches!(k, HeldKey::Str(..)) || matches!(key, Value::Int(_));
                    if let (Some((pos, stored, _)), true) = (found, lasting) {
                        vm.dict_hit = Some(DictHit {
                            dict: r,
                            key,
                            pos: pos as u32,
                            stored,
                        });
                    }
                    Some(found.map(|(_, _, v)| v))
                }
                (Obj::Dict(_), Err(e)) => return Err(e),
                _ => None,
            }
        }
        _ => None,
    };
    let v = match found {
        Some(v) => v,
        None => {
            let r = this(vm, args, "get", Of::Dict)?;
            arity("get", &args[1..], 1, 2)?;
            let k = vm.held_key(args[1])?;
            let v = match &*vm.get(r)? {
                Obj::Dict(d) => d.get_ref(&vm.rt.heap, k.key_ref()),
                _ => None,
            };
            v
        }
    };
    let v = v.unwrap_or(args.get(2).copied().unwrap_or(Value::None));
    vm.incref(v);
    Ok(v)
}

fn view(vm: &mut Vm, args: &[Value], kind: ViewKind) -> PyResult<Value> {
    let name = match kind {
        ViewKind::Keys => "keys",
        ViewKind::Values => "values",
        ViewKind::Items => "items",
    };
    this(vm, args, name, Of::Dict)?;
    vm.incref(args[0]);
    vm.alloc(Obj::DictView {
        dict: args[0],
        kind,
    })
}

fn pop(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let r = this(vm, args, "pop", Of::Dict)?;
    arity("pop", &args[1..], 1, 2)?;
    let k = vm.held_key(args[1])?;
    let old = match &mut *vm.get_mut(r)? {
        Obj::Dict(d) => d.remove_ref(&vm.rt.heap, k.key_ref()),
        _ => None,
    };
    drop(k);
    match old {
        Some((key, v)) => {
            vm.decref(key);
            Ok(v)
        }
        None => match args.get(2) {
            Some(&d) => {
                vm.incref(d);
                Ok(d)
            }
            None => Err(vm.key_error(args[1])),
        },
    }
}

fn setdefault(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let r = this(vm, args, "setdefault", Of::Dict)?;
    arity("setdefault", &args[1..], 1, 2)?;
    let k = vm.dict_key(args[1])?;
    let cur = match &*vm.get(r)? {
        Obj::Dict(d) => d.get(&vm.rt.heap, &k),
        _ => None,
    };
    if let Some(v) = cur {
        vm.incref(v);
        return Ok(v);
    }
    let d = args.get(2).copied().unwrap_or(Value::None);
    vm.incref(args[1]);
    vm.incref(d);
    vm.dict_set(args[0], args[1], d)?;
    vm.incref(d);
    Ok(d)
}

fn update(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    this(vm, args, "update", Of::Dict)?;
    arity("update", &args[1..], 0, 1)?;
    if let Some(&m) = args.get(1) {
        vm.dict_update(args[0], m)?;
    }
    for &(k, v) in kw {
        let key = vm.new_str(&crate::bytecode::sym_name(k))?;
        vm.incref(v);
        vm.dict_set(args[0], key, v)?;
    }
    Ok(Value::None)
}

fn copy(vm: &mut Vm, args: &[Value], of: Of) -> PyResult<Value> {
    let r = this(vm, args, "copy", of)?;
    let (d, is_set) = match &*vm.get(r)? {
        Obj::Dict(d) => (d.clone(), false),
        Obj::Set(d) => (d.clone(), true),
        _ => (Dict::new(), false),
    };
    for (k, v) in d.iter() {
        vm.incref(k);
        vm.incref(v);
    }
    vm.alloc(if is_set { Obj::Set(d) } else { Obj::Dict(d) })
}

fn clear(vm: &mut Vm, args: &[Value], of: Of) -> PyResult<Value> {
    let r = this(vm, args, "clear", of)?;
    let all = match &mut *vm.get_mut(r)? {
        Obj::Dict(d) | Obj::Set(d) => d.take_all(),
        _ => vec![],
    };
    for (k, v) in all {
        vm.decref(k);
        vm.decref(v);
    }
    Ok(Value::None)
}

fn popitem(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let r = this(vm, args, "popitem", Of::Dict)?;
    let last = match &mut *vm.get_mut(r)? {
        Obj::Dict(d) => d.pop_last(),
        _ => None,
    };
    match last {
        Some((k, v)) => vm.new_tuple(vec![k, v]),
        None => Err(PyErr::new(
            ExcKind::KeyError,
            "popitem(): dictionary is empty",
        )),
    }
}

fn set_add(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    this(vm, args, "add", Of::Set)?;
    arity("set.add", &args[1..], 1, 1)?;
    vm.set_add(args[0], args[1])?;
    Ok(Value::None)
}

fn set_remove(vm: &mut Vm, args: &[Value], must: bool) -> PyResult<Value> {
    let r = this(vm, args, if must { "remove" } else { "discard" }, Of::Set)?;
    arity("remove", &args[1..], 1, 1)?;
    let k = vm.dict_key(args[1])?;
    let old = match &mut *vm.get_mut(r)? {
        Obj::Set(d) => d.remove(&vm.rt.heap, &k),
        _ => None,
    };
    match old {
        Some((k, v)) => {
            vm.decref(k);
            vm.decref(v);
            Ok(Value::None)
        }
        None if must => Err(vm.key_error(args[1])),
        None => Ok(Value::None),
    }
}

fn set_pop(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let r = this(vm, args, "pop", Of::Set)?;
    let first = match &*vm.get(r)? {
        Obj::Set(d) => d.iter().next(),
        _ => None,
    };
    let Some((k, _)) = first else {
        return Err(PyErr::new(ExcKind::KeyError, "pop from an empty set"));
    };
    let key = vm.dict_key(k)?;
    let old = match &mut *vm.get_mut(r)? {
        Obj::Set(d) => d.remove(&vm.rt.heap, &key),
        _ => None,
    };
    Ok(old.map(|(k, _)| k).unwrap_or(Value::None))
}

fn set_update(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    this(vm, args, "update", Of::Set)?;
    for &other in &args[1..] {
        let items = vm.collect_iterable(other)?;
        for &i in &items {
            if let Err(e) = vm.set_add(args[0], i) {
                vm.decref_all(items);
                return Err(e);
            }
        }
        vm.decref_all(items);
    }
    Ok(Value::None)
}

/// 0 union, 1 intersection, 2 difference.
fn set_op(vm: &mut Vm, args: &[Value], op: u8) -> PyResult<Value> {
    let name = ["union", "intersection", "difference"]
        .get(op as usize)
        .copied()
        .unwrap_or("union");
    let r = this(vm, args, name, Of::Set)?;
    let mine: Vec<Value> = match &*vm.get(r)? {
        Obj::Set(d) => d.iter().map(|(k, _)| k).collect(),
        _ => vec![],
    };
    let out = vm.build_set(vec![])?;
    let mut others = Vec::new();
    for &o in &args[1..] {
        let items = vm.collect_iterable(o)?;
        let s = vm.build_set(items)?;
        others.push(s);
    }
    let res = (|| -> PyResult<()> {
        match op {
            0 => {
                for &k in &mine {
                    vm.set_add(out, k)?;
                }
                for &s in &others {
                    let items = vm.collect_iterable(s)?;
                    for &k in &items {
                        vm.set_add(out, k)?;
                    }
                    vm.decref_all(items);
                }
            }
            _ => {
                for &k in &mine {
                    let mut keep = true;
                    for &s in &others {
                        let inside = vm.contains(s, k)?;
                        if (op == 1 && !inside) || (op == 2 && inside) {
                            keep = false;
                        }
                    }
                    if keep {
                        vm.set_add(out, k)?;
                    }
                }
            }
        }
        Ok(())
    })();
    vm.decref_all(others);
    match res {
        Ok(()) => Ok(out),
        Err(e) => {
            vm.decref(out);
            Err(e)
        }
    }
}

fn set_rel(vm: &mut Vm, args: &[Value], subset: bool) -> PyResult<Value> {
    this(
        vm,
        args,
        if subset { "issubset" } else { "issuperset" },
        Of::Set,
    )?;
    arity("issubset", &args[1..], 1, 1)?;
    let items = vm.collect_iterable(args[1])?;
    let other = vm.build_set(items)?;
    let (a, b) = if subset {
        (args[0], other)
    } else {
        (other, args[0])
    };
    let keys = vm.collect_iterable(a)?;
    let mut all = true;
    for &k in &keys {
        if !vm.contains(b, k)? {
            all = false;
            break;
        }
    }
    vm.decref_all(keys);
    vm.decref(other);
    Ok(Value::Bool(all))
}
