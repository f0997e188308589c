//! `asyncio`: an event loop that runs coroutines on one OS thread.
//!
//! The loop follows CPython's `BaseEventLoop._run_once`: a FIFO of ready jobs, a
//! heap of timers, and when nothing is ready, a wait for the earliest timer (or
//! for a loopback fetch finishing on a helper thread) *without the GIL*, as
//! CPython's selector wait releases it. A `Task` drives one coroutine: each step
//! resumes it (`Vm::resume_with`) until it suspends on a future, and the future's
//! completion schedules the next step. Switching between tasks therefore happens
//! only at an `await` that really waits, never in the middle of a computation: a
//! coroutine that never awaits starves every other one.
//!
//! The loop state lives in a thread-local: a loop belongs to the thread that
//! called `asyncio.run`, and other threads can run loops of their own.
//!
//! Futures, tasks and the awaitables written in Rust (`sleep`, `wait_for`,
//! `Lock.acquire`, ...) are native objects; every Toy value they hold is an owned
//! reference reported by `children`, so the heap audit sees them.

pub mod coro;
mod event_loop;
mod future;
mod sync;

pub use event_loop::*;
pub use future::*;

pub use coro::NativeCoro;

use super::threading::{downcast_arc, native_arc};
use crate::bytecode::{intern, Sym};
use crate::heap::{native_kind as nk, NativeObject, Obj, TypeTag, Value};
use crate::vm::builtins::{arity, def, kwarg, only_kwargs, Def, Owner};
use crate::vm::iter::{GenResult, Resume};
use crate::vm::{ExcKind, PyErr, PyResult, Vm};
use coro::Op;
use parking_lot::{Condvar, Mutex};
use std::any::Any;
use std::cell::RefCell;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ the module

fn delay_arg(vm: &mut Vm, v: Value) -> PyResult<f64> {
    match v {
        Value::Int(i) => Ok(i as f64),
        Value::Float(f) if f.is_nan() => {
            Err(PyErr::value_error("Invalid delay: NaN (not a number)"))
        }
        Value::Float(f) => Ok(f),
        Value::Bool(b) => Ok(b as i64 as f64),
        _ => {
            let t = vm.type_name(v);
            Err(PyErr::type_error(format!(
                "'<=' not supported between instances of '{t}' and 'int'"
            )))
        }
    }
}

fn name_arg(vm: &mut Vm, v: Option<Value>) -> PyResult<Option<String>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(v) => Ok(Some(vm.str_of(v)?)),
    }
}

pub fn defs() -> Vec<Def> {
    let m = Owner::Module("asyncio");
    let mut v = vec![
        def("run", m, run),
        def("gather", m, gather),
        def("sleep", m, |vm, a, kw| {
            arity("sleep", a, 1, 2)?;
            only_kwargs("sleep", kw, &["result"])?;
            let delay = delay_arg(vm, a[0])?;
            let result = a
                .get(1)
                .copied()
                .or(kwarg(kw, "result"))
                .unwrap_or(Value::None);
            vm.incref(result);
            NativeCoro::new_value(vm, "sleep", Op::Sleep { delay, result })
        }),
        def("create_task", m, |vm, a, kw| {
            arity("create_task", a, 1, 1)?;
            only_kwargs("create_task", kw, &["name", "context"])?;
            if !is_coroutine(vm, a[0]) {
                let r = vm.repr(a[0])?;
                return Err(PyErr::type_error(format!(
                    "a coroutine was expected, got {r}"
                )));
            }
            let name = name_arg(vm, kwarg(kw, "name"))?;
            vm.incref(a[0]);
            create_task(vm, a[0], name)
        }),
        def("ensure_future", m, |vm, a, _| {
            arity("ensure_future", a, 1, 1)?;
            if !running() {
                return Err(no_loop());
            }
            ensure_future(vm, a[0])
        }),
        def("wait_for", m, |vm, a, kw| {
            arity("wait_for", a, 1, 2)?;
            only_kwargs("wait_for", kw, &["timeout"])?;
            let t = a
                .get(1)
                .copied()
                .or(kwarg(kw, "timeout"))
                .unwrap_or(Value::None);
            let timeout = match t {
                Value::None => None,
                v => Some(delay_arg(vm, v)?),
            };
            vm.incref(a[0]);
            NativeCoro::new_value(vm, "wait_for", Op::WaitFor { aw: a[0], timeout })
        }),
        def("current_task", m, |vm, a, _| {
            arity("current_task", a, 0, 1)?;
            let t = with_loop(|l| l.current).ok_or_else(no_loop)?;
            vm.incref(t);
            Ok(t)
        }),
        def("all_tasks", m, |vm, a, _| {
            arity("all_tasks", a, 0, 1)?;
            let tasks = with_loop(|l| l.tasks.clone()).ok_or_else(no_loop)?;
            let mut live = Vec::new();
            for t in tasks {
                if fut_of(vm, t).is_some_and(|f| !f.done()) {
                    vm.incref(t);
                    live.push(t);
                }
            }
            vm.build_set(live)
        }),
        def("get_running_loop", m, |vm, a, _| {
            arity("get_running_loop", a, 0, 0)?;
            if !running() {
                return Err(no_loop());
            }
            vm.alloc(Obj::Native(Arc::new(LoopHandle)))
        }),
        def("iscoroutine", m, |vm, a, _| {
            arity("iscoroutine", a, 1, 1)?;
            Ok(Value::Bool(is_coroutine(vm, a[0])))
        }),
        def("isfuture", m, |vm, a, _| {
            arity("isfuture", a, 1, 1)?;
            Ok(Value::Bool(fut_of(vm, a[0]).is_some()))
        }),
    ];
    let lp = Owner::Method(TypeTag::Native(nk::LOOP));
    v.push(def("time", lp, |_, a, _| {
        arity("time", a, 1, 1)?;
        Ok(Value::Float(loop_time()))
    }));
    v.push(def("create_future", lp, |vm, a, _| {
        arity("create_future", a, 1, 1)?;
        new_future(vm)
    }));
    v.push(def("create_task", lp, |vm, a, _| {
        arity("create_task", a, 2, 2)?;
        if !is_coroutine(vm, a[1]) {
            let r = vm.repr(a[1])?;
            return Err(PyErr::type_error(format!(
                "a coroutine was expected, got {r}"
            )));
        }
        vm.incref(a[1]);
        create_task(vm, a[1], None)
    }));
    for k in [nk::TASK, nk::EVENT_LOOP_FUTURE, nk::GATHERING_FUTURE] {
        let o = Owner::Method(TypeTag::Native(k));
        v.push(def("done", o, |vm, a, _| {
            let f = fut_arg(vm, a.first().copied())?;
            Ok(Value::Bool(f.done()))
        }));
        v.push(def("cancelled", o, |vm, a, _| {
            let f = fut_arg(vm, a.first().copied())?;
            Ok(Value::Bool(f.state() == FState::Cancelled))
        }));
        v.push(def("result", o, |vm, a, _| {
            arity("result", a, 1, 1)?;
            let f = fut_arg(vm, a.first().copied())?;
            outcome(vm, &f)
        }));
        v.push(def("exception", o, |vm, a, _| {
            arity("exception", a, 1, 1)?;
            let f = fut_arg(vm, a.first().copied())?;
            match f.state() {
                FState::Pending => Err(invalid_state(vm, "Exception is not set.")),
                FState::Cancelled => Err(PyErr::new(ExcKind::CancelledError, "")),
                FState::Done => Ok(Value::None),
                FState::Failed => {
                    let v = f.st.lock().value;
                    vm.incref(v);
                    Ok(v)
                }
            }
        }));
        v.push(def("cancel", o, |vm, a, kw| {
            arity("cancel", a, 1, 2)?;
            only_kwargs("cancel", kw, &["msg"])?;
            Ok(Value::Bool(cancel(vm, a[0])))
        }));
        v.push(def("add_done_callback", o, |vm, a, kw| {
            arity("add_done_callback", a, 2, 2)?;
            only_kwargs("add_done_callback", kw, &["context"])?;
            let f = fut_arg(vm, a.first().copied())?;
            vm.incref(a[1]);
            let done = {
                let mut st = f.st.lock();
                if st.state == FState::Pending {
                    st.callbacks.push(Callback::Call(a[1]));
                    false
                } else {
                    true
                }
            };
            if done {
                schedule_callbacks(vm, a[0], vec![Callback::Call(a[1])]);
            }
            Ok(Value::None)
        }));
        v.push(def("__await__", o, |vm, a, _| {
            arity("__await__", a, 1, 1)?;
            vm.incref(a[0]);
            Ok(a[0])
        }));
    }
    let t = Owner::Method(TypeTag::Native(nk::TASK));
    v.push(def("get_name", t, |vm, a, _| {
        let f = fut_arg(vm, a.first().copied())?;
        let n = f.st.lock().name.clone();
        vm.new_string(n)
    }));
    v.push(def("set_name", t, |vm, a, _| {
        arity("set_name", a, 2, 2)?;
        let f = fut_arg(vm, a.first().copied())?;
        let n = vm.str_of(a[1])?;
        f.st.lock().name = n;
        Ok(Value::None)
    }));
    v.push(def("get_coro", t, |vm, a, _| {
        let f = fut_arg(vm, a.first().copied())?;
        let c = f.st.lock().coro;
        vm.incref(c);
        Ok(c)
    }));
    let f = Owner::Method(TypeTag::Native(nk::EVENT_LOOP_FUTURE));
    v.push(def("set_result", f, |vm, a, _| {
        arity("set_result", a, 2, 2)?;
        let f = fut_arg(vm, a.first().copied())?;
        if f.done() {
            return Err(invalid_state(vm, "invalid state"));
        }
        vm.incref(a[1]);
        complete_fut(vm, &f, a[0], FState::Done, a[1]);
        Ok(Value::None)
    }));
    v.push(def("set_exception", f, |vm, a, _| {
        arity("set_exception", a, 2, 2)?;
        let f = fut_arg(vm, a.first().copied())?;
        if f.done() {
            return Err(invalid_state(vm, "invalid state"));
        }
        vm.incref(a[1]);
        let e = vm.make_exception(a[1]);
        let r = vm.materialize(e);
        complete_fut(vm, &f, a[0], FState::Failed, Value::Obj(r));
        Ok(Value::None)
    }));
    v.extend(sync::defs());
    v
}

/// What `asyncio.get_running_loop()` returns (the loop itself is thread-local).
#[derive(Debug)]
pub struct LoopHandle;

plain_native!(LoopHandle, nk::LOOP);

/// `asyncio.Future()`, `asyncio.Task(coro)`, `asyncio.Lock()`, ...
pub fn construct(vm: &mut Vm, kind: u8, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    match kind {
        nk::EVENT_LOOP_FUTURE => {
            arity("Future", args, 0, 0)?;
            new_future(vm)
        }
        nk::TASK => {
            arity("Task", args, 1, 1)?;
            only_kwargs("Task", kw, &["name", "loop", "context"])?;
            if !is_coroutine(vm, args[0]) {
                let r = vm.repr(args[0])?;
                return Err(PyErr::type_error(format!(
                    "a coroutine was expected, got {r}"
                )));
            }
            let name = name_arg(vm, kwarg(kw, "name"))?;
            vm.incref(args[0]);
            create_task(vm, args[0], name)
        }
        _ => sync::construct(vm, kind, args, kw),
    }
}

/// The module object.
pub fn create(vm: &mut Vm) -> PyResult<Value> {
    let mut attrs = Vec::new();
    for k in [nk::TASK, nk::EVENT_LOOP_FUTURE] {
        attrs.push(super::class_of(vm, k));
    }
    for (name, k) in [
        ("Lock", nk::ASYNC_LOCK),
        ("Semaphore", nk::ASYNC_SEMAPHORE),
        ("BoundedSemaphore", nk::ASYNC_SEMAPHORE),
        ("Event", nk::ASYNC_EVENT),
        ("Queue", nk::ASYNC_QUEUE),
    ] {
        let (_, c) = super::class_of(vm, k);
        attrs.push((intern(name), c));
    }
    for (name, kind) in [
        ("CancelledError", ExcKind::CancelledError),
        ("TimeoutError", ExcKind::TimeoutError),
    ] {
        let c = Value::Obj(vm.rt.builtins.exc_class(kind));
        vm.incref(c);
        attrs.push((intern(name), c));
    }
    for name in ["InvalidStateError", "QueueEmpty", "QueueFull"] {
        let c = super::exception_class(vm, "asyncio", name, ExcKind::Exception)?;
        attrs.push((intern(name), c));
    }
    super::module_with(vm, "asyncio", attrs)
}

/// `repr(task)` / `repr(future)`.
fn repr_fut(vm: &mut Vm, v: Value, f: &Fut) -> String {
    let (state, name, coro, value) = {
        let st = f.st.lock();
        (st.state, st.name.clone(), st.coro, st.value)
    };
    let state_s = match state {
        FState::Pending => "pending",
        FState::Cancelled => "cancelled",
        _ => "finished",
    };
    let mut out = if f.is_task {
        let c = match coro {
            Value::Obj(r) => match vm.rt.heap.get(r).as_deref() {
                Ok(Obj::Generator(g)) => format!("{}()", g.qualname),
                _ => "coroutine".into(),
            },
            _ => "?".into(),
        };
        format!("<Task {state_s} name='{name}' coro=<{c}>")
    } else {
        format!("<Future {state_s}")
    };
    match state {
        FState::Done => {
            let r = vm.repr(value).unwrap_or_default();
            out.push_str(&format!(" result={r}"));
        }
        FState::Failed => {
            let r = vm.repr(value).unwrap_or_default();
            out.push_str(&format!(" exception={r}"));
        }
        _ => {}
    }
    let _ = v;
    out.push('>');
    out
}

/// Reprs of asyncio's native objects.
pub fn repr(vm: &mut Vm, v: Value, n: &Arc<dyn NativeObject>) -> Option<String> {
    if let Some(f) = n.as_any().downcast_ref::<Fut>() {
        return Some(repr_fut(vm, v, f));
    }
    if let Some(c) = n.as_any().downcast_ref::<NativeCoro>() {
        let Value::Obj(r) = v else { return None };
        return Some(format!(
            "<coroutine object {} at {}>",
            c.name,
            crate::vm::convert::fake_addr(r)
        ));
    }
    sync::repr(vm, n)
}

/// `await x` for asyncio's native objects: the object that answers the sends.
pub fn awaitable_of(vm: &mut Vm, v: Value, n: &Arc<dyn NativeObject>) -> Option<Value> {
    let _ = n;
    if fut_of(vm, v).is_some() || matches!(n.kind(), nk::NATIVE_CORO) {
        vm.incref(v);
        return Some(v);
    }
    None
}

/// A send into a native awaitable (`yield from` / `await` delegating to it).
pub fn delegate(
    vm: &mut Vm,
    v: Value,
    n: &Arc<dyn NativeObject>,
    how: Resume,
) -> Option<PyResult<GenResult>> {
    if let Some(f) = n.as_any().downcast_ref::<Fut>() {
        return Some(match how {
            Resume::Send(_) => await_future(vm, v, f),
            Resume::Throw(e) => Err(e),
        });
    }
    let c = n.clone().into_any_arc().downcast::<NativeCoro>().ok()?;
    Some(c.step(vm, how))
}
