//! The heap: every object a Toy program creates lives in one slot table shared by all
//! of its threads, with a reference count kept the way CPython keeps `ob_refcnt`.
//!
//! - `value`: what variables hold (`Value`) and the racy-but-safe shared cell.
//! - `objects`: the object kinds (`Obj`) and what each refers to.
//! - `text`: a str's text, inline when short.
//! - `dict`: insertion-ordered dicts keyed by Python's equality.
//! - `slots`: the slot table, allocation, reference counts and freeing: the only
//!   place where objects are born and die.
//! - `audit`: the end-of-run check of every stored count against the references
//!   actually held.
//!
//! Nothing here knows about bytecode execution; the VM calls in.
pub mod audit;
pub mod dict;
pub mod objects;
pub mod slots;
pub mod text;
pub mod value;

pub use dict::{Dict, DictKey, KeyRef};
pub use objects::*;
pub use slots::{
    Heap, HeapError, LocalHeap, ObjRead, ObjWrite, RefcountMode, AUX_BUILTIN, AUX_PLAIN_FUNCTION,
};
pub use value::{AtomicValue, ObjRef, Value};
