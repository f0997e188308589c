//! Methods of `str`. The algorithms are in `crate::text::strings`; this file
//! unpacks arguments, with CPython's messages, and boxes the results.

use super::{arity, def, kwarg, Def, Owner};
use crate::bytecode::Sym;
use crate::heap::Text;
use crate::heap::{Obj, StrObj, TypeTag, Value};
use crate::text::strings as ts;
use crate::vm::{PyErr, PyResult, Vm};

pub fn defs() -> Vec<Def> {
    let m = Owner::Method(TypeTag::Str);
    vec![
        def("upper", m, |vm, a, _| {
            case_map(vm, a, "upper", ts::upper, str::make_ascii_uppercase)
        }),
        def("lower", m, |vm, a, _| {
            case_map(vm, a, "lower", ts::lower, str::make_ascii_lowercase)
        }),
        def("casefold", m, |vm, a, _| {
            unary(vm, a, "casefold", ts::casefold)
        }),
        def("capitalize", m, |vm, a, _| {
            unary(vm, a, "capitalize", ts::capitalize)
        }),
        def("title", m, |vm, a, _| unary(vm, a, "title", ts::title)),
        def("swapcase", m, |vm, a, _| {
            unary(vm, a, "swapcase", ts::swapcase)
        }),
        def("isdigit", m, |vm, a, _| pred(vm, a, "isdigit", ts::isdigit)),
        def("isdecimal", m, |vm, a, _| {
            pred(vm, a, "isdecimal", ts::isdecimal)
        }),
        def("isnumeric", m, |vm, a, _| {
            pred(vm, a, "isnumeric", ts::isnumeric)
        }),
        def("isalpha", m, |vm, a, _| pred(vm, a, "isalpha", ts::isalpha)),
        def("isalnum", m, |vm, a, _| pred(vm, a, "isalnum", ts::isalnum)),
        def("isspace", m, |vm, a, _| pred(vm, a, "isspace", ts::isspace)),
        def("isupper", m, |vm, a, _| pred(vm, a, "isupper", ts::isupper)),
        def("islower", m, |vm, a, _| pred(vm, a, "islower", ts::islower)),
        def("istitle", m, |vm, a, _| pred(vm, a, "istitle", ts::istitle)),
        def("isidentifier", m, |vm, a, _| {
            pred(vm, a, "isidentifier", ts::isidentifier)
        }),
        def("isascii", m, |vm, a, _| pred(vm, a, "isascii", ts::isascii)),
        def("isprintable", m, |vm, a, _| {
            pred(vm, a, "isprintable", ts::isprintable)
        }),
        def("strip", m, |vm, a, _| strip_like(vm, a, "strip", ts::strip)),
        def("lstrip", m, |vm, a, _| {
            strip_like(vm, a, "lstrip", ts::lstrip)
        }),
        def("rstrip", m, |vm, a, _| {
            strip_like(vm, a, "rstrip", ts::rstrip)
        }),
        def("split", m, |vm, a, k| split(vm, a, k, false)),
        def("rsplit", m, |vm, a, k| split(vm, a, k, true)),
        def("splitlines", m, splitlines),
        def("join", m, join),
        def("replace", m, replace),
        def("find", m, |vm, a, _| find(vm, a, "find", false, false)),
        def("rfind", m, |vm, a, _| find(vm, a, "rfind", true, false)),
        def("index", m, |vm, a, _| find(vm, a, "index", false, true)),
        def("rindex", m, |vm, a, _| find(vm, a, "rindex", true, true)),
        def("count", m, count),
        def("startswith", m, |vm, a, _| {
            starts_ends(vm, a, "startswith", true)
        }),
        def("endswith", m, |vm, a, _| {
            starts_ends(vm, a, "endswith", false)
        }),
        def("center", m, |vm, a, _| pad(vm, a, "center", ts::center)),
        def("ljust", m, |vm, a, _| pad(vm, a, "ljust", ts::ljust)),
        def("rjust", m, |vm, a, _| pad(vm, a, "rjust", ts::rjust)),
        def("zfill", m, zfill),
        def("partition", m, |vm, a, _| {
            partition(vm, a, "partition", ts::partition)
        }),
        def("rpartition", m, |vm, a, _| {
            partition(vm, a, "rpartition", ts::rpartition)
        }),
        def("expandtabs", m, expandtabs),
        def("format", m, format),
        def("encode", m, |vm, a, _| {
            let s = this(vm, a, "encode")?;
            vm.new_str_text(s)
        }),
    ]
}

/// The `self` argument: a str.
fn this(vm: &mut Vm, args: &[Value], name: &str) -> PyResult<Text> {
    match args.first().and_then(|&v| vm.str_text(v)) {
        Some(s) => Ok(s),
        None => Err(super::descriptor_error(vm, args, name, "str")),
    }
}

fn str_arg(vm: &mut Vm, v: Value, ctx: &str) -> PyResult<Text> {
    match vm.str_text(v) {
        Some(s) => Ok(s),
        None => {
            let t = vm.type_name(v);
            Err(PyErr::type_error(format!("{ctx}, not {t}")))
        }
    }
}

fn opt_index(vm: &mut Vm, v: Option<&Value>) -> PyResult<Option<i64>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(&x) => Ok(Some(vm.arg_int(x, "")?)),
    }
}

/// No arguments but self, or CPython's message, which names the type.
fn no_args(name: &str, args: &[Value]) -> PyResult<()> {
    if args.len() > 1 {
        arity(&format!("str.{name}"), &args[1..], 0, 0)?;
    }
    Ok(())
}

fn unary(vm: &mut Vm, args: &[Value], name: &str, f: fn(&str) -> String) -> PyResult<Value> {
    let s = this(vm, args, name)?;
    no_args(name, args)?;
    vm.new_string(f(&s))
}

/// `upper` and `lower`: an ASCII string (the common case) is copied once into
/// the new string and mapped there in place, and its character count is known;
/// any other goes through `unary`.
fn case_map(
    vm: &mut Vm,
    args: &[Value],
    name: &str,
    f: fn(&str) -> String,
    ascii: fn(&mut str),
) -> PyResult<Value> {
    if let [Value::Obj(r)] = *args {
        let g = vm.get(r)?;
        if let Obj::Str(s) = &*g {
            if s.is_ascii() {
                let n = s.s.len();
                if n <= Text::INLINE_CAP {
                    // Mapped straight into the new str's slot: no allocation,
                    // and no check that the mapped bytes are UTF-8 (ASCII maps
                    // to ASCII). The text is copied out and the source's guard
                    // dropped first: counts that race (`--gil off`, plain
                    // counts) may free the source under this thread, and its
                    // slot could then be the very one this allocation takes.
                    let copy = s.s.inline_copy();
                    drop(g);
                    let r = vm.alloc_short_str(&copy, n, ascii)?;
                    return Ok(Value::Obj(r));
                } else {
                    let mut out: std::sync::Arc<str> = std::sync::Arc::from(s.s.as_str());
                    drop(g);
                    if let Some(m) = std::sync::Arc::get_mut(&mut out) {
                        ascii(m);
                    }
                    return vm.alloc_str(StrObj::with_nchars(out, n));
                }
            }
        }
    }
    unary(vm, args, name, f)
}

fn pred(vm: &mut Vm, args: &[Value], name: &str, f: fn(&str) -> bool) -> PyResult<Value> {
    let s = this(vm, args, name)?;
    no_args(name, args)?;
    Ok(Value::Bool(f(&s)))
}

fn strip_like(
    vm: &mut Vm,
    args: &[Value],
    name: &str,
    f: fn(&str, Option<&str>) -> String,
) -> PyResult<Value> {
    let s = this(vm, args, name)?;
    arity(name, &args[1..], 0, 1)?;
    let chars = match args.get(1) {
        None | Some(Value::None) => None,
        Some(&c) => Some(str_arg(vm, c, &format!("{name} arg must be None or str"))?),
    };
    let out = f(&s, chars.as_deref());
    if out.len() == s.len() {
        vm.incref(args[0]);
        return Ok(args[0]);
    }
    vm.new_string(out)
}

fn strings_to_list(vm: &mut Vm, parts: Vec<String>) -> PyResult<Value> {
    let mut items = Vec::with_capacity(parts.len());
    for p in parts {
        match vm.new_string(p) {
            Ok(v) => items.push(v),
            Err(e) => {
                vm.decref_all(items);
                return Err(e);
            }
        }
    }
    vm.new_list(items)
}

fn split(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)], right: bool) -> PyResult<Value> {
    let name = if right { "rsplit" } else { "split" };
    let s = this(vm, args, name)?;
    super::only_kwargs(name, kw, &["sep", "maxsplit"])?;
    arity(name, &args[1..], 0, 2)?;
    let sep = args
        .get(1)
        .copied()
        .or(kwarg(kw, "sep"))
        .unwrap_or(Value::None);
    let maxsplit = match args.get(2).copied().or(kwarg(kw, "maxsplit")) {
        Some(m) => vm.arg_int(m, "")?,
        None => -1,
    };
    let parts = match sep {
        Value::None => {
            if right {
                ts::rsplit_whitespace(&s, maxsplit)
            } else {
                ts::split_whitespace(&s, maxsplit)
            }
        }
        v => {
            let sep = str_arg(vm, v, "must be str or None")?;
            if right {
                ts::rsplit_sep(&s, &sep, maxsplit)?
            } else if sep.len() == 1 && maxsplit < 0 && s.is_ascii() {
                // the common `line.split(",")`: no intermediate Vec<String>.
                // The parts are found by a plain scan of the bytes: `str::split`
                // with a char pattern cost 150 instructions a part in
                // strings.py, whose parts are a few bytes long.
                let sep = sep.as_bytes()[0];
                let bytes = s.as_bytes();
                // Sized by a count of the separators first: grown by doubling, a
                // list of 150,000 parts was copied a dozen times into fresh pages.
                let n = bytes.iter().filter(|&&c| c == sep).count() + 1;
                let mut items = Vec::with_capacity(n);
                let mut start = 0;
                loop {
                    let end = bytes
                        .get(start..)
                        .and_then(|rest| rest.iter().position(|&c| c == sep))
                        .map_or(bytes.len(), |p| start + p);
                    // ASCII: every byte is a character boundary, and there are
                    // as many characters as bytes.
                    let part = s.get(start..end).unwrap_or_default();
                    let made = if part.len() <= Text::INLINE_CAP {
                        vm.alloc_short_str(part, part.len(), |_| {}).map(Value::Obj)
                    } else {
                        vm.alloc_str(StrObj::with_nchars(crate::heap::text(part), part.len()))
                    };
                    match made {
                        Ok(v) => items.push(v),
                        Err(e) => {
                            vm.decref_all(items);
                            return Err(e);
                        }
                    }
                    if end >= bytes.len() {
                        break;
                    }
                    start = end + 1;
                }
                return vm.new_list(items);
            } else {
                ts::split_sep(&s, &sep, maxsplit)?
            }
        }
    };
    strings_to_list(vm, parts)
}

fn splitlines(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    let s = this(vm, args, "splitlines")?;
    let keep = match args.get(1).copied().or(kwarg(kw, "keepends")) {
        Some(v) => vm.truthy(v)?,
        None => false,
    };
    let parts = ts::splitlines(&s, keep);
    strings_to_list(vm, parts)
}

fn join(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let sep = this(vm, args, "join")?;
    arity("join", &args[1..], 1, 1)?;
    let items = vm.collect_iterable(args[1])?;
    let mut out = String::new();
    let mut err = None;
    for (i, &x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&sep);
        }
        match x {
            Value::Obj(r) => {
                let pushed = match vm.rt.heap.get(r).as_deref() {
                    Ok(Obj::Str(s)) => {
                        out.push_str(&s.s);
                        true
                    }
                    _ => false,
                };
                // (the item's guard is gone before `type_name` reads it)
                if !pushed {
                    let t = vm.type_name(x);
                    err = Some(PyErr::type_error(format!(
                        "sequence item {i}: expected str instance, {t} found"
                    )));
                    break;
                }
            }
            _ => {
                let t = vm.type_name(x);
                err = Some(PyErr::type_error(format!(
                    "sequence item {i}: expected str instance, {t} found"
                )));
                break;
            }
        }
    }
    vm.decref_all(items);
    if let Some(e) = err {
        return Err(e);
    }
    vm.new_string(out)
}

fn replace(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let s = this(vm, args, "replace")?;
    arity("replace", &args[1..], 2, 3)?;
    let old = str_arg(vm, args[1], "replace() argument 1 must be str")?;
    let new = str_arg(vm, args[2], "replace() argument 2 must be str")?;
    let count = match args.get(3) {
        Some(&c) => vm.arg_int(c, "")?,
        None => -1,
    };
    let limit = vm.rt.heap.max_bytes() as usize;
    if !old.is_empty() && new.len() > old.len() {
        let n = s.matches(&*old).count();
        if s.len() + n * (new.len() - old.len()) > limit {
            return Err(PyErr::new(crate::vm::ExcKind::MemoryError, ""));
        }
    }
    vm.new_string(ts::replace(&s, &old, &new, count))
}

fn find(vm: &mut Vm, args: &[Value], name: &str, right: bool, raise: bool) -> PyResult<Value> {
    let s = this(vm, args, name)?;
    arity(name, &args[1..], 1, 3)?;
    let sub = str_arg(vm, args[1], "must be str")?;
    let start = opt_index(vm, args.get(2))?;
    let end = opt_index(vm, args.get(3))?;
    let i = if right {
        ts::rfind(&s, &sub, start, end)
    } else {
        ts::find(&s, &sub, start, end)
    };
    if i < 0 && raise {
        return Err(PyErr::value_error("substring not found"));
    }
    Ok(Value::Int(i))
}

fn count(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let s = this(vm, args, "count")?;
    arity("count", &args[1..], 1, 3)?;
    let sub = str_arg(vm, args[1], "must be str")?;
    let start = opt_index(vm, args.get(2))?;
    let end = opt_index(vm, args.get(3))?;
    Ok(Value::Int(ts::count(&s, &sub, start, end)))
}

fn starts_ends(vm: &mut Vm, args: &[Value], name: &str, starts: bool) -> PyResult<Value> {
    let s = this(vm, args, name)?;
    arity(name, &args[1..], 1, 3)?;
    let start = opt_index(vm, args.get(2))?;
    let end = opt_index(vm, args.get(3))?;
    let candidates: Vec<Text> = match vm.str_text(args[1]) {
        Some(p) => vec![p],
        None => {
            let items = match args[1] {
                Value::Obj(r) => match &*vm.get(r)? {
                    Obj::Tuple(t) => Some(t.to_vec()),
                    _ => None,
                },
                _ => None,
            };
            let Some(items) = items else {
                let t = vm.type_name(args[1]);
                return Err(PyErr::type_error(format!(
                    "{name} first arg must be str or a tuple of str, not {t}"
                )));
            };
            let mut out = Vec::new();
            for i in items {
                out.push(str_arg(
                    vm,
                    i,
                    &format!("tuple for {name} must only contain str"),
                )?);
            }
            out
        }
    };
    for p in candidates {
        let hit = if starts {
            ts::startswith(&s, &p, start, end)
        } else {
            ts::endswith(&s, &p, start, end)
        };
        if hit {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn fill_char(vm: &mut Vm, v: Option<&Value>, name: &str) -> PyResult<char> {
    match v {
        None => Ok(' '),
        Some(&f) => {
            let s = match vm.str_text(f) {
                Some(s) => s,
                None => {
                    let t = vm.type_name(f);
                    return Err(PyErr::type_error(format!(
                        "{name}() argument 2 must be str, not {t}"
                    )));
                }
            };
            let mut cs = s.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => Ok(c),
                _ => Err(PyErr::type_error(
                    "The fill character must be exactly one character long",
                )),
            }
        }
    }
}

fn pad(
    vm: &mut Vm,
    args: &[Value],
    name: &str,
    f: fn(&str, i64, char) -> Result<String, crate::text::PyErr>,
) -> PyResult<Value> {
    let s = this(vm, args, name)?;
    arity(name, &args[1..], 1, 2)?;
    let w = vm.arg_int(args[1], "")?;
    let c = fill_char(vm, args.get(2), name)?;
    vm.new_string(f(&s, w, c)?)
}

fn zfill(vm: &mut Vm, args: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let s = this(vm, args, "zfill")?;
    arity("zfill", &args[1..], 1, 1)?;
    let w = vm.arg_int(args[1], "")?;
    vm.new_string(ts::zfill(&s, w)?)
}

fn expandtabs(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    let s = this(vm, args, "expandtabs")?;
    let t = match args.get(1).copied().or(kwarg(kw, "tabsize")) {
        Some(v) => vm.arg_int(v, "")?,
        None => 8,
    };
    vm.new_string(ts::expandtabs(&s, t)?)
}

type PartitionFn = fn(&str, &str) -> Result<(String, String, String), crate::text::PyErr>;

fn partition(vm: &mut Vm, args: &[Value], name: &str, f: PartitionFn) -> PyResult<Value> {
    let s = this(vm, args, name)?;
    arity(name, &args[1..], 1, 1)?;
    let sep = str_arg(vm, args[1], "must be str")?;
    let (a, b, c) = f(&s, &sep)?;
    let parts = vec![vm.new_string(a)?, vm.new_string(b)?, vm.new_string(c)?];
    vm.new_tuple(parts)
}

/// `str.format`: positional and keyword fields with format specs and !r/!s.
fn format(vm: &mut Vm, args: &[Value], kw: &[(Sym, Value)]) -> PyResult<Value> {
    let s = this(vm, args, "format")?;
    let pos = &args[1..];
    let mut out = String::new();
    let mut auto = 0usize;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            if chars.get(i + 1) == Some(&'{') {
                out.push('{');
                i += 2;
                continue;
            }
            let mut j = i + 1;
            let mut depth = 1;
            while j < chars.len() {
                if chars[j] == '{' {
                    depth += 1;
                } else if chars[j] == '}' {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err(PyErr::value_error(
                    "Single '{' encountered in format string",
                ));
            }
            let field: String = chars[i + 1..j].iter().collect();
            let (head, spec) = match field.find(':') {
                Some(p) => (field[..p].to_string(), field[p + 1..].to_string()),
                None => (field.clone(), String::new()),
            };
            let (name, conv) = match head.find('!') {
                Some(p) => (head[..p].to_string(), head[p + 1..].chars().next()),
                None => (head.clone(), None),
            };
            let v = if name.is_empty() {
                let v = pos.get(auto).copied();
                auto += 1;
                v.ok_or_else(|| {
                    PyErr::index_error(format!(
                        "Replacement index {} out of range for positional args tuple",
                        auto - 1
                    ))
                })?
            } else if let Ok(n) = name.parse::<usize>() {
                pos.get(n).copied().ok_or_else(|| {
                    PyErr::index_error(format!(
                        "Replacement index {n} out of range for positional args tuple"
                    ))
                })?
            } else {
                let key = crate::bytecode::intern(&name);
                match kw.iter().find(|(k, _)| *k == key) {
                    Some(&(_, v)) => v,
                    None => return Err(vm.key_error_str(&name)),
                }
            };
            let text = match conv {
                Some('r') => vm.repr(v)?,
                Some('s') => vm.str_of(v)?,
                Some('a') => crate::vm::convert::ascii_escape(&vm.repr(v)?),
                _ => {
                    if spec.is_empty() {
                        vm.str_of(v)?
                    } else {
                        vm.format_with_spec(v, &spec)?
                    }
                }
            };
            if conv.is_some() && !spec.is_empty() {
                out.push_str(&crate::text::format::format_str(&text, &spec)?);
            } else {
                out.push_str(&text);
            }
            i = j + 1;
        } else if c == '}' {
            if chars.get(i + 1) == Some(&'}') {
                out.push('}');
                i += 2;
                continue;
            }
            return Err(PyErr::value_error(
                "Single '}' encountered in format string",
            ));
        } else {
            out.push(c);
            i += 1;
        }
    }
    vm.new_string(out)
}

impl Vm {
    pub fn key_error_str(&mut self, s: &str) -> PyErr {
        match self.new_str(s) {
            Ok(k) => {
                let e = self.key_error(k);
                self.decref(k);
                e
            }
            Err(e) => e,
        }
    }
}
