//! `--trace-events FILE.json`: the timeline in Chrome's Trace Event Format, the
//! JSON that Perfetto's UI (ui.perfetto.dev) and chrome://tracing open, and
//! that VizTracer and other Python profilers write.
//!
//! The file is the format's "JSON object" form: `{"traceEvents": [...]}`.
//! One process (pid 1) is the program; each Toy thread is a track (`tid` 1,
//! 2, ... in start order) named by a `thread_name` metadata event ("M").
//! Every interval of a lane is a complete event ("X", with `ts` and `dur` in
//! microseconds); waits carry who held the GIL meanwhile in `args`. Drop
//! requests, forced switches and coroutine steps are thread-scoped instant
//! events ("i", `"s": "t"`). The GIL's owner is a counter track ("C") whose
//! value is the owner's tid (0: nobody), so the hand-offs show as steps.
//! The lanes are `timeline`'s; this module only writes them down.

use super::stats::json_str;
use super::timeline::{fmt_ns, MarkKind, State, Timeline};
use std::fmt::Write;

const PID: u32 = 1;

/// Microseconds, with nanosecond precision (the format's `ts` and `dur` unit).
fn us(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

/// The name of an interval's event: what a viewer shows on its slice.
fn span_name(state: State) -> &'static str {
    match state {
        State::Holding => "holding the GIL",
        State::Running => "running (no GIL)",
        State::WaitingGil => "waiting for the GIL",
        State::Io => "blocked: I/O or sleep",
        State::SyncWait => "waiting on Lock/Queue/Event",
        State::Finished => "finished",
    }
}

/// The whole file.
pub fn render(tl: &Timeline) -> String {
    let mut ev: Vec<String> = Vec::new();
    let program = json_str(&format!(
        "gilsim {} ({})",
        tl.config.program,
        tl.config_line()
    ));
    ev.push(format!(
        r#"{{"ph": "M", "name": "process_name", "pid": {PID}, "tid": 0, "ts": 0, "args": {{"name": {program}}}}}"#
    ));
    for (li, lane) in tl.lanes.iter().enumerate() {
        let tid = li + 1;
        ev.push(format!(
            r#"{{"ph": "M", "name": "thread_name", "pid": {PID}, "tid": {tid}, "ts": 0, "args": {{"name": {}}}}}"#,
            json_str(&lane.name)
        ));
        ev.push(format!(
            r#"{{"ph": "M", "name": "thread_sort_index", "pid": {PID}, "tid": {tid}, "ts": 0, "args": {{"sort_index": {tid}}}}}"#
        ));
    }
    for (li, lane) in tl.lanes.iter().enumerate() {
        let tid = li + 1;
        for s in &lane.spans {
            // A finished thread has no track content: the slices simply stop.
            if s.state == State::Finished {
                continue;
            }
            let mut args = format!(
                r#""from": {}, "to": {}"#,
                json_str(&tl.site(s.from)),
                json_str(&tl.site(s.to))
            );
            if matches!(s.state, State::Holding | State::Running) {
                let _ = write!(args, r#", "let_go": {}"#, json_str(s.let_go.describe()));
            }
            if s.state == State::WaitingGil {
                let holders = tl.held_meanwhile(li, s.start, s.end);
                let covered: u64 = holders.iter().map(|h| h.ns).sum();
                let list: Vec<String> = holders
                    .iter()
                    .map(|h| {
                        format!(
                            r#"{{"thread": {}, "us": {}, "ran": {}, "let_go_at": {}, "how": {}}}"#,
                            json_str(&tl.lanes[h.lane].name),
                            us(h.ns),
                            json_str(&tl.site_range(h.from, h.to)),
                            json_str(&tl.site(h.to)),
                            json_str(h.let_go.describe())
                        )
                    })
                    .collect();
                let _ = write!(
                    args,
                    r#", "held_by": [{}], "handover_us": {}"#,
                    list.join(", "),
                    us(s.len().saturating_sub(covered))
                );
            }
            ev.push(format!(
                r#"{{"ph": "X", "name": "{}", "cat": "gil", "pid": {PID}, "tid": {tid}, "ts": {}, "dur": {}, "args": {{{args}}}}}"#,
                span_name(s.state),
                us(s.start),
                us(s.len())
            ));
        }
        for m in &lane.marks {
            ev.push(format!(
                r#"{{"ph": "i", "s": "t", "name": "{}", "cat": "gil", "pid": {PID}, "tid": {tid}, "ts": {}, "args": {{}}}}"#,
                m.kind.key(),
                us(m.t)
            ));
        }
    }
    if tl.config.gil {
        for (t, owner) in owner_steps(tl) {
            ev.push(format!(
                r#"{{"ph": "C", "name": "GIL owner (tid, 0: nobody)", "pid": {PID}, "tid": 0, "ts": {}, "args": {{"owner": {owner}}}}}"#,
                us(t)
            ));
        }
    }
    let totals: Vec<String> = MarkKind::ALL
        .iter()
        .map(|&k| {
            let n: usize = tl.lanes.iter().map(|l| l.count(k)).sum();
            format!("{}: {n}", json_str(k.plural()))
        })
        .collect();
    format!(
        "{{\"displayTimeUnit\": \"ms\", \"otherData\": {{\"program\": {}, \"config\": {}, \"wall\": {}, {}}}, \"traceEvents\": [\n{}\n]}}\n",
        json_str(&tl.config.program),
        json_str(&tl.config_line()),
        json_str(&fmt_ns(tl.end)),
        totals.join(", "),
        ev.join(",\n")
    )
}

/// The GIL owner over time: (time, tid or 0) at every change. Holding
/// intervals are recorded by each thread on its own clock reads, so the next
/// holder's start can precede the last holder's end by a few microseconds;
/// the owner is then the most recent thread to start holding.
fn owner_steps(tl: &Timeline) -> Vec<(u64, usize)> {
    // (time, is_start, tid): ends sort before starts at the same instant.
    let mut edges: Vec<(u64, bool, usize)> = Vec::new();
    for (li, lane) in tl.lanes.iter().enumerate() {
        for s in lane.spans.iter().filter(|s| s.state == State::Holding) {
            edges.push((s.start, true, li + 1));
            edges.push((s.end, false, li + 1));
        }
    }
    edges.sort_unstable();
    let mut active: Vec<usize> = Vec::new();
    let mut out = vec![(0, 0)];
    for (t, start, tid) in edges {
        if start {
            active.push(tid);
        } else if let Some(i) = active.iter().rposition(|&a| a == tid) {
            active.remove(i);
        }
        let owner = active.last().copied().unwrap_or(0);
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = owner,
            Some(last) if last.1 == owner => {}
            _ => out.push((t, owner)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_keep_nanoseconds() {
        assert_eq!(us(1_234_567), "1234.567");
        assert_eq!(us(5), "0.005");
    }
}
