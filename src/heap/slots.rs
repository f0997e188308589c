//! The slot table: where objects are allocated, counted and freed.
//!
//! Only `Heap::alloc` and the private `free` create or destroy an object, so the
//! statistics, the heap cap and the audit can be trusted (clox's `reallocate`).
//!
//! ## Why slots and generations
//! Under `--gil off` a count can be driven to zero by a race while another thread
//! still holds a reference. CPython would free the memory and the other thread would
//! read garbage. gilsim frees the *object* (its slot becomes free and may be reused)
//! but never the memory under it: a slot lives as long as the heap, and each free
//! bumps its generation. A handle (`ObjRef`) remembers the generation it was made
//! for, so a use through a stale handle is *detected* (`HeapError::UseAfterFree`)
//! instead of being undefined behaviour. Slots are reached through fixed segments
//! that are created once and never moved, so no lock guards the table itself.
//!
//! ## Who writes what
//! - `rc` (the simulated `ob_refcnt`): written by any thread that copies or drops a
//!   reference, with no lock. In `RefcountMode::Plain` an update is a relaxed load
//!   followed by a relaxed store, so two threads can lose an update exactly as two
//!   cores running CPython without its GIL would; in `Atomic` mode it is a fetch-add.
//!   Under `--gil off` with `--stats` the plain store is made with a swap, which
//!   returns the value it overwrote: if that is not the value loaded, other
//!   threads' updates landed in between and are now lost, and the difference says
//!   how many (see `Update`).
//! - `gen` and `aux` (the generation and the object's immutable hint): written
//!   by `alloc` and `free`, while holding the slot's write lock; except that a
//!   short str (no references, no memory outside the slot) is freed without the
//!   lock, by a compare-and-swap of `gen` that also catches a double free, its
//!   object left in `data` until `alloc` replaces it (see `free_str`).
//! - `data`: behind the slot's lock (see `Heap::lock`). The lock is Rust's
//!   guarantee of memory safety, not the simulation's: updates that CPython does
//!   in several steps (say, a list append) can still be split by the VM to let
//!   races show.
//!
//! ## Why a spin lock, taken for reads too
//! Every list index, attribute and dict lookup takes its object's lock, so the
//! lock's cost is paid several times per line of a program. A reader-writer
//! lock (parking_lot's, which gilsim used first) needs two atomic
//! read-modify-writes per access, one to take it and one to release it; a spin
//! lock needs one, its release being a plain store, and on the machines gilsim
//! runs on each such instruction costs 4 to 9 ns (`cargo bench --bench locks`).
//! The price is that a read is exclusive: a thread must never ask for an object
//! it already holds (`Vm::get_pair` reads two objects that may be one), and two
//! threads must never wait for each other's objects. Under the GIL only one
//! thread touches objects at a time, so the second holds by itself; without the
//! GIL, every access also takes the heap's one access lock (re-entrant, for an
//! access that holds one object while it reads another), so slot locks are again
//! never contended, while reference counts, outside every lock, race as before.
//! A wait that lasts far longer than any access is reported as
//! `HeapError::Stuck`, never hung on.

use super::objects::{Obj, Text};
use super::value::{ObjRef, Value};
use parking_lot::{Mutex, ReentrantMutex, ReentrantMutexGuard};
use spin::mutex::{SpinMutex, SpinMutexGuard};
use std::sync::atomic::{
    AtomicI64, AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::sync::OnceLock;

const SEG_BITS: u32 = 12;
const SEG_SIZE: usize = 1 << SEG_BITS;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RefcountMode {
    /// Load then store, as CPython's `Py_INCREF` on a non-atomic field.
    #[default]
    Plain,
    /// Atomic read-modify-write: never loses an update.
    Atomic,
}

/// How `incref` and `decref` change a count in this run, fixed before the program
/// starts (one predictable branch in the hottest code of the VM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Update {
    /// `--refcount plain`: a load and a store. Under the GIL only one thread runs
    /// bytecode at a time, so no update can be lost; without it updates are
    /// really lost, uncounted.
    Plain,
    /// `--refcount plain --gil off` when lost updates are reported (`--stats`):
    /// the same load, then the store made as a swap. The swap writes exactly what
    /// the plain store would (the race is as real as before) and also returns the
    /// value it replaced. If that differs from the value loaded, other threads'
    /// updates landed in between and are erased; their net effect is the
    /// difference. Summed over every store, the final count is the intended count
    /// minus these differences, so the loss counted is exact. A swap costs about
    /// what an atomic add does, which is why it is used only when asked for.
    Watched,
    /// `--refcount atomic`: a read-modify-write that cannot lose an update.
    Atomic,
}

/// One object's place. Every byte here is paid for by every object a program
/// makes (strings.py keeps 300,000 alive at once), and fresh memory is costly
/// (the kernel clears each page on first touch), so the slot holds only what
/// the VM needs on its hot paths; what only reports need lives in `Sites`.
///
/// In this order (`repr(C)`): the count, generation and hint, then the lock
/// and the object's first bytes. An access reads the generation and takes the
/// lock; at an 80-byte stride three slots in four then find both in one cache
/// line, where Rust's own order (object first, counts last) put them in two.
#[repr(C)]
pub struct Slot {
    rc: AtomicI64,
    /// Bumped by every free: a handle made for another generation is stale.
    gen: AtomicU32,
    /// For a live object, its hint (`Obj::aux_hint`: tag in the low byte,
    /// payload in the next three: a str's is its length), readable without the
    /// lock and validated by reading `gen` before and after (see `Heap::aux`);
    /// for a freed one, the tag `AUX_FREE` and the kind freed
    /// (`Obj::kind_index`) in the second byte. A freed short str's object
    /// stays in `data` until the slot is reused (see `Heap::free_str`): the
    /// tag, not the data, says the slot is free.
    aux: AtomicU32,
    data: SpinMutex<Obj>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            rc: AtomicI64::new(0),
            gen: AtomicU32::new(0),
            aux: AtomicU32::new(0),
            data: SpinMutex::new(Obj::Free),
        }
    }
}

/// Where a slot's object was allocated and freed, for crash reports, the audit
/// and the lost-update hook; kept only when the run records sites
/// (`Heap::with_sites`).
#[derive(Default)]
struct Sites {
    /// code index << 32 | instruction index (0: before the program ran, or its
    /// very first instruction).
    alloc: AtomicU64,
    /// thread number << 48 | code index << 32 | instruction index.
    freed: AtomicU64,
    /// The kind freed (`Obj::kind_index`), which the slot's own `aux` word
    /// forgets when the slot is reused: a use after free found late, under
    /// `--gil off`, still names what was freed.
    freed_kind: std::sync::atomic::AtomicU8,
}

/// The name of kind `index` (`Obj::kind_index`).
fn kind_name(index: u8) -> &'static str {
    super::objects::KIND_NAMES
        .get(index as usize)
        .copied()
        .unwrap_or("object")
}

/// Does `slot`, whose object is `data`, hold no live object? A freed short str
/// stays in its slot (see `Heap::free_str`): the `aux` word's tag says it is
/// dead.
fn is_free(slot: &Slot, data: &Obj) -> bool {
    matches!(data, Obj::Free) || slot.aux.load(Relaxed) as u64 & 0xff == super::objects::AUX_FREE
}

/// The kind of object last freed in a slot whose `aux` word is `aux`.
fn freed_kind(aux: u32) -> &'static str {
    kind_name((aux >> 8) as u8)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeapError {
    /// The handle's object was freed; the slot now has generation `now_gen`.
    UseAfterFree {
        r: ObjRef,
        /// The kind of object that was freed ("list", ...).
        freed_kind: &'static str,
        now_gen: u32,
        /// The kind of object living in the slot now ("<free slot>" if none).
        now_kind: &'static str,
        freed_site: u64,
    },
    /// The handle points outside the table (only a torn value can do that).
    Wild(ObjRef),
    /// The heap cap (`--max-heap`) was reached.
    Full,
    /// An object's lock stayed taken for longer than any access takes: the
    /// thread waiting holds the lock itself (a gilsim bug, reported rather
    /// than hung on).
    Stuck(ObjRef),
}

/// A slot's lock and, without the GIL, the heap's access lock (see `Heap::lock`).
type Guards<'a> = (SpinMutexGuard<'a, Obj>, Option<ReentrantMutexGuard<'a, ()>>);

/// A free slot taken for a new object (`Heap::reserve`): the slot, its
/// guards, and the new object's handle.
type Reserved<'a> = (&'a Slot, Guards<'a>, ObjRef);

/// Per-thread allocation state: a cache of free slots (so most allocations take no
/// lock) and the thread's own counters, merged into the totals when it ends.
#[derive(Default)]
pub struct LocalHeap {
    free: Vec<u32>,
    /// Objects that found no slot, until their references are released
    /// (`Heap::unplaced`).
    unplaced: Vec<Obj>,
    pending: Vec<ObjRef>,
    freeing: bool,
    pub allocs: u64,
    pub frees: u64,
    /// References taken and released by this thread (every `incref`/`decref` of
    /// a live object). Plain fields: this thread alone writes them.
    pub increfs: u64,
    pub decrefs: u64,
    /// Other threads' increments and decrements that this thread's stores erased
    /// (`--gil off --refcount plain` with `--stats`; see `Update::Watched`). A lost
    /// increment makes a count too low (an early free), a lost decrement too high
    /// (a leak).
    pub lost_increfs: u64,
    pub lost_decrefs: u64,
    /// Items of other threads' `list.append`s that this thread's append wrote over
    /// (`--gil off --refcount plain` only; see `Vm::list_append`).
    pub lost_appends: u64,
    /// Where the thread is now (code << 32 | instruction index), recorded on
    /// what it allocates and frees. The VM keeps it current where it matters.
    pub site: u64,
    /// This thread's number, for "freed by" reports.
    pub thread: u16,
    /// Bytes allocated (or, negative, freed) and not yet charged to the heap.
    bytes: i64,
    /// Use-after-free events seen by this thread (reported by the caller).
    pub errors: Vec<HeapError>,
}

impl LocalHeap {
    /// A store replaced a count that other threads had moved by `delta` since
    /// this thread loaded it: their net `delta` is lost.
    #[cold]
    fn erased(&mut self, delta: i64) {
        if delta > 0 {
            self.lost_increfs += delta as u64;
        } else {
            self.lost_decrefs += delta.unsigned_abs();
        }
    }
}

pub struct Heap {
    /// Segments are arrays of a fixed length, so that indexing one with a
    /// masked index needs no bounds check on the VM's hottest path.
    segments: Box<[OnceLock<Box<[Slot; SEG_SIZE]>>]>,
    /// The site records of each segment's slots (`with_sites`), else empty.
    sites: Box<[OnceLock<Box<[Sites; SEG_SIZE]>>]>,
    /// The next never-used slot index.
    fresh: AtomicU32,
    /// Free slots handed back by threads whose caches overflowed or that ended.
    free: Mutex<Vec<u32>>,
    max_slots: u32,
    pub mode: RefcountMode,
    update: Update,
    /// `--gil off --refcount plain` (see `unguarded`).
    unguarded: bool,
    /// Test hook: see `Heap::lose_first_incref_at`.
    forced_loss: OnceLock<Vec<u64>>,
    forced_loss_done: std::sync::atomic::AtomicBool,
    allocated: AtomicU64,
    freed: AtomicU64,
    bytes: AtomicI64,
    max_bytes: i64,
    corruptions: AtomicU64,
    /// Called on every detected use of a freed object (see `report`).
    pub on_corruption: OnceLock<CorruptionHook>,
    /// Under `--gil off`, every object access (outermost and nested) also
    /// holds this lock (see `Heap::lock`); under the GIL it is never taken.
    access: ReentrantMutex<()>,
    serialize: bool,
}

/// What to do when a thread uses a freed object: the CLI installs a hook that
/// prints the crash report and stops the process (`--on-corruption abort`).
pub type CorruptionHook = Box<dyn Fn(&HeapError, &LocalHeap) + Send + Sync>;

/// Read access to one object: its slot's lock, held until the guard drops.
/// A read takes the same exclusive lock a write does (see `Heap::lock`), so a
/// thread must never ask for an object it already holds.
pub struct ObjRead<'a> {
    g: SpinMutexGuard<'a, Obj>,
    /// Under `--gil off`, the heap's access lock (see `Heap::access`).
    _serial: Option<ReentrantMutexGuard<'a, ()>>,
}

/// Write access to one object (see `ObjRead`).
pub struct ObjWrite<'a> {
    g: SpinMutexGuard<'a, Obj>,
    _serial: Option<ReentrantMutexGuard<'a, ()>>,
}

impl std::ops::Deref for ObjRead<'_> {
    type Target = Obj;
    #[inline(always)]
    fn deref(&self) -> &Obj {
        &self.g
    }
}

impl std::ops::Deref for ObjWrite<'_> {
    type Target = Obj;
    #[inline(always)]
    fn deref(&self) -> &Obj {
        &self.g
    }
}

impl std::ops::DerefMut for ObjWrite<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Obj {
        &mut self.g
    }
}

/// How long a slot's lock may stay taken before the waiter gives up: any real
/// access holds it for microseconds, so a wait this long means the waiting
/// thread holds the lock itself (see `HeapError::Stuck`).
const STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

const LOCAL_CACHE_MAX: usize = 4096;

/// `aux` tag of a function without a closure: code index above the tag.
pub const AUX_PLAIN_FUNCTION: u64 = 1;
/// `aux` tag of a function with a closure: code index above the tag.
pub const AUX_CLOSURE_FUNCTION: u64 = 2;

/// `aux` tag of a built-in function or method: its number above the tag.
pub const AUX_BUILTIN: u64 = 3;

/// A segment of never-used slots (or of their site records), built on the
/// heap (it is too big for a thread's stack).
fn new_segment<T: Default>() -> Box<[T; SEG_SIZE]> {
    let slots: Box<[T]> = (0..SEG_SIZE).map(|_| T::default()).collect();
    match slots.try_into() {
        Ok(seg) => seg,
        // The iterator yields exactly SEG_SIZE slots, whatever the input.
        Err(_) => unreachable!("a segment is built with SEG_SIZE slots"),
    }
}

impl Heap {
    /// A heap that refuses to grow past `max_bytes` (approximately: see `Obj::approx_size`).
    pub fn new(max_bytes: u64, mode: RefcountMode) -> Self {
        let max_slots = (max_bytes / 64).clamp(SEG_SIZE as u64, u32::MAX as u64 - 1) as u32;
        let nseg = (max_slots as usize).div_ceil(SEG_SIZE);
        let segments = (0..nseg).map(|_| OnceLock::new()).collect();
        Heap {
            segments,
            sites: Box::new([]),
            fresh: AtomicU32::new(0),
            free: Mutex::new(Vec::new()),
            max_slots,
            mode,
            update: match mode {
                RefcountMode::Plain => Update::Plain,
                RefcountMode::Atomic => Update::Atomic,
            },
            unguarded: false,
            forced_loss: OnceLock::new(),
            forced_loss_done: std::sync::atomic::AtomicBool::new(false),
            allocated: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            bytes: AtomicI64::new(0),
            max_bytes: max_bytes.min(i64::MAX as u64) as i64,
            corruptions: AtomicU64::new(0),
            on_corruption: OnceLock::new(),
            access: ReentrantMutex::new(()),
            serialize: false,
        }
    }

    /// Run without the GIL. With plain counts, container updates that CPython
    /// makes in several steps are then split (see `unguarded`); with `watch`,
    /// count stores are also checked for the updates they erase (see
    /// `Update::Watched`: observation that costs, so only when reported). Call
    /// before any thread runs.
    pub fn without_gil(mut self, watch: bool) -> Self {
        self.serialize = true;
        if self.mode == RefcountMode::Plain {
            self.unguarded = true;
            if watch {
                self.update = Update::Watched;
            }
        }
        self
    }

    /// Keep, for every slot, where its object was allocated and freed (crash
    /// reports, the audit, the lost-update hook). Call before anything is
    /// allocated.
    pub fn with_sites(mut self) -> Self {
        self.sites = (0..self.segments.len()).map(|_| OnceLock::new()).collect();
        self
    }

    /// The site records of slot `idx`, if sites are kept.
    #[inline]
    fn sites(&self, idx: u32) -> Option<&Sites> {
        let seg = self.sites.get((idx >> SEG_BITS) as usize)?.get()?;
        Some(&seg[idx as usize & (SEG_SIZE - 1)])
    }

    /// True without the GIL: every object access also takes the heap's
    /// access lock (see `Heap::lock`).
    #[inline]
    pub fn serializes(&self) -> bool {
        self.serialize
    }

    /// True under `--gil off --refcount plain`: nothing serializes the threads,
    /// so the VM splits the updates that CPython makes in several unlocked steps
    /// (a list append) and lets them race. `--refcount atomic` stands for
    /// free-threaded CPython, whose containers lock themselves: updates stay whole.
    pub fn unguarded(&self) -> bool {
        self.unguarded
    }

    /// Test hook, for deterministic crash reports and audits (the CLI sets it
    /// from `GILSIM_TEST_LOSE_INCREF=LINE`): when lost updates are watched
    /// (`Update::Watched`), the first increment of an object allocated at one of
    /// `sites` (sorted, as `alloc_site` records them) is lost, exactly as if
    /// another thread's store had erased it.
    pub fn lose_first_incref_at(&self, sites: Vec<u64>) {
        let _ = self.forced_loss.set(sites);
    }

    #[inline(always)]
    fn slot(&self, idx: u32) -> Option<&Slot> {
        let seg = self.segments.get((idx >> SEG_BITS) as usize)?.get()?;
        Some(&seg[idx as usize & (SEG_SIZE - 1)])
    }

    /// Charge `bytes` against the cap (a container grew). Err(Full) past it.
    pub fn charge(&self, bytes: usize) -> Result<(), HeapError> {
        let now = self.bytes.fetch_add(bytes as i64, Relaxed) + bytes as i64;
        if now > self.max_bytes {
            self.bytes.fetch_sub(bytes as i64, Relaxed);
            return Err(HeapError::Full);
        }
        Ok(())
    }

    /// Charge a thread's allocation against the cap, in batches: the shared
    /// counter is touched once per `BATCH` bytes, not once per object.
    #[inline]
    fn charge_local(&self, local: &mut LocalHeap, bytes: i64) -> Result<(), HeapError> {
        const BATCH: i64 = 256 << 10;
        local.bytes += bytes;
        if local.bytes > BATCH || local.bytes < -BATCH {
            let b = std::mem::take(&mut local.bytes);
            if b > 0 {
                if let Err(e) = self.charge(b as usize) {
                    local.bytes = b - bytes;
                    return Err(e);
                }
            } else {
                self.uncharge((-b) as usize);
            }
        }
        Ok(())
    }

    /// The code object of a function, and whether it has a closure, read
    /// without taking the slot's lock: the generation is read before and after,
    /// so a slot freed and reused meanwhile is noticed (and the caller takes the
    /// slow, checked path). None for anything but a function.
    #[inline]
    pub fn function_code(&self, r: ObjRef) -> Option<(u32, bool)> {
        let aux = self.aux(r)?;
        match aux & 0xff {
            AUX_PLAIN_FUNCTION => Some(((aux >> 8) as u32, false)),
            AUX_CLOSURE_FUNCTION => Some(((aux >> 8) as u32, true)),
            _ => None,
        }
    }

    /// The immutable facts of a live object (`Obj::aux_hint`), read without
    /// the slot's lock: the generation is read before and after, so a slot
    /// freed and reused meanwhile is noticed.
    #[inline]
    pub fn aux(&self, r: ObjRef) -> Option<u64> {
        let slot = self.slot(r.idx)?;
        let g1 = slot.gen.load(Acquire);
        let aux = slot.aux.load(Acquire);
        let g2 = slot.gen.load(Acquire);
        (g1 == r.gen && g2 == r.gen).then_some(aux as u64)
    }

    /// The code object of a function with no closure (see `function_code`).
    #[inline]
    pub fn plain_function_code(&self, r: ObjRef) -> Option<u32> {
        match self.function_code(r) {
            Some((code, false)) => Some(code),
            _ => None,
        }
    }

    pub fn uncharge(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes as i64, Relaxed);
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes as u64
    }

    /// A free slot's index: from the thread's cache (inline: the common case
    /// is one pop), else from the shared list or the never-used slots.
    #[inline(always)]
    fn take_free_index(&self, local: &mut LocalHeap) -> Result<u32, HeapError> {
        match local.free.pop() {
            Some(i) => Ok(i),
            None => self.take_free_index_slow(local),
        }
    }

    #[inline(never)]
    fn take_free_index_slow(&self, local: &mut LocalHeap) -> Result<u32, HeapError> {
        {
            let mut g = self.free.lock();
            if !g.is_empty() {
                let n = g.len().min(256);
                let at = g.len() - n;
                local.free.extend(g.drain(at..));
                drop(g);
                return local.free.pop().ok_or(HeapError::Full);
            }
        }
        let idx = self.fresh.fetch_add(1, Relaxed);
        if idx >= self.max_slots {
            self.fresh.fetch_sub(1, Relaxed);
            return Err(HeapError::Full);
        }
        let seg = self
            .segments
            .get((idx >> SEG_BITS) as usize)
            .ok_or(HeapError::Full)?;
        seg.get_or_init(new_segment);
        if let Some(sites) = self.sites.get((idx >> SEG_BITS) as usize) {
            sites.get_or_init(new_segment);
        }
        Ok(idx)
    }

    /// Allocate `obj` with a reference count of one (the caller's reference).
    pub fn alloc(&self, local: &mut LocalHeap, obj: Obj) -> Result<ObjRef, HeapError> {
        let size = obj.approx_size();
        let aux = obj.aux_hint();
        self.place(local, obj, size, aux)
    }

    /// Allocate a list of `items` (as `alloc(Obj::List(items))`), knowing its
    /// size and hint without matching on the kind: lists are the objects that
    /// binary_trees allocates by the million.
    pub fn alloc_list(
        &self,
        local: &mut LocalHeap,
        items: Vec<Value>,
    ) -> Result<ObjRef, HeapError> {
        let size = super::objects::list_size(items.capacity());
        self.place(local, Obj::List(items), size, super::objects::AUX_LIST)
    }

    /// Allocate a str (as `alloc(Obj::Str(s))`), knowing its size and hint
    /// without matching on the kind: strings.py makes two and a half million.
    #[inline]
    pub fn alloc_str(
        &self,
        local: &mut LocalHeap,
        s: super::objects::StrObj,
    ) -> Result<ObjRef, HeapError> {
        let len = s.s.len();
        let size = super::objects::str_size(len);
        self.place(local, Obj::Str(s), size, super::objects::str_aux(len))
    }

    /// Allocate a str of at most `Text::INLINE_CAP` bytes, `s` passed
    /// through `map` (an ASCII case map, or nothing): written straight into
    /// the slot. The slot most often holds a short str freed without its lock
    /// (see `free_str`), whose inline text is then rewritten where it lies;
    /// see `heap::text` for why that matters more than it seems.
    #[inline]
    pub fn alloc_short_str(
        &self,
        local: &mut LocalHeap,
        s: &str,
        nchars: usize,
        map: impl FnOnce(&mut str),
    ) -> Result<ObjRef, HeapError> {
        let len = s.len();
        let aux = super::objects::str_aux(len);
        let (slot, mut g, r) = self.reserve(local, super::objects::str_size(len))?;
        let reused = match &mut *g.0 {
            Obj::Str(old) => {
                let done = old.s.overwrite(s);
                if done {
                    old.reset(nchars);
                }
                done
            }
            _ => false,
        };
        if !reused {
            let fresh = Obj::Str(super::objects::StrObj::with_nchars(Text::new(s), nchars));
            match std::mem::replace(&mut *g.0, fresh) {
                free @ Obj::Free => std::mem::forget(free),
                other => drop(other),
            }
        }
        if let Obj::Str(new) = &mut *g.0 {
            if let Some(m) = new.s.inline_mut() {
                map(m);
            }
        }
        self.born(local, slot, g, r, aux);
        Ok(r)
    }

    /// Put `obj`, of `size` bytes and `aux` hint, in a free slot.
    #[inline(always)]
    fn place(
        &self,
        local: &mut LocalHeap,
        obj: Obj,
        size: usize,
        aux: u64,
    ) -> Result<ObjRef, HeapError> {
        // Every failure leaves by one exit, where the object goes to
        // `unplaced`: with one exit per failure, allocation's frame grew and
        // fannkuch.py took 7% longer (`bench/ab.py`).
        let (slot, mut g, r) = match self.reserve(local, size) {
            Ok(taken) => taken,
            Err(e) => return Err(self.unplaced(local, obj, e)),
        };
        // A free slot holds `Obj::Free`, which owns nothing: forgetting it
        // spares a call to the whole enum's drop glue on every allocation.
        // A str freed without its lock (see `free_str`) is still here: it
        // goes now, inline, without the whole enum's drop glue.
        match std::mem::replace(&mut *g.0, obj) {
            free @ Obj::Free => std::mem::forget(free),
            Obj::Str(dead) => drop(dead),
            other => drop(other),
        }
        self.born(local, slot, g, r, aux);
        Ok(r)
    }

    /// `obj` found no slot (`e`). The references it holds, which its maker
    /// handed over to it, must still be released, as its free would release
    /// them: it is kept until the VM turns the error into an exception
    /// (`Vm::release_unplaced`). Dropped here as a plain Rust value, a list
    /// that `split` had filled when the heap was full left every part counted
    /// once too many.
    #[cold]
    #[inline(never)]
    fn unplaced(&self, local: &mut LocalHeap, obj: Obj, e: HeapError) -> HeapError {
        local.unplaced.push(obj);
        e
    }

    /// The references held by the objects that found no slot (see
    /// `unplaced`), for the VM to release; the objects themselves are dropped.
    pub fn take_unplaced(&self, local: &mut LocalHeap) -> Vec<Value> {
        let mut held = Vec::new();
        for obj in std::mem::take(&mut local.unplaced) {
            if let Obj::Native(n) = &obj {
                held.extend(n.take_children());
            }
            obj.for_each_child(|c| held.push(c));
        }
        held
    }

    /// Charge `size` bytes and take a free slot, locked, for a new object:
    /// the slot, its guards (see `lock`) and the new object's handle.
    #[inline(always)]
    fn reserve(&self, local: &mut LocalHeap, size: usize) -> Result<Reserved<'_>, HeapError> {
        self.charge_local(local, size as i64)?;
        let idx = match self.take_free_index(local) {
            Ok(i) => i,
            Err(e) => {
                local.bytes -= size as i64;
                return Err(e);
            }
        };
        let slot = self.slot(idx).ok_or(HeapError::Full)?;
        let (g, serial) = self.lock(slot, ObjRef { idx, gen: 0 })?;
        let gen = slot.gen.load(Relaxed);
        Ok((slot, (g, serial), ObjRef { idx, gen }))
    }

    /// The object is in its slot: give it its hint and its one reference,
    /// then unlock.
    #[inline(always)]
    fn born(&self, local: &mut LocalHeap, slot: &Slot, g: Guards<'_>, r: ObjRef, aux: u64) {
        // (`aux_hint` keeps the hint within 32 bits.)
        slot.aux.store(aux as u32, Release);
        slot.rc.store(1, Relaxed);
        if let Some(sites) = self.sites(r.idx) {
            sites.alloc.store(local.site, Relaxed);
        }
        drop(g);
        local.allocs += 1;
        tracing::trace!(slot = r.idx, gen = r.gen, "allocated");
    }

    /// Take a slot's lock. Under the GIL only the thread holding it touches
    /// objects, so the lock is never contended and costs one atomic
    /// compare-and-swap (its release is a plain store). Without the GIL,
    /// threads would meet on these locks, and since an access may hold one
    /// object while it reads another (a dict and its key), two threads could
    /// each wait for the other's object forever; so every access then also
    /// takes the heap's one re-entrant access lock, and the slot locks are
    /// again never contended. Reference counts stay outside both locks: they
    /// race exactly as before.
    #[inline(always)]
    fn lock<'a>(
        &'a self,
        slot: &'a Slot,
        r: ObjRef,
    ) -> Result<(SpinMutexGuard<'a, Obj>, Option<ReentrantMutexGuard<'a, ()>>), HeapError> {
        let serial = if self.serialize {
            Some(self.access.lock())
        } else {
            None
        };
        match slot.data.try_lock() {
            Some(g) => Ok((g, serial)),
            None => Ok((Self::lock_slow(slot, r)?, serial)),
        }
    }

    /// The lock is taken: by a thread that touches an object without the GIL
    /// (briefly), or by this very thread (a bug, reported after `STUCK_AFTER`).
    #[cold]
    #[inline(never)]
    fn lock_slow(slot: &Slot, r: ObjRef) -> Result<SpinMutexGuard<'_, Obj>, HeapError> {
        let start = std::time::Instant::now();
        loop {
            for _ in 0..100 {
                std::hint::spin_loop();
                if let Some(g) = slot.data.try_lock() {
                    return Ok(g);
                }
            }
            std::thread::yield_now();
            if start.elapsed() > STUCK_AFTER {
                return Err(HeapError::Stuck(r));
            }
        }
    }

    #[inline]
    fn check(&self, r: ObjRef) -> Result<&Slot, HeapError> {
        let slot = self.slot(r.idx).ok_or(HeapError::Wild(r))?;
        Ok(slot)
    }

    #[cold]
    #[inline(never)]
    fn stale_use(&self, local: &mut LocalHeap, slot: &Slot, r: ObjRef) {
        // A count update through a stale handle may come while this thread
        // holds the slot's new object: the slot is looked at only if free.
        let e = self.stale_unlocked(slot, r);
        self.report(local, e);
    }

    /// A simulated memory error was detected: count it, remember it, and let the
    /// run's policy (`--on-corruption`) see it first.
    #[cold]
    pub fn report(&self, local: &mut LocalHeap, e: HeapError) {
        self.corruptions.fetch_add(1, Relaxed);
        tracing::debug!(error = ?e, "use of a freed object detected");
        if let Some(hook) = self.on_corruption.get() {
            hook(&e, local);
        }
        local.errors.push(e);
    }

    /// How many simulated memory errors were detected, in every thread.
    pub fn corruption_count(&self) -> u64 {
        self.corruptions.load(Relaxed)
    }

    /// `stale` for a slot whose lock may be held by this very thread: its
    /// object is looked at only if the lock is free.
    #[cold]
    #[inline(never)]
    fn stale_unlocked(&self, slot: &Slot, r: ObjRef) -> HeapError {
        match slot.data.try_lock() {
            Some(g) => self.stale(slot, r, Some(&g)),
            None => self.stale(slot, r, None),
        }
    }

    fn stale(&self, slot: &Slot, r: ObjRef, data: Option<&Obj>) -> HeapError {
        let now_gen = slot.gen.load(Relaxed);
        HeapError::UseAfterFree {
            r,
            // The slot remembers the kind of the last object freed in it: that
            // is the handle's object only if nothing was freed there since.
            freed_kind: if now_gen != r.gen.wrapping_add(1) {
                "object"
            } else if let Some(sites) = self.sites(r.idx) {
                kind_name(sites.freed_kind.load(Relaxed))
            } else if data.is_some_and(|d| is_free(slot, d)) {
                freed_kind(slot.aux.load(Relaxed))
            } else {
                "object"
            },
            now_gen,
            now_kind: match data {
                Some(d) if is_free(slot, d) => Obj::Free.kind_name(),
                Some(d) => d.kind_name(),
                None => "object",
            },
            freed_site: self.sites(r.idx).map_or(0, |s| s.freed.load(Relaxed)),
        }
    }

    /// Read access to a live object.
    #[inline(always)]
    pub fn get(&self, r: ObjRef) -> Result<ObjRead<'_>, HeapError> {
        let slot = self.check(r)?;
        // Checked before the lock too: a stale handle to a slot this thread
        // holds (under its new object) must fail here, not wait on itself.
        if slot.gen.load(Relaxed) != r.gen {
            return Err(self.stale_unlocked(slot, r));
        }
        let (g, _serial) = self.lock(slot, r)?;
        if slot.gen.load(Relaxed) != r.gen {
            return Err(self.stale(slot, r, Some(&g)));
        }
        Ok(ObjRead { g, _serial })
    }

    /// Write access to a live object. The caller must not hold another guard on the
    /// same slot, and must not release references while holding it (a release can
    /// free objects, and freeing takes locks).
    #[inline(always)]
    pub fn get_mut(&self, r: ObjRef) -> Result<ObjWrite<'_>, HeapError> {
        let slot = self.check(r)?;
        // Checked before the lock too: a stale handle to a slot this thread
        // holds (under its new object) must fail here, not wait on itself.
        if slot.gen.load(Relaxed) != r.gen {
            return Err(self.stale_unlocked(slot, r));
        }
        let (g, _serial) = self.lock(slot, r)?;
        if slot.gen.load(Relaxed) != r.gen {
            return Err(self.stale(slot, r, Some(&g)));
        }
        Ok(ObjWrite { g, _serial })
    }

    /// The stored reference count (`sys.getrefcount` adds nothing: the argument on
    /// the VM stack is already counted, as in CPython).
    pub fn refcount(&self, r: ObjRef) -> i64 {
        self.slot(r.idx).map(|s| s.rc.load(Relaxed)).unwrap_or(0)
    }

    pub fn is_live(&self, r: ObjRef) -> bool {
        self.slot(r.idx)
            .is_some_and(|s| s.gen.load(Relaxed) == r.gen && s.rc.load(Relaxed) > 0)
    }

    /// What a stale handle referred to: the freed object's kind and allocation
    /// site, known while its slot has not held another object since (the slot's
    /// records then still describe it). None for a live or reused slot.
    pub fn freed_object(&self, r: ObjRef) -> Option<(&'static str, u64)> {
        let slot = self.slot(r.idx)?;
        let (g, _serial) = self.lock(slot, r).ok()?;
        if !is_free(slot, &g) || slot.gen.load(Relaxed) != r.gen.wrapping_add(1) {
            return None;
        }
        Some((freed_kind(slot.aux.load(Relaxed)), self.alloc_site(r)))
    }

    /// Where the object in slot `r.idx` was allocated (0 if sites are not kept).
    pub fn alloc_site(&self, r: ObjRef) -> u64 {
        self.sites(r.idx).map_or(0, |s| s.alloc.load(Relaxed))
    }

    /// Take a new reference.
    #[inline]
    pub fn incref(&self, local: &mut LocalHeap, v: Value) {
        if let Value::Obj(r) = v {
            self.incref_obj(local, r)
        }
    }

    #[inline(always)]
    pub fn incref_obj(&self, local: &mut LocalHeap, r: ObjRef) {
        let Some(slot) = self.slot(r.idx) else {
            self.report(local, HeapError::Wild(r));
            return;
        };
        if slot.gen.load(Relaxed) != r.gen {
            self.stale_use(local, slot, r);
            return;
        }
        local.increfs += 1;
        match self.update {
            Update::Plain => {
                let n = slot.rc.load(Relaxed);
                slot.rc.store(n + 1, Relaxed);
            }
            Update::Watched => self.watched_update(local, slot, r, 1),
            Update::Atomic => {
                slot.rc.fetch_add(1, Relaxed);
            }
        }
    }

    /// A count update without the GIL, in plain mode, watched (`Update::Watched`):
    /// the load and the store of `Plain`, the store made as a swap to see what it
    /// erased; a decrement that reaches zero frees the object, as in `decref_obj`.
    ///
    /// Out of line, and reached by a tail call that needs nothing afterwards, so
    /// that the inlined `incref`/`decref` stay small in the dispatch loop: an
    /// inlined arm, or a call whose result the caller still tested, made every
    /// `--gil on` decref save and restore four registers (+2.7% instructions on
    /// binary_trees under cachegrind).
    #[inline(never)]
    fn watched_update(&self, local: &mut LocalHeap, slot: &Slot, r: ObjRef, delta: i64) {
        if delta > 0 && self.forced_loss.get().is_some() && self.force_loss(local, r) {
            return;
        }
        let n = slot.rc.load(Relaxed);
        let was = slot.rc.swap(n + delta, Relaxed);
        if was != n {
            local.erased(was - n);
        }
        if n + delta == 0 && delta < 0 {
            self.release_zero(local, r);
        }
    }

    /// The test hook of `lose_first_incref_at`: true if this increment is
    /// the one to lose (it is then counted as lost and not applied).
    #[cold]
    fn force_loss(&self, local: &mut LocalHeap, r: ObjRef) -> bool {
        let Some(sites) = self.forced_loss.get() else {
            return false;
        };
        if sites.binary_search(&self.alloc_site(r)).is_err()
            || self.forced_loss_done.swap(true, Relaxed)
        {
            return false;
        }
        local.lost_increfs += 1;
        true
    }

    /// Release a reference; the object is freed when its count reaches zero.
    #[inline]
    pub fn decref(&self, local: &mut LocalHeap, v: Value) {
        if let Value::Obj(r) = v {
            self.decref_obj(local, r)
        }
    }

    #[inline(always)]
    pub fn decref_obj(&self, local: &mut LocalHeap, r: ObjRef) {
        let Some(slot) = self.slot(r.idx) else {
            self.report(local, HeapError::Wild(r));
            return;
        };
        if slot.gen.load(Relaxed) != r.gen {
            self.stale_use(local, slot, r);
            return;
        }
        local.decrefs += 1;
        let now = match self.update {
            Update::Plain => {
                let n = slot.rc.load(Relaxed) - 1;
                slot.rc.store(n, Relaxed);
                n
            }
            Update::Watched => return self.watched_update(local, slot, r, -1),
            Update::Atomic => slot.rc.fetch_sub(1, Relaxed) - 1,
        };
        if now == 0 {
            self.release_zero(local, r);
        }
    }

    pub fn decref_all(&self, local: &mut LocalHeap, vs: impl IntoIterator<Item = Value>) {
        for v in vs {
            self.decref(local, v);
        }
    }

    /// A count reached zero: free the object, and, iteratively rather than by
    /// recursion (a million-node linked list must not overflow the Rust stack),
    /// everything whose last reference it held.
    ///
    /// The first object is freed directly, not through `pending`: most objects
    /// that die own nothing that dies with them (binary_trees frees a million
    /// two-item lists), and for them the stack is never touched.
    #[inline(never)]
    fn release_zero(&self, local: &mut LocalHeap, r: ObjRef) {
        if local.freeing {
            local.pending.push(r);
            return;
        }
        let Some(slot) = self.slot(r.idx) else {
            return;
        };
        // A str (the commonest death in strings.py) goes without `free_slot`'s
        // frame.
        if self.free_str(local, slot, r) {
            return;
        }
        local.freeing = true;
        self.free_slot(local, slot, r);
        while let Some(r) = local.pending.pop() {
            self.free(local, r);
        }
        local.freeing = false;
    }

    /// Free `r` if it is a short str (true), else leave it (false).
    ///
    /// A str owns no references, and its `aux` word knows its length: a str
    /// whose text is inline (up to 24 bytes, so it holds no memory outside its
    /// slot) is freed without its lock, by the generation's bump alone, and
    /// stays in the slot until the slot's next allocation replaces it (a
    /// reader still holding the old guard sees the old, intact string). A
    /// longer str takes the locked path, which gives its text back at once:
    /// left in a slot that is not soon reused, it would hold real memory the
    /// heap cap no longer counts. The bump is a compare-and-swap so that a
    /// double free (two threads both saw the count reach zero) is still
    /// caught; the `aux` word is then written with release ordering and read
    /// with acquire, so a second free that finds the slot marked free also
    /// finds its new generation (in `free_slot`) on any processor. strings.py
    /// frees two and a half million short strs: one atomic instruction each
    /// instead of a lock and an unlock, and no move of the object out of the
    /// slot.
    #[inline(always)]
    fn free_str(&self, local: &mut LocalHeap, slot: &Slot, r: ObjRef) -> bool {
        let aux = slot.aux.load(Acquire) as u64;
        if aux & 0xff != super::objects::AUX_STR || aux >> 8 > Text::INLINE_CAP as u64 {
            return false;
        }
        // Without the GIL two threads may both free it: the compare-and-swap
        // lets only one of them through. Under the GIL only its holder frees
        // objects, and a load and a store do the same without a locked
        // instruction.
        let won = if self.serialize {
            slot.gen
                .compare_exchange(r.gen, r.gen.wrapping_add(1), AcqRel, Relaxed)
                .is_ok()
        } else if slot.gen.load(Relaxed) == r.gen {
            slot.gen.store(r.gen.wrapping_add(1), Release);
            true
        } else {
            false
        };
        if !won {
            self.stale_use(local, slot, r);
            return true;
        }
        let freed = ((super::objects::KIND_STR as u64) << 8) | super::objects::AUX_FREE;
        slot.aux.store(freed as u32, Release);
        self.record_free(local, r.idx, super::objects::KIND_STR);
        local.bytes -= super::objects::str_size((aux >> 8) as usize) as i64;
        tracing::trace!(slot = r.idx, gen = r.gen, kind = "str", "freed");
        self.push_free(local, r.idx);
        true
    }

    fn free(&self, local: &mut LocalHeap, r: ObjRef) {
        if let Some(slot) = self.slot(r.idx) {
            if !self.free_str(local, slot, r) {
                self.free_slot(local, slot, r);
            }
        }
    }

    /// Free anything but a str of known size (`free_str`, tried first).
    #[inline(never)]
    fn free_slot(&self, local: &mut LocalHeap, slot: &Slot, r: ObjRef) {
        let (mut g, _serial) = match self.lock(slot, r) {
            Ok(locked) => locked,
            Err(e) => return self.report(local, e),
        };
        if slot.gen.load(Relaxed) != r.gen {
            // Two threads both saw the count reach zero: a double free, caught.
            let e = self.stale(slot, r, Some(&g));
            drop(g);
            self.report(local, e);
            return;
        }
        // One match for both facts, and none for a list or a str (the
        // commonest deaths).
        let (kind, size) = match &*g {
            Obj::List(v) => (
                super::objects::KIND_LIST,
                super::objects::list_size(v.capacity()),
            ),
            Obj::Str(s) => (
                super::objects::KIND_STR,
                super::objects::str_size(s.s.len()),
            ),
            other => (other.kind_index(), other.approx_size()),
        };
        // The new generation first: from here on, readers without the lock
        // (`aux`) see the handle as stale.
        slot.gen.store(r.gen.wrapping_add(1), Relaxed);
        slot.aux.store(
            ((kind as u32) << 8) | super::objects::AUX_FREE as u32,
            Relaxed,
        );
        self.record_free(local, r.idx, kind);
        let obj = std::mem::replace(&mut *g, Obj::Free);
        drop(g);
        local.bytes -= size as i64;
        tracing::trace!(slot = r.idx, gen = r.gen, kind = obj.kind_name(), "freed");
        self.push_free(local, r.idx);
        match obj {
            // The commonest death (binary_trees): release the items with the
            // count update inlined, then give the buffer back. The generic path
            // below calls `decref` out of line per child and drops the object
            // through the whole enum's drop glue.
            Obj::List(items) => {
                for &c in &items {
                    if let Value::Obj(c) = c {
                        self.decref_obj(local, c);
                    }
                }
            }
            // A str holds no references: only its text to give back.
            Obj::Str(s) => drop(s),
            Obj::Native(n) => {
                // Natives may be shared with Rust threads (an Arc): take their
                // references out so that they are released exactly once, here.
                for c in n.take_children() {
                    self.decref(local, c);
                }
                n.children(&mut |c| self.decref(local, c));
            }
            obj => obj.for_each_child(|c| self.decref(local, c)),
        }
    }

    /// Where and what was freed in slot `idx`, if sites are kept.
    #[inline(always)]
    fn record_free(&self, local: &LocalHeap, idx: u32, kind: u8) {
        if let Some(sites) = self.sites(idx) {
            sites
                .freed
                .store(((local.thread as u64) << 48) | local.site, Relaxed);
            sites.freed_kind.store(kind, Relaxed);
        }
    }

    /// Count a free and cache its slot for this thread's next allocation.
    #[inline(always)]
    fn push_free(&self, local: &mut LocalHeap, idx: u32) {
        local.frees += 1;
        if local.free.len() >= LOCAL_CACHE_MAX {
            let mut global = self.free.lock();
            global.extend(local.free.drain(LOCAL_CACHE_MAX / 2..));
        }
        local.free.push(idx);
    }

    /// A thread is ending: give its cached free slots back and add up its counters.
    pub fn retire(&self, local: &mut LocalHeap) {
        self.free.lock().append(&mut local.free);
        let b = std::mem::take(&mut local.bytes);
        if b > 0 {
            self.bytes.fetch_add(b, Relaxed);
        } else {
            self.uncharge((-b) as usize);
        }
        self.allocated.fetch_add(local.allocs, Relaxed);
        self.freed.fetch_add(local.frees, Relaxed);
        local.allocs = 0;
        local.frees = 0;
    }

    /// (allocated, freed) over all threads that have retired their counters.
    pub fn totals(&self) -> (u64, u64) {
        (self.allocated.load(Relaxed), self.freed.load(Relaxed))
    }

    /// Every slot index ever used (for the audit's walk).
    pub fn high_water(&self) -> u32 {
        self.fresh.load(Relaxed)
    }

    /// The live object in slot `idx`, with its handle and stored count, if any.
    pub fn peek(&self, idx: u32) -> Option<(ObjRef, i64, ObjRead<'_>)> {
        let slot = self.slot(idx)?;
        let r = ObjRef {
            idx,
            gen: slot.gen.load(Relaxed),
        };
        let (g, _serial) = self.lock(slot, r).ok()?;
        if is_free(slot, &g) {
            return None;
        }
        Some((r, slot.rc.load(Relaxed), ObjRead { g, _serial }))
    }

    /// Test hook for deterministic corruption scenarios: overwrite a stored count.
    pub fn force_refcount(&self, r: ObjRef, n: i64) {
        if let Some(s) = self.slot(r.idx) {
            s.rc.store(n, Relaxed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::StrObj;

    #[test]
    fn a_list_made_by_alloc_list_carries_the_same_aux_word_as_by_alloc() {
        // The VM learns a receiver's type from this word without its lock; a
        // list allocated without it would take every slow path.
        let heap = Heap::new(1 << 20, RefcountMode::Plain);
        let mut local = LocalHeap::default();
        let a = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
        let b = heap
            .alloc_list(&mut local, vec![Value::Int(1)])
            .expect("room");
        assert_eq!(heap.aux(a), Some(Obj::List(vec![]).aux_hint()));
        assert_eq!(heap.aux(b), heap.aux(a));
        // The same for a str made by alloc_str.
        let s = heap
            .alloc(&mut local, Obj::Str(StrObj::new("x")))
            .expect("room");
        let t = heap.alloc_str(&mut local, StrObj::new("y")).expect("room");
        assert_eq!(heap.aux(s), Some(super::super::objects::str_aux(1)));
        assert_eq!(heap.aux(t), heap.aux(s));
    }

    #[test]
    fn a_freed_long_str_gives_its_text_back_at_once() {
        // Only an inline (short) text may stay in its slot after the free: a
        // long one would hold memory the heap cap no longer counts.
        let heap = Heap::new(1 << 20, RefcountMode::Plain);
        let mut local = LocalHeap::default();
        let long: std::sync::Arc<str> = std::sync::Arc::from("x".repeat(40).as_str());
        let s = heap
            .alloc_str(&mut local, StrObj::new(long.clone()))
            .expect("room");
        assert_eq!(std::sync::Arc::strong_count(&long), 2);
        heap.decref_obj(&mut local, s);
        assert_eq!(std::sync::Arc::strong_count(&long), 1);
        assert!(heap.get(s).is_err());
        assert_eq!(heap.freed_object(s).map(|(k, _)| k), Some("str"));
    }

    #[test]
    fn a_str_freed_without_its_lock_is_dead_to_every_reader() {
        // Freed by the generation's bump alone (see `free`), a str stays in its
        // slot until the slot is reused: nothing may mistake it for live.
        let heap = Heap::new(1 << 20, RefcountMode::Plain);
        let mut local = LocalHeap::default();
        let s = heap
            .alloc_str(&mut local, StrObj::new("gone"))
            .expect("room");
        assert_eq!(heap.aux(s), Some(super::super::objects::str_aux(4)));
        let bytes = local.bytes;
        heap.decref_obj(&mut local, s);
        assert_eq!(
            local.bytes,
            bytes - super::super::objects::str_size(4) as i64
        );
        assert!(heap.get(s).is_err());
        assert!(heap.peek(s.idx).is_none(), "the audit must not see it");
        assert_eq!(heap.freed_object(s).map(|(k, _)| k), Some("str"));
        // A second free of the same handle is a double free, caught.
        heap.free(&mut local, s);
        assert_eq!(heap.corruption_count(), 1);
        assert!(matches!(
            local.errors.last(),
            Some(HeapError::UseAfterFree {
                freed_kind: "str",
                now_kind: "<free slot>",
                ..
            })
        ));
        // Reused: the new object replaces the old text.
        let t = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
        assert_eq!(t.idx, s.idx);
        assert!(matches!(heap.get(t).as_deref(), Ok(Obj::List(_))));
        assert!(heap.peek(t.idx).is_some());
        assert!(heap.get(s).is_err());
    }

    #[test]
    fn free_bumps_generation_and_stale_handles_are_caught() {
        let heap = Heap::new(1 << 20, RefcountMode::Plain);
        let mut local = LocalHeap::default();
        let a = heap
            .alloc(&mut local, Obj::List(vec![]))
            .expect("room for one list");
        assert_eq!(heap.refcount(a), 1);
        heap.decref_obj(&mut local, a);
        assert!(matches!(heap.get(a), Err(HeapError::UseAfterFree { .. })));
        // the slot is reused, with a new generation
        let b = heap
            .alloc(&mut local, Obj::List(vec![]))
            .expect("room for one list");
        assert_eq!(a.idx, b.idx);
        assert_ne!(a.gen, b.gen);
        assert!(heap.get(b).is_ok());
        assert!(heap.get(a).is_err());
        heap.incref_obj(&mut local, a);
        assert_eq!(local.errors.len(), 1);
    }

    #[test]
    fn freeing_a_long_chain_does_not_recurse() {
        let heap = Heap::new(1 << 30, RefcountMode::Plain);
        let mut local = LocalHeap::default();
        let mut head = Value::None;
        for _ in 0..200_000 {
            let r = heap.alloc(&mut local, Obj::List(vec![head])).expect("room");
            head = Value::Obj(r);
        }
        let t = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut local2 = LocalHeap::default();
                heap.decref(&mut local2, head);
                local2.frees
            })
            .expect("spawn");
        assert_eq!(t.join().expect("no overflow"), 200_000);
    }

    #[test]
    fn traffic_is_counted_per_thread_in_every_mode() {
        for mode in [RefcountMode::Plain, RefcountMode::Atomic] {
            let heap = Heap::new(1 << 20, mode);
            let mut local = LocalHeap::default();
            let a = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
            for _ in 0..3 {
                heap.incref_obj(&mut local, a);
            }
            heap.decref_obj(&mut local, a);
            assert_eq!((local.increfs, local.decrefs), (3, 1), "{mode:?}");
            assert_eq!(heap.refcount(a), 3);
            // a stale handle is reported, not counted
            heap.decref_obj(&mut local, a);
            heap.decref_obj(&mut local, a);
            heap.decref_obj(&mut local, a);
            heap.incref_obj(&mut local, a);
            assert_eq!((local.increfs, local.decrefs), (3, 4));
            assert_eq!(local.errors.len(), 1);
        }
    }

    #[test]
    fn watched_counts_lose_updates_and_count_every_loss_exactly() {
        // Two threads hammer one count without any lock. Whatever interleaving
        // the machine produces, the count left is the intended one minus the
        // net effect of the updates reported lost.
        let heap = Heap::new(1 << 20, RefcountMode::Plain).without_gil(true);
        assert!(heap.unguarded());
        let mut local = LocalHeap::default();
        let a = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
        // high enough that no lost update can drive it to zero
        const BASE: i64 = 1 << 40;
        heap.force_refcount(a, BASE);
        let heap = &heap;
        let locals: Vec<LocalHeap> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..2)
                .map(|k| {
                    s.spawn(move || {
                        let mut l = LocalHeap::default();
                        for i in 0..200_000 {
                            if (i + k) % 3 == 0 {
                                heap.decref_obj(&mut l, a);
                            } else {
                                heap.incref_obj(&mut l, a);
                            }
                        }
                        l
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("no panic"))
                .collect()
        });
        let sum = |f: fn(&LocalHeap) -> u64| locals.iter().map(f).sum::<u64>() as i64;
        let intended = BASE + sum(|l| l.increfs) - sum(|l| l.decrefs);
        let lost = sum(|l| l.lost_increfs) - sum(|l| l.lost_decrefs);
        assert_eq!(heap.refcount(a), intended - lost);
        assert_eq!(sum(|l| l.increfs) + sum(|l| l.decrefs), 400_000);
    }

    #[test]
    fn plain_and_atomic_counts_lose_nothing_on_one_thread_and_watch_nothing() {
        for heap in [
            Heap::new(1 << 20, RefcountMode::Plain),
            Heap::new(1 << 20, RefcountMode::Plain).without_gil(false),
            Heap::new(1 << 20, RefcountMode::Atomic).without_gil(true),
        ] {
            let mut local = LocalHeap::default();
            let a = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
            heap.incref_obj(&mut local, a);
            heap.decref_obj(&mut local, a);
            assert_eq!(heap.refcount(a), 1);
            assert_eq!((local.lost_increfs, local.lost_decrefs), (0, 0));
        }
        // atomic counts stand for free-threaded CPython: containers stay whole
        assert!(!Heap::new(1 << 20, RefcountMode::Atomic)
            .without_gil(true)
            .unguarded());
        assert!(Heap::new(1 << 20, RefcountMode::Plain)
            .without_gil(false)
            .unguarded());
    }

    #[test]
    fn the_forced_loss_hook_loses_one_increment_once() {
        let heap = Heap::new(1 << 20, RefcountMode::Plain)
            .with_sites()
            .without_gil(true);
        let mut local = LocalHeap {
            site: (1 << 32) | 7,
            ..Default::default()
        };
        let a = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
        local.site = (1 << 32) | 8;
        let b = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
        heap.lose_first_incref_at(vec![(1 << 32) | 7]);
        heap.incref_obj(&mut local, b);
        heap.incref_obj(&mut local, a);
        heap.incref_obj(&mut local, a);
        assert_eq!((heap.refcount(a), heap.refcount(b)), (2, 2));
        assert_eq!((local.increfs, local.lost_increfs), (3, 1));
    }

    #[test]
    fn the_cap_gives_full_not_an_abort() {
        let heap = Heap::new(1 << 16, RefcountMode::Plain);
        let mut local = LocalHeap::default();
        let mut n = 0;
        while heap.alloc(&mut local, Obj::List(vec![])).is_ok() {
            n += 1;
            assert!(n < 1_000_000);
        }
        assert!(n > 10);
    }

    #[test]
    fn a_slot_keeps_hints_and_freed_kinds_and_stays_small() {
        let heap = Heap::new(1 << 20, RefcountMode::Plain);
        let mut local = LocalHeap::default();
        let l = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
        assert_eq!(heap.aux(l), Some(super::super::objects::AUX_LIST));
        heap.decref_obj(&mut local, l);
        assert_eq!(heap.aux(l), None);
        assert_eq!(heap.freed_object(l).map(|(k, _)| k), Some("list"));
        // Reused: the hint is the new object's, the old handle stays stale.
        let t = heap
            .alloc(&mut local, Obj::Tuple(Box::new([])))
            .expect("room");
        assert_eq!(t.idx, l.idx);
        assert_eq!(heap.aux(t), Some(super::super::objects::AUX_TUPLE));
        assert_eq!(heap.aux(l), None);
        assert_eq!(heap.freed_object(l), None);
        // This is memory every object pays for.
        assert!(std::mem::size_of::<Slot>() <= 80);
    }

    #[test]
    fn sites_are_kept_only_when_asked_for() {
        let mut local = LocalHeap {
            site: 7 << 32 | 3,
            ..Default::default()
        };
        let plain = Heap::new(1 << 20, RefcountMode::Plain);
        let a = plain.alloc(&mut local, Obj::List(vec![])).expect("room");
        assert_eq!(plain.alloc_site(a), 0);
        let kept = Heap::new(1 << 20, RefcountMode::Plain).with_sites();
        let b = kept.alloc(&mut local, Obj::List(vec![])).expect("room");
        assert_eq!(kept.alloc_site(b), 7 << 32 | 3);
        kept.decref_obj(&mut local, b);
        assert_eq!(kept.freed_object(b), Some(("list", 7 << 32 | 3)));
        // Reused by another kind: a late use of the old handle still names
        // the list that was freed.
        let c = kept
            .alloc(&mut local, Obj::Tuple(Box::new([])))
            .expect("room");
        assert_eq!(c.idx, b.idx);
        let late = kept.get(b).map(|_| ());
        match late {
            Err(HeapError::UseAfterFree {
                freed_kind,
                now_kind,
                ..
            }) => assert_eq!((freed_kind, now_kind), ("list", "tuple")),
            other => panic!("expected a use after free, got {other:?}"),
        }
    }
}
