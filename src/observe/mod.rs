//! Observation: what a run reports about itself. Nothing here changes a run.
//!
//! - `events`: the recorder the GIL hooks, blocking calls and the asyncio loop
//!   write into when a timeline or trace is asked for (a leaf module: the
//!   lower layers may call it without depending on the rest of `observe`).
//! - `stats`: the per-thread counters of the GIL, the heap and the clock, as a
//!   table (`--stats`) or JSON (`--stats-json`).
pub mod events;
pub mod stats;
