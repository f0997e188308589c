//! The tour's six steps: what each says, what it runs, and how it reads the
//! numbers. Each step prints as it goes through `Tour` (in `tour.rs`, which
//! runs the children and knows the colours); what a step concludes follows
//! from what it measured.

use super::{lost_of, Tour, RACE_ATTEMPTS, TIMED_RUNS};
use std::fmt::Write as _;

pub(super) fn race(t: &mut Tour) {
    t.heading(1, "Reference counts race without the GIL");
    t.say(
        "Every Python object carries a reference count: the number of references that \
         point at it. Copying a reference adds one, dropping it takes one away, and at zero \
         the object is freed. CPython updates counts with a plain load, add and store, no \
         atomic instruction, because the GIL lets only one thread run bytecode at a time. \
         Here four threads read the same tuple of words with the GIL switched off, so their \
         count updates race as CPython's would. When a lost update lets a count reach zero \
         too early, the object is freed while threads still use it: gilsim notices the next \
         use and stops like a crashed process, with a report and exit status 3.",
    );
    // no --timeline: a run stopped by corruption exits at once and writes none
    let argv = t.command(&["shared_words.toy", "--gil", "off"], None);
    for attempt in 1..=RACE_ATTEMPTS {
        let m = t.run(&argv);
        match m.status {
            Some(3) => {
                let _ = writeln!(
                    t.out,
                    "   measured: caught on attempt {} of at most {RACE_ATTEMPTS}: {} after {}",
                    t.paint.num(&attempt.to_string()),
                    t.paint.bad("exit status 3 (simulated memory corruption)"),
                    t.secs(m.seconds)
                );
                let keys = ["object:", "freed by:", "then used by:", "the slot:"];
                for line in m.stderr.lines() {
                    if keys.iter().any(|k| line.trim_start().starts_with(k)) {
                        let _ = writeln!(t.out, "     {}", line.trim());
                    }
                }
                if t.timeline_dir.is_some() {
                    t.say("(A crashed run writes no timeline.)");
                }
                return;
            }
            Some(0) => continue,
            _ => {
                let what = format!("`gilsim {}` ended with {}", argv.join(" "), m.status_text());
                let _ = writeln!(t.out, "   {}", t.paint.bad(&format!("unexpected: {what}")));
                t.problems.push(what);
                return;
            }
        }
    }
    let _ = writeln!(
        t.out,
        "   measured: no corruption in {RACE_ATTEMPTS} runs: every run exited 0 this time."
    );
    t.say(
        "The race needs two threads to update one count at the same instant; on a busy \
         machine the threads rarely run at the same time. Run the command again.",
    );
}

pub(super) fn clean(t: &mut Tour) {
    t.heading(2, "The same program under the GIL");
    t.say(
        "The same program with the GIL on. A thread must hold the lock to run bytecode, so \
         no two threads ever update a count at the same time. The run ends normally, and the \
         heap audit (--audit) checks every live object's stored count against the \
         references that really point at it.",
    );
    let argv = t.command(
        &["shared_words.toy", "--gil", "on", "--audit"],
        Some("2-shared_words-gil-on"),
    );
    let m = t.run_expecting(&argv, 0);
    let audit = m
        .stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("result: "))
        .unwrap_or("no audit result found")
        .to_string();
    let updates = m.total("increfs") + m.total("decrefs");
    let lost = m.total("lost_increfs") + m.total("lost_decrefs");
    let clean = audit.starts_with("clean");
    let _ = writeln!(
        t.out,
        "   measured: {}; {} in {}",
        m.status_text(),
        m.first_line(),
        t.secs(m.seconds)
    );
    let _ = writeln!(
        t.out,
        "   heap audit: {}",
        if clean {
            t.paint.good(&audit)
        } else {
            t.paint.bad(&audit)
        }
    );
    let _ = writeln!(
        t.out,
        "   reference-count updates: {}, lost: {}; the threads took turns through {} forced switches",
        t.paint.num(&format!("{updates:.0}")),
        t.paint.num(&format!("{lost:.0}")),
        t.paint.num(&format!("{:.0}", m.total("forced_switches")))
    );
}

pub(super) fn counter(t: &mut Tour) {
    t.heading(3, "counter += 1 loses updates; a Lock fixes it");
    t.say(
        "The GIL protects the interpreter's bookkeeping, not your data. `counter += 1` is \
         several bytecode instructions: load the global, add one, store it back. A thread \
         that loaded before another thread's store, and stores after it, writes over that \
         update. Without the GIL two cores interleave those steps freely. This step uses \
         --refcount atomic, which makes every reference-count update atomic (free-threaded \
         CPython protects its counts too), so step 1's crash cannot end the run first: the \
         counter still loses updates. A threading.Lock around the update lets one thread at \
         a time between the load and the store.",
    );
    let runs: [(&[&str], &str); 3] = [
        (
            &["counter.toy", "2", "--gil", "off", "--refcount", "atomic"],
            "3-counter-gil-off",
        ),
        (
            &[
                "counter_locked.toy",
                "2",
                "--gil",
                "off",
                "--refcount",
                "atomic",
            ],
            "3-counter_locked-gil-off",
        ),
        (&["counter.toy", "2", "--gil", "on"], "3-counter-gil-on"),
    ];
    let mut unlocked_s = None;
    for (i, (args, svg)) in runs.iter().enumerate() {
        let argv = t.command(args, Some(svg));
        let m = t.run_expecting(&argv, 0);
        let price = match (i, unlocked_s) {
            (1, Some(u)) => format!(
                " ({}x the time without the lock: the Lock's price)",
                t.paint
                    .num(&format!("{:.1}", m.seconds / f64::max(u, 1e-9)))
            ),
            _ => String::new(),
        };
        unlocked_s.get_or_insert(m.seconds);
        let lost = lost_of(&m.stdout);
        let line = m.first_line().to_string();
        let shown = match (i, lost) {
            (0, Some(n)) if n > 0 => t.paint.bad(&line),
            (0, Some(_)) => line.clone(),
            (_, Some(0)) => t.paint.good(&line),
            _ => t.paint.bad(&line),
        };
        let _ = writeln!(
            t.out,
            "   measured: {shown} in {}{price}",
            t.secs(m.seconds)
        );
        if i == 0 && lost == Some(0) {
            t.say(
                "No update was lost this time: the two threads hardly ran at the same \
                 moment (is the machine busy?). Run the command again.",
            );
        }
    }
    t.say(
        "Under the GIL this loop happens to lose nothing: gilsim, like CPython 3.10 and \
         later, lets the GIL change hands only at a backward jump or a call, and \
         `counter += 1` contains neither. That is luck, not a guarantee: with a call inside \
         the update (`counter += one()`) updates are lost even under the GIL (gilsim's \
         programs/counter_race.toy shows it).",
    );
}

pub(super) fn cpu(t: &mut Tour, cores: usize, load: Option<f64>) {
    let n = cores.clamp(2, 4);
    t.heading(4, "CPU-bound threads: one core at a time under the GIL");
    t.say(&format!(
        "crunch.toy splits the same 3,000,000 steps of arithmetic over N threads. Under the \
         GIL only the holder runs bytecode: a waiting thread asks for the lock after one \
         switch interval (a drop request), and the holder hands it over at its next check \
         (a forced switch). So {n} threads take as long as one, plus the hand-overs. Without \
         the GIL the threads run on different cores at once (with atomic counts, so the run \
         cannot crash). Fastest of {TIMED_RUNS} runs each:"
    ));
    let ns = n.to_string();
    let one = t.command(&["crunch.toy", "1"], Some("4-crunch-1"));
    let one = t.fastest(&one);
    let _ = writeln!(
        t.out,
        "   measured: 1 thread, GIL on: {}",
        t.secs(one.seconds)
    );
    let gil = t.command(&["crunch.toy", &ns], Some(&format!("4-crunch-{n}-gil-on")));
    let gil = t.fastest(&gil);
    let share = gil
        .wait_share()
        .map_or_else(|| "-".into(), |s| format!("{:.0}%", s * 100.0));
    let _ = writeln!(
        t.out,
        "   measured: {n} threads, GIL on: {}, speed-up {}x (1 thread's time / this); {} forced switches; threads waited {} of their time",
        t.secs(gil.seconds),
        t.paint.num(&format!("{:.2}", one.seconds / gil.seconds.max(1e-9))),
        t.paint.num(&format!("{:.0}", gil.total("forced_switches"))),
        t.paint.num(&share)
    );
    let free = t.command(
        &["crunch.toy", &ns, "--gil", "off", "--refcount", "atomic"],
        Some(&format!("4-crunch-{n}-gil-off")),
    );
    let free = t.fastest(&free);
    let speedup = one.seconds / free.seconds.max(1e-9);
    let _ = writeln!(
        t.out,
        "   measured: {n} threads, GIL off: {}, speed-up {}x",
        t.secs(free.seconds),
        t.paint.num(&format!("{speedup:.2}"))
    );
    let load_text = load.map_or_else(String::new, |l| format!(" (load average {l:.2})"));
    if cores < 2 {
        t.say("This process may use only one core, so no run can be parallel here.");
    } else if speedup >= 1.5 {
        t.say(&format!(
            "Without the GIL, {n} threads ran {speedup:.1}x as fast as one on {cores} cores."
        ));
    } else {
        t.say(&format!(
            "Without the GIL the speed-up is only {speedup:.1}x here: other work is using the \
             cores{load_text}. On idle cores it approaches the number of cores."
        ));
    }
}

pub(super) fn io(t: &mut Tour) {
    t.heading(5, "I/O-bound: one after another, threads, coroutines");
    t.say(
        "Ten downloads from gilsim's simulated network, where each URL has a fixed latency \
         between 50 and 150 ms. One after another they cost the sum of the latencies. \
         Threads overlap their waits, because a thread blocked on the network has released \
         the GIL; coroutines overlap them on a single thread, because each `await` hands the \
         thread back to the event loop. For waiting, the GIL is no obstacle.",
    );
    let mut sync_s = None;
    for (name, svg) in [
        ("fetch_sync.toy", "5-fetch_sync"),
        ("fetch_threads.toy", "5-fetch_threads"),
        ("fetch_async.toy", "5-fetch_async"),
    ] {
        let argv = t.command(&[name], Some(svg));
        let m = t.run_expecting(&argv, 0);
        let how = if m.total("coroutine_steps") > 0.0 {
            format!(
                "{} coroutine steps on 1 thread, the loop idle (waiting, GIL released) for {}",
                m.total("coroutine_steps"),
                t.secs(m.total("loop_idle_s"))
            )
        } else {
            let n = m.threads();
            format!(
                "{n} thread{}, {} GIL acquisitions",
                if n == 1 { "" } else { "s" },
                m.total("gil_acquisitions")
            )
        };
        let speed = match sync_s {
            None => {
                sync_s = Some(m.seconds);
                String::new()
            }
            Some(base) => format!(
                ", {}x the speed of one after another",
                t.paint.num(&format!("{:.1}", base / m.seconds.max(1e-9)))
            ),
        };
        let _ = writeln!(t.out, "   measured: {}{speed}; {how}", t.secs(m.seconds));
    }
}

pub(super) fn interval(t: &mut Tour) {
    t.heading(6, "The switch interval's cost");
    t.say(&format!(
        "The switch interval (5 ms by default, as CPython's sys.getswitchinterval()) is how \
         long a waiting thread waits before it asks the holder to let go. A shorter interval \
         shares the lock more finely, which keeps threads responsive, but every forced \
         switch is a hand-over between OS threads. The same two crunch.toy threads, with \
         5 ms and with 100 us (fastest of {TIMED_RUNS} runs each):"
    ));
    let mut results = Vec::new();
    for (interval, svg) in [("5ms", "6-crunch-2-5ms"), ("100us", "6-crunch-2-100us")] {
        let argv = t.command(
            &["crunch.toy", "2", "--switch-interval", interval],
            Some(svg),
        );
        let m = t.fastest(&argv);
        let forced = m.total("forced_switches");
        let _ = writeln!(
            t.out,
            "   measured: switch interval {interval}: {}, {} forced switches",
            t.secs(m.seconds),
            t.paint.num(&format!("{forced:.0}"))
        );
        results.push((m.seconds, forced));
    }
    if let [(slow_s, few), (fast_s, many)] = results[..] {
        let change = (fast_s / slow_s.max(1e-9) - 1.0) * 100.0;
        t.say(&format!(
            "{:.0} times as many forced switches; time {change:+.0}%. Each hand-over costs \
             microseconds (a wake-up and a context switch), so the cost grows with the number \
             of switches; on a busy machine, a waiting thread also waits for a core before it \
             can even ask, which caps the number of switches.",
            many / few.max(1.0)
        ));
    }
}
