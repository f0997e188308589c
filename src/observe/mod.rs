//! Observation: what a run reports about itself. Nothing here changes a run.
//!
//! - `stats`: the per-thread counters of the GIL, the heap and the clock, as a
//!   table (`--stats`) or JSON (`--stats-json`).
pub mod stats;
