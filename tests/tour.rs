//! `gilsim tour`: one real tour without colours, checked step by step for its
//! headings, its measured numbers and their consistency with what the tour
//! concludes from them, its SVG timelines and its reproducible commands; the
//! built-in programs saved with `--save` and run under CPython; bad directories.

use assert_cmd::Command;
use gilsim::cli::compare::mask_times;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HEADINGS: [&str; 6] = [
    "1. Reference counts race without the GIL",
    "2. The same program under the GIL",
    "3. counter += 1 loses updates; a Lock fixes it",
    "4. CPU-bound threads: one core at a time under the GIL",
    "5. I/O-bound: one after another, threads, coroutines",
    "6. The switch interval's cost",
];

fn gilsim() -> Command {
    let mut cmd = Command::cargo_bin("gilsim").expect("the gilsim binary is built");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.timeout(Duration::from_secs(120));
    cmd
}

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tour")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The text of step `n` (1-based): from its heading to the next one, or to the end.
fn section(out: &str, n: usize) -> &str {
    let start = out
        .find(&format!("\n{}\n", HEADINGS[n - 1]))
        .unwrap_or_else(|| panic!("no heading {:?} in\n{out}", HEADINGS[n - 1]));
    let rest = &out[start + 1..];
    let end = match HEADINGS.get(n) {
        Some(next) => rest.find(next).unwrap_or(rest.len()),
        None => rest.find("Tour finished").unwrap_or(rest.len()),
    };
    &rest[..end]
}

fn measured(section: &str) -> Vec<&str> {
    section
        .lines()
        .filter_map(|l| l.trim().strip_prefix("measured: "))
        .collect()
}

/// Every decimal number followed by " s" in a line: its times in seconds.
fn seconds_in(line: &str) -> Vec<f64> {
    let words: Vec<&str> = line.split(' ').collect();
    words
        .windows(2)
        .filter(|w| w[1].starts_with('s') && w[1].len() <= 2)
        .filter_map(|w| w[0].parse::<f64>().ok())
        .collect()
}

/// The number just before `word` in `line` ("27 forced switches" -> 27).
fn number_before(line: &str, word: &str) -> Option<f64> {
    let i = line.find(word)?;
    line[..i]
        .split_whitespace()
        .last()?
        .trim_end_matches('x')
        .parse()
        .ok()
}

/// The number just after `word` in `line` ("speed-up 1.83x" -> 1.83).
fn number_after(line: &str, word: &str) -> Option<f64> {
    let i = line.find(word)? + word.len();
    line[i..]
        .split_whitespace()
        .next()?
        .trim_end_matches([',', ';', 'x'])
        .parse()
        .ok()
}

/// (expected, got, lost) from "expected 200000, got 115735, lost 84265".
fn counts(line: &str) -> (u64, u64, u64) {
    let n = |w: &str| number_after(line, w).map(|x| x as u64);
    match (n("expected "), n("got "), n("lost ")) {
        (Some(e), Some(g), Some(l)) => (e, g, l),
        _ => panic!("no counts in {line:?}"),
    }
}

#[test]
fn tour_runs_every_step_with_consistent_numbers() {
    let dir = scratch("full");
    let tmp = dir.join("tmp");
    let svg_dir = dir.join("svg");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let start = Instant::now();
    let out = gilsim()
        .args(["tour", "--timeline"])
        .arg(&svg_dir)
        .env("TMPDIR", &tmp)
        .env("NO_COLOR", "1")
        // NO_COLOR wins even over a request to force colours
        .env("CLICOLOR_FORCE", "1")
        .output()
        .expect("gilsim starts");
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        elapsed < Duration::from_secs(120),
        "the tour took {elapsed:?}"
    );
    assert!(
        !stdout.contains('\x1b'),
        "no colours with NO_COLOR:\n{stdout}"
    );
    assert!(!stdout.contains("unexpected"), "{stdout}");

    // The headings, in order.
    let mut at = 0;
    for h in HEADINGS {
        let i = stdout[at..]
            .find(h)
            .unwrap_or_else(|| panic!("{h:?} after byte {at}:\n{stdout}"));
        at += i + h.len();
    }

    // 1: caught (a crash report, summarized) or honestly not caught.
    let s1 = section(&stdout, 1);
    assert!(
        s1.contains("$ gilsim run shared_words.toy --gil off"),
        "{s1}"
    );
    if s1.contains("caught on attempt") {
        assert!(
            s1.contains("exit status 3 (simulated memory corruption)"),
            "{s1}"
        );
        for key in ["object:", "freed by:", "then used by:"] {
            assert!(s1.contains(key), "{key} in\n{s1}");
        }
    } else {
        assert!(s1.contains("no corruption in 10 runs"), "{s1}");
    }

    // 2: clean, with the program's own check of its result.
    let s2 = section(&stdout, 2);
    let m2 = measured(s2);
    assert_eq!(m2.len(), 1, "{s2}");
    assert!(
        m2[0].starts_with("exit status 0; letters read: 504000 (expected 504000)"),
        "{s2}"
    );
    assert!(s2.contains("heap audit: clean"), "{s2}");
    let updates = number_after(s2, "reference-count updates: ").expect("updates");
    assert!(
        updates > 240_000.0,
        "each of 240,000 reads copies references: {s2}"
    );
    assert_eq!(number_after(s2, "lost: "), Some(0.0), "{s2}");

    // 3: the counts add up; the lock loses nothing, nor does `counter += 1`
    // under the GIL (the tour says why: no switch point inside it).
    let s3 = section(&stdout, 3);
    let m3 = measured(s3);
    assert_eq!(m3.len(), 3, "{s3}");
    for line in &m3 {
        let (e, g, l) = counts(line);
        assert_eq!((e, e - g), (200_000, l), "{line}");
    }
    assert_eq!(counts(m3[1]).2, 0, "with the Lock: {}", m3[1]);
    assert_eq!(counts(m3[2]).2, 0, "under the GIL: {}", m3[2]);
    if counts(m3[0]).2 == 0 {
        assert!(s3.contains("No update was lost this time"), "{s3}");
    }

    // 4: each speed-up is the ratio of the printed times, and the conclusion
    // follows from the measured one.
    let s4 = section(&stdout, 4);
    let m4 = measured(s4);
    assert_eq!(m4.len(), 3, "{s4}");
    let t: Vec<f64> = m4.iter().map(|l| seconds_in(l)[0]).collect();
    assert!(t.iter().all(|&x| x > 0.0), "{s4}");
    for (i, line) in m4.iter().enumerate().skip(1) {
        let shown = number_after(line, "speed-up ").expect("a speed-up");
        let ratio = t[0] / t[i];
        assert!(
            (shown - ratio).abs() < 0.02 + ratio * 0.01,
            "{shown} vs {ratio}: {line}"
        );
    }
    assert!(
        number_before(m4[1], "forced switches").is_some(),
        "{}",
        m4[1]
    );
    let free = number_after(m4[2], "speed-up ").unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        assert!(s4.contains("only one core"), "{s4}");
    } else if free >= 1.5 {
        assert!(s4.contains("as fast as one"), "{s4}");
    } else {
        assert!(s4.contains("the speed-up is only"), "{s4}");
    }

    // 5: overlapping waits beat waiting one after another.
    let s5 = section(&stdout, 5);
    let m5 = measured(s5);
    assert_eq!(m5.len(), 3, "{s5}");
    let t5: Vec<f64> = m5.iter().map(|l| seconds_in(l)[0]).collect();
    assert!(t5[0] > t5[1] && t5[0] > t5[2], "sync slowest: {t5:?}\n{s5}");
    assert!(
        m5[1].contains("11 threads"),
        "10 workers and the main thread: {}",
        m5[1]
    );
    assert!(m5[2].contains("coroutine steps on 1 thread"), "{}", m5[2]);

    // 6: a shorter interval forces at least as many switches.
    let s6 = section(&stdout, 6);
    let m6 = measured(s6);
    assert_eq!(m6.len(), 2, "{s6}");
    let forced: Vec<f64> = m6
        .iter()
        .map(|l| number_before(l, "forced switches").expect("forced switches"))
        .collect();
    assert!(forced[1] >= forced[0], "100us vs 5ms: {forced:?}\n{s6}");

    // Every SVG the tour lists exists and is a picture.
    let listed: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with(".svg") && !l.starts_with('$'))
        .collect();
    assert_eq!(listed.len(), 12, "{stdout}");
    for p in &listed {
        let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(text.contains("<svg"), "{p}");
    }

    // A printed command, run again from the programs' directory, does the same.
    let programs = tmp.join("gilsim-tour");
    let again = gilsim()
        .current_dir(&programs)
        .args([
            "run",
            "counter_locked.toy",
            "2",
            "--gil",
            "off",
            "--refcount",
            "atomic",
        ])
        .output()
        .expect("gilsim starts");
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "expected 200000, got 200000, lost 0\n"
    );
}

/// `--save` writes the programs, each with its header; those that print the
/// same every time print what CPython prints (with the shims for the network).
#[test]
fn tour_programs_are_saved_and_agree_with_cpython() {
    let dir = scratch("save").join("programs");
    let out = gilsim()
        .args(["tour", "--save"])
        .arg(&dir)
        .output()
        .expect("gilsim starts");
    assert_eq!(out.status.code(), Some(0));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the directory was created")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    assert_eq!(names.len(), 7, "{names:?}");
    for name in &names {
        let text = std::fs::read_to_string(dir.join(name)).expect("read");
        assert!(
            text.starts_with(&format!("# {name} (gilsim tour")),
            "{name}"
        );
    }
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !python {
        eprintln!("note: tour_programs_are_saved_and_agree_with_cpython: no python3; skipped");
        return;
    }
    let shims = Path::new(env!("CARGO_MANIFEST_DIR")).join("shims");
    // counter.toy is left out: whether CPython loses updates depends on its version.
    for name in [
        "shared_words.toy",
        "counter_locked.toy",
        "crunch.toy",
        "fetch_sync.toy",
        "fetch_threads.toy",
        "fetch_async.toy",
    ] {
        let ours = gilsim()
            .current_dir(&dir)
            .args(["run", name])
            .output()
            .expect("gilsim starts");
        let theirs = std::process::Command::new("python3")
            .arg(name)
            .current_dir(&dir)
            .env("PYTHONPATH", &shims)
            .output()
            .expect("python3 starts");
        assert_eq!(ours.status.code(), Some(0), "{name}");
        assert_eq!(
            theirs.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        let (a, b) = (
            mask_times(&String::from_utf8_lossy(&ours.stdout)),
            mask_times(&String::from_utf8_lossy(&theirs.stdout)),
        );
        assert!(!a.is_empty(), "{name}");
        assert_eq!(a, b, "{name}: gilsim vs CPython");
    }
}

#[test]
fn tour_bad_directories_exit_2() {
    let dir = scratch("bad");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").expect("write");
    let under_file = file.join("sub");
    for args in [
        vec![
            "tour".to_string(),
            "--timeline".into(),
            under_file.display().to_string(),
        ],
        vec![
            "tour".to_string(),
            "--save".into(),
            under_file.display().to_string(),
        ],
        vec![
            "tour".to_string(),
            "--save".into(),
            "a".into(),
            "--timeline".into(),
            "b".into(),
        ],
    ] {
        let out = gilsim()
            .args(&args)
            .env("TMPDIR", &dir)
            .output()
            .expect("gilsim starts");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing ran");
    }
}
