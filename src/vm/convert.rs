//! Values as text: `repr()`, `str()`, and f-string formatting, in Python's formats.
//!
//! The number and string algorithms themselves live in `crate::text`; this file
//! walks objects (containers recurse, self-containing ones print `[...]`) and calls
//! user `__repr__` / `__str__` methods.

use super::{ExcKind, PyErr, PyResult, Vm};
use crate::bytecode::sym;
use crate::heap::{IterState, Obj, ObjRef, Value, ViewKind};
use crate::text;
use std::fmt::Write;

/// A stand-in for a memory address in reprs: stable per object, CPython-shaped.
pub fn fake_addr(r: ObjRef) -> String {
    format!("0x7f{:010x}", (r.idx as u64) * 64 + 0x1000)
}

impl Vm {
    pub fn repr(&mut self, v: Value) -> PyResult<String> {
        match v {
            Value::None | Value::Unbound => Ok("None".into()),
            Value::Bool(b) => Ok(if b { "True" } else { "False" }.into()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Float(f) => Ok(text::float::float_repr(f)),
            Value::Obj(r) => self.repr_obj(v, r),
        }
    }

    fn repr_obj(&mut self, v: Value, r: ObjRef) -> PyResult<String> {
        let g = self.get(r)?;
        match &*g {
            Obj::Str(s) => Ok(text::strings::str_repr(&s.s)),
            Obj::BigInt(b) => {
                let b = b.clone();
                drop(g);
                Ok(text::format::int_to_decimal(&b)?)
            }
            Obj::List(_) => {
                drop(g);
                if !self.repr_enter(r)? {
                    return Ok("[...]".into());
                }
                let res = self.repr_list(r);
                self.repr_stack.pop();
                res
            }
            Obj::Tuple(items) => {
                let items = items.to_vec();
                drop(g);
                if !self.repr_enter(r)? {
                    return Ok("(...)".into());
                }
                let res = self.repr_items(&items, "(", ")", items.len() == 1);
                self.repr_stack.pop();
                res
            }
            Obj::Dict(_) => {
                drop(g);
                if !self.repr_enter(r)? {
                    return Ok("{...}".into());
                }
                let res = self.repr_dict(r);
                self.repr_stack.pop();
                res
            }
            Obj::Set(d) => {
                let keys: Vec<Value> = d.iter().map(|(k, _)| k).collect();
                drop(g);
                if keys.is_empty() {
                    return Ok("set()".into());
                }
                if !self.repr_enter(r)? {
                    return Ok("set(...)".into());
                }
                for &k in &keys {
                    self.incref(k);
                }
                let res = self.repr_items(&keys, "{", "}", false);
                self.repr_stack.pop();
                self.decref_all(keys);
                res
            }
            Obj::Range { start, stop, step } => Ok(if *step == 1 {
                format!("range({start}, {stop})")
            } else {
                format!("range({start}, {stop}, {step})")
            }),
            Obj::Slice { start, stop, step } => {
                let (a, b, c) = (*start, *stop, *step);
                drop(g);
                Ok(format!(
                    "slice({}, {}, {})",
                    self.repr(a)?,
                    self.repr(b)?,
                    self.repr(c)?
                ))
            }
            Obj::Function(f) => Ok(format!("<function {} at {}>", f.qualname, fake_addr(r))),
            Obj::BoundMethod { receiver, func } => {
                let (rv, f) = (*receiver, *func);
                drop(g);
                let fname = match f {
                    Value::Obj(fr) => match &*self.get(fr)? {
                        Obj::Function(func) => func.qualname.to_string(),
                        Obj::Builtin(b) => super::builtins::builtin_name(b.0).to_string(),
                        _ => "?".into(),
                    },
                    _ => "?".into(),
                };
                if self.is_builtin_value(f) {
                    let t = self.type_name(rv);
                    let addr = rv.as_obj().map(fake_addr).unwrap_or_default();
                    return Ok(format!("<built-in method {fname} of {t} object at {addr}>"));
                }
                let rr = self.repr(rv)?;
                Ok(format!("<bound method {fname} of {rr}>"))
            }
            Obj::Builtin(b) => Ok(format!(
                "<built-in function {}>",
                super::builtins::builtin_name(b.0)
            )),
            Obj::Class(k) => Ok(if &*k.module == "builtins" {
                format!("<class '{}'>", k.name)
            } else {
                format!("<class '{}.{}'>", k.module, k.qualname)
            }),
            Obj::Module(m) => Ok(format!("<module '{}' (built-in)>", m.name)),
            Obj::Cell(_) => Ok(format!("<cell at {}>", fake_addr(r))),
            Obj::Instance(i) => {
                let class = i.class;
                drop(g);
                if let Some(s) = self.call_dunder(v, sym::__repr__, &[])? {
                    return self.expect_str(s, "__repr__");
                }
                let (module, qual) = match &*self.get(class)? {
                    Obj::Class(k) => (k.module.clone(), k.qualname.clone()),
                    _ => ("__main__".into(), "?".into()),
                };
                Ok(format!("<{module}.{qual} object at {}>", fake_addr(r)))
            }
            Obj::Exception(e) => {
                let (class, args) = (e.class, e.args.clone());
                drop(g);
                if let Some(s) = self.call_dunder(v, sym::__repr__, &[])? {
                    return self.expect_str(s, "__repr__");
                }
                let name = self.class_name(class);
                let inner = if args.len() == 1 {
                    self.repr(args[0])?
                } else {
                    let parts: PyResult<Vec<String>> = args.iter().map(|&a| self.repr(a)).collect();
                    parts?.join(", ")
                };
                Ok(format!("{name}({inner})"))
            }
            Obj::Iter(st) => {
                let name = match st {
                    IterState::Seq { .. } => "list_iterator",
                    IterState::Range { .. } => "range_iterator",
                    IterState::Dict { .. } => "dict_keyiterator",
                    IterState::Reversed { .. } => "list_reverseiterator",
                    IterState::Enumerate { .. } => "enumerate",
                    IterState::Zip { .. } => "zip",
                    IterState::Map { .. } => "map",
                    IterState::Filter { .. } => "filter",
                    IterState::Buffer { .. } | IterState::Exhausted => "iterator",
                };
                Ok(format!("<{name} object at {}>", fake_addr(r)))
            }
            Obj::DictView { dict, kind } => {
                let (d, k) = (*dict, *kind);
                drop(g);
                let name = match k {
                    ViewKind::Keys => "dict_keys",
                    ViewKind::Values => "dict_values",
                    ViewKind::Items => "dict_items",
                };
                let _ = d;
                // A view met again inside its own repr (`d['v'] = d.values()`)
                // is `...`, as CPython prints it.
                if !self.repr_enter(r)? {
                    return Ok("...".into());
                }
                let items = match self.collect_iterable(v) {
                    Ok(items) => items,
                    Err(e) => {
                        self.repr_stack.pop();
                        return Err(e);
                    }
                };
                let s = self.repr_items(&items, "[", "]", false);
                self.repr_stack.pop();
                self.decref_all(items);
                Ok(format!("{name}({})", s?))
            }
            Obj::Super { .. } => Ok("<super object>".into()),
            Obj::Generator(gen) => Ok(format!(
                "<{} object {} at {}>",
                if gen.is_coroutine {
                    "coroutine"
                } else {
                    "generator"
                },
                gen.qualname,
                fake_addr(r)
            )),
            Obj::Native(_) => {
                drop(g);
                if let Some(s) = crate::stdlib::native_repr(self, v) {
                    return Ok(s);
                }
                let t = self.type_name(v);
                Ok(format!("<{t} object at {}>", fake_addr(r)))
            }
            Obj::Free => Ok("<freed object>".into()),
        }
    }

    fn expect_str(&mut self, s: Value, what: &str) -> PyResult<String> {
        let out = self.str_value(s);
        self.decref(s);
        out.ok_or_else(|| PyErr::type_error(format!("{what} returned non-string")))
    }

    fn repr_items(
        &mut self,
        items: &[Value],
        open: &str,
        close: &str,
        trailing: bool,
    ) -> PyResult<String> {
        let mut out = String::from(open);
        for (i, &x) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&self.repr(x)?);
        }
        if trailing {
            out.push(',');
        }
        out.push_str(close);
        Ok(out)
    }

    /// Enter the repr of container `r`: false if it is being printed already
    /// (a cycle, printed `...`), and past the recursion limit a RecursionError,
    /// as CPython's `Py_EnterRecursiveCall` raises for deeply nested lists.
    fn repr_enter(&mut self, r: ObjRef) -> PyResult<bool> {
        if self.repr_stack.contains(&r) {
            return Ok(false);
        }
        let limit = self
            .rt
            .recursion_limit
            .load(std::sync::atomic::Ordering::Relaxed) as usize;
        if self.frames.len() + self.repr_stack.len() >= limit {
            return Err(PyErr::new(
                ExcKind::RecursionError,
                "maximum recursion depth exceeded while getting the repr of an object",
            ));
        }
        self.repr_stack.push(r);
        Ok(true)
    }

    /// A list's repr, reading the list again for each item, as CPython's
    /// `list_repr` does: an item's `__repr__` may shorten or clear it. The item
    /// is held while it is printed.
    fn repr_list(&mut self, r: ObjRef) -> PyResult<String> {
        let mut out = String::from("[");
        let mut i = 0;
        loop {
            let x = match &*self.get(r)? {
                Obj::List(items) => items.get(i).copied(),
                _ => None,
            };
            let Some(x) = x else { break };
            if i > 0 {
                out.push_str(", ");
            }
            self.incref(x);
            let s = self.repr(x);
            self.decref(x);
            out.push_str(&s?);
            i += 1;
        }
        out.push(']');
        Ok(out)
    }

    /// A dict's repr, walking its entries by position and reading the dict
    /// again at each, as CPython's `dict_repr` does (a `__repr__` may change
    /// it); the key and value are held while they are printed.
    fn repr_dict(&mut self, r: ObjRef) -> PyResult<String> {
        let mut out = String::from("{");
        let mut pos = 0;
        let mut first = true;
        loop {
            let entry = match &*self.get(r)? {
                Obj::Dict(d) => d.entry_at(pos),
                _ => None,
            };
            pos += 1;
            let Some(entry) = entry else { break };
            let Some((k, v)) = entry else { continue };
            if !first {
                out.push_str(", ");
            }
            first = false;
            self.incref(k);
            self.incref(v);
            let ks = self.repr(k);
            let vs = ks.and_then(|ks| Ok((ks, self.repr(v)?)));
            self.decref(k);
            self.decref(v);
            let (ks, vs) = vs?;
            let _ = write!(out, "{ks}: {vs}");
        }
        out.push('}');
        Ok(out)
    }

    /// `str(v)`.
    /// `str(v)` as a new reference: `v` itself when it is a str, and the single
    /// str argument of a built-in exception (not a KeyError, whose str is a
    /// repr) itself, as CPython returns them; otherwise a new string.
    pub fn str_obj(&mut self, v: Value) -> PyResult<Value> {
        if let Value::Obj(r) = v {
            let rt = self.rt;
            let same = match &*self.get(r)? {
                Obj::Str(_) => Some(v),
                Obj::Exception(e) => match (rt.builtins.exc_kind_of(e.class), &e.args[..]) {
                    (Some(k), &[a @ Value::Obj(_)])
                        if !super::exceptions::kind_is_subclass(k, super::ExcKind::KeyError) =>
                    {
                        Some(a)
                    }
                    _ => None,
                },
                _ => None,
            };
            if let Some(Value::Obj(s)) = same {
                let is_str = s == r || matches!(&*self.get(s)?, Obj::Str(_));
                if is_str {
                    self.incref(Value::Obj(s));
                    return Ok(Value::Obj(s));
                }
            }
        }
        let s = self.str_of(v)?;
        self.new_string(s)
    }

    pub fn str_of(&mut self, v: Value) -> PyResult<String> {
        let Value::Obj(r) = v else {
            return self.repr(v);
        };
        let g = self.get(r)?;
        match &*g {
            Obj::Str(s) => Ok(s.s.to_string()),
            Obj::Instance(_) => {
                drop(g);
                if let Some(s) = self.call_dunder(v, sym::__str__, &[])? {
                    return self.expect_str(s, "__str__");
                }
                self.repr(v)
            }
            Obj::Exception(e) => {
                let rt = self.rt;
                // A built-in exception class has no `__str__` of its own (its
                // attributes cannot change): only user classes are looked at.
                let kind = rt.builtins.exc_kind_of(e.class);
                if let (Some(k), [a]) = (kind, &e.args[..]) {
                    let a = *a;
                    drop(g);
                    return if super::exceptions::kind_is_subclass(k, super::ExcKind::KeyError) {
                        self.repr(a)
                    } else {
                        self.str_of(a)
                    };
                }
                let args = e.args.clone();
                drop(g);
                if kind.is_none() {
                    if let Some(s) = self.call_dunder(v, sym::__str__, &[])? {
                        return self.expect_str(s, "__str__");
                    }
                }
                let key_error = rt.builtins.exc_class(super::ExcKind::KeyError);
                let is_key_error = {
                    let t = self.type_of(v)?;
                    self.is_subclass(t, key_error)
                };
                match args.len() {
                    0 => Ok(String::new()),
                    1 if is_key_error => self.repr(args[0]),
                    1 => self.str_of(args[0]),
                    _ => {
                        let mut parts = Vec::new();
                        for a in args {
                            parts.push(self.repr(a)?);
                        }
                        Ok(format!("({})", parts.join(", ")))
                    }
                }
            }
            _ => {
                drop(g);
                self.repr(v)
            }
        }
    }

    /// f-string piece: conversion (0 none, 1 str, 2 repr, 3 ascii) then the spec.
    pub fn format_value(&mut self, v: Value, conv: u32, spec: Option<Value>) -> PyResult<Value> {
        let spec_s = match spec {
            Some(s) => self.str_value(s).unwrap_or_default(),
            None => String::new(),
        };
        if conv != 0 {
            let text = match conv {
                1 => self.str_of(v)?,
                2 => self.repr(v)?,
                _ => ascii_escape(&self.repr(v)?),
            };
            let out = if spec_s.is_empty() {
                text
            } else {
                text::format::format_str(&text, &spec_s)?
            };
            return self.new_string(out);
        }
        if spec_s.is_empty() {
            if let Value::Obj(r) = v {
                if matches!(&*self.get(r)?, Obj::Str(_)) {
                    self.incref(v);
                    return Ok(v);
                }
            }
            let s = self.str_of(v)?;
            return self.new_string(s);
        }
        let s = self.format_with_spec(v, &spec_s)?;
        self.new_string(s)
    }

    /// `format(v, spec)` for a non-empty spec.
    pub fn format_with_spec(&mut self, v: Value, spec: &str) -> PyResult<String> {
        match v {
            Value::Int(i) => Ok(text::format::format_int(
                &num_bigint::BigInt::from(i),
                spec,
            )?),
            Value::Bool(b) => Ok(text::format::format_int(
                &num_bigint::BigInt::from(b as i64),
                spec,
            )?),
            Value::Float(f) => Ok(text::format::format_float(f, spec)?),
            Value::None | Value::Unbound => Err(PyErr::type_error(
                "unsupported format string passed to NoneType.__format__",
            )),
            Value::Obj(r) => {
                let g = self.get(r)?;
                match &*g {
                    Obj::Str(s) => Ok(text::format::format_str(&s.s, spec)?),
                    Obj::BigInt(b) => {
                        let b = b.clone();
                        drop(g);
                        Ok(text::format::format_int(&b, spec)?)
                    }
                    _ => {
                        drop(g);
                        if let Some(s) =
                            self.call_dunder(v, crate::bytecode::intern("__format__"), &[])?
                        {
                            return self.expect_str(s, "__format__");
                        }
                        let t = self.type_name(v);
                        Err(PyErr::type_error(format!(
                            "unsupported format string passed to {t}.__format__"
                        )))
                    }
                }
            }
        }
    }

    pub fn concat_strings(&mut self, parts: &[Value]) -> PyResult<Value> {
        let mut out = String::new();
        for &p in parts {
            match p {
                Value::Obj(r) => match &*self.get(r)? {
                    Obj::Str(s) => out.push_str(&s.s),
                    _ => return Err(PyErr::type_error("f-string part is not a str")),
                },
                _ => return Err(PyErr::type_error("f-string part is not a str")),
            }
        }
        self.new_string(out)
    }
}

/// `ascii()`: escape every non-ASCII character of a repr.
pub fn ascii_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let n = c as u32;
        if n < 0x80 {
            out.push(c);
        } else if n < 0x100 {
            let _ = write!(out, "\\x{n:02x}");
        } else if n < 0x10000 {
            let _ = write!(out, "\\u{n:04x}");
        } else {
            let _ = write!(out, "\\U{n:08x}");
        }
    }
    out
}
