//! gilsim's integration tests: one binary, one module per area (as ripgrep's).
//!
//! - `asyncio`: the event loop with threads and the GIL, its statistics, no hang.
//! - `browser`: `gilsim serve`'s page in headless Chromium through WebDriver
//!   (skipped without chromium and chromedriver).
//! - `compare`: `gilsim compare` on a fake runner (snapshots of every format)
//!   and once for real.
//! - `differential`: every program in tests/programs/ against its recorded output
//!   and against CPython.
//! - `front`: the parser on real programs and on hostile input.
//! - `gil_model`: the GIL protocol under loom: mutual exclusion, no lost wake-up.
//! - `races`: without the GIL: lost reference-count updates, use after free and
//!   its crash report, lost appends and increments; with it, or a Lock: exact.
//! - `serve`: `gilsim serve` on an ephemeral port: the page, the examples, and
//!   the API against hostile requests.
//! - `threads`: threads under the GIL: no deadlock, clean heaps, overlapping
//!   blocking calls, statistics.
//! - `text`: number formatting and str algorithms against CPython's own results.
//! - `timeline`: --timeline (SVG and terminal), --trace-events and the "waited
//!   on" matrix, checked structurally on real runs.
//! - `tour`: `gilsim tour` run for real, its numbers checked against what it
//!   concludes; its programs against CPython.
mod asyncio;
mod browser;
mod cli;
mod compare;
mod differential;
mod front;
mod fuzz;
mod gil_model;
mod net;
mod races;
mod serve;
mod text;
mod threads;
mod timeline;
mod tour;
