//! The `sys` module: argv, reference counts, the recursion limit.

use crate::bytecode::intern;
use crate::heap::Value;
use crate::vm::builtins::{arity, def, Def, Owner};
use crate::vm::{PyErr, PyResult, Vm};
use std::sync::atomic::Ordering::Relaxed;

pub fn defs() -> Vec<Def> {
    let m = Owner::Module("sys");
    vec![
        def("getrefcount", m, |vm, a, _| {
            arity("getrefcount", a, 1, 1)?;
            Ok(Value::Int(match a[0] {
                Value::Obj(r) => vm.rt.heap.refcount(r),
                // Unboxed values have no count; CPython 3.11's small ints and
                // singletons report large numbers, and so does Toy.
                _ => 1_000_000,
            }))
        }),
        def("getrecursionlimit", m, |vm, a, _| {
            arity("getrecursionlimit", a, 0, 0)?;
            Ok(Value::Int(vm.rt.recursion_limit.load(Relaxed) as i64))
        }),
        def("setrecursionlimit", m, |vm, a, _| {
            arity("setrecursionlimit", a, 1, 1)?;
            let n = vm.arg_int(a[0], "")?;
            if n < 1 {
                return Err(PyErr::value_error(
                    "recursion limit must be greater or equal than 1",
                ));
            }
            let n = n.min(1_000_000) as u32;
            if (vm.frames.len() as u32) >= n {
                return Err(PyErr::new(
                    crate::vm::ExcKind::RecursionError,
                    format!(
                        "cannot set the recursion limit to {n} at the recursion depth {}: the limit is too low",
                        vm.frames.len()
                    ),
                ));
            }
            vm.rt.recursion_limit.store(n, Relaxed);
            Ok(Value::None)
        }),
        def("getswitchinterval", m, |vm, a, _| {
            arity("getswitchinterval", a, 0, 0)?;
            let s = crate::concurrency::threads::GilHooks::of(vm)
                .map(|h| h.gil.interval().as_secs_f64())
                .unwrap_or(0.005);
            Ok(Value::Float(s))
        }),
        def("setswitchinterval", m, |vm, a, _| {
            arity("setswitchinterval", a, 1, 1)?;
            let s = match a[0] {
                Value::Int(i) => i as f64,
                Value::Float(f) => f,
                v => {
                    let t = vm.type_name(v);
                    return Err(PyErr::type_error(format!("must be real number, not {t}")));
                }
            };
            if s.is_nan() || s <= 0.0 {
                return Err(PyErr::value_error(
                    "switch interval must be strictly positive",
                ));
            }
            if let Some(h) = crate::concurrency::threads::GilHooks::of(vm) {
                h.gil
                    .set_interval(std::time::Duration::from_secs_f64(s.min(1e6)));
            }
            Ok(Value::None)
        }),
        def("exit", m, |vm, a, _| {
            let code = a.first().copied().unwrap_or(Value::None);
            vm.exit_code = Some(match code {
                Value::None => 0,
                Value::Int(i) => i as i32,
                Value::Bool(b) => b as i32,
                v => {
                    let s = vm.str_of(v)?;
                    eprintln!("{s}");
                    1
                }
            });
            Err(PyErr::new(crate::vm::ExcKind::SystemExit, ""))
        }),
    ]
}

pub fn create(vm: &mut Vm) -> PyResult<Value> {
    let mut argv = Vec::new();
    for a in vm.rt.options.argv.clone() {
        argv.push(vm.new_string(a)?);
    }
    let argv = vm.new_list(argv)?;
    let maxsize = Value::Int(i64::MAX);
    let version = vm.new_str("3.11.0 (gilsim)")?;
    let platform = vm.new_str("gilsim")?;
    crate::stdlib::module_with(
        vm,
        "sys",
        vec![
            (intern("argv"), argv),
            (intern("maxsize"), maxsize),
            (intern("version"), version),
            (intern("platform"), platform),
        ],
    )
}
