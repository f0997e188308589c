//! Types and attributes: `type(x)`, class chains, attribute get/set/delete, method
//! lookup for calls, class-body names, cells, imports and `with`.
//!
//! Toy classes have single inheritance, so a class's "MRO" is the chain of `base`
//! links; lookups walk it. Instance attributes live in a small vector on the
//! instance (see `heap::objects::Instance`).

use super::{ExcKind, PyErr, PyResult, Vm};
use crate::bytecode::{sym, sym_name, Sym};
use crate::heap::{Obj, ObjRef, TypeTag, Value, ViewKind};

impl Vm {
    /// The class of a value (a borrowed handle: classes are kept alive elsewhere).
    pub fn type_of(&mut self, v: Value) -> PyResult<ObjRef> {
        let rt = self.rt;
        let b = &rt.builtins;
        let tag = match v {
            Value::None | Value::Unbound => TypeTag::NoneType,
            Value::Bool(_) => TypeTag::Bool,
            Value::Int(_) => TypeTag::Int,
            Value::Float(_) => TypeTag::Float,
            Value::Obj(r) => match &*self.get(r)? {
                Obj::Instance(i) => return Ok(i.class),
                Obj::Exception(e) => return Ok(e.class),
                o => tag_of_obj(o),
            },
        };
        Ok(b.type_class(tag))
    }

    pub fn type_name(&mut self, v: Value) -> String {
        match self.type_of(v) {
            Ok(t) => self.class_name(t),
            Err(e) => {
                let r = self.materialize(e);
                self.decref(Value::Obj(r));
                "<freed object>".into()
            }
        }
    }

    pub fn class_name(&mut self, c: ObjRef) -> String {
        match self.rt.heap.get(c).as_deref() {
            Ok(Obj::Class(k)) => k.name.to_string(),
            _ => "?".into(),
        }
    }

    pub fn is_subclass(&mut self, mut c: ObjRef, target: ObjRef) -> bool {
        let rt = self.rt;
        let b = &rt.builtins;
        if target == b.object {
            return true;
        }
        for _ in 0..10_000 {
            if c == target {
                return true;
            }
            // Above a built-in exception class, the chain is built-in exception
            // classes up to `object`: known without the heap.
            if let Some(k) = b.exc_kind_of(c) {
                return b
                    .exc_kind_of(target)
                    .is_some_and(|t| super::exceptions::kind_is_subclass(k, t));
            }
            // bool is a subclass of int
            let base = match self.rt.heap.get(c).as_deref() {
                Ok(Obj::Class(k)) => k.base,
                _ => None,
            };
            match base {
                Some(b) => c = b,
                None => return false,
            }
        }
        false
    }

    /// Look `name` up along a class chain. Returns a borrowed value.
    pub fn class_lookup(&mut self, mut c: ObjRef, name: Sym) -> PyResult<Option<Value>> {
        let rt = self.rt;
        let b = &rt.builtins;
        for _ in 0..10_000 {
            // Built-in exception classes and `object` have no attributes of their
            // own and cannot be given any (see `set_attr`), nor can their bases.
            if c == b.object || b.exc_kind_of(c).is_some() {
                return Ok(None);
            }
            let (found, base) = match &*self.get(c)? {
                Obj::Class(k) => (k.attrs.get(&name).copied(), k.base),
                _ => (None, None),
            };
            if let Some(v) = found {
                return Ok(Some(v));
            }
            match base {
                Some(b) => c = b,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Look a name up on the type of `v` (user classes only). Borrowed.
    pub fn lookup_type_attr(&mut self, v: Value, name: Sym) -> PyResult<Option<Value>> {
        let t = self.type_of(v)?;
        self.class_lookup(t, name)
    }

    fn attr_error(&mut self, obj: Value, name: Sym) -> PyErr {
        let n = sym_name(name);
        // The guard is gone before `type_name` reads the object again.
        let named = match obj {
            Value::Obj(r) => match self.rt.heap.get(r).as_deref() {
                Ok(Obj::Class(k)) => {
                    Some(format!("type object '{}' has no attribute '{n}'", k.name))
                }
                Ok(Obj::Module(m)) => Some(format!("module '{}' has no attribute '{n}'", m.name)),
                _ => None,
            },
            _ => None,
        };
        let msg = named.unwrap_or_else(|| {
            let t = self.type_name(obj);
            format!("'{t}' object has no attribute '{n}'")
        });
        PyErr::new(ExcKind::AttributeError, msg)
    }

    /// `obj.name`, a new reference.
    pub fn get_attr(&mut self, obj: Value, name: Sym) -> PyResult<Value> {
        match self.get_attr_opt(obj, name)? {
            Some(v) => Ok(v),
            None => Err(self.attr_error(obj, name)),
        }
    }

    pub fn get_attr_opt(&mut self, obj: Value, name: Sym) -> PyResult<Option<Value>> {
        if name == sym::__class__ {
            let t = self.type_of(obj)?;
            self.incref(Value::Obj(t));
            return Ok(Some(Value::Obj(t)));
        }
        let rt = self.rt;
        let Value::Obj(r) = obj else {
            return self.builtin_attr(obj, name);
        };
        let g = self.get(r)?;
        let class = match &*g {
            Obj::Instance(i) => {
                if let Some(&(_, v)) = i.attrs.iter().find(|(k, _)| *k == name) {
                    drop(g);
                    self.incref(v);
                    return Ok(Some(v));
                }
                i.class
            }
            Obj::Exception(e) => {
                if let Some(&(_, v)) = e.attrs.iter().find(|(k, _)| *k == name) {
                    drop(g);
                    self.incref(v);
                    return Ok(Some(v));
                }
                if name == sym::args {
                    let args = e.args.clone();
                    drop(g);
                    for &a in &args {
                        self.incref(a);
                    }
                    return Ok(Some(self.new_tuple(args)?));
                }
                if name == sym::__cause__ || name == sym::__context__ {
                    let v = if name == sym::__cause__ {
                        e.cause
                    } else {
                        e.context
                    };
                    drop(g);
                    self.incref(v);
                    return Ok(Some(v));
                }
                if name == sym::__traceback__ {
                    return Ok(Some(Value::None));
                }
                if e.class == self.rt.builtins.exc_class(ExcKind::StopIteration)
                    && &*sym_name(name) == "value"
                {
                    let v = e.args.first().copied().unwrap_or(Value::None);
                    drop(g);
                    self.incref(v);
                    return Ok(Some(v));
                }
                if &*sym_name(name) == "__suppress_context__" {
                    return Ok(Some(Value::Bool(e.suppress_context)));
                }
                e.class
            }
            Obj::Class(k) => {
                if name == sym::__name__ {
                    let n = k.name.clone();
                    drop(g);
                    return Ok(Some(self.new_str(&n)?));
                }
                if name == sym::__qualname__ {
                    let n = k.qualname.clone();
                    drop(g);
                    return Ok(Some(self.new_str(&n)?));
                }
                if name == sym::__module__ {
                    let n = k.module.clone();
                    drop(g);
                    return Ok(Some(self.new_str(&n)?));
                }
                if name == sym::__bases__ {
                    let b = k.base;
                    drop(g);
                    let items: Vec<Value> = b.into_iter().map(Value::Obj).collect();
                    for &i in &items {
                        self.incref(i);
                    }
                    return Ok(Some(self.new_tuple(items)?));
                }
                let tag = k.tag;
                drop(g);
                if let Some(v) = self.class_lookup(r, name)? {
                    self.incref(v);
                    return Ok(Some(v));
                }
                // methods of built-in types, unbound: str.upper
                if let Some(t) = tag {
                    if let Some(b) = rt.builtins.method(t, name) {
                        self.incref(b);
                        return Ok(Some(b));
                    }
                }
                return Ok(None);
            }
            Obj::Module(m) => {
                let found = m.attrs.iter().find(|(k, _)| *k == name).map(|&(_, v)| v);
                let mname = m.name.clone();
                drop(g);
                if let Some(v) = found {
                    self.incref(v);
                    return Ok(Some(v));
                }
                if name == sym::__name__ {
                    return Ok(Some(self.new_str(&mname)?));
                }
                return Ok(None);
            }
            Obj::Function(f) => {
                if let Some(&(_, v)) = f.attrs.iter().find(|(k, _)| *k == name) {
                    drop(g);
                    self.incref(v);
                    return Ok(Some(v));
                }
                let s = if name == sym::__name__ {
                    Some(f.name.clone())
                } else if name == sym::__qualname__ {
                    Some(f.qualname.clone())
                } else {
                    None
                };
                drop(g);
                return match s {
                    Some(s) => Ok(Some(self.new_str(&s)?)),
                    None if name == sym::__module__ => Ok(Some(self.new_str("__main__")?)),
                    None => Ok(None),
                };
            }
            Obj::BoundMethod { receiver, func } => {
                let (rv, f) = (*receiver, *func);
                drop(g);
                if name == sym::__self__ {
                    self.incref(rv);
                    return Ok(Some(rv));
                }
                if name == sym::__func__ {
                    self.incref(f);
                    return Ok(Some(f));
                }
                return self.get_attr_opt(f, name);
            }
            Obj::Builtin(b) => {
                let id = b.0;
                drop(g);
                if name == sym::__name__ {
                    let n = super::builtins::builtin_name(id);
                    return Ok(Some(self.new_str(n)?));
                }
                return Ok(None);
            }
            Obj::Range { start, stop, step } => {
                let v = if name == sym::start {
                    Some(*start)
                } else if name == sym::stop {
                    Some(*stop)
                } else if name == sym::step {
                    Some(*step)
                } else {
                    None
                };
                drop(g);
                if let Some(v) = v {
                    return Ok(Some(Value::Int(v)));
                }
                return self.builtin_attr(obj, name);
            }
            Obj::Slice { start, stop, step } => {
                let v = if name == sym::start {
                    Some(*start)
                } else if name == sym::stop {
                    Some(*stop)
                } else if name == sym::step {
                    Some(*step)
                } else {
                    None
                };
                drop(g);
                if let Some(v) = v {
                    self.incref(v);
                    return Ok(Some(v));
                }
                return Ok(None);
            }
            Obj::Super { class, obj: sobj } => {
                let (c, so) = (*class, *sobj);
                drop(g);
                let base = match &*self.get(c)? {
                    Obj::Class(k) => k.base,
                    _ => None,
                };
                let Some(base) = base else { return Ok(None) };
                let Some(f) = self.class_lookup(base, name)? else {
                    // BaseException.__init__ and object.__init__ are built in
                    if name == sym::__init__ {
                        let init = self.rt.builtins.base_init;
                        return Ok(Some(self.bind_method(so, init)?));
                    }
                    return Ok(None);
                };
                return self.bind_if_function(f, so).map(Some);
            }
            _ => {
                drop(g);
                return self.builtin_attr(obj, name);
            }
        };
        drop(g);
        match self.class_lookup(class, name)? {
            Some(f) => self.bind_if_function(f, obj).map(Some),
            None => Ok(None),
        }
    }

    fn bind_if_function(&mut self, f: Value, obj: Value) -> PyResult<Value> {
        let is_func = match f {
            Value::Obj(fr) => matches!(&*self.get(fr)?, Obj::Function(_)),
            _ => false,
        };
        if is_func {
            self.bind_method(obj, f)
        } else {
            self.incref(f);
            Ok(f)
        }
    }

    pub fn bind_method(&mut self, obj: Value, f: Value) -> PyResult<Value> {
        self.incref(obj);
        self.incref(f);
        self.alloc(Obj::BoundMethod {
            receiver: obj,
            func: f,
        })
    }

    /// Attributes of values of built-in types: their methods, bound.
    fn builtin_attr(&mut self, obj: Value, name: Sym) -> PyResult<Option<Value>> {
        let tag = {
            let t = self.type_of(obj)?;
            match &*self.get(t)? {
                Obj::Class(k) => k.tag,
                _ => None,
            }
        };
        let Some(tag) = tag else { return Ok(None) };
        if let TypeTag::Native(_) = tag {
            if let Some(v) = crate::stdlib::native_attr(self, obj, name)? {
                return Ok(Some(v));
            }
        }
        if let (TypeTag::Int | TypeTag::Bool | TypeTag::Float, true) =
            (tag, name == sym::real || name == sym::imag)
        {
            if name == sym::imag {
                return Ok(Some(if tag == TypeTag::Float {
                    Value::Float(0.0)
                } else {
                    Value::Int(0)
                }));
            }
            self.incref(obj);
            return Ok(Some(match obj {
                Value::Bool(b) => Value::Int(b as i64),
                o => o,
            }));
        }
        match self.rt.builtins.method(tag, name) {
            Some(b) => Ok(Some(self.bind_method(obj, b)?)),
            None => Ok(None),
        }
    }

    /// LoadMethod on an object: consumes the reference `r` and pushes
    /// (callable, self) or (callable, Unbound); a receiver that is not an
    /// object goes to `load_method_slow`. The callable of a built-in type's
    /// method is the method's number, an int that only `CallMethod` sees (see
    /// `Vm::call_method`).
    ///
    /// The receiver comes as an `ObjRef`, in a register, not as a `Value`,
    /// which is passed through memory: the loop would copy the stack's top
    /// into a temporary with one 16-byte load, which the processor cannot
    /// serve from the two 8-byte stores that pushed it a moment before (a
    /// failed store-to-load forward waits for the stores to reach the cache).
    ///
    /// Kept small, with everything but the built-in types' methods out of line
    /// in `load_method_slow`: a call into a small function saves and restores
    /// fewer registers (16 instructions a call less in strings.py).
    #[inline(never)]
    pub fn load_method(&mut self, r: ObjRef, name: Sym) -> PyResult<()> {
        // A str, list, tuple, dict or set: its type from the slot's `aux`
        // word, without locking it (the commonest receivers of a call),
        // and the method pushed as its number, not as an object (see
        // `Vm::call_method`).
        // A name that no built-in type has (a user class's method) skips
        // even that.
        let rt = self.rt;
        let named = rt.builtins.methods_named(name);
        if !named.is_empty() {
            if let Some(tag) = rt.heap.aux(r).and_then(crate::heap::aux_method_type) {
                if let Some(&(_, _, id)) = named.iter().find(|(owner, _, _)| *owner == tag) {
                    self.stack
                        .extend_from_slice(&[Value::Int(id as i64), Value::Obj(r)]);
                    return Ok(());
                }
            }
        }
        self.load_method_slow(Value::Obj(r), name)
    }

    /// `load_method` for every receiver but a built-in type's method.
    #[inline(never)]
    pub(super) fn load_method_slow(&mut self, obj: Value, name: Sym) -> PyResult<()> {
        let rt = self.rt;
        if let Value::Obj(r) = obj {
            let g = match rt.heap.get(r) {
                Ok(g) => g,
                Err(e) => {
                    return Err(self.heap_error(e));
                }
            };
            match &*g {
                Obj::Instance(i) if !i.attrs.iter().any(|(k, _)| *k == name) => {
                    let class = i.class;
                    drop(g);
                    if let Some(f @ Value::Obj(fr)) = self.class_lookup(class, name)? {
                        // A function without a closure is known from the slot's
                        // hint, without its lock; any other function by looking.
                        if rt.heap.plain_function_code(fr).is_some()
                            || matches!(&*self.get(fr)?, Obj::Function(_))
                        {
                            self.incref(f);
                            self.stack.extend_from_slice(&[f, obj]);
                            return Ok(());
                        }
                    }
                }
                _ => {}
            }
        }
        let r = self.get_attr(obj, name);
        self.decref(obj);
        let v = r?;
        self.stack.push(v);
        self.stack.push(Value::Unbound);
        Ok(())
    }

    /// `obj.name = v`; takes ownership of `v`.
    pub fn set_attr(&mut self, obj: Value, name: Sym, v: Value) -> PyResult<()> {
        let Value::Obj(r) = obj else {
            self.decref(v);
            let t = self.type_name(obj);
            return Err(PyErr::new(
                ExcKind::AttributeError,
                format!("'{t}' object has no attribute '{}'", sym_name(name)),
            ));
        };
        let mut g = match self.get_mut(r) {
            Ok(g) => g,
            Err(e) => {
                self.decref(v);
                return Err(e);
            }
        };
        let attrs = match &mut *g {
            Obj::Instance(i) => &mut i.attrs,
            Obj::Exception(e) => &mut e.attrs,
            Obj::Function(f) => &mut f.attrs,
            Obj::Module(m) => &mut m.attrs,
            Obj::Class(k) if &*k.module == "builtins" => {
                let tn = k.name.clone();
                drop(g);
                self.decref(v);
                return Err(immutable_type(name, &tn));
            }
            Obj::Class(k) => {
                let old = k.attrs.insert(name, v);
                drop(g);
                if let Some(o) = old {
                    self.decref(o);
                }
                return Ok(());
            }
            _ => {
                drop(g);
                self.decref(v);
                let t = self.type_name(obj);
                return Err(PyErr::new(
                    ExcKind::AttributeError,
                    format!("'{t}' object has no attribute '{}'", sym_name(name)),
                ));
            }
        };
        let old = match attrs.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, v)),
            None => {
                attrs.push((name, v));
                None
            }
        };
        drop(g);
        if let Some(o) = old {
            self.decref(o);
        }
        Ok(())
    }

    pub fn del_attr(&mut self, obj: Value, name: Sym) -> PyResult<()> {
        let Value::Obj(r) = obj else {
            return Err(self.attr_error(obj, name));
        };
        let mut g = self.get_mut(r)?;
        let old = match &mut *g {
            Obj::Class(k) if &*k.module == "builtins" => {
                let tn = k.name.clone();
                drop(g);
                return Err(immutable_type(name, &tn));
            }
            Obj::Instance(i) => i
                .attrs
                .iter()
                .position(|(k, _)| *k == name)
                .map(|p| i.attrs.remove(p).1),
            Obj::Class(k) => k.attrs.remove(&name),
            Obj::Function(f) => f
                .attrs
                .iter()
                .position(|(k, _)| *k == name)
                .map(|p| f.attrs.remove(p).1),
            _ => None,
        };
        drop(g);
        match old {
            Some(o) => {
                self.decref(o);
                Ok(())
            }
            None => Err(self.attr_error(obj, name)),
        }
    }

    /// LoadName (class bodies): namespace, then globals (builtins are globals).
    pub fn load_name(&mut self, ns: Value, name: Sym) -> PyResult<Value> {
        if let Value::Obj(d) = ns {
            let key = crate::heap::DictKey::Str(sym_name(name).into());
            let v = match &*self.get(d)? {
                Obj::Dict(dd) => dd.get(&self.rt.heap, &key),
                _ => None,
            };
            if let Some(v) = v {
                self.incref(v);
                return Ok(v);
            }
        }
        if let Some(&slot) = self.rt.global_by_sym.get(&name) {
            let v = self.rt.globals[slot as usize].load();
            if !matches!(v, Value::Unbound) {
                self.incref(v);
                return Ok(v);
            }
        }
        Err(super::interp::name_error(&sym_name(name)))
    }

    pub fn ns_store(&mut self, ns: Value, name: Sym, v: Value) -> PyResult<()> {
        let key = self.new_str(&sym_name(name))?;
        self.dict_set(ns, key, v)
    }

    /// Contents of a cell (a new reference), or Unbound.
    #[inline]
    pub fn cell_get(&mut self, cell: Value) -> PyResult<Value> {
        let Value::Obj(r) = cell else {
            return Ok(Value::Unbound);
        };
        let rt = self.rt;
        let v = match rt.heap.get(r) {
            Ok(g) => match &*g {
                Obj::Cell(v) => *v,
                _ => Value::Unbound,
            },
            Err(e) => return Err(self.heap_error(e)),
        };
        rt.heap.incref(&mut self.local, v);
        Ok(v)
    }

    /// Store into a cell, taking ownership of `v`.
    #[inline]
    pub fn cell_set(&mut self, cell: Value, v: Value) -> PyResult<()> {
        let Value::Obj(r) = cell else {
            self.decref(v);
            return Ok(());
        };
        let rt = self.rt;
        let old = match rt.heap.get_mut(r) {
            Ok(mut g) => match &mut *g {
                Obj::Cell(c) => std::mem::replace(c, v),
                _ => v,
            },
            Err(e) => {
                self.decref(v);
                return Err(self.heap_error(e));
            }
        };
        rt.heap.decref(&mut self.local, old);
        Ok(())
    }

    pub fn module_name(&mut self, m: Value) -> String {
        match m {
            Value::Obj(r) => match self.rt.heap.get(r).as_deref() {
                Ok(Obj::Module(m)) => m.name.to_string(),
                _ => "?".into(),
            },
            _ => "?".into(),
        }
    }

    /// `import name`: built-in modules only, created once per program.
    pub fn import(&mut self, name: Sym) -> PyResult<Value> {
        if let Some(&m) = self.rt.modules.lock().get(&name) {
            self.incref(m);
            return Ok(m);
        }
        let n = sym_name(name);
        let m = crate::stdlib::create_module(self, &n)?;
        let Some(m) = m else {
            return Err(PyErr::new(
                ExcKind::ModuleNotFoundError,
                format!("No module named '{n}'"),
            ));
        };
        let mut mods = self.rt.modules.lock();
        if let Some(&existing) = mods.get(&name) {
            drop(mods);
            self.decref(m);
            self.incref(existing);
            return Ok(existing);
        }
        mods.insert(name, m);
        drop(mods);
        self.incref(m);
        Ok(m)
    }

    /// BeforeWith: push ctx.__exit__ (bound) and the result of ctx.__enter__().
    /// For `async with`, the same with `__aenter__` and `__aexit__`.
    pub fn before_with(&mut self, ctx: Value, is_async: bool) -> PyResult<()> {
        let (en, ex) = if is_async {
            (sym::__aenter__, sym::__aexit__)
        } else {
            (sym::__enter__, sym::__exit__)
        };
        let enter = self.get_attr_opt(ctx, en)?;
        let exit = match enter {
            Some(_) => self.get_attr_opt(ctx, ex)?,
            None => None,
        };
        let (Some(enter), Some(exit)) = (enter, exit) else {
            if let Some(e) = enter {
                self.decref(e);
            }
            let t = self.type_name(ctx);
            let what = if is_async { "the asynchronous" } else { "the" };
            return Err(PyErr::type_error(format!(
                "'{t}' object does not support {what} context manager protocol"
            )));
        };
        self.stack.push(exit);
        let r = self.call_value(enter, &[], &[]);
        self.decref(enter);
        let v = r?;
        self.stack.push(v);
        Ok(())
    }

    /// `raise X`: X may be a class (instantiated with no arguments) or an instance.
    /// Consumes the reference to `v`.
    pub fn make_exception(&mut self, v: Value) -> PyErr {
        let Value::Obj(r) = v else {
            self.decref(v);
            return PyErr::type_error("exceptions must derive from BaseException");
        };
        let kind = match self.rt.heap.get(r).as_deref() {
            Ok(Obj::Exception(_)) => 0,
            Ok(Obj::Class(k)) if k.tag == Some(TypeTag::Exception) => 1,
            _ => 2,
        };
        match kind {
            0 => PyErr::from_obj(r),
            1 => {
                let res = self.instantiate(r, Some(TypeTag::Exception), &[], &[]);
                self.decref(v);
                match res {
                    Ok(Value::Obj(e)) => PyErr::from_obj(e),
                    Ok(_) => PyErr::type_error("exceptions must derive from BaseException"),
                    Err(e) => e,
                }
            }
            _ => {
                self.decref(v);
                PyErr::type_error("exceptions must derive from BaseException")
            }
        }
    }

    /// `except T:` where T is a class or a tuple of classes.
    pub fn exc_match_value(&mut self, exc: Value, ty: Value) -> PyResult<bool> {
        let Value::Obj(t) = ty else {
            return Err(PyErr::type_error(
                "catching classes that do not inherit from BaseException is not allowed",
            ));
        };
        // `except ValueError:`, the commonest clause: a built-in class, matched
        // against the exception's class without looking at `ty` on the heap.
        let rt = self.rt;
        if let Some(k) = rt.builtins.exc_kind_of(t) {
            let Value::Obj(e) = exc else {
                return Ok(false);
            };
            let class = match &*self.get(e)? {
                Obj::Exception(x) => Some(x.class),
                _ => None,
            };
            return Ok(match class {
                Some(c) => match rt.builtins.exc_kind_of(c) {
                    Some(ck) => super::exceptions::kind_is_subclass(ck, k),
                    None => self.is_subclass(c, t),
                },
                None => self.exc_matches(exc, t)?,
            });
        }
        let items = match &*self.get(t)? {
            Obj::Tuple(items) => Some(items.to_vec()),
            Obj::Class(_) => None,
            _ => {
                return Err(PyErr::type_error(
                    "catching classes that do not inherit from BaseException is not allowed",
                ))
            }
        };
        match items {
            Some(items) => {
                for i in items {
                    if self.exc_match_value(exc, i)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            None => self.exc_matches(exc, t),
        }
    }

    /// `isinstance(v, cls)`.
    pub fn isinstance(&mut self, v: Value, cls: ObjRef) -> PyResult<bool> {
        let t = self.type_of(v)?;
        Ok(self.is_subclass(t, cls))
    }
}

/// Built-in classes cannot change, as in CPython: which is also what lets the
/// VM create and match built-in exceptions without looking their attributes up.
fn immutable_type(name: Sym, type_name: &str) -> PyErr {
    PyErr::type_error(format!(
        "cannot set '{}' attribute of immutable type '{type_name}'",
        sym_name(name)
    ))
}

pub fn tag_of_obj(o: &Obj) -> TypeTag {
    match o {
        Obj::Free => TypeTag::NoneType,
        Obj::Str(_) => TypeTag::Str,
        Obj::BigInt(_) => TypeTag::Int,
        Obj::List(_) => TypeTag::List,
        Obj::Tuple(_) => TypeTag::Tuple,
        Obj::Dict(_) => TypeTag::Dict,
        Obj::Set(_) => TypeTag::Set,
        Obj::Range { .. } => TypeTag::Range,
        Obj::Slice { .. } => TypeTag::Slice,
        Obj::Function(_) => TypeTag::Function,
        Obj::BoundMethod { .. } => TypeTag::Method,
        Obj::Builtin(_) => TypeTag::BuiltinFunction,
        Obj::Class(_) => TypeTag::Type,
        Obj::Instance(_) => TypeTag::Object,
        Obj::Exception(_) => TypeTag::Exception,
        Obj::Module(_) => TypeTag::Module,
        Obj::Cell(_) => TypeTag::Cell,
        Obj::Iter(_) => TypeTag::Iterator,
        Obj::DictView { kind, .. } => match kind {
            ViewKind::Keys => TypeTag::DictKeys,
            ViewKind::Values => TypeTag::DictValues,
            ViewKind::Items => TypeTag::DictItems,
        },
        Obj::Super { .. } => TypeTag::Object,
        Obj::Native(n) => TypeTag::Native(n.kind()),
        Obj::Generator(g) => {
            if g.is_coroutine {
                TypeTag::Coroutine
            } else {
                TypeTag::Generator
            }
        }
    }
}
