//! The GIL protocol (`src/concurrency/gil.rs`) under the `loom` model checker:
//! the same `GilWith` code gilsim runs, over mutexes and condition variables
//! built on loom's, with two or three threads. loom runs each model many times,
//! once for every interleaving of the threads' synchronisation operations (up to
//! a bound on preemptions), and fails if an assertion fails in any of them or if
//! all threads ever block for good (a deadlock, which is how a lost wake-up
//! shows).
//!
//! # Time in the model
//!
//! loom has no clock: its `Condvar::wait_timeout` is a plain wait that never
//! times out (loom 0.7). Tests that do not start a clock therefore check that
//! every wake-up the protocol needs comes from a notification, never from a
//! timer: a stronger property than gilsim needs, since its timed waits would
//! eventually time out anyway, but the right one (a waiter that relies on its
//! timeout sleeps a whole switch interval with the lock free).
//!
//! `drop_requests_are_honoured` needs timeouts: a waiter asks the holder to drop
//! the lock only when its timed wait times out. There a clock thread calls
//! `LoomSync::tick` a bounded number of times; each tick is "a switch interval
//! has passed": every timed wait in progress at that moment times out. Since loom
//! places the clock's ticks at every possible point between the other threads'
//! operations, a timeout can happen anywhere. Once the clock has stopped, timed
//! waits only end on notifications, so the protocol must not need time to make
//! progress (it does not: see "Forced switching cannot hang" in gil.rs).
//!
//! # The loom sync family
//!
//! `LoomSync` implements `SyncFamily` with loom's `Mutex` and a condition
//! variable of its own, built on one loom `Mutex` and `Condvar` shared by all the
//! condition variables of a GIL (a tiny parking lot): a waiter takes a ticket,
//! and a notification moves tickets from "waiting" to "woken" under the lot's
//! mutex, so a tick can end exactly the timed waits in progress without racing
//! with them. The waiter registers before it lets go of the GIL's mutex, which is
//! what makes "check the state, then wait" atomic, as with a real condvar.
//!
//! # The models and their bounds
//!
//! | test | threads | preemption bound | executions |
//! |---|---|---|---|
//! | `mutual_exclusion_two_threads` | 2 | 4 | about 5,600 |
//! | `mutual_exclusion_three_threads` | 3 | 2 | about 5,400 |
//! | `no_lost_wakeup_on_release` | 2 | none: every interleaving | about 400 |
//! | `no_lost_wakeup_on_forced_switch` | 2 | none: every interleaving | about 1,000 |
//! | `drop_requests_are_honoured` | 2 and the clock | 4 | about 32,000 |
//!
//! Run: `cargo test --release --test main gil_model -j1` (about 5 s once
//! built; `-- --nocapture` prints the number of executions). Set
//! `GILSIM_MODEL_PREEMPTIONS` to a number or to `none` to explore deeper: with
//! `none`, `mutual_exclusion_two_threads` runs 3.3 million executions (about
//! 5 minutes); the three-thread model at bound 3 runs 126,000 (about 15 s).

use gilsim::concurrency::gil::{DropRequest, GilWith};
use gilsim::concurrency::sync::SyncFamily;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
use loom::thread;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

// ---------------------------------------------------------------------------
// The loom sync family

#[derive(Default)]
struct Lot {
    /// Number of clock ticks so far.
    epoch: u64,
    next_ticket: u64,
    next_condvar: usize,
    /// (condition variable, ticket) of every thread waiting, oldest first.
    waiting: Vec<(usize, u64)>,
    /// Tickets notified but not yet collected by their waiter.
    woken: Vec<u64>,
}

struct Parking {
    lot: Mutex<Lot>,
    wake: Condvar,
}

/// Makes the GIL's primitives, and is the model's clock.
#[derive(Clone)]
struct LoomSync {
    parking: Arc<Parking>,
}

impl LoomSync {
    fn new() -> LoomSync {
        LoomSync {
            parking: Arc::new(Parking {
                lot: Mutex::new(Lot::default()),
                wake: Condvar::new(),
            }),
        }
    }

    /// A switch interval passes: every timed wait now in progress times out.
    fn tick(&self) {
        self.parking.lot.lock().unwrap().epoch += 1;
        self.parking.wake.notify_all();
    }
}

struct LoomCondvar {
    id: usize,
    parking: Arc<Parking>,
}

/// loom's guard, with the mutex it came from so that a wait can retake it.
struct LoomGuard<'a, T> {
    mutex: &'a Mutex<T>,
    guard: MutexGuard<'a, T>,
}

impl<T> Deref for LoomGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for LoomGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// Wait on `cv`, giving up the GIL's mutex meanwhile; with `timed`, a clock tick
/// also ends the wait. Returns the retaken guard and whether it timed out.
fn block<'a, T>(
    cv: &LoomCondvar,
    guard: LoomGuard<'a, T>,
    timed: bool,
) -> (LoomGuard<'a, T>, bool) {
    let parking = &*cv.parking;
    let mut lot = parking.lot.lock().unwrap();
    let ticket = lot.next_ticket;
    lot.next_ticket += 1;
    lot.waiting.push((cv.id, ticket));
    let epoch = lot.epoch;
    // Registered: only now let go of the GIL's mutex.
    let LoomGuard { mutex, guard } = guard;
    drop(guard);
    let timed_out = loop {
        if let Some(i) = lot.woken.iter().position(|&t| t == ticket) {
            lot.woken.swap_remove(i);
            break false;
        }
        if timed && lot.epoch != epoch {
            lot.waiting.retain(|&(_, t)| t != ticket);
            break true;
        }
        lot = parking.wake.wait(lot).unwrap();
    };
    drop(lot);
    let guard = mutex.lock().unwrap();
    (LoomGuard { mutex, guard }, timed_out)
}

/// Wake the oldest waiter on `cv` (`all`: every waiter on it).
fn notify(cv: &LoomCondvar, all: bool) {
    let parking = &*cv.parking;
    let mut lot = parking.lot.lock().unwrap();
    let mut i = 0;
    let mut any = false;
    while i < lot.waiting.len() {
        if lot.waiting[i].0 == cv.id {
            let (_, ticket) = lot.waiting.remove(i);
            lot.woken.push(ticket);
            any = true;
            if !all {
                break;
            }
        } else {
            i += 1;
        }
    }
    drop(lot);
    if any {
        parking.wake.notify_all();
    }
}

impl SyncFamily for LoomSync {
    type Mutex<T> = Mutex<T>;
    type Guard<'a, T: 'a> = LoomGuard<'a, T>;
    type Condvar = LoomCondvar;

    fn new_mutex<T>(&self, value: T) -> Mutex<T> {
        Mutex::new(value)
    }
    fn new_condvar(&self) -> LoomCondvar {
        let mut lot = self.parking.lot.lock().unwrap();
        let id = lot.next_condvar;
        lot.next_condvar += 1;
        LoomCondvar {
            id,
            parking: self.parking.clone(),
        }
    }
    fn lock<T>(mutex: &Mutex<T>) -> LoomGuard<'_, T> {
        LoomGuard {
            mutex,
            guard: mutex.lock().unwrap(),
        }
    }
    fn wait<'a, T: 'a>(cv: &LoomCondvar, guard: LoomGuard<'a, T>) -> LoomGuard<'a, T> {
        block(cv, guard, false).0
    }
    fn wait_for<'a, T: 'a>(
        cv: &LoomCondvar,
        guard: LoomGuard<'a, T>,
        _timeout: Duration,
    ) -> (LoomGuard<'a, T>, bool) {
        block(cv, guard, true)
    }
    fn notify_one(cv: &LoomCondvar) {
        notify(cv, false);
    }
    fn notify_all(cv: &LoomCondvar) {
        notify(cv, true);
    }
}

// ---------------------------------------------------------------------------
// The models

type ModelGil = GilWith<LoomSync>;

/// The eval breaker's drop-request bit: relaxed, as the VM's.
#[derive(Default)]
struct Breaker(AtomicBool);

impl DropRequest for Breaker {
    fn request_drop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    fn clear_drop(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl Breaker {
    /// What the VM does at a back edge or a call.
    fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

const INTERVAL: Duration = Duration::from_millis(5);

/// Explore `f` with at most `preemptions` preemptions per execution (`None`:
/// every interleaving). The environment variable `GILSIM_MODEL_PREEMPTIONS`
/// overrides the bound of every model: a number, or `none`. Returns how many
/// executions loom ran (shown with `--nocapture`).
fn check(name: &str, preemptions: Option<usize>, f: impl Fn() + Sync + Send + 'static) -> usize {
    let preemptions = match std::env::var("GILSIM_MODEL_PREEMPTIONS") {
        Ok(v) if v == "none" => None,
        Ok(v) => Some(
            v.parse()
                .expect("GILSIM_MODEL_PREEMPTIONS: a number or `none`"),
        ),
        Err(_) => preemptions,
    };
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = preemptions;
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let n = runs.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("gil_model::{name}: {n} executions (preemption bound {preemptions:?})");
    n
}

/// Counts, across all of a model's executions, how often something happened:
/// plain std atomics, outside loom's view, to show a model is not vacuous.
#[derive(Clone, Default)]
struct Seen(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Seen {
    fn mark(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Entering and leaving the critical section: at most one thread inside.
fn enter(inside: &AtomicUsize) {
    assert_eq!(
        inside.fetch_add(1, Ordering::SeqCst),
        0,
        "two threads hold the GIL"
    );
}

fn leave(inside: &AtomicUsize) {
    inside.fetch_sub(1, Ordering::SeqCst);
}

/// `threads` threads each take the GIL twice and, inside, increment a shared
/// counter non-atomically (a relaxed load, then a store): a second thread inside
/// would trip `inside`, and a missing happens-before edge between holders would
/// let loom lose an increment.
fn mutual_exclusion(name: &str, threads: u64, preemptions: Option<usize>) {
    const ITERATIONS: usize = 2;
    let contended = Seen::default();
    let seen = contended.clone();
    check(name, preemptions, move || {
        let gil = Arc::new(ModelGil::with_sync(&LoomSync::new(), true, INTERVAL));
        let breaker = Arc::new(Breaker::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let counter = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (1..=threads)
            .map(|tid| {
                let (gil, breaker) = (gil.clone(), breaker.clone());
                let (inside, counter) = (inside.clone(), counter.clone());
                let seen = seen.clone();
                thread::spawn(move || {
                    for _ in 0..ITERATIONS {
                        if gil.take(tid, &*breaker).waited {
                            seen.mark();
                        }
                        enter(&inside);
                        let n = counter.load(Ordering::Relaxed);
                        counter.store(n + 1, Ordering::Relaxed);
                        leave(&inside);
                        gil.release(tid);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(
            counter.load(Ordering::Relaxed),
            threads as usize * ITERATIONS
        );
        assert_eq!(gil.holder(), 0);
    });
    assert!(
        contended.count() > 0,
        "no execution had a thread wait for the GIL"
    );
}

#[test]
fn mutual_exclusion_two_threads() {
    mutual_exclusion("mutual_exclusion_two_threads", 2, Some(4));
}

#[test]
fn mutual_exclusion_three_threads() {
    mutual_exclusion("mutual_exclusion_three_threads", 3, Some(2));
}

/// A holder and a waiter, no clock: the waiter must get the lock from the
/// holder's `release` alone. The holder takes the lock back once after
/// releasing, so the waiter may be woken and lose the race, and must then be
/// woken again by the second release.
#[test]
fn no_lost_wakeup_on_release() {
    check("no_lost_wakeup_on_release", None, || {
        let gil = Arc::new(ModelGil::with_sync(&LoomSync::new(), true, INTERVAL));
        let breaker = Arc::new(Breaker::default());
        let got_it = Arc::new(AtomicBool::new(false));
        gil.take(1, &*breaker);
        let waiter = {
            let (gil, breaker, got_it) = (gil.clone(), breaker.clone(), got_it.clone());
            thread::spawn(move || {
                gil.take(2, &*breaker);
                assert_eq!(gil.holder(), 2);
                got_it.store(true, Ordering::SeqCst);
                gil.release(2);
            })
        };
        gil.release(1);
        gil.take(1, &*breaker);
        gil.release(1);
        waiter.join().unwrap();
        assert!(got_it.load(Ordering::SeqCst));
        assert_eq!(gil.holder(), 0);
    });
}

/// A holder and a waiter, no clock, and a drop request set by hand: the holder's
/// forced-switching wait must be ended by the waiter's `take`, and the waiter's
/// wait by the holder's drop, without any timeout.
#[test]
fn no_lost_wakeup_on_forced_switch() {
    let (switches, stale) = (Seen::default(), Seen::default());
    let (seen_switch, seen_stale) = (switches.clone(), stale.clone());
    check("no_lost_wakeup_on_forced_switch", None, move || {
        let gil = Arc::new(ModelGil::with_sync(&LoomSync::new(), true, INTERVAL));
        let breaker = Arc::new(Breaker::default());
        let waiter_done = Arc::new(AtomicBool::new(false));
        gil.take(1, &*breaker);
        let waiter = {
            let (gil, breaker, done) = (gil.clone(), breaker.clone(), waiter_done.clone());
            thread::spawn(move || {
                gil.take(2, &*breaker);
                assert_eq!(gil.holder(), 2);
                done.store(true, Ordering::SeqCst);
                gil.release(2);
            })
        };
        breaker.request_drop();
        let (_, switched) = gil.drop_on_request(1, &*breaker);
        assert_eq!(gil.holder(), 1);
        if switched {
            // The waiter ran its critical section before we got the lock back.
            assert!(waiter_done.load(Ordering::SeqCst));
            seen_switch.mark();
        } else {
            // The waiter had not started waiting: the request was stale.
            seen_stale.mark();
        }
        gil.release(1);
        waiter.join().unwrap();
        assert!(waiter_done.load(Ordering::SeqCst));
    });
    assert!(switches.count() > 0, "no execution had a forced switch");
    assert!(stale.count() > 0, "no execution had a stale request");
}

/// Thread A holds the GIL and checks its eval breaker a few times, honouring a
/// drop request when it finds one; thread B takes the GIL, and its timed wait
/// (ended by the clock) sets the request. A request A sees can only be B's, set
/// while B waits, and B stops waiting only by taking the lock: so every drop A
/// makes must be a real forced switch, with B's critical section run before A
/// has the lock back. Both threads finish, and the lock is free at the end.
#[test]
fn drop_requests_are_honoured() {
    const CHECKS: usize = 3;
    const TICKS: usize = 2;
    let honoured_runs = Seen::default();
    let seen = honoured_runs.clone();
    check("drop_requests_are_honoured", Some(4), move || {
        let sync = LoomSync::new();
        let gil = Arc::new(ModelGil::with_sync(&sync, true, INTERVAL));
        let breaker = Arc::new(Breaker::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let b_done = Arc::new(AtomicBool::new(false));
        // A is this thread; it holds the lock before B exists.
        gil.take(1, &*breaker);
        enter(&inside);
        let clock = thread::spawn(move || {
            for _ in 0..TICKS {
                sync.tick();
            }
        });
        let b = {
            let (gil, breaker) = (gil.clone(), breaker.clone());
            let (inside, b_done) = (inside.clone(), b_done.clone());
            thread::spawn(move || {
                let out = gil.take(2, &*breaker);
                enter(&inside);
                assert_eq!(gil.holder(), 2);
                b_done.store(true, Ordering::SeqCst);
                leave(&inside);
                gil.release(2);
                out
            })
        };
        let mut honoured = 0;
        for _ in 0..CHECKS {
            if breaker.requested() {
                leave(&inside);
                let (_, switched) = gil.drop_on_request(1, &*breaker);
                enter(&inside);
                assert!(
                    switched,
                    "A dropped on B's request but B did not get the lock"
                );
                assert!(
                    b_done.load(Ordering::SeqCst),
                    "B did not run while A was away"
                );
                assert_eq!(gil.holder(), 1);
                assert!(!breaker.requested(), "request still set after the switch");
                honoured += 1;
            }
        }
        leave(&inside);
        gil.release(1);
        let b_out = b.join().unwrap();
        clock.join().unwrap();
        assert!(b_done.load(Ordering::SeqCst));
        if honoured > 0 {
            assert!(b_out.requests > 0);
            seen.mark();
        }
        assert_eq!(gil.holder(), 0);
    });
    assert!(
        honoured_runs.count() > 0,
        "no execution had A honour a drop request"
    );
}
