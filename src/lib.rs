#![forbid(unsafe_code)]
pub mod bytecode;
pub mod cli;
pub mod concurrency;
pub mod front;
pub mod heap;
pub mod observe;
pub mod serve;
pub mod stdlib;
pub mod text;
pub mod vm;
