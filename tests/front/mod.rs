//! The front end: parsing real programs, and robustness against hostile input.
mod realistic;
mod robustness;
