//! gilsim's integration tests: one binary, one module per area.
//!
//! - `text`: number formatting and str algorithms against CPython's own results.
mod front;
mod text;
