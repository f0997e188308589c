//! A simulated `aiohttp`: `ClientSession` (an async context manager),
//! `session.get(url)` (awaitable, or `async with ... as res`), and responses
//! (`res.status`, `await res.text()`, `raise_for_status()`).
//!
//! The network is the one the simulated `requests` uses (`concurrency::net`): the
//! same seeded latencies and bodies, and the same CPU cost for decoding a body.
//! The difference is how a request waits: instead of blocking its thread, it
//! suspends the coroutine on a future that a timer of the event loop completes,
//! so one thread overlaps every request. Loopback URLs are fetched for real on a
//! helper thread. `shims/aiohttp.py` is the same module for CPython.

use super::asyncio::coro::{NativeCoro, Op, Step, Then};
use super::asyncio::{self, TimerAction};
use super::native;
use crate::bytecode::{intern, Sym};
use crate::concurrency::net::{self, NetError, SimResponse};
use crate::heap::{native_kind as nk, NativeObject, Obj, TypeTag, Value};
use crate::vm::builtins::{arity, def, Def, Owner};
use crate::vm::{ExcKind, PyErr, PyResult, Vm};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct ClientSession {
    closed: AtomicBool,
}

/// What `session.get(url)` returns.
#[derive(Debug)]
pub struct RequestCtx {
    url: String,
}

#[derive(Debug)]
pub struct ClientResponse {
    resp: SimResponse,
}

plain_native!(ClientSession, nk::ASYNC_SESSION);
plain_native!(RequestCtx, nk::ASYNC_CTX);
plain_native!(ClientResponse, nk::ASYNC_RESPONSE);

/// A response object (a new reference).
pub fn new_response(vm: &mut Vm, resp: SimResponse) -> PyResult<Value> {
    vm.alloc(Obj::Native(Arc::new(ClientResponse { resp })))
}

/// The aiohttp exception for a failed request, as the shim maps them.
pub fn net_error(vm: &mut Vm, e: &NetError) -> PyErr {
    let class = match e {
        NetError::InvalidUrl(_) => "InvalidURL",
        NetError::Connection(_) => "ClientConnectionError",
        NetError::Timeout => "ServerTimeoutError",
    };
    super::module_error(vm, "aiohttp", class, e.to_string())
}

/// Start a GET: the response arrives when the simulated latency has passed.
pub fn start_fetch(vm: &mut Vm, url: &str) -> PyResult<Step> {
    let fut = asyncio::new_future(vm)?;
    vm.incref(fut);
    if vm.rt.options.loopback && net::is_loopback(url) {
        let url = url.to_string();
        asyncio::spawn_io(vm, fut, move || net::fetch_loopback(&url));
        return Ok(Step::Wait(fut, Then::Result));
    }
    let cfg = super::requests::config(vm);
    match net::simulate(&cfg, url) {
        Ok(resp) => {
            let delay = resp.latency_s;
            let r = new_response(vm, resp);
            match r {
                Ok(r) => asyncio::call_later(vm, delay, TimerAction::Resolve(fut, r)),
                Err(e) => {
                    vm.decref(fut);
                    vm.decref(fut);
                    return Err(e);
                }
            }
            Ok(Step::Wait(fut, Then::Result))
        }
        Err(e) => {
            vm.decref(fut);
            vm.decref(fut);
            Err(net_error(vm, &e))
        }
    }
}

fn ready(vm: &mut Vm, name: &'static str, v: Value) -> PyResult<Value> {
    NativeCoro::new_value(vm, name, Op::Ready(v))
}

fn session_get(vm: &mut Vm, a: &[Value], _kw: &[(Sym, Value)]) -> PyResult<Value> {
    arity("get", a, 2, 2)?;
    let closed = native::<ClientSession, _>(vm, a.first().copied(), |_, s| {
        s.closed.load(Ordering::Relaxed)
    })?;
    if closed {
        return Err(PyErr::new(ExcKind::RuntimeError, "Session is closed"));
    }
    let Some(url) = vm.str_text(a[1]) else {
        let t = vm.type_name(a[1]);
        return Err(PyErr::type_error(format!("url must be str, not {t}")));
    };
    vm.alloc(Obj::Native(Arc::new(RequestCtx {
        url: url.to_string(),
    })))
}

/// `await session.get(url)`.
pub fn await_ctx(vm: &mut Vm, ctx: Value) -> PyResult<Value> {
    fetch_coro(vm, ctx)
}

/// `await session.get(url)` / `async with session.get(url)`: the fetch itself.
fn fetch_coro(vm: &mut Vm, ctx: Value) -> PyResult<Value> {
    let url = native::<RequestCtx, _>(vm, Some(ctx), |_, c| c.url.clone())?;
    NativeCoro::new_value(vm, "_request", Op::Fetch(url))
}

fn close_session(vm: &mut Vm, a: &[Value]) -> PyResult<()> {
    native::<ClientSession, _>(vm, a.first().copied(), |_, s| {
        s.closed.store(true, Ordering::Relaxed)
    })
}

pub fn defs() -> Vec<Def> {
    let s = Owner::Method(TypeTag::Native(nk::ASYNC_SESSION));
    let c = Owner::Method(TypeTag::Native(nk::ASYNC_CTX));
    let r = Owner::Method(TypeTag::Native(nk::ASYNC_RESPONSE));
    vec![
        def("get", s, session_get),
        def("close", s, |vm, a, _| {
            close_session(vm, a)?;
            ready(vm, "close", Value::None)
        }),
        def("__aenter__", s, |vm, a, _| {
            let v = a.first().copied().unwrap_or(Value::None);
            vm.incref(v);
            ready(vm, "__aenter__", v)
        }),
        def("__aexit__", s, |vm, a, _| {
            close_session(vm, a)?;
            ready(vm, "__aexit__", Value::Bool(false))
        }),
        def("__aenter__", c, |vm, a, _| {
            fetch_coro(vm, a.first().copied().unwrap_or(Value::None))
        }),
        def("__aexit__", c, |vm, _, _| {
            ready(vm, "__aexit__", Value::Bool(false))
        }),
        def("__await__", c, |vm, a, _| {
            fetch_coro(vm, a.first().copied().unwrap_or(Value::None))
        }),
        def("text", r, |vm, a, _| {
            let body =
                native::<ClientResponse, _>(vm, a.first().copied(), |_, r| r.resp.body.clone())?;
            // Decoding costs CPU, with the GIL held, as in requests.
            std::hint::black_box(super::requests::decode_work(body.len()));
            let v = vm.new_string(body)?;
            ready(vm, "text", v)
        }),
        def("release", r, |_, _, _| Ok(Value::None)),
        def("close", r, |_, _, _| Ok(Value::None)),
        def("__aenter__", r, |vm, a, _| {
            let v = a.first().copied().unwrap_or(Value::None);
            vm.incref(v);
            ready(vm, "__aenter__", v)
        }),
        def("__aexit__", r, |vm, _, _| {
            ready(vm, "__aexit__", Value::Bool(false))
        }),
        def("raise_for_status", r, |vm, a, _| {
            let (status, url) = native::<ClientResponse, _>(vm, a.first().copied(), |_, r| {
                (r.resp.status, r.resp.url.clone())
            })?;
            if status < 400 {
                return Ok(Value::None);
            }
            let msg = format!(
                "{status}, message={}, url={}",
                py_quote(net::reason_phrase(status)),
                py_quote(&url)
            );
            let e = super::module_error(vm, "aiohttp", "ClientResponseError", msg.clone());
            let exc = vm.materialize(e);
            let m = vm.new_string(msg)?;
            let sv = Value::Int(status as i64);
            let _ = vm.set_attr(Value::Obj(exc), intern("status"), sv);
            let _ = vm.set_attr(Value::Obj(exc), intern("message"), m);
            Err(PyErr::from_obj(exc))
        }),
        def("ClientTimeout", Owner::Module("aiohttp"), |_, _, _| {
            Ok(Value::None)
        }),
    ]
}

/// Python's repr of a str without escapes worth worrying about here.
fn py_quote(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\'', "\\'"))
    }
}

/// `aiohttp.ClientSession(...)`: arguments are accepted and ignored.
pub fn new_session(vm: &mut Vm) -> PyResult<Value> {
    vm.alloc(Obj::Native(Arc::new(ClientSession::default())))
}

/// Data attributes of sessions and responses.
pub fn attr(vm: &mut Vm, n: &Arc<dyn NativeObject>, name: Sym) -> PyResult<Option<Value>> {
    if let Some(s) = n.as_any().downcast_ref::<ClientSession>() {
        if &*crate::bytecode::sym_name(name) == "closed" {
            return Ok(Some(Value::Bool(s.closed.load(Ordering::Relaxed))));
        }
        return Ok(None);
    }
    let Some(r) = n.as_any().downcast_ref::<ClientResponse>() else {
        return Ok(None);
    };
    let s = crate::bytecode::sym_name(name);
    Ok(Some(match &*s {
        "status" => Value::Int(r.resp.status as i64),
        "ok" => Value::Bool(r.resp.status < 400),
        "url" => vm.new_str(&r.resp.url)?,
        "reason" => vm.new_str(net::reason_phrase(r.resp.status))?,
        _ => return Ok(None),
    }))
}

pub fn repr(n: &Arc<dyn NativeObject>) -> Option<String> {
    let r = n.as_any().downcast_ref::<ClientResponse>()?;
    Some(format!(
        "<ClientResponse({}) [{} {}]>",
        r.resp.url,
        r.resp.status,
        net::reason_phrase(r.resp.status)
    ))
}

/// The module object, with the shim's exception classes.
pub fn create(vm: &mut Vm) -> PyResult<Value> {
    let session = super::class_of(vm, nk::ASYNC_SESSION);
    let response = super::class_of(vm, nk::ASYNC_RESPONSE);
    let base = super::exception_class(vm, "aiohttp", "ClientError", ExcKind::Exception)?;
    let Some(b) = base.as_obj() else {
        return Err(PyErr::new(ExcKind::RuntimeError, "aiohttp"));
    };
    let mut attrs = vec![session, response, (intern("ClientError"), base)];
    let conn = super::exception_subclass(vm, "aiohttp", "ClientConnectionError", b)?;
    let Some(cb) = conn.as_obj() else {
        return Err(PyErr::new(ExcKind::RuntimeError, "aiohttp"));
    };
    for n in ["InvalidURL", "ClientResponseError"] {
        let c = super::exception_subclass(vm, "aiohttp", n, b)?;
        attrs.push((intern(n), c));
    }
    let t = super::exception_subclass(vm, "aiohttp", "ServerTimeoutError", cb)?;
    attrs.push((intern("ServerTimeoutError"), t));
    attrs.push((intern("ClientConnectionError"), conn));
    super::module_with(vm, "aiohttp", attrs)
}
