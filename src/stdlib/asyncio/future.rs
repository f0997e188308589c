//! Futures and tasks (one type: a task is a future with a coroutine to drive),
//! their completion and cancellation, and `gather`'s future of futures.

use super::*;

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
pub(crate) enum Callback {
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
pub(crate) struct GatherPart {
    pub(crate) children: Vec<Value>,
    pub(crate) return_exceptions: bool,
    pub(crate) finished: usize,
    pub(crate) cancel_requested: bool,
}

#[derive(Debug)]
pub(crate) struct FutSt {
    pub(crate) state: FState,
    /// The result, or the exception object when `Failed`.
    pub(crate) value: Value,
    pub(crate) callbacks: Vec<Callback>,
    /// Tasks only: the coroutine, and the future it is suspended on.
    pub(crate) coro: Value,
    pub(crate) waiting_on: Value,
    pub(crate) must_cancel: bool,
    /// An exception to throw into the coroutine at its next step.
    pub(crate) throw_next: Value,
    pub(crate) name: String,
    pub(crate) gather: Option<GatherPart>,
}

/// An `asyncio.Future`, or (with a coroutine) an `asyncio.Task`.
#[derive(Debug)]
pub struct Fut {
    pub(crate) is_task: bool,
    /// What `gather` returns (a future with children).
    pub(crate) gathering: bool,
    pub(crate) st: Mutex<FutSt>,
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
    pub(crate) fn new(is_task: bool, coro: Value, name: String) -> Fut {
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

pub(crate) fn fut_arg(vm: &mut Vm, v: Option<Value>) -> PyResult<Arc<Fut>> {
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

pub(crate) fn complete_fut(vm: &mut Vm, f: &Fut, fv: Value, state: FState, value: Value) -> bool {
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

pub(crate) fn schedule_callbacks(vm: &mut Vm, fv: Value, callbacks: Vec<Callback>) {
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

pub(crate) fn invalid_state(vm: &mut Vm, msg: &str) -> PyErr {
    crate::stdlib::module_error(vm, "asyncio", "InvalidStateError", msg.to_string())
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

// ------------------------------------------------------------------ gather

pub(crate) fn gather(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
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
pub(crate) fn gathered(vm: &mut Vm, outer: Value, idx: usize) {
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
