//! Calling built-in types: `int(x)`, `str(x)`, `list(it)`, `dict(...)`, ...

use super::{arity, kwarg, only_kwargs};
use crate::bytecode::{sym_name, Sym};
use crate::heap::{Dict, Obj, ObjRef, StrObj, TypeTag, Value};
use crate::text;
use crate::vm::ops::Num;
use crate::vm::{PyErr, PyResult, Vm};

pub fn construct(
    vm: &mut Vm,
    class: ObjRef,
    tag: TypeTag,
    args: &[Value],
    kw: &[(Sym, Value)],
) -> PyResult<Value> {
    match tag {
        TypeTag::Int => int(vm, args, kw),
        TypeTag::Float => {
            arity("float", args, 0, 1)?;
            match args.first() {
                None => Ok(Value::Float(0.0)),
                Some(&v) => Ok(Value::Float(to_float(vm, v)?)),
            }
        }
        TypeTag::Bool => {
            arity("bool", args, 0, 1)?;
            match args.first() {
                None => Ok(Value::Bool(false)),
                Some(&v) => Ok(Value::Bool(vm.truthy(v)?)),
            }
        }
        TypeTag::Str => {
            only_kwargs("str", kw, &["object"])?;
            arity("str", args, 0, 1)?;
            match args.first().copied().or(kwarg(kw, "object")) {
                None => vm.new_str(""),
                Some(Value::Int(i)) => {
                    // The commonest case (`str(n)` in strings.py and dicts.py):
                    // digits written backwards into a buffer, without the
                    // formatting machinery (a third of the call's cost) and
                    // without an intermediate String. ASCII: as many characters
                    // as bytes.
                    let mut buf = [0u8; 20];
                    let at = int_digits(i, &mut buf);
                    let s = std::str::from_utf8(&buf[at..]).unwrap_or_default();
                    let n = s.len();
                    vm.alloc_str(StrObj::with_nchars(crate::heap::text(s), n))
                }
                Some(v) => vm.str_obj(v),
            }
        }
        TypeTag::List => {
            arity("list", args, 0, 1)?;
            let items = match args.first() {
                Some(&v) => vm.collect_iterable(v)?,
                None => vec![],
            };
            vm.new_list(items)
        }
        TypeTag::Tuple => {
            arity("tuple", args, 0, 1)?;
            let items = match args.first() {
                Some(&v) => {
                    if let Value::Obj(r) = v {
                        if matches!(&*vm.get(r)?, Obj::Tuple(_)) {
                            vm.incref(v);
                            return Ok(v);
                        }
                    }
                    vm.collect_iterable(v)?
                }
                None => vec![],
            };
            vm.new_tuple(items)
        }
        TypeTag::Dict => {
            arity("dict", args, 0, 1)?;
            let d = vm.alloc(Obj::Dict(Dict::new()))?;
            if let Some(&m) = args.first() {
                if let Err(e) = vm.dict_update(d, m) {
                    vm.decref(d);
                    return Err(e);
                }
            }
            for &(k, v) in kw {
                let key = vm.new_str(&sym_name(k))?;
                vm.incref(v);
                vm.dict_set(d, key, v)?;
            }
            Ok(d)
        }
        TypeTag::Set => {
            arity("set", args, 0, 1)?;
            let items = match args.first() {
                Some(&v) => vm.collect_iterable(v)?,
                None => vec![],
            };
            vm.build_set(items)
        }
        TypeTag::Range => {
            super::no_kwargs("range", kw)?;
            if args.is_empty() {
                return Err(PyErr::type_error(
                    "range expected at least 1 argument, got 0",
                ));
            }
            if args.len() > 3 {
                return Err(PyErr::type_error(format!(
                    "range expected at most 3 arguments, got {}",
                    args.len()
                )));
            }
            let mut n = [0i64; 3];
            for (i, &a) in args.iter().enumerate() {
                n[i] = vm.arg_int(a, "")?;
            }
            let (start, stop, step) = match args.len() {
                1 => (0, n[0], 1),
                2 => (n[0], n[1], 1),
                _ => (n[0], n[1], n[2]),
            };
            if step == 0 {
                return Err(PyErr::value_error("range() arg 3 must not be zero"));
            }
            vm.alloc(Obj::Range { start, stop, step })
        }
        TypeTag::Slice => {
            arity("slice", args, 1, 3)?;
            let (a, b, c) = match args.len() {
                1 => (Value::None, args[0], Value::None),
                2 => (args[0], args[1], Value::None),
                _ => (args[0], args[1], args[2]),
            };
            for v in [a, b, c] {
                vm.incref(v);
            }
            vm.alloc(Obj::Slice {
                start: a,
                stop: b,
                step: c,
            })
        }
        TypeTag::Type => {
            if args.len() == 1 {
                let t = vm.type_of(args[0])?;
                vm.incref(Value::Obj(t));
                return Ok(Value::Obj(t));
            }
            Err(PyErr::type_error(
                "type() with three arguments is not supported in Toy; use a class statement",
            ))
        }
        TypeTag::Object => {
            arity("object", args, 0, 0)?;
            vm.incref(Value::Obj(class));
            vm.alloc(Obj::Instance(crate::heap::Instance {
                class,
                attrs: vec![],
            }))
        }
        TypeTag::Native(kind) => crate::stdlib::construct_native(vm, kind, args, kw),
        _ => {
            let n = vm.class_name(class);
            Err(PyErr::type_error(format!("cannot create '{n}' instances")))
        }
    }
}

fn to_float(vm: &mut Vm, v: Value) -> PyResult<f64> {
    match vm.num_of(v)? {
        Some(Num::F(f)) => Ok(f),
        Some(Num::I(i)) => Ok(i as f64),
        Some(Num::B(b)) => Ok(text::int::bigint_to_f64(&b)?),
        None => match vm.str_text(v) {
            Some(s) => Ok(text::float::parse_float(&s)?),
            None => {
                let t = vm.type_name(v);
                Err(PyErr::type_error(format!(
                    "float() argument must be a string or a real number, not '{t}'"
                )))
            }
        },
    }
}

fn int(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    only_kwargs("int", kw, &["base"])?;
    arity("int", args, 0, 2)?;
    let base = args.get(1).copied().or(kwarg(kw, "base"));
    let Some(&v) = args.first() else {
        return Ok(Value::Int(0));
    };
    if let Some(b) = base {
        let b = vm.arg_int(b, "")?;
        let Some(s) = vm.str_text(v) else {
            return Err(PyErr::type_error(
                "int() can't convert non-string with explicit base",
            ));
        };
        if b != 0 && !(2..=36).contains(&b) {
            return Err(PyErr::value_error(
                "int() base must be >= 2 and <= 36, or 0",
            ));
        }
        return vm.new_int(text::int::parse_int(&s, b as u32)?);
    }
    match vm.num_of(v)? {
        Some(Num::I(i)) => Ok(Value::Int(i)),
        Some(Num::B(b)) => vm.new_int(b),
        Some(Num::F(f)) => {
            if f.is_finite() && f.abs() < 9.0e18 {
                Ok(Value::Int(f.trunc() as i64))
            } else {
                vm.new_int(text::float::float_to_int_checked(f)?)
            }
        }
        None => match vm.str_text(v) {
            Some(s) => vm.new_int(text::int::parse_int(&s, 10)?),
            None => {
                let t = vm.type_name(v);
                Err(PyErr::type_error(format!(
                    "int() argument must be a string, a bytes-like object or a real number, not '{t}'"
                )))
            }
        },
    }
}

/// The decimal digits of `i` at the end of `buf`, with a '-' before them if it
/// is negative; returns where they start. 20 bytes hold `i64::MIN`.
fn int_digits(i: i64, buf: &mut [u8; 20]) -> usize {
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    at
}

#[cfg(test)]
mod tests {
    use super::int_digits;

    #[test]
    fn int_digits_match_display() {
        for i in [
            0,
            7,
            -7,
            10,
            99,
            -100,
            4294967295,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut buf = [0u8; 20];
            let at = int_digits(i, &mut buf);
            assert_eq!(std::str::from_utf8(&buf[at..]), Ok(i.to_string().as_str()));
        }
    }
}
