//! Built-in functions, built-in types and the methods of built-in types.
//!
//! Every built-in is a plain Rust function with one signature (`Impl`), listed in
//! one table (`table()`); a `BuiltinFn(n)` object on the heap names entry `n`. The
//! files here group them by the type they belong to, as CPython's `Objects/` does:
//! `functions` (the global built-ins), `types` (constructors: `int()`, `list()` ...),
//! `strs`, `lists`, `dicts`, and `others` (methods of the remaining types).
//!
//! Arguments arrive borrowed; the result is a new reference.

pub mod dicts;
pub mod functions;
pub mod lists;
pub mod others;
pub mod strs;
pub mod types;

use super::exceptions::{kind_from_index, ExcKind, EXC_TABLE};
use super::{PyErr, PyResult, Vm};
use crate::bytecode::{intern, Sym};
use crate::heap::{
    native_kind, BuiltinFn, Class, Heap, HeapError, LocalHeap, Obj, ObjRef, TypeTag, Value,
};
use rustc_hash::FxHashMap;
use std::sync::{Arc, OnceLock};

pub type Impl = fn(&mut Vm, &[Value], &[(Sym, Value)]) -> PyResult<Value>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Owner {
    /// A global built-in function (`len`).
    Global,
    /// A method of a built-in type (`list.append`).
    Method(TypeTag),
    /// A function of a built-in module (`time.sleep`).
    Module(&'static str),
    /// Reachable only from Rust (`object.__init__` and friends).
    Hidden,
}

pub struct Def {
    pub name: &'static str,
    pub owner: Owner,
    pub f: Impl,
}

pub const fn def(name: &'static str, owner: Owner, f: Impl) -> Def {
    Def { name, owner, f }
}

/// All built-ins, in a fixed order (their `BuiltinFn` numbers).
pub fn table() -> &'static [Def] {
    static TABLE: OnceLock<Vec<Def>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut v = Vec::new();
        v.extend(functions::defs());
        v.extend(strs::defs());
        v.extend(lists::defs());
        v.extend(dicts::defs());
        v.extend(others::defs());
        v.extend(crate::stdlib::defs());
        v
    })
}

fn unknown_builtin(_: &mut Vm, _: &[Value], _: &[(Sym, Value)]) -> PyResult<Value> {
    Err(PyErr::type_error("unknown built-in"))
}

pub fn builtin_impl(id: u16) -> Impl {
    table()
        .get(id as usize)
        .map(|d| d.f)
        .unwrap_or(unknown_builtin)
}

pub fn builtin_name(id: u16) -> &'static str {
    table().get(id as usize).map(|d| d.name).unwrap_or("?")
}

/// The type objects that user code can name, with their Python names and bases.
const TYPES: &[(TypeTag, &str)] = &[
    (TypeTag::Object, "object"),
    (TypeTag::Type, "type"),
    (TypeTag::NoneType, "NoneType"),
    (TypeTag::Int, "int"),
    (TypeTag::Bool, "bool"),
    (TypeTag::Float, "float"),
    (TypeTag::Str, "str"),
    (TypeTag::List, "list"),
    (TypeTag::Tuple, "tuple"),
    (TypeTag::Dict, "dict"),
    (TypeTag::Set, "set"),
    (TypeTag::Range, "range"),
    (TypeTag::Slice, "slice"),
    (TypeTag::Function, "function"),
    (TypeTag::BuiltinFunction, "builtin_function_or_method"),
    (TypeTag::Method, "method"),
    (TypeTag::Module, "module"),
    (TypeTag::Cell, "cell"),
    (TypeTag::Iterator, "iterator"),
    (TypeTag::DictKeys, "dict_keys"),
    (TypeTag::DictValues, "dict_values"),
    (TypeTag::DictItems, "dict_items"),
    (TypeTag::Generator, "generator"),
    (TypeTag::Coroutine, "coroutine"),
    (TypeTag::Native(native_kind::THREAD), "Thread"),
    (TypeTag::Native(native_kind::LOCK), "lock"),
    (TypeTag::Native(native_kind::RLOCK), "RLock"),
    (TypeTag::Native(native_kind::EVENT), "Event"),
    (TypeTag::Native(native_kind::SEMAPHORE), "Semaphore"),
    (TypeTag::Native(native_kind::QUEUE), "Queue"),
    (TypeTag::Native(native_kind::EXECUTOR), "ThreadPoolExecutor"),
    (TypeTag::Native(native_kind::FUTURE), "Future"),
    (TypeTag::Native(native_kind::SESSION), "Session"),
    (TypeTag::Native(native_kind::RESPONSE), "Response"),
    (TypeTag::Native(native_kind::TASK), "Task"),
    (TypeTag::Native(native_kind::EVENT_LOOP_FUTURE), "Future"),
    (TypeTag::Native(native_kind::ASYNC_LOCK), "Lock"),
    (TypeTag::Native(native_kind::ASYNC_QUEUE), "Queue"),
    (TypeTag::Native(native_kind::ASYNC_SESSION), "ClientSession"),
    (
        TypeTag::Native(native_kind::ASYNC_RESPONSE),
        "ClientResponse",
    ),
    (
        TypeTag::Native(native_kind::ASYNC_CTX),
        "_RequestContextManager",
    ),
    (TypeTag::Native(native_kind::ASYNC_SEMAPHORE), "Semaphore"),
    (TypeTag::Native(native_kind::ASYNC_EVENT), "Event"),
    (TypeTag::Native(native_kind::NATIVE_CORO), "coroutine"),
    (TypeTag::Native(native_kind::LOOP), "_UnixSelectorEventLoop"),
    (
        TypeTag::Native(native_kind::GATHERING_FUTURE),
        "_GatheringFuture",
    ),
];

/// The built-in objects of one runtime, created before the program starts and
/// kept alive (immortal, in effect) for the whole run.
pub struct Builtins {
    pub object: ObjRef,
    types: FxHashMap<TypeTag, ObjRef>,
    exc: Vec<ObjRef>,
    /// Whether `exc` holds consecutive slots (see `exc_kind_of`).
    exc_dense: bool,
    by_name: FxHashMap<&'static str, Value>,
    /// Methods of built-in types by name: indexed by the name's symbol (one
    /// entry per symbol up to the highest method name's, most of them empty),
    /// each entry the few types that have a method of that name. A bounds check
    /// and a scan of one to four pairs, instead of hashing, on every
    /// `LoadMethod` of a str, list or dict.
    /// Each pair also carries the method's number, which `LoadMethod` pushes
    /// in place of the object (see `Vm::call_method`).
    methods: Vec<Vec<(TypeTag, Value, u16)>>,
    fn_objs: Vec<Value>,
    pub memory_error_instance: ObjRef,
    /// `object.__init__` / `BaseException.__init__`, for `super().__init__(...)`.
    pub base_init: Value,
    pub not_implemented: Option<ObjRef>,
    /// The number of `list.append`, which `CallMethod` runs without the
    /// general call of a built-in (as CPython 3.11 specializes it).
    pub list_append: i64,
}

impl Builtins {
    pub fn create(heap: &Heap, local: &mut LocalHeap) -> Result<Builtins, HeapError> {
        let mut types = FxHashMap::default();
        let mut object = None;
        for &(tag, name) in TYPES {
            let base = if tag == TypeTag::Object {
                None
            } else if tag == TypeTag::Bool {
                types.get(&TypeTag::Int).copied()
            } else {
                object
            };
            let c = heap.alloc(
                local,
                Obj::Class(Box::new(Class {
                    name: Arc::from(name),
                    qualname: Arc::from(name),
                    base,
                    attrs: FxHashMap::default(),
                    tag: Some(tag),
                    module: Arc::from("builtins"),
                })),
            )?;
            if let Some(b) = base {
                heap.incref_obj(local, b);
            }
            if tag == TypeTag::Object {
                object = Some(c);
            }
            types.insert(tag, c);
        }
        let object = object.ok_or(HeapError::Full)?;
        let mut exc: Vec<ObjRef> = Vec::new();
        for (i, &(name, parent)) in EXC_TABLE.iter().enumerate() {
            let base = if i == 0 { object } else { exc[parent as usize] };
            heap.incref_obj(local, base);
            let c = heap.alloc(
                local,
                Obj::Class(Box::new(Class {
                    name: Arc::from(name),
                    qualname: Arc::from(name),
                    base: Some(base),
                    attrs: FxHashMap::default(),
                    tag: Some(TypeTag::Exception),
                    module: Arc::from("builtins"),
                })),
            )?;
            exc.push(c);
        }
        let mut by_name: FxHashMap<&'static str, Value> = FxHashMap::default();
        for &(tag, name) in TYPES {
            if matches!(
                tag,
                TypeTag::Object
                    | TypeTag::Type
                    | TypeTag::Int
                    | TypeTag::Bool
                    | TypeTag::Float
                    | TypeTag::Str
                    | TypeTag::List
                    | TypeTag::Tuple
                    | TypeTag::Dict
                    | TypeTag::Set
                    | TypeTag::Range
                    | TypeTag::Slice
            ) {
                by_name.insert(name, Value::Obj(types[&tag]));
            }
        }
        by_name.insert("frozenset", Value::Obj(types[&TypeTag::Set]));
        for (i, &(name, _)) in EXC_TABLE.iter().enumerate() {
            by_name.insert(name, Value::Obj(exc[i]));
        }
        let mut methods: Vec<Vec<(TypeTag, Value, u16)>> = Vec::new();
        let mut fn_objs = Vec::new();
        let mut base_init = Value::None;
        for (i, d) in table().iter().enumerate() {
            let r = heap.alloc(local, Obj::Builtin(BuiltinFn(i as u16)))?;
            let v = Value::Obj(r);
            fn_objs.push(v);
            match d.owner {
                Owner::Global => {
                    by_name.insert(d.name, v);
                }
                Owner::Method(t) => {
                    let at = intern(d.name).0 as usize;
                    if methods.len() <= at {
                        methods.resize_with(at + 1, Vec::new);
                    }
                    if let Some(named) = methods.get_mut(at) {
                        match named.iter_mut().find(|(owner, _, _)| *owner == t) {
                            // a later definition replaces an earlier one, as the
                            // map did
                            Some(entry) => (entry.1, entry.2) = (v, i as u16),
                            None => named.push((t, v, i as u16)),
                        }
                    }
                }
                Owner::Hidden if d.name == "__init__" => base_init = v,
                _ => {}
            }
        }
        heap.incref_obj(local, exc[ExcKind::MemoryError as usize]);
        let memory_error_instance = heap.alloc(
            local,
            Obj::Exception(Box::new(crate::heap::ExcObj {
                class: exc[ExcKind::MemoryError as usize],
                args: vec![],
                attrs: vec![],
                traceback: vec![],
                cause: Value::None,
                context: Value::None,
                suppress_context: false,
            })),
        )?;
        let ni = heap.alloc(
            local,
            Obj::Instance(crate::heap::Instance {
                class: object,
                attrs: vec![],
            }),
        )?;
        heap.incref_obj(local, object);
        by_name.insert("NotImplemented", Value::Obj(ni));
        by_name.insert("Ellipsis", Value::None);
        let list_append = methods
            .get(crate::bytecode::sym::append.0 as usize)
            .and_then(|named| named.iter().find(|(t, _, _)| *t == TypeTag::List))
            .map_or(-1, |&(_, _, id)| id as i64);
        Ok(Builtins {
            object,
            types,
            exc_dense: exc
                .iter()
                .enumerate()
                .all(|(i, c)| c.idx == exc[0].idx + i as u32),
            exc,
            by_name,
            methods,
            fn_objs,
            memory_error_instance,
            base_init,
            not_implemented: Some(ni),
            list_append,
        })
    }

    pub fn type_class(&self, tag: TypeTag) -> ObjRef {
        self.types.get(&tag).copied().unwrap_or(self.object)
    }

    pub fn exc_class(&self, kind: ExcKind) -> ObjRef {
        self.exc.get(kind as usize).copied().unwrap_or(self.object)
    }

    /// Which built-in exception class `class` is, if it is one, without taking
    /// its lock. The classes are allocated one after another on a fresh heap, so
    /// the slot index gives the candidate and one comparison confirms it (were
    /// they ever not, `exc_dense` says so and every class is compared).
    #[inline]
    pub fn exc_kind_of(&self, class: ObjRef) -> Option<ExcKind> {
        let i = if self.exc_dense {
            let i = class.idx.wrapping_sub(self.exc.first()?.idx) as usize;
            if self.exc.get(i) != Some(&class) {
                return None;
            }
            i
        } else {
            self.exc.iter().position(|&c| c == class)?
        };
        Some(kind_from_index(i as u8))
    }

    /// A global built-in by name (borrowed).
    pub fn lookup(&self, name: &str) -> Option<Value> {
        self.by_name.get(name).copied()
    }

    /// A method of a built-in type (borrowed).
    pub fn method(&self, tag: TypeTag, name: Sym) -> Option<Value> {
        let named = self.methods.get(name.0 as usize)?;
        let find = |t: TypeTag| {
            named
                .iter()
                .find(|(owner, _, _)| *owner == t)
                .map(|&(_, v, _)| v)
        };
        find(tag).or_else(|| {
            if tag == TypeTag::Bool {
                find(TypeTag::Int)
            } else {
                None
            }
        })
    }

    /// The methods of built-in types called `name`: (type, object, number)
    /// each, empty when no built-in type has one (`deposit`), which tells
    /// `LoadMethod` that it need not ask the receiver's type.
    #[inline]
    pub fn methods_named(&self, name: Sym) -> &[(TypeTag, Value, u16)] {
        self.methods
            .get(name.0 as usize)
            .map(|v| &v[..])
            .unwrap_or_default()
    }

    /// The heap object of built-in number `id` (borrowed).
    pub fn function(&self, id: usize) -> Option<Value> {
        self.fn_objs.get(id).copied()
    }

    pub fn kind_of_class(&self, c: ObjRef) -> Option<ExcKind> {
        self.exc
            .iter()
            .position(|&e| e == c)
            .map(|i| kind_from_index(i as u8))
    }

    /// Every built-in object (the audit counts these as roots).
    pub fn roots(&self) -> Vec<Value> {
        let mut v: Vec<Value> = self.types.values().map(|&r| Value::Obj(r)).collect();
        v.extend(self.exc.iter().map(|&r| Value::Obj(r)));
        v.extend(self.fn_objs.iter().copied());
        v.push(Value::Obj(self.memory_error_instance));
        if let Some(n) = self.not_implemented {
            v.push(Value::Obj(n));
        }
        v
    }
}

/// Call a built-in type (`int("3")`, `list(x)`, ...).
pub fn construct(
    vm: &mut Vm,
    class: ObjRef,
    tag: TypeTag,
    args: &[Value],
    kw: &[(Sym, Value)],
) -> PyResult<Value> {
    types::construct(vm, class, tag, args, kw)
}

// ----------------------------------------------------------- argument helpers

/// Check a positional argument count, with CPython's message.
/// A method of built-in type `cls` called unbound on something else
/// (`dict.get("s", 1)`), or with no receiver at all: CPython's messages.
pub fn descriptor_error(vm: &mut Vm, args: &[Value], name: &str, cls: &str) -> PyErr {
    match args.first() {
        Some(&v) => {
            let t = vm.type_name(v);
            PyErr::type_error(format!(
                "descriptor '{name}' for '{cls}' objects doesn't apply to a '{t}' object"
            ))
        }
        None => PyErr::type_error(format!("unbound method {cls}.{name}() needs an argument")),
    }
}

pub fn arity(name: &str, args: &[Value], min: usize, max: usize) -> PyResult<()> {
    let n = args.len();
    if n >= min && n <= max {
        return Ok(());
    }
    Err(PyErr::type_error(if min == max {
        if min == 0 {
            format!("{name}() takes no arguments ({n} given)")
        } else if min == 1 {
            format!("{name}() takes exactly one argument ({n} given)")
        } else {
            format!("{name} expected {min} arguments, got {n}")
        }
    } else if n < min {
        format!(
            "{name} expected at least {min} argument{}, got {n}",
            if min == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "{name} expected at most {max} argument{}, got {n}",
            if max == 1 { "" } else { "s" }
        )
    }))
}

pub fn no_kwargs(name: &str, kw: &[(Sym, Value)]) -> PyResult<()> {
    if kw.is_empty() {
        Ok(())
    } else {
        Err(PyErr::type_error(format!(
            "{name}() takes no keyword arguments"
        )))
    }
}

pub fn kwarg(kw: &[(Sym, Value)], name: &str) -> Option<Value> {
    // Most calls pass no keywords: skip interning the name (a lock and a hash).
    if kw.is_empty() {
        return None;
    }
    let s = intern(name);
    kw.iter().find(|(k, _)| *k == s).map(|&(_, v)| v)
}

/// Reject keyword arguments other than `allowed`.
pub fn only_kwargs(fname: &str, kw: &[(Sym, Value)], allowed: &[&str]) -> PyResult<()> {
    for (k, _) in kw {
        let n = crate::bytecode::sym_name(*k);
        if !allowed.contains(&&*n) {
            return Err(PyErr::type_error(format!(
                "{fname}() got an unexpected keyword argument '{n}'"
            )));
        }
    }
    Ok(())
}

impl Vm {
    /// An int argument (ints and bools), with CPython's message otherwise.
    pub fn arg_int(&mut self, v: Value, what: &str) -> PyResult<i64> {
        match v {
            Value::Int(i) => Ok(i),
            Value::Bool(b) => Ok(b as i64),
            Value::Obj(r) if matches!(&*self.get(r)?, Obj::BigInt(_)) => Err(PyErr::new(
                ExcKind::OverflowError,
                "Python int too large to convert to C ssize_t",
            )),
            _ => {
                let t = self.type_name(v);
                Err(PyErr::type_error(format!(
                    "'{t}' object cannot be interpreted as an integer{what}"
                )))
            }
        }
    }

    pub fn arg_str(&mut self, v: Value, fname: &str) -> PyResult<crate::heap::Text> {
        match self.str_text(v) {
            Some(s) => Ok(s),
            None => {
                let t = self.type_name(v);
                Err(PyErr::type_error(format!("{fname} must be str, not {t}")))
            }
        }
    }
}
