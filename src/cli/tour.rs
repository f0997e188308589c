//! `gilsim tour`: the whole story of the GIL in six steps, each explained in a
//! few sentences, with the command that reproduces it and numbers measured
//! right now on this machine.
//!
//! The programs are part of the binary (`src/cli/tour/*.toy`, each with a
//! header saying what to run and what to look for), so the tour needs no
//! files. They are written to a directory (`$TMPDIR/gilsim-tour`) that stays
//! after the tour, so every printed command can be run again from there;
//! `gilsim tour --save DIR` writes them elsewhere and stops. Each step runs as
//! a child process of this very executable (`gilsim run ... --stats-json`), as
//! `compare` does, so a crash in step 1 (exit status 3, on purpose) ends only
//! that run. `--timeline DIR` adds `--timeline DIR/STEP.svg` to every run.
//!
//! What the tour says is decided by what it measured: a race that did not
//! happen, a speed-up that a busy machine did not allow, or an unexpected exit
//! status is reported as such, never papered over.
//!
//! This file runs the children, holds the colours and the layout, and is the
//! entry point; `steps` holds the six steps themselves.

mod steps;

use crate::observe::term;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The tour's programs: file name and text.
pub const PROGRAMS: [(&str, &str); 7] = [
    ("shared_words.toy", include_str!("tour/shared_words.toy")),
    ("counter.toy", include_str!("tour/counter.toy")),
    (
        "counter_locked.toy",
        include_str!("tour/counter_locked.toy"),
    ),
    ("crunch.toy", include_str!("tour/crunch.toy")),
    ("fetch_sync.toy", include_str!("tour/fetch_sync.toy")),
    ("fetch_threads.toy", include_str!("tour/fetch_threads.toy")),
    ("fetch_async.toy", include_str!("tour/fetch_async.toy")),
];

/// How many times step 1 tries to catch the race before saying it did not
/// happen. One attempt usually suffices on two idle cores; a busy machine
/// interleaves the threads less often.
const RACE_ATTEMPTS: u32 = 10;

/// Runs per configuration in steps 4 and 6, of which the fastest is shown: the
/// fastest run is the one least disturbed by whatever else the machine does.
const TIMED_RUNS: u32 = 3;

/// What `gilsim tour` was asked for.
#[derive(Debug, Clone, Default)]
pub struct TourArgs {
    /// `--timeline DIR`: write each run's SVG there.
    pub timeline: Option<String>,
    /// `--save DIR`: write the programs there and stop.
    pub save: Option<String>,
}

/// Write every program into `dir` (created if needed).
pub fn write_programs(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("gilsim tour: cannot create '{}': {e}", dir.display()))?;
    for (name, text) in PROGRAMS {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| format!("gilsim tour: cannot write '{}': {e}", path.display()))?;
    }
    Ok(())
}

// ------------------------------------------------------------------ colours

/// ANSI colours, or none (`NO_COLOR`, or stdout not a terminal: the same rule
/// as the terminal timeline's, `term::Style::from_env`).
struct Paint {
    on: bool,
}

impl Paint {
    fn code(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn heading(&self, t: &str) -> String {
        self.code("1;36", t)
    }
    fn command(&self, t: &str) -> String {
        self.code("33", t)
    }
    fn num(&self, t: &str) -> String {
        self.code("1", t)
    }
    fn good(&self, t: &str) -> String {
        self.code("32", t)
    }
    fn bad(&self, t: &str) -> String {
        self.code("31", t)
    }
}

/// `text` wrapped to 78 columns, each line indented by `indent` spaces.
fn wrap(text: &str, indent: usize) -> String {
    let width = 78usize.saturating_sub(indent).max(20);
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            let _ = writeln!(out, "{pad}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{pad}{line}");
    }
    out
}

// ------------------------------------------------------------------- a run

/// One child run and what it left behind.
struct Measured {
    /// None: killed by a signal, or never started (`error` says why).
    status: Option<i32>,
    seconds: f64,
    stdout: String,
    stderr: String,
    /// `--stats-json`, when the run got far enough to write it.
    stats: Option<Value>,
    error: Option<String>,
}

impl Measured {
    /// A total from the statistics (`totals.KEY`), 0 if absent.
    fn total(&self, key: &str) -> f64 {
        self.stats
            .as_ref()
            .and_then(|s| s.get("totals"))
            .and_then(|t| t.get(key))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    }
    /// How many threads the run had.
    fn threads(&self) -> usize {
        self.stats
            .as_ref()
            .and_then(|s| s.get("threads"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }
    /// Time waiting for the GIL / (held + waited), or None without a GIL.
    fn wait_share(&self) -> Option<f64> {
        let (h, w) = (self.total("gil_hold_s"), self.total("gil_wait_s"));
        (h + w > 0.0).then(|| w / (h + w))
    }
    /// The program's first line of output.
    fn first_line(&self) -> &str {
        self.stdout.lines().next().unwrap_or("").trim()
    }
    fn status_text(&self) -> String {
        match (self.status, &self.error) {
            (_, Some(e)) => format!("could not start: {e}"),
            (Some(c), None) => format!("exit status {c}"),
            (None, None) => "killed by a signal".into(),
        }
    }
}

/// The last whole number after "lost " in a program's output.
fn lost_of(out: &str) -> Option<u64> {
    out.rsplit("lost ")
        .next()
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .filter(|_| out.contains("lost "))
}

struct Tour {
    exe: PathBuf,
    /// Where the programs are; the children run there.
    dir: PathBuf,
    /// Where the statistics of each run are written (removed at the end).
    scratch: PathBuf,
    timeline_dir: Option<PathBuf>,
    paint: Paint,
    out: String,
    runs: u64,
    svgs: Vec<PathBuf>,
    /// Things that went wrong with the tour itself (not with a program's
    /// threads, which is the lesson): they make the exit status 1.
    problems: Vec<String>,
}

impl Tour {
    /// Print and flush what the tour has to say so far: the steps appear as
    /// they are measured, not all at the end.
    fn flush(&mut self) {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(self.out.as_bytes());
        let _ = stdout.flush();
        self.out.clear();
    }

    fn say(&mut self, text: &str) {
        self.out.push_str(&wrap(text, 3));
    }

    fn heading(&mut self, n: u32, title: &str) {
        let h = self.paint.heading(&format!("{n}. {title}"));
        let _ = write!(self.out, "\n{h}\n");
    }

    /// Print the command for `args` (with `--timeline` if asked, under `svg`).
    /// Returns the arguments to run, with the tour's `--stats-json` added.
    fn command(&mut self, args: &[&str], svg: Option<&str>) -> Vec<String> {
        let mut argv: Vec<String> = std::iter::once("run")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        if let (Some(dir), Some(name)) = (&self.timeline_dir, svg) {
            let path = dir.join(format!("{name}.svg"));
            argv.push("--timeline".into());
            argv.push(path.display().to_string());
            if !self.svgs.contains(&path) {
                self.svgs.push(path);
            }
        }
        let shown = format!("$ gilsim {}", argv.join(" "));
        let _ = writeln!(self.out, "   {}", self.paint.command(&shown));
        argv
    }

    /// Run `gilsim` with `argv` (from `command`) in the programs' directory.
    fn run(&mut self, argv: &[String]) -> Measured {
        self.flush();
        self.runs += 1;
        let stats_path = self.scratch.join(format!("run-{}.json", self.runs));
        let start = Instant::now();
        let result = Command::new(&self.exe)
            .args(argv)
            .arg("--stats-json")
            .arg(&stats_path)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output();
        let seconds = start.elapsed().as_secs_f64();
        let stats = std::fs::read_to_string(&stats_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let _ = std::fs::remove_file(&stats_path);
        match result {
            Ok(o) => Measured {
                status: o.status.code(),
                seconds,
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
                stats,
                error: None,
            },
            Err(e) => Measured {
                status: None,
                seconds,
                stdout: String::new(),
                stderr: String::new(),
                stats: None,
                error: Some(format!("{}: {e}", self.exe.display())),
            },
        }
    }

    /// Run `argv`; a status other than `expected` is a problem of the tour,
    /// reported in the step and counted for the exit status.
    fn run_expecting(&mut self, argv: &[String], expected: i32) -> Measured {
        let m = self.run(argv);
        if m.status != Some(expected) || m.error.is_some() {
            let tail = m.stderr.lines().last().unwrap_or("").trim().to_string();
            let what = format!(
                "`gilsim {}` ended with {} (expected {expected}){}",
                argv.join(" "),
                m.status_text(),
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {tail}")
                }
            );
            let _ = writeln!(
                self.out,
                "   {}",
                self.paint.bad(&format!("unexpected: {what}"))
            );
            self.problems.push(what);
        }
        m
    }

    /// The fastest of `TIMED_RUNS` runs.
    fn fastest(&mut self, argv: &[String]) -> Measured {
        let mut best: Option<Measured> = None;
        for _ in 0..TIMED_RUNS {
            let m = self.run_expecting(argv, 0);
            if best.as_ref().is_none_or(|b| m.seconds < b.seconds) {
                best = Some(m);
            }
        }
        // TIMED_RUNS > 0, so `best` is set; the fallback spares an unwrap
        best.unwrap_or_else(|| Measured {
            status: None,
            seconds: 0.0,
            stdout: String::new(),
            stderr: String::new(),
            stats: None,
            error: Some("no run".into()),
        })
    }

    fn secs(&self, s: f64) -> String {
        self.paint.num(&format!("{s:.3} s"))
    }
}

/// Cores this process may use, and the 1-minute load average (other work
/// competing for them), when the system says.
fn machine() -> (usize, Option<f64>) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|l| l.parse().ok()));
    (cores, load)
}

// -------------------------------------------------------------------- main

/// `gilsim tour`: 0 when every step ran as designed (whatever it measured), 1
/// when a run of the tour itself failed, 2 for a directory that cannot be
/// written.
pub fn main(args: TourArgs) -> i32 {
    if let Some(dir) = &args.save {
        return match write_programs(Path::new(dir)) {
            Ok(()) => {
                println!("gilsim tour: wrote the tour's programs to {dir}:");
                for (name, _) in PROGRAMS {
                    println!("  {}", Path::new(dir).join(name).display());
                }
                println!("Each starts with a comment saying what to run and what to look for.");
                0
            }
            Err(msg) => {
                eprintln!("{msg}");
                2
            }
        };
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("gilsim tour: cannot find the gilsim executable to run: {e}");
            return 2;
        }
    };
    let dir = std::env::temp_dir().join("gilsim-tour");
    if let Err(msg) = write_programs(&dir) {
        eprintln!("{msg}");
        return 2;
    }
    let timeline_dir = match &args.timeline {
        None => None,
        Some(d) => {
            let p = std::path::absolute(d).unwrap_or_else(|_| PathBuf::from(d));
            if let Err(e) = std::fs::create_dir_all(&p) {
                eprintln!("gilsim tour: cannot create the timeline directory '{d}': {e}");
                return 2;
            }
            Some(p)
        }
    };
    let scratch = std::env::temp_dir().join(format!("gilsim-tour-stats-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&scratch) {
        eprintln!("gilsim tour: cannot create '{}': {e}", scratch.display());
        return 2;
    }
    let started = Instant::now();
    let mut t = Tour {
        exe,
        dir,
        scratch,
        timeline_dir,
        paint: Paint {
            on: term::Style::from_env().colour,
        },
        out: String::new(),
        runs: 0,
        svgs: vec![],
        problems: vec![],
    };
    let (cores, load) = machine();
    let title = t
        .paint
        .heading("gilsim tour: Python's GIL in six steps, measured now");
    let _ = writeln!(t.out, "{title}");
    let load_text = load.map_or_else(String::new, |l| format!(", load average {l:.2}"));
    let intro = format!(
        "Each step runs a small program as its own `gilsim run` process and prints the \
         command that reproduces it. The programs are in {dir}; run the commands from \
         there (`cd {dir}`), with `gilsim` standing for {exe} (the tour adds --stats-json \
         to read its numbers). This machine: {cores} core{s} for this process{load_text}.",
        dir = t.dir.display(),
        exe = t.exe.display(),
        s = if cores == 1 { "" } else { "s" },
    );
    t.out.push_str(&wrap(&intro, 0));
    steps::race(&mut t);
    steps::clean(&mut t);
    steps::counter(&mut t);
    steps::cpu(&mut t, cores, load);
    steps::io(&mut t);
    steps::interval(&mut t);

    let _ = writeln!(
        t.out,
        "\n{} in {:.1} s ({} runs).",
        t.paint.heading("Tour finished"),
        started.elapsed().as_secs_f64(),
        t.runs
    );
    if !t.svgs.is_empty() {
        let written: Vec<PathBuf> = t.svgs.iter().filter(|p| p.is_file()).cloned().collect();
        let _ = writeln!(
            t.out,
            "Timelines ({} SVG files; open them in a browser):",
            written.len()
        );
        for p in written {
            let _ = writeln!(t.out, "  {}", p.display());
        }
    }
    t.out.push('\n');
    t.out.push_str(&wrap(
        "Next: `gilsim compare FILE... --gil on,off --threads 1,2 --runs 3` for a table of \
         your own programs, `gilsim run FILE --timeline -` to see who held the GIL when, and \
         docs/races.md in gilsim's repository for the races in depth.",
        0,
    ));
    let status = if t.problems.is_empty() {
        0
    } else {
        let _ = writeln!(
            t.out,
            "{}",
            t.paint.bad(&format!(
                "{} run(s) of the tour did not go as designed:",
                t.problems.len()
            ))
        );
        for p in t.problems.clone() {
            let _ = writeln!(t.out, "  {p}");
        }
        1
    };
    t.flush();
    let _ = std::fs::remove_dir_all(&t.scratch);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_is_read_from_the_output() {
        assert_eq!(lost_of("expected 200, got 150, lost 50\n"), Some(50));
        assert_eq!(lost_of("expected 200, got 200, lost 0"), Some(0));
        assert_eq!(lost_of("nothing here"), None);
    }

    #[test]
    fn wrapping_keeps_words_and_width() {
        let text = "word ".repeat(50);
        let w = wrap(&text, 3);
        assert!(w.lines().all(|l| l.len() <= 78 && l.starts_with("   ")));
        assert_eq!(w.split_whitespace().count(), 50);
    }

    #[test]
    fn every_program_has_a_header() {
        for (name, text) in PROGRAMS {
            assert!(
                text.starts_with(&format!("# {name} (gilsim tour")),
                "{name}"
            );
            assert!(text.contains("\n# Run:"), "{name}");
        }
    }
}
