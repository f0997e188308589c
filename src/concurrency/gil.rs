//! The Global Interpreter Lock, as CPython has implemented it since 3.2
//! (`Python/ceval_gil.c`, "the new GIL" by Antoine Pitrou).
//!
//! # The protocol
//!
//! The GIL is just a boolean, `locked`, whose every change is made under a mutex
//! and announced on a condition variable. Holding the GIL means having set
//! `locked` to true.
//!
//! **Taking it** (`take`, CPython's `take_gil`): a thread that finds the lock held
//! waits on `cond` for at most one *switch interval* (5 ms by default). If it
//! wakes because the interval ran out, and no switch happened meanwhile (the
//! `switch_number` is the one it saw before waiting), it sets a *drop request*
//! in the eval breaker and goes back to waiting. Waiting with a timeout rather
//! than requesting at once is what lets a CPU-bound thread run for a whole
//! interval at a time instead of ping-ponging on every bytecode. A waiter leaves
//! `take` only by taking the lock: there is no giving up.
//!
//! **Giving it up on request** (`handle_pending` in the VM → `drop_on_request`):
//! the holder checks the eval breaker only at backward jumps and calls (one
//! relaxed load). When it finds the drop request it releases the lock and then,
//! before trying to take it again, waits on `switch_cond` until another thread
//! has actually taken it (`switch_number` changed). This is *forced switching*
//! (CPython's `FORCE_SWITCHING`): without it the releasing thread, which is
//! already running on a core, would usually win the race for the lock it just
//! released, and the waiter would starve. If nobody is waiting the request was
//! stale (see below): it clears it and takes the lock straight back.
//!
//! **Giving it up to block** (`release` / `acquire` around a blocking call: sleep,
//! network, `join`, a `Lock.acquire` that must wait, `Queue.get`): the thread
//! releases the lock and signals `cond`; it does not wait for anyone to take it.
//! These are the voluntary releases that let I/O-bound threads overlap.
//!
//! # Forced switching cannot hang
//!
//! The forced-switching wait has no timeout: it lasts while `switch_number` is
//! unchanged and `waiters > 0`, and only a switch ends it. That is enough,
//! because `waiters > 0` means some thread is inside `take`'s waiting loop, and
//! such a thread leaves it only by taking the lock. The dropper set `locked` to
//! false and signalled `cond` under the mutex, so that waiter is woken (by the
//! signal, or at worst by its own timeout), finds the lock free and takes it; or
//! some other thread takes it first. Either way the taker is not the dropper
//! (which is blocked), so `switch_number` changes, under the mutex, and `take`
//! then signals `switch_cond`. The dropper checks its condition under the same
//! mutex before each wait, so it cannot miss that signal.
//!
//! Earlier versions bounded this wait instead (1 ms waits, at most 1000 of
//! them), "so that a waiter that gave up meanwhile cannot leave us stuck". No
//! waiter ever gives up, so the bound only hid the argument above, and a model
//! checker cannot tell "waits up to a second" from "waits forever". The wait is
//! now the plain one, and the model-checking tests below check that it always
//! ends, with no timeout ever firing (`no_lost_wakeup_on_forced_switch`) and
//! with timeouts firing anywhere (`drop_requests_are_honoured`). A future path
//! that lets a waiter leave `take` without the lock (a timed acquire, say) must
//! decrement `waiters` and signal `switch_cond`, or the dropper waits forever;
//! those two tests would then report the deadlock.
//!
//! # Who writes what
//!
//! | field | written by | guarded by | read by |
//! |---|---|---|---|
//! | `state.locked`, `state.holder` | `take`, `release`, `drop_on_request` | `mutex` | `take`, `holder` |
//! | `state.switch_number` | `take` (on every acquisition by a new holder) | `mutex` | waiters, forced switching |
//! | `state.waiters` | `take` | `mutex` | `drop_on_request` (is anyone there to switch to?) |
//! | drop request (a bit of `vm::breaker`) | waiters (set), the new holder and a stale drop (clear) | none: atomic, relaxed | the holder, at back edges and calls |
//! | `interval_ns` | `sys.setswitchinterval` | none: atomic, relaxed | waiters |
//!
//! # A tolerated race
//!
//! The drop request is one bit shared by all threads, read without the mutex. A
//! waiter can set it just after the holder released the lock for another reason;
//! the next holder then sees a stale request and drops the lock once, early. As in
//! CPython (see the comment above `COMPUTE_EVAL_BREAKER`), that costs one extra
//! switch and is harmless: the new holder clears the bit when it takes the lock.
//!
//! # What is checked, and where
//!
//! The model-checking tests in `tests/gil_model.rs` run this very code (as
//! `GilWith<LoomSync>`) under `loom`, which runs each model once for every
//! interleaving of its threads (up to a bound on preemptions, where noted) and
//! fails on a broken assertion or on a state where every thread is blocked.
//!
//! - **Mutual exclusion**: at most one thread is between a `take` and its
//!   `release`, and each holder sees the previous holder's writes.
//!   `gil_model::mutual_exclusion_two_threads` and
//!   `gil_model::mutual_exclusion_three_threads` (each thread takes the lock
//!   twice and increments a shared counter with a separate load and store);
//!   `gil_model::drop_requests_are_honoured` checks it across forced switches.
//! - **No lost wake-up** (and no deadlock): a thread waiting in `take` is woken
//!   by the `release` or the drop that frees the lock, and the dropper by the
//!   `take` that switches, without relying on any timeout.
//!   `gil_model::no_lost_wakeup_on_release` and
//!   `gil_model::no_lost_wakeup_on_forced_switch`, both over every interleaving;
//!   their timed waits never time out.
//! - **Drop requests are honoured**: a waiter whose wait times out sets the
//!   request; the holder that sees it drops the lock, the waiter takes it and
//!   runs before the holder has it back (`switched` is true), and both finish.
//!   `gil_model::drop_requests_are_honoured`, where a model clock makes timed
//!   waits time out at any point.
//!
//! Run them with `cargo test --release --test main gil_model`.
//!
//! # Where gilsim differs from CPython
//!
//! - The mutex and condition variables are `parking_lot`'s, not pthreads'. The
//!   lock is written over a `sync::SyncFamily` (`GilWith<S>`) only so that the
//!   model-checking tests can run it on loom's; `Gil` is the parking_lot one.
//! - There is one eval-breaker word per program, not per interpreter state; a
//!   program is one interpreter.
//! - `--gil off` makes every operation a no-op: bytecode then runs in parallel on
//!   every core, which is the point of the simulator.

use super::sync::{ParkingLot, SyncFamily};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// What `take` reports, for the statistics.
#[derive(Debug, Clone, Copy, Default)]
pub struct TakeOutcome {
    /// It had to wait (the lock was held by another thread).
    pub waited: bool,
    /// How many drop requests this thread issued while waiting.
    pub requests: u32,
    /// The thread that held the lock when this one started waiting (0: none).
    pub previous_holder: u64,
}

#[derive(Debug, Default)]
struct State {
    locked: bool,
    holder: u64,
    switch_number: u64,
    waiters: u32,
}

/// The lock, over the primitives of the sync family `S` (see `sync`): gilsim runs
/// `Gil`, on parking_lot's; the model-checking test runs it on loom's.
pub struct GilWith<S: SyncFamily> {
    enabled: bool,
    interval_ns: AtomicU64,
    state: S::Mutex<State>,
    /// Signalled when the lock is released.
    cond: S::Condvar,
    /// Signalled when a thread takes the lock (forced switching waits on it).
    switch_cond: S::Condvar,
}

/// The GIL gilsim runs.
pub type Gil = GilWith<ParkingLot>;

/// Sets or clears the drop request in the eval breaker (here, the VM's breaker
/// word; in the model, a loom atomic).
pub trait DropRequest {
    fn request_drop(&self);
    fn clear_drop(&self);
}

fn interval_ns(d: Duration) -> u64 {
    d.as_nanos().clamp(1, u64::MAX as u128) as u64
}

impl<S: SyncFamily + Default> GilWith<S> {
    pub fn new(enabled: bool, interval: Duration) -> Self {
        Self::with_sync(&S::default(), enabled, interval)
    }
}

impl<S: SyncFamily> GilWith<S> {
    /// A GIL whose mutex and condition variables `sync` makes.
    pub fn with_sync(sync: &S, enabled: bool, interval: Duration) -> Self {
        GilWith {
            enabled,
            interval_ns: AtomicU64::new(interval_ns(interval)),
            state: sync.new_mutex(State::default()),
            cond: sync.new_condvar(),
            switch_cond: sync.new_condvar(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns.load(Relaxed))
    }

    pub fn set_interval(&self, d: Duration) {
        self.interval_ns.store(interval_ns(d), Relaxed);
    }

    /// Take the lock for thread `tid` (CPython's `take_gil`).
    pub fn take(&self, tid: u64, breaker: &dyn DropRequest) -> TakeOutcome {
        let mut out = TakeOutcome::default();
        if !self.enabled {
            return out;
        }
        let mut st = S::lock(&self.state);
        if st.locked {
            out.waited = true;
            out.previous_holder = st.holder;
            st.waiters += 1;
            while st.locked {
                let seen = st.switch_number;
                let (guard, timed_out) = S::wait_for(&self.cond, st, self.interval());
                st = guard;
                // Still held, by the same holder, a whole interval later: ask it
                // to let go.
                if timed_out && st.locked && st.switch_number == seen {
                    breaker.request_drop();
                    out.requests += 1;
                }
            }
            st.waiters -= 1;
        }
        st.locked = true;
        if st.holder != tid {
            st.switch_number += 1;
        }
        st.holder = tid;
        // A request aimed at the previous holder is now satisfied.
        breaker.clear_drop();
        drop(st);
        // Forced switching: the thread that dropped on request waits for this.
        S::notify_all(&self.switch_cond);
        out
    }

    /// Release the lock (CPython's `drop_gil`), waking one waiter.
    pub fn release(&self, tid: u64) {
        if !self.enabled {
            return;
        }
        let mut st = S::lock(&self.state);
        if st.locked && st.holder == tid {
            st.locked = false;
        }
        drop(st);
        S::notify_one(&self.cond);
    }

    /// Honour a drop request: release, wait until another thread has taken the
    /// lock (forced switching), then take it back. Returns the take's outcome
    /// and whether a switch really happened.
    pub fn drop_on_request(&self, tid: u64, breaker: &dyn DropRequest) -> (TakeOutcome, bool) {
        if !self.enabled {
            return (TakeOutcome::default(), false);
        }
        let switched;
        {
            let mut st = S::lock(&self.state);
            let seen = st.switch_number;
            st.locked = false;
            S::notify_one(&self.cond);
            if st.waiters > 0 {
                // Wait until someone else has taken it. No timeout is needed:
                // a waiter leaves `take` only by taking the lock, which bumps
                // `switch_number` and notifies `switch_cond` (see "Forced
                // switching cannot hang" in the module comment).
                while st.switch_number == seen && st.waiters > 0 {
                    st = S::wait(&self.switch_cond, st);
                }
                switched = st.switch_number != seen;
            } else {
                // Nobody is waiting: the request was stale.
                breaker.clear_drop();
                switched = false;
            }
        }
        (self.take(tid, breaker), switched)
    }

    /// Who holds the lock now (0: nobody), for observers.
    pub fn holder(&self) -> u64 {
        let st = S::lock(&self.state);
        if st.locked {
            st.holder
        } else {
            0
        }
    }

    /// Number of times the lock changed hands.
    pub fn switch_number(&self) -> u64 {
        S::lock(&self.state).switch_number
    }
}
