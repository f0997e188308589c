//! Threads under the GIL: no deadlock, exact heaps, blocking calls overlap, and
//! the statistics say what the lock did. (What goes wrong without it: races.rs.)
//! Timing assertions here are generous sanity bounds only; measurements live in
//! bench/.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn gilsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gilsim"))
}

/// Run with a deadline; a run that does not finish in time is a hang.
pub(crate) fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gilsim starts");
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("gilsim did not finish within {limit:?}: deadlock or hang");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

pub(crate) fn write_program(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gilsim-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write program");
    p
}

const MIXED64: &str = r#"
import threading, time
results = []
lock = threading.Lock()
def cpu(n):
    t = 0
    for i in range(n):
        t += i % 3
    with lock:
        results.append(t)
def io(k):
    for _ in range(k):
        time.sleep(0.001)
    with lock:
        results.append(-k)
ts = []
for i in range(64):
    if i % 2:
        ts.append(threading.Thread(target=cpu, args=(2000 + i,)))
    else:
        ts.append(threading.Thread(target=io, args=(1 + i % 3,)))
for t in ts:
    t.start()
for t in ts:
    t.join()
print(len(results), sum(r for r in results if r > 0))
"#;

#[test]
fn sixty_four_mixed_threads_twenty_times_no_deadlock_clean_audit() {
    let p = write_program("mixed64.toy", MIXED64);
    let expected: i64 = (0..64)
        .filter(|i| i % 2 == 1)
        .map(|i: i64| (0..2000 + i).map(|k| k % 3).sum::<i64>())
        .sum();
    for run in 0..20 {
        let mut cmd = gilsim();
        cmd.arg("run").arg("--audit").arg(&p);
        let out = run_bounded(cmd, Duration::from_secs(60));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "run {run}: {stderr}");
        assert_eq!(stdout.trim(), format!("64 {expected}"), "run {run}");
        assert!(stderr.contains("result: clean"), "run {run}: {stderr}");
    }
}

#[test]
fn overlapping_sleeps_overlap() {
    let p = write_program(
        "sleeps.toy",
        "import threading, time\nts = [threading.Thread(target=time.sleep, args=(0.1,)) for _ in range(8)]\ns = time.perf_counter()\nfor t in ts: t.start()\nfor t in ts: t.join()\nprint(time.perf_counter() - s)\n",
    );
    let mut cmd = gilsim();
    cmd.arg("run").arg(&p);
    let out = run_bounded(cmd, Duration::from_secs(30));
    let t: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number");
    assert!(t >= 0.1, "sleeps cannot finish before 100 ms: {t}");
    assert!(t < 0.8, "8 overlapping 100 ms sleeps took {t} s");
}

#[test]
fn a_thousand_sleeping_threads() {
    let p = write_program(
        "thousand.toy",
        "import threading, time\nts = [threading.Thread(target=time.sleep, args=(0.1,)) for _ in range(1000)]\nfor t in ts: t.start()\nfor t in ts: t.join()\nprint(threading.active_count())\n",
    );
    let mut cmd = gilsim();
    cmd.arg("run").arg("--audit").arg(&p);
    let out = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    assert!(String::from_utf8_lossy(&out.stderr).contains("result: clean"));
}

fn forced_switches(interval: &str) -> u64 {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut cmd = gilsim();
    cmd.current_dir(root)
        .args(["run", "--stats-json", "-", "--switch-interval", interval])
        .arg("programs/cpu_bound.toy")
        .arg("2");
    let out = run_bounded(cmd, Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout);
    let totals = text.split("\"totals\"").nth(1).expect("totals in the JSON");
    let n = totals
        .split("\"forced_switches\": ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .expect("forced_switches");
    n
}

#[test]
fn a_shorter_switch_interval_forces_more_switches() {
    // A property that must show at least once in a few tries on any machine.
    let ok = (0..3).any(|_| forced_switches("100us") > forced_switches("20ms"));
    assert!(ok, "100us never produced more forced switches than 20ms");
}

#[test]
fn stats_table_and_json_have_every_field() {
    let root = env!("CARGO_MANIFEST_DIR");
    let json = std::env::temp_dir().join(format!("gilsim-stats-{}.json", std::process::id()));
    let mut cmd = gilsim();
    cmd.current_dir(root)
        .args(["run", "--stats", "--stats-json"])
        .arg(&json)
        .arg("programs/io_bound.toy");
    let out = run_bounded(cmd, Duration::from_secs(30));
    let table = String::from_utf8_lossy(&out.stderr);
    for col in [
        "thread",
        "instructions",
        "acquired",
        "forced",
        "released",
        "hold s",
        "wait s",
        "io s",
        "MainThread",
        "total",
        "wall",
        "cpu",
        "reference counts",
        "increments",
        "lost incs",
        "lost appends",
        "refcount errors",
        "uses after free",
    ] {
        assert!(table.contains(col), "table lacks {col}:\n{table}");
    }
    let text = std::fs::read_to_string(&json).expect("stats JSON written");
    for key in [
        "\"config\"",
        "\"gil\"",
        "\"switch_interval_s\"",
        "\"seed\"",
        "\"wall_s\"",
        "\"cpu_s\"",
        "\"threads\"",
        "\"name\"",
        "\"instructions\"",
        "\"gil_acquisitions\"",
        "\"forced_switches\"",
        "\"voluntary_releases\"",
        "\"gil_hold_s\"",
        "\"gil_wait_s\"",
        "\"io_s\"",
        "\"totals\"",
        "\"heap\"",
        "\"allocated\"",
        "\"freed\"",
        "\"live\"",
        "\"increfs\"",
        "\"decrefs\"",
        "\"lost_increfs\"",
        "\"lost_decrefs\"",
        "\"lost_appends\"",
        "\"refcount_errors\"",
        "\"leaked\"",
        "\"too_low\"",
        "\"dangling\"",
        "\"use_after_free\"",
    ] {
        assert!(text.contains(key), "JSON lacks {key}:\n{text}");
    }
    // eight threads each slept three times: at least 24 voluntary releases
    let totals = text.split("\"totals\"").nth(1).unwrap_or("");
    let released: u64 = totals
        .split("\"voluntary_releases\": ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(released >= 24, "only {released} voluntary releases");
}

/// `--max-threads N`: N threads besides the main one may be alive at once;
/// the next `start()` raises CPython's RuntimeError, leaves that thread
/// unstarted (it may be started later, as in CPython), and a thread that has
/// ended gives its place back before `join()` returns.
#[test]
fn max_threads_refuses_a_thread_past_the_cap() {
    let p = write_program(
        "cap.toy",
        "\
import threading
go = threading.Event()
done = []
def work(i):
    go.wait()
    done.append(i)
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in ts[:3]:
    t.start()
refused = False
try:
    ts[3].start()
    print('started')
except RuntimeError as e:
    refused = True
    print('refused:', str(e).split(' (')[0])
print(ts[3].is_alive(), threading.active_count())
go.set()
for t in ts[:3]:
    t.join()
if refused:
    ts[3].start()
ts[3].join()
print('after join:', sorted(done))
",
    );
    let run = |extra: &[&str]| {
        let mut cmd = gilsim();
        cmd.arg("run").arg("--audit").args(extra).arg(&p);
        let out = run_bounded(cmd, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("result: clean"), "{stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        run(&["--max-threads", "3"]),
        "refused: can't start new thread\nFalse 4\nafter join: [0, 1, 2, 3]\n"
    );
    // Without a cap (the default) and with room to spare, all four start.
    for extra in [&[][..], &["--max-threads", "4"][..]] {
        assert_eq!(run(extra), "started\nTrue 5\nafter join: [0, 1, 2, 3]\n");
    }
}

/// Uncaught, the cap's error ends the program as CPython's would: a traceback
/// whose last line is the RuntimeError, exit status 1. Executor workers count
/// against the cap too.
#[test]
fn max_threads_error_is_a_python_traceback() {
    for (code, expected) in [
        (
            "import threading\ngo = threading.Event()\nfor i in range(10):\n    threading.Thread(target=go.wait, daemon=True).start()\n",
            "line 4",
        ),
        (
            "from concurrent.futures import ThreadPoolExecutor\nimport threading\ngo = threading.Event()\nex = ThreadPoolExecutor(max_workers=8)\ntry:\n    for i in range(8):\n        ex.submit(go.wait)\nfinally:\n    go.set()\n",
            "line 7",
        ),
    ] {
        let mut cmd = gilsim();
        cmd.args(["run", "--max-threads", "2", "-c", code]);
        let out = run_bounded(cmd, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        let last = stderr.lines().last().unwrap_or("");
        assert!(
            last.starts_with("RuntimeError: can't start new thread (2 threads are running")
                && last.ends_with("--max-threads 2)"),
            "{stderr}"
        );
    }
}
