//! Observation: what a run reports about itself. Nothing here changes a run.
//!
//! - `events`: the recorder the GIL hooks, blocking calls and the asyncio loop
//!   write into when a timeline, a trace or statistics are asked for (a leaf
//!   module: the lower layers may call it without depending on the rest of
//!   `observe`).
//! - `timeline`: the recorded events as per-thread lanes of intervals, and who
//!   held the GIL while each thread waited.
//! - `waited_on`: the "waited on" matrix (waiter x holder) of `--stats`.
//! - `svg`: the timeline as a standalone picture (`--timeline FILE.svg`).
//! - `term`: the timeline in the terminal, in Unicode blocks (`--timeline -`).
//! - `trace_events`: the timeline in Chrome's Trace Event Format, for Perfetto
//!   and chrome://tracing (`--trace-events FILE.json`).
//! - `stats`: the per-thread counters of the GIL, the heap and the clock, as a
//!   table (`--stats`) or JSON (`--stats-json`).
pub mod events;
pub mod stats;
pub mod svg;
pub mod term;
pub mod timeline;
pub mod trace_events;
pub mod waited_on;
