//! The front end: source text -> `Program`.
//!
//! `lexer` turns text into tokens (indentation included), `parser` builds the
//! `ast`, `scope` decides where every name lives, and `compiler` emits bytecode.
//! `diagnostics` renders syntax errors the way Python does, with a caret.
pub mod ast;
pub mod compiler;
pub mod scope;
