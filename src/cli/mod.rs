//! The command line's work, as a library: what `gilsim run` and `gilsim disasm` do,
//! given settings already parsed (clap lives in `main.rs`; nothing here knows it).
//!
//! - `config`: the settings of a run, and parsing of sizes and durations.
//! - `run`: read, compile and run a program; report errors; audit the heap.
//! - `outputs`: the timeline picture and trace file a run writes when it ends.
//! - `compare`: many runs under many configurations, as one table.
//! - `tour`: the guided story, its programs built in, measured live.
pub mod compare;
pub mod config;
pub mod outputs;
pub mod run;
pub mod tour;
