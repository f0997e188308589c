//! Coroutines and the event loop beyond what the differential programs show: the
//! loop gives the GIL away while it waits, statistics count steps and tasks, a
//! loop with nothing left to wake ends with an error instead of hanging, and many
//! overlapping sleeps take the time of one (a generous sanity bound only; the
//! measurement is ../shared/bench's async_sleep).

use super::threads::{gilsim, run_bounded, write_program};
use std::time::{Duration, Instant};

#[test]
fn the_event_loop_releases_the_gil_while_it_waits() {
    // A CPU-bound thread must make progress while the main thread's loop
    // sleeps: the loop waits for its timers without holding the lock.
    let p = write_program(
        "loop_gil.toy",
        r#"
import asyncio, threading
progress = []
stop = []
def spin():
    n = 0
    while not stop:
        n += 1
        if n % 1000 == 0:
            progress.append(n)
async def main():
    before = len(progress)
    await asyncio.gather(*[asyncio.sleep(0.1) for _ in range(3)])
    return len(progress) - before
t = threading.Thread(target=spin)
t.start()
ran = asyncio.run(main())
stop.append(1)
t.join()
print("thread ran during the loop's wait:", ran > 0)
"#,
    );
    let mut cmd = gilsim();
    cmd.arg("run").arg(&p);
    let out = run_bounded(cmd, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "thread ran during the loop's wait: True\n"
    );
}

#[test]
fn stats_count_coroutine_steps_tasks_and_idle_time() {
    let p = write_program(
        "loop_stats.toy",
        r#"
import asyncio
async def job(i):
    await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    return i
async def main():
    return sum(await asyncio.gather(*[job(i) for i in range(50)]))
print(asyncio.run(main()))
"#,
    );
    let mut cmd = gilsim();
    cmd.arg("run").arg("--stats-json").arg("-").arg(&p);
    let out = run_bounded(cmd, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> f64 {
        let key = format!("\"{name}\": ");
        let at = text
            .find(&key)
            .unwrap_or_else(|| panic!("{name} in {text}"));
        let rest = &text[at + key.len()..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        rest[..end]
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {rest}"))
    };
    // 50 jobs + main: each job is resumed 3 times (start, after each sleep).
    assert_eq!(field("tasks_created"), 51.0, "{text}");
    assert!(field("coroutine_steps") >= 150.0, "{text}");
    assert!(field("loop_idle_s") > 0.0, "{text}");
    assert!(text.starts_with("1225\n"), "{text}");
}

#[test]
fn a_loop_that_nothing_can_wake_ends_with_an_error() {
    let p = write_program(
        "loop_deadlock.toy",
        r#"
import asyncio
async def main():
    print("waiting forever")
    await asyncio.Future()
asyncio.run(main())
"#,
    );
    let mut cmd = gilsim();
    cmd.arg("run").arg("--audit").arg(&p);
    let out = run_bounded(cmd, Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "waiting forever\n");
    assert!(err.contains("RuntimeError: deadlock"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_thousand_overlapping_coroutine_sleeps_take_the_time_of_one() {
    let p = write_program(
        "loop_many.toy",
        r#"
import asyncio
async def nap(i):
    await asyncio.sleep(0.2)
    return i
async def main():
    return len(await asyncio.gather(*[nap(i) for i in range(1000)]))
print(asyncio.run(main()))
"#,
    );
    let mut cmd = gilsim();
    cmd.arg("run").arg(&p);
    let start = Instant::now();
    let out = run_bounded(cmd, Duration::from_secs(30));
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1000\n");
    // Sequential sleeps would take 200 s; overlapping ones about 0.2 s.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn loops_on_several_threads_are_independent() {
    let p = write_program(
        "loop_threads.toy",
        r#"
import asyncio, threading
results = []
lock = threading.Lock()
async def count(k):
    total = 0
    for i in range(20):
        await asyncio.sleep(0.001)
        total += i * k
    return total
def runner(k):
    r = asyncio.run(count(k))
    with lock:
        results.append(r)
ts = [threading.Thread(target=runner, args=(k,)) for k in range(1, 5)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(sorted(results))
"#,
    );
    for gil in ["on", "off"] {
        let mut cmd = gilsim();
        cmd.args(["run", "--audit", "--refcount", "atomic", "--gil", gil])
            .arg(&p);
        let out = run_bounded(cmd, Duration::from_secs(20));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "gil {gil}: {err}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "[190, 380, 570, 760]\n",
            "gil {gil}"
        );
        assert!(err.contains("result: clean"), "gil {gil}: {err}");
    }
}
