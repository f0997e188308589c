//! A simulated `requests`: `get(url)`, `Session()` (a context manager with
//! `.get`), and responses (`.text`, `.status_code`, `.ok`, `.url`,
//! `raise_for_status()`, usable with `with`).
//!
//! Latency and body come from the seeded network model (`concurrency::net`); the
//! wait happens without the GIL, as a real socket read does; reading `.text`
//! spends CPU in proportion to the body's size *with* the GIL, as decoding does,
//! so responses contend for the lock. URLs on the loopback address are fetched
//! for real. `shims/requests.py` is the same module for CPython.

use super::native;
use crate::bytecode::Sym;
use crate::concurrency::net::{self, NetConfig, NetError, SimResponse};
use crate::heap::{native_kind as nk, NativeObject, Obj, TypeTag, Value};
use crate::vm::builtins::{arity, def, Def, Owner};
use crate::vm::{ExcKind, PyErr, PyResult, Vm};
use std::sync::Arc;

#[derive(Debug)]
pub struct Session {
    pub closed: std::sync::atomic::AtomicBool,
}

#[derive(Debug)]
pub struct Response {
    pub resp: SimResponse,
}

plain_native!(Session, nk::SESSION);
plain_native!(Response, nk::RESPONSE);

/// The network settings of this run (`--seed`, `--latency`).
pub fn config(vm: &Vm) -> NetConfig {
    NetConfig {
        seed: vm.rt.options.seed,
        latency_s: vm.rt.options.latency_s,
        host_latency: vm.rt.options.host_latency.clone(),
    }
}

/// Raise `requests.<name>(msg)`.
fn requests_error(vm: &mut Vm, name: &str, msg: String) -> PyErr {
    super::module_error(vm, "requests", name, msg)
}

/// One GET: validate, wait the latency without the GIL, return a Response.
pub fn do_get(vm: &mut Vm, url: Value) -> PyResult<Value> {
    let url = match vm.str_text(url) {
        Some(u) => u,
        None => {
            let t = vm.type_name(url);
            return Err(PyErr::type_error(format!("url must be str, not {t}")));
        }
    };
    let cfg = config(vm);
    let mut result: Option<Result<SimResponse, NetError>> = None;
    vm.blocking(|| {
        let r = if vm.rt.options.loopback && net::is_loopback(&url) {
            net::fetch_loopback(&url)
        } else {
            net::simulate(&cfg, &url).inspect(|resp| {
                std::thread::sleep(std::time::Duration::from_secs_f64(resp.latency_s.max(0.0)));
            })
        };
        result = Some(r);
    })?;
    match result {
        Some(Ok(resp)) => vm.alloc(Obj::Native(Arc::new(Response { resp }))),
        Some(Err(e)) => {
            let name = e.requests_exception();
            Err(requests_error(vm, name, e.to_string()))
        }
        None => Err(PyErr::new(ExcKind::OSError, "request failed")),
    }
}

/// Spend CPU as decoding a body of `len` bytes would, holding the GIL.
pub fn decode_work(len: usize) -> u64 {
    let mut h: u64 = 0;
    for i in 0..net::decode_cost_iterations(len) {
        h = std::hint::black_box(h.wrapping_mul(31).wrapping_add(i));
    }
    h
}

pub fn defs() -> Vec<Def> {
    let s = Owner::Method(TypeTag::Native(nk::SESSION));
    let r = Owner::Method(TypeTag::Native(nk::RESPONSE));
    vec![
        def("get", Owner::Module("requests"), |vm, a, _| {
            arity("get", a, 1, 1)?;
            do_get(vm, a[0])
        }),
        def("get", s, |vm, a, _| {
            arity("get", a, 2, 2)?;
            do_get(vm, a[1])
        }),
        def("close", s, |_, _, _| Ok(Value::None)),
        def("__enter__", s, enter_self),
        def("__exit__", s, |_, _, _| Ok(Value::Bool(false))),
        def("__enter__", r, enter_self),
        def("__exit__", r, |_, _, _| Ok(Value::Bool(false))),
        def("close", r, |_, _, _| Ok(Value::None)),
        def("raise_for_status", r, |vm, a, _| {
            let (status, url) = native::<Response, _>(vm, a.first().copied(), |_, r| {
                (r.resp.status, r.resp.url.clone())
            })?;
            match net::http_error_message(status, &url) {
                Some(msg) => Err(requests_error(vm, "HTTPError", msg)),
                None => Ok(Value::None),
            }
        }),
    ]
}

fn enter_self(vm: &mut Vm, a: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    let v = a.first().copied().unwrap_or(Value::None);
    vm.incref(v);
    Ok(v)
}

/// `requests.Session()`.
pub fn new_session(vm: &mut Vm) -> PyResult<Value> {
    vm.alloc(Obj::Native(Arc::new(Session {
        closed: std::sync::atomic::AtomicBool::new(false),
    })))
}

/// Data attributes of responses.
pub fn attr(vm: &mut Vm, n: &Arc<dyn NativeObject>, name: Sym) -> PyResult<Option<Value>> {
    let Some(r) = n.as_any().downcast_ref::<Response>() else {
        return Ok(None);
    };
    let s = crate::bytecode::sym_name(name);
    Ok(Some(match &*s {
        "text" => {
            std::hint::black_box(decode_work(r.resp.body.len()));
            vm.new_str(&r.resp.body)?
        }
        "status_code" | "status" => Value::Int(r.resp.status as i64),
        "ok" => Value::Bool(r.resp.status < 400),
        "url" => vm.new_str(&r.resp.url)?,
        "reason" => vm.new_str(net::reason_phrase(r.resp.status))?,
        _ => return Ok(None),
    }))
}
