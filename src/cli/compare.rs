//! `gilsim compare`: run programs under several configurations, several times
//! each, and print one table of what it cost (time, forced switches, the share
//! of time spent waiting for the GIL) and what went wrong (corruption, lost
//! updates, crashes, outputs that differ from run to run).
//!
//! Every run is a separate process: a child of the gilsim binary itself (`gilsim
//! run ... --stats-json FILE`), or of `python3` for `--python`. A child cannot
//! disturb the next run's heap or threads, and a crash (exit status 3) ends only
//! that run. How a run is carried out is behind the [`Runner`] trait, so the
//! table, the notes and every output format can be tested on a deterministic
//! fake; [`ProcessRunner`] is the real one. Parsing the command line is
//! `main.rs`'s business; the value parsers for the comma-separated lists live
//! here so that the rules for a list sit next to their use.

use super::config::parse_duration;
use crate::heap::RefcountMode;
use crate::observe::stats::fmt_interval;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

// ------------------------------------------------------------------ options

/// A comma-separated list given on the command line (`--gil on,off`). A newtype
/// rather than a `Vec`, because clap reads a `Vec` field as "the option may be
/// repeated", not as one value with its own parser.
#[derive(Debug, Clone, PartialEq)]
pub struct List<T>(pub Vec<T>);

/// Split "a,b,c", rejecting empty items ("on,,off", "", trailing commas), which
/// are far more likely typos than intentions.
fn items<T>(
    s: &str,
    what: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<List<T>, String> {
    let mut out = Vec::new();
    for item in s.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!(
                "'{s}' has an empty item: give {what} separated by commas, without spaces or empty places"
            ));
        }
        out.push(parse(item)?);
    }
    Ok(List(out))
}

/// `--gil on,off`
pub fn parse_gil_list(s: &str) -> Result<List<bool>, String> {
    items(s, "on or off", |v| match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!(
            "'{v}' is not a GIL setting (use on, off, or on,off)"
        )),
    })
}

/// `--switch-interval 5ms,1ms,100us`
pub fn parse_interval_list(s: &str) -> Result<List<f64>, String> {
    items(s, "durations", |v| {
        let d = parse_duration(v)?;
        // `gilsim run` treats 0 as "as short as possible" (1 ns); a comparison
        // row labelled "0s" would mislead, so ask for what is meant.
        if d <= 0.0 {
            return Err(format!(
                "'{v}': a switch interval must be longer than zero (e.g. 1us)"
            ));
        }
        Ok(d)
    })
}

/// `--refcount plain,atomic`
pub fn parse_refcount_list(s: &str) -> Result<List<RefcountMode>, String> {
    items(s, "plain or atomic", |v| match v {
        "plain" => Ok(RefcountMode::Plain),
        "atomic" => Ok(RefcountMode::Atomic),
        _ => Err(format!(
            "'{v}' is not a reference-count mode (use plain, atomic, or plain,atomic)"
        )),
    })
}

/// The largest `--threads` value: a guard against typos (`--threads 10000`)
/// that would start thousands of OS threads per run.
pub const MAX_THREADS: u32 = 256;

/// `--threads 1,2,4`
pub fn parse_threads_list(s: &str) -> Result<List<u32>, String> {
    items(s, "thread counts", |v| match v.parse::<u32>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        Ok(_) => Err(format!(
            "'{v}': a thread count must be between 1 and {MAX_THREADS}"
        )),
        Err(_) => Err(format!(
            "'{v}' is not a thread count (a whole number such as 1, 2 or 4)"
        )),
    })
}

/// `--runs K`: at least one.
pub fn parse_runs(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err("--runs must be at least 1: a comparison needs a run to measure".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "'{s}' is not a number of runs (a whole number such as 5)"
        )),
    }
}

/// How the table is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Markdown,
    Csv,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "table" => Ok(Format::Table),
            "markdown" | "md" => Ok(Format::Markdown),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(format!(
                "'{s}' is not a format (use table, markdown, csv or json)"
            )),
        }
    }
}

/// What `gilsim compare` was asked for, already parsed.
#[derive(Debug, Clone)]
pub struct CompareArgs {
    pub files: Vec<String>,
    pub gil: Vec<bool>,
    pub switch_interval: Vec<f64>,
    pub refcount: Vec<RefcountMode>,
    /// `--threads`: each value is passed to the program as `sys.argv[1]`.
    pub threads: Option<Vec<u32>>,
    pub runs: u32,
    pub python: bool,
    pub format: Format,
}

impl Default for CompareArgs {
    fn default() -> Self {
        CompareArgs {
            files: vec![],
            gil: vec![true],
            switch_interval: vec![0.005],
            refcount: vec![RefcountMode::Plain],
            threads: None,
            runs: 3,
            python: false,
            format: Format::Table,
        }
    }
}

// ------------------------------------------------------------- jobs and runs

/// What runs a program.
#[derive(Debug, Clone, PartialEq)]
pub enum Engine {
    Gilsim {
        gil: bool,
        switch_interval: f64,
        refcount: RefcountMode,
    },
    /// The real CPython, with the shims for `requests` and `aiohttp`.
    Python,
}

/// One configuration: a row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub file: String,
    pub engine: Engine,
    /// Passed as `sys.argv[1]` when `--threads` was given.
    pub threads: Option<u32>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Exited(i32),
    /// Ended by a signal (no exit status).
    Signalled,
    /// The process could not be started; the reason.
    NotStarted(String),
}

/// What gilsim's `--stats-json` said about one run (only the figures the table uses).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunStats {
    pub forced_switches: u64,
    pub gil_hold_s: f64,
    pub gil_wait_s: f64,
    /// Uses of freed objects counted (only with `--on-corruption continue`).
    pub use_after_free: u64,
    /// Reference-count updates that another thread's store wrote over.
    pub lost_refcount_updates: u64,
    pub lost_appends: u64,
    /// Live objects whose count was wrong at exit (the audit).
    pub refcount_errors: u64,
}

impl RunStats {
    /// Read the JSON of `gilsim run --stats-json`; None if it is not that.
    pub fn from_json(text: &str) -> Option<RunStats> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let totals = v.get("totals")?;
        let heap = v.get("heap")?;
        let u = |o: &serde_json::Value, k: &str| o.get(k).and_then(serde_json::Value::as_u64);
        let f = |o: &serde_json::Value, k: &str| o.get(k).and_then(serde_json::Value::as_f64);
        Some(RunStats {
            forced_switches: u(totals, "forced_switches")?,
            gil_hold_s: f(totals, "gil_hold_s")?,
            gil_wait_s: f(totals, "gil_wait_s")?,
            use_after_free: u(heap, "use_after_free")?,
            lost_refcount_updates: u(totals, "lost_increfs")? + u(totals, "lost_decrefs")?,
            lost_appends: u(totals, "lost_appends")?,
            refcount_errors: u(heap, "refcount_errors")?,
        })
    }
}

/// One run of one job.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    /// Wall time of the whole process, as the parent saw it.
    pub seconds: f64,
    pub stdout: String,
    /// The last non-empty line of stderr: for a failed run, usually the
    /// exception or the reason.
    pub stderr_tail: String,
    /// None for python3 runs, and for gilsim runs that ended before writing
    /// their statistics (a crash report exits at once).
    pub stats: Option<RunStats>,
}

/// Carries out runs. The real one starts processes; tests use a fake.
pub trait Runner {
    fn run(&mut self, job: &Job) -> Outcome;
}

// ------------------------------------------------------------------- report

/// One row of the table: a job, its runs, and what stands out.
#[derive(Debug, Clone)]
pub struct Row {
    pub job: Job,
    pub label: String,
    pub outcomes: Vec<Outcome>,
    pub note: String,
}

/// The finished comparison.
#[derive(Debug, Clone)]
pub struct Report {
    /// Lines printed above the table: what every row shares.
    pub preamble: Vec<String>,
    pub runs: u32,
    pub rows: Vec<Row>,
}

fn refcount_name(m: RefcountMode) -> &'static str {
    match m {
        RefcountMode::Plain => "plain",
        RefcountMode::Atomic => "atomic",
    }
}

/// The rows in table order: per file, gilsim's configurations (GIL, then switch
/// interval, then reference counts, then threads, innermost, so rows that
/// differ only in threads sit together), then python3's.
pub fn jobs(args: &CompareArgs) -> Vec<Job> {
    let threads: Vec<Option<u32>> = match &args.threads {
        Some(t) => t.iter().map(|&n| Some(n)).collect(),
        None => vec![None],
    };
    let mut out = Vec::new();
    for file in &args.files {
        for &gil in &args.gil {
            for &switch_interval in &args.switch_interval {
                for &refcount in &args.refcount {
                    for &t in &threads {
                        out.push(Job {
                            file: file.clone(),
                            engine: Engine::Gilsim {
                                gil,
                                switch_interval,
                                refcount,
                            },
                            threads: t,
                        });
                    }
                }
            }
        }
        if args.python {
            for &t in &threads {
                out.push(Job {
                    file: file.clone(),
                    engine: Engine::Python,
                    threads: t,
                });
            }
        }
    }
    out
}

/// Run every job `args.runs` times and build the report. Runs are interleaved
/// (the first run of every job, then the second of every job, ...) so that a
/// change in the machine's load during the comparison spreads over all rows
/// instead of landing on the last ones. `progress(done, total, label)` is
/// called before each run.
pub fn compare(
    args: &CompareArgs,
    runner: &mut dyn Runner,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Report {
    let jobs = jobs(args);
    let labels = labels(args, &jobs);
    let mut outcomes: Vec<Vec<Outcome>> = vec![Vec::new(); jobs.len()];
    let total = jobs.len() * args.runs as usize;
    let mut done = 0;
    for _ in 0..args.runs {
        for (i, job) in jobs.iter().enumerate() {
            progress(done, total, &labels[i]);
            outcomes[i].push(runner.run(job));
            done += 1;
        }
    }
    progress(done, total, "");
    let mut rows: Vec<Row> = jobs
        .into_iter()
        .zip(labels)
        .zip(outcomes)
        .map(|((job, label), outcomes)| Row {
            job,
            label,
            outcomes,
            note: String::new(),
        })
        .collect();
    let notes: Vec<String> = (0..rows.len()).map(|i| note_for(&rows, i)).collect();
    for (row, note) in rows.iter_mut().zip(notes) {
        row.note = note;
    }
    Report {
        preamble: preamble(args),
        runs: args.runs,
        rows,
    }
}

/// "gil on, switch 5ms" for the settings that vary between rows; the fixed ones
/// go in the preamble once instead of on every row.
fn labels(args: &CompareArgs, jobs: &[Job]) -> Vec<String> {
    let threads_vary = args.threads.as_ref().is_some_and(|t| t.len() > 1);
    jobs.iter()
        .map(|job| {
            let mut parts = Vec::new();
            match &job.engine {
                Engine::Gilsim {
                    gil,
                    switch_interval,
                    refcount,
                } => {
                    parts.push(job.file.clone());
                    if args.gil.len() > 1 {
                        parts.push(format!("gil {}", if *gil { "on" } else { "off" }));
                    }
                    if args.switch_interval.len() > 1 {
                        parts.push(format!("switch {}", fmt_interval(*switch_interval)));
                    }
                    if args.refcount.len() > 1 {
                        parts.push(format!("refcount {}", refcount_name(*refcount)));
                    }
                }
                Engine::Python => parts.push(format!("python3 {}", job.file)),
            }
            if let (true, Some(n)) = (threads_vary, job.threads) {
                parts.push(format!("{n} thread{}", if n == 1 { "" } else { "s" }));
            }
            parts.join(", ")
        })
        .collect()
}

fn preamble(args: &CompareArgs) -> Vec<String> {
    let mut fixed = Vec::new();
    if args.gil.len() == 1 {
        fixed.push(format!("gil {}", if args.gil[0] { "on" } else { "off" }));
    }
    if args.switch_interval.len() == 1 {
        fixed.push(format!(
            "switch interval {}",
            fmt_interval(args.switch_interval[0])
        ));
    }
    if args.refcount.len() == 1 {
        fixed.push(format!("refcount {}", refcount_name(args.refcount[0])));
    }
    let mut lines = vec![format!(
        "{} run{} of each configuration{}",
        args.runs,
        if args.runs == 1 { "" } else { "s" },
        if fixed.is_empty() {
            String::new()
        } else {
            format!("; every gilsim row: {}", fixed.join(", "))
        }
    )];
    if let Some(t) = &args.threads {
        if t.len() == 1 {
            lines.push(format!(
                "every program was given {} as sys.argv[1] (--threads)",
                t[0]
            ));
        } else {
            lines.push("each program was given its thread count as sys.argv[1] (--threads)".into());
        }
    }
    lines
}

// -------------------------------------------------------------- the figures

/// Wall times of the runs that started, in seconds.
fn times(row: &Row) -> Vec<f64> {
    row.outcomes
        .iter()
        .filter(|o| !matches!(o.status, Status::NotStarted(_)))
        .map(|o| o.seconds)
        .collect()
}

/// The median: the middle value, or the mean of the two middle ones.
fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

impl Row {
    pub fn median_s(&self) -> Option<f64> {
        median(&times(self))
    }
    pub fn min_s(&self) -> Option<f64> {
        times(self).into_iter().reduce(f64::min)
    }
    pub fn max_s(&self) -> Option<f64> {
        times(self).into_iter().reduce(f64::max)
    }

    fn stats(&self) -> impl Iterator<Item = &RunStats> {
        self.outcomes.iter().filter_map(|o| o.stats.as_ref())
    }

    /// The median number of forced switches per run, over the runs that
    /// reported statistics.
    pub fn forced_switches(&self) -> Option<f64> {
        let v: Vec<f64> = self.stats().map(|s| s.forced_switches as f64).collect();
        median(&v)
    }

    /// Time threads spent waiting for the GIL, as a share of the time they
    /// held it or waited for it, over all runs; None without a GIL (nothing to
    /// hold) and for python3 (no statistics).
    pub fn wait_share(&self) -> Option<f64> {
        let (hold, wait) = self
            .stats()
            .fold((0.0, 0.0), |(h, w), s| (h + s.gil_hold_s, w + s.gil_wait_s));
        (hold + wait > 0.0).then(|| wait / (hold + wait))
    }

    /// Runs stopped by simulated memory corruption (exit status 3), plus uses of
    /// freed objects counted by runs that went on.
    pub fn corruption_events(&self) -> u64 {
        let crashed = self
            .outcomes
            .iter()
            .filter(|o| o.status == Status::Exited(CORRUPTION_EXIT) && self.is_gilsim())
            .count() as u64;
        crashed + self.stats().map(|s| s.use_after_free).sum::<u64>()
    }

    fn is_gilsim(&self) -> bool {
        matches!(self.job.engine, Engine::Gilsim { .. })
    }
}

/// gilsim's exit status for simulated memory corruption (see `run.rs`).
const CORRUPTION_EXIT: i32 = super::run::CORRUPTION_EXIT;

/// Below this speed-up, more threads "gained nothing": 1.25 leaves room for the
/// noise of a shared machine while still flagging the GIL's flat line (a GIL-
/// bound program lands near 1.0, or above it with the switching overhead).
const SPEEDUP_THRESHOLD: f64 = 1.25;

/// Program output with every decimal number (a time, almost always) replaced by
/// `#`, so that two runs that differ only in how long they took compare equal,
/// while whole numbers (counts, checksums, lost updates) still have to match.
pub fn mask_times(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                out.push('#');
            } else {
                out.extend(&chars[start..i]);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn count_of(n: usize, total: usize) -> String {
    format!("{n} of {total} runs")
}

/// What stands out about row `i`, as one line (empty if nothing does).
fn note_for(rows: &[Row], i: usize) -> String {
    let row = &rows[i];
    let k = row.outcomes.len();
    let mut notes: Vec<String> = Vec::new();

    let not_started: Vec<&str> = row
        .outcomes
        .iter()
        .filter_map(|o| match &o.status {
            Status::NotStarted(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    if let Some(why) = not_started.first() {
        notes.push(format!(
            "could not start ({}): {why}",
            count_of(not_started.len(), k)
        ));
    }
    let crashed = row
        .outcomes
        .iter()
        .filter(|o| o.status == Status::Exited(CORRUPTION_EXIT) && row.is_gilsim())
        .count();
    if crashed > 0 {
        notes.push(format!(
            "crash: simulated memory corruption in {} (exit 3)",
            count_of(crashed, k)
        ));
    }
    let failed: Vec<&Outcome> = row
        .outcomes
        .iter()
        .filter(|o| match o.status {
            Status::Exited(0) => false,
            Status::Exited(CORRUPTION_EXIT) => !row.is_gilsim(),
            Status::Exited(_) | Status::Signalled => true,
            Status::NotStarted(_) => false,
        })
        .collect();
    if let Some(first) = failed.first() {
        let how = match first.status {
            Status::Exited(c) => format!("exit status {c}"),
            _ => "killed by a signal".into(),
        };
        let tail = if first.stderr_tail.is_empty() {
            String::new()
        } else {
            format!(": {}", first.stderr_tail)
        };
        notes.push(format!(
            "failed in {} ({how}{tail})",
            count_of(failed.len(), k)
        ));
    }
    let lost: u64 = row.stats().map(|s| s.lost_refcount_updates).sum();
    if lost > 0 {
        notes.push(format!("{lost} reference-count updates lost"));
    }
    let appends: u64 = row.stats().map(|s| s.lost_appends).sum();
    if appends > 0 {
        notes.push(format!("{appends} appends lost"));
    }
    let wrong: u64 = row.stats().map(|s| s.refcount_errors).sum();
    if wrong > 0 {
        notes.push(format!("{wrong} wrong reference counts at exit"));
    }

    // Outputs compared only between runs that finished normally: a crash's
    // output differs for a reason already given.
    let outputs: Vec<String> = row
        .outcomes
        .iter()
        .filter(|o| o.status == Status::Exited(0))
        .map(|o| mask_times(&o.stdout))
        .collect();
    let mut distinct = outputs.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() > 1 {
        notes.push(format!(
            "output differed between runs ({} different outputs in {})",
            distinct.len(),
            count_of(outputs.len(), k)
        ));
    }

    // More threads, same configuration otherwise: did they help?
    if let Some(n) = row.job.threads {
        let fewest = rows
            .iter()
            .filter(|r| {
                r.job.file == row.job.file
                    && r.job.engine == row.job.engine
                    && r.job.threads.is_some_and(|m| m < n)
            })
            .min_by_key(|r| r.job.threads);
        if let (Some(base), Some(t)) = (fewest, row.median_s()) {
            if let (Some(m), Some(bt)) = (base.job.threads, base.median_s()) {
                let speedup = bt / t;
                if t > 0.0 && speedup < SPEEDUP_THRESHOLD {
                    notes.push(format!(
                        "no speed-up: {n} threads took {:.2}x the time of {m}",
                        t / bt
                    ));
                }
            }
        }
    }

    // CPython's output should be gilsim's (with the GIL, same file and threads).
    if row.job.engine == Engine::Python {
        let ours = rows.iter().find(|r| {
            r.job.file == row.job.file
                && r.job.threads == row.job.threads
                && matches!(r.job.engine, Engine::Gilsim { gil: true, .. })
        });
        let first_ok = |r: &Row| {
            r.outcomes
                .iter()
                .find(|o| o.status == Status::Exited(0))
                .map(|o| mask_times(&o.stdout))
        };
        if let (Some(theirs), Some(ours)) = (first_ok(row), ours.and_then(first_ok)) {
            if theirs != ours {
                notes.push("output differs from gilsim's (gil on)".into());
            }
        }
    }
    notes.join("; ")
}

// ------------------------------------------------------------------ output

/// The columns, in order, with their headings (table, markdown, csv).
const HEADINGS: [&str; 9] = [
    "configuration",
    "median s",
    "min s",
    "max s",
    "ratio",
    "forced",
    "wait share",
    "corrupt",
    "note",
];

fn secs(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.3}"))
}

/// Every row as cells, in `HEADINGS` order.
fn cells(report: &Report) -> Vec<[String; 9]> {
    let first = report.rows.first().and_then(Row::median_s);
    report
        .rows
        .iter()
        .map(|r| {
            let ratio = match (r.median_s(), first) {
                (Some(m), Some(f)) if f > 0.0 => format!("{:.2}", m / f),
                _ => "-".into(),
            };
            [
                r.label.clone(),
                secs(r.median_s()),
                secs(r.min_s()),
                secs(r.max_s()),
                ratio,
                r.forced_switches()
                    .map_or_else(|| "-".into(), |f| format!("{f:.0}")),
                r.wait_share()
                    .map_or_else(|| "-".into(), |s| format!("{:.1}%", s * 100.0)),
                if r.is_gilsim() || r.corruption_events() > 0 {
                    r.corruption_events().to_string()
                } else {
                    "-".into()
                },
                r.note.clone(),
            ]
        })
        .collect()
}

/// What the columns mean, printed under the table.
fn legend(report: &Report) -> Vec<String> {
    vec![
        format!(
            "seconds: wall time of each whole process (median, min, max of {} run{}); ratio: median / the first row's median",
            report.runs,
            if report.runs == 1 { "" } else { "s" }
        ),
        "forced: GIL switches forced by a waiting thread's drop request (median per run); wait share: time threads waited for the GIL / (time held + time waited)".into(),
        "corrupt: runs stopped by simulated memory corruption (exit 3); outputs are compared with decimal numbers (times) masked".into(),
    ]
}

/// Render the report in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => render_table(report),
        Format::Markdown => render_markdown(report),
        Format::Csv => render_csv(report),
        Format::Json => render_json(report),
    }
}

fn render_table(report: &Report) -> String {
    let rows = cells(report);
    let mut widths: Vec<usize> = HEADINGS.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w.saturating_sub(c.chars().count());
            match i {
                0 => {
                    s.push_str(c);
                    s.push_str(&" ".repeat(pad));
                }
                // the note is last: no padding after it
                8 => s.push_str(c),
                _ => {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                }
            }
            if i < 8 {
                s.push_str("  ");
            }
        }
        s.trim_end().to_string()
    };
    let mut out = String::new();
    for p in &report.preamble {
        let _ = writeln!(out, "{p}");
    }
    let head: Vec<String> = HEADINGS.iter().map(|h| h.to_string()).collect();
    let _ = writeln!(out, "{}", line(&head));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }
    out.push('\n');
    for l in legend(report) {
        let _ = writeln!(out, "{l}");
    }
    out
}

fn render_markdown(report: &Report) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = String::new();
    for p in &report.preamble {
        let _ = writeln!(out, "{p}  ");
    }
    out.push('\n');
    let _ = writeln!(out, "| {} |", HEADINGS.join(" | "));
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in cells(report) {
        let row: Vec<String> = r.iter().map(|c| esc(c)).collect();
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
    for l in legend(report) {
        let _ = writeln!(out, "{l}  ");
    }
    out
}

fn render_csv(report: &Report) -> String {
    // Machine-readable: plain numbers (no "%" and "-"), empty where unknown.
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let opt =
        |x: Option<f64>, digits: usize| x.map_or_else(String::new, |v| format!("{v:.digits$}"));
    let first = report.rows.first().and_then(Row::median_s);
    let mut out = String::from(
        "configuration,runs,median_s,min_s,max_s,ratio,forced_switches,gil_wait_share,corruption_events,note\n",
    );
    for r in &report.rows {
        let ratio = match (r.median_s(), first) {
            (Some(m), Some(f)) if f > 0.0 => Some(m / f),
            _ => None,
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            quote(&r.label),
            r.outcomes.len(),
            opt(r.median_s(), 6),
            opt(r.min_s(), 6),
            opt(r.max_s(), 6),
            opt(ratio, 4),
            opt(r.forced_switches(), 1),
            opt(r.wait_share(), 4),
            if r.is_gilsim() {
                r.corruption_events().to_string()
            } else {
                String::new()
            },
            quote(&r.note)
        );
    }
    out
}

fn render_json(report: &Report) -> String {
    use serde_json::{json, Value};
    let first = report.rows.first().and_then(Row::median_s);
    let rows: Vec<Value> = report
        .rows
        .iter()
        .map(|r| {
            let (engine, gil, interval, refcount) = match &r.job.engine {
                Engine::Gilsim {
                    gil,
                    switch_interval,
                    refcount,
                } => (
                    "gilsim",
                    json!(if *gil { "on" } else { "off" }),
                    json!(switch_interval),
                    json!(refcount_name(*refcount)),
                ),
                Engine::Python => ("python3", Value::Null, Value::Null, Value::Null),
            };
            let statuses: Vec<Value> = r
                .outcomes
                .iter()
                .map(|o| match &o.status {
                    Status::Exited(c) => json!(c),
                    Status::Signalled => json!("signal"),
                    Status::NotStarted(_) => json!("not started"),
                })
                .collect();
            json!({
                "configuration": r.label,
                "file": r.job.file,
                "engine": engine,
                "gil": gil,
                "switch_interval_s": interval,
                "refcount": refcount,
                "threads": r.job.threads,
                "runs": r.outcomes.len(),
                "seconds": times(r),
                "exit_statuses": statuses,
                "median_s": r.median_s(),
                "min_s": r.min_s(),
                "max_s": r.max_s(),
                "ratio": match (r.median_s(), first) {
                    (Some(m), Some(f)) if f > 0.0 => Some(m / f),
                    _ => None,
                },
                "forced_switches": r.forced_switches(),
                "gil_wait_share": r.wait_share(),
                "corruption_events": if r.is_gilsim() { json!(r.corruption_events()) } else { Value::Null },
                "note": r.note,
            })
        })
        .collect();
    let doc = json!({ "preamble": report.preamble, "rows": rows });
    // Serialising a Value built above cannot fail; an empty object is a safe
    // fallback should it ever.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

// ------------------------------------------------------------ real processes

/// Runs jobs as child processes: gilsim itself, or python3.
pub struct ProcessRunner {
    exe: PathBuf,
    /// Where each gilsim run writes its statistics (removed on drop).
    scratch: PathBuf,
    /// PYTHONPATH entry for the shims, if found.
    shims: Option<PathBuf>,
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
            next: 0,
        })
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
                let mut c = Command::new("python3");
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

/// The version python3 reports, or why it cannot be run.
fn python_version() -> Result<String, String> {
    let out = Command::new("python3")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        return Err("python3 --version failed".into());
    }
    // Python 2 printed its version on stderr; 3 prints it on stdout.
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(if text.is_empty() {
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    } else {
        text
    })
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
    if args.python {
        match python_version() {
            Ok(v) => extra.push(format!("python3 rows: {v}")),
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
        Ok(r) => r,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_reject_typos() {
        assert_eq!(parse_gil_list("on,off"), Ok(List(vec![true, false])));
        assert!(parse_gil_list("on,,off").is_err());
        assert!(parse_gil_list("yes").is_err());
        assert_eq!(parse_threads_list("1,2,4"), Ok(List(vec![1, 2, 4])));
        assert!(parse_threads_list("0").is_err());
        assert!(parse_threads_list("2,x").is_err());
        assert_eq!(parse_interval_list("5ms,100us").map(|l| l.0.len()), Ok(2));
        assert!(parse_interval_list("0").is_err());
        assert!(parse_refcount_list("plain,atomic").is_ok());
        assert!(parse_refcount_list("fast").is_err());
        assert_eq!(parse_runs("3"), Ok(3));
        assert!(parse_runs("0").is_err());
    }

    #[test]
    fn times_are_masked_but_counts_are_not() {
        assert_eq!(mask_times("took 0.918 s, got 12"), "took # s, got 12");
        assert_eq!(mask_times("v1.2.3 end."), "v#.3 end.");
        assert_eq!(mask_times("lost 5."), "lost 5.");
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn stats_json_is_read() {
        let text = r#"{"totals": {"forced_switches": 7, "gil_hold_s": 0.5, "gil_wait_s": 0.25,
            "lost_increfs": 1, "lost_decrefs": 2, "lost_appends": 3},
            "heap": {"use_after_free": 0, "refcount_errors": 4}}"#;
        let s = RunStats::from_json(text).expect("parses");
        assert_eq!(s.forced_switches, 7);
        assert_eq!(s.lost_refcount_updates, 3);
        assert_eq!(s.lost_appends, 3);
        assert_eq!(s.refcount_errors, 4);
        assert!(RunStats::from_json("{}").is_none());
    }
}
