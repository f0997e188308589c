//! The `time` module: clocks and `sleep`.

use crate::heap::Value;
use crate::vm::builtins::{arity, def, Def, Owner};
use crate::vm::{PyErr, PyResult, Vm};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

pub fn defs() -> Vec<Def> {
    let m = Owner::Module("time");
    vec![
        def("time", m, |_, a, _| {
            arity("time", a, 0, 0)?;
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            Ok(Value::Float(t))
        }),
        def("perf_counter", m, |_, a, _| {
            arity("perf_counter", a, 0, 0)?;
            Ok(Value::Float(start().elapsed().as_secs_f64()))
        }),
        def("monotonic", m, |_, a, _| {
            arity("monotonic", a, 0, 0)?;
            Ok(Value::Float(start().elapsed().as_secs_f64()))
        }),
        def("sleep", m, sleep),
    ]
}

/// Seconds from a number argument, with CPython's errors.
pub fn seconds(vm: &mut Vm, v: Value) -> PyResult<f64> {
    let s = match v {
        Value::Int(i) => i as f64,
        Value::Float(f) => f,
        Value::Bool(b) => b as i64 as f64,
        _ => {
            let t = vm.type_name(v);
            return Err(PyErr::type_error(format!(
                "'{t}' object cannot be interpreted as an integer"
            )));
        }
    };
    if s.is_nan() {
        return Err(PyErr::value_error("Invalid value NaN (not a number)"));
    }
    if s < 0.0 {
        return Err(PyErr::value_error("sleep length must be non-negative"));
    }
    Ok(s)
}

fn sleep(vm: &mut Vm, args: &[Value], _kw: &[(crate::bytecode::Sym, Value)]) -> PyResult<Value> {
    arity("sleep", args, 1, 1)?;
    let s = seconds(vm, args[0])?;
    vm.blocking(|| std::thread::sleep(std::time::Duration::from_secs_f64(s.min(1e9))))?;
    Ok(Value::None)
}
