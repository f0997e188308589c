//! The driver around the VM: every Toy thread is an OS thread running its own
//! `Vm` over the shared runtime, under the GIL (or not, with `--gil off`).
//!
//! `GilHooks` is what the VM calls at its eval breaker (`handle_pending`: honour a
//! drop request) and around blocking calls (`blocking`: release the lock while
//! waiting); it also keeps the registry of threads and collects each thread's
//! counters when it ends. `ThreadHandle` is the state behind a `threading.Thread`
//! object.

use super::gil::{DropRequest, Gil};
use super::sync::Mutex;
use crate::heap::{native_kind, NativeObject, Obj, Value};
use crate::observe::events::{self, Kind};
use crate::vm::breaker::{Breaker, DROP_REQUEST};
use crate::vm::{Hooks, PyErr, PyResult, Vm};
use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// OS stack of a Toy thread: Toy frames live on the VM's own stack, so this only
/// needs room for built-ins that call back into Toy code (bounded nesting).
pub const THREAD_STACK: usize = 2 << 20;

impl DropRequest for Breaker {
    fn request_drop(&self) {
        self.set(DROP_REQUEST);
        // Called by the waiting thread, so it lands on the waiter's lane.
        events::record(Kind::DropRequest);
    }
    fn clear_drop(&self) {
        self.clear(DROP_REQUEST);
    }
}

/// One thread's counters, merged into the run's statistics when it ends.
#[derive(Debug, Clone, Default)]
pub struct ThreadStats {
    pub name: String,
    pub ident: u64,
    pub instructions: u64,
    pub gil_acquisitions: u64,
    pub forced_switches: u64,
    pub voluntary_releases: u64,
    pub drop_requests: u64,
    pub gil_hold_s: f64,
    pub gil_wait_s: f64,
    pub io_s: f64,
    pub allocs: u64,
    pub frees: u64,
    /// Coroutine resumptions, asyncio tasks created and the event loop's idle time.
    pub coroutine_steps: u64,
    pub tasks_created: u64,
    pub loop_idle_s: f64,
    /// Reference counts this thread increased and decreased, and other threads'
    /// updates its stores erased (`heap::LocalHeap`).
    pub increfs: u64,
    pub decrefs: u64,
    pub lost_increfs: u64,
    pub lost_decrefs: u64,
    /// Other threads' appended items its appends wrote over.
    pub lost_appends: u64,
}

/// The state behind a `threading.Thread`.
#[derive(Debug)]
pub struct ThreadHandle {
    pub name: parking_lot::Mutex<String>,
    pub ident: AtomicU64,
    pub daemon: AtomicBool,
    started: AtomicBool,
    finished: parking_lot::Mutex<bool>,
    done: parking_lot::Condvar,
    /// target, args (tuple), kwargs (dict or None): references the object holds.
    pub call: parking_lot::Mutex<Option<(Value, Value, Value)>>,
}

impl ThreadHandle {
    pub fn new(name: String, call: Option<(Value, Value, Value)>, daemon: bool) -> Self {
        ThreadHandle {
            name: parking_lot::Mutex::new(name),
            ident: AtomicU64::new(0),
            daemon: AtomicBool::new(daemon),
            started: AtomicBool::new(false),
            finished: parking_lot::Mutex::new(false),
            done: parking_lot::Condvar::new(),
            call: parking_lot::Mutex::new(call),
        }
    }
    /// For the main thread's object: it runs already.
    pub fn mark_running(&self) {
        self.started.store(true, Relaxed);
    }
    pub fn is_started(&self) -> bool {
        self.started.load(Relaxed)
    }
    pub fn is_finished(&self) -> bool {
        *self.finished.lock()
    }
    pub fn is_alive(&self) -> bool {
        self.is_started() && !self.is_finished()
    }
    fn finish(&self) {
        *self.finished.lock() = true;
        self.done.notify_all();
    }
    /// Wait (without the GIL) until the thread ends or the timeout passes.
    pub fn wait(&self, timeout: Option<Duration>) {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut f = self.finished.lock();
        while !*f {
            match deadline {
                None => self.done.wait(&mut f),
                Some(d) => {
                    if self.done.wait_until(&mut f, d).timed_out() {
                        return;
                    }
                }
            }
        }
    }
}

impl NativeObject for ThreadHandle {
    fn kind(&self) -> u8 {
        native_kind::THREAD
    }
    fn children(&self, f: &mut dyn FnMut(Value)) {
        if let Some((a, b, c)) = *self.call.lock() {
            f(a);
            f(b);
            f(c);
        }
    }
    fn take_children(&self) -> Vec<Value> {
        match self.call.lock().take() {
            Some((a, b, c)) => vec![a, b, c],
            None => vec![],
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// Work for the end of the main thread (see `GilHooks::at_exit`).
pub type ExitWork = Box<dyn FnOnce(&mut Vm) + Send>;

/// Per-thread bookkeeping the hooks keep while a thread runs.
#[derive(Debug, Default)]
struct Clock {
    held_since: Option<Instant>,
}

/// The GIL and the thread registry of one run.
pub struct GilHooks {
    pub gil: Gil,
    threads: Mutex<Vec<Arc<ThreadHandle>>>,
    stats: Mutex<Vec<ThreadStats>>,
    next_number: AtomicU32,
    next_ident: AtomicU64,
    exit_work: Mutex<Vec<ExitWork>>,
    /// `--max-threads`: how many threads besides the main thread may be alive
    /// at once (None: no cap but the OS's own).
    max_threads: Option<usize>,
    /// Threads started and not yet ended, shared with each thread's
    /// `ThreadSlot` so that the count drops when the thread does.
    running: Arc<AtomicUsize>,
    /// Program start, for timelines.
    pub epoch: Instant,
}

/// One place under `--max-threads`, held by a running thread and given back
/// when it is dropped: before the thread is marked finished (so a `join()`
/// followed by a new `start()` finds the place free), and also if the thread
/// body unwinds.
struct ThreadSlot(Arc<AtomicUsize>);

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

thread_local! {
    static CLOCK: std::cell::RefCell<Clock> = std::cell::RefCell::new(Clock::default());
}

impl GilHooks {
    /// `max_threads`: the cap of `--max-threads` (threads besides the main
    /// thread alive at once), or None for no cap.
    pub fn new(enabled: bool, interval: Duration, max_threads: Option<usize>) -> GilHooks {
        GilHooks {
            gil: Gil::new(enabled, interval),
            threads: Mutex::new(Vec::new()),
            stats: Mutex::new(Vec::new()),
            next_number: AtomicU32::new(1),
            next_ident: AtomicU64::new(1),
            exit_work: Mutex::new(Vec::new()),
            max_threads,
            running: Arc::new(AtomicUsize::new(0)),
            epoch: Instant::now(),
        }
    }

    /// The hooks of the runtime `vm` runs on, if they are `GilHooks`.
    pub fn of(vm: &Vm) -> Option<&'static GilHooks> {
        let rt = vm.rt;
        rt.hooks.as_any().downcast_ref::<GilHooks>()
    }

    /// A fresh thread identity (what `threading.get_ident()` returns).
    pub fn new_ident(&self) -> u64 {
        139_640_000_000_000 + self.next_ident.fetch_add(1, Relaxed) * 4096
    }

    /// `Thread-N`, numbered as CPython numbers them.
    pub fn next_thread_number(&self) -> u32 {
        self.next_number.fetch_add(1, Relaxed)
    }

    pub fn take(&self, vm: &mut Vm) {
        let t0 = Instant::now();
        let out = self.gil.take(vm.ident, &vm.rt.breaker);
        let waited = t0.elapsed();
        tracing::debug!(
            waited_us = waited.as_micros() as u64,
            requests = out.requests,
            "took the GIL"
        );
        vm.counters.gil_acquisitions += 1;
        vm.counters.drop_requests += out.requests as u64;
        if out.waited {
            vm.counters.gil_wait_ns += waited.as_nanos() as u64;
        }
        if events::on() {
            let site = vm.site();
            events::record_at(t0, Kind::Want, site);
            events::record_at(t0 + waited, Kind::Acquired, site);
        }
        CLOCK.with(|c| c.borrow_mut().held_since = Some(Instant::now()));
    }

    pub fn release(&self, vm: &mut Vm) {
        CLOCK.with(|c| {
            if let Some(s) = c.borrow_mut().held_since.take() {
                vm.counters.gil_hold_ns += s.elapsed().as_nanos() as u64;
            }
        });
        self.gil.release(vm.ident);
        tracing::debug!("released the GIL");
    }

    pub fn live_threads(&self) -> Vec<Arc<ThreadHandle>> {
        self.threads
            .lock()
            .iter()
            .filter(|t| t.is_alive())
            .cloned()
            .collect()
    }

    /// Every thread's statistics, in the order the threads ended.
    pub fn collected(&self) -> Vec<ThreadStats> {
        self.stats.lock().clone()
    }

    fn record(&self, vm: &Vm) {
        let c = &vm.counters;
        self.stats.lock().push(ThreadStats {
            name: vm.thread_name.clone(),
            ident: vm.ident,
            instructions: vm.instructions,
            gil_acquisitions: c.gil_acquisitions,
            forced_switches: c.forced_switches,
            voluntary_releases: c.voluntary_releases,
            drop_requests: c.drop_requests,
            gil_hold_s: c.gil_hold_ns as f64 / 1e9,
            gil_wait_s: c.gil_wait_ns as f64 / 1e9,
            io_s: c.io_ns as f64 / 1e9,
            allocs: vm.local.allocs,
            frees: vm.local.frees,
            coroutine_steps: c.coroutine_steps,
            tasks_created: c.tasks_created,
            loop_idle_s: c.loop_idle_ns as f64 / 1e9,
            increfs: vm.local.increfs,
            decrefs: vm.local.decrefs,
            lost_increfs: vm.local.lost_increfs,
            lost_decrefs: vm.local.lost_decrefs,
            lost_appends: vm.local.lost_appends,
        });
    }

    /// Start `handle` on a new OS thread running its target.
    pub fn start(&self, vm: &mut Vm, handle: Arc<ThreadHandle>, obj: Value) -> PyResult<()> {
        if handle.started.swap(true, Relaxed) {
            return Err(PyErr::new(
                crate::vm::ExcKind::RuntimeError,
                "threads can only be started once",
            ));
        }
        let call = *handle.call.lock();
        let Some((target, args, kwargs)) = call else {
            return Err(PyErr::new(
                crate::vm::ExcKind::RuntimeError,
                "thread has no target",
            ));
        };
        // The new thread owns its own references to what it will call.
        for v in [target, args, kwargs] {
            vm.incref(v);
        }
        let name = handle.name.lock().clone();
        let body = move |tvm: &mut Vm| {
            let args_v = tvm.tuple_items(args).unwrap_or_default();
            let kw = kw_pairs(tvm, kwargs);
            let r = tvm.call_value(target, &args_v, &kw);
            match r {
                Ok(v) => tvm.decref(v),
                Err(e) => report_thread_exception(tvm, &name, e),
            }
            for v in [target, args, kwargs] {
                tvm.decref(v);
            }
        };
        if let Err(e) = self.spawn(vm, handle.clone(), obj, Box::new(body)) {
            for v in [target, args, kwargs] {
                vm.decref(v);
            }
            // Refused by the cap, the thread never ran: as in CPython, it is
            // not started and may be started again later.
            if !handle.is_finished() {
                handle.started.store(false, Relaxed);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Takes a place under `--max-threads`, or says why there is none. The
    /// message begins with CPython's own words for a thread the OS refused.
    fn take_slot(&self) -> PyResult<ThreadSlot> {
        let cap = self.max_threads.unwrap_or(usize::MAX);
        match self
            .running
            .fetch_update(Relaxed, Relaxed, |n| (n < cap).then_some(n + 1))
        {
            Ok(_) => Ok(ThreadSlot(self.running.clone())),
            Err(n) => Err(PyErr::new(
                crate::vm::ExcKind::RuntimeError,
                format!(
                    "can't start new thread ({n} threads are running, the most this run \
                     allows besides the main thread: --max-threads {cap})"
                ),
            )),
        }
    }

    /// Run `body` on a new OS thread with its own VM, under the GIL; `obj` is the
    /// thread's `Thread` object (or None), `handle` tracks its life. Past
    /// `--max-threads` it raises RuntimeError and changes nothing.
    pub fn spawn(
        &self,
        vm: &mut Vm,
        handle: Arc<ThreadHandle>,
        obj: Value,
        body: Box<dyn FnOnce(&mut Vm) + Send>,
    ) -> PyResult<()> {
        let slot = self.take_slot()?;
        handle.started.store(true, Relaxed);
        vm.incref(obj);
        let ident = self.new_ident();
        handle.ident.store(ident, Relaxed);
        self.threads.lock().push(handle.clone());
        let rt = vm.rt;
        let name = handle.name.lock().clone();
        let h2 = handle.clone();
        let spawned = std::thread::Builder::new()
            .name(name.clone())
            .stack_size(THREAD_STACK)
            .spawn(move || {
                tracing::debug!(ident, "thread started");
                events::thread_start(ident, &name);
                let mut tvm = Vm::new(rt, name);
                tvm.ident = ident;
                tvm.thread_obj = obj;
                let hooks = rt.hooks.as_any().downcast_ref::<GilHooks>();
                if let Some(h) = hooks {
                    h.take(&mut tvm);
                }
                body(&mut tvm);
                tvm.flush_out();
                let me = std::mem::replace(&mut tvm.thread_obj, Value::None);
                tvm.decref(me);
                if let Some(h) = hooks {
                    h.record(&tvm);
                }
                tvm.finish();
                if let Some(h) = hooks {
                    h.release(&mut tvm);
                }
                events::thread_finish(&tvm.thread_name, tvm.site());
                tracing::debug!("thread finished");
                drop(slot);
                h2.finish();
            });
        if let Err(e) = spawned {
            handle.finish();
            vm.decref(obj);
            return Err(PyErr::new(
                crate::vm::ExcKind::RuntimeError,
                format!("can't start new thread: {e}"),
            ));
        }
        Ok(())
    }

    /// Register work to do when the main thread ends, before waiting for threads
    /// (executors shut down here, as `concurrent.futures` does at exit).
    pub fn at_exit(&self, f: ExitWork) {
        self.exit_work.lock().push(f);
    }

    /// The main thread ends: like CPython's `threading._shutdown`, wait for every
    /// non-daemon thread (without holding the GIL), then record the main thread.
    pub fn main_exit(&self, vm: &mut Vm) {
        let work: Vec<ExitWork> = std::mem::take(&mut *self.exit_work.lock());
        for w in work {
            w(vm);
        }
        loop {
            let pending: Vec<Arc<ThreadHandle>> = self
                .threads
                .lock()
                .iter()
                .filter(|t| t.is_alive() && !t.daemon.load(Relaxed))
                .cloned()
                .collect();
            if pending.is_empty() {
                break;
            }
            crate::observe::events::next_wait_is_sync();
            let _ = vm.blocking(|| {
                for t in &pending {
                    t.wait(None);
                }
            });
        }
        self.record(vm);
        self.release(vm);
        events::thread_finish(&vm.thread_name, vm.site());
    }

    pub fn main_enter(&self, vm: &mut Vm) {
        vm.ident = self.new_ident();
        events::thread_start(vm.ident, &vm.thread_name);
        self.take(vm);
    }
}

fn kw_pairs(vm: &mut Vm, kwargs: Value) -> Vec<(crate::bytecode::Sym, Value)> {
    let Value::Obj(r) = kwargs else { return vec![] };
    let pairs: Vec<(Value, Value)> = match vm.rt.heap.get(r).as_deref() {
        Ok(Obj::Dict(d)) => d.iter().collect(),
        _ => vec![],
    };
    pairs
        .into_iter()
        .map(|(k, v)| {
            let name = vm.str_value(k).unwrap_or_default();
            (crate::bytecode::intern(&name), v)
        })
        .collect()
}

/// "Exception in thread NAME:" and the traceback, as CPython's threading prints.
fn report_thread_exception(vm: &mut Vm, name: &str, e: PyErr) {
    let r = vm.materialize(e);
    if vm.exit_code.take().is_some() {
        vm.decref(Value::Obj(r));
        return;
    }
    vm.flush_out();
    let text = vm.format_exception(r);
    eprint!("Exception in thread {name}:\n{text}");
    vm.decref(Value::Obj(r));
}

impl Hooks for GilHooks {
    fn handle_pending(&self, vm: &mut Vm) -> PyResult<()> {
        if vm.rt.breaker.get() & DROP_REQUEST == 0 || !self.gil.enabled() {
            return Ok(());
        }
        CLOCK.with(|c| {
            if let Some(s) = c.borrow_mut().held_since.take() {
                vm.counters.gil_hold_ns += s.elapsed().as_nanos() as u64;
            }
        });
        let t0 = Instant::now();
        let site = if events::on() { vm.site() } else { (0, 0) };
        events::record_at(t0, Kind::Drop, site);
        let (out, switched) = self.gil.drop_on_request(vm.ident, &vm.rt.breaker);
        let waited = t0.elapsed();
        vm.counters.gil_wait_ns += waited.as_nanos() as u64;
        let back = if switched {
            Kind::AcquiredAfterSwitch
        } else {
            Kind::Acquired
        };
        events::record_at(t0 + waited, back, site);
        vm.counters.gil_acquisitions += 1;
        vm.counters.drop_requests += out.requests as u64;
        if switched {
            vm.counters.forced_switches += 1;
        }
        tracing::debug!(switched, "dropped the GIL on request and took it back");
        CLOCK.with(|c| c.borrow_mut().held_since = Some(Instant::now()));
        Ok(())
    }

    fn blocking(&self, vm: &mut Vm, f: &mut dyn FnMut()) {
        self.release(vm);
        vm.counters.voluntary_releases += 1;
        let t0 = Instant::now();
        if events::on() {
            let why = if events::take_sync_wait() {
                Kind::ReleaseSync
            } else {
                Kind::ReleaseIo
            };
            events::record_at(t0, why, vm.site());
        }
        f();
        vm.counters.io_ns += t0.elapsed().as_nanos() as u64;
        self.take(vm);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
