//! The `threading` module: `Thread`, `Lock`, `RLock`, `Event`, `Semaphore`,
//! `current_thread`, `get_ident`, `active_count`, with Python's API.
//!
//! Every call that may wait (joining, acquiring a held lock, waiting for an event)
//! waits through `Vm::blocking`, which releases the GIL meanwhile, as CPython's
//! C implementations do with `Py_BEGIN_ALLOW_THREADS`.

use super::native;
use crate::bytecode::{intern, sym, Sym};
use crate::concurrency::threads::{GilHooks, ThreadHandle};
use crate::heap::{native_kind as nk, NativeObject, Obj, TypeTag, Value};
use crate::vm::builtins::{arity, def, kwarg, only_kwargs, Def, Owner};
use crate::vm::{ExcKind, PyErr, PyResult, Vm};
use parking_lot::{Condvar, Mutex};
use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A lock, re-entrant or not; also the state of `Semaphore` (count) and `Event`.
#[derive(Debug)]
pub struct SimLock {
    kind: u8,
    st: Mutex<LockState>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct LockState {
    /// Lock: 1 when held; RLock: recursion depth; Semaphore: permits left;
    /// Event: 1 when set.
    n: i64,
    owner: u64,
}

impl NativeObject for SimLock {
    fn kind(&self) -> u8 {
        self.kind
    }
    fn children(&self, _f: &mut dyn FnMut(Value)) {}
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl SimLock {
    pub fn new(kind: u8, n: i64) -> SimLock {
        SimLock {
            kind,
            st: Mutex::new(LockState { n, owner: 0 }),
            cond: Condvar::new(),
        }
    }

    /// Try to take it for thread `me` right now.
    fn try_take(&self, st: &mut LockState, me: u64) -> bool {
        match self.kind {
            nk::LOCK => {
                if st.n == 0 {
                    st.n = 1;
                    st.owner = me;
                    true
                } else {
                    false
                }
            }
            nk::RLOCK => {
                if st.n == 0 || st.owner == me {
                    st.n += 1;
                    st.owner = me;
                    true
                } else {
                    false
                }
            }
            _ => {
                if st.n > 0 {
                    st.n -= 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Acquire, waiting without the GIL if needed. `timeout` None: forever.
    pub fn acquire(&self, vm: &mut Vm, blocking: bool, timeout: Option<f64>) -> bool {
        let me = vm.ident;
        if self.try_take(&mut self.st.lock(), me) {
            return true;
        }
        if !blocking {
            return false;
        }
        let mut got = false;
        crate::observe::events::next_wait_is_sync();
        let _ = vm.blocking(|| {
            let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.min(1e9)));
            let mut st = self.st.lock();
            loop {
                if self.try_take(&mut st, me) {
                    got = true;
                    return;
                }
                match deadline {
                    None => self.cond.wait(&mut st),
                    Some(d) => {
                        if self.cond.wait_until(&mut st, d).timed_out() {
                            got = self.try_take(&mut st, me);
                            return;
                        }
                    }
                }
            }
        });
        got
    }

    pub fn release(&self, me: u64) -> PyResult<()> {
        let mut st = self.st.lock();
        match self.kind {
            nk::LOCK => {
                if st.n == 0 {
                    return Err(PyErr::new(ExcKind::RuntimeError, "release unlocked lock"));
                }
                st.n = 0;
            }
            nk::RLOCK => {
                if st.n == 0 || st.owner != me {
                    return Err(PyErr::new(
                        ExcKind::RuntimeError,
                        "cannot release un-acquired lock",
                    ));
                }
                st.n -= 1;
            }
            _ => st.n += 1,
        }
        drop(st);
        self.cond.notify_one();
        Ok(())
    }

    pub fn locked(&self) -> bool {
        let st = self.st.lock();
        match self.kind {
            nk::SEMAPHORE => st.n == 0,
            _ => st.n > 0,
        }
    }

    // --- Event
    fn set_event(&self, on: bool) {
        self.st.lock().n = on as i64;
        if on {
            self.cond.notify_all();
        }
    }

    fn wait_event(&self, vm: &mut Vm, timeout: Option<f64>) -> bool {
        if self.st.lock().n > 0 {
            return true;
        }
        let mut set = false;
        crate::observe::events::next_wait_is_sync();
        let _ = vm.blocking(|| {
            let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.min(1e9)));
            let mut st = self.st.lock();
            while st.n == 0 {
                match deadline {
                    None => self.cond.wait(&mut st),
                    Some(d) => {
                        if self.cond.wait_until(&mut st, d).timed_out() {
                            break;
                        }
                    }
                }
            }
            set = st.n > 0;
        });
        set
    }
}

pub fn defs() -> Vec<Def> {
    let th = Owner::Method(TypeTag::Native(nk::THREAD));
    let mut v = vec![
        def("current_thread", Owner::Module("threading"), current_thread),
        def("get_ident", Owner::Module("threading"), |vm, a, _| {
            arity("get_ident", a, 0, 0)?;
            Ok(Value::Int(vm.ident as i64))
        }),
        def("active_count", Owner::Module("threading"), |vm, a, _| {
            arity("active_count", a, 0, 0)?;
            let n = GilHooks::of(vm)
                .map(|h| h.live_threads().len())
                .unwrap_or(0);
            Ok(Value::Int(n as i64 + 1))
        }),
        def("start", th, thread_start),
        def("join", th, thread_join),
        def("is_alive", th, |vm, a, _| {
            let alive = native::<ThreadHandle, _>(vm, a.first().copied(), |_, t| t.is_alive())?;
            Ok(Value::Bool(alive))
        }),
        def("getName", th, |vm, a, _| {
            let n =
                native::<ThreadHandle, _>(vm, a.first().copied(), |_, t| t.name.lock().clone())?;
            vm.new_string(n)
        }),
    ];
    for kind in [nk::LOCK, nk::RLOCK, nk::SEMAPHORE] {
        let m = Owner::Method(TypeTag::Native(kind));
        v.push(def("acquire", m, lock_acquire));
        v.push(def("release", m, lock_release));
        v.push(def("__enter__", m, lock_enter));
        v.push(def("__exit__", m, lock_exit));
        v.push(def("locked", m, |vm, a, _| {
            let l = native::<SimLock, _>(vm, a.first().copied(), |_, l| l.locked())?;
            Ok(Value::Bool(l))
        }));
    }
    let ev = Owner::Method(TypeTag::Native(nk::EVENT));
    v.push(def("set", ev, |vm, a, _| {
        native::<SimLock, _>(vm, a.first().copied(), |_, l| l.set_event(true))?;
        Ok(Value::None)
    }));
    v.push(def("clear", ev, |vm, a, _| {
        native::<SimLock, _>(vm, a.first().copied(), |_, l| l.set_event(false))?;
        Ok(Value::None)
    }));
    v.push(def("is_set", ev, |vm, a, _| {
        let on = native::<SimLock, _>(vm, a.first().copied(), |_, l| l.st.lock().n > 0)?;
        Ok(Value::Bool(on))
    }));
    v.push(def("wait", ev, |vm, a, kw| {
        let t = timeout_arg(vm, a.get(1).copied().or(kwarg(kw, "timeout")))?;
        let set = native::<SimLock, _>(vm, a.first().copied(), |vm, l| l.wait_event(vm, t))?;
        Ok(Value::Bool(set))
    }));
    v
}

/// A `timeout=` argument: None (forever) or non-negative seconds.
pub fn timeout_arg(vm: &mut Vm, v: Option<Value>) -> PyResult<Option<f64>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(x) => {
            let s = match x {
                Value::Int(i) => i as f64,
                Value::Float(f) => f,
                Value::Bool(b) => b as i64 as f64,
                _ => {
                    let t = vm.type_name(x);
                    return Err(PyErr::type_error(format!(
                        "'{t}' object cannot be interpreted as a timeout"
                    )));
                }
            };
            if s < 0.0 {
                return Err(PyErr::value_error(
                    "timeout value must be a non-negative number",
                ));
            }
            Ok(Some(s))
        }
    }
}

/// `threading.Thread(target=None, name=None, args=(), kwargs=None, daemon=None)`.
pub fn new_thread(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    only_kwargs(
        "Thread",
        kw,
        &["group", "target", "name", "args", "kwargs", "daemon"],
    )?;
    let pos = |i: usize, name: &str| args.get(i).copied().or(kwarg(kw, name));
    let target = pos(1, "target").unwrap_or(Value::None);
    let name = pos(2, "name");
    let targs = pos(3, "args");
    let tkwargs = pos(4, "kwargs").unwrap_or(Value::None);
    let daemon = match kwarg(kw, "daemon") {
        Some(d) => vm.truthy(d)?,
        None => false,
    };
    let hooks = GilHooks::of(vm);
    let number = hooks.map(|h| h.next_thread_number()).unwrap_or(1);
    let name = match name {
        Some(Value::None) | None => {
            let tname = match target {
                Value::None => String::new(),
                t => match vm.get_attr_opt(t, sym::__name__)? {
                    Some(n) => {
                        let s = vm.str_value(n).unwrap_or_default();
                        vm.decref(n);
                        format!(" ({s})")
                    }
                    None => String::new(),
                },
            };
            format!("Thread-{number}{tname}")
        }
        Some(n) => vm.str_of(n)?,
    };
    let targs = match targs {
        Some(t) => {
            let items = vm.collect_iterable(t)?;
            vm.new_tuple(items)?
        }
        None => vm.new_tuple(vec![])?,
    };
    vm.incref(target);
    vm.incref(tkwargs);
    let call = if matches!(target, Value::None) {
        None
    } else {
        Some((target, targs, tkwargs))
    };
    if call.is_none() {
        vm.decref(targs);
        vm.decref(tkwargs);
    }
    let h = ThreadHandle::new(name, call, daemon);
    vm.alloc(Obj::Native(Arc::new(h)))
}

fn thread_start(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let this = args.first().copied().unwrap_or(Value::None);
    let Some(hooks) = GilHooks::of(vm) else {
        return Err(PyErr::new(
            ExcKind::RuntimeError,
            "threads are not available here",
        ));
    };
    // The registry needs an Arc to the very handle inside the object.
    let arc = thread_arc(vm, this)?;
    hooks.start(vm, arc, this)?;
    Ok(Value::None)
}

/// The `Arc<ThreadHandle>` inside a Thread object.
pub fn thread_arc(vm: &mut Vm, v: Value) -> PyResult<Arc<ThreadHandle>> {
    let n = native_arc(vm, v)?;
    downcast_arc::<ThreadHandle>(n).ok_or_else(|| PyErr::type_error("expected a Thread"))
}

/// Recover the concrete `Arc<T>` of a native object.
pub fn downcast_arc<T: NativeObject + 'static>(n: Arc<dyn NativeObject>) -> Option<Arc<T>> {
    n.into_any_arc().downcast::<T>().ok()
}

pub fn native_arc(vm: &mut Vm, v: Value) -> PyResult<Arc<dyn NativeObject>> {
    if let Value::Obj(r) = v {
        if let Obj::Native(n) = &*vm.get(r)? {
            return Ok(n.clone());
        }
    }
    let t = vm.type_name(v);
    Err(PyErr::type_error(format!(
        "expected a native object, not '{t}'"
    )))
}

fn thread_join(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    let this = args.first().copied().unwrap_or(Value::None);
    let t = timeout_arg(vm, args.get(1).copied().or(kwarg(kw, "timeout")))?;
    let h = thread_arc(vm, this)?;
    if !h.is_started() {
        return Err(PyErr::new(
            ExcKind::RuntimeError,
            "cannot join thread before it is started",
        ));
    }
    if h.ident.load(std::sync::atomic::Ordering::Relaxed) == vm.ident {
        return Err(PyErr::new(
            ExcKind::RuntimeError,
            "cannot join current thread",
        ));
    }
    crate::observe::events::next_wait_is_sync();
    vm.blocking(|| h.wait(t.map(Duration::from_secs_f64)))?;
    Ok(Value::None)
}

fn current_thread(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("current_thread", args, 0, 0)?;
    if matches!(vm.thread_obj, Value::None) {
        // the main thread's Thread object, made on first use
        let h = ThreadHandle::new(vm.thread_name.clone(), None, false);
        h.ident
            .store(vm.ident, std::sync::atomic::Ordering::Relaxed);
        h.mark_running();
        vm.thread_obj = vm.alloc(Obj::Native(Arc::new(h)))?;
    }
    let t = vm.thread_obj;
    vm.incref(t);
    Ok(t)
}

fn lock_acquire(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    only_kwargs("acquire", kw, &["blocking", "timeout"])?;
    let blocking = match args.get(1).copied().or(kwarg(kw, "blocking")) {
        Some(b) => vm.truthy(b)?,
        None => true,
    };
    let timeout = match args.get(2).copied().or(kwarg(kw, "timeout")) {
        Some(Value::Int(-1)) | None => None,
        Some(Value::Float(-1.0)) => None,
        other => timeout_arg(vm, other)?,
    };
    if !blocking && timeout.is_some() {
        return Err(PyErr::value_error(
            "can't specify a timeout for a non-blocking call",
        ));
    }
    let got = native::<SimLock, _>(vm, args.first().copied(), |vm, l| {
        l.acquire(vm, blocking, timeout)
    })?;
    Ok(Value::Bool(got))
}

fn lock_release(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let me = vm.ident;
    native::<SimLock, _>(vm, args.first().copied(), |_, l| l.release(me))??;
    Ok(Value::None)
}

fn lock_enter(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    native::<SimLock, _>(vm, args.first().copied(), |vm, l| l.acquire(vm, true, None))?;
    Ok(Value::Bool(true))
}

fn lock_exit(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let me = vm.ident;
    native::<SimLock, _>(vm, args.first().copied(), |_, l| l.release(me))??;
    Ok(Value::None)
}

/// Constructors of the module's classes.
pub fn construct(vm: &mut Vm, kind: u8, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    match kind {
        nk::THREAD => new_thread(vm, &[&[Value::None], args].concat(), kw),
        nk::LOCK | nk::RLOCK | nk::EVENT => {
            arity("Lock", args, 0, 0)?;
            vm.alloc(Obj::Native(Arc::new(SimLock::new(kind, 0))))
        }
        _ => {
            // Semaphore(value=1)
            let n = match args.first().copied().or(kwarg(kw, "value")) {
                Some(v) => vm.arg_int(v, "")?,
                None => 1,
            };
            if n < 0 {
                return Err(PyErr::value_error("semaphore initial value must be >= 0"));
            }
            vm.alloc(Obj::Native(Arc::new(SimLock::new(nk::SEMAPHORE, n))))
        }
    }
}

/// Data attributes of Thread objects.
pub fn attr(vm: &mut Vm, n: &Arc<dyn NativeObject>, name: Sym) -> PyResult<Option<Value>> {
    if let Some(t) = n.as_any().downcast_ref::<ThreadHandle>() {
        if name == intern("name") {
            let s = t.name.lock().clone();
            return Ok(Some(vm.new_string(s)?));
        }
        if name == intern("ident") {
            let i = t.ident.load(std::sync::atomic::Ordering::Relaxed);
            return Ok(Some(if i == 0 {
                Value::None
            } else {
                Value::Int(i as i64)
            }));
        }
        if name == intern("daemon") {
            return Ok(Some(Value::Bool(
                t.daemon.load(std::sync::atomic::Ordering::Relaxed),
            )));
        }
    }
    Ok(None)
}
