//! Dicts: insertion-ordered, keyed by Python's notion of equal keys.
//!
//! Like CPython's compact dict, entries sit in an append-only vector (which gives the
//! iteration order) and a hash index maps each key to its entry; deleting leaves a
//! hole that a later compaction squeezes out, so deletion is O(1) and order survives.
//!
//! A `DictKey` is the key's hashable *content* (the int, the string's text, a tuple's
//! item keys), computed by the VM before the dict is locked. Keys that Python
//! considers equal map to the same `DictKey`: `1`, `1.0` and `True` are all `Int(1)`.
//! Instances of user classes are keyed by identity (Toy does not call `__hash__`).

use super::value::Value;
use num_bigint::BigInt;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DictKey {
    None,
    Int(i64),
    /// Boxed so that a key (and a hash-table bucket) stays small.
    Big(Box<BigInt>),
    /// A float that is not equal to any int: keyed by its bits.
    Float(u64),
    Str(Arc<str>),
    Tuple(Box<[DictKey]>),
    /// Identity (slot index and generation) for objects hashed by identity.
    Id(u32, u32),
}

impl DictKey {
    /// A 64-bit digest of the key's content; `KeyHasher` mixes it.
    fn digest(&self) -> u64 {
        match self {
            DictKey::None => 0x6e6f6e65,
            DictKey::Int(i) => *i as u64,
            DictKey::Float(b) => *b,
            DictKey::Str(s) => {
                // FNV-1a over 8-byte words: quick for the short keys programs use.
                let mut h: u64 = 0xcbf29ce484222325 ^ s.len() as u64;
                let b = s.as_bytes();
                let mut chunks = b.chunks_exact(8);
                for c in &mut chunks {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(c);
                    h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x100000001b3);
                    h ^= h >> 29;
                }
                for &x in chunks.remainder() {
                    h = (h ^ x as u64).wrapping_mul(0x100000001b3);
                }
                h
            }
            DictKey::Big(b) => {
                let (_, digits) = b.to_u64_digits();
                digits
                    .iter()
                    .fold(0x9e37_79b9, |h: u64, d| (h ^ d).wrapping_mul(0x100000001b3))
            }
            DictKey::Tuple(items) => items
                .iter()
                .fold(0x345678, |h: u64, k| (h ^ k.digest()).wrapping_mul(1000003)),
            DictKey::Id(i, g) => ((*g as u64) << 32) | *i as u64,
        }
    }
}

impl std::hash::Hash for DictKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest());
    }
}

/// Finishes a key digest with a full 64-bit mixer (MurmurHash3's finaliser), so
/// that sequential ints spread over the hash table's buckets and control bits.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
        x ^ (x >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 ^= x;
    }
}

type KeyMap = std::collections::HashMap<DictKey, u32, std::hash::BuildHasherDefault<KeyHasher>>;

#[derive(Debug, Default, Clone)]
pub struct Dict {
    /// (key, value) in insertion order; `None` where an entry was deleted.
    entries: Vec<Option<(Value, Value)>>,
    index: KeyMap,
}

impl Dict {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Dict {
            entries: Vec::with_capacity(n),
            index: KeyMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn get(&self, k: &DictKey) -> Option<Value> {
        let &i = self.index.get(k)?;
        self.entries[i as usize].map(|(_, v)| v)
    }

    pub fn contains(&self, k: &DictKey) -> bool {
        self.index.contains_key(k)
    }

    /// Insert or overwrite. Returns the replaced value (its reference now belongs to
    /// the caller, who must release it), and, when the key was new, nothing: the dict
    /// keeps the references to `key` and `value` the caller passed in. When the key
    /// existed, the dict keeps its original key object and the passed `key` is
    /// returned too, for the caller to release (CPython keeps the first key object).
    pub fn insert(&mut self, k: DictKey, key: Value, value: Value) -> Option<(Value, Value)> {
        // One probe of the index for both outcomes.
        let next = self.entries.len() as u32;
        match self.index.entry(k) {
            std::collections::hash_map::Entry::Occupied(o) => {
                let i = *o.get();
                if let Some(entry) = self.entries.get_mut(i as usize).and_then(|e| e.as_mut()) {
                    let old = std::mem::replace(&mut entry.1, value);
                    return Some((key, old));
                }
                // An index entry without a live slot cannot happen; repair it.
                *o.into_mut() = next;
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(next);
            }
        }
        self.entries.push(Some((key, value)));
        None
    }

    /// Remove a key: returns its (key, value), both references now the caller's.
    pub fn remove(&mut self, k: &DictKey) -> Option<(Value, Value)> {
        let i = self.index.remove(k)?;
        let e = self.entries.get_mut(i as usize)?.take();
        if self.entries.len() > 16 && self.index.len() * 2 < self.entries.len() {
            self.compact();
        }
        e
    }

    fn compact(&mut self) {
        let mut slot_of_old = Vec::with_capacity(self.entries.len());
        let mut kept = Vec::with_capacity(self.index.len());
        for e in self.entries.drain(..) {
            slot_of_old.push(kept.len() as u32);
            if e.is_some() {
                kept.push(e);
            }
        }
        for v in self.index.values_mut() {
            *v = slot_of_old[*v as usize];
        }
        self.entries = kept;
    }

    /// Live entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (Value, Value)> + '_ {
        self.entries.iter().filter_map(|e| *e)
    }

    /// The `n`-th entry slot (live or a hole), for iterators that walk by position.
    pub fn entry_at(&self, pos: usize) -> Option<Option<(Value, Value)>> {
        self.entries.get(pos).copied()
    }

    pub fn slots_len(&self) -> usize {
        self.entries.len()
    }

    /// Remove and return the last entry (dict.popitem).
    pub fn pop_last(
        &mut self,
        key_of: impl Fn(Value) -> Option<DictKey>,
    ) -> Option<(Value, Value)> {
        while let Some(e) = self.entries.pop() {
            if let Some((k, v)) = e {
                if let Some(dk) = key_of(k) {
                    self.index.remove(&dk);
                }
                return Some((k, v));
            }
        }
        None
    }

    /// Empty the dict, handing every reference it held to the caller.
    pub fn take_all(&mut self) -> Vec<(Value, Value)> {
        self.index.clear();
        self.entries.drain(..).flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_survives_deletes_and_compaction() {
        let mut d = Dict::new();
        for i in 0..100 {
            assert!(d
                .insert(DictKey::Int(i), Value::Int(i), Value::Int(i * 2))
                .is_none());
        }
        for i in (0..100).step_by(2) {
            assert!(d.remove(&DictKey::Int(i)).is_some());
        }
        for i in 0..80 {
            let _ = d.remove(&DictKey::Int(i));
        }
        let keys: Vec<i64> = d
            .iter()
            .map(|(k, _)| match k {
                Value::Int(i) => i,
                _ => -1,
            })
            .collect();
        assert_eq!(keys, (81..100).step_by(2).collect::<Vec<_>>());
        assert!(matches!(d.get(&DictKey::Int(99)), Some(Value::Int(198))));
        assert!(d.get(&DictKey::Int(98)).is_none());
        // overwrite keeps position
        d.insert(DictKey::Int(81), Value::Int(81), Value::Int(0));
        assert!(matches!(
            d.iter().next(),
            Some((Value::Int(81), Value::Int(0)))
        ));
    }
}
