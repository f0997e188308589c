#![forbid(unsafe_code)]
pub mod bytecode;
pub mod front;
pub mod heap;
pub mod text;
