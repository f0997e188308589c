//! Frames and handler blocks: the VM's own call stack.
//!
//! Toy frames never live on the Rust stack (piccolo's "stackless" loop): a call
//! pushes a `Frame` and the loop carries on with it, a return pops it. That is what
//! lets a thousand threads run on small OS stacks, deep Toy recursion stop cleanly
//! at the recursion limit, and generators keep a frame between resumptions.
//!
//! Stack layout of a frame: `stack[base - 1]` holds the callee (a reference that
//! keeps the function alive, as CPython's frame holds `f_func`), `stack[base ..
//! base + nslots]` the frame's slots (locals, cells, free variables), and above them
//! the operand stack.

/// One activation of a code object.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// Index of the code object in the program.
    pub code: u32,
    /// Next instruction to run.
    pub ip: u32,
    /// Stack index of slot 0.
    pub base: u32,
    /// `blocks.len()` when the frame started: its handler blocks lie above.
    pub block_base: u32,
    /// `handling.len()` when the frame started.
    pub handling_base: u32,
    /// When this frame returns, the Rust-level `run` that entered it returns too.
    pub is_entry: bool,
}

/// An active `try`: where to go, and how deep the stack was, if an exception arrives.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    pub handler: u32,
    pub stack_depth: u32,
    pub handling_depth: u32,
}
