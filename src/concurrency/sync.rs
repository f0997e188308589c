//! The primitives the GIL is built from, in one place so that the protocol can be
//! read against them: a mutex and a condition variable whose timed wait says
//! whether it timed out (parking_lot's).
//!
//! `SyncFamily` names a whole set of such primitives, so that the GIL can be
//! written once and run on two of them: `ParkingLot` (what gilsim runs on) and,
//! in `tests/gil_model.rs`, primitives built on `loom`'s, under which the model
//! checker explores every interleaving of a few threads.

use std::ops::DerefMut;
use std::time::Duration;

pub struct Mutex<T>(parking_lot::Mutex<T>);
pub type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub fn new(t: T) -> Self {
        Mutex(parking_lot::Mutex::new(t))
    }
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock()
    }
}

#[derive(Default)]
pub struct Condvar(parking_lot::Condvar);

impl Condvar {
    pub fn new() -> Self {
        Condvar(parking_lot::Condvar::new())
    }
    /// Wait for a notification or the timeout; true if it timed out.
    pub fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, d: Duration) -> bool {
        self.0.wait_for(guard, d).timed_out()
    }
    pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        self.0.wait(guard)
    }
    pub fn notify_one(&self) {
        self.0.notify_one();
    }
    pub fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// A mutex and a condition variable that go together. Guards are passed by
/// value through the waits (as `std`'s and `loom`'s are) so that any
/// implementation can release and retake the mutex inside a wait.
///
/// The constructors take `&self` so that a family can carry state shared by all
/// the primitives it makes (the model's clock, for one); the operations need only
/// the primitive.
pub trait SyncFamily {
    type Mutex<T>;
    type Guard<'a, T: 'a>: DerefMut<Target = T>;
    type Condvar;

    fn new_mutex<T>(&self, value: T) -> Self::Mutex<T>;
    fn new_condvar(&self) -> Self::Condvar;
    fn lock<T>(mutex: &Self::Mutex<T>) -> Self::Guard<'_, T>;
    /// Wait for a notification (or a spurious wake-up); never times out.
    fn wait<'a, T: 'a>(cv: &Self::Condvar, guard: Self::Guard<'a, T>) -> Self::Guard<'a, T>;
    /// Wait for a notification or the timeout; true if it timed out.
    fn wait_for<'a, T: 'a>(
        cv: &Self::Condvar,
        guard: Self::Guard<'a, T>,
        timeout: Duration,
    ) -> (Self::Guard<'a, T>, bool);
    fn notify_one(cv: &Self::Condvar);
    fn notify_all(cv: &Self::Condvar);
}

/// The family gilsim runs on: the `Mutex` and `Condvar` above.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParkingLot;

impl SyncFamily for ParkingLot {
    type Mutex<T> = Mutex<T>;
    type Guard<'a, T: 'a> = MutexGuard<'a, T>;
    type Condvar = Condvar;

    fn new_mutex<T>(&self, value: T) -> Mutex<T> {
        Mutex::new(value)
    }
    fn new_condvar(&self) -> Condvar {
        Condvar::new()
    }
    fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock()
    }
    fn wait<'a, T: 'a>(cv: &Condvar, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        cv.wait(&mut guard);
        guard
    }
    fn wait_for<'a, T: 'a>(
        cv: &Condvar,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let timed_out = cv.wait_for(&mut guard, timeout);
        (guard, timed_out)
    }
    fn notify_one(cv: &Condvar) {
        cv.notify_one();
    }
    fn notify_all(cv: &Condvar) {
        cv.notify_all();
    }
}
