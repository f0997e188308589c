//! The `typing` module: enough for annotations to evaluate (`Tuple[int, str]`).
//! Toy ignores annotations, so every name is the class `object`, which can be
//! subscripted.

use crate::bytecode::intern;
use crate::heap::{ModuleObj, Obj, Value};
use crate::vm::{PyResult, Vm};

const NAMES: &[&str] = &[
    "Any",
    "Tuple",
    "List",
    "Dict",
    "Set",
    "Optional",
    "Union",
    "Callable",
    "Iterable",
    "Iterator",
    "Sequence",
    "Mapping",
    "Generator",
    "Awaitable",
    "Coroutine",
    "Type",
];

pub fn create(vm: &mut Vm) -> PyResult<Value> {
    let object = Value::Obj(vm.rt.builtins.object);
    let mut attrs = Vec::new();
    for n in NAMES {
        vm.incref(object);
        attrs.push((intern(n), object));
    }
    vm.alloc(Obj::Module(Box::new(ModuleObj {
        name: "typing".into(),
        attrs,
    })))
}
