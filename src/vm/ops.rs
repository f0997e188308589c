//! The slow paths of operators: everything `interp` does not do inline.
//!
//! Arithmetic follows Python exactly: ints are unboxed i64 until a result overflows,
//! then big integers (`num-bigint`); floor division and modulo round toward negative
//! infinity; `/` on ints gives a correctly rounded float. Messages are CPython 3.11's.

use super::{ExcKind, PyErr, PyResult, Vm};
use crate::bytecode::{intern, sym, BinOpKind, CmpKind, Sym};
use crate::heap::{Obj, Value, AUX_BIGINT, AUX_STR};
use crate::text;
use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{Signed, ToPrimitive, Zero};

/// A number, as arithmetic sees it.
pub enum Num {
    I(i64),
    B(BigInt),
    F(f64),
}

impl Num {
    fn to_big(&self) -> BigInt {
        match self {
            Num::I(i) => BigInt::from(*i),
            Num::B(b) => b.clone(),
            Num::F(f) => BigInt::from(*f as i64),
        }
    }
    fn to_f64(&self) -> PyResult<f64> {
        match self {
            Num::I(i) => Ok(*i as f64),
            Num::F(f) => Ok(*f),
            Num::B(b) => Ok(text::int::bigint_to_f64(b)?),
        }
    }
}

fn zero_mod() -> PyErr {
    PyErr::new(ExcKind::ZeroDivisionError, "integer modulo by zero")
}

fn zero_div() -> PyErr {
    PyErr::new(
        ExcKind::ZeroDivisionError,
        "integer division or modulo by zero",
    )
}

pub fn dunder_for(op: BinOpKind) -> (&'static str, &'static str) {
    use BinOpKind::*;
    match op {
        Add => ("__add__", "__radd__"),
        Sub => ("__sub__", "__rsub__"),
        Mul => ("__mul__", "__rmul__"),
        TrueDiv => ("__truediv__", "__rtruediv__"),
        FloorDiv => ("__floordiv__", "__rfloordiv__"),
        Mod => ("__mod__", "__rmod__"),
        Pow => ("__pow__", "__rpow__"),
        LShift => ("__lshift__", "__rlshift__"),
        RShift => ("__rshift__", "__rrshift__"),
        And => ("__and__", "__rand__"),
        Or => ("__or__", "__ror__"),
        Xor => ("__xor__", "__rxor__"),
        MatMul => ("__matmul__", "__rmatmul__"),
    }
}

impl Vm {
    pub fn num_of(&mut self, v: Value) -> PyResult<Option<Num>> {
        Ok(match v {
            Value::Int(i) => Some(Num::I(i)),
            Value::Bool(b) => Some(Num::I(b as i64)),
            Value::Float(f) => Some(Num::F(f)),
            // Only a big int is a number among objects, and the slot's `aux`
            // word says which objects are, without their lock (a stale handle
            // has no `aux` and takes the checked way, which reports it).
            Value::Obj(r) if self.rt.heap.aux(r).is_some_and(|a| a & 0xff != AUX_BIGINT) => None,
            Value::Obj(r) => match &*self.get(r)? {
                Obj::BigInt(b) => Some(Num::B(b.clone())),
                _ => None,
            },
            _ => None,
        })
    }

    pub fn binary_op(&mut self, op: BinOpKind, a: Value, b: Value) -> PyResult<Value> {
        if let (Value::Bool(x), Value::Bool(y)) = (a, b) {
            match op {
                BinOpKind::And => return Ok(Value::Bool(x & y)),
                BinOpKind::Or => return Ok(Value::Bool(x | y)),
                BinOpKind::Xor => return Ok(Value::Bool(x ^ y)),
                _ => {}
            }
        }
        // `str + str` first: the concatenation of strings.py and dicts.py
        // (`words[i] + str(n)`), known from the `aux` words without locks.
        if let (BinOpKind::Add, Value::Obj(ra), Value::Obj(rb)) = (op, a, b) {
            let heap = &self.rt.heap;
            let is_str = |r| heap.aux(r).is_some_and(|a| a & 0xff == AUX_STR);
            if is_str(ra) && is_str(rb) {
                if let Some(v) = self.seq_binop(op, a, b)? {
                    return Ok(v);
                }
            }
        }
        if let Some(x) = self.num_of(a)? {
            if let Some(y) = self.num_of(b)? {
                return self.num_binop(op, x, y);
            }
        }
        if let Some(v) = self.seq_binop(op, a, b)? {
            return Ok(v);
        }
        let (name, rname) = dunder_for(op);
        if let Some(v) = self.call_dunder(a, intern(name), &[b])? {
            return Ok(v);
        }
        if let Some(v) = self.call_dunder(b, intern(rname), &[a])? {
            return Ok(v);
        }
        let (ta, tb) = (self.type_name(a), self.type_name(b));
        let is_seq = |t: &str| t == "str" || t == "list" || t == "tuple";
        if op == BinOpKind::Mul && (is_seq(&ta) || is_seq(&tb)) {
            let other = if is_seq(&ta) { &tb } else { &ta };
            if other == "int" {
                return Err(PyErr::new(
                    ExcKind::OverflowError,
                    "cannot fit 'int' into an index-sized integer",
                ));
            }
            return Err(PyErr::type_error(format!(
                "can't multiply sequence by non-int of type '{other}'"
            )));
        }
        if op == BinOpKind::Add && (ta == "str" || ta == "list" || ta == "tuple") {
            return Err(PyErr::type_error(format!(
                "can only concatenate {ta} (not \"{tb}\") to {ta}"
            )));
        }
        let sym = if op == BinOpKind::Pow {
            "** or pow()"
        } else {
            op.symbol()
        };
        Err(PyErr::type_error(format!(
            "unsupported operand type(s) for {sym}: '{ta}' and '{tb}'"
        )))
    }

    /// `a op= b`: lists change in place, user classes may define `__iadd__` and
    /// friends; everything else is `a op b`.
    pub fn inplace_op(&mut self, op: BinOpKind, a: Value, b: Value) -> PyResult<Value> {
        if let Value::Obj(r) = a {
            let is_list = matches!(&*self.get(r)?, Obj::List(_));
            if is_list && op == BinOpKind::Add {
                self.list_extend(a, b)?;
                self.incref(a);
                return Ok(a);
            }
            if is_list && op == BinOpKind::Mul {
                if let Some(n) = repeat_count(b) {
                    let items = match &*self.get(r)? {
                        Obj::List(l) => l.clone(),
                        _ => vec![],
                    };
                    let n = n.max(0) as usize;
                    if items.len().saturating_mul(n).saturating_mul(16)
                        > self.rt.heap.max_bytes() as usize
                    {
                        return Err(PyErr::new(ExcKind::MemoryError, ""));
                    }
                    let mut all = Vec::with_capacity(items.len() * n);
                    for _ in 0..n {
                        all.extend_from_slice(&items);
                    }
                    for &x in &all {
                        self.incref(x);
                    }
                    let old = match &mut *self.get_mut(r)? {
                        Obj::List(l) => std::mem::replace(l, all),
                        _ => vec![],
                    };
                    self.decref_all(old);
                    self.incref(a);
                    return Ok(a);
                }
            }
            if matches!(&*self.get(r)?, Obj::Instance(_)) {
                let (name, _) = dunder_for(op);
                let iname = format!("__i{}", &name[2..]);
                if let Some(v) = self.call_dunder(a, intern(&iname), &[b])? {
                    return Ok(v);
                }
            }
        }
        self.binary_op(op, a, b).map_err(|mut e| {
            // Python names the augmented operator: "for +=: 'int' and 'str'".
            if let super::exceptions::ErrRepr::New {
                kind: ExcKind::TypeError,
                msg,
            } = &mut *e.0
            {
                let sym = if op == BinOpKind::Pow {
                    "** or pow()"
                } else {
                    op.symbol()
                };
                let plain = format!("unsupported operand type(s) for {sym}:");
                if let Some(rest) = msg.strip_prefix(&plain) {
                    *msg = format!("unsupported operand type(s) for {}=:{rest}", op.symbol());
                }
            }
            e
        })
    }

    /// Calls `obj.name(*args)` if obj's class (a user class) defines `name`.
    pub fn call_dunder(
        &mut self,
        obj: Value,
        name: Sym,
        args: &[Value],
    ) -> PyResult<Option<Value>> {
        let Value::Obj(r) = obj else { return Ok(None) };
        let class = match &*self.get(r)? {
            Obj::Instance(i) => i.class,
            Obj::Exception(e) => e.class,
            _ => return Ok(None),
        };
        let Some(f) = self.class_lookup(class, name)? else {
            return Ok(None);
        };
        let mut full = Vec::with_capacity(args.len() + 1);
        full.push(obj);
        full.extend_from_slice(args);
        let v = self.call_value(f, &full, &[])?;
        if let Some(ni) = self.rt.builtins.not_implemented {
            if v.is(Value::Obj(ni)) {
                self.decref(v);
                return Ok(None);
            }
        }
        Ok(Some(v))
    }

    pub fn num_binop(&mut self, op: BinOpKind, x: Num, y: Num) -> PyResult<Value> {
        use BinOpKind::*;
        if matches!(x, Num::F(_)) || matches!(y, Num::F(_)) {
            if matches!(op, LShift | RShift | And | Or | Xor | MatMul) {
                let tx = if matches!(x, Num::F(_)) {
                    "float"
                } else {
                    "int"
                };
                let ty = if matches!(y, Num::F(_)) {
                    "float"
                } else {
                    "int"
                };
                return Err(PyErr::type_error(format!(
                    "unsupported operand type(s) for {}: '{tx}' and '{ty}'",
                    op.symbol()
                )));
            }
            let (a, b) = (x.to_f64()?, y.to_f64()?);
            return Ok(Value::Float(match op {
                Add => a + b,
                Sub => a - b,
                Mul => a * b,
                TrueDiv => {
                    if b == 0.0 {
                        return Err(PyErr::new(
                            ExcKind::ZeroDivisionError,
                            "float division by zero",
                        ));
                    }
                    a / b
                }
                FloorDiv => text::float::float_floordiv(a, b)?,
                Mod => text::float::float_mod(a, b)?,
                Pow => text::float::float_pow(a, b)?,
                _ => 0.0,
            }));
        }
        if let (Num::I(a), Num::I(b)) = (&x, &y) {
            let (a, b) = (*a, *b);
            let r = match op {
                Add => a.checked_add(b),
                Sub => a.checked_sub(b),
                Mul => a.checked_mul(b),
                FloorDiv => {
                    if b == 0 {
                        return Err(zero_div());
                    }
                    a.checked_div_euclid(b).map(|_| Integer::div_floor(&a, &b))
                }
                Mod => {
                    if b == 0 {
                        return Err(zero_mod());
                    }
                    a.checked_rem(b).map(|_| Integer::mod_floor(&a, &b))
                }
                TrueDiv => {
                    if b == 0 {
                        return Err(PyErr::new(ExcKind::ZeroDivisionError, "division by zero"));
                    }
                    if a.unsigned_abs() < (1 << 53) && b.unsigned_abs() < (1 << 53) {
                        return Ok(Value::Float(a as f64 / b as f64));
                    }
                    return Ok(Value::Float(text::int::true_div(
                        &BigInt::from(a),
                        &BigInt::from(b),
                    )?));
                }
                And => Some(a & b),
                Or => Some(a | b),
                Xor => Some(a ^ b),
                LShift => {
                    if b < 0 {
                        return Err(PyErr::value_error("negative shift count"));
                    }
                    if b < 63 && (a.unsigned_abs() >> (63 - b)) == 0 {
                        Some(a << b)
                    } else {
                        None
                    }
                }
                RShift => {
                    if b < 0 {
                        return Err(PyErr::value_error("negative shift count"));
                    }
                    Some(if b >= 64 {
                        if a < 0 {
                            -1
                        } else {
                            0
                        }
                    } else {
                        a >> b
                    })
                }
                Pow => {
                    if b < 0 {
                        if a == 0 {
                            return Err(PyErr::new(
                                ExcKind::ZeroDivisionError,
                                "0.0 cannot be raised to a negative power",
                            ));
                        }
                        return Ok(Value::Float(text::float::float_pow(a as f64, b as f64)?));
                    }
                    u32::try_from(b).ok().and_then(|e| a.checked_pow(e))
                }
                MatMul => {
                    return Err(PyErr::type_error(
                        "unsupported operand type(s) for @: 'int' and 'int'",
                    ))
                }
            };
            if let Some(r) = r {
                return Ok(Value::Int(r));
            }
        }
        // Big integer path.
        let (a, b) = (x.to_big(), y.to_big());
        let r = match op {
            Add => a + b,
            Sub => a - b,
            Mul => {
                if a.bits() + b.bits() > 64 * 1024 * 1024 * 8 {
                    return Err(PyErr::new(ExcKind::MemoryError, ""));
                }
                a * b
            }
            FloorDiv => {
                if b.is_zero() {
                    return Err(zero_div());
                }
                a.div_floor(&b)
            }
            Mod => {
                if b.is_zero() {
                    return Err(zero_mod());
                }
                a.mod_floor(&b)
            }
            TrueDiv => return Ok(Value::Float(text::int::true_div(&a, &b)?)),
            And => a & b,
            Or => a | b,
            Xor => a ^ b,
            LShift => {
                let Some(s) = b.to_u64().filter(|s| *s < (1 << 32)) else {
                    if b.is_negative() {
                        return Err(PyErr::value_error("negative shift count"));
                    }
                    return Err(PyErr::new(
                        ExcKind::OverflowError,
                        "too many digits in integer",
                    ));
                };
                if a.bits() + s > 1 << 30 {
                    return Err(PyErr::new(ExcKind::MemoryError, ""));
                }
                a << s
            }
            RShift => {
                if b.is_negative() {
                    return Err(PyErr::value_error("negative shift count"));
                }
                let s = b.to_u64().unwrap_or(u64::MAX).min(1 << 32);
                if s > a.bits() {
                    if a.is_negative() {
                        BigInt::from(-1)
                    } else {
                        BigInt::zero()
                    }
                } else {
                    a >> s
                }
            }
            Pow => {
                if b.is_negative() {
                    let fa = text::int::bigint_to_f64(&a)?;
                    let fb = text::int::bigint_to_f64(&b)?;
                    return Ok(Value::Float(text::float::float_pow(fa, fb)?));
                }
                let Some(e) = b.to_u32() else {
                    if a.is_zero() || a == BigInt::from(1) {
                        return self.new_int(a);
                    }
                    return Err(PyErr::new(ExcKind::MemoryError, ""));
                };
                if (a.bits() as f64) * (e as f64) > 8.0 * 64.0 * 1024.0 * 1024.0 {
                    return Err(PyErr::new(ExcKind::MemoryError, ""));
                }
                num_traits::Pow::pow(a, e)
            }
            MatMul => return Err(PyErr::type_error("unsupported operand type(s) for @")),
        };
        self.new_int(r)
    }

    fn seq_binop(&mut self, op: BinOpKind, a: Value, b: Value) -> PyResult<Option<Value>> {
        let (Value::Obj(ra), rb) = (a, b) else {
            // int * sequence
            if let (BinOpKind::Mul, Value::Int(_) | Value::Bool(_), Value::Obj(_)) = (op, a, b) {
                return self.seq_binop(op, b, a);
            }
            return Ok(None);
        };
        let ga = self.get(ra)?;
        match (&*ga, op) {
            (Obj::Str(sa), BinOpKind::Add) => {
                let Value::Obj(rb) = rb else { return Ok(None) };
                // `s + s`: one object, locked once.
                let gb = self.get_other(ra, rb)?;
                if let Obj::Str(sb) = gb.as_deref().unwrap_or(&ga) {
                    // Straight into the shared string, and the character count
                    // is known: no temporary String, no second scan.
                    let nchars = sa.nchars + sb.nchars;
                    let mut s = std::mem::take(&mut self.scratch);
                    s.clear();
                    s.push_str(&sa.s);
                    s.push_str(&sb.s);
                    drop(gb);
                    drop(ga);
                    let made = if s.len() <= crate::heap::Text::INLINE_CAP {
                        self.alloc_short_str(&s, nchars, |_| {}).map(Value::Obj)
                    } else {
                        let obj = crate::heap::StrObj::with_nchars(crate::heap::text(&s), nchars);
                        self.alloc_str(obj)
                    };
                    self.scratch = s;
                    return Ok(Some(made?));
                }
                Ok(None)
            }
            (Obj::Str(sa), BinOpKind::Mul) => {
                let Some(n) = repeat_count(rb) else {
                    return Ok(None);
                };
                let n = n.max(0) as usize;
                let total = sa.s.len().saturating_mul(n);
                if total > (self.rt.heap.max_bytes() as usize) {
                    return Err(PyErr::new(ExcKind::MemoryError, ""));
                }
                let s = sa.s.repeat(n);
                drop(ga);
                Ok(Some(self.new_string(s)?))
            }
            (Obj::Str(_), BinOpKind::Mod) => Err(PyErr::type_error(
                "printf-style '%' formatting is not supported in Toy; use an f-string",
            )),
            (Obj::List(la), BinOpKind::Add) => {
                let Value::Obj(rb) = rb else { return Ok(None) };
                let gb = self.get_other(ra, rb)?;
                if let Obj::List(lb) = gb.as_deref().unwrap_or(&ga) {
                    let mut v = Vec::with_capacity(la.len() + lb.len());
                    v.extend_from_slice(la);
                    v.extend_from_slice(lb);
                    drop(gb);
                    drop(ga);
                    for &x in &v {
                        self.incref(x);
                    }
                    self.rt
                        .heap
                        .charge(v.len() * 16)
                        .map_err(|e| self.heap_error(e))?;
                    self.rt.heap.uncharge(v.len() * 16);
                    return Ok(Some(self.new_list(v)?));
                }
                Ok(None)
            }
            (Obj::Tuple(la), BinOpKind::Add) => {
                let Value::Obj(rb) = rb else { return Ok(None) };
                let gb = self.get_other(ra, rb)?;
                if let Obj::Tuple(lb) = gb.as_deref().unwrap_or(&ga) {
                    let mut v = Vec::with_capacity(la.len() + lb.len());
                    v.extend_from_slice(la);
                    v.extend_from_slice(lb);
                    drop(gb);
                    drop(ga);
                    for &x in &v {
                        self.incref(x);
                    }
                    return Ok(Some(self.new_tuple(v)?));
                }
                Ok(None)
            }
            (Obj::List(_), BinOpKind::Mul) | (Obj::Tuple(_), BinOpKind::Mul) => {
                let Some(n) = repeat_count(rb) else {
                    return Ok(None);
                };
                let items: Vec<Value> = match &*ga {
                    Obj::Tuple(t) => t.to_vec(),
                    Obj::List(l) => l.clone(),
                    _ => vec![],
                };
                let is_list = matches!(&*ga, Obj::List(_));
                drop(ga);
                let n = n.max(0) as usize;
                let total = items.len().saturating_mul(n);
                if total.saturating_mul(16) > self.rt.heap.max_bytes() as usize {
                    return Err(PyErr::new(ExcKind::MemoryError, ""));
                }
                let v = match items[..] {
                    // `[x] * n`, the common form, fills without a copy per repeat.
                    [x] => vec![x; total],
                    _ => {
                        let mut v = Vec::with_capacity(total);
                        for _ in 0..n {
                            v.extend_from_slice(&items);
                        }
                        v
                    }
                };
                // Only objects have counts: `[0] * n` and `[True] * n` take none.
                if items.iter().any(|x| matches!(x, Value::Obj(_))) {
                    for &x in &v {
                        self.incref(x);
                    }
                }
                Ok(Some(if is_list {
                    self.new_list(v)?
                } else {
                    self.new_tuple(v)?
                }))
            }
            _ => Ok(None),
        }
    }

    pub fn unary_neg(&mut self, a: Value) -> PyResult<Value> {
        match self.num_of(a)? {
            Some(Num::I(i)) => self.new_int(-BigInt::from(i)),
            Some(Num::B(b)) => self.new_int(-b),
            Some(Num::F(f)) => Ok(Value::Float(-f)),
            None => match self.call_dunder(a, intern("__neg__"), &[])? {
                Some(v) => Ok(v),
                None => {
                    let t = self.type_name(a);
                    Err(PyErr::type_error(format!(
                        "bad operand type for unary -: '{t}'"
                    )))
                }
            },
        }
    }

    pub fn unary_pos(&mut self, a: Value) -> PyResult<Value> {
        match self.num_of(a)? {
            Some(Num::I(i)) => Ok(Value::Int(i)),
            Some(Num::B(b)) => self.new_int(b),
            Some(Num::F(f)) => Ok(Value::Float(f)),
            None => {
                let t = self.type_name(a);
                Err(PyErr::type_error(format!(
                    "bad operand type for unary +: '{t}'"
                )))
            }
        }
    }

    pub fn unary_invert(&mut self, a: Value) -> PyResult<Value> {
        match self.num_of(a)? {
            Some(Num::I(i)) => Ok(Value::Int(!i)),
            Some(Num::B(b)) => self.new_int(-b - 1),
            _ => {
                let t = self.type_name(a);
                Err(PyErr::type_error(format!(
                    "bad operand type for unary ~: '{t}'"
                )))
            }
        }
    }

    /// Python truth value.
    pub fn truthy(&mut self, v: Value) -> PyResult<bool> {
        Ok(match v {
            Value::None | Value::Unbound => false,
            Value::Bool(b) => b,
            Value::Int(i) => i != 0,
            Value::Float(f) => f != 0.0,
            Value::Obj(r) => {
                let g = self.get(r)?;
                match &*g {
                    Obj::Str(s) => !s.s.is_empty(),
                    Obj::List(l) => !l.is_empty(),
                    Obj::Tuple(t) => !t.is_empty(),
                    Obj::Dict(d) | Obj::Set(d) => !d.is_empty(),
                    Obj::BigInt(b) => !b.is_zero(),
                    Obj::Range { start, stop, step } => range_len(*start, *stop, *step) > 0,
                    Obj::Instance(_) => {
                        drop(g);
                        if let Some(b) = self.call_dunder(v, sym::__bool__, &[])? {
                            if let Value::Bool(t) = b {
                                return Ok(t);
                            }
                            let t = self.type_name(b);
                            self.decref(b);
                            return Err(PyErr::type_error(format!(
                                "__bool__ should return bool, returned {t}"
                            )));
                        }
                        if let Some(n) = self.call_dunder(v, sym::__len__, &[])? {
                            return match n {
                                Value::Int(i) if i < 0 => {
                                    Err(PyErr::value_error("__len__() should return >= 0"))
                                }
                                Value::Int(i) => Ok(i != 0),
                                Value::Bool(b) => Ok(b),
                                _ => {
                                    let t = self.type_name(n);
                                    self.decref(n);
                                    Err(PyErr::type_error(format!(
                                        "'{t}' object cannot be interpreted as an integer"
                                    )))
                                }
                            };
                        }
                        true
                    }
                    _ => true,
                }
            }
        })
    }

    /// `a == b` as a bool (identity first, as CPython's containers do).
    pub fn eq(&mut self, a: Value, b: Value) -> PyResult<bool> {
        if a.is(b) {
            if let Value::Float(f) = a {
                return Ok(!f.is_nan());
            }
            return Ok(true);
        }
        match (a, b) {
            (Value::Int(x), Value::Int(y)) => return Ok(x == y),
            (Value::Obj(ra), Value::Obj(rb)) => {
                let pair = self.get_pair(ra, rb)?;
                let (ga, gb) = (&pair.first, pair.second());
                match (&**ga, gb) {
                    (Obj::Str(x), Obj::Str(y)) => return Ok(x.s == y.s),
                    (Obj::BigInt(x), Obj::BigInt(y)) => return Ok(x == y),
                    (Obj::List(x), Obj::List(y)) => {
                        if x.len() != y.len() {
                            return Ok(false);
                        }
                        let (x, y) = (x.clone(), y.clone());
                        drop(pair);
                        return self.seq_eq(&x, &y);
                    }
                    (Obj::Tuple(x), Obj::Tuple(y)) => {
                        if x.len() != y.len() {
                            return Ok(false);
                        }
                        let (x, y) = (x.to_vec(), y.to_vec());
                        drop(pair);
                        return self.seq_eq(&x, &y);
                    }
                    (Obj::Dict(x), Obj::Dict(y)) => {
                        if x.len() != y.len() {
                            return Ok(false);
                        }
                        let pairs: Vec<(Value, Value)> = x.iter().collect();
                        drop(pair);
                        return self.nested_cmp(|vm| {
                            for (k, v) in pairs {
                                let key = vm.dict_key(k)?;
                                let other = match &*vm.get(rb)? {
                                    Obj::Dict(d) => d.get(&vm.rt.heap, &key),
                                    _ => None,
                                };
                                match other {
                                    Some(o) => {
                                        if !vm.eq(v, o)? {
                                            return Ok(false);
                                        }
                                    }
                                    None => return Ok(false),
                                }
                            }
                            Ok(true)
                        });
                    }
                    (Obj::Set(x), Obj::Set(y)) => {
                        if x.len() != y.len() {
                            return Ok(false);
                        }
                        let keys: Vec<Value> = x.iter().map(|(k, _)| k).collect();
                        drop(pair);
                        for k in keys {
                            let key = self.dict_key(k)?;
                            let found = match &*self.get(rb)? {
                                Obj::Set(d) => d.contains(&self.rt.heap, &key),
                                _ => false,
                            };
                            if !found {
                                return Ok(false);
                            }
                        }
                        return Ok(true);
                    }
                    (Obj::Range { .. }, Obj::Range { .. }) => {
                        let (
                            Obj::Range {
                                start: a1,
                                stop: b1,
                                step: c1,
                            },
                            Obj::Range {
                                start: a2,
                                stop: b2,
                                step: c2,
                            },
                        ) = (&**ga, gb)
                        else {
                            return Ok(false);
                        };
                        let (l1, l2) = (range_len(*a1, *b1, *c1), range_len(*a2, *b2, *c2));
                        return Ok(l1 == l2 && (l1 == 0 || (a1 == a2 && (l1 == 1 || c1 == c2))));
                    }
                    (Obj::Instance(_), _) | (_, Obj::Instance(_)) | (Obj::Exception(_), _) => {
                        drop(pair);
                    }
                    _ => return Ok(false),
                }
            }
            _ => {}
        }
        if let (Some(x), Some(y)) = (self.num_of(a)?, self.num_of(b)?) {
            return Ok(num_cmp(&x, &y) == Some(std::cmp::Ordering::Equal));
        }
        if let Some(r) = self.call_dunder(a, sym::__eq__, &[b])? {
            let t = self.truthy(r);
            self.decref(r);
            return t;
        }
        if let Some(r) = self.call_dunder(b, sym::__eq__, &[a])? {
            let t = self.truthy(r);
            self.decref(r);
            return t;
        }
        Ok(false)
    }

    /// Items compared in turn (see `nested_cmp`).
    fn seq_eq(&mut self, x: &[Value], y: &[Value]) -> PyResult<bool> {
        self.nested_cmp(|vm| {
            for (&p, &q) in x.iter().zip(y) {
                if !vm.eq(p, q)? {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }

    /// One level of a comparison of containers, whose items compare
    /// recursively: past the recursion limit a RecursionError, as CPython's
    /// `Py_EnterRecursiveCall(" in comparison")` makes it.
    fn nested_cmp<T>(&mut self, f: impl FnOnce(&mut Vm) -> PyResult<T>) -> PyResult<T> {
        let limit = self
            .rt
            .recursion_limit
            .load(std::sync::atomic::Ordering::Relaxed) as usize;
        if self.frames.len() + self.cmp_depth >= limit {
            return Err(PyErr::new(
                ExcKind::RecursionError,
                "maximum recursion depth exceeded in comparison",
            ));
        }
        self.cmp_depth += 1;
        let out = f(self);
        self.cmp_depth -= 1;
        out
    }

    pub fn compare_op(&mut self, op: CmpKind, a: Value, b: Value) -> PyResult<Value> {
        match op {
            CmpKind::Eq | CmpKind::Ne => {
                // user __eq__/__ne__ may return non-bools; honour __ne__ if defined
                if op == CmpKind::Ne {
                    if let Some(r) = self.call_dunder(a, sym::__ne__, &[b])? {
                        return Ok(r);
                    }
                } else if let Some(r) = self.call_dunder(a, sym::__eq__, &[b])? {
                    return Ok(r);
                }
                let e = self.eq(a, b)?;
                Ok(Value::Bool(if op == CmpKind::Eq { e } else { !e }))
            }
            _ => self.order(op, a, b).map(Value::Bool),
        }
    }

    /// `<`, `<=`, `>`, `>=`.
    pub fn order(&mut self, op: CmpKind, a: Value, b: Value) -> PyResult<bool> {
        use std::cmp::Ordering::*;
        if let (Some(x), Some(y)) = (self.num_of(a)?, self.num_of(b)?) {
            let o = num_cmp(&x, &y);
            return Ok(match o {
                None => false,
                Some(o) => match op {
                    CmpKind::Lt => o == Less,
                    CmpKind::Le => o != Greater,
                    CmpKind::Gt => o == Greater,
                    CmpKind::Ge => o != Less,
                    _ => false,
                },
            });
        }
        if let (Value::Obj(ra), Value::Obj(rb)) = (a, b) {
            let pair = self.get_pair(ra, rb)?;
            let seqs = match (&*pair.first, pair.second()) {
                (Obj::Str(x), Obj::Str(y)) => {
                    let o = x.s.as_str().cmp(y.s.as_str());
                    return Ok(ord_ok(op, o));
                }
                (Obj::List(x), Obj::List(y)) => Some((x.clone(), y.clone())),
                (Obj::Tuple(x), Obj::Tuple(y)) => Some((x.to_vec(), y.to_vec())),
                _ => None,
            };
            drop(pair);
            if let Some((x, y)) = seqs {
                for (&p, &q) in x.iter().zip(&y) {
                    if !self.eq(p, q)? {
                        return self.order(op, p, q);
                    }
                }
                return Ok(ord_ok(op, x.len().cmp(&y.len())));
            }
        }
        let (name, refl) = match op {
            CmpKind::Lt => (sym::__lt__, sym::__gt__),
            CmpKind::Le => (sym::__le__, sym::__ge__),
            CmpKind::Gt => (sym::__gt__, sym::__lt__),
            _ => (sym::__ge__, sym::__le__),
        };
        if let Some(r) = self.call_dunder(a, name, &[b])? {
            let t = self.truthy(r);
            self.decref(r);
            return t;
        }
        if let Some(r) = self.call_dunder(b, refl, &[a])? {
            let t = self.truthy(r);
            self.decref(r);
            return t;
        }
        let (ta, tb) = (self.type_name(a), self.type_name(b));
        Err(PyErr::type_error(format!(
            "'{}' not supported between instances of '{ta}' and '{tb}'",
            op.symbol()
        )))
    }

    /// `item in container`
    pub fn contains(&mut self, container: Value, item: Value) -> PyResult<bool> {
        let Value::Obj(r) = container else {
            let t = self.type_name(container);
            return Err(PyErr::type_error(format!(
                "argument of type '{t}' is not iterable"
            )));
        };
        let g = self.get(r)?;
        match &*g {
            Obj::Str(s) => {
                let hay = s.s.clone();
                drop(g);
                match item {
                    Value::Obj(ir) => {
                        // The item's guard is gone before `type_name` reads it.
                        let found = match &*self.get(ir)? {
                            Obj::Str(n) => Some(hay.contains(&*n.s)),
                            _ => None,
                        };
                        found.ok_or_else(|| {
                            let t = self.type_name(item);
                            PyErr::type_error(format!(
                                "'in <string>' requires string as left operand, not {t}"
                            ))
                        })
                    }
                    _ => {
                        let t = self.type_name(item);
                        Err(PyErr::type_error(format!(
                            "'in <string>' requires string as left operand, not {t}"
                        )))
                    }
                }
            }
            Obj::List(items) => {
                let items = items.clone();
                drop(g);
                self.any_eq(&items, item)
            }
            Obj::Tuple(items) => {
                let items = items.to_vec();
                drop(g);
                self.any_eq(&items, item)
            }
            Obj::Dict(d) | Obj::Set(d) if !matches!(item, Value::Obj(_)) => {
                // An int, float, bool or None: its content takes no lock, so
                // the container's guard can stay.
                let k = crate::heap::dict::scalar_key(item).unwrap_or(crate::heap::DictKey::None);
                Ok(d.contains(&self.rt.heap, &k))
            }
            Obj::Dict(_)
            | Obj::Set(_)
            | Obj::DictView {
                kind: crate::heap::ViewKind::Keys,
                ..
            } => {
                let target = match &*g {
                    Obj::DictView {
                        dict: Value::Obj(d),
                        ..
                    } => *d,
                    _ => r,
                };
                drop(g);
                let k = self.held_key(item)?;
                let found = match &*self.get(target)? {
                    Obj::Dict(d) | Obj::Set(d) => d.contains_ref(&self.rt.heap, k.key_ref()),
                    _ => false,
                };
                Ok(found)
            }
            Obj::Range { start, stop, step } => {
                let (a, b, c) = (*start, *stop, *step);
                drop(g);
                match self.num_of(item)? {
                    Some(Num::I(i)) => Ok(range_len(a, b, c) > 0
                        && ((c > 0 && i >= a && i < b) || (c < 0 && i <= a && i > b))
                        && (i - a) % c == 0),
                    Some(Num::F(f)) if f.fract() == 0.0 => {
                        let i = f as i64;
                        Ok(((c > 0 && i >= a && i < b) || (c < 0 && i <= a && i > b))
                            && (i - a) % c == 0)
                    }
                    _ => Ok(false),
                }
            }
            Obj::Instance(_) => {
                drop(g);
                if let Some(v) = self.call_dunder(container, sym::__contains__, &[item])? {
                    let t = self.truthy(v);
                    self.decref(v);
                    return t;
                }
                let items = self.collect_iterable(container)?;
                let r = self.any_eq(&items, item);
                self.decref_all(items);
                r
            }
            _ => {
                drop(g);
                let items = match self.collect_iterable(container) {
                    Ok(items) => items,
                    Err(e) if e.kind() == Some(ExcKind::TypeError) => {
                        let t = self.type_name(container);
                        return Err(PyErr::type_error(format!(
                            "argument of type '{t}' is not iterable"
                        )));
                    }
                    Err(e) => return Err(e),
                };
                let r = self.any_eq(&items, item);
                self.decref_all(items);
                r
            }
        }
    }

    fn any_eq(&mut self, items: &[Value], item: Value) -> PyResult<bool> {
        for &x in items {
            if self.eq(x, item)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn ord_ok(op: CmpKind, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpKind::Lt => o == Less,
        CmpKind::Le => o != Greater,
        CmpKind::Gt => o == Greater,
        CmpKind::Ge => o != Less,
        CmpKind::Eq => o == Equal,
        CmpKind::Ne => o != Equal,
    }
}

fn repeat_count(v: Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(n),
        Value::Bool(b) => Some(b as i64),
        _ => None,
    }
}

pub fn range_len(start: i64, stop: i64, step: i64) -> i64 {
    let (start, stop, step) = (start as i128, stop as i128, step as i128);
    let n = if step > 0 && start < stop {
        (stop - start - 1) / step + 1
    } else if step < 0 && start > stop {
        (start - stop - 1) / (-step) + 1
    } else {
        0
    };
    n.min(i64::MAX as i128) as i64
}

/// Exact comparison of two numbers (ints and floats mixed, as Python does).
pub fn num_cmp(x: &Num, y: &Num) -> Option<std::cmp::Ordering> {
    match (x, y) {
        (Num::I(a), Num::I(b)) => Some(a.cmp(b)),
        (Num::F(a), Num::F(b)) => a.partial_cmp(b),
        (Num::B(a), Num::B(b)) => Some(a.cmp(b)),
        (Num::I(a), Num::B(b)) => Some(BigInt::from(*a).cmp(b)),
        (Num::B(a), Num::I(b)) => Some(a.cmp(&BigInt::from(*b))),
        (Num::F(f), other) => num_cmp(other, &Num::F(*f)).map(|o| o.reverse()),
        (i, Num::F(f)) => {
            if f.is_nan() {
                return None;
            }
            if f.is_infinite() {
                return Some(if *f > 0.0 {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                });
            }
            // Compare exactly: integer part first, then the fraction.
            let fl = f.floor();
            let fb = BigInt::from(fl as i128);
            let ib = match i {
                Num::I(a) => BigInt::from(*a),
                Num::B(b) => b.clone(),
                Num::F(_) => return None,
            };
            match ib.cmp(&fb) {
                std::cmp::Ordering::Equal => {
                    if *f > fl {
                        Some(std::cmp::Ordering::Less)
                    } else {
                        Some(std::cmp::Ordering::Equal)
                    }
                }
                o => Some(o),
            }
        }
    }
}
