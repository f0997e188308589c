//! `gilsim serve`: a web page for the classroom, served by this binary.
//!
//! The page (HTML, CSS and JS in `page/`, compiled in with include_str!) lets a
//! learner pick or write a program, flip the lock and run it. It talks to a
//! small JSON API:
//!
//! - `GET /api/programs`: the examples of `programs/` (see `programs.rs`).
//! - `POST /api/run`: run one program in a child process (see `child.rs`) and
//!   answer with its output, exit status, statistics and timeline SVG.
//!
//! Every answer the API gives, including to malformed or oversized requests,
//! is JSON with an `error` field when something went wrong, so the page (and a
//! student with curl) always gets a sentence rather than a bare status code.
//! The server is axum on tokio; see the README's "Dependencies, and why".
//!
//! Admission: at most `max_runs` children at once, counted by a semaphore
//! that is tried, never waited on. A class pressing Run at the same moment
//! gets "busy, try again" at once instead of a queue whose waits pile up on
//! top of the run's own time limit.

pub mod child;
pub mod programs;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use child::{Limits, RunSpec};
use serde::Deserialize;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Everything `gilsim serve` was told on its command line.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub host: IpAddr,
    /// 0 lets the OS choose; the bound address is printed either way.
    pub port: u16,
    /// Open the page in the default browser once the server listens.
    pub open: bool,
    pub limits: Limits,
    /// Runs at once; past this, 503 "busy".
    pub max_runs: usize,
    /// Largest request body in bytes.
    pub max_body: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8000,
            open: false,
            limits: Limits {
                wall: Duration::from_secs(10),
                heap: 256 << 20,
                output: 1 << 20,
                svg: 4 << 20,
                threads: 64,
            },
            max_runs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_body: 256 << 10,
        }
    }
}

/// Shared by every request.
struct AppState {
    exe: PathBuf,
    config: ServeConfig,
    runs: Semaphore,
}

/// Runs the server until it is killed. Returns the process exit status: 0
/// never in practice, 1 when the address cannot be bound or the runtime
/// cannot start.
pub fn serve(config: ServeConfig) -> i32 {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("gilsim serve: cannot find this program's own path to run children: {e}");
            return 1;
        }
    };
    // Two workers are plenty: the work happens in child processes, and the
    // server shares its machine with them.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gilsim serve: cannot start the async runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(serve_async(exe, config))
}

async fn serve_async(exe: PathBuf, config: ServeConfig) -> i32 {
    let addr = SocketAddr::new(config.host, config.port);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("gilsim serve: cannot listen on {addr}: {e}");
            return 1;
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    if !config.host.is_loopback() {
        eprintln!(
            "gilsim serve: warning: listening on {} exposes the page to every machine that can \
             reach this one: anyone there can run programs here (bounded by the limits below; \
             runs touch no files and only the simulated network). Use it on a classroom \
             network you trust.",
            config.host
        );
    }
    let url = match bound {
        SocketAddr::V6(a) => format!("http://[{}]:{}/", a.ip(), a.port()),
        SocketAddr::V4(a) => format!("http://{a}/"),
    };
    // Tests read the first line to learn the port chosen for --port 0.
    // Written with errors ignored: a closed stdout (a test that stopped
    // reading, `gilsim serve | head -1`) must not stop the server.
    let l = &config.limits;
    let banner = format!(
        "gilsim serve: listening on {url}\n\
         limits: {} s per run, heap {} MiB, output {} KiB, threads {}, {} runs at once\n",
        l.wall.as_secs_f64(),
        l.heap >> 20,
        l.output >> 10,
        l.threads,
        config.max_runs
    );
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    if config.open {
        open_browser(&url);
    }
    let state = Arc::new(AppState {
        exe,
        runs: Semaphore::new(config.max_runs),
        config,
    });
    let app = Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/style.css", get(style_css))
        .route("/api/programs", get(list_programs))
        .route("/api/run", post(run))
        .fallback(not_found)
        // The body is read by `read_body`, which enforces `max_body` itself.
        .layer(DefaultBodyLimit::disable())
        .with_state(state);
    match axum::serve(listener, app).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("gilsim serve: the server stopped: {e}");
            1
        }
    }
}

/// Best effort: a missing opener is reported, not fatal, since the URL is
/// printed anyway.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!("gilsim serve: could not open a browser with {opener}: {e}; open {url} yourself");
    }
}

const INDEX_HTML: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const STYLE_CSS: &str = include_str!("page/style.css");

async fn index() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX_HTML,
    )
        .into_response()
}

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
        .into_response()
}

async fn style_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLE_CSS,
    )
        .into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such page; the API is GET /api/programs and POST /api/run",
    )
}

async fn list_programs(State(state): State<Arc<AppState>>) -> Response {
    let list: Vec<_> = programs::EXAMPLES
        .iter()
        .map(|e| json!({ "name": e.name, "source": e.source }))
        .collect();
    // The page sets its Threads field's maximum from this.
    let limits = json!({ "threads": state.config.limits.threads });
    Json(json!({ "programs": list, "limits": limits })).into_response()
}

/// The body of `POST /api/run`. Every field but one of `source`/`program` may
/// be left out; the defaults are `gilsim run`'s.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    source: Option<String>,
    program: Option<String>,
    gil: Option<Switch>,
    switch_interval: Option<String>,
    refcount: Option<String>,
    threads: Option<u32>,
    seed: Option<u64>,
}

/// The lock as `true`/`false` or as the command line spells it.
#[derive(Deserialize)]
#[serde(untagged)]
enum Switch {
    Bool(bool),
    Word(String),
}

/// Turns a request into a run, or says which field is wrong.
fn check(req: RunRequest, config: &ServeConfig) -> Result<RunSpec, String> {
    let (file_name, source) = match (req.source, req.program) {
        (Some(_), Some(_)) => return Err("give either `source` or `program`, not both".into()),
        (Some(s), None) => ("program.toy".to_string(), s),
        (None, Some(name)) => match programs::find(&name) {
            Some(e) => (e.name.to_string(), e.source.to_string()),
            None => {
                return Err(format!(
                    "unknown program '{name}'; GET /api/programs lists the {} examples",
                    programs::EXAMPLES.len()
                ))
            }
        },
        (None, None) => {
            return Err("give `source` (program text) or `program` (an example's name)".into())
        }
    };
    let gil = match req.gil {
        None => true,
        Some(Switch::Bool(b)) => b,
        Some(Switch::Word(w)) if w == "on" => true,
        Some(Switch::Word(w)) if w == "off" => false,
        Some(Switch::Word(w)) => {
            return Err(format!("`gil` is true/false or \"on\"/\"off\", not '{w}'"))
        }
    };
    let switch_interval = req.switch_interval.unwrap_or_else(|| "5ms".into());
    match crate::cli::config::parse_duration(&switch_interval) {
        // Below a microsecond the lock does nothing but switch; above a
        // second, nothing switches within the time limit.
        Ok(s) if (1e-6..=1.0).contains(&s) => {}
        Ok(_) => return Err("`switch_interval` must be between 1us and 1s".into()),
        Err(e) => return Err(format!("`switch_interval`: {e}")),
    }
    let atomic_refcount = match req.refcount.as_deref() {
        None | Some("plain") => false,
        Some("atomic") => true,
        Some(other) => {
            return Err(format!(
                "`refcount` is \"plain\" or \"atomic\", not '{other}'"
            ))
        }
    };
    // The thread count is only the program's first argument; the cap that
    // holds whatever the program does is the child's --max-threads. Refusing
    // larger counts here says so before the run instead of in a traceback.
    if let Some(n) = req.threads {
        if n == 0 || n > config.limits.threads {
            return Err(format!(
                "`threads` must be between 1 and {} (this server's --max-threads)",
                config.limits.threads
            ));
        }
    }
    Ok(RunSpec {
        file_name,
        source,
        gil,
        switch_interval,
        atomic_refcount,
        threads: req.threads,
        seed: req.seed.unwrap_or(0),
    })
}

/// Past `max_body`, the rest of a body is still read and thrown away, up to
/// this many bytes, before the 413 is sent. A client like a browser or ureq
/// writes its whole body before it reads the answer; a server that closes the
/// connection early makes it see "connection reset" instead of the reason.
/// Past this, the connection is dropped: a clear answer is not owed to a
/// client sending that much.
const DRAIN_CAP: usize = 64 << 20;

/// The request body, or the error answer when it is too large or broken.
async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, Response> {
    use http_body_util::BodyExt;
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is too large (the largest request is {} KiB)",
                limit >> 10
            ),
        )
    };
    let mut body = body;
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            total = total.saturating_add(data.len());
            if total <= limit {
                kept.extend_from_slice(&data);
            } else if total > DRAIN_CAP {
                return Err(too_large());
            }
        }
    }
    if total > limit {
        return Err(too_large());
    }
    Ok(kept)
}

async fn run(State(state): State<Arc<AppState>>, body: Body) -> Response {
    let body = match read_body(body, state.config.max_body).await {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    let req: RunRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the request is not valid JSON for /api/run: {e}"),
            )
        }
    };
    let spec = match check(req, &state.config) {
        Ok(s) => s,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let Ok(_permit) = state.runs.try_acquire() else {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "busy, try again: {} runs are in progress, the most this server allows at once",
                state.config.max_runs
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return r;
    };
    match child::run(&state.exe, &spec, &state.config.limits).await {
        Ok(out) => Json(json!({
            "stdout": out.stdout,
            "stderr": out.stderr,
            "exit_status": out.exit_status,
            "stats": out.stats,
            "svg": out.svg,
            "limits_hit": out.limits_hit,
            "wall_s": out.wall_s,
            "program": spec.file_name,
        }))
        .into_response(),
        Err(child::StartError(msg)) => error(StatusCode::INTERNAL_SERVER_ERROR, msg),
    }
}
