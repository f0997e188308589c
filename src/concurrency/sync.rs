//! The primitives the GIL is built from, in one place so that the protocol can be
//! read against them: a mutex and a condition variable whose timed wait says
//! whether it timed out (parking_lot's).

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
