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
mod sync;

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

// ------------------------------------------------------------------ futures

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FState {
    Pending,
    Done,
    Failed,
    Cancelled,
}

/// What to do when a future completes.
#[derive(Debug)]
enum Callback {
    /// Step this task (it was awaiting the future).
    Wake(Value),
    /// Tell gathering future `outer` that its child number `idx` is done.
    Gather(Value, usize),
    /// Call `fn(future)` (`add_done_callback`).
    Call(Value),
}

impl Callback {
    fn value(&self) -> Value {
        match self {
            Callback::Wake(v) | Callback::Gather(v, _) | Callback::Call(v) => *v,
        }
    }
}

#[derive(Debug, Default)]
struct GatherPart {
    children: Vec<Value>,
    return_exceptions: bool,
    finished: usize,
    cancel_requested: bool,
}

#[derive(Debug)]
struct FutSt {
    state: FState,
    /// The result, or the exception object when `Failed`.
    value: Value,
    callbacks: Vec<Callback>,
    /// Tasks only: the coroutine, and the future it is suspended on.
    coro: Value,
    waiting_on: Value,
    must_cancel: bool,
    /// An exception to throw into the coroutine at its next step.
    throw_next: Value,
    name: String,
    gather: Option<GatherPart>,
}

/// An `asyncio.Future`, or (with a coroutine) an `asyncio.Task`.
#[derive(Debug)]
pub struct Fut {
    is_task: bool,
    /// What `gather` returns (a future with children).
    gathering: bool,
    st: Mutex<FutSt>,
}

impl NativeObject for Fut {
    fn kind(&self) -> u8 {
        if self.is_task {
            nk::TASK
        } else if self.gathering {
            nk::GATHERING_FUTURE
        } else {
            nk::EVENT_LOOP_FUTURE
        }
    }
    fn children(&self, f: &mut dyn FnMut(Value)) {
        let st = self.st.lock();
        for v in [st.value, st.coro, st.waiting_on, st.throw_next] {
            f(v);
        }
        for c in &st.callbacks {
            f(c.value());
        }
        if let Some(g) = &st.gather {
            for &c in &g.children {
                f(c);
            }
        }
    }
    fn take_children(&self) -> Vec<Value> {
        let mut st = self.st.lock();
        let mut out = vec![
            std::mem::take(&mut st.value),
            std::mem::take(&mut st.coro),
            std::mem::take(&mut st.waiting_on),
            std::mem::take(&mut st.throw_next),
        ];
        out.extend(st.callbacks.drain(..).map(|c| c.value()));
        if let Some(g) = st.gather.take() {
            out.extend(g.children);
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

impl Fut {
    fn new(is_task: bool, coro: Value, name: String) -> Fut {
        Fut {
            is_task,
            gathering: false,
            st: Mutex::new(FutSt {
                state: FState::Pending,
                value: Value::None,
                callbacks: Vec::new(),
                coro,
                waiting_on: Value::None,
                must_cancel: false,
                throw_next: Value::None,
                name,
                gather: None,
            }),
        }
    }

    pub fn state(&self) -> FState {
        self.st.lock().state
    }

    pub fn done(&self) -> bool {
        self.state() != FState::Pending
    }
}

/// The future or task inside `v`, if it is one.
pub fn fut_of(vm: &mut Vm, v: Value) -> Option<Arc<Fut>> {
    let Value::Obj(r) = v else { return None };
    let arc = match vm.rt.heap.get(r).as_deref() {
        Ok(Obj::Native(n))
            if matches!(
                n.kind(),
                nk::TASK | nk::EVENT_LOOP_FUTURE | nk::GATHERING_FUTURE
            ) =>
        {
            n.clone()
        }
        _ => return None,
    };
    downcast_arc::<Fut>(arc)
}

fn fut_arg(vm: &mut Vm, v: Option<Value>) -> PyResult<Arc<Fut>> {
    let v = v.unwrap_or(Value::None);
    fut_of(vm, v).ok_or_else(|| {
        let t = vm.type_name(v);
        PyErr::type_error(format!("descriptor doesn't apply to a '{t}' object"))
    })
}

/// A new pending future (owned reference).
pub fn new_future(vm: &mut Vm) -> PyResult<Value> {
    vm.alloc(Obj::Native(Arc::new(Fut::new(
        false,
        Value::None,
        String::new(),
    ))))
}

/// Complete future `fv` (borrowed) with an owned `value`; false (and `value`
/// released) if it was already done. Its callbacks are scheduled on the loop.
pub fn complete(vm: &mut Vm, fv: Value, state: FState, value: Value) -> bool {
    let Some(f) = fut_of(vm, fv) else {
        vm.decref(value);
        return false;
    };
    complete_fut(vm, &f, fv, state, value)
}

fn complete_fut(vm: &mut Vm, f: &Fut, fv: Value, state: FState, value: Value) -> bool {
    let callbacks = {
        let mut st = f.st.lock();
        if st.state != FState::Pending {
            drop(st);
            vm.decref(value);
            return false;
        }
        st.state = state;
        st.value = value;
        std::mem::take(&mut st.callbacks)
    };
    schedule_callbacks(vm, fv, callbacks);
    true
}

fn schedule_callbacks(vm: &mut Vm, fv: Value, callbacks: Vec<Callback>) {
    let mut jobs = Vec::with_capacity(callbacks.len());
    for c in callbacks {
        jobs.push(match c {
            Callback::Wake(t) => Job::Step(t),
            Callback::Gather(outer, idx) => Job::Gathered(outer, idx),
            Callback::Call(func) => {
                vm.incref(fv);
                Job::Call(func, fv)
            }
        });
    }
    push_jobs(vm, jobs);
}

/// Cancel a future or task (borrowed); false if it was already done.
pub fn cancel(vm: &mut Vm, fv: Value) -> bool {
    let Some(f) = fut_of(vm, fv) else {
        return false;
    };
    if f.is_task {
        let waiting = {
            let st = f.st.lock();
            if st.state != FState::Pending {
                return false;
            }
            st.waiting_on
        };
        // A task suspended on a future cancels that future: the wake-up then
        // raises CancelledError inside the coroutine.
        if !matches!(waiting, Value::None) {
            vm.incref(waiting);
            let ok = cancel(vm, waiting);
            vm.decref(waiting);
            if ok {
                return true;
            }
        }
        f.st.lock().must_cancel = true;
        return true;
    }
    let children = {
        let mut st = f.st.lock();
        if st.state != FState::Pending {
            return false;
        }
        match &mut st.gather {
            Some(g) => Some(g.children.clone()),
            None => None,
        }
    };
    if let Some(children) = children {
        // A gathering future cancels its children and completes (cancelled)
        // once they have all finished.
        let mut any = false;
        for c in children {
            vm.incref(c);
            any |= cancel(vm, c);
            vm.decref(c);
        }
        if any {
            if let Some(g) = &mut f.st.lock().gather {
                g.cancel_requested = true;
            }
        }
        return any;
    }
    complete_fut(vm, &f, fv, FState::Cancelled, Value::None)
}

/// The outcome of a done future: its result (new reference) or its exception.
pub fn outcome(vm: &mut Vm, f: &Fut) -> PyResult<Value> {
    let (state, v) = {
        let st = f.st.lock();
        (st.state, st.value)
    };
    match state {
        FState::Done => {
            vm.incref(v);
            Ok(v)
        }
        FState::Failed => match v {
            Value::Obj(r) => {
                vm.incref(v);
                Err(PyErr::from_obj(r))
            }
            _ => Err(PyErr::new(ExcKind::RuntimeError, "future failed")),
        },
        FState::Cancelled => Err(PyErr::new(ExcKind::CancelledError, "")),
        FState::Pending => Err(invalid_state(vm, "Result is not set.")),
    }
}

fn invalid_state(vm: &mut Vm, msg: &str) -> PyErr {
    super::module_error(vm, "asyncio", "InvalidStateError", msg.to_string())
}

/// `await fut`: a pending future is yielded up to the task (which waits for it);
/// a done one gives its result.
pub fn await_future(vm: &mut Vm, fv: Value, f: &Fut) -> PyResult<GenResult> {
    if f.done() {
        return outcome(vm, f).map(GenResult::Returned);
    }
    vm.incref(fv);
    Ok(GenResult::Yielded(fv))
}

// ------------------------------------------------------------------ the loop

/// A unit of work on the ready queue (each holds owned references).
enum Job {
    /// Run the next step of a task.
    Step(Value),
    /// A child of gathering future `outer` is done.
    Gathered(Value, usize),
    /// `callback(future)`.
    Call(Value, Value),
}

pub enum TimerAction {
    /// Complete the future with this value (sleep, a simulated response).
    Resolve(Value, Value),
    /// wait_for's deadline: cancel the awaited future unless already disarmed.
    Timeout(Value, Arc<AtomicU8>),
}

struct Timer {
    when: Instant,
    seq: u64,
    action: TimerAction,
}

impl PartialEq for Timer {
    fn eq(&self, o: &Self) -> bool {
        (self.when, self.seq) == (o.when, o.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timer {
    /// Reversed: the earliest timer is the heap's greatest.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.when, o.seq).cmp(&(self.when, self.seq))
    }
}

/// Where helper threads (loopback fetches) leave their results for the loop.
#[derive(Default)]
pub struct Inbox {
    items: Mutex<
        Vec<(
            u64,
            Result<crate::concurrency::net::SimResponse, crate::concurrency::net::NetError>,
        )>,
    >,
    cond: Condvar,
}

struct LoopState {
    ready: VecDeque<Job>,
    timers: BinaryHeap<Timer>,
    seq: u64,
    /// Every task not known to be finished (owned), for the final cancellation.
    tasks: Vec<Value>,
    current: Value,
    inbox: Arc<Inbox>,
    /// Futures waiting for a helper thread, by ticket.
    pending_io: Vec<(u64, Value)>,
    start: Instant,
}

thread_local! {
    static LOOP: RefCell<Option<LoopState>> = const { RefCell::new(None) };
}

/// Run `f` on this thread's running loop, if there is one. `f` must not call
/// into the VM (the loop is borrowed meanwhile).
fn with_loop<R>(f: impl FnOnce(&mut LoopState) -> R) -> Option<R> {
    LOOP.with(|l| l.borrow_mut().as_mut().map(f))
}

fn running() -> bool {
    LOOP.with(|l| l.borrow().is_some())
}

fn no_loop() -> PyErr {
    PyErr::new(ExcKind::RuntimeError, "no running event loop")
}

fn push_jobs(vm: &mut Vm, jobs: Vec<Job>) {
    if jobs.is_empty() {
        return;
    }
    let mut jobs = Some(jobs);
    with_loop(|l| l.ready.extend(jobs.take().into_iter().flatten()));
    // No loop: nothing will ever run them.
    for j in jobs.into_iter().flatten() {
        release_job(vm, j);
    }
}

fn release_job(vm: &mut Vm, j: Job) {
    match j {
        Job::Step(v) | Job::Gathered(v, _) => vm.decref(v),
        Job::Call(a, b) => {
            vm.decref(a);
            vm.decref(b);
        }
    }
}

/// Seconds on the loop's clock (`loop.time()`).
fn loop_time() -> f64 {
    with_loop(|l| l.start.elapsed().as_secs_f64()).unwrap_or(0.0)
}

/// Schedule `action` to happen `delay` seconds from now.
pub fn call_later(vm: &mut Vm, delay: f64, action: TimerAction) {
    let when = Instant::now() + Duration::from_secs_f64(delay.clamp(0.0, 1e9));
    let mut action = Some(action);
    with_loop(|l| {
        l.seq += 1;
        if let Some(action) = action.take() {
            l.timers.push(Timer {
                when,
                seq: l.seq,
                action,
            });
        }
    });
    match action {
        Some(TimerAction::Resolve(a, b)) => {
            vm.decref(a);
            vm.decref(b);
        }
        Some(TimerAction::Timeout(a, _)) => vm.decref(a),
        None => {}
    }
}

/// A new task for coroutine `coro` (owned), scheduled to start.
pub fn create_task(vm: &mut Vm, coro: Value, name: Option<String>) -> PyResult<Value> {
    static TASKS: AtomicU64 = AtomicU64::new(0);
    if !running() {
        vm.decref(coro);
        return Err(no_loop());
    }
    let name =
        name.unwrap_or_else(|| format!("Task-{}", TASKS.fetch_add(1, Ordering::Relaxed) + 1));
    let t = vm.alloc(Obj::Native(Arc::new(Fut::new(true, coro, name))))?;
    vm.counters.tasks_created += 1;
    vm.incref(t);
    vm.incref(t);
    let mut held = Some((t, t));
    with_loop(|l| {
        if let Some((a, b)) = held.take() {
            l.ready.push_back(Job::Step(a));
            l.tasks.push(b);
        }
    });
    if let Some((a, b)) = held {
        vm.decref(a);
        vm.decref(b);
    }
    prune_tasks(vm);
    Ok(t)
}

/// Now and then, let go of finished tasks in the loop's list.
fn prune_tasks(vm: &mut Vm) {
    let n = with_loop(|l| l.tasks.len()).unwrap_or(0);
    if n < 1024 || !n.is_power_of_two() {
        return;
    }
    let tasks = with_loop(|l| std::mem::take(&mut l.tasks)).unwrap_or_default();
    let mut keep = Vec::with_capacity(tasks.len());
    for t in tasks {
        if fut_of(vm, t).is_some_and(|f| !f.done()) {
            keep.push(t);
        } else {
            vm.decref(t);
        }
    }
    let mut keep = Some(keep);
    with_loop(|l| l.tasks.extend(keep.take().into_iter().flatten()));
    if let Some(k) = keep {
        vm.decref_all(k);
    }
}

fn is_coroutine(vm: &mut Vm, v: Value) -> bool {
    let Value::Obj(r) = v else { return false };
    match vm.rt.heap.get(r).as_deref() {
        Ok(Obj::Generator(g)) => g.is_coroutine,
        Ok(Obj::Native(n)) => n.kind() == nk::NATIVE_CORO,
        _ => false,
    }
}

/// `ensure_future(aw)`: a future or task as is, a coroutine wrapped in a task.
/// Returns a new reference.
pub fn ensure_future(vm: &mut Vm, aw: Value) -> PyResult<Value> {
    if fut_of(vm, aw).is_some() {
        vm.incref(aw);
        return Ok(aw);
    }
    if is_coroutine(vm, aw) {
        vm.incref(aw);
        return create_task(vm, aw, None);
    }
    Err(PyErr::type_error(
        "An asyncio.Future, a coroutine or an awaitable is required",
    ))
}

/// Resume a task's coroutine (borrowed) once.
fn drive(vm: &mut Vm, coro: Value, throw: Option<PyErr>) -> PyResult<GenResult> {
    let Value::Obj(r) = coro else {
        return Err(PyErr::type_error("a coroutine was expected"));
    };
    let how = match throw {
        Some(e) => Resume::Throw(e),
        None => Resume::Send(Value::None),
    };
    let is_gen = matches!(vm.rt.heap.get(r).as_deref(), Ok(Obj::Generator(_)));
    if is_gen {
        return vm.resume_with(r, how);
    }
    match native_arc(vm, coro)
        .ok()
        .and_then(downcast_arc::<NativeCoro>)
    {
        Some(c) => c.step(vm, how),
        None => Err(PyErr::type_error("a coroutine was expected")),
    }
}

/// One step of task `tv` (owned reference), as CPython's `Task.__step`.
fn step_task(vm: &mut Vm, tv: Value) -> PyResult<()> {
    let Some(task) = fut_of(vm, tv) else {
        vm.decref(tv);
        return Ok(());
    };
    let (coro, throw, waited) = {
        let mut st = task.st.lock();
        if st.state != FState::Pending {
            drop(st);
            vm.decref(tv);
            return Ok(());
        }
        let throw = std::mem::take(&mut st.throw_next);
        let throw = match throw {
            Value::Obj(r) => Some(PyErr::from_obj(r)),
            _ if st.must_cancel => Some(PyErr::new(ExcKind::CancelledError, "")),
            _ => None,
        };
        st.must_cancel = false;
        (st.coro, throw, std::mem::take(&mut st.waiting_on))
    };
    vm.decref(waited);
    vm.incref(coro);
    vm.incref(tv);
    let prev = with_loop(|l| std::mem::replace(&mut l.current, tv)).unwrap_or(Value::None);
    let r = drive(vm, coro, throw);
    let cur = with_loop(|l| std::mem::replace(&mut l.current, prev)).unwrap_or(Value::None);
    vm.decref(cur);
    vm.decref(coro);
    let mut fatal = None;
    match r {
        Ok(GenResult::Returned(v)) => {
            let cancel = task.st.lock().must_cancel;
            if cancel {
                vm.decref(v);
                complete_fut(vm, &task, tv, FState::Cancelled, Value::None);
            } else {
                complete_fut(vm, &task, tv, FState::Done, v);
            }
        }
        Ok(GenResult::Yielded(y)) => on_yield(vm, &task, tv, y)?,
        Err(e) => {
            if vm.err_is(&e, ExcKind::CancelledError) {
                let r = vm.materialize(e);
                vm.decref(Value::Obj(r));
                complete_fut(vm, &task, tv, FState::Cancelled, Value::None);
            } else {
                // SystemExit and KeyboardInterrupt end the loop, as in CPython.
                let exit =
                    vm.err_is(&e, ExcKind::SystemExit) || vm.err_is(&e, ExcKind::KeyboardInterrupt);
                let r = vm.materialize(e);
                if exit {
                    vm.incref(Value::Obj(r));
                    fatal = Some(PyErr::from_obj(r));
                }
                complete_fut(vm, &task, tv, FState::Failed, Value::Obj(r));
            }
        }
    }
    vm.decref(tv);
    match fatal {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The task's coroutine yielded `y` (owned): wait for it if it is a future.
fn on_yield(vm: &mut Vm, task: &Arc<Fut>, tv: Value, y: Value) -> PyResult<()> {
    if matches!(y, Value::None) {
        // A bare yield (`sleep(0)`): let the others run, then carry on.
        vm.incref(tv);
        push_jobs(vm, vec![Job::Step(tv)]);
        return Ok(());
    }
    let Some(f) = fut_of(vm, y) else {
        let msg = format!("Task got bad yield: {}", vm.repr(y)?);
        vm.decref(y);
        let e = vm.materialize(PyErr::new(ExcKind::RuntimeError, msg));
        task.st.lock().throw_next = Value::Obj(e);
        vm.incref(tv);
        push_jobs(vm, vec![Job::Step(tv)]);
        return Ok(());
    };
    if y.as_obj().is_some() && y.as_obj() == tv.as_obj() {
        vm.decref(y);
        let msg = format!("Task cannot await on itself: {}", repr_fut(vm, tv, task));
        let e = vm.materialize(PyErr::new(ExcKind::RuntimeError, msg));
        task.st.lock().throw_next = Value::Obj(e);
        vm.incref(tv);
        push_jobs(vm, vec![Job::Step(tv)]);
        return Ok(());
    }
    let waiting = {
        let mut st = f.st.lock();
        if st.state == FState::Pending {
            vm.incref(tv);
            st.callbacks.push(Callback::Wake(tv));
            true
        } else {
            false
        }
    };
    if !waiting {
        vm.decref(y);
        vm.incref(tv);
        push_jobs(vm, vec![Job::Step(tv)]);
        return Ok(());
    }
    let cancel = {
        let mut st = task.st.lock();
        st.waiting_on = y;
        st.must_cancel
    };
    if cancel && self::cancel(vm, y) {
        task.st.lock().must_cancel = false;
    }
    Ok(())
}

fn run_job(vm: &mut Vm, job: Job) -> PyResult<()> {
    match job {
        Job::Step(t) => step_task(vm, t),
        Job::Gathered(outer, idx) => {
            gathered(vm, outer, idx);
            vm.decref(outer);
            Ok(())
        }
        Job::Call(func, fut) => {
            let r = vm.call_value(func, &[fut], &[]);
            vm.decref(func);
            vm.decref(fut);
            match r {
                Ok(v) => vm.decref(v),
                Err(e) => {
                    let r = vm.materialize(e);
                    let text = vm.format_exception(r);
                    vm.decref(Value::Obj(r));
                    eprint!("Exception in callback:\n{text}");
                }
            }
            Ok(())
        }
    }
}

/// Fire every timer that is due.
fn fire_timers(vm: &mut Vm) {
    let now = Instant::now();
    let due = with_loop(|l| {
        let mut due = Vec::new();
        while l.timers.peek().is_some_and(|t| t.when <= now) {
            if let Some(t) = l.timers.pop() {
                due.push(t.action);
            }
        }
        due
    })
    .unwrap_or_default();
    for a in due {
        match a {
            TimerAction::Resolve(f, v) => {
                complete(vm, f, FState::Done, v);
                vm.decref(f);
            }
            TimerAction::Timeout(f, armed) => {
                if armed
                    .compare_exchange(ARMED, FIRED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    cancel(vm, f);
                }
                vm.decref(f);
            }
        }
    }
}

pub const ARMED: u8 = 0;
pub const FIRED: u8 = 1;
pub const DISARMED: u8 = 2;

/// Results that helper threads delivered: complete their futures.
fn take_inbox(vm: &mut Vm) {
    let Some(inbox) = with_loop(|l| l.inbox.clone()) else {
        return;
    };
    let items = std::mem::take(&mut *inbox.items.lock());
    for (ticket, res) in items {
        let fut = with_loop(|l| {
            let i = l.pending_io.iter().position(|(t, _)| *t == ticket)?;
            Some(l.pending_io.swap_remove(i).1)
        })
        .flatten();
        let Some(fut) = fut else { continue };
        match res {
            Ok(resp) => match super::aiohttp::new_response(vm, resp) {
                Ok(v) => {
                    complete(vm, fut, FState::Done, v);
                }
                Err(e) => fail(vm, fut, e),
            },
            Err(e) => {
                let err = super::aiohttp::net_error(vm, &e);
                fail(vm, fut, err);
            }
        }
        vm.decref(fut);
    }
}

/// Complete future `fut` (borrowed) with exception `e`.
pub fn fail(vm: &mut Vm, fut: Value, e: PyErr) {
    let r = vm.materialize(e);
    complete(vm, fut, FState::Failed, Value::Obj(r));
}

/// Hand a blocking job to a helper thread; its result completes `fut` (owned).
pub fn spawn_io(
    vm: &mut Vm,
    fut: Value,
    work: impl FnOnce() -> Result<crate::concurrency::net::SimResponse, crate::concurrency::net::NetError>
        + Send
        + 'static,
) {
    static TICKETS: AtomicU64 = AtomicU64::new(0);
    let ticket = TICKETS.fetch_add(1, Ordering::Relaxed);
    let mut fut = Some(fut);
    let inbox = with_loop(|l| {
        if let Some(f) = fut.take() {
            l.pending_io.push((ticket, f));
        }
        l.inbox.clone()
    });
    if let Some(f) = fut {
        vm.decref(f);
    }
    let Some(inbox) = inbox else { return };
    std::thread::spawn(move || {
        let r = work();
        inbox.items.lock().push((ticket, r));
        inbox.cond.notify_all();
    });
}

/// Run the loop until `target` is done. Err: a deadlock, or SystemExit.
fn run_until(vm: &mut Vm, target: &Fut) -> PyResult<()> {
    loop {
        fire_timers(vm);
        take_inbox(vm);
        let n = with_loop(|l| l.ready.len()).unwrap_or(0);
        if n == 0 {
            if target.done() {
                return Ok(());
            }
            let (next, io, inbox) = match with_loop(|l| {
                (
                    l.timers.peek().map(|t| t.when),
                    !l.pending_io.is_empty(),
                    l.inbox.clone(),
                )
            }) {
                Some(x) => x,
                None => return Err(no_loop()),
            };
            if next.is_none() && !io {
                return Err(PyErr::new(
                    ExcKind::RuntimeError,
                    "deadlock: every task is waiting and nothing (no timer, no I/O) can wake one; CPython would hang here",
                ));
            }
            // Nothing to do until a timer is due or a fetch finishes: wait
            // without the GIL, as CPython's loop does in select().
            let t0 = Instant::now();
            vm.blocking(|| {
                let mut items = inbox.items.lock();
                if items.is_empty() {
                    match next {
                        Some(d) => {
                            let _ = inbox.cond.wait_until(&mut items, d);
                        }
                        None => inbox.cond.wait(&mut items),
                    }
                }
            })?;
            vm.counters.loop_idle_ns += t0.elapsed().as_nanos() as u64;
            continue;
        }
        for _ in 0..n {
            let Some(job) = with_loop(|l| l.ready.pop_front()).flatten() else {
                break;
            };
            run_job(vm, job)?;
        }
        if target.done() {
            return Ok(());
        }
    }
}

/// Drop everything the loop still holds.
fn close_loop(vm: &mut Vm) {
    let Some(l) = LOOP.with(|l| l.borrow_mut().take()) else {
        return;
    };
    for j in l.ready {
        release_job(vm, j);
    }
    for t in l.timers {
        match t.action {
            TimerAction::Resolve(a, b) => {
                vm.decref(a);
                vm.decref(b);
            }
            TimerAction::Timeout(a, _) => vm.decref(a),
        }
    }
    vm.decref_all(l.tasks);
    vm.decref(l.current);
    for (_, f) in l.pending_io {
        vm.decref(f);
    }
}

/// `asyncio.run(coro)`.
fn run(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("run", args, 1, 1)?;
    only_kwargs("run", kw, &["debug"])?;
    let coro = args[0];
    if running() {
        return Err(PyErr::new(
            ExcKind::RuntimeError,
            "asyncio.run() cannot be called from a running event loop",
        ));
    }
    if !is_coroutine(vm, coro) {
        let r = vm.repr(coro)?;
        return Err(PyErr::value_error(format!(
            "a coroutine was expected, got {r}"
        )));
    }
    LOOP.with(|l| {
        *l.borrow_mut() = Some(LoopState {
            ready: VecDeque::new(),
            timers: BinaryHeap::new(),
            seq: 0,
            tasks: Vec::new(),
            current: Value::None,
            inbox: Arc::new(Inbox::default()),
            pending_io: Vec::new(),
            start: Instant::now(),
        })
    });
    vm.incref(coro);
    let main = match create_task(vm, coro, None) {
        Ok(t) => t,
        Err(e) => {
            close_loop(vm);
            return Err(e);
        }
    };
    let r = match fut_of(vm, main) {
        Some(m) => {
            let r = run_until(vm, &m);
            let r = r.and_then(|()| {
                cancel_all(vm)?;
                outcome(vm, &m)
            });
            if r.is_err() && !m.done() {
                // Deadlock: leave quietly, the error says why.
                let _ = cancel_all(vm);
            }
            r
        }
        None => Err(no_loop()),
    };
    vm.decref(main);
    close_loop(vm);
    r
}

/// As `asyncio.run` does at the end: cancel the tasks still pending and let them
/// finish (their `finally` blocks run).
fn cancel_all(vm: &mut Vm) -> PyResult<()> {
    let tasks = with_loop(|l| std::mem::take(&mut l.tasks)).unwrap_or_default();
    let mut pending = Vec::new();
    for t in tasks {
        match fut_of(vm, t) {
            Some(f) if !f.done() => pending.push((t, f)),
            _ => vm.decref(t),
        }
    }
    for (t, _) in &pending {
        cancel(vm, *t);
    }
    for (_, f) in &pending {
        if let Err(e) = run_until(vm, f) {
            // Tasks that cannot finish are left behind (they hold nothing we need).
            let r = vm.materialize(e);
            vm.decref(Value::Obj(r));
            break;
        }
    }
    for (t, _) in pending {
        vm.decref(t);
    }
    Ok(())
}

// ------------------------------------------------------------------ gather

fn gather(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    only_kwargs("gather", kw, &["return_exceptions"])?;
    let return_exceptions = match kwarg(kw, "return_exceptions") {
        Some(v) => vm.truthy(v)?,
        None => false,
    };
    if !running() {
        return Err(no_loop());
    }
    let mut children = Vec::with_capacity(args.len());
    for &a in args {
        match ensure_future(vm, a) {
            Ok(c) => children.push(c),
            Err(e) => {
                vm.decref_all(children);
                return Err(e);
            }
        }
    }
    let mut gf = Fut::new(false, Value::None, String::new());
    gf.gathering = true;
    let outer = vm.alloc(Obj::Native(Arc::new(gf)))?;
    let Some(of) = fut_of(vm, outer) else {
        vm.decref_all(children);
        return Ok(outer);
    };
    if children.is_empty() {
        let l = vm.new_list(vec![])?;
        complete_fut(vm, &of, outer, FState::Done, l);
        return Ok(outer);
    }
    for (i, &c) in children.iter().enumerate() {
        let Some(cf) = fut_of(vm, c) else { continue };
        vm.incref(outer);
        let pending = {
            let mut st = cf.st.lock();
            if st.state == FState::Pending {
                st.callbacks.push(Callback::Gather(outer, i));
                true
            } else {
                false
            }
        };
        if !pending {
            push_jobs(vm, vec![Job::Gathered(outer, i)]);
        }
    }
    of.st.lock().gather = Some(GatherPart {
        children,
        return_exceptions,
        finished: 0,
        cancel_requested: false,
    });
    Ok(outer)
}

/// A child of a gathering future finished (CPython's `_done_callback`).
fn gathered(vm: &mut Vm, outer: Value, idx: usize) {
    let Some(of) = fut_of(vm, outer) else { return };
    let (child, all_done, return_exceptions, outer_done) = {
        let mut st = of.st.lock();
        let outer_done = st.state != FState::Pending;
        let Some(g) = &mut st.gather else { return };
        g.finished += 1;
        let child = g.children.get(idx).copied().unwrap_or(Value::None);
        (
            child,
            g.finished == g.children.len(),
            g.return_exceptions,
            outer_done,
        )
    };
    if outer_done {
        return;
    }
    let Some(cf) = fut_of(vm, child) else { return };
    if !return_exceptions {
        let (state, v) = {
            let st = cf.st.lock();
            (st.state, st.value)
        };
        match state {
            FState::Cancelled => {
                fail(vm, outer, PyErr::new(ExcKind::CancelledError, ""));
                return;
            }
            FState::Failed => {
                vm.incref(v);
                complete_fut(vm, &of, outer, FState::Failed, v);
                return;
            }
            _ => {}
        }
    }
    if !all_done {
        return;
    }
    let (children, cancel_requested) = match &of.st.lock().gather {
        Some(g) => (g.children.clone(), g.cancel_requested),
        None => return,
    };
    let mut results = Vec::with_capacity(children.len());
    for c in children {
        let Some(cf) = fut_of(vm, c) else {
            results.push(Value::None);
            continue;
        };
        let (state, v) = {
            let st = cf.st.lock();
            (st.state, st.value)
        };
        match state {
            FState::Cancelled => {
                let e = vm.materialize(PyErr::new(ExcKind::CancelledError, ""));
                results.push(Value::Obj(e));
            }
            _ => {
                vm.incref(v);
                results.push(v);
            }
        }
    }
    if cancel_requested {
        vm.decref_all(results);
        complete_fut(vm, &of, outer, FState::Cancelled, Value::None);
        return;
    }
    match vm.new_list(results) {
        Ok(l) => {
            complete_fut(vm, &of, outer, FState::Done, l);
        }
        Err(e) => fail(vm, outer, e),
    }
}

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
