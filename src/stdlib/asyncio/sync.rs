//! asyncio's synchronization primitives and queue: `Lock`, `Semaphore`, `Event`,
//! `Queue`, with the waiting discipline of CPython's `asyncio/locks.py` and
//! `asyncio/queues.py`: a waiter is a future in a FIFO list, woken by completing
//! it; a cancelled waiter passes its turn on to the next.
//!
//! These are not thread-safe in CPython either: they belong to one event loop.

use super::coro::{NativeCoro, Op, Step, Then};
use super::{cancel, complete, fut_of, new_future, FState};
use crate::bytecode::Sym;
use crate::heap::TypeTag;
use crate::heap::{native_kind as nk, NativeObject, Value};
use crate::vm::builtins::{arity, def, kwarg, only_kwargs, Def, Owner};
use crate::vm::{ExcKind, PyErr, PyResult, Vm};
use parking_lot::Mutex;
use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Debug, Default)]
struct PrimSt {
    /// Lock: 1 when held; Semaphore: permits left; Event: 1 when set.
    n: i64,
    /// Bounded semaphores remember their initial value.
    bound: Option<i64>,
    waiters: VecDeque<Value>,
}

/// `asyncio.Lock`, `asyncio.Semaphore` or `asyncio.Event` (by kind).
#[derive(Debug)]
pub struct Prim {
    kind: u8,
    st: Mutex<PrimSt>,
}

#[derive(Debug, Default)]
struct QueueSt {
    maxsize: i64,
    items: VecDeque<Value>,
    getters: VecDeque<Value>,
    putters: VecDeque<Value>,
    unfinished: i64,
    joiners: Vec<Value>,
}

/// `asyncio.Queue`.
#[derive(Debug)]
pub struct AQueue {
    st: Mutex<QueueSt>,
}

macro_rules! native_with_values {
    ($t:ty, $kind:expr, $vals:expr, $take:expr) => {
        impl NativeObject for $t {
            fn kind(&self) -> u8 {
                $kind(self)
            }
            fn children(&self, f: &mut dyn FnMut(Value)) {
                for v in $vals(self) {
                    f(v);
                }
            }
            fn take_children(&self) -> Vec<Value> {
                $take(self)
            }
            fn as_any(&self) -> &dyn Any {
                self
            }
            fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
                self
            }
        }
    };
}

native_with_values!(
    Prim,
    |p: &Prim| p.kind,
    |p: &Prim| p.st.lock().waiters.iter().copied().collect::<Vec<_>>(),
    |p: &Prim| p.st.lock().waiters.drain(..).collect()
);
native_with_values!(
    AQueue,
    |_: &AQueue| nk::ASYNC_QUEUE,
    |q: &AQueue| {
        let st = q.st.lock();
        let mut v: Vec<Value> = st.items.iter().copied().collect();
        v.extend(st.getters.iter().copied());
        v.extend(st.putters.iter().copied());
        v.extend(st.joiners.iter().copied());
        v
    },
    |q: &AQueue| {
        let mut st = q.st.lock();
        let mut v: Vec<Value> = st.items.drain(..).collect();
        v.extend(st.getters.drain(..));
        v.extend(st.putters.drain(..));
        v.append(&mut st.joiners);
        v
    }
);

fn prim_of(vm: &mut Vm, v: Value) -> PyResult<Arc<Prim>> {
    let n = super::native_arc(vm, v)?;
    super::downcast_arc::<Prim>(n).ok_or_else(|| PyErr::type_error("not an asyncio primitive"))
}

/// `prim_of` for an owned reference, released if it is not a primitive.
fn owned_prim(vm: &mut Vm, v: Value) -> PyResult<Arc<Prim>> {
    let r = prim_of(vm, v);
    if r.is_err() {
        vm.decref(v);
    }
    r
}

/// `queue_of` for an owned reference, released if it is not a queue.
fn owned_queue(vm: &mut Vm, v: Value) -> PyResult<Arc<AQueue>> {
    let r = queue_of(vm, v);
    if r.is_err() {
        vm.decref(v);
    }
    r
}

fn queue_of(vm: &mut Vm, v: Value) -> PyResult<Arc<AQueue>> {
    let n = super::native_arc(vm, v)?;
    super::downcast_arc::<AQueue>(n).ok_or_else(|| PyErr::type_error("not an asyncio.Queue"))
}

/// Complete the first waiter that is still pending (removing the ones passed
/// over), as `_wake_up_first` / `_wakeup_next`. Returns whether one was woken.
fn wake_first(vm: &mut Vm, waiters: &mut VecDeque<Value>, pop: bool) -> Vec<Value> {
    // Collect the futures to complete; complete them after the lock is released.
    let mut out = Vec::new();
    let mut i = 0;
    while i < waiters.len() {
        let w = waiters[i];
        if fut_of(vm, w).is_some_and(|f| !f.done()) {
            if pop {
                waiters.remove(i);
            } else {
                vm.incref(w);
            }
            out.push(w);
            break;
        }
        if pop {
            waiters.remove(i);
            vm.decref(w);
        } else {
            i += 1;
        }
    }
    out
}

fn resolve_all(vm: &mut Vm, futs: Vec<Value>, v: Value) {
    for f in futs {
        complete(vm, f, FState::Done, v);
        vm.decref(f);
    }
}

fn remove_waiter(waiters: &mut VecDeque<Value>, fut: Value) -> bool {
    match waiters
        .iter()
        .position(|&w| w.as_obj().is_some() && w.as_obj() == fut.as_obj())
    {
        Some(i) => {
            waiters.remove(i);
            true
        }
        None => false,
    }
}

/// Take the lock, or one of the semaphore's permits, if there is one free.
fn try_take(p: &Prim) -> bool {
    let mut st = p.st.lock();
    if p.kind == nk::ASYNC_LOCK {
        if st.n == 0 {
            st.n = 1;
            return true;
        }
    } else if st.n > 0 {
        st.n -= 1;
        return true;
    }
    false
}

/// A new future appended to `list` (one reference there, one returned).
fn enqueue_waiter(vm: &mut Vm, list: impl FnOnce(Value)) -> PyResult<Value> {
    let fut = new_future(vm)?;
    vm.incref(fut);
    list(fut);
    Ok(fut)
}

pub fn start(vm: &mut Vm, op: Op) -> PyResult<Step> {
    match op {
        Op::LockAcquire(lv) | Op::SemAcquire(lv) => {
            let p = owned_prim(vm, lv)?;
            let is_lock = p.kind == nk::ASYNC_LOCK;
            // As CPython's locks.py: a newcomer may take it only if no waiter
            // is still in line. A woken waiter (done, not cancelled) is in line
            // until it runs, so nobody can slip in between its wake-up and it.
            let waiting = p.st.lock().waiters.iter().copied().collect::<Vec<_>>();
            let in_line = waiting
                .iter()
                .any(|&w| fut_of(vm, w).is_some_and(|f| f.state() != FState::Cancelled));
            let free = !in_line && try_take(&p);
            if free {
                vm.decref(lv);
                return Ok(Step::Return(Value::Bool(true)));
            }
            let fut = enqueue_waiter(vm, |f| p.st.lock().waiters.push_back(f))?;
            let then = if is_lock {
                Then::Lock(lv)
            } else {
                Then::Sem(lv)
            };
            Ok(Step::Wait(fut, then))
        }
        Op::EventWait(ev) => {
            let p = owned_prim(vm, ev)?;
            if p.st.lock().n != 0 {
                vm.decref(ev);
                return Ok(Step::Return(Value::Bool(true)));
            }
            let fut = enqueue_waiter(vm, |f| p.st.lock().waiters.push_back(f))?;
            Ok(Step::Wait(fut, Then::Event(ev)))
        }
        Op::QueueGet(qv) => queue_get(vm, qv),
        Op::QueuePut(qv, item) => queue_put(vm, qv, item),
        Op::QueueJoin(qv) => {
            let q = owned_queue(vm, qv)?;
            if q.st.lock().unfinished == 0 {
                vm.decref(qv);
                return Ok(Step::Return(Value::None));
            }
            let fut = enqueue_waiter(vm, |f| q.st.lock().joiners.push(f))?;
            Ok(Step::Wait(fut, Then::QueueJoin(qv)))
        }
        other => {
            let _ = other;
            Err(PyErr::new(ExcKind::RuntimeError, "unknown coroutine"))
        }
    }
}

fn queue_get(vm: &mut Vm, qv: Value) -> PyResult<Step> {
    let q = owned_queue(vm, qv)?;
    if q.st.lock().items.is_empty() {
        let fut = enqueue_waiter(vm, |f| q.st.lock().getters.push_back(f))?;
        return Ok(Step::Wait(fut, Then::QueueGet(qv)));
    }
    let r = get_nowait(vm, &q);
    vm.decref(qv);
    r.map(Step::Return)
}

fn queue_put(vm: &mut Vm, qv: Value, item: Value) -> PyResult<Step> {
    let q = match queue_of(vm, qv) {
        Ok(q) => q,
        Err(e) => {
            vm.decref(qv);
            vm.decref(item);
            return Err(e);
        }
    };
    let full = {
        let st = q.st.lock();
        st.maxsize > 0 && st.items.len() as i64 >= st.maxsize
    };
    if full {
        let fut = enqueue_waiter(vm, |f| q.st.lock().putters.push_back(f))?;
        return Ok(Step::Wait(fut, Then::QueuePut(qv, item)));
    }
    put_nowait(vm, &q, item);
    vm.decref(qv);
    Ok(Step::Return(Value::None))
}

/// Take an item (the queue is not empty) and wake a putter.
fn get_nowait(vm: &mut Vm, q: &AQueue) -> PyResult<Value> {
    let item = q.st.lock().items.pop_front();
    let Some(item) = item else {
        return Err(super::super::module_error(
            vm,
            "asyncio",
            "QueueEmpty",
            String::new(),
        ));
    };
    let mut putters = std::mem::take(&mut q.st.lock().putters);
    let w = wake_first(vm, &mut putters, true);
    q.st.lock().putters = putters;
    resolve_all(vm, w, Value::None);
    Ok(item)
}

/// Add an item (owned; there is room) and wake a getter.
fn put_nowait(vm: &mut Vm, q: &AQueue, item: Value) {
    {
        let mut st = q.st.lock();
        st.items.push_back(item);
        st.unfinished += 1;
    }
    let mut getters = std::mem::take(&mut q.st.lock().getters);
    let w = wake_first(vm, &mut getters, true);
    q.st.lock().getters = getters;
    resolve_all(vm, w, Value::None);
}

/// The awaited waiter future `fut` (borrowed) is done.
pub fn resume(vm: &mut Vm, fut: Value, then: Then) -> PyResult<Step> {
    let was_cancelled = fut_of(vm, fut).is_some_and(|f| f.state() == FState::Cancelled);
    match then {
        Then::Lock(lv) | Then::Sem(lv) => {
            let p = owned_prim(vm, lv)?;
            let is_lock = p.kind == nk::ASYNC_LOCK;
            if remove_waiter(&mut p.st.lock().waiters, fut) {
                vm.decref(fut);
            }
            if was_cancelled {
                release_turn(vm, &p);
                vm.decref(lv);
                return Err(PyErr::new(ExcKind::CancelledError, ""));
            }
            let got = try_take(&p);
            if got {
                vm.decref(lv);
                return Ok(Step::Return(Value::Bool(true)));
            }
            // Its turn was taken after all (a permit went elsewhere): wait again.
            let fut = enqueue_waiter(vm, |f| p.st.lock().waiters.push_back(f))?;
            let then = if is_lock {
                Then::Lock(lv)
            } else {
                Then::Sem(lv)
            };
            Ok(Step::Wait(fut, then))
        }
        Then::Event(ev) => {
            if let Ok(p) = prim_of(vm, ev) {
                if remove_waiter(&mut p.st.lock().waiters, fut) {
                    vm.decref(fut);
                }
            }
            vm.decref(ev);
            if was_cancelled {
                return Err(PyErr::new(ExcKind::CancelledError, ""));
            }
            Ok(Step::Return(Value::Bool(true)))
        }
        Then::QueueGet(qv) => {
            if was_cancelled {
                abandon(vm, fut, Then::QueueGet(qv));
                return Err(PyErr::new(ExcKind::CancelledError, ""));
            }
            queue_get(vm, qv)
        }
        Then::QueuePut(qv, item) => {
            if was_cancelled {
                abandon(vm, fut, Then::QueuePut(qv, item));
                return Err(PyErr::new(ExcKind::CancelledError, ""));
            }
            queue_put(vm, qv, item)
        }
        Then::QueueJoin(qv) => {
            vm.decref(qv);
            if was_cancelled {
                return Err(PyErr::new(ExcKind::CancelledError, ""));
            }
            Ok(Step::Return(Value::None))
        }
        _ => Err(PyErr::new(ExcKind::RuntimeError, "unknown coroutine")),
    }
}

/// A lock or semaphore waiter gave up: if the primitive is free, the next
/// waiter's turn comes.
fn release_turn(vm: &mut Vm, p: &Prim) {
    let free = {
        let st = p.st.lock();
        if p.kind == nk::ASYNC_LOCK {
            st.n == 0
        } else {
            st.n > 0
        }
    };
    if free {
        let mut ws = std::mem::take(&mut p.st.lock().waiters);
        let w = wake_first(vm, &mut ws, false);
        let mut st = p.st.lock();
        let newer = std::mem::take(&mut st.waiters);
        st.waiters = ws;
        st.waiters.extend(newer);
        drop(st);
        resolve_all(vm, w, Value::Bool(true));
    }
}

/// An exception was thrown in while waiting on `fut` (borrowed).
pub fn abandon(vm: &mut Vm, fut: Value, then: Then) {
    cancel(vm, fut);
    match then {
        Then::Lock(lv) | Then::Sem(lv) => {
            if let Ok(p) = prim_of(vm, lv) {
                if remove_waiter(&mut p.st.lock().waiters, fut) {
                    vm.decref(fut);
                }
                release_turn(vm, &p);
            }
            vm.decref(lv);
        }
        Then::Event(ev) => {
            if let Ok(p) = prim_of(vm, ev) {
                if remove_waiter(&mut p.st.lock().waiters, fut) {
                    vm.decref(fut);
                }
            }
            vm.decref(ev);
        }
        Then::QueueGet(qv) => {
            if let Ok(q) = queue_of(vm, qv) {
                if remove_waiter(&mut q.st.lock().getters, fut) {
                    vm.decref(fut);
                }
                // Pass an available item on to the next getter.
                if !q.st.lock().items.is_empty() {
                    let mut g = std::mem::take(&mut q.st.lock().getters);
                    let w = wake_first(vm, &mut g, true);
                    q.st.lock().getters = g;
                    resolve_all(vm, w, Value::None);
                }
            }
            vm.decref(qv);
        }
        Then::QueuePut(qv, item) => {
            if let Ok(q) = queue_of(vm, qv) {
                if remove_waiter(&mut q.st.lock().putters, fut) {
                    vm.decref(fut);
                }
            }
            vm.decref(qv);
            vm.decref(item);
        }
        Then::QueueJoin(qv) => vm.decref(qv),
        other => {
            let _ = other;
        }
    }
}

fn self_coro(vm: &mut Vm, a: &[Value], name: &'static str, op: fn(Value) -> Op) -> PyResult<Value> {
    let v = a.first().copied().unwrap_or(Value::None);
    vm.incref(v);
    NativeCoro::new_value(vm, name, op(v))
}

fn release(vm: &mut Vm, a: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("release", a, 1, 1)?;
    let p = prim_of(vm, a[0])?;
    {
        let mut st = p.st.lock();
        if p.kind == nk::ASYNC_LOCK {
            if st.n == 0 {
                return Err(PyErr::new(ExcKind::RuntimeError, "Lock is not acquired."));
            }
            st.n = 0;
        } else {
            if st.bound.is_some_and(|b| st.n >= b) {
                return Err(PyErr::value_error(
                    "BoundedSemaphore released too many times",
                ));
            }
            st.n += 1;
        }
    }
    let mut ws = std::mem::take(&mut p.st.lock().waiters);
    let w = wake_first(vm, &mut ws, false);
    {
        let mut st = p.st.lock();
        let newer = std::mem::take(&mut st.waiters);
        st.waiters = ws;
        st.waiters.extend(newer);
    }
    resolve_all(vm, w, Value::Bool(true));
    Ok(Value::None)
}

pub fn defs() -> Vec<Def> {
    let mut v = Vec::new();
    for k in [nk::ASYNC_LOCK, nk::ASYNC_SEMAPHORE] {
        let o = Owner::Method(TypeTag::Native(k));
        let acquire: fn(Value) -> Op = if k == nk::ASYNC_LOCK {
            Op::LockAcquire
        } else {
            Op::SemAcquire
        };
        let _ = acquire;
        v.push(def("acquire", o, |vm, a, _| {
            arity("acquire", a, 1, 1)?;
            let p = prim_of(vm, a[0])?;
            if p.kind == nk::ASYNC_LOCK {
                self_coro(vm, a, "acquire", Op::LockAcquire)
            } else {
                self_coro(vm, a, "acquire", Op::SemAcquire)
            }
        }));
        v.push(def("__aenter__", o, |vm, a, _| {
            arity("__aenter__", a, 1, 1)?;
            let p = prim_of(vm, a[0])?;
            // `async with lock:` binds None, as CPython's __aenter__ returns None.
            let op = if p.kind == nk::ASYNC_LOCK {
                Op::LockAcquire
            } else {
                Op::SemAcquire
            };
            self_coro(vm, a, "__aenter__", op)
        }));
        v.push(def("release", o, release));
        v.push(def("__aexit__", o, |vm, a, kw| {
            release(vm, &a[..1.min(a.len())], kw)?;
            NativeCoro::new_value(vm, "__aexit__", Op::Ready(Value::None))
        }));
        v.push(def("locked", o, |vm, a, _| {
            arity("locked", a, 1, 1)?;
            let p = prim_of(vm, a[0])?;
            let st = p.st.lock();
            Ok(Value::Bool(if p.kind == nk::ASYNC_LOCK {
                st.n != 0
            } else {
                st.n == 0
            }))
        }));
    }
    let e = Owner::Method(TypeTag::Native(nk::ASYNC_EVENT));
    v.push(def("wait", e, |vm, a, _| {
        arity("wait", a, 1, 1)?;
        prim_of(vm, a[0])?;
        self_coro(vm, a, "wait", Op::EventWait)
    }));
    v.push(def("set", e, |vm, a, _| {
        arity("set", a, 1, 1)?;
        let p = prim_of(vm, a[0])?;
        let ws: Vec<Value> = {
            let mut st = p.st.lock();
            if st.n != 0 {
                return Ok(Value::None);
            }
            st.n = 1;
            st.waiters.iter().copied().collect()
        };
        for &w in &ws {
            vm.incref(w);
        }
        resolve_all(vm, ws, Value::Bool(true));
        Ok(Value::None)
    }));
    v.push(def("clear", e, |vm, a, _| {
        arity("clear", a, 1, 1)?;
        prim_of(vm, a[0])?.st.lock().n = 0;
        Ok(Value::None)
    }));
    v.push(def("is_set", e, |vm, a, _| {
        arity("is_set", a, 1, 1)?;
        Ok(Value::Bool(prim_of(vm, a[0])?.st.lock().n != 0))
    }));
    let q = Owner::Method(TypeTag::Native(nk::ASYNC_QUEUE));
    v.push(def("put", q, |vm, a, _| {
        arity("put", a, 2, 2)?;
        queue_of(vm, a[0])?;
        vm.incref(a[0]);
        vm.incref(a[1]);
        NativeCoro::new_value(vm, "put", Op::QueuePut(a[0], a[1]))
    }));
    v.push(def("get", q, |vm, a, _| {
        arity("get", a, 1, 1)?;
        queue_of(vm, a[0])?;
        self_coro(vm, a, "get", Op::QueueGet)
    }));
    v.push(def("join", q, |vm, a, _| {
        arity("join", a, 1, 1)?;
        queue_of(vm, a[0])?;
        self_coro(vm, a, "join", Op::QueueJoin)
    }));
    v.push(def("put_nowait", q, |vm, a, _| {
        arity("put_nowait", a, 2, 2)?;
        let qu = queue_of(vm, a[0])?;
        let full = {
            let st = qu.st.lock();
            st.maxsize > 0 && st.items.len() as i64 >= st.maxsize
        };
        if full {
            return Err(super::super::module_error(
                vm,
                "asyncio",
                "QueueFull",
                String::new(),
            ));
        }
        vm.incref(a[1]);
        put_nowait(vm, &qu, a[1]);
        Ok(Value::None)
    }));
    v.push(def("get_nowait", q, |vm, a, _| {
        arity("get_nowait", a, 1, 1)?;
        let qu = queue_of(vm, a[0])?;
        get_nowait(vm, &qu)
    }));
    v.push(def("task_done", q, |vm, a, _| {
        arity("task_done", a, 1, 1)?;
        let qu = queue_of(vm, a[0])?;
        let joiners = {
            let mut st = qu.st.lock();
            if st.unfinished <= 0 {
                return Err(PyErr::value_error("task_done() called too many times"));
            }
            st.unfinished -= 1;
            if st.unfinished == 0 {
                std::mem::take(&mut st.joiners)
            } else {
                vec![]
            }
        };
        resolve_all(vm, joiners, Value::None);
        Ok(Value::None)
    }));
    v.push(def("qsize", q, |vm, a, _| {
        arity("qsize", a, 1, 1)?;
        Ok(Value::Int(queue_of(vm, a[0])?.st.lock().items.len() as i64))
    }));
    v.push(def("empty", q, |vm, a, _| {
        arity("empty", a, 1, 1)?;
        Ok(Value::Bool(queue_of(vm, a[0])?.st.lock().items.is_empty()))
    }));
    v.push(def("full", q, |vm, a, _| {
        arity("full", a, 1, 1)?;
        let qu = queue_of(vm, a[0])?;
        let st = qu.st.lock();
        Ok(Value::Bool(
            st.maxsize > 0 && st.items.len() as i64 >= st.maxsize,
        ))
    }));
    v
}

/// `asyncio.Lock()`, `Semaphore(n)`, `Event()`, `Queue(maxsize)`.
pub fn construct(vm: &mut Vm, kind: u8, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    let prim = |n: i64, bound: Option<i64>| {
        Boxed(Arc::new(Prim {
            kind,
            st: Mutex::new(PrimSt {
                n,
                bound,
                waiters: VecDeque::new(),
            }),
        }))
    };
    let obj = match kind {
        nk::ASYNC_LOCK => {
            arity("Lock", args, 0, 0)?;
            prim(0, None)
        }
        nk::ASYNC_EVENT => {
            arity("Event", args, 0, 0)?;
            prim(0, None)
        }
        nk::ASYNC_SEMAPHORE => {
            arity("Semaphore", args, 0, 1)?;
            only_kwargs("Semaphore", kw, &["value"])?;
            let n = match args.first().copied().or(kwarg(kw, "value")) {
                None => 1,
                Some(Value::Int(n)) => n,
                Some(v) => {
                    let t = vm.type_name(v);
                    return Err(PyErr::type_error(format!(
                        "'<' not supported between instances of '{t}' and 'int'"
                    )));
                }
            };
            if n < 0 {
                return Err(PyErr::value_error("Semaphore initial value must be >= 0"));
            }
            prim(n, None)
        }
        nk::ASYNC_QUEUE => {
            arity("Queue", args, 0, 1)?;
            only_kwargs("Queue", kw, &["maxsize"])?;
            let maxsize = match args.first().copied().or(kwarg(kw, "maxsize")) {
                None => 0,
                Some(Value::Int(n)) => n,
                Some(v) => {
                    let t = vm.type_name(v);
                    return Err(PyErr::type_error(format!(
                        "'>' not supported between instances of '{t}' and 'int'"
                    )));
                }
            };
            Boxed(Arc::new(AQueue {
                st: Mutex::new(QueueSt {
                    maxsize,
                    ..Default::default()
                }),
            }))
        }
        _ => {
            return Err(PyErr::type_error(
                "cannot create instances of this type directly",
            ))
        }
    };
    vm.alloc(crate::heap::Obj::Native(obj.0))
}

struct Boxed(Arc<dyn NativeObject>);

/// Reprs: `<asyncio.locks.Lock object at 0x... [unlocked]>` and the like.
pub fn repr(_vm: &mut Vm, n: &Arc<dyn NativeObject>) -> Option<String> {
    if let Some(p) = n.as_any().downcast_ref::<Prim>() {
        let st = p.st.lock();
        let (name, state) = match p.kind {
            nk::ASYNC_LOCK => (
                "Lock",
                if st.n != 0 { "locked" } else { "unlocked" }.to_string(),
            ),
            nk::ASYNC_EVENT => ("Event", if st.n != 0 { "set" } else { "unset" }.to_string()),
            _ => (
                "Semaphore",
                if st.n == 0 {
                    "locked".to_string()
                } else {
                    format!("unlocked, value:{}", st.n)
                },
            ),
        };
        return Some(format!("<asyncio.locks.{name} object [{state}]>"));
    }
    if let Some(q) = n.as_any().downcast_ref::<AQueue>() {
        let st = q.st.lock();
        return Some(format!("<Queue maxsize={}>", st.maxsize));
    }
    None
}
