//! Coroutines written in Rust: `asyncio.sleep`, `wait_for`, `Lock.acquire`,
//! `Queue.get`, an aiohttp request, ...
//!
//! Each is a small state machine with CPython's behaviour: it starts when first
//! resumed, may suspend on one future at a time (yielding it up to the task, as
//! `await future` does), and finishes with a value or an exception. An exception
//! thrown in (a cancellation) makes it give back what it holds: a lock waiter is
//! removed, a timer disarmed, an awaited task cancelled.

use super::{call_later, cancel, ensure_future, new_future, outcome, FState, TimerAction};
use super::{fut_of, sync, ARMED, DISARMED, FIRED};
use crate::heap::{native_kind as nk, NativeObject, Obj, Value};
use crate::vm::iter::{GenResult, Resume};
use crate::vm::{ExcKind, PyErr, PyResult, Vm};
use parking_lot::Mutex;
use std::any::Any;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// What a native coroutine does when it starts (owned references inside).
#[derive(Debug)]
pub enum Op {
    Sleep {
        delay: f64,
        result: Value,
    },
    /// Finish at once with this value.
    Ready(Value),
    WaitFor {
        aw: Value,
        timeout: Option<f64>,
    },
    LockAcquire(Value),
    SemAcquire(Value),
    EventWait(Value),
    QueueGet(Value),
    QueuePut(Value, Value),
    QueueJoin(Value),
    /// aiohttp: GET this URL.
    Fetch(String),
}

/// What to do when the awaited future is done (owned references inside).
#[derive(Debug)]
pub enum Then {
    /// Return this value (unless the future was cancelled).
    Return(Value),
    /// Return the future's own outcome.
    Result,
    WaitFor(Arc<AtomicU8>),
    Lock(Value),
    Sem(Value),
    Event(Value),
    QueueGet(Value),
    QueuePut(Value, Value),
    QueueJoin(Value),
}

/// One move of a native coroutine.
pub enum Step {
    Return(Value),
    /// Suspend until this future (owned; None for a bare yield) is done.
    Wait(Value, Then),
}

#[derive(Debug)]
enum CoroSt {
    Start(Op),
    Waiting(Value, Then),
    Running,
    Done,
}

#[derive(Debug)]
pub struct NativeCoro {
    pub name: &'static str,
    st: Mutex<CoroSt>,
}

fn op_values(op: &Op, f: &mut dyn FnMut(Value)) {
    match op {
        Op::Sleep { result: v, .. }
        | Op::Ready(v)
        | Op::WaitFor { aw: v, .. }
        | Op::LockAcquire(v)
        | Op::SemAcquire(v)
        | Op::EventWait(v)
        | Op::QueueGet(v)
        | Op::QueueJoin(v) => f(*v),
        Op::QueuePut(a, b) => {
            f(*a);
            f(*b)
        }
        Op::Fetch(_) => {}
    }
}

fn then_values(t: &Then, f: &mut dyn FnMut(Value)) {
    match t {
        Then::Return(v)
        | Then::Lock(v)
        | Then::Sem(v)
        | Then::Event(v)
        | Then::QueueGet(v)
        | Then::QueueJoin(v) => f(*v),
        Then::QueuePut(a, b) => {
            f(*a);
            f(*b)
        }
        Then::Result | Then::WaitFor(_) => {}
    }
}

impl NativeObject for NativeCoro {
    fn kind(&self) -> u8 {
        nk::NATIVE_CORO
    }
    fn children(&self, f: &mut dyn FnMut(Value)) {
        match &*self.st.lock() {
            CoroSt::Start(op) => op_values(op, f),
            CoroSt::Waiting(fut, then) => {
                f(*fut);
                then_values(then, f);
            }
            CoroSt::Running | CoroSt::Done => {}
        }
    }
    fn take_children(&self) -> Vec<Value> {
        let mut out = Vec::new();
        match std::mem::replace(&mut *self.st.lock(), CoroSt::Done) {
            CoroSt::Start(op) => op_values(&op, &mut |v| out.push(v)),
            CoroSt::Waiting(fut, then) => {
                out.push(fut);
                then_values(&then, &mut |v| out.push(v));
            }
            CoroSt::Running | CoroSt::Done => {}
        }
        out
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl NativeCoro {
    /// A new coroutine object (a new reference) that will run `op`.
    pub fn new_value(vm: &mut Vm, name: &'static str, op: Op) -> PyResult<Value> {
        vm.alloc(Obj::Native(Arc::new(NativeCoro {
            name,
            st: Mutex::new(CoroSt::Start(op)),
        })))
    }

    /// Resume: start, or continue after the awaited future, or abandon.
    pub fn step(&self, vm: &mut Vm, how: Resume) -> PyResult<GenResult> {
        let st = std::mem::replace(&mut *self.st.lock(), CoroSt::Running);
        match (st, how) {
            (CoroSt::Running, _) => Err(PyErr::value_error("coroutine already executing")),
            (CoroSt::Done, Resume::Throw(e)) => {
                *self.st.lock() = CoroSt::Done;
                Err(e)
            }
            (CoroSt::Done, Resume::Send(_)) => {
                *self.st.lock() = CoroSt::Done;
                Err(PyErr::new(
                    ExcKind::RuntimeError,
                    "cannot reuse already awaited coroutine",
                ))
            }
            (CoroSt::Start(op), Resume::Throw(e)) => {
                *self.st.lock() = CoroSt::Done;
                op_values(&op, &mut |v| vm.decref(v));
                Err(e)
            }
            (CoroSt::Start(op), Resume::Send(_)) => {
                let r = start(vm, op);
                self.advance(vm, r)
            }
            (CoroSt::Waiting(fut, then), Resume::Send(_)) => {
                let pending = fut_of(vm, fut).is_some_and(|f| !f.done());
                if pending {
                    // Woken before its future is done: keep waiting.
                    vm.incref(fut);
                    *self.st.lock() = CoroSt::Waiting(fut, then);
                    return Ok(GenResult::Yielded(fut));
                }
                let r = resume(vm, fut, then);
                vm.decref(fut);
                self.advance(vm, r)
            }
            (CoroSt::Waiting(fut, then), Resume::Throw(e)) => {
                *self.st.lock() = CoroSt::Done;
                abandon(vm, fut, then);
                vm.decref(fut);
                Err(e)
            }
        }
    }

    fn advance(&self, vm: &mut Vm, r: PyResult<Step>) -> PyResult<GenResult> {
        match r {
            Ok(Step::Return(v)) => {
                *self.st.lock() = CoroSt::Done;
                Ok(GenResult::Returned(v))
            }
            Ok(Step::Wait(fut, then)) => {
                vm.incref(fut);
                *self.st.lock() = CoroSt::Waiting(fut, then);
                Ok(GenResult::Yielded(fut))
            }
            Err(e) => {
                *self.st.lock() = CoroSt::Done;
                Err(e)
            }
        }
    }
}

fn cancelled(vm: &mut Vm, fut: Value) -> bool {
    fut_of(vm, fut).is_some_and(|f| f.state() == FState::Cancelled)
}

fn start(vm: &mut Vm, op: Op) -> PyResult<Step> {
    match op {
        Op::Ready(v) => Ok(Step::Return(v)),
        Op::Sleep { delay, result } => {
            if delay <= 0.0 {
                return Ok(Step::Wait(Value::None, Then::Return(result)));
            }
            let fut = match new_future(vm) {
                Ok(f) => f,
                Err(e) => {
                    vm.decref(result);
                    return Err(e);
                }
            };
            vm.incref(fut);
            call_later(vm, delay, TimerAction::Resolve(fut, Value::None));
            Ok(Step::Wait(fut, Then::Return(result)))
        }
        Op::WaitFor { aw, timeout } => {
            let inner = ensure_future(vm, aw);
            vm.decref(aw);
            let inner = inner?;
            let Some(f) = fut_of(vm, inner) else {
                return Ok(Step::Return(inner));
            };
            let Some(timeout) = timeout else {
                return Ok(Step::Wait(inner, Then::Result));
            };
            if f.done() {
                let r = outcome(vm, &f);
                vm.decref(inner);
                return r.map(Step::Return);
            }
            let armed = Arc::new(AtomicU8::new(ARMED));
            vm.incref(inner);
            call_later(vm, timeout, TimerAction::Timeout(inner, armed.clone()));
            Ok(Step::Wait(inner, Then::WaitFor(armed)))
        }
        Op::Fetch(url) => crate::stdlib::aiohttp::start_fetch(vm, &url),
        op => sync::start(vm, op),
    }
}

/// The awaited future `fut` (borrowed) is done.
fn resume(vm: &mut Vm, fut: Value, then: Then) -> PyResult<Step> {
    match then {
        Then::Return(v) => {
            if cancelled(vm, fut) {
                vm.decref(v);
                return Err(PyErr::new(ExcKind::CancelledError, ""));
            }
            Ok(Step::Return(v))
        }
        Then::Result => match fut_of(vm, fut) {
            Some(f) => outcome(vm, &f).map(Step::Return),
            None => Ok(Step::Return(Value::None)),
        },
        Then::WaitFor(armed) => {
            let was = armed.swap(DISARMED, Ordering::AcqRel);
            let Some(f) = fut_of(vm, fut) else {
                return Ok(Step::Return(Value::None));
            };
            if was == FIRED && f.state() == FState::Cancelled {
                return Err(PyErr::new(ExcKind::TimeoutError, ""));
            }
            outcome(vm, &f).map(Step::Return)
        }
        then => sync::resume(vm, fut, then),
    }
}

/// An exception was thrown in while waiting on `fut` (borrowed): let go.
fn abandon(vm: &mut Vm, fut: Value, then: Then) {
    match then {
        Then::Return(v) => {
            cancel(vm, fut);
            vm.decref(v);
        }
        Then::Result => {
            cancel(vm, fut);
        }
        Then::WaitFor(armed) => {
            armed.store(DISARMED, Ordering::Release);
            cancel(vm, fut);
        }
        then => sync::abandon(vm, fut, then),
    }
}
