//! `gilsim compare`: the table, its notes and every format on a deterministic
//! fake runner (snapshots), the order the runs are made in, bad input (exit
//! status 2), and one real end-to-end comparison of a tiny program.

use assert_cmd::Command;
use gilsim::cli::compare::{
    compare, jobs, render, CompareArgs, Engine, Format, Job, Outcome, Report, RunStats, Runner,
    Status,
};
use gilsim::heap::RefcountMode;
use std::path::Path;
use std::time::Duration;

/// A runner whose every result is a function of the job and of how many times
/// that job ran before, shaped like the real thing: the GIL gives two threads
/// no speed-up and forces switches, no GIL with plain counts loses updates and
/// crashes once, atomic counts scale, `counter.toy` prints a different count
/// each run without the GIL, python3 runs a little faster and prints the same,
/// and `broken.toy` raises.
struct Fake {
    seen: Vec<Job>,
}

impl Fake {
    fn new() -> Fake {
        Fake { seen: vec![] }
    }
}

fn outcome(status: Status, seconds: f64, stdout: &str, stats: Option<RunStats>) -> Outcome {
    Outcome {
        status,
        seconds,
        stdout: stdout.to_string(),
        stderr_tail: String::new(),
        stats,
    }
}

impl Runner for Fake {
    fn run(&mut self, job: &Job) -> Outcome {
        let k = self.seen.iter().filter(|j| *j == job).count() as f64;
        self.seen.push(job.clone());
        let n = job.threads.unwrap_or(1) as f64;
        let jitter = 0.01 * k; // runs of one job differ a little
        let name = Path::new(&job.file)
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or("");
        let stdout = if name == "counter.toy" {
            match job.engine {
                Engine::Gilsim { gil: false, .. } => format!("lost {}\n", 100 + k as u64 * 7),
                _ => "lost 0\n".to_string(),
            }
        } else {
            format!("done in {:.3} s, checksum 42\n", 1.0 + jitter)
        };
        if name == "broken.toy" {
            let mut o = outcome(Status::Exited(1), 0.05, "", None);
            o.stderr_tail = "ZeroDivisionError: division by zero".into();
            return o;
        }
        match job.engine {
            Engine::Python => {
                if name == "counter.toy" {
                    return outcome(
                        Status::NotStarted("python3: No such file or directory".into()),
                        0.0,
                        "",
                        None,
                    );
                }
                outcome(Status::Exited(0), 0.9 + jitter, &stdout, None)
            }
            Engine::Gilsim {
                gil: true,
                switch_interval,
                ..
            } => {
                let forced = ((n - 1.0) * 0.2 / switch_interval) as u64;
                let stats = RunStats {
                    forced_switches: forced,
                    gil_hold_s: 1.0,
                    gil_wait_s: (n - 1.0) * 1.0,
                    ..RunStats::default()
                };
                let secs = 1.0 + 0.04 * (n - 1.0) + jitter;
                outcome(Status::Exited(0), secs, &stdout, Some(stats))
            }
            Engine::Gilsim {
                gil: false,
                refcount: RefcountMode::Plain,
                ..
            } => {
                if n > 1.0 && k == 1.0 {
                    let mut o = outcome(Status::Exited(3), 0.3, "", None);
                    o.stderr_tail = "gilsim: exit status 3 (simulated memory corruption)".into();
                    return o;
                }
                let stats = RunStats {
                    gil_hold_s: 0.0,
                    gil_wait_s: 0.0,
                    lost_refcount_updates: if n > 1.0 { 12 } else { 0 },
                    refcount_errors: if n > 1.0 { 1 } else { 0 },
                    ..RunStats::default()
                };
                outcome(Status::Exited(0), 1.0 / n + jitter, &stdout, Some(stats))
            }
            Engine::Gilsim { gil: false, .. } => outcome(
                Status::Exited(0),
                1.0 / n + jitter,
                &stdout,
                Some(RunStats::default()),
            ),
        }
    }
}

fn args(files: &[&str]) -> CompareArgs {
    CompareArgs {
        files: files.iter().map(|f| f.to_string()).collect(),
        ..CompareArgs::default()
    }
}

fn run_fake(a: &CompareArgs) -> (Report, Fake) {
    let mut fake = Fake::new();
    let mut calls = 0;
    let report = compare(a, &mut fake, &mut |_, _, _| calls += 1);
    // one call before each run and one at the end
    assert_eq!(calls, fake.seen.len() + 1, "progress calls");
    (report, fake)
}

/// The CPU-bound comparison of the issue: GIL on and off, both kinds of counts,
/// one and two threads, CPython alongside.
fn cpu_args() -> CompareArgs {
    CompareArgs {
        gil: vec![true, false],
        refcount: vec![RefcountMode::Plain, RefcountMode::Atomic],
        threads: Some(vec![1, 2]),
        runs: 3,
        python: true,
        ..args(&["programs/cpu.toy"])
    }
}

#[test]
fn compare_runs_every_combination_interleaved() {
    let a = cpu_args();
    let (report, fake) = run_fake(&a);
    let expected = jobs(&a);
    // 2 gil x 2 refcount x 2 threads, then python3 for each thread count
    assert_eq!(expected.len(), 10);
    assert_eq!(report.rows.len(), 10);
    assert_eq!(fake.seen.len(), 30);
    // round k runs every job once, in table order, before round k+1 starts
    for (i, job) in fake.seen.iter().enumerate() {
        assert_eq!(job, &expected[i % expected.len()], "run {i}");
    }
    assert_eq!(report.rows[0].median_s(), Some(1.01));
    assert_eq!(report.rows[0].min_s(), Some(1.0));
    assert_eq!(report.rows[0].max_s(), Some(1.02));
}

#[test]
fn compare_notes_say_what_stands_out() {
    let (report, _) = run_fake(&cpu_args());
    let note = |label: &str| {
        report
            .rows
            .iter()
            .find(|r| r.label == label)
            .map(|r| r.note.clone())
            .unwrap_or_else(|| panic!("no row {label}"))
    };
    assert!(note("programs/cpu.toy, gil on, refcount plain, 2 threads").starts_with("no speed-up"));
    assert_eq!(
        note("programs/cpu.toy, gil off, refcount atomic, 2 threads"),
        ""
    );
    let crashed = note("programs/cpu.toy, gil off, refcount plain, 2 threads");
    assert!(
        crashed.contains("simulated memory corruption in 1 of 3 runs"),
        "{crashed}"
    );
    assert!(
        crashed.contains("24 reference-count updates lost"),
        "{crashed}"
    );
    // python3 prints what gilsim prints (times masked), and gains nothing from threads
    assert!(note("python3 programs/cpu.toy, 2 threads").starts_with("no speed-up"));
    assert!(!note("python3 programs/cpu.toy, 1 thread").contains("differs"));

    let (races, _) = run_fake(&CompareArgs {
        gil: vec![true, false],
        python: true,
        ..args(&["counter.toy", "broken.toy"])
    });
    let notes: Vec<&str> = races.rows.iter().map(|r| r.note.as_str()).collect();
    assert_eq!(notes[0], "", "counter.toy with the GIL");
    assert!(notes[1].starts_with("output differed between runs (3 different outputs"));
    assert!(notes[2].starts_with("could not start (3 of 3 runs)"));
    assert!(
        notes[3].contains("exit status 1: ZeroDivisionError"),
        "{}",
        notes[3]
    );
}

#[test]
fn compare_table_and_formats() {
    let (report, _) = run_fake(&cpu_args());
    insta::assert_snapshot!("compare_table", render(&report, Format::Table));
    insta::assert_snapshot!("compare_markdown", render(&report, Format::Markdown));
    insta::assert_snapshot!("compare_csv", render(&report, Format::Csv));
    insta::assert_snapshot!("compare_json", render(&report, Format::Json));
    let (crawlers, _) = run_fake(&CompareArgs {
        switch_interval: vec![0.005, 0.0001],
        runs: 1,
        ..args(&["crawler_sync.toy", "broken.toy"])
    });
    insta::assert_snapshot!("compare_table_two_files", render(&crawlers, Format::Table));
}

#[test]
fn compare_json_and_csv_parse() {
    let (report, _) = run_fake(&cpu_args());
    let v: serde_json::Value =
        serde_json::from_str(&render(&report, Format::Json)).expect("valid JSON");
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), report.rows.len());
    assert_eq!(rows[0]["ratio"], 1.0);
    assert_eq!(rows[0]["seconds"].as_array().map(Vec::len), Some(3));
    let csv = render(&report, Format::Csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), report.rows.len() + 1);
    // a quoted note may hold commas; unquoted lines have exactly 10 fields
    for l in &lines {
        if !l.contains('"') {
            assert_eq!(l.split(',').count(), 10, "{l}");
        }
    }
}

// ------------------------------------------------------------ the real binary

fn gilsim() -> Command {
    let mut cmd = Command::cargo_bin("gilsim").expect("the gilsim binary is built");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.timeout(Duration::from_secs(120));
    cmd
}

fn scratch(test: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("compare")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

#[test]
fn compare_help() {
    let out = gilsim()
        .args(["compare", "--help"])
        .output()
        .expect("gilsim starts");
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("help_compare", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn compare_bad_input_exits_2() {
    let dir = scratch("bad_input");
    let ok = dir.join("ok.toy");
    std::fs::write(&ok, "print(1)\n").expect("write");
    let ok = ok.to_str().expect("UTF-8 path");
    let dir_s = dir.to_str().expect("UTF-8 path");
    let cases: &[(&[&str], &str)] = &[
        (
            &["compare", "no/such/file.toy"],
            "can't open file 'no/such/file.toy'",
        ),
        (&["compare", dir_s], "is a directory"),
        (
            &["compare", ok, "--gil", "maybe"],
            "'maybe' is not a GIL setting",
        ),
        (&["compare", ok, "--gil", "on,,off"], "has an empty item"),
        (&["compare", ok, "--runs", "0"], "--runs must be at least 1"),
        (&["compare", ok, "--threads", "0"], "between 1 and"),
        (
            &["compare", ok, "--threads", "two"],
            "'two' is not a thread count",
        ),
        (
            &["compare", ok, "--switch-interval", "5 parsecs"],
            "unknown unit",
        ),
        (
            &["compare", ok, "--refcount", "fast"],
            "not a reference-count mode",
        ),
        (&["compare", ok, "--format", "xml"], "invalid value 'xml'"),
        (&["compare"], "required"),
    ];
    for (argv, wanted) in cases {
        let out = gilsim().args(*argv).output().expect("gilsim starts");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {stderr}");
        assert!(
            stderr.contains(wanted),
            "{argv:?}: wanted {wanted:?} in\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{argv:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{argv:?}: nothing on stdout");
    }
}

/// `--python` with GILSIM_SHIMS pointing at a directory without the shims: a
/// clear message, exit 2 before anything runs.
#[test]
fn compare_bad_shims_directory_is_reported() {
    let dir = scratch("bad_shims");
    let prog = dir.join("p.toy");
    std::fs::write(&prog, "print(1)\n").expect("write");
    let out = gilsim()
        .args([
            "compare",
            prog.to_str().expect("UTF-8"),
            "--python",
            "--runs",
            "1",
        ])
        .env("GILSIM_SHIMS", &dir)
        .output()
        .expect("gilsim starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("cannot run python3") {
        eprintln!("note: compare_bad_shims_directory_is_reported: no python3; skipped");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("holds no requests.py"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("WITHOUT the shims"), "{stdout}");
}

/// A real comparison, one run per configuration: the children ran, their
/// statistics were read, the thread count reached the program, and (where
/// python3 exists) CPython printed the same.
#[test]
fn compare_end_to_end() {
    let dir = scratch("end_to_end");
    let prog = dir.join("tiny.toy");
    std::fs::write(
        &prog,
        "import sys\nimport threading\n\nn = int(sys.argv[1])\nout = [0] * n\n\n\n\
         def work(i):\n    s = 0\n    for k in range(20000):\n        s += k\n    out[i] = s\n\n\n\
         ts = [threading.Thread(target=work, args=(i,)) for i in range(n)]\n\
         for t in ts:\n    t.start()\nfor t in ts:\n    t.join()\nprint(n, 'threads:', sum(out))\n",
    )
    .expect("write");
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = gilsim();
    cmd.args([
        "compare",
        prog.to_str().expect("UTF-8"),
        "--threads",
        "1,2",
        "--runs",
        "1",
    ])
    .args(["--format", "json"]);
    if python {
        cmd.arg("--python");
    }
    let out = cmd.output().expect("gilsim starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // stderr is not a terminal here, so no progress bar was drawn
    assert!(!stderr.contains("runs,"), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), if python { 4 } else { 2 });
    for (row, threads) in rows.iter().zip([1, 2]) {
        assert_eq!(row["engine"], "gilsim");
        assert_eq!(row["threads"], threads);
        assert_eq!(row["exit_statuses"], serde_json::json!([0]));
        assert!(row["median_s"].as_f64().is_some_and(|s| s > 0.0), "{row}");
        // present only if the child's --stats-json was written and read
        assert!(row["forced_switches"].as_f64().is_some(), "{row}");
        assert!(row["gil_wait_share"].as_f64().is_some(), "{row}");
        assert_eq!(row["corruption_events"], 0);
        // (a "no speed-up" note is likely: startup dominates so small a program)
        let note = row["note"].as_str().unwrap_or("?");
        assert!(!note.contains("crash") && !note.contains("failed"), "{row}");
    }
    if python {
        for row in &rows[2..] {
            assert_eq!(row["engine"], "python3");
            assert_eq!(row["exit_statuses"], serde_json::json!([0]), "{row}");
            // the note would say so if CPython's output differed from gilsim's
            assert!(
                !row["note"].as_str().unwrap_or("?").contains("differs"),
                "{row}"
            );
        }
    } else {
        eprintln!("note: compare_end_to_end: no python3; the --python rows are skipped");
    }
}
