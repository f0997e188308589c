//! The built-in library modules a Toy program can import, one file each.
//!
//! A module is created the first time a program imports it (`create_module`) and
//! cached by the runtime. Its functions are ordinary built-ins (`Owner::Module`).

pub mod sys;
pub mod time;
pub mod typing;

use crate::bytecode::{intern, Sym};
use crate::heap::{ModuleObj, Obj, Value};
use crate::vm::builtins::{table, Def, Owner};
use crate::vm::iter::GenResult;
use crate::vm::{PyResult, Vm};

pub fn defs() -> Vec<Def> {
    let mut v = Vec::new();
    v.extend(time::defs());
    v.extend(sys::defs());
    v
}

/// A new module object holding the built-ins registered for `name`, plus `extra`.
pub fn module_with(vm: &mut Vm, name: &str, extra: Vec<(Sym, Value)>) -> PyResult<Value> {
    let mut attrs = extra;
    for (i, d) in table().iter().enumerate() {
        if d.owner == Owner::Module(module_key(name)) {
            if let Some(f) = vm.rt.builtins.function(i) {
                vm.incref(f);
                attrs.push((intern(d.name), f));
            }
        }
    }
    vm.alloc(Obj::Module(Box::new(ModuleObj {
        name: name.into(),
        attrs,
    })))
}

/// Module names as they appear in `Owner::Module` (static strings).
fn module_key(name: &str) -> &'static str {
    match name {
        "time" => "time",
        "sys" => "sys",
        _ => "",
    }
}

/// Build module `name`, or None if there is no such built-in module.
pub fn create_module(vm: &mut Vm, name: &str) -> PyResult<Option<Value>> {
    Ok(Some(match name {
        "time" => module_with(vm, "time", vec![])?,
        "sys" => sys::create(vm)?,
        "typing" => typing::create(vm)?,
        _ => return Ok(None),
    }))
}

/// An awaitable for a native object (asyncio futures and the like), if any.
pub fn awaitable_of(_vm: &mut Vm, _v: Value) -> PyResult<Option<Value>> {
    Ok(None)
}

/// `yield from` / `await` on a native object: how it answers a send, if it does.
pub fn delegate_native(_vm: &mut Vm, _sub: Value, _sent: Value) -> PyResult<Option<GenResult>> {
    Ok(None)
}
