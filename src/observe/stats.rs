//! `--stats` and `--stats-json`: what the lock cost, per thread and in total, the
//! reference-count traffic (and, without the GIL, the updates lost), and what the
//! end-of-run heap audit found.
//!
//! The counters are plain per-thread integers kept by the VM and the GIL hooks
//! and handed over when a thread ends (`concurrency::threads::ThreadStats`), so
//! collecting them costs nothing while the program runs. The heap figures come
//! from `heap::audit`, run once at exit.

use super::waited_on::WaitedOn;
use crate::concurrency::threads::ThreadStats;
use std::fmt::Write;

#[derive(Debug, Clone, Default)]
pub struct RunConfigInfo {
    pub gil: bool,
    pub switch_interval_s: f64,
    pub refcount: String,
    pub seed: u64,
    pub latency_s: f64,
    pub program: String,
}

#[derive(Debug, Clone, Default)]
pub struct HeapInfo {
    pub allocated: u64,
    pub freed: u64,
    pub live: u64,
    /// From the audit at exit: live objects whose stored count is wrong (the sum
    /// of the next two), too high (leaked: never freed), too low (would be freed
    /// while still referenced), and references to freed slots.
    pub refcount_errors: u64,
    pub leaked: u64,
    pub too_low: u64,
    pub dangling: u64,
    /// Uses of freed objects detected while the program ran
    /// (`--on-corruption continue`; with `abort` the first one ends the run).
    pub use_after_free: u64,
}

#[derive(Debug, Clone, Default)]
pub struct StatsReport {
    pub config: RunConfigInfo,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub threads: Vec<ThreadStats>,
    pub heap: HeapInfo,
    /// Who held the GIL while each thread waited (from the recorded events).
    pub waited_on: Option<WaitedOn>,
}

/// User + system CPU time of this process, from /proc (0 where unavailable).
pub fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // fields after the command name, which is in parentheses and may hold spaces
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

impl StatsReport {
    pub fn totals(&self) -> ThreadStats {
        let mut t = ThreadStats {
            name: "total".into(),
            ..Default::default()
        };
        for s in &self.threads {
            t.instructions += s.instructions;
            t.gil_acquisitions += s.gil_acquisitions;
            t.forced_switches += s.forced_switches;
            t.voluntary_releases += s.voluntary_releases;
            t.drop_requests += s.drop_requests;
            t.gil_hold_s += s.gil_hold_s;
            t.gil_wait_s += s.gil_wait_s;
            t.io_s += s.io_s;
            t.allocs += s.allocs;
            t.frees += s.frees;
            t.coroutine_steps += s.coroutine_steps;
            t.tasks_created += s.tasks_created;
            t.loop_idle_s += s.loop_idle_s;
            t.increfs += s.increfs;
            t.decrefs += s.decrefs;
            t.lost_increfs += s.lost_increfs;
            t.lost_decrefs += s.lost_decrefs;
            t.lost_appends += s.lost_appends;
        }
        t
    }

    /// The table printed by `--stats`.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let c = &self.config;
        let _ = writeln!(
            out,
            "gilsim stats: gil {}, switch interval {}, refcount {}; wall {:.3} s, cpu {:.3} s",
            if c.gil { "on" } else { "off" },
            fmt_interval(c.switch_interval_s),
            c.refcount,
            self.wall_s,
            self.cpu_s
        );
        let _ = writeln!(
            out,
            "{:<28} {:>13} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "thread",
            "instructions",
            "acquired",
            "forced",
            "released",
            "requests",
            "hold s",
            "wait s",
            "io s"
        );
        let mut rows: Vec<&ThreadStats> = self.threads.iter().collect();
        rows.sort_by_key(|s| s.ident);
        let total = self.totals();
        rows.push(&total);
        for s in &rows {
            let _ = writeln!(
                out,
                "{:<28} {:>13} {:>9} {:>8} {:>9} {:>9} {:>9.3} {:>9.3} {:>9.3}",
                truncate(&s.name, 28),
                s.instructions,
                s.gil_acquisitions,
                s.forced_switches,
                s.voluntary_releases,
                s.drop_requests,
                s.gil_hold_s,
                s.gil_wait_s,
                s.io_s
            );
        }
        for s in self.threads.iter().filter(|s| s.coroutine_steps > 0) {
            let _ = writeln!(
                out,
                "coroutines on {}: {} steps (resumptions), {} tasks created, event loop idle {:.3} s",
                s.name, s.coroutine_steps, s.tasks_created, s.loop_idle_s
            );
        }
        if let Some(w) = &self.waited_on {
            out.push_str(&w.table());
        }
        let _ = writeln!(
            out,
            "{:<28} {:>13} {:>13} {:>11} {:>11} {:>12}",
            "reference counts",
            "increments",
            "decrements",
            "lost incs",
            "lost decs",
            "lost appends"
        );
        for s in &rows {
            let _ = writeln!(
                out,
                "{:<28} {:>13} {:>13} {:>11} {:>11} {:>12}",
                truncate(&s.name, 28),
                s.increfs,
                s.decrefs,
                s.lost_increfs,
                s.lost_decrefs,
                s.lost_appends
            );
        }
        let h = &self.heap;
        let _ = writeln!(
            out,
            "heap: {} allocated, {} freed, {} live; audit at exit: {} refcount errors ({} too high: leaked, {} too low), {} dangling references; {} uses after free detected",
            h.allocated,
            h.freed,
            h.live,
            h.refcount_errors,
            h.leaked,
            h.too_low,
            h.dangling,
            h.use_after_free
        );
        let _ = writeln!(
            out,
            "(acquired: GIL acquisitions; forced: switches made on a drop request; released: voluntary releases around blocking calls; requests: drop requests this thread issued while waiting; lost: other threads' updates that this thread's stores wrote over, possible only with --gil off --refcount plain, and counted only when statistics are asked for)"
        );
        out
    }

    /// The JSON written by `--stats-json`.
    pub fn json(&self) -> String {
        let thread_json = |s: &ThreadStats| {
            format!(
                "{{\"name\": {}, \"ident\": {}, \"instructions\": {}, \"gil_acquisitions\": {}, \"forced_switches\": {}, \"voluntary_releases\": {}, \"drop_requests\": {}, \"gil_hold_s\": {}, \"gil_wait_s\": {}, \"io_s\": {}, \"allocs\": {}, \"frees\": {}, \"coroutine_steps\": {}, \"tasks_created\": {}, \"loop_idle_s\": {}, \"increfs\": {}, \"decrefs\": {}, \"lost_increfs\": {}, \"lost_decrefs\": {}, \"lost_appends\": {}}}",
                json_str(&s.name),
                s.ident,
                s.instructions,
                s.gil_acquisitions,
                s.forced_switches,
                s.voluntary_releases,
                s.drop_requests,
                num(s.gil_hold_s),
                num(s.gil_wait_s),
                num(s.io_s),
                s.allocs,
                s.frees,
                s.coroutine_steps,
                s.tasks_created,
                num(s.loop_idle_s),
                s.increfs,
                s.decrefs,
                s.lost_increfs,
                s.lost_decrefs,
                s.lost_appends
            )
        };
        let mut rows: Vec<&ThreadStats> = self.threads.iter().collect();
        rows.sort_by_key(|s| s.ident);
        let threads: Vec<String> = rows.iter().map(|s| thread_json(s)).collect();
        let c = &self.config;
        format!(
            "{{\n  \"config\": {{\"gil\": {}, \"switch_interval_s\": {}, \"refcount\": {}, \"seed\": {}, \"latency_s\": {}, \"program\": {}}},\n  \"wall_s\": {},\n  \"cpu_s\": {},\n  \"drop_requests\": {},\n  \"threads\": [\n    {}\n  ],\n  \"totals\": {},\n  \"heap\": {{\"allocated\": {}, \"freed\": {}, \"live\": {}, \"refcount_errors\": {}, \"leaked\": {}, \"too_low\": {}, \"dangling\": {}, \"use_after_free\": {}}},\n  \"waited_on\": {}\n}}\n",
            if c.gil { "\"on\"" } else { "\"off\"" },
            num(c.switch_interval_s),
            json_str(&c.refcount),
            c.seed,
            num(c.latency_s),
            json_str(&c.program),
            num(self.wall_s),
            num(self.cpu_s),
            self.totals().drop_requests,
            threads.join(",\n    "),
            thread_json(&self.totals()),
            self.heap.allocated,
            self.heap.freed,
            self.heap.live,
            self.heap.refcount_errors,
            self.heap.leaked,
            self.heap.too_low,
            self.heap.dangling,
            self.heap.use_after_free,
            self.waited_on
                .as_ref()
                .map_or_else(|| "null".to_string(), WaitedOn::json)
        )
    }
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 1).collect();
        format!("{t}…")
    }
}

pub fn fmt_interval(s: f64) -> String {
    if s >= 1.0 {
        format!("{s}s")
    } else if s >= 1e-3 {
        format!("{}ms", (s * 1e3 * 1000.0).round() / 1000.0)
    } else {
        format!("{}us", (s * 1e6 * 1000.0).round() / 1000.0)
    }
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

pub fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_and_json_has_the_keys() {
        let mut r = StatsReport::default();
        r.threads.push(ThreadStats {
            name: "a".into(),
            instructions: 10,
            forced_switches: 2,
            increfs: 7,
            lost_decrefs: 1,
            ..Default::default()
        });
        r.threads.push(ThreadStats {
            name: "b\"".into(),
            instructions: 5,
            increfs: 3,
            lost_appends: 4,
            ..Default::default()
        });
        r.heap.too_low = 3;
        r.heap.use_after_free = 9;
        assert_eq!(r.totals().instructions, 15);
        assert_eq!(r.totals().increfs, 10);
        assert_eq!(r.totals().lost_appends, 4);
        let j = r.json();
        for key in [
            "\"config\"",
            "\"wall_s\"",
            "\"cpu_s\"",
            "\"threads\"",
            "\"totals\"",
            "\"heap\"",
            "\"forced_switches\": 2",
            "\"b\\\"\"",
            "\"increfs\": 10",
            "\"lost_decrefs\": 1",
            "\"too_low\": 3",
            "\"use_after_free\": 9}",
            "\"waited_on\": null",
        ] {
            assert!(j.contains(key), "{key} missing in {j}");
        }
        let table = r.table();
        assert!(table.contains("total"));
        assert!(table.contains("3 too low"), "{table}");
        assert!(table.contains("9 uses after free"), "{table}");
    }
}
