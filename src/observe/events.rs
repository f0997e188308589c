//! The event recorder behind `--timeline`, `--trace-events` and the "waited on"
//! matrix of `--stats`: what each thread did with the GIL, and when.
//!
//! The GIL hooks (`concurrency::threads`), the blocking calls of the standard
//! library and the asyncio loop call the small functions here. Each one starts
//! with a relaxed load of one flag and returns at once when recording is off,
//! so a run without those options pays a single predictable branch per GIL
//! event (and the VM's dispatch loop is never touched: GIL events happen only
//! at the eval breaker and around blocking calls).
//!
//! When recording is on, every thread appends to its own buffer: a `Vec` behind
//! a mutex that only its own thread takes while the program runs, so the lock
//! is never contended and no global lock is taken per event. The buffers are
//! registered once per thread (one global lock per thread start) so that the
//! end of the run can read them all, even those of daemon threads still running.
//!
//! This module depends on nothing else in the crate, which is why the layers
//! below `observe` may write into it (as they write into `tracing`). What the
//! events mean as intervals is `timeline`'s business.

use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// What happened. The comments say which interval each event opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The thread began (its OS thread runs; nothing held yet).
    Start,
    /// It asked for the GIL: a wait for the lock starts (zero-length when the
    /// lock was free, and always with `--gil off`).
    Want,
    /// It got the GIL: it runs (with the lock, or without one under `--gil off`).
    Acquired,
    /// It got the GIL back after dropping it on request, and another thread
    /// really ran meanwhile: the drop was a forced switch.
    AcquiredAfterSwitch,
    /// It released the GIL voluntarily to block in I/O or a sleep.
    ReleaseIo,
    /// It released the GIL voluntarily to wait on a Lock, Queue, Event,
    /// Future or another thread.
    ReleaseSync,
    /// It found a drop request at the eval breaker and let go of the GIL; a
    /// wait to take it back starts.
    Drop,
    /// It had waited a whole switch interval and set the drop request.
    DropRequest,
    /// Its asyncio event loop resumed a task (a coroutine switch).
    TaskStep,
    /// The thread ended: it holds nothing any more.
    Finish,
}

/// One event: when (nanoseconds since the recording started), what, and where
/// the thread's Toy code was (code object index and source line; 0 and 0 when
/// no Toy frame is running, e.g. before a thread's target is called).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub t_ns: u64,
    pub kind: Kind,
    pub code: u32,
    pub line: u32,
}

/// Everything one thread recorded.
#[derive(Debug, Clone, Default)]
pub struct ThreadLog {
    /// `threading.get_ident()` of the thread; threads started later get larger ones.
    pub ident: u64,
    /// The thread's name as the program gave it (updated when the thread ends).
    pub name: String,
    pub events: Vec<Event>,
}

/// The one switch. Relaxed is enough: it is set before the program's first
/// thread starts (and thread creation orders it), and read as a hint.
static ON: AtomicBool = AtomicBool::new(false);
static EPOCH: OnceLock<Instant> = OnceLock::new();
/// Every thread's buffer, registered when the thread starts.
static LOGS: Mutex<Vec<Arc<Mutex<ThreadLog>>>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's own buffer (None: not a recorded thread).
    static MINE: RefCell<Option<Arc<Mutex<ThreadLog>>>> = const { RefCell::new(None) };
    /// Set just before a blocking call that waits on a synchronisation object,
    /// read (and cleared) by the GIL hook that releases the lock for it.
    static SYNC_WAIT: Cell<bool> = const { Cell::new(false) };
}

/// Is recording on? One relaxed load: the branch every hook starts with.
#[inline(always)]
pub fn on() -> bool {
    ON.load(Relaxed)
}

/// Start recording; `epoch` is time zero of every timestamp. A process runs one
/// program, so this is called at most once, before the program starts.
pub fn start(epoch: Instant) {
    let _ = EPOCH.set(epoch);
    ON.store(true, Relaxed);
}

/// Nanoseconds from the epoch to `t` (0 for instants before it).
#[inline]
pub fn ns_since_epoch(t: Instant) -> u64 {
    match EPOCH.get() {
        Some(e) => t.saturating_duration_since(*e).as_nanos() as u64,
        None => 0,
    }
}

/// The calling thread begins: give it a buffer and record `Start`.
pub fn thread_start(ident: u64, name: &str) {
    if !on() {
        return;
    }
    let log = Arc::new(Mutex::new(ThreadLog {
        ident,
        name: name.to_string(),
        events: Vec::with_capacity(256),
    }));
    LOGS.lock().push(log.clone());
    MINE.with(|m| *m.borrow_mut() = Some(log));
    record_at(Instant::now(), Kind::Start, (0, 0));
}

/// The calling thread ends: record `Finish` and its final name, and let go of
/// its buffer (the registry keeps it for `collect`).
pub fn thread_finish(name: &str, site: (u32, u32)) {
    if !on() {
        return;
    }
    record_at(Instant::now(), Kind::Finish, site);
    MINE.with(|m| {
        if let Some(log) = m.borrow_mut().take() {
            log.lock().name = name.to_string();
        }
    });
}

/// Record `kind` at `t` for the calling thread, at Toy source position `site`.
#[inline]
pub fn record_at(t: Instant, kind: Kind, site: (u32, u32)) {
    if !on() {
        return;
    }
    let ev = Event {
        t_ns: ns_since_epoch(t),
        kind,
        code: site.0,
        line: site.1,
    };
    MINE.with(|m| {
        if let Some(log) = &*m.borrow() {
            log.lock().events.push(ev);
        }
    });
}

/// Record `kind` now, with no source position.
#[inline]
pub fn record(kind: Kind) {
    if on() {
        record_at(Instant::now(), kind, (0, 0));
    }
}

/// Say that the next blocking call of this thread waits on a Lock, Queue,
/// Event, Future or thread (not on I/O or a sleep). Call it just before
/// `vm.blocking`.
#[inline]
pub fn next_wait_is_sync() {
    if on() {
        SYNC_WAIT.with(|s| s.set(true));
    }
}

/// Whether the blocking call starting now waits on a synchronisation object
/// (and forget it, so the next one starts as I/O again).
#[inline]
pub fn take_sync_wait() -> bool {
    on() && SYNC_WAIT.with(|s| s.replace(false))
}

/// A copy of every thread's log, in the order the threads started. Threads
/// still running (daemons) contribute what they recorded so far.
pub fn collect() -> Vec<ThreadLog> {
    let logs: Vec<Arc<Mutex<ThreadLog>>> = LOGS.lock().clone();
    let mut out: Vec<ThreadLog> = logs.iter().map(|l| l.lock().clone()).collect();
    out.sort_by_key(|l| l.ident);
    out
}
