//! The front end: source text -> `Program`.
//!
//! `lexer` turns text into tokens (indentation included), `parser` builds the
//! `ast`, `scope` decides where every name lives, and `compiler` emits bytecode.
//! `diagnostics` renders syntax errors the way Python does, with a caret.
//!
//! Depth is bounded in the parser (`parser::MAX_DEPTH`, and a measured stack
//! budget), so no input can overflow the Rust stack in any later stage either.
pub mod ast;
pub mod compiler;
pub mod diagnostics;
pub mod lexer;
pub mod parser;
pub mod scope;
