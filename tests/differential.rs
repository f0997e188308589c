//! The differential harness: every `tests/programs/<area>/*.toy` runs under gilsim
//! and must print exactly its recorded `# expect:` lines and exit as recorded;
//! gilsim runs with `--audit`, whose verdict must be clean (exact reference
//! counts); where `python3` exists, CPython runs it too and must agree with the same
//! record, so a wrong expectation cannot hide a wrong gilsim.
//! (The format is described in tests/programs/README.md.)

use std::path::{Path, PathBuf};
use std::process::Command;

struct Expect {
    stdout: String,
    exit: i32,
    stderr: Vec<String>,
}

fn parse_expect(src: &str) -> Expect {
    let mut e = Expect {
        stdout: String::new(),
        exit: 0,
        stderr: vec![],
    };
    for line in src.lines() {
        if let Some(rest) = line.strip_prefix("# expect:") {
            e.stdout.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            e.stdout.push('\n');
        } else if let Some(rest) = line.strip_prefix("# expect-exit:") {
            e.exit = rest.trim().parse().unwrap_or(-1);
        } else if let Some(rest) = line.strip_prefix("# expect-stderr:") {
            e.stderr
                .push(rest.strip_prefix(' ').unwrap_or(rest).to_string());
        }
    }
    e
}

fn programs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in rd.flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "toy") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs"),
        &mut v,
    );
    v.sort();
    v
}

fn python3() -> Option<&'static str> {
    let ok = Command::new("python3")
        .arg("-c")
        .arg("import sys; assert sys.version_info >= (3, 11)")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some("python3")
}

/// Run one interpreter on one program; a mismatch with `e` is described.
fn check(cmd: &mut Command, who: &str, path: &Path, e: &Expect) -> Option<String> {
    let out = match cmd.output() {
        Ok(o) => o,
        Err(err) => return Some(format!("{who}: cannot run: {err}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    let mut problems = Vec::new();
    if stdout != e.stdout {
        problems.push(format!(
            "stdout differs\n--- expected\n{}--- {who}\n{}",
            e.stdout, stdout
        ));
    }
    if code != e.exit {
        problems.push(format!(
            "exit status {code}, expected {}\nstderr:\n{stderr}",
            e.exit
        ));
    }
    for want in &e.stderr {
        if !stderr.lines().any(|l| l == want) {
            problems.push(format!("stderr lacks the line {want:?}\nstderr:\n{stderr}"));
        }
    }
    if who == "gilsim" {
        // every run is audited: the heap's counts must be exact, single-threaded
        if !stderr.contains("result: clean") {
            problems.push(format!("the heap audit is not clean:\n{stderr}"));
        }
        let before_audit = stderr.split("heap audit:").next().unwrap_or("");
        if e.exit == 0 && e.stderr.is_empty() && !before_audit.is_empty() {
            problems.push(format!("unexpected stderr:\n{stderr}"));
        }
    }
    if problems.is_empty() {
        None
    } else {
        Some(format!(
            "{} [{who}]: {}",
            path.display(),
            problems.join("\n")
        ))
    }
}

#[test]
fn toy_programs_match_their_expectations_and_cpython() {
    let files = programs();
    assert!(
        files.len() >= 100,
        "expected the test programs, found {}",
        files.len()
    );
    let py = python3();
    let gilsim = env!("CARGO_BIN_EXE_gilsim");
    let failures = std::sync::Mutex::new(Vec::new());
    let chunks: Vec<Vec<PathBuf>> = files
        .chunks(files.len().div_ceil(4))
        .map(|c| c.to_vec())
        .collect();
    std::thread::scope(|s| {
        for chunk in &chunks {
            let failures = &failures;
            s.spawn(move || {
                for path in chunk {
                    let src = std::fs::read_to_string(path).unwrap_or_default();
                    let e = parse_expect(&src);
                    let dir = path.parent().unwrap_or(Path::new("."));
                    let name = path.file_name().unwrap_or_default();
                    let mut cmd = Command::new(gilsim);
                    cmd.arg("run").arg("--audit").arg(name).current_dir(dir);
                    if let Some(f) = check(&mut cmd, "gilsim", path, &e) {
                        failures.lock().unwrap_or_else(|p| p.into_inner()).push(f);
                    }
                    if let Some(py) = py {
                        let mut cmd = Command::new(py);
                        // shims/ stands in for requests and aiohttp
                        let shims = Path::new(env!("CARGO_MANIFEST_DIR")).join("shims");
                        cmd.arg(name).current_dir(dir).env("PYTHONPATH", shims);
                        if let Some(f) = check(&mut cmd, "python3", path, &e) {
                            failures.lock().unwrap_or_else(|p| p.into_inner()).push(f);
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    if py.is_none() {
        eprintln!("note: python3 (3.11+) not found; checked gilsim against the recorded expectations only");
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
