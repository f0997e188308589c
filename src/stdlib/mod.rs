//! The built-in library modules a Toy program can import, one file each.
//!
//! A module is created the first time a program imports it (`create_module`) and
//! cached by the runtime. Its functions are ordinary built-ins (`Owner::Module`).

/// `NativeObject` for a type that holds no Toy references.
macro_rules! plain_native {
    ($t:ty, $k:expr) => {
        impl crate::heap::NativeObject for $t {
            fn kind(&self) -> u8 {
                $k
            }
            fn children(&self, _f: &mut dyn FnMut(crate::heap::Value)) {}
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
            fn into_any_arc(
                self: std::sync::Arc<Self>,
            ) -> std::sync::Arc<dyn std::any::Any + Send + Sync> {
                self
            }
        }
    };
}

pub mod aiohttp;
pub mod asyncio;
pub mod concurrent_futures;
pub mod queue;
pub mod requests;
pub mod sys;
pub mod threading;
pub mod time;
pub mod typing;

use crate::bytecode::{intern, Sym};
use crate::heap::{ModuleObj, Obj, Value};
use crate::vm::builtins::{table, Def, Owner};
use crate::vm::iter::{GenResult, Resume};
use crate::vm::{PyResult, Vm};

pub fn defs() -> Vec<Def> {
    let mut v = Vec::new();
    v.extend(time::defs());
    v.extend(sys::defs());
    v.extend(threading::defs());
    v.extend(queue::defs());
    v.extend(concurrent_futures::defs());
    v.extend(requests::defs());
    v.extend(asyncio::defs());
    v.extend(aiohttp::defs());
    v
}

/// Run `f` on the native object of type `T` inside `v` (a method's `self`).
pub fn native<T: 'static, R>(
    vm: &mut Vm,
    v: Option<Value>,
    f: impl FnOnce(&mut Vm, &T) -> R,
) -> PyResult<R> {
    let v = v.unwrap_or(Value::None);
    let arc = threading::native_arc(vm, v)?;
    match arc.as_any().downcast_ref::<T>() {
        Some(t) => Ok(f(vm, t)),
        None => {
            let t = vm.type_name(v);
            Err(crate::vm::PyErr::type_error(format!(
                "descriptor doesn't apply to a '{t}' object"
            )))
        }
    }
}

/// Calling a native class (`threading.Lock()`, `queue.Queue(3)`, ...).
pub fn construct_native(
    vm: &mut Vm,
    kind: u8,
    args: &[Value],
    kw: &[(Sym, Value)],
) -> PyResult<Value> {
    use crate::heap::native_kind as nk;
    match kind {
        nk::THREAD | nk::LOCK | nk::RLOCK | nk::EVENT | nk::SEMAPHORE => {
            threading::construct(vm, kind, args, kw)
        }
        nk::QUEUE => queue::construct(vm, args, kw),
        nk::EXECUTOR => concurrent_futures::construct(vm, args, kw),
        nk::SESSION => requests::new_session(vm),
        nk::ASYNC_SESSION => aiohttp::new_session(vm),
        nk::TASK
        | nk::EVENT_LOOP_FUTURE
        | nk::ASYNC_LOCK
        | nk::ASYNC_SEMAPHORE
        | nk::ASYNC_EVENT
        | nk::ASYNC_QUEUE => asyncio::construct(vm, kind, args, kw),
        _ => Err(crate::vm::PyErr::type_error(
            "cannot create instances of this type directly",
        )),
    }
}

/// Data attributes of native objects (`thread.name`, `response.text`, ...).
pub fn native_attr(vm: &mut Vm, obj: Value, name: Sym) -> PyResult<Option<Value>> {
    let n = threading::native_arc(vm, obj)?;
    if let Some(v) = threading::attr(vm, &n, name)? {
        return Ok(Some(v));
    }
    if let Some(v) = requests::attr(vm, &n, name)? {
        return Ok(Some(v));
    }
    aiohttp::attr(vm, &n, name)
}

/// `repr()` of native objects that have their own.
pub fn native_repr(vm: &mut Vm, v: Value) -> Option<String> {
    let n = threading::native_arc(vm, v).ok()?;
    if let Some(s) = aiohttp::repr(&n) {
        return Some(s);
    }
    asyncio::repr(vm, v, &n)
}

/// Raise `module.name(msg)` (an exception class the module defines).
pub fn module_error(vm: &mut Vm, module: &str, name: &str, msg: String) -> crate::vm::PyErr {
    use crate::vm::{ExcKind, PyErr};
    let m = match vm.import(intern(module)) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let class = vm.get_attr(m, intern(name));
    vm.decref(m);
    let class = match class {
        Ok(c) => c,
        Err(e) => return e,
    };
    let args = if msg.is_empty() {
        vec![]
    } else {
        match vm.new_string(msg) {
            Ok(m) => vec![m],
            Err(e) => {
                vm.decref(class);
                return e;
            }
        }
    };
    let r = vm.call_value(class, &args, &[]);
    vm.decref(class);
    vm.decref_all(args);
    match r {
        Ok(Value::Obj(e)) => PyErr::from_obj(e),
        Ok(_) => PyErr::new(ExcKind::RuntimeError, format!("{module}.{name}")),
        Err(e) => e,
    }
}

/// A class object of a native kind (borrowed), to put in a module.
fn class_of(vm: &mut Vm, kind: u8) -> (Sym, Value) {
    let c = Value::Obj(
        vm.rt
            .builtins
            .type_class(crate::heap::TypeTag::Native(kind)),
    );
    vm.incref(c);
    let name = vm.class_name(c.as_obj().unwrap_or(vm.rt.builtins.object));
    (intern(&name), c)
}

/// A new exception class `module.name` deriving from `base`.
fn exception_class(
    vm: &mut Vm,
    module: &str,
    name: &str,
    base: crate::vm::ExcKind,
) -> PyResult<Value> {
    let b = vm.rt.builtins.exc_class(base);
    exception_subclass(vm, module, name, b)
}

fn exception_subclass(
    vm: &mut Vm,
    module: &str,
    name: &str,
    b: crate::heap::ObjRef,
) -> PyResult<Value> {
    vm.incref(Value::Obj(b));
    vm.alloc(Obj::Class(Box::new(crate::heap::Class {
        name: name.into(),
        qualname: name.into(),
        base: Some(b),
        attrs: Default::default(),
        tag: Some(crate::heap::TypeTag::Exception),
        module: module.into(),
    })))
}

/// A new module object holding the built-ins registered for `name`, plus `extra`.
pub fn module_with(vm: &mut Vm, name: &str, extra: Vec<(Sym, Value)>) -> PyResult<Value> {
    let mut attrs = extra;
    for (i, d) in table().iter().enumerate() {
        if matches!(d.owner, Owner::Module(m) if m == name) {
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

/// Build module `name`, or None if there is no such built-in module.
pub fn create_module(vm: &mut Vm, name: &str) -> PyResult<Option<Value>> {
    Ok(Some(match name {
        "time" => module_with(vm, "time", vec![])?,
        "asyncio" => asyncio::create(vm)?,
        "aiohttp" => aiohttp::create(vm)?,
        "sys" => sys::create(vm)?,
        "typing" => typing::create(vm)?,
        "threading" => {
            use crate::heap::native_kind as nk;
            let mut attrs = Vec::new();
            for k in [nk::THREAD, nk::RLOCK, nk::EVENT, nk::SEMAPHORE] {
                attrs.push(class_of(vm, k));
            }
            let (_, lock) = class_of(vm, nk::LOCK);
            attrs.push((intern("Lock"), lock));
            let (_, sem) = class_of(vm, nk::SEMAPHORE);
            attrs.push((intern("BoundedSemaphore"), sem));
            module_with(vm, "threading", attrs)?
        }
        "queue" => {
            let q = class_of(vm, crate::heap::native_kind::QUEUE);
            let empty = exception_class(vm, "queue", "Empty", crate::vm::ExcKind::Exception)?;
            let full = exception_class(vm, "queue", "Full", crate::vm::ExcKind::Exception)?;
            module_with(
                vm,
                "queue",
                vec![q, (intern("Empty"), empty), (intern("Full"), full)],
            )?
        }
        "requests" | "requests.exceptions" => {
            let session = class_of(vm, crate::heap::native_kind::SESSION);
            let base = exception_class(
                vm,
                "requests.exceptions",
                "RequestException",
                crate::vm::ExcKind::OSError,
            )?;
            let Some(b) = base.as_obj() else {
                return Ok(None);
            };
            let mut attrs = vec![session, (intern("RequestException"), base)];
            for n in [
                "ConnectionError",
                "HTTPError",
                "Timeout",
                "InvalidURL",
                "MissingSchema",
                "InvalidSchema",
            ] {
                let c = exception_subclass(vm, "requests.exceptions", n, b)?;
                attrs.push((intern(n), c));
            }
            let exc_attrs: Vec<(Sym, Value)> = attrs[1..].to_vec();
            for &(_, v) in &exc_attrs {
                vm.incref(v);
            }
            let excs = module_with(vm, "requests.exceptions", exc_attrs)?;
            if name == "requests.exceptions" {
                vm.decref_all(attrs.into_iter().map(|(_, v)| v).collect());
                excs
            } else {
                attrs.push((intern("exceptions"), excs));
                module_with(vm, "requests", attrs)?
            }
        }
        "concurrent.futures" | "concurrent" => {
            use crate::heap::native_kind as nk;
            let ex = class_of(vm, nk::EXECUTOR);
            let fu = class_of(vm, nk::FUTURE);
            let te = Value::Obj(vm.rt.builtins.exc_class(crate::vm::ExcKind::TimeoutError));
            vm.incref(te);
            let futures = module_with(
                vm,
                "concurrent.futures",
                vec![ex, fu, (intern("TimeoutError"), te)],
            )?;
            if name == "concurrent" {
                module_with(vm, "concurrent", vec![(intern("futures"), futures)])?
            } else {
                futures
            }
        }
        _ => return Ok(None),
    }))
}

/// An awaitable for a native object (asyncio futures and the like), if any.
pub fn awaitable_of(vm: &mut Vm, v: Value) -> PyResult<Option<Value>> {
    let Ok(n) = threading::native_arc(vm, v) else {
        return Ok(None);
    };
    if n.kind() == crate::heap::native_kind::ASYNC_CTX {
        return aiohttp::await_ctx(vm, v).map(Some);
    }
    Ok(asyncio::awaitable_of(vm, v, &n))
}

/// `yield from` / `await` on a native object: how it answers a send, if it does.
pub fn delegate_native(vm: &mut Vm, sub: Value, sent: Value) -> PyResult<Option<GenResult>> {
    let Ok(n) = threading::native_arc(vm, sub) else {
        return Ok(None);
    };
    asyncio::delegate(vm, sub, &n, Resume::Send(sent)).transpose()
}

/// An exception thrown into a native object a coroutine is awaiting.
pub fn throw_native(vm: &mut Vm, sub: Value, e: crate::vm::PyErr) -> PyResult<GenResult> {
    let Ok(n) = threading::native_arc(vm, sub) else {
        return Err(e);
    };
    match asyncio::delegate(vm, sub, &n, Resume::Throw(e)) {
        Some(r) => r,
        None => Err(crate::vm::PyErr::type_error("object cannot be thrown into")),
    }
}
