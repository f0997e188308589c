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
//!
//! - this file: the options, the jobs, the [`Runner`] trait, and the report;
//! - `figures`: median, min, max, forced switches, wait share, and the notes;
//! - `render`: the table, markdown, csv and json;
//! - `process`: the real runner, the shims for python3, and `main`.

mod figures;
mod process;
mod render;

pub use figures::mask_times;
use figures::note_for;
pub use process::{check_files, find_shims, main, ProcessRunner};
pub use render::render;

use super::config::parse_duration;
use crate::heap::RefcountMode;
use crate::observe::stats::fmt_interval;

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
