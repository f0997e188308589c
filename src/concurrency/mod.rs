//! Concurrency: Toy threads on real OS threads, the switchable GIL, and the
//! simulated network.
//!
//! - `gil`: CPython's lock protocol (switch interval, drop requests, forced
//!   switching), with the long explanation.
//! - `sync`: the mutex and condition variable it uses.
//! - `threads`: the driver around the VM: starting Toy threads, the hooks the VM
//!   calls at its eval breaker and around blocking calls, per-thread statistics.
//! - `net`: the seeded, deterministic network that `requests` and `aiohttp` use.
pub mod gil;
pub mod net;
pub mod sync;
pub mod threads;
