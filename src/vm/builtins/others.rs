//! Methods of the remaining built-in types: numbers and generators.

use super::{arity, def, Def, Owner};
use crate::heap::{Obj, TypeTag, Value};
use crate::vm::iter::{GenResult, Resume};
use crate::vm::ops::Num;
use crate::vm::{ExcKind, PyErr, PyResult, Vm};

pub fn defs() -> Vec<Def> {
    vec![
        def("bit_length", Owner::Method(TypeTag::Int), |vm, a, _| {
            arity("bit_length", a, 1, 1)?;
            Ok(Value::Int(match vm.num_of(a[0])? {
                Some(Num::I(i)) => 64 - i.unsigned_abs().leading_zeros() as i64,
                Some(Num::B(b)) => b.bits() as i64,
                _ => 0,
            }))
        }),
        def("is_integer", Owner::Method(TypeTag::Float), |_, a, _| {
            arity("is_integer", a, 1, 1)?;
            Ok(Value::Bool(
                matches!(a[0], Value::Float(f) if f.is_finite() && f.fract() == 0.0),
            ))
        }),
        def("send", Owner::Method(TypeTag::Generator), send),
        def("send", Owner::Method(TypeTag::Coroutine), send),
        def("close", Owner::Method(TypeTag::Generator), close),
        def("close", Owner::Method(TypeTag::Coroutine), close),
        def("throw", Owner::Method(TypeTag::Generator), throw),
        def("throw", Owner::Method(TypeTag::Coroutine), throw),
    ]
}

fn send(vm: &mut Vm, args: &[Value], _kw: &[(crate::bytecode::Sym, Value)]) -> PyResult<Value> {
    arity("send", args, 2, 2)?;
    let Value::Obj(g) = args[0] else {
        return Err(PyErr::type_error("send() needs a generator"));
    };
    let r = vm.resume(g, args[1])?;
    finish_step(vm, r)
}

/// `gen.throw(exc)`: exc is an exception instance or class.
fn throw(vm: &mut Vm, args: &[Value], _kw: &[(crate::bytecode::Sym, Value)]) -> PyResult<Value> {
    arity("throw", args, 2, 4)?;
    let Value::Obj(g) = args[0] else {
        return Err(PyErr::type_error("throw() needs a generator"));
    };
    vm.incref(args[1]);
    let e = vm.make_exception(args[1]);
    let r = vm.resume_with(g, Resume::Throw(e))?;
    finish_step(vm, r)
}

/// A step's outcome as `send` and `throw` report it: the value yielded, or
/// StopIteration carrying the return value.
pub(crate) fn finish_step(vm: &mut Vm, r: GenResult) -> PyResult<Value> {
    match r {
        GenResult::Yielded(v) => Ok(v),
        GenResult::Returned(v) => {
            // StopIteration carries the return value
            let class = vm.rt.builtins.exc_class(ExcKind::StopIteration);
            vm.incref(Value::Obj(class));
            let args = if matches!(v, Value::None) {
                vec![]
            } else {
                vec![v]
            };
            let e = vm.alloc(Obj::Exception(Box::new(crate::heap::ExcObj {
                class,
                args,
                attrs: vec![],
                traceback: vec![],
                cause: Value::None,
                context: Value::None,
                suppress_context: false,
            })))?;
            match e {
                Value::Obj(r) => Err(PyErr::from_obj(r)),
                _ => Err(PyErr::new(ExcKind::StopIteration, "")),
            }
        }
    }
}

fn close(vm: &mut Vm, args: &[Value], _kw: &[(crate::bytecode::Sym, Value)]) -> PyResult<Value> {
    arity("close", args, 1, 1)?;
    if let Value::Obj(g) = args[0] {
        vm.close_generator(g)?;
    }
    Ok(Value::None)
}
