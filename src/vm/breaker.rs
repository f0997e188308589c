//! The eval breaker: one word that other layers set to make every running thread
//! stop at its next check (a back edge or a call) and call `Hooks::handle_pending`.
//!
//! CPython's `eval_breaker` is the same idea: a single relaxed load on the hot path,
//! with all the work done out of line. The bits say what is pending; the GIL sets
//! `DROP_REQUEST` when a waiting thread has waited a whole switch interval.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

pub const DROP_REQUEST: u32 = 1;
/// Some thread asked for attention other than the GIL (signals, tracing, ...).
pub const PENDING: u32 = 2;

#[derive(Default, Debug)]
pub struct Breaker(AtomicU32);

impl Breaker {
    /// The hot-path check: one relaxed load.
    #[inline(always)]
    pub fn is_set(&self) -> bool {
        self.0.load(Relaxed) != 0
    }
    pub fn set(&self, bits: u32) {
        self.0.fetch_or(bits, Relaxed);
    }
    pub fn clear(&self, bits: u32) {
        self.0.fetch_and(!bits, Relaxed);
    }
    pub fn get(&self) -> u32 {
        self.0.load(Relaxed)
    }
}
