//! Bytecode: the contract between the front end, which writes it, and the VM, which
//! runs it. `disasm` prints it for people.
//!
//! A program compiles to one `Program`: a flat table of immutable `Code` objects
//! (module body, every function, class body and comprehension), shared by every
//! thread through an `Arc`. Constants are plain data (`Const`), not heap handles,
//! so nothing here has a reference count.
pub mod code;
pub mod disasm;
pub mod instr;
pub mod names;

pub use code::{Code, CodeFlags, Const, Program};
pub use instr::{BinOpKind, CmpKind, Instr};
pub use names::{intern, lookup, sym, sym_name, Sym};
