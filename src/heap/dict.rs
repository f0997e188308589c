//! Dicts: insertion-ordered, keyed by Python's notion of equal keys.
//!
//! The layout is CPython's compact dict (the design notes at the top of
//! Objects/dictobject.c): entries sit in an append-only vector (kept in chunks,
//! see `Entries`), which gives the iteration order, and a separate
//! open-addressing table of `u32` indices maps a hash to an entry. Deleting leaves a hole in the entries and a "dummy" in the
//! index (so that probe chains through it stay intact); holes and dummies go when
//! the table is next rebuilt, which only an insertion does. So deletion is O(1)
//! and order survives it.
//!
//! An entry is the key's hash, the key object and the value: 40 bytes, so a table
//! of a million entries touches as little memory as it can. A probe compares
//! hashes before keys, and a rebuild never re-hashes. Ints hash to themselves
//! (-1 to -2), as in CPython: sequential int keys then land in sequential index
//! slots, which keeps large tables cache-friendly exactly where CPython's are.
//!
//! A `DictKey` is a key's hashable *content* (the int, the string's text, a tuple's
//! item keys), computed by the VM before the dict is locked. Keys that Python
//! considers equal have the same content: `1`, `1.0` and `True` are all `Int(1)`.
//! Instances of user classes are keyed by identity (Toy does not call `__hash__`).
//! Lookups take a `KeyRef`: a content, or a string object borrowed with its hash
//! (cached in the object), so the hot paths build no owned key. A stored key is
//! compared with it from the key value alone for ints, floats and identities;
//! from a copy of its text that the dict keeps beside the entries for strings
//! (short texts are inline, long ones shared: see `Chunk::t`); through the heap,
//! by reading the key object, for big ints and tuples. Those are immutable, so
//! nothing write-locks them and reading them while the dict is locked cannot
//! deadlock (see `heap::slots`).

use super::objects::{Obj, Text};
use super::slots::Heap;
use super::value::{ObjRef, Value};
use num_bigint::BigInt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DictKey {
    None,
    Int(i64),
    /// Boxed so that a key (and an entry) stays small.
    Big(Box<BigInt>),
    /// A float that is not equal to any int: keyed by its bits.
    Float(u64),
    Str(super::objects::Text),
    Tuple(Box<[DictKey]>),
    /// Identity (slot index and generation) for objects hashed by identity.
    Id(u32, u32),
}

/// MurmurHash3's 64-bit finaliser: every input bit reaches the low bits, which
/// pick the first index slot.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

/// The content of a key that is not a heap object (None, bool, int, float): `1`,
/// `1.0` and `True` are all `Int(1)`.
#[inline]
pub fn scalar_key(v: Value) -> Option<DictKey> {
    Some(match v {
        Value::None | Value::Unbound => DictKey::None,
        Value::Bool(b) => DictKey::Int(b as i64),
        Value::Int(i) => DictKey::Int(i),
        Value::Float(f) => {
            // 2**63 as a float: the integral floats below it (and from -2**63)
            // are i64s, those beyond are big ints, as their int equals are.
            const I64_END: f64 = -(i64::MIN as f64);
            if f.fract() != 0.0 || !f.is_finite() {
                DictKey::Float(f.to_bits())
            } else if (-I64_END..I64_END).contains(&f) {
                DictKey::Int(f as i64)
            } else {
                DictKey::Big(Box::new(
                    num_traits::FromPrimitive::from_f64(f).unwrap_or_default(),
                ))
            }
        }
        Value::Obj(_) => return None,
    })
}

/// The hash of a string's text, as a `DictKey::Str` and a `KeyRef::Str` use it
/// (`StrObj` caches it, with 0 meaning "not yet": so it is never 0). FNV-1a over
/// 8-byte words, then mixed.
pub fn str_hash(s: &str) -> u64 {
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
    mix(h).max(1)
}

/// An int's hash: the int itself, except that -1 hashes to -2 as in CPython
/// (where -1 means "error" in C).
fn int_hash(i: i64) -> u64 {
    if i == -1 {
        -2i64 as u64
    } else {
        i as u64
    }
}

impl DictKey {
    /// The key's hash as the dict uses it.
    pub fn digest(&self) -> u64 {
        match self {
            DictKey::None => 0x6e6f6e65,
            DictKey::Int(i) => int_hash(*i),
            DictKey::Float(b) => mix(*b),
            DictKey::Str(s) => str_hash(s),
            DictKey::Big(b) => {
                let (_, digits) = b.to_u64_digits();
                mix(digits
                    .iter()
                    .fold(0x9e37_79b9, |h: u64, d| (h ^ d).wrapping_mul(0x100000001b3)))
            }
            DictKey::Tuple(items) => mix(items
                .iter()
                .fold(0x345678, |h: u64, k| (h ^ k.digest()).wrapping_mul(1000003))),
            DictKey::Id(i, g) => ((*g as u64) << 32) | *i as u64,
        }
    }
}

/// For `hash()` and any other std map of keys.
impl std::hash::Hash for DictKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest());
    }
}

/// A key to look up: a content, or a string object (with its text and hash)
/// borrowed for the lookup.
#[derive(Clone, Copy, Debug)]
pub enum KeyRef<'a> {
    Key(&'a DictKey),
    Str(ObjRef, &'a Text, u64),
}

impl KeyRef<'_> {
    #[inline]
    fn hash(&self) -> u64 {
        match self {
            KeyRef::Key(DictKey::Int(i)) => int_hash(*i),
            KeyRef::Key(k) => k.digest(),
            KeyRef::Str(_, _, h) => *h,
        }
    }

    /// The text of a str key, which the dict keeps beside the key object (see
    /// `Chunk::t`).
    #[inline]
    fn text(&self) -> Option<&Text> {
        match self {
            KeyRef::Str(_, t, _) => Some(t),
            KeyRef::Key(DictKey::Str(t)) => Some(t),
            KeyRef::Key(_) => None,
        }
    }

    /// Is the stored key object `stored`, at position `pos` of `entries`
    /// (which keep its text if it is a str), equal to this key?
    #[inline]
    fn matches(&self, heap: &Heap, stored: Value, entries: &Entries, pos: usize) -> bool {
        match self {
            KeyRef::Str(r, s, _) => match stored {
                Value::Obj(q) if q == *r => true,
                Value::Obj(q) => match entries.text(pos) {
                    Some(t) => same_text(t.as_bytes(), s.as_bytes()),
                    None => text_is(heap, q, s),
                },
                _ => false,
            },
            // The commonest case inline: an int against an int key.
            KeyRef::Key(DictKey::Int(i)) => match stored {
                Value::Int(j) => *i == j,
                Value::Obj(_) => false,
                _ => key_matches(heap, &DictKey::Int(*i), stored),
            },
            KeyRef::Key(k @ DictKey::Str(s)) => match (stored, entries.text(pos)) {
                (Value::Obj(_), Some(t)) => same_text(t.as_bytes(), s.as_bytes()),
                _ => key_matches(heap, k, stored),
            },
            KeyRef::Key(k) => key_matches(heap, k, stored),
        }
    }
}

/// Are two texts the same? Those of 4 to 16 bytes (most keys) are compared
/// as two overlapping words each, inline; a comparison of slices of unknown
/// length is otherwise a call to `memcmp`, which cost a dict lookup of a
/// short key a quarter of its instructions in strings.py.
#[inline(always)]
fn same_text(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    fn word<const W: usize>(s: &[u8], at: usize) -> [u8; W] {
        s.get(at..at + W)
            .and_then(|w| w.try_into().ok())
            .unwrap_or([0; W])
    }
    match n {
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        _ => a == b,
    }
}

/// Is the object `q` a string with the text `s`?
fn text_is(heap: &Heap, q: ObjRef, s: &str) -> bool {
    match heap.get(q).as_deref() {
        Ok(Obj::Str(t)) => t.s.as_bytes() == s.as_bytes(),
        _ => false,
    }
}

/// Is the stored key object `stored` equal to the key with content `k`?
fn key_matches(heap: &Heap, k: &DictKey, stored: Value) -> bool {
    match (k, stored) {
        (DictKey::Int(i), Value::Int(j)) => *i == j,
        (DictKey::Id(i, g), Value::Obj(q)) => q.idx == *i && q.gen == *g,
        (DictKey::Str(s), Value::Obj(q)) => text_is(heap, q, s),
        (DictKey::Big(b), Value::Obj(q)) => {
            matches!(heap.get(q).as_deref(), Ok(Obj::BigInt(c)) if c == &**b)
        }
        (DictKey::Tuple(items), Value::Obj(q)) => {
            let stored_items = match heap.get(q).as_deref() {
                Ok(Obj::Tuple(t)) if t.len() == items.len() => t.to_vec(),
                _ => return false,
            };
            items
                .iter()
                .zip(stored_items)
                .all(|(k, v)| key_matches(heap, k, v))
        }
        (_, Value::Obj(_)) => false,
        (k, v) => scalar_key(v).as_ref() == Some(k),
    }
}

/// An index slot that never held an entry: a probe stops here.
const EMPTY: u32 = u32::MAX;
/// An index slot whose entry was deleted: a probe goes on past it.
const DUMMY: u32 = u32::MAX - 1;
/// The smallest index table (CPython's PyDict_MINSIZE).
const MIN_SIZE: usize = 8;

/// How many entries an index table of `size` slots takes before it is rebuilt:
/// two thirds, CPython's USABLE_FRACTION, so that probe chains stay short.
fn usable(size: usize) -> usize {
    size * 2 / 3
}

/// The smallest index table (a power of two) with room for `n` entries.
fn size_for(n: usize) -> usize {
    let mut size = MIN_SIZE;
    while usable(size) < n {
        size *= 2;
    }
    size
}

#[derive(Clone, Debug)]
struct Entry {
    hash: u64,
    k: Value,
    v: Value,
}

/// Entries per chunk of `Entries` (a power of two).
const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

/// The entry vector, in chunks of `CHUNK` entries (the first one grows up to
/// that like any vector), so that a large dict never copies its entries as it
/// grows: with one flat vector, every doubling of an 800k-entry dict moved tens
/// of megabytes into fresh pages, and that copy and the kernel's clearing of the
/// pages took a tenth of the run.
#[derive(Debug, Default, Clone)]
struct Entries {
    /// Every chunk but the last is full.
    chunks: Vec<Chunk>,
}

#[derive(Debug, Default, Clone)]
struct Chunk {
    e: Vec<Option<Entry>>,
    /// The text of each str key, by position, up to the chunk's last str key
    /// (empty where the key is not a str, and for a chunk of int keys): a str
    /// being looked up is compared with it, not with the key object, whose
    /// lock and generation check took two locked instructions and sixty others
    /// a lookup in strings.py. Outside the entries, so that an int-keyed dict
    /// (dicts.py's 800,000 entries) pays nothing for it.
    t: Vec<Text>,
}

impl Chunk {
    fn with_capacity(n: usize) -> Self {
        Chunk {
            e: Vec::with_capacity(n),
            t: Vec::new(),
        }
    }

    /// Append `e`, with its key's text if it has one (an empty text is the
    /// filler, so it is not kept: see `Entries::text`).
    fn push(&mut self, e: Option<Entry>, text: Option<Text>) {
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            self.t.resize(self.e.len(), Text::default());
            self.t.push(t);
        }
        self.e.push(e);
    }
}

impl Entries {
    #[inline]
    fn len(&self) -> usize {
        match self.chunks.last() {
            Some(c) => ((self.chunks.len() - 1) << CHUNK_BITS) + c.e.len(),
            None => 0,
        }
    }

    /// Append an entry, with its key's text if the key is a str.
    fn push(&mut self, e: Option<Entry>, text: Option<Text>) {
        match self.chunks.last_mut() {
            Some(c) if c.e.len() < CHUNK => c.push(e, text),
            _ => {
                let mut c = Chunk::with_capacity(if self.chunks.is_empty() { 4 } else { CHUNK });
                c.push(e, text);
                self.chunks.push(c);
            }
        }
    }

    fn pop(&mut self) -> Option<Option<Entry>> {
        let c = self.chunks.last_mut()?;
        let e = c.e.pop()?;
        c.t.truncate(c.e.len());
        if c.e.is_empty() {
            self.chunks.pop();
        }
        Some(e)
    }

    /// Room for `n` entries in all, when they still fit in the first chunk.
    fn reserve_total(&mut self, n: usize) {
        if self.chunks.len() <= 1 {
            let want = n.min(CHUNK);
            match self.chunks.first_mut() {
                Some(c) => c.e.reserve_exact(want.saturating_sub(c.e.len())),
                None => self.chunks.push(Chunk::with_capacity(want)),
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Option<Entry>> + '_ {
        self.chunks.iter().flat_map(|c| c.e.iter())
    }

    fn get(&self, pos: usize) -> Option<&Option<Entry>> {
        self.chunks.get(pos >> CHUNK_BITS)?.e.get(pos & (CHUNK - 1))
    }

    /// The text of the str key at `pos`, if the dict kept it (not for the
    /// empty str, whose text is the filler's: that one is compared through
    /// the heap).
    #[inline]
    fn text(&self, pos: usize) -> Option<&Text> {
        let t = self
            .chunks
            .get(pos >> CHUNK_BITS)?
            .t
            .get(pos & (CHUNK - 1))?;
        (!t.is_empty()).then_some(t)
    }

    /// Drop the text kept for the (deleted) entry at `pos`: a long key's text
    /// is shared with the key object, and must not outlive it here.
    fn forget_text(&mut self, pos: usize) {
        if let Some(t) = self
            .chunks
            .get_mut(pos >> CHUNK_BITS)
            .and_then(|c| c.t.get_mut(pos & (CHUNK - 1)))
        {
            *t = Text::default();
        }
    }

    /// The live entries only, in order, with their texts.
    fn squeezed(self) -> Entries {
        let mut out = Entries::default();
        for c in self.chunks {
            let mut texts = c.t.into_iter();
            for e in c.e {
                let t = texts.next();
                if e.is_some() {
                    out.push(e, t);
                }
            }
        }
        out
    }

    fn into_live(self) -> impl Iterator<Item = Entry> {
        self.chunks.into_iter().flat_map(|c| c.e).flatten()
    }
}

impl std::ops::Index<usize> for Entries {
    type Output = Option<Entry>;
    #[inline]
    fn index(&self, pos: usize) -> &Option<Entry> {
        &self.chunks[pos >> CHUNK_BITS].e[pos & (CHUNK - 1)]
    }
}

impl std::ops::IndexMut<usize> for Entries {
    #[inline]
    fn index_mut(&mut self, pos: usize) -> &mut Option<Entry> {
        &mut self.chunks[pos >> CHUNK_BITS].e[pos & (CHUNK - 1)]
    }
}

#[derive(Debug, Default, Clone)]
pub struct Dict {
    /// Entry positions by hash (open addressing); a power of two long, or empty
    /// before the first insertion.
    indices: Box<[u32]>,
    /// Entries in insertion order; `None` where an entry was deleted.
    entries: Entries,
    /// Live entries.
    used: u32,
    /// Insertions left before the index table must be rebuilt. Deletions do not
    /// give any back: their dummies still lengthen probes until the rebuild.
    free: u32,
}

/// The probe sequence of CPython's dict (Objects/dictobject.c): slot
/// `i = i*5 + perturb + 1`, with `perturb` the hash shifted right by 5 bits at
/// every step, so that the hash's high bits take part and the sequence, once
/// `perturb` is zero, visits every slot of the power-of-two table.
struct Probe {
    i: usize,
    perturb: u64,
    mask: usize,
}

impl Probe {
    #[inline]
    fn new(hash: u64, size: usize) -> Self {
        let mask = size - 1;
        Probe {
            i: hash as usize & mask,
            perturb: hash,
            mask,
        }
    }

    #[inline]
    fn next(&mut self) {
        self.perturb >>= 5;
        self.i = (self.i.wrapping_mul(5))
            .wrapping_add(self.perturb as usize)
            .wrapping_add(1)
            & self.mask;
    }
}

impl Dict {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        if n == 0 {
            return Self::default();
        }
        let size = size_for(n);
        Dict {
            indices: vec![EMPTY; size].into_boxed_slice(),
            entries: {
                let mut e = Entries::default();
                e.reserve_total(usable(size));
                e
            },
            used: 0,
            free: usable(size) as u32,
        }
    }

    pub fn len(&self) -> usize {
        self.used as usize
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// (index slot, entry position) of the key, if present.
    #[inline]
    fn find(&self, heap: &Heap, key: KeyRef<'_>, hash: u64) -> Option<(usize, usize)> {
        if self.indices.is_empty() {
            return None;
        }
        let mut p = Probe::new(hash, self.indices.len());
        loop {
            let ix = self.indices[p.i];
            if ix == EMPTY {
                return None;
            }
            if ix != DUMMY {
                if let Some(e) = &self.entries[ix as usize] {
                    if e.hash == hash && key.matches(heap, e.k, &self.entries, ix as usize) {
                        return Some((p.i, ix as usize));
                    }
                }
            }
            p.next();
        }
    }

    /// The first EMPTY slot on the key's probe sequence.
    fn empty_slot(&self, hash: u64) -> usize {
        let mut p = Probe::new(hash, self.indices.len());
        while self.indices[p.i] != EMPTY {
            p.next();
        }
        p.i
    }

    /// The value of a key (borrowed). The heap is needed to compare keys that
    /// are objects; the same for every method that takes it.
    pub fn get_ref(&self, heap: &Heap, key: KeyRef<'_>) -> Option<Value> {
        let (_, pos) = self.find(heap, key, key.hash())?;
        self.entries[pos].as_ref().map(|e| e.v)
    }

    /// The entry of a key: its position, its key object (the one the dict
    /// keeps) and its value, borrowed.
    pub fn get_entry(&self, heap: &Heap, key: KeyRef<'_>) -> Option<(usize, Value, Value)> {
        let (_, pos) = self.find(heap, key, key.hash())?;
        self.entries[pos].as_ref().map(|e| (pos, e.k, e.v))
    }

    /// Replace the value of the entry at `pos` if its key is still `stored`
    /// (the same object, or the same number): the old value, whose reference
    /// is the caller's now; else `value` back.
    pub fn replace_at(&mut self, pos: usize, stored: Value, value: Value) -> Result<Value, Value> {
        if pos >= self.entries.len() {
            return Err(value);
        }
        match &mut self.entries[pos] {
            Some(e) if e.k.is(stored) => Ok(std::mem::replace(&mut e.v, value)),
            _ => Err(value),
        }
    }

    pub fn contains_ref(&self, heap: &Heap, key: KeyRef<'_>) -> bool {
        self.find(heap, key, key.hash()).is_some()
    }

    pub fn get(&self, heap: &Heap, k: &DictKey) -> Option<Value> {
        self.get_ref(heap, KeyRef::Key(k))
    }

    pub fn contains(&self, heap: &Heap, k: &DictKey) -> bool {
        self.contains_ref(heap, KeyRef::Key(k))
    }

    /// Insert or overwrite. Returns the replaced value (its reference now belongs to
    /// the caller, who must release it), and, when the key was new, nothing: the dict
    /// keeps the references to `key` and `value` the caller passed in. When the key
    /// existed, the dict keeps its original key object and the passed `key` is
    /// returned too, for the caller to release (CPython keeps the first key object).
    pub fn insert(
        &mut self,
        heap: &Heap,
        k: &DictKey,
        key: Value,
        value: Value,
    ) -> Option<(Value, Value)> {
        self.insert_ref(heap, KeyRef::Key(k), key, value)
    }

    /// `insert` with a borrowed key.
    pub fn insert_ref(
        &mut self,
        heap: &Heap,
        k: KeyRef<'_>,
        key: Value,
        value: Value,
    ) -> Option<(Value, Value)> {
        let hash = k.hash();
        // One probe finds either the key or the slot where it goes.
        let mut slot = None;
        if !self.indices.is_empty() {
            let mut p = Probe::new(hash, self.indices.len());
            loop {
                let ix = self.indices[p.i];
                if ix == EMPTY {
                    slot = Some(p.i);
                    break;
                }
                if ix != DUMMY {
                    let found = match &self.entries[ix as usize] {
                        Some(e) => {
                            e.hash == hash && k.matches(heap, e.k, &self.entries, ix as usize)
                        }
                        None => false,
                    };
                    if let (true, Some(e)) = (found, &mut self.entries[ix as usize]) {
                        let old = std::mem::replace(&mut e.v, value);
                        return Some((key, old));
                    }
                }
                p.next();
            }
        }
        let slot = match slot {
            Some(s) if self.free > 0 => s,
            _ => {
                // Room for twice the live entries (CPython 3.11's GROWTH_RATE).
                self.rebuild(size_for((self.len() * 2).max(1)));
                self.empty_slot(hash)
            }
        };
        self.indices[slot] = self.entries.len() as u32;
        let text = k.text().cloned();
        self.entries.push(
            Some(Entry {
                hash,
                k: key,
                v: value,
            }),
            text,
        );
        self.used += 1;
        self.free -= 1;
        None
    }

    /// A new index table of `size` slots over the live entries, holes squeezed out
    /// (so iterators that walk by position must not outlive an insertion: the VM's
    /// raise on a size change first).
    fn rebuild(&mut self, size: usize) {
        if self.entries.len() != self.len() {
            self.entries = std::mem::take(&mut self.entries).squeezed();
        }
        let cap = usable(size);
        self.entries.reserve_total(cap);
        // A fresh table, not a resized one: growing the old one would copy it.
        self.indices = vec![EMPTY; size].into_boxed_slice();
        for (pos, e) in self.entries.iter().enumerate() {
            if let Some(e) = e {
                let i = self.empty_slot(e.hash);
                self.indices[i] = pos as u32;
            }
        }
        self.free = (cap - self.len()) as u32;
    }

    /// Remove a key: returns its (key, value), both references now the caller's.
    pub fn remove_ref(&mut self, heap: &Heap, k: KeyRef<'_>) -> Option<(Value, Value)> {
        let (slot, pos) = self.find(heap, k, k.hash())?;
        self.indices[slot] = DUMMY;
        let e = self.entries[pos].take()?;
        self.entries.forget_text(pos);
        self.used -= 1;
        Some((e.k, e.v))
    }

    pub fn remove(&mut self, heap: &Heap, k: &DictKey) -> Option<(Value, Value)> {
        self.remove_ref(heap, KeyRef::Key(k))
    }

    /// Live entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (Value, Value)> + '_ {
        self.entries
            .iter()
            .filter_map(|e| e.as_ref().map(|e| (e.k, e.v)))
    }

    /// The `n`-th entry slot (live or a hole), for iterators that walk by position.
    pub fn entry_at(&self, pos: usize) -> Option<Option<(Value, Value)>> {
        self.entries
            .get(pos)
            .map(|e| e.as_ref().map(|e| (e.k, e.v)))
    }

    pub fn slots_len(&self) -> usize {
        self.entries.len()
    }

    /// Remove and return the last entry (dict.popitem).
    pub fn pop_last(&mut self) -> Option<(Value, Value)> {
        while let Some(e) = self.entries.pop() {
            if let Some(e) = e {
                // The index slot that points at the popped position becomes a
                // dummy; `free` is not given back (see the field).
                let pos = self.entries.len() as u32;
                let mut p = Probe::new(e.hash, self.indices.len());
                while self.indices[p.i] != pos {
                    p.next();
                }
                self.indices[p.i] = DUMMY;
                self.used -= 1;
                return Some((e.k, e.v));
            }
        }
        None
    }

    /// Empty the dict, handing every reference it held to the caller.
    pub fn take_all(&mut self) -> Vec<(Value, Value)> {
        self.indices = Box::default();
        self.used = 0;
        self.free = 0;
        std::mem::take(&mut self.entries)
            .into_live()
            .map(|e| (e.k, e.v))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heap() -> Heap {
        Heap::new(1 << 30, Default::default())
    }

    #[test]
    fn same_text_agrees_with_slice_equality() {
        // Every length up to past the word paths, and a difference at every
        // position (the overlapping words must not miss one in the middle).
        for n in 0..24 {
            let a: Vec<u8> = (0..n as u8).map(|i| b'a' + i).collect();
            assert!(same_text(&a, &a.clone()));
            for at in 0..n {
                let mut b = a.clone();
                b[at] = b'Z';
                assert!(!same_text(&a, &b), "length {n}, differing at {at}");
            }
            let mut longer = a.clone();
            longer.push(b'x');
            assert!(!same_text(&a, &longer));
        }
    }

    #[test]
    fn entries_are_small() {
        assert_eq!(std::mem::size_of::<Option<Entry>>(), 40);
        // Every heap slot holds an `Obj`, which holds a `Dict` inline: a larger
        // dict header would make every object in every program larger.
        assert!(std::mem::size_of::<Dict>() <= 48);
    }

    #[test]
    fn order_survives_deletes_and_compaction() {
        let h = heap();
        let mut d = Dict::new();
        for i in 0..100 {
            assert!(d
                .insert(&h, &DictKey::Int(i), Value::Int(i), Value::Int(i * 2))
                .is_none());
        }
        for i in (0..100).step_by(2) {
            assert!(d.remove(&h, &DictKey::Int(i)).is_some());
        }
        for i in 0..80 {
            let _ = d.remove(&h, &DictKey::Int(i));
        }
        let keys: Vec<i64> = d
            .iter()
            .map(|(k, _)| match k {
                Value::Int(i) => i,
                _ => -1,
            })
            .collect();
        assert_eq!(keys, (81..100).step_by(2).collect::<Vec<_>>());
        assert!(matches!(
            d.get(&h, &DictKey::Int(99)),
            Some(Value::Int(198))
        ));
        assert!(d.get(&h, &DictKey::Int(98)).is_none());
        // overwrite keeps position
        d.insert(&h, &DictKey::Int(81), Value::Int(81), Value::Int(0));
        assert!(matches!(
            d.iter().next(),
            Some((Value::Int(81), Value::Int(0)))
        ));
    }

    #[test]
    fn str_keys_are_found_by_the_text_the_dict_keeps() {
        use super::super::objects::{text, StrObj};
        use super::super::slots::LocalHeap;
        let h = heap();
        let mut local = LocalHeap::default();
        let mut d = Dict::new();
        let mut objs = Vec::new();
        // Enough keys for several rebuilds and a second chunk; "" and a long
        // (not inline) text among them; an int key between str keys.
        let mut names: Vec<String> = (0..1500).map(|i| format!("key{i}")).collect();
        names.push(String::new());
        names.push("x".repeat(40));
        for (i, n) in names.iter().enumerate() {
            let r = h
                .alloc_str(&mut local, StrObj::new(n.as_str()))
                .expect("room");
            objs.push(r);
            let k = DictKey::Str(text(n));
            assert!(d
                .insert(&h, &k, Value::Obj(r), Value::Int(i as i64))
                .is_none());
            if i == 700 {
                d.insert(&h, &DictKey::Int(7), Value::Int(7), Value::Int(-7));
            }
        }
        // Deletions, then a rebuild that squeezes the holes out.
        for n in names.iter().step_by(3) {
            assert!(d.remove(&h, &DictKey::Str(text(n))).is_some());
        }
        for i in 0..2000 {
            d.insert(
                &h,
                &DictKey::Int(10_000 + i),
                Value::Int(10_000 + i),
                Value::Int(0),
            );
        }
        // Looked up by content and by a different str object with the same text.
        for (i, n) in names.iter().enumerate() {
            let want = (i % 3 != 0).then_some(i as i64);
            let by_content = d.get(&h, &DictKey::Str(text(n)));
            assert_eq!(
                by_content.map(|v| matches!(v, Value::Int(j) if Some(j) == want)),
                want.map(|_| true)
            );
            let other = h
                .alloc_str(&mut local, StrObj::new(n.as_str()))
                .expect("room");
            let probe = StrObj::new(n.as_str());
            let found = d.get_ref(&h, KeyRef::Str(other, &probe.s, probe.hash()));
            assert_eq!(found.is_some(), want.is_some(), "{n:?}");
        }
        assert!(matches!(d.get(&h, &DictKey::Int(7)), Some(Value::Int(-7))));
        // A text the dict never held is not found, though its hash were equal.
        assert!(d.get(&h, &DictKey::Str(text("key1 "))).is_none());
        // popitem takes the last entry and its text.
        let (k, _) = d.pop_last().expect("not empty");
        assert!(matches!(k, Value::Int(11_999)));
        assert_eq!(objs.len(), names.len());
    }

    #[test]
    fn a_deleted_str_key_leaves_no_text_behind() {
        // The dict's copy of a long key's text shares the key's buffer: it must
        // go with the entry, not wait for the next rebuild.
        let h = heap();
        let mut d = Dict::new();
        for i in 0..10 {
            d.insert(&h, &DictKey::Int(i), Value::Int(i), Value::Int(i));
        }
        let mut local = super::super::slots::LocalHeap::default();
        let long: std::sync::Arc<str> = std::sync::Arc::from("k".repeat(40).as_str());
        let obj = h
            .alloc_str(&mut local, super::super::objects::StrObj::new(long.clone()))
            .expect("room");
        let key = DictKey::Str(Text::from(long.clone()));
        d.insert(&h, &key, Value::Obj(obj), Value::Int(0));
        assert_eq!(
            std::sync::Arc::strong_count(&long),
            4,
            "test, object, key, dict"
        );
        assert!(d.remove(&h, &key).is_some());
        assert_eq!(std::sync::Arc::strong_count(&long), 3, "test, object, key");
        assert!(d.get(&h, &key).is_none());
    }

    #[test]
    fn growth_popitem_and_clear() {
        let h = heap();
        let mut d = Dict::new();
        for i in -500..500 {
            assert!(d
                .insert(&h, &DictKey::Int(i), Value::Int(i), Value::Int(i))
                .is_none());
        }
        assert_eq!(d.len(), 1000);
        // -1 and -2 share a hash and stay two keys.
        assert!(matches!(d.get(&h, &DictKey::Int(-1)), Some(Value::Int(-1))));
        assert!(matches!(d.get(&h, &DictKey::Int(-2)), Some(Value::Int(-2))));
        // A key value that is not an object is compared by its content.
        d.insert(&h, &DictKey::Int(3), Value::Float(3.0), Value::Int(7));
        assert!(matches!(d.get(&h, &DictKey::Int(3)), Some(Value::Int(7))));
        d.insert(
            &h,
            &DictKey::Float(0.5f64.to_bits()),
            Value::Float(0.5),
            Value::Int(8),
        );
        assert!(matches!(
            d.pop_last(),
            Some((Value::Float(_), Value::Int(8)))
        ));
        assert!(!d.contains(&h, &DictKey::Float(0.5f64.to_bits())));
        for i in -500..490 {
            assert!(d.remove(&h, &DictKey::Int(i)).is_some());
        }
        for i in 1000..2000 {
            d.insert(&h, &DictKey::Int(i), Value::Int(i), Value::Int(i));
        }
        assert_eq!(d.len(), 1010);
        assert!(matches!(d.iter().next(), Some((Value::Int(490), _))));
        assert_eq!(d.take_all().len(), 1010);
        assert!(d.is_empty() && d.get(&h, &DictKey::Int(1500)).is_none());
        d.insert(&h, &DictKey::None, Value::None, Value::None);
        assert_eq!(d.len(), 1);
    }
}
