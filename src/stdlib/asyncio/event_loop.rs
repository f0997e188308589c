//! The event loop: ready jobs, timers, the wait without the GIL, task steps,
//! and `asyncio.run`.

use super::*;

// ------------------------------------------------------------------ the loop

/// A unit of work on the ready queue (each holds owned references).
pub(crate) enum Job {
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

pub(crate) struct Timer {
    pub(crate) when: Instant,
    pub(crate) seq: u64,
    pub(crate) action: TimerAction,
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
    pub(crate) items: Mutex<
        Vec<(
            u64,
            Result<crate::concurrency::net::SimResponse, crate::concurrency::net::NetError>,
        )>,
    >,
    pub(crate) cond: Condvar,
}

pub(crate) struct LoopState {
    pub(crate) ready: VecDeque<Job>,
    pub(crate) timers: BinaryHeap<Timer>,
    pub(crate) seq: u64,
    /// Every task not known to be finished (owned), for the final cancellation.
    pub(crate) tasks: Vec<Value>,
    pub(crate) current: Value,
    pub(crate) inbox: Arc<Inbox>,
    /// Futures waiting for a helper thread, by ticket.
    pub(crate) pending_io: Vec<(u64, Value)>,
    pub(crate) start: Instant,
}

thread_local! {
    static LOOP: RefCell<Option<LoopState>> = const { RefCell::new(None) };
}

/// Run `f` on this thread's running loop, if there is one. `f` must not call
/// into the VM (the loop is borrowed meanwhile).
pub(crate) fn with_loop<R>(f: impl FnOnce(&mut LoopState) -> R) -> Option<R> {
    LOOP.with(|l| l.borrow_mut().as_mut().map(f))
}

pub(crate) fn running() -> bool {
    LOOP.with(|l| l.borrow().is_some())
}

pub(crate) fn no_loop() -> PyErr {
    PyErr::new(ExcKind::RuntimeError, "no running event loop")
}

pub(crate) fn push_jobs(vm: &mut Vm, jobs: Vec<Job>) {
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

pub(crate) fn release_job(vm: &mut Vm, j: Job) {
    match j {
        Job::Step(v) | Job::Gathered(v, _) => vm.decref(v),
        Job::Call(a, b) => {
            vm.decref(a);
            vm.decref(b);
        }
    }
}

/// Seconds on the loop's clock (`loop.time()`).
pub(crate) fn loop_time() -> f64 {
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
pub(crate) fn prune_tasks(vm: &mut Vm) {
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

pub(crate) fn is_coroutine(vm: &mut Vm, v: Value) -> bool {
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
pub(crate) fn drive(vm: &mut Vm, coro: Value, throw: Option<PyErr>) -> PyResult<GenResult> {
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
pub(crate) fn step_task(vm: &mut Vm, tv: Value) -> PyResult<()> {
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
    crate::observe::events::record(crate::observe::events::Kind::TaskStep);
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
pub(crate) fn on_yield(vm: &mut Vm, task: &Arc<Fut>, tv: Value, y: Value) -> PyResult<()> {
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

pub(crate) fn run_job(vm: &mut Vm, job: Job) -> PyResult<()> {
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
pub(crate) fn fire_timers(vm: &mut Vm) {
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
pub(crate) fn take_inbox(vm: &mut Vm) {
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
            Ok(resp) => match crate::stdlib::aiohttp::new_response(vm, resp) {
                Ok(v) => {
                    complete(vm, fut, FState::Done, v);
                }
                Err(e) => fail(vm, fut, e),
            },
            Err(e) => {
                let err = crate::stdlib::aiohttp::net_error(vm, &e);
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
pub(crate) fn run_until(vm: &mut Vm, target: &Fut) -> PyResult<()> {
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
pub(crate) fn close_loop(vm: &mut Vm) {
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
pub(crate) fn run(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
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
pub(crate) fn cancel_all(vm: &mut Vm) -> PyResult<()> {
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
