//! The `queue` module: `Queue` (put, get with block/timeout, empty, qsize, full,
//! task_done, join) and its exceptions `Empty` and `Full`.

use super::native;
use super::threading::timeout_arg;
use crate::bytecode::{intern, Sym};
use crate::heap::{native_kind as nk, NativeObject, Obj, TypeTag, Value};
use crate::vm::builtins::{arity, def, kwarg, Def, Owner};
use crate::vm::{PyErr, PyResult, Vm};
use parking_lot::{Condvar, Mutex};
use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct QState {
    items: VecDeque<Value>,
    maxsize: usize,
    unfinished: u64,
}

#[derive(Debug, Default)]
pub struct SimQueue {
    st: Mutex<QState>,
    not_empty: Condvar,
    not_full: Condvar,
    all_done: Condvar,
}

impl NativeObject for SimQueue {
    fn kind(&self) -> u8 {
        nk::QUEUE
    }
    fn children(&self, f: &mut dyn FnMut(Value)) {
        for &v in &self.st.lock().items {
            f(v);
        }
    }
    fn take_children(&self) -> Vec<Value> {
        self.st.lock().items.drain(..).collect()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

pub fn construct(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("Queue", args, 0, 1)?;
    let maxsize = match args.first().copied().or(kwarg(kw, "maxsize")) {
        Some(v) => vm.arg_int(v, "")?.max(0) as usize,
        None => 0,
    };
    let q = SimQueue {
        st: Mutex::new(QState {
            maxsize,
            ..Default::default()
        }),
        ..Default::default()
    };
    vm.alloc(Obj::Native(Arc::new(q)))
}

/// Raise `queue.Empty` or `queue.Full`.
fn queue_error(vm: &mut Vm, name: &str) -> PyErr {
    let module = match vm.import(intern("queue")) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let class = vm.get_attr(module, intern(name));
    vm.decref(module);
    match class {
        Ok(c) => {
            let r = vm.call_value(c, &[], &[]);
            vm.decref(c);
            match r {
                Ok(Value::Obj(e)) => PyErr::from_obj(e),
                Ok(_) => PyErr::type_error("bad exception"),
                Err(e) => e,
            }
        }
        Err(e) => e,
    }
}

fn block_args(
    vm: &mut Vm,
    args: &[Value],
    kw: &[(Sym, Value)],
    at: usize,
) -> PyResult<(bool, Option<f64>)> {
    let block = match args.get(at).copied().or(kwarg(kw, "block")) {
        Some(b) => vm.truthy(b)?,
        None => true,
    };
    let timeout = timeout_arg(vm, args.get(at + 1).copied().or(kwarg(kw, "timeout")))?;
    Ok((block, timeout))
}

fn put(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    let item = args
        .get(1)
        .copied()
        .or(kwarg(kw, "item"))
        .unwrap_or(Value::None);
    let (block, timeout) = block_args(vm, args, kw, 2)?;
    let ok = native::<SimQueue, _>(vm, args.first().copied(), |vm, q| {
        let fits = |st: &QState| st.maxsize == 0 || st.items.len() < st.maxsize;
        let mut room = fits(&q.st.lock());
        if !room && block {
            crate::observe::events::next_wait_is_sync();
            let _ = vm.blocking(|| {
                let deadline =
                    timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.min(1e9)));
                let mut st = q.st.lock();
                while !fits(&st) {
                    match deadline {
                        None => q.not_full.wait(&mut st),
                        Some(d) => {
                            if q.not_full.wait_until(&mut st, d).timed_out() {
                                break;
                            }
                        }
                    }
                }
                room = fits(&st);
            });
        }
        if room {
            vm.incref(item);
            let mut st = q.st.lock();
            st.items.push_back(item);
            st.unfinished += 1;
            drop(st);
            q.not_empty.notify_one();
        }
        room
    })?;
    if !ok {
        return Err(queue_error(vm, "Full"));
    }
    Ok(Value::None)
}

fn get(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    let (block, timeout) = block_args(vm, args, kw, 1)?;
    let got = native::<SimQueue, _>(vm, args.first().copied(), |vm, q| {
        let mut item = q.st.lock().items.pop_front();
        if item.is_none() && block {
            crate::observe::events::next_wait_is_sync();
            let _ = vm.blocking(|| {
                let deadline =
                    timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.min(1e9)));
                let mut st = q.st.lock();
                loop {
                    if let Some(v) = st.items.pop_front() {
                        item = Some(v);
                        return;
                    }
                    match deadline {
                        None => q.not_empty.wait(&mut st),
                        Some(d) => {
                            if q.not_empty.wait_until(&mut st, d).timed_out() {
                                item = st.items.pop_front();
                                return;
                            }
                        }
                    }
                }
            });
        }
        if item.is_some() {
            q.not_full.notify_one();
        }
        item
    })?;
    match got {
        Some(v) => Ok(v),
        None => Err(queue_error(vm, "Empty")),
    }
}

pub fn defs() -> Vec<Def> {
    let m = Owner::Method(TypeTag::Native(nk::QUEUE));
    vec![
        def("put", m, put),
        def("get", m, get),
        def("put_nowait", m, |vm, a, _| {
            put(
                vm,
                &[
                    a.first().copied().unwrap_or(Value::None),
                    a.get(1).copied().unwrap_or(Value::None),
                    Value::Bool(false),
                ],
                &[],
            )
        }),
        def("get_nowait", m, |vm, a, _| {
            get(
                vm,
                &[
                    a.first().copied().unwrap_or(Value::None),
                    Value::Bool(false),
                ],
                &[],
            )
        }),
        def("qsize", m, |vm, a, _| {
            let n = native::<SimQueue, _>(vm, a.first().copied(), |_, q| q.st.lock().items.len())?;
            Ok(Value::Int(n as i64))
        }),
        def("empty", m, |vm, a, _| {
            let e =
                native::<SimQueue, _>(vm, a.first().copied(), |_, q| q.st.lock().items.is_empty())?;
            Ok(Value::Bool(e))
        }),
        def("full", m, |vm, a, _| {
            let f = native::<SimQueue, _>(vm, a.first().copied(), |_, q| {
                let st = q.st.lock();
                st.maxsize > 0 && st.items.len() >= st.maxsize
            })?;
            Ok(Value::Bool(f))
        }),
        def("task_done", m, |vm, a, _| {
            let ok = native::<SimQueue, _>(vm, a.first().copied(), |_, q| {
                let mut st = q.st.lock();
                if st.unfinished == 0 {
                    return false;
                }
                st.unfinished -= 1;
                if st.unfinished == 0 {
                    q.all_done.notify_all();
                }
                true
            })?;
            if !ok {
                return Err(PyErr::value_error("task_done() called too many times"));
            }
            Ok(Value::None)
        }),
        def("join", m, |vm, a, _| {
            native::<SimQueue, _>(vm, a.first().copied(), |vm, q| {
                crate::observe::events::next_wait_is_sync();
                let _ = vm.blocking(|| {
                    let mut st = q.st.lock();
                    while st.unfinished > 0 {
                        q.all_done.wait(&mut st);
                    }
                });
            })?;
            Ok(Value::None)
        }),
    ]
}
