//! The kinds of heap object, and what each one refers to.
//!
//! Every object lives in a slot (see `slots`) behind that slot's lock; a kind's data
//! is plain Rust data. `for_each_child` is the one description of the references an
//! object holds: freeing uses it to release them, the audit uses it to count them,
//! so the two can never disagree.

use super::dict::Dict;
use super::value::{ObjRef, Value};
use crate::bytecode::Sym;
use num_bigint::BigInt;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Built-in types that the VM implements natively. User classes have `None` here,
/// unless they derive (through their bases) from a built-in exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeTag {
    Object,
    Type,
    NoneType,
    Bool,
    Int,
    Float,
    Str,
    List,
    Tuple,
    Dict,
    Set,
    Range,
    Slice,
    Function,
    BuiltinFunction,
    Method,
    Module,
    Cell,
    Iterator,
    DictKeys,
    DictValues,
    DictItems,
    Generator,
    Coroutine,
    /// BaseException and every class derived from it.
    Exception,
    /// An object implemented in Rust by a library module (locks, threads, ...);
    /// the number says which kind (see `native_kind`).
    Native(u8),
}

/// Every `Obj::kind_name`, so a slot can remember what it held in one byte.
pub const KIND_NAMES: &[&str] = &[
    "object",
    "<free slot>",
    "str",
    "int",
    "list",
    "tuple",
    "dict",
    "set",
    "range",
    "slice",
    "function",
    "method",
    "builtin_function_or_method",
    "type",
    "instance",
    "exception",
    "module",
    "cell",
    "iterator",
    "dict view",
    "super",
    "generator",
    "coroutine",
    "native object",
];

/// `Obj::kind_index` of a list (`Heap::free` knows a list without asking).
pub const KIND_LIST: u8 = 4;
/// `Obj::kind_index` of a str.
pub const KIND_STR: u8 = 2;

/// `Obj::approx_size` of a list whose buffer holds `capacity` items.
#[inline]
pub fn list_size(capacity: usize) -> usize {
    64 + capacity * 16
}

/// `Obj::approx_size` of a str of `len` bytes.
#[inline]
pub fn str_size(len: usize) -> usize {
    64 + len
}

/// Kinds of native object (the `u8` of `TypeTag::Native`).
pub mod native_kind {
    pub const THREAD: u8 = 0;
    pub const LOCK: u8 = 1;
    pub const RLOCK: u8 = 2;
    pub const EVENT: u8 = 3;
    pub const SEMAPHORE: u8 = 4;
    pub const QUEUE: u8 = 5;
    pub const EXECUTOR: u8 = 6;
    pub const FUTURE: u8 = 7;
    pub const SESSION: u8 = 8;
    pub const RESPONSE: u8 = 9;
    pub const TASK: u8 = 10;
    pub const EVENT_LOOP_FUTURE: u8 = 11;
    pub const ASYNC_LOCK: u8 = 12;
    pub const ASYNC_QUEUE: u8 = 13;
    pub const ASYNC_SESSION: u8 = 14;
    pub const ASYNC_RESPONSE: u8 = 15;
    pub const ASYNC_CTX: u8 = 16;
    pub const ASYNC_SEMAPHORE: u8 = 17;
    pub const ASYNC_EVENT: u8 = 18;
    pub const NATIVE_CORO: u8 = 19;
    pub const LOOP: u8 = 20;
    pub const GATHERING_FUTURE: u8 = 21;
}

/// An object whose state is Rust data owned by a library module (a lock, a
/// thread, a queue). Its references to Toy values must be reported by
/// `children`, so that freeing and the audit see them.
pub trait NativeObject: Send + Sync + std::fmt::Debug {
    /// Which kind (a `native_kind` constant).
    fn kind(&self) -> u8;
    /// Every Toy reference the object holds.
    fn children(&self, f: &mut dyn FnMut(Value));
    /// Give up every Toy reference (the object is being freed).
    fn take_children(&self) -> Vec<Value> {
        Vec::new()
    }
    fn as_any(&self) -> &dyn std::any::Any;
    /// The same object as `Any`, to recover its concrete `Arc`.
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync>;
}

pub use super::text::Text;

/// The `Text` of `s`: inline when it fits.
#[inline]
pub fn text(s: &str) -> Text {
    Text::new(s)
}

#[derive(Debug)]
pub struct StrObj {
    pub s: Text,
    /// Characters (not bytes): Python indexes strings by code point.
    pub nchars: usize,
    /// The text's dict hash (`dict::str_hash`), computed at the first lookup and
    /// kept, as CPython's str caches its hash: 0 until then. Atomic because
    /// lookups read the string under a shared (read) guard; two threads that race
    /// to fill it store the same number.
    hash: AtomicU64,
}

impl StrObj {
    pub fn new(s: impl Into<Text>) -> Self {
        let s = s.into();
        let nchars = if s.is_ascii() {
            s.len()
        } else {
            s.chars().count()
        };
        Self::with_nchars(s, nchars)
    }
    /// A string whose character count the caller already knows.
    pub fn with_nchars(s: impl Into<Text>, nchars: usize) -> Self {
        StrObj {
            s: s.into(),
            nchars,
            hash: AtomicU64::new(0),
        }
    }
    /// A str whose text was just rewritten in place: `nchars` characters,
    /// hash not yet computed.
    #[inline]
    pub fn reset(&mut self, nchars: usize) {
        self.nchars = nchars;
        *self.hash.get_mut() = 0;
    }
    pub fn is_ascii(&self) -> bool {
        self.nchars == self.s.len()
    }
    /// The dict hash of the text (never 0, which marks "not computed").
    #[inline]
    pub fn hash(&self) -> u64 {
        let h = self.hash.load(Relaxed);
        if h != 0 {
            return h;
        }
        let h = super::dict::str_hash(&self.s);
        self.hash.store(h, Relaxed);
        h
    }
}

#[derive(Debug)]
pub struct Function {
    /// Index of the code object in the program.
    pub code: u32,
    pub name: Arc<str>,
    pub qualname: Arc<str>,
    pub defaults: Vec<Value>,
    pub kwdefaults: Vec<(Sym, Value)>,
    /// Cell objects, one per free variable of the code.
    pub closure: Vec<Value>,
    pub attrs: Vec<(Sym, Value)>,
}

#[derive(Debug)]
pub struct Class {
    pub name: Arc<str>,
    pub qualname: Arc<str>,
    pub base: Option<ObjRef>,
    pub attrs: FxHashMap<Sym, Value>,
    /// Set for built-in types and for classes deriving from a built-in exception.
    pub tag: Option<TypeTag>,
    /// "builtins" for built-in types, "__main__" for the program's own classes.
    pub module: Arc<str>,
}

#[derive(Debug)]
pub struct Instance {
    pub class: ObjRef,
    /// Instance attributes in assignment order; a handful per object, so a vector
    /// scanned linearly beats hashing.
    pub attrs: Vec<(Sym, Value)>,
}

/// One traceback entry: the code object and line where the exception passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TbEntry {
    pub code: u32,
    pub line: u32,
}

#[derive(Debug)]
pub struct ExcObj {
    pub class: ObjRef,
    pub args: Vec<Value>,
    pub attrs: Vec<(Sym, Value)>,
    /// Most recent call last, as printed.
    pub traceback: Vec<TbEntry>,
    pub cause: Value,
    pub context: Value,
    pub suppress_context: bool,
}

/// `aux` tags (see `Obj::aux_hint`) of the kinds whose type the VM asks for on
/// its hot paths: which methods `s.upper()` or `d.get(k)` binds, whether `a + b`
/// is a concatenation, whether `x[k] = v` stores into a list or a dict. An
/// object never changes kind while it lives in its slot, so the tag, written
/// once at allocation and checked against the generation like the function
/// tags of `slots` (1 to 3), answers without taking the object's lock: in
/// `strings.py` that was one lock and unlock less per method call.
pub const AUX_STR: u64 = 4;
pub const AUX_LIST: u64 = 5;
pub const AUX_TUPLE: u64 = 6;
pub const AUX_DICT: u64 = 7;
pub const AUX_SET: u64 = 8;
pub const AUX_BIGINT: u64 = 9;
/// `aux` tag of a freed slot (the kind freed above it): no live object has it,
/// which is how the audit and crash reports tell a freed slot whose old object
/// was left in place (see `Heap::free_str`) from a live one.
pub const AUX_FREE: u64 = 0xff;
/// A str's `aux` payload is its length in bytes, or this for "read the text":
/// freeing a str must know its size, and the word tells it without the lock.
pub const STR_LEN_UNKNOWN: u64 = 0xff_ffff;

/// The `aux` word of a str of `len` bytes.
#[inline]
pub fn str_aux(len: usize) -> u64 {
    AUX_STR | ((len as u64).min(STR_LEN_UNKNOWN) << 8)
}

/// The built-in type whose methods `LoadMethod` binds without a lock (see
/// `AUX_STR`), from an `aux` word; None for every other kind.
#[inline]
pub fn aux_method_type(aux: u64) -> Option<TypeTag> {
    match aux & 0xff {
        AUX_STR => Some(TypeTag::Str),
        AUX_LIST => Some(TypeTag::List),
        AUX_TUPLE => Some(TypeTag::Tuple),
        AUX_DICT => Some(TypeTag::Dict),
        AUX_SET => Some(TypeTag::Set),
        _ => None,
    }
}

/// Built-in functions and methods of built-in types, by number (see vm::builtins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinFn(pub u16);

#[derive(Debug)]
pub struct ModuleObj {
    pub name: Arc<str>,
    pub attrs: Vec<(Sym, Value)>,
}

/// State of an iterator object (one created by `iter()`, `enumerate()`, ...).
#[derive(Debug)]
pub enum IterState {
    /// Walks a list, tuple or str by position, like CPython's listiterator.
    Seq {
        seq: Value,
        pos: usize,
    },
    Range {
        next: i64,
        stop: i64,
        step: i64,
    },
    /// Walks a dict's entry slots: 0 keys, 1 values, 2 items. `len` is the
    /// dict's size when the walk began (usize::MAX once a change was reported):
    /// as in CPython, a walk over a dict whose size changed raises RuntimeError
    /// (positions move when an insertion rebuilds the table).
    Dict {
        dict: Value,
        pos: usize,
        what: u8,
        len: usize,
    },
    Reversed {
        seq: Value,
        pos: usize,
    },
    Enumerate {
        inner: Value,
        count: i64,
    },
    Zip {
        inners: Vec<Value>,
    },
    /// `map(func, *iterables)`, lazily.
    Map {
        func: Value,
        inners: Vec<Value>,
    },
    /// `filter(func, iterable)`, lazily; a None func keeps truthy items.
    Filter {
        func: Value,
        inner: Value,
    },
    /// Everything already produced: `map`, `filter` and generic fallbacks collect
    /// eagerly into one of these.
    Buffer {
        items: Vec<Value>,
        pos: usize,
    },
    Exhausted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    Keys,
    Values,
    Items,
}

#[derive(Debug)]
pub enum Obj {
    /// An empty slot, ready for reuse.
    Free,
    Str(StrObj),
    BigInt(BigInt),
    List(Vec<Value>),
    Tuple(Box<[Value]>),
    Dict(Dict),
    Set(Dict),
    Range {
        start: i64,
        stop: i64,
        step: i64,
    },
    Slice {
        start: Value,
        stop: Value,
        step: Value,
    },
    Function(Box<Function>),
    BoundMethod {
        receiver: Value,
        func: Value,
    },
    Builtin(BuiltinFn),
    Class(Box<Class>),
    Instance(Instance),
    Exception(Box<ExcObj>),
    Module(Box<ModuleObj>),
    Cell(Value),
    Iter(IterState),
    DictView {
        dict: Value,
        kind: ViewKind,
    },
    /// `super(C, obj)`: attribute lookup starts after C in obj's class chain.
    Super {
        class: ObjRef,
        obj: Value,
    },
    Generator(Box<GenObj>),
    Native(Arc<dyn NativeObject>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenState {
    Created,
    Suspended,
    Running,
    Done,
}

/// A generator or coroutine: a suspended frame, kept off every stack.
#[derive(Debug)]
pub struct GenObj {
    pub code: u32,
    pub name: Arc<str>,
    pub qualname: Arc<str>,
    pub is_coroutine: bool,
    pub state: GenState,
    /// The frame's slots and operand stack while suspended (owned references).
    pub saved: Vec<Value>,
    /// Its open handler blocks: (handler, stack depth relative to the frame base).
    pub blocks: Vec<(u32, u32)>,
    pub ip: u32,
}

impl Obj {
    /// Calls `f` once per reference this object holds.
    pub fn for_each_child(&self, mut f: impl FnMut(Value)) {
        match self {
            Obj::Free | Obj::Str(_) | Obj::BigInt(_) | Obj::Range { .. } | Obj::Builtin(_) => {}
            Obj::List(v) => v.iter().for_each(|&x| f(x)),
            Obj::Tuple(v) => v.iter().for_each(|&x| f(x)),
            Obj::Dict(d) | Obj::Set(d) => d.iter().for_each(|(k, v)| {
                f(k);
                f(v)
            }),
            Obj::Slice { start, stop, step } => {
                f(*start);
                f(*stop);
                f(*step)
            }
            Obj::Function(func) => {
                func.defaults.iter().for_each(|&x| f(x));
                func.kwdefaults.iter().for_each(|&(_, x)| f(x));
                func.closure.iter().for_each(|&x| f(x));
                func.attrs.iter().for_each(|&(_, x)| f(x));
            }
            Obj::BoundMethod { receiver, func } => {
                f(*receiver);
                f(*func)
            }
            Obj::Class(c) => {
                if let Some(b) = c.base {
                    f(Value::Obj(b))
                }
                c.attrs.values().for_each(|&x| f(x));
            }
            Obj::Instance(i) => {
                f(Value::Obj(i.class));
                i.attrs.iter().for_each(|&(_, x)| f(x));
            }
            Obj::Exception(e) => {
                f(Value::Obj(e.class));
                e.args.iter().for_each(|&x| f(x));
                e.attrs.iter().for_each(|&(_, x)| f(x));
                f(e.cause);
                f(e.context);
            }
            Obj::Module(m) => m.attrs.iter().for_each(|&(_, x)| f(x)),
            Obj::Cell(v) => f(*v),
            Obj::Iter(st) => match st {
                IterState::Seq { seq, .. } | IterState::Reversed { seq, .. } => f(*seq),
                IterState::Dict { dict, .. } => f(*dict),
                IterState::Enumerate { inner, .. } => f(*inner),
                IterState::Zip { inners } => inners.iter().for_each(|&x| f(x)),
                IterState::Map { func, inners } => {
                    f(*func);
                    inners.iter().for_each(|&x| f(x))
                }
                IterState::Filter { func, inner } => {
                    f(*func);
                    f(*inner)
                }
                IterState::Buffer { items, pos } => {
                    items[(*pos).min(items.len())..].iter().for_each(|&x| f(x))
                }
                IterState::Range { .. } | IterState::Exhausted => {}
            },
            Obj::DictView { dict, .. } => f(*dict),
            Obj::Super { class, obj } => {
                f(Value::Obj(*class));
                f(*obj)
            }
            Obj::Generator(g) => g.saved.iter().for_each(|&x| f(x)),
            Obj::Native(n) => n.children(&mut f),
        }
    }

    /// Facts the VM may read without the slot's lock (see `Heap::aux`): a tag in
    /// the low byte and, for functions and built-ins, a payload (code index or
    /// built-in number) in the next three bytes. Fits in 32 bits: the slot keeps
    /// it beside the generation in one word.
    pub fn aux_hint(&self) -> u64 {
        // A code index too wide for the payload gives no hint (the VM then
        // takes its slow paths): no program has sixteen million functions.
        let code = |code: u32, tag: u64| {
            if code < 1 << 24 {
                ((code as u64) << 8) | tag
            } else {
                0
            }
        };
        match self {
            Obj::Function(f) if f.closure.is_empty() => {
                code(f.code, super::slots::AUX_PLAIN_FUNCTION)
            }
            Obj::Function(f) => code(f.code, super::slots::AUX_CLOSURE_FUNCTION),
            Obj::Builtin(b) => ((b.0 as u64) << 8) | super::slots::AUX_BUILTIN,
            Obj::Str(s) => str_aux(s.s.len()),
            Obj::List(_) => AUX_LIST,
            Obj::Tuple(_) => AUX_TUPLE,
            Obj::Dict(_) => AUX_DICT,
            Obj::Set(_) => AUX_SET,
            Obj::BigInt(_) => AUX_BIGINT,
            _ => 0,
        }
    }

    /// A rough size in bytes, for the heap cap (`--max-heap`).
    pub fn approx_size(&self) -> usize {
        64 + match self {
            Obj::Str(s) => return str_size(s.s.len()),
            Obj::BigInt(b) => (b.bits() / 8) as usize,
            Obj::List(v) => return list_size(v.capacity()),
            Obj::Tuple(v) => v.len() * 16,
            Obj::Dict(d) | Obj::Set(d) => d.slots_len() * 48,
            _ => 0,
        }
    }

    /// Index of `kind_name()` in `KIND_NAMES`. Called on every free, so a
    /// direct match rather than a search of the names.
    pub fn kind_index(&self) -> u8 {
        match self {
            Obj::Free => 1,
            Obj::Str(_) => 2,
            Obj::BigInt(_) => 3,
            Obj::List(_) => KIND_LIST,
            Obj::Tuple(_) => 5,
            Obj::Dict(_) => 6,
            Obj::Set(_) => 7,
            Obj::Range { .. } => 8,
            Obj::Slice { .. } => 9,
            Obj::Function(_) => 10,
            Obj::BoundMethod { .. } => 11,
            Obj::Builtin(_) => 12,
            Obj::Class(_) => 13,
            Obj::Instance(_) => 14,
            Obj::Exception(_) => 15,
            Obj::Module(_) => 16,
            Obj::Cell(_) => 17,
            Obj::Iter(_) => 18,
            Obj::DictView { .. } => 19,
            Obj::Super { .. } => 20,
            Obj::Generator(g) => {
                if g.is_coroutine {
                    22
                } else {
                    21
                }
            }
            Obj::Native(_) => 23,
        }
    }

    /// The kind's name for reports (not necessarily the Python type name).
    pub fn kind_name(&self) -> &'static str {
        KIND_NAMES
            .get(self.kind_index() as usize)
            .copied()
            .unwrap_or("object")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_indices_name_the_kinds_reports_print() {
        let cases = [
            (Obj::Free, "<free slot>"),
            (Obj::List(vec![]), "list"),
            (Obj::Tuple(Box::new([])), "tuple"),
            (Obj::Dict(Dict::new()), "dict"),
            (Obj::Set(Dict::new()), "set"),
            (Obj::Cell(Value::None), "cell"),
            (Obj::Builtin(BuiltinFn(0)), "builtin_function_or_method"),
            (
                Obj::Range {
                    start: 0,
                    stop: 1,
                    step: 1,
                },
                "range",
            ),
            (Obj::Str(StrObj::new("x")), "str"),
        ];
        for (obj, name) in cases {
            assert_eq!(obj.kind_name(), name);
            assert_eq!(KIND_NAMES[obj.kind_index() as usize], name);
        }
    }

    #[test]
    fn the_shortcuts_that_free_uses_agree_with_the_general_answers() {
        // `Heap::free` takes a list's and a str's kind and size without these
        // matches; they must give what the matches would.
        let list = Obj::List(Vec::with_capacity(5));
        assert_eq!(list.kind_index(), KIND_LIST);
        let text = Obj::Str(StrObj::new("seven ch"));
        assert_eq!(text.kind_index(), KIND_STR);
        assert_eq!(text.approx_size(), 64 + "seven ch".len());
    }
}
