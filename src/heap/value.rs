//! `Value`: what a Toy variable holds, and `AtomicValue`: the same, in a cell that
//! OS threads may read and write at once.
//!
//! Small immediates (None, bools, ints that fit in i64, floats) are unboxed, as the
//! docs say; everything else is an `ObjRef`, a handle into the heap's slot table that
//! carries the slot's generation, so a handle that outlives its object is recognised
//! rather than followed (see `heap::slots`).
//!
//! `AtomicValue` stores a value as two machine words written and read with relaxed
//! atomics. Under `--gil off` two threads may tear a value (one word from each writer);
//! every pair of words still decodes to *some* `Value`, and a torn object handle is
//! caught by the generation check, so the tear is simulated corruption, never real.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A handle to a heap object: slot index plus the generation the slot had when the
/// object was allocated there.
///
/// Aligned as one 8-byte word so that the compiler moves it as one: with the
/// alignment of its two halves, a push of `Value::Obj` was three stores (tag,
/// index, generation), and the next instruction's 8-byte read of the handle
/// could not be served from the two 4-byte stores in flight (the processor
/// then waits for them to reach the cache). CPU time against the unaligned
/// build (`bench/ab.py`): objects 0.89, loops 0.96, nbody 0.96, dicts 0.97,
/// closures 0.97, strings 0.98.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C, align(8))]
pub struct ObjRef {
    pub idx: u32,
    pub gen: u32,
}

#[derive(Clone, Copy, Debug, Default)]
#[repr(u64)]
pub enum Value {
    #[default]
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Obj(ObjRef),
    /// Not a Python value: the content of a local, cell or global that has not been
    /// assigned yet (CPython's NULL). It never reaches a container or a user.
    Unbound,
}

impl Value {
    #[inline]
    pub fn as_obj(self) -> Option<ObjRef> {
        match self {
            Value::Obj(r) => Some(r),
            _ => None,
        }
    }

    /// Identity, as Python's `is` sees it. Unboxed values compare by value (small
    /// ints and floats are "interned" in Toy), objects by handle.
    pub fn is(self, other: Value) -> bool {
        match (self, other) {
            (Value::None, Value::None) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Obj(a), Value::Obj(b)) => a == b,
            _ => false,
        }
    }
}

const TAG_UNBOUND: u64 = 0;
const TAG_NONE: u64 = 1;
const TAG_BOOL: u64 = 2;
const TAG_INT: u64 = 3;
const TAG_FLOAT: u64 = 4;
const TAG_OBJ: u64 = 5;

/// A value cell shared between threads. It may also be empty ("unbound"), which is how
/// a global that has not been assigned yet is represented.
#[derive(Debug)]
pub struct AtomicValue {
    tag: AtomicU64,
    bits: AtomicU64,
}

fn encode(v: Value) -> (u64, u64) {
    match v {
        Value::Unbound => (TAG_UNBOUND, 0),
        Value::None => (TAG_NONE, 0),
        Value::Bool(b) => (TAG_BOOL, b as u64),
        Value::Int(i) => (TAG_INT, i as u64),
        Value::Float(f) => (TAG_FLOAT, f.to_bits()),
        Value::Obj(r) => (TAG_OBJ | ((r.gen as u64) << 32), r.idx as u64),
    }
}

fn decode(tag: u64, bits: u64) -> Value {
    match tag & 0xff {
        TAG_NONE => Value::None,
        TAG_BOOL => Value::Bool(bits & 1 == 1),
        TAG_INT => Value::Int(bits as i64),
        TAG_FLOAT => Value::Float(f64::from_bits(bits)),
        TAG_OBJ => Value::Obj(ObjRef {
            idx: bits as u32,
            gen: (tag >> 32) as u32,
        }),
        _ => Value::Unbound,
    }
}

impl AtomicValue {
    pub fn new(v: Value) -> Self {
        let (t, b) = encode(v);
        AtomicValue {
            tag: AtomicU64::new(t),
            bits: AtomicU64::new(b),
        }
    }

    /// The current value (`Unbound` if none). Does not touch reference counts.
    #[inline]
    pub fn load(&self) -> Value {
        decode(self.tag.load(Relaxed), self.bits.load(Relaxed))
    }

    /// The object held, if the cell holds one (globals mostly hold functions,
    /// classes and modules): a test of the tag, without decoding the rest.
    #[inline(always)]
    pub fn load_obj(&self) -> Option<ObjRef> {
        let tag = self.tag.load(Relaxed);
        let bits = self.bits.load(Relaxed);
        (tag & 0xff == TAG_OBJ).then_some(ObjRef {
            idx: bits as u32,
            gen: (tag >> 32) as u32,
        })
    }

    /// Stores `v` and returns what was there, whose reference the caller now owns.
    /// A load followed by two stores, not an atomic swap: that is what CPython's
    /// `STORE_GLOBAL` does under the GIL, and without it two writers can both read the
    /// same old value (a lost update, which `--gil off` is there to show).
    #[inline]
    pub fn replace(&self, v: Value) -> Value {
        let old = self.load();
        let (t, b) = encode(v);
        self.bits.store(b, Relaxed);
        self.tag.store(t, Relaxed);
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_two_words() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }

    #[test]
    fn atomic_value_round_trips() {
        let vals = [
            Value::None,
            Value::Bool(true),
            Value::Int(-5),
            Value::Int(i64::MIN),
            Value::Float(-0.0),
            Value::Obj(ObjRef { idx: 7, gen: 9 }),
        ];
        for v in vals {
            let c = AtomicValue::new(v);
            assert!(c.load().is(v));
        }
        let c = AtomicValue::new(Value::Unbound);
        assert!(matches!(c.load(), Value::Unbound));
        assert!(matches!(c.replace(Value::Int(1)), Value::Unbound));
        assert!(matches!(c.load(), Value::Int(1)));
    }
}
