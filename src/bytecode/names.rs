//! Interned names: every identifier the compiler meets becomes a `Sym`, a small
//! integer, so that the VM compares attribute and method names as integers and never
//! hashes a string on the hot path.
//!
//! The table is process-wide and append-only. The first entries are fixed (`sym::*`
//! below), so the VM's built-in methods can match on constants.

use parking_lot::RwLock;
use rustc_hash::FxHashMap;
use std::sync::{Arc, OnceLock};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

struct Table {
    by_name: FxHashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

macro_rules! predefined {
    ($($id:ident = $text:expr),* $(,)?) => {
        /// Names the VM knows by heart, with fixed ids.
        #[allow(non_upper_case_globals)]
        pub mod sym {
            use super::Sym;
            predefined!(@consts 0u32; $($id),*);
        }
        const PREDEFINED: &[&str] = &[$($text),*];
    };
    (@consts $n:expr; $id:ident $(, $rest:ident)*) => {
        pub const $id: Sym = Sym($n);
        predefined!(@consts $n + 1u32; $($rest),*);
    };
    (@consts $n:expr;) => {};
}

predefined! {
    __init__ = "__init__", __str__ = "__str__", __repr__ = "__repr__", __eq__ = "__eq__",
    __ne__ = "__ne__", __lt__ = "__lt__", __le__ = "__le__", __gt__ = "__gt__", __ge__ = "__ge__",
    __len__ = "__len__", __getitem__ = "__getitem__", __setitem__ = "__setitem__",
    __contains__ = "__contains__", __iter__ = "__iter__", __next__ = "__next__",
    __enter__ = "__enter__", __exit__ = "__exit__", __call__ = "__call__", __bool__ = "__bool__",
    __name__ = "__name__", __class__ = "__class__", __dict__ = "__dict__", __doc__ = "__doc__",
    __module__ = "__module__", __qualname__ = "__qualname__", __hash__ = "__hash__",
    __add__ = "__add__", __sub__ = "__sub__", __mul__ = "__mul__", __aenter__ = "__aenter__",
    __aexit__ = "__aexit__", __await__ = "__await__", __delitem__ = "__delitem__",
    args = "args", append = "append", pop = "pop", extend = "extend", insert = "insert",
    index = "index", count = "count", sort = "sort", reverse = "reverse", remove = "remove",
    copy = "copy", clear = "clear", get = "get", keys = "keys", values = "values",
    items = "items", setdefault = "setdefault", update = "update", popitem = "popitem",
    upper = "upper", lower = "lower", strip = "strip", lstrip = "lstrip", rstrip = "rstrip",
    split = "split", rsplit = "rsplit", join = "join", replace = "replace", find = "find",
    rfind = "rfind", rindex = "rindex", startswith = "startswith", endswith = "endswith",
    capitalize = "capitalize", title = "title", isdigit = "isdigit", isalpha = "isalpha",
    isalnum = "isalnum", isspace = "isspace", isupper = "isupper", islower = "islower",
    zfill = "zfill", center = "center", ljust = "ljust", rjust = "rjust",
    partition = "partition", rpartition = "rpartition", splitlines = "splitlines",
    swapcase = "swapcase", casefold = "casefold", format = "format", isdecimal = "isdecimal",
    isnumeric = "isnumeric", isidentifier = "isidentifier", expandtabs = "expandtabs",
    add = "add", discard = "discard", union = "union", intersection = "intersection",
    difference = "difference", start = "start", stop = "stop", step = "step",
    real = "real", imag = "imag", is_integer = "is_integer", bit_length = "bit_length",
    conjugate = "conjugate", send = "send", throw = "throw", close = "close",
    __self__ = "__self__", __func__ = "__func__", __code__ = "__code__",
    __defaults__ = "__defaults__", __bases__ = "__bases__", __mro__ = "__mro__",
    __traceback__ = "__traceback__", __cause__ = "__cause__", __context__ = "__context__",
    __main__ = "__main__", __builtins__ = "__builtins__", issubset = "issubset",
    issuperset = "issuperset", fromkeys = "fromkeys", encode = "encode",
    __annotations__ = "__annotations__", __file__ = "__file__", hex = "hex",
}

fn table() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Table {
            by_name: FxHashMap::default(),
            names: Vec::new(),
        };
        for name in PREDEFINED {
            let a: Arc<str> = Arc::from(*name);
            t.by_name.insert(a.clone(), t.names.len() as u32);
            t.names.push(a);
        }
        RwLock::new(t)
    })
}

/// The symbol for `name`, adding it to the table if it is new.
pub fn intern(name: &str) -> Sym {
    if let Some(&id) = table().read().by_name.get(name) {
        return Sym(id);
    }
    let mut t = table().write();
    if let Some(&id) = t.by_name.get(name) {
        return Sym(id);
    }
    let a: Arc<str> = Arc::from(name);
    let id = t.names.len() as u32;
    t.by_name.insert(a.clone(), id);
    t.names.push(a);
    Sym(id)
}

/// The text of a symbol. Symbols only come from `intern`, so the lookup succeeds;
/// an unknown id yields "?" rather than a panic.
pub fn sym_name(s: Sym) -> Arc<str> {
    table()
        .read()
        .names
        .get(s.0 as usize)
        .cloned()
        .unwrap_or_else(|| Arc::from("?"))
}

/// A symbol for `name` only if it has been interned already (no growth).
pub fn lookup(name: &str) -> Option<Sym> {
    table().read().by_name.get(name).map(|&id| Sym(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_ids_are_stable() {
        assert_eq!(&*sym_name(sym::append), "append");
        assert_eq!(intern("append"), sym::append);
        assert_eq!(intern("__init__"), sym::__init__);
        let s = intern("some_new_name_xyz");
        assert_eq!(&*sym_name(s), "some_new_name_xyz");
        assert_eq!(lookup("some_new_name_xyz"), Some(s));
    }
}
