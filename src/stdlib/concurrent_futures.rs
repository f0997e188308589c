//! `concurrent.futures`: `ThreadPoolExecutor` (submit, map, shutdown, `with`) and
//! `Future` (result, done, exception).
//!
//! Workers are Toy threads (so they take the GIL like any other), started as work
//! is submitted, up to `max_workers` (default min(32, cores + 4), as CPython).
//! An executor that the program never shuts down is shut down when the main
//! thread ends, as CPython's `concurrent.futures` does at exit.

use super::native;
use super::threading::{downcast_arc, native_arc, timeout_arg};
use crate::bytecode::Sym;
use crate::concurrency::threads::{GilHooks, ThreadHandle};
use crate::heap::{native_kind as nk, IterState, NativeObject, Obj, TypeTag, Value};
use crate::vm::builtins::{def, kwarg, only_kwargs, Def, Owner};
use crate::vm::{ExcKind, PyErr, PyResult, Vm};
use parking_lot::{Condvar, Mutex};
use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct FState {
    done: bool,
    /// The result, or the exception object (`failed`); a reference the future holds.
    value: Value,
    failed: bool,
}

#[derive(Debug, Default)]
pub struct FutureState {
    st: Mutex<FState>,
    cond: Condvar,
}

impl NativeObject for FutureState {
    fn kind(&self) -> u8 {
        nk::FUTURE
    }
    fn children(&self, f: &mut dyn FnMut(Value)) {
        f(self.st.lock().value);
    }
    fn take_children(&self) -> Vec<Value> {
        vec![std::mem::replace(&mut self.st.lock().value, Value::None)]
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl FutureState {
    fn complete(&self, value: Value, failed: bool) {
        let mut st = self.st.lock();
        st.value = value;
        st.failed = failed;
        st.done = true;
        drop(st);
        self.cond.notify_all();
    }

    /// Wait (without the GIL) for completion; false on timeout.
    fn wait(&self, vm: &mut Vm, timeout: Option<f64>) -> bool {
        if self.st.lock().done {
            return true;
        }
        let mut done = false;
        crate::observe::events::next_wait_is_sync();
        let _ = vm.blocking(|| {
            let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.min(1e9)));
            let mut st = self.st.lock();
            while !st.done {
                match deadline {
                    None => self.cond.wait(&mut st),
                    Some(d) => {
                        if self.cond.wait_until(&mut st, d).timed_out() {
                            break;
                        }
                    }
                }
            }
            done = st.done;
        });
        done
    }

    /// `future.result()`: the value (a new reference) or the exception raised.
    fn result(&self, vm: &mut Vm, timeout: Option<f64>) -> PyResult<Value> {
        if !self.wait(vm, timeout) {
            return Err(PyErr::new(ExcKind::TimeoutError, ""));
        }
        let (v, failed) = {
            let st = self.st.lock();
            (st.value, st.failed)
        };
        vm.incref(v);
        if failed {
            if let Value::Obj(r) = v {
                return Err(PyErr::from_obj(r));
            }
        }
        Ok(v)
    }
}

struct Job {
    future: Arc<FutureState>,
    func: Value,
    args: Vec<Value>,
    kw: Vec<(Sym, Value)>,
}

#[derive(Default)]
struct EState {
    jobs: VecDeque<Job>,
    workers: usize,
    idle: usize,
    shutdown: bool,
    threads: Vec<Arc<ThreadHandle>>,
}

pub struct Executor {
    st: Mutex<EState>,
    cond: Condvar,
    max_workers: usize,
    prefix: String,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Executor({})", self.prefix)
    }
}

impl NativeObject for Executor {
    fn kind(&self) -> u8 {
        nk::EXECUTOR
    }
    fn children(&self, f: &mut dyn FnMut(Value)) {
        for j in &self.st.lock().jobs {
            f(j.func);
            j.args.iter().for_each(|&a| f(a));
            j.kw.iter().for_each(|&(_, a)| f(a));
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

static EXECUTOR_NUMBER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

pub fn construct(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    only_kwargs(
        "ThreadPoolExecutor",
        kw,
        &["max_workers", "thread_name_prefix"],
    )?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let max_workers = match args.first().copied().or(kwarg(kw, "max_workers")) {
        None | Some(Value::None) => (cores + 4).min(32),
        Some(v) => {
            let n = vm.arg_int(v, "")?;
            if n <= 0 {
                return Err(PyErr::value_error("max_workers must be greater than 0"));
            }
            n as usize
        }
    };
    let n = EXECUTOR_NUMBER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prefix = match args.get(1).copied().or(kwarg(kw, "thread_name_prefix")) {
        Some(p) if !matches!(p, Value::None) => vm.str_of(p)?,
        _ => format!("ThreadPoolExecutor-{n}"),
    };
    let ex = Arc::new(Executor {
        st: Mutex::new(EState::default()),
        cond: Condvar::new(),
        max_workers,
        prefix,
    });
    if let Some(h) = GilHooks::of(vm) {
        let ex2 = ex.clone();
        h.at_exit(Box::new(move |vm: &mut Vm| shutdown(vm, &ex2, true)));
    }
    vm.alloc(Obj::Native(ex))
}

fn executor(vm: &mut Vm, v: Option<Value>) -> PyResult<Arc<Executor>> {
    let n = native_arc(vm, v.unwrap_or(Value::None))?;
    downcast_arc::<Executor>(n).ok_or_else(|| PyErr::type_error("expected a ThreadPoolExecutor"))
}

/// Queue one call; start a worker if none is idle and the pool may grow.
fn submit_job(
    vm: &mut Vm,
    ex: &Arc<Executor>,
    func: Value,
    args: Vec<Value>,
    kw: Vec<(Sym, Value)>,
) -> PyResult<Arc<FutureState>> {
    let fut = Arc::new(FutureState::default());
    vm.incref(func);
    for &a in &args {
        vm.incref(a);
    }
    for &(_, a) in &kw {
        vm.incref(a);
    }
    let need_worker = {
        let mut st = ex.st.lock();
        if st.shutdown {
            drop(st);
            vm.decref(func);
            vm.decref_all(args);
            for (_, a) in kw {
                vm.decref(a);
            }
            return Err(PyErr::new(
                ExcKind::RuntimeError,
                "cannot schedule new futures after shutdown",
            ));
        }
        st.jobs.push_back(Job {
            future: fut.clone(),
            func,
            args,
            kw,
        });
        let need = st.idle < st.jobs.len() && st.workers < ex.max_workers;
        if need {
            st.workers += 1;
        }
        need
    };
    ex.cond.notify_one();
    if need_worker {
        start_worker(vm, ex.clone())?;
    }
    Ok(fut)
}

fn start_worker(vm: &mut Vm, ex: Arc<Executor>) -> PyResult<()> {
    let Some(hooks) = GilHooks::of(vm) else {
        return Err(PyErr::new(
            ExcKind::RuntimeError,
            "threads are not available here",
        ));
    };
    let idx = ex.st.lock().threads.len();
    let name = format!("{}_{idx}", ex.prefix);
    let handle = Arc::new(ThreadHandle::new(name, None, true));
    ex.st.lock().threads.push(handle.clone());
    let ex2 = ex.clone();
    let started = hooks.spawn(
        vm,
        handle.clone(),
        Value::None,
        Box::new(move |tvm: &mut Vm| worker(tvm, &ex2)),
    );
    if started.is_err() {
        // As CPython's _adjust_thread_count: a worker that could not start
        // is not counted (a later submit may try again), and shutdown must
        // not wait for it. The job stays queued for the workers there are.
        let mut st = ex.st.lock();
        st.workers -= 1;
        st.threads.retain(|t| !Arc::ptr_eq(t, &handle));
    }
    started
}

/// A worker's life: take jobs (waiting for them without the GIL) until shutdown.
fn worker(vm: &mut Vm, ex: &Executor) {
    loop {
        let mut job = ex.st.lock().jobs.pop_front();
        if job.is_none() {
            crate::observe::events::next_wait_is_sync();
            let _ = vm.blocking(|| {
                let mut st = ex.st.lock();
                st.idle += 1;
                loop {
                    if let Some(j) = st.jobs.pop_front() {
                        job = Some(j);
                        break;
                    }
                    if st.shutdown {
                        break;
                    }
                    ex.cond.wait(&mut st);
                }
                st.idle -= 1;
            });
        }
        let Some(j) = job else { return };
        let r = vm.call_value(j.func, &j.args, &j.kw);
        vm.decref(j.func);
        vm.decref_all(j.args);
        for (_, a) in j.kw {
            vm.decref(a);
        }
        match r {
            Ok(v) => j.future.complete(v, false),
            Err(e) => {
                let exc = vm.materialize(e);
                j.future.complete(Value::Obj(exc), true);
            }
        }
    }
}

fn shutdown(vm: &mut Vm, ex: &Executor, wait: bool) {
    let threads = {
        let mut st = ex.st.lock();
        st.shutdown = true;
        st.threads.clone()
    };
    ex.cond.notify_all();
    if wait {
        crate::observe::events::next_wait_is_sync();
        let _ = vm.blocking(|| {
            for t in &threads {
                t.wait(None);
            }
        });
    }
}

fn future_value(vm: &mut Vm, fut: Arc<FutureState>) -> PyResult<Value> {
    vm.alloc(Obj::Native(fut))
}

pub fn defs() -> Vec<Def> {
    let e = Owner::Method(TypeTag::Native(nk::EXECUTOR));
    let f = Owner::Method(TypeTag::Native(nk::FUTURE));
    vec![
        def("submit", e, |vm, a, kw| {
            let ex = executor(vm, a.first().copied())?;
            let Some(&func) = a.get(1) else {
                return Err(PyErr::type_error(
                    "submit expected at least 1 argument, got 0",
                ));
            };
            let fut = submit_job(vm, &ex, func, a[2..].to_vec(), kw.to_vec())?;
            future_value(vm, fut)
        }),
        def("map", e, |vm, a, kw| {
            only_kwargs("map", kw, &["timeout", "chunksize"])?;
            let ex = executor(vm, a.first().copied())?;
            let Some(&func) = a.get(1) else {
                return Err(PyErr::type_error(
                    "map() missing 1 required positional argument: 'fn'",
                ));
            };
            // zip the iterables into argument tuples
            let mut columns = Vec::new();
            for &it in &a[2..] {
                columns.push(vm.collect_iterable(it)?);
            }
            let n = columns.iter().map(|c| c.len()).min().unwrap_or(0);
            let mut futs = Vec::with_capacity(n);
            let mut err = None;
            for i in 0..n {
                let args: Vec<Value> = columns.iter().map(|c| c[i]).collect();
                match submit_job(vm, &ex, func, args, vec![]) {
                    Ok(f) => futs.push(f),
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            for c in columns {
                vm.decref_all(c);
            }
            if let Some(e) = err {
                return Err(e);
            }
            let timeout = timeout_arg(vm, kwarg(kw, "timeout"))?;
            let mut results = Vec::with_capacity(futs.len());
            let mut failure = None;
            for f in futs {
                if failure.is_none() {
                    match f.result(vm, timeout) {
                        Ok(v) => results.push(v),
                        Err(e) => failure = Some(e),
                    }
                }
                // These futures never reach the program: release what they hold.
                f.wait(vm, None);
                let held = f.take_children();
                vm.decref_all(held);
            }
            if let Some(e) = failure {
                vm.decref_all(results);
                return Err(e);
            }
            vm.alloc(Obj::Iter(IterState::Buffer {
                items: results,
                pos: 0,
            }))
        }),
        def("shutdown", e, |vm, a, kw| {
            let ex = executor(vm, a.first().copied())?;
            let wait = match a.get(1).copied().or(kwarg(kw, "wait")) {
                Some(w) => vm.truthy(w)?,
                None => true,
            };
            shutdown(vm, &ex, wait);
            Ok(Value::None)
        }),
        def("__enter__", e, |vm, a, _| {
            let v = a.first().copied().unwrap_or(Value::None);
            vm.incref(v);
            Ok(v)
        }),
        def("__exit__", e, |vm, a, _| {
            let ex = executor(vm, a.first().copied())?;
            shutdown(vm, &ex, true);
            Ok(Value::Bool(false))
        }),
        def("result", f, |vm, a, kw| {
            let t = timeout_arg(vm, a.get(1).copied().or(kwarg(kw, "timeout")))?;
            let fut = future(vm, a.first().copied())?;
            fut.result(vm, t)
        }),
        def("done", f, |vm, a, _| {
            let d = native::<FutureState, _>(vm, a.first().copied(), |_, f| f.st.lock().done)?;
            Ok(Value::Bool(d))
        }),
        def("exception", f, |vm, a, kw| {
            let t = timeout_arg(vm, a.get(1).copied().or(kwarg(kw, "timeout")))?;
            let fut = future(vm, a.first().copied())?;
            if !fut.wait(vm, t) {
                return Err(PyErr::new(ExcKind::TimeoutError, ""));
            }
            let st = fut.st.lock();
            let v = if st.failed { st.value } else { Value::None };
            drop(st);
            vm.incref(v);
            Ok(v)
        }),
    ]
}

fn future(vm: &mut Vm, v: Option<Value>) -> PyResult<Arc<FutureState>> {
    let n = native_arc(vm, v.unwrap_or(Value::None))?;
    downcast_arc::<FutureState>(n).ok_or_else(|| PyErr::type_error("expected a Future"))
}
