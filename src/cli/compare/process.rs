//! The real runs: each job as a child process (gilsim itself with
//! `--stats-json`, or python3 with the shims on PYTHONPATH), the checks made
//! before the first run, the progress bar, and `gilsim compare`'s entry point.

use super::{
    compare, refcount_name, render, CompareArgs, Engine, Job, Outcome, RunStats, Runner, Status,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Runs jobs as child processes: gilsim itself, or python3.
pub struct ProcessRunner {
    exe: PathBuf,
    /// Where each gilsim run writes its statistics (removed on drop).
    scratch: PathBuf,
    /// PYTHONPATH entry for the shims, if found.
    shims: Option<PathBuf>,
    /// The interpreter for python3 rows (see `find_python`).
    python: PathBuf,
    next: u64,
}

impl ProcessRunner {
    /// A runner that starts `exe` (normally `std::env::current_exe()`).
    pub fn new(exe: PathBuf, shims: Option<PathBuf>) -> Result<ProcessRunner, String> {
        let scratch = std::env::temp_dir().join(format!("gilsim-compare-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).map_err(|e| {
            format!(
                "gilsim compare: cannot create a scratch directory '{}': {e}",
                scratch.display()
            )
        })?;
        Ok(ProcessRunner {
            exe,
            scratch,
            shims,
            python: PathBuf::from("python3"),
            next: 0,
        })
    }

    /// Run python3 rows with this interpreter instead of `python3` on PATH.
    pub fn with_python(mut self, python: PathBuf) -> ProcessRunner {
        self.python = python;
        self
    }
}

impl Drop for ProcessRunner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

impl Runner for ProcessRunner {
    fn run(&mut self, job: &Job) -> Outcome {
        self.next += 1;
        let stats_path = self.scratch.join(format!("run-{}.json", self.next));
        let mut cmd = match &job.engine {
            Engine::Gilsim {
                gil,
                switch_interval,
                refcount,
            } => {
                let mut c = Command::new(&self.exe);
                c.arg("run")
                    .args(["--gil", if *gil { "on" } else { "off" }])
                    // seconds, which parse_duration reads without a unit
                    .args(["--switch-interval", &switch_interval.to_string()])
                    .args(["--refcount", refcount_name(*refcount)])
                    .arg("--stats-json")
                    .arg(&stats_path)
                    // `--`: a file name starting with '-' stays a file name
                    .arg("--")
                    .arg(&job.file);
                c
            }
            Engine::Python => {
                let mut c = Command::new(&self.python);
                c.arg("--").arg(&job.file);
                if let Some(shims) = &self.shims {
                    let mut path = std::ffi::OsString::from(shims.as_os_str());
                    if let Some(old) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
                        path.push(":");
                        path.push(old);
                    }
                    c.env("PYTHONPATH", path);
                }
                c
            }
        };
        if let Some(n) = job.threads {
            cmd.arg(n.to_string());
        }
        cmd.stdin(Stdio::null());
        let start = Instant::now();
        let result = cmd.output();
        let seconds = start.elapsed().as_secs_f64();
        let out = match result {
            Ok(o) => o,
            Err(e) => {
                let what = match job.engine {
                    Engine::Python => "python3".to_string(),
                    Engine::Gilsim { .. } => self.exe.display().to_string(),
                };
                return Outcome {
                    status: Status::NotStarted(format!("{what}: {e}")),
                    seconds: 0.0,
                    stdout: String::new(),
                    stderr_tail: String::new(),
                    stats: None,
                };
            }
        };
        let stats = std::fs::read_to_string(&stats_path)
            .ok()
            .and_then(|t| RunStats::from_json(&t));
        let _ = std::fs::remove_file(&stats_path);
        Outcome {
            status: out.status.code().map_or(Status::Signalled, Status::Exited),
            seconds,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr_tail: last_line(&String::from_utf8_lossy(&out.stderr)),
            stats,
        }
    }
}

/// The shims directory for python3 runs: `$GILSIM_SHIMS`, else a `shims/`
/// holding `requests.py` above the executable (the repository a cargo build
/// ran in) or in the working directory. Err: where it looked.
pub fn find_shims(exe: &Path) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("GILSIM_SHIMS") {
        let dir = PathBuf::from(dir);
        return if dir.join("requests.py").is_file() {
            Ok(dir)
        } else {
            Err(format!(
                "GILSIM_SHIMS is '{}', which holds no requests.py",
                dir.display()
            ))
        };
    }
    let exe = exe.canonicalize().unwrap_or_else(|_| exe.to_path_buf());
    let cwd = std::env::current_dir().unwrap_or_default();
    exe.ancestors()
        .skip(1)
        .chain(std::iter::once(cwd.as_path()))
        .map(|d| d.join("shims"))
        .find(|d| d.join("requests.py").is_file())
        .ok_or_else(|| {
            format!(
                "no shims/ directory with requests.py above {} or in {} (set GILSIM_SHIMS=DIR to name it)",
                exe.display(),
                cwd.display()
            )
        })
}

/// The interpreter `python3` on PATH stands for, and its version; or why it
/// cannot be run. Resolved once because launchers such as pyenv's `python3`
/// are shell scripts that cost a quarter of a second per start on this
/// project's machine, which would be charged to every python3 row.
fn find_python() -> Result<(PathBuf, String), String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys; print(sys.executable); print(sys.version.split()[0])",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 failed to report its version: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines().map(str::trim);
    let exe = lines.next().unwrap_or("");
    let version = lines.next().unwrap_or("?").to_string();
    // sys.executable is empty when Python cannot tell; then keep the launcher
    let exe = if exe.is_empty() || !Path::new(exe).is_file() {
        PathBuf::from("python3")
    } else {
        PathBuf::from(exe)
    };
    Ok((exe, version))
}

/// Check what can be checked before the first run: every file exists and is a
/// readable file. Err: the message (exit status 2).
pub fn check_files(files: &[String]) -> Result<(), String> {
    if files.is_empty() {
        return Err("gilsim compare: name at least one program file".into());
    }
    for f in files {
        match std::fs::metadata(f) {
            Ok(m) if m.is_dir() => {
                return Err(format!(
                    "gilsim compare: '{f}' is a directory, not a program file"
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(format!("gilsim compare: can't open file '{f}': {e}")),
        }
    }
    Ok(())
}

/// `gilsim compare`, from parsed arguments to the exit status: 0 once the
/// table is printed (whatever the programs did: that is what the table
/// reports), 2 for bad input or a missing python3.
pub fn main(args: CompareArgs) -> i32 {
    if let Err(msg) = check_files(&args.files) {
        eprintln!("{msg}");
        return 2;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("gilsim compare: cannot find the gilsim executable to run: {e}");
            return 2;
        }
    };
    let mut extra = Vec::new();
    let mut shims = None;
    let mut python = None;
    if args.python {
        match find_python() {
            Ok((exe, version)) => {
                extra.push(format!(
                    "python3 rows: Python {version} ({})",
                    exe.display()
                ));
                python = Some(exe);
            }
            Err(e) => {
                eprintln!("gilsim compare: --python: {e}");
                return 2;
            }
        }
        match find_shims(&exe) {
            Ok(dir) => {
                extra.push(format!("python3 rows: PYTHONPATH={}", dir.display()));
                shims = Some(dir);
            }
            Err(why) => {
                eprintln!(
                    "gilsim compare: warning: the CPython shims (requests.py, aiohttp.py) were not found: {why}.\n  python3 runs without them, so programs that import requests or aiohttp fail there."
                );
                extra.push("python3 rows: WITHOUT the shims (not found; set GILSIM_SHIMS)".into());
            }
        }
    }
    let mut runner = match ProcessRunner::new(exe, shims) {
        Ok(r) => match python {
            Some(p) => r.with_python(p),
            None => r,
        },
        Err(msg) => {
            eprintln!("{msg}");
            return 2;
        }
    };
    let bar = progress_bar();
    let mut report = compare(&args, &mut runner, &mut |done, total, label| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(label.to_string());
    });
    bar.finish_and_clear();
    report.preamble.extend(extra);
    print!("{}", render(&report, args.format));
    0
}

/// A progress bar on stderr, drawn only when stderr is a terminal (a pipe or a
/// log file would collect its redraws as garbage).
fn progress_bar() -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    // The template is a constant known to parse; the default style is a safe
    // fallback should it ever not.
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {elapsed} {wide_msg}")
    {
        bar.set_style(style);
    }
    bar
}
