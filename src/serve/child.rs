//! One run for `gilsim serve`: the program goes to a fresh temporary directory
//! and runs in a child process of this very binary (`gilsim run ...`), under
//! the server's limits. A run without the GIL may corrupt its own heap on
//! purpose, and any run may loop, allocate or print forever; in a child process
//! none of that can reach the server, and killing the child ends all of it,
//! since every simulated thread is an OS thread of that one process.
//!
//! What this file does not do: admission (how many runs at once) and HTTP; see
//! `mod.rs`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// The settings of one run, already checked by the API layer.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Shown in the timeline's title and tracebacks: the example's name or
    /// `program.toy`.
    pub file_name: String,
    pub source: String,
    pub gil: bool,
    /// A duration as `gilsim run --switch-interval` takes it ("5ms").
    pub switch_interval: String,
    pub atomic_refcount: bool,
    /// Passed as the program's first argument (the examples read sys.argv[1]).
    pub threads: Option<u32>,
    pub seed: u64,
}

/// The server's bounds on every run.
#[derive(Debug, Clone)]
pub struct Limits {
    pub wall: Duration,
    /// `--max-heap` in bytes.
    pub heap: u64,
    /// Bytes kept of stdout and of stderr, each.
    pub output: usize,
    /// A timeline larger than this is left out of the answer (10,000 lanes
    /// make a picture no browser wants).
    pub svg: usize,
    /// `--max-threads`: threads besides the main thread alive at once.
    pub threads: u32,
}

/// What a run produced. `limits_hit` names each limit that stopped or
/// truncated it: "time", "output", "heap", "threads", "svg".
#[derive(Debug, Default)]
pub struct RunOutcome {
    pub stdout: String,
    pub stderr: String,
    /// None when the child was killed (by a limit or a signal).
    pub exit_status: Option<i32>,
    pub stats: Option<serde_json::Value>,
    pub svg: Option<String>,
    pub limits_hit: Vec<&'static str>,
    pub wall_s: f64,
}

/// Why a run could not even start (the server's fault, not the program's).
#[derive(Debug)]
pub struct StartError(pub String);

/// Unique temp dir names within this server process; the pid keeps two
/// servers on one machine apart.
static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// Removes the run's directory however the run ends, including when the
/// request's future is dropped because the client went away.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_temp_dir() -> std::io::Result<TempDir> {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("gilsim-serve-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(TempDir(dir))
}

/// Reads `r` to the end, keeping at most `cap` bytes; true if more came.
/// It stops reading at the cap, so the caller can kill a child that floods
/// its output instead of draining it for the rest of the time limit.
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return (kept, false),
            Ok(n) => {
                let room = cap - kept.len();
                if n > room {
                    kept.extend_from_slice(&buf[..room]);
                    return (kept, true);
                }
                kept.extend_from_slice(&buf[..n]);
            }
        }
    }
}

/// Runs `spec` with `exe run ...` under `limits`.
pub async fn run(exe: &Path, spec: &RunSpec, limits: &Limits) -> Result<RunOutcome, StartError> {
    let dir = make_temp_dir().map_err(|e| StartError(format!("cannot make a temp dir: {e}")))?;
    let program = dir.0.join(&spec.file_name);
    std::fs::write(&program, &spec.source)
        .map_err(|e| StartError(format!("cannot write the program: {e}")))?;

    let mut cmd = Command::new(exe);
    cmd.current_dir(&dir.0)
        .arg("run")
        .args(["--stats-json", "stats.json", "--timeline", "timeline.svg"])
        .args(["--max-heap", &limits.heap.to_string()])
        .args(["--max-threads", &limits.threads.to_string()])
        .arg("--no-loopback")
        .args(["--gil", if spec.gil { "on" } else { "off" }])
        .args(["--switch-interval", &spec.switch_interval])
        .args([
            "--refcount",
            if spec.atomic_refcount {
                "atomic"
            } else {
                "plain"
            },
        ])
        .args(["--seed", &spec.seed.to_string()])
        .arg("--")
        .arg(&spec.file_name);
    if let Some(n) = spec.threads {
        cmd.arg(n.to_string());
    }
    // The child must not read the server's stdin, and must die with the
    // request: kill_on_drop covers a client that disconnects mid-run.
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG")
        .kill_on_drop(true);

    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| StartError(format!("cannot start {}: {e}", exe.display())))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut out = RunOutcome::default();

    // Both pipes are read at once, in tasks of their own: a child blocked
    // writing a full stderr pipe would otherwise never finish its stdout, and
    // what a killed child printed before the kill is still collected. A
    // reader that reaches the cap says so through `flood` (notify_one keeps
    // the signal if nobody is waiting yet).
    let cap = limits.output;
    let flood = std::sync::Arc::new(tokio::sync::Notify::new());
    let spawn_reader = |pipe: Option<Box<dyn AsyncRead + Unpin + Send>>| {
        let flood = flood.clone();
        tokio::spawn(async move {
            let (kept, full) = match pipe {
                Some(p) => read_capped(p, cap).await,
                None => (vec![], false),
            };
            if full {
                flood.notify_one();
            }
            (kept, full)
        })
    };
    let o_task = spawn_reader(stdout.map(|p| Box::new(p) as _));
    let e_task = spawn_reader(stderr.map(|p| Box::new(p) as _));

    tokio::select! {
        status = child.wait() => {
            out.exit_status = status.ok().and_then(|s| s.code());
        }
        _ = tokio::time::sleep(limits.wall) => {
            out.limits_hit.push("time");
            let _ = child.kill().await;
        }
        // Flooding: stop the child now rather than let it print until the
        // time limit.
        _ = flood.notified() => {
            let _ = child.kill().await;
        }
    }
    // The pipes close with the child, so the readers end promptly. (A
    // reader that stopped at its cap has ended already.)
    let (o, o_full) = o_task.await.unwrap_or_default();
    let (e, e_full) = e_task.await.unwrap_or_default();
    out.stdout = String::from_utf8_lossy(&o).into_owned();
    out.stderr = String::from_utf8_lossy(&e).into_owned();
    if o_full || e_full {
        out.limits_hit.push("output");
    }
    out.wall_s = started.elapsed().as_secs_f64();

    // CPython's MemoryError is what `--max-heap` raises; the VM has no other
    // source of it, so its traceback means the heap limit was reached.
    if out.stderr.contains("MemoryError") {
        out.limits_hit.push("heap");
    }
    // Likewise `--max-threads` raises CPython's RuntimeError for a thread the
    // OS refused; gilsim raises it for nothing else.
    if out.stderr.contains("can't start new thread") {
        out.limits_hit.push("threads");
    }
    if let Ok(text) = std::fs::read_to_string(dir.0.join("stats.json")) {
        out.stats = serde_json::from_str(&text).ok();
    }
    if let Ok(meta) = std::fs::metadata(dir.0.join("timeline.svg")) {
        if meta.len() as usize <= limits.svg {
            out.svg = std::fs::read_to_string(dir.0.join("timeline.svg"))
                .ok()
                .filter(|s| !s.is_empty());
        } else {
            out.limits_hit.push("svg");
        }
    }
    Ok(out)
}
