//! The timeline of a run: each thread's recorded events (`events`) turned into
//! a lane of intervals (running with the GIL, waiting for it, blocked, ...) and
//! marks (drop requests, forced switches, coroutine steps), plus the answer to
//! "while this thread waited for the GIL, who held it, and where did it let go?".
//!
//! This is the model the pictures and files are drawn from: `svg` (a standalone
//! picture), `term` (Unicode blocks in the terminal) and `trace_events` (Chrome's
//! Trace Event Format); `stats` prints the "waited on" matrix computed here. All
//! of it happens after the program has finished, so none of it disturbs the run.

use super::events::{Event, Kind, ThreadLog};
use super::stats::RunConfigInfo;
use super::waited_on::WaitedOn;
use std::fmt::Write;

/// What a thread is doing during an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Running Toy code, holding the GIL.
    Holding,
    /// Running Toy code with no GIL at all (`--gil off`).
    Running,
    /// Waiting to take the GIL.
    WaitingGil,
    /// Blocked in I/O or a sleep, the GIL released.
    Io,
    /// Blocked on a Lock, Queue, Event, Future or join, the GIL released.
    SyncWait,
    /// The thread has ended.
    Finished,
}

impl State {
    /// Every state, in legend order.
    pub const ALL: [State; 6] = [
        State::Holding,
        State::Running,
        State::WaitingGil,
        State::Io,
        State::SyncWait,
        State::Finished,
    ];

    /// How the legends name it.
    pub fn label(self) -> &'static str {
        match self {
            State::Holding => "running with the GIL",
            State::Running => "running without a GIL (--gil off)",
            State::WaitingGil => "waiting for the GIL",
            State::Io => "blocked in I/O or sleep",
            State::SyncWait => "waiting on a Lock/Queue/Event",
            State::Finished => "finished",
        }
    }

    /// A stable machine-readable name (trace-event names, tests).
    pub fn key(self) -> &'static str {
        match self {
            State::Holding => "holding",
            State::Running => "running",
            State::WaitingGil => "waiting",
            State::Io => "io",
            State::SyncWait => "sync_wait",
            State::Finished => "finished",
        }
    }

    /// Its position in `ALL` (the declaration order).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How a thread let go of the GIL at the end of a holding interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetGo {
    /// It found a drop request and another thread took the lock: a forced switch.
    Forced,
    /// It found a drop request but nobody took the lock, so it took it straight
    /// back (a stale request; see "A tolerated race" in `gil.rs`).
    Stale,
    /// It released the lock to block in I/O or a sleep.
    Io,
    /// It released the lock to wait on a Lock, Queue, Event, Future or thread.
    Sync,
    /// The thread ended.
    Finished,
    /// The run ended while it still held the lock (a daemon thread).
    StillRunning,
    /// Not a holding interval.
    NotHeld,
}

impl LetGo {
    pub fn describe(self) -> &'static str {
        match self {
            LetGo::Forced => "dropped it on a waiter's request (forced switch)",
            LetGo::Stale => "dropped it on a stale request and took it straight back",
            LetGo::Io => "released it to block in I/O or sleep",
            LetGo::Sync => "released it to wait on a Lock/Queue/Event",
            LetGo::Finished => "the thread finished",
            LetGo::StillRunning => "still held it when the program ended",
            LetGo::NotHeld => "",
        }
    }
}

/// A source position: code object index and line (line 0: no Toy frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Site {
    pub code: u32,
    pub line: u32,
}

impl Site {
    fn of(e: &Event) -> Site {
        Site {
            code: e.code,
            line: e.line,
        }
    }
}

/// One interval of one thread, in nanoseconds since the run started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
    pub state: State,
    /// Where the thread was when the interval began and when it ended.
    pub from: Site,
    pub to: Site,
    /// For holding (and running) intervals: how it ended.
    pub let_go: LetGo,
}

impl Span {
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Something that happened at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MarkKind {
    /// This thread, waiting, asked the holder to drop the GIL.
    DropRequest,
    /// This thread dropped the GIL on request and another took it.
    ForcedSwitch,
    /// This thread's event loop resumed a coroutine task.
    TaskStep,
}

impl MarkKind {
    pub const ALL: [MarkKind; 3] = [
        MarkKind::DropRequest,
        MarkKind::ForcedSwitch,
        MarkKind::TaskStep,
    ];
    pub fn label(self) -> &'static str {
        match self {
            MarkKind::DropRequest => "drop request (issued by a waiter)",
            MarkKind::ForcedSwitch => "forced switch (holder dropped the GIL)",
            MarkKind::TaskStep => "coroutine task switch (asyncio step)",
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            MarkKind::DropRequest => "drop request",
            MarkKind::ForcedSwitch => "forced switch",
            MarkKind::TaskStep => "task step",
        }
    }
    pub fn plural(self) -> &'static str {
        match self {
            MarkKind::DropRequest => "drop requests",
            MarkKind::ForcedSwitch => "forced switches",
            MarkKind::TaskStep => "coroutine task steps",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub t: u64,
    pub kind: MarkKind,
}

/// One thread's lane.
#[derive(Debug, Clone, Default)]
pub struct Lane {
    pub name: String,
    pub ident: u64,
    pub start: u64,
    pub finish: Option<u64>,
    /// Contiguous, in time order, none empty; the last one is `Finished` if the
    /// thread ended before the run did.
    pub spans: Vec<Span>,
    pub marks: Vec<Mark>,
}

impl Lane {
    /// Total time in `state`, in nanoseconds.
    pub fn total(&self, state: State) -> u64 {
        self.spans
            .iter()
            .filter(|s| s.state == state)
            .map(Span::len)
            .sum()
    }
    pub fn count(&self, kind: MarkKind) -> usize {
        self.marks.iter().filter(|m| m.kind == kind).count()
    }
}

/// One holder's share of a wait: it held the GIL for `ns` of the waiting
/// interval, in its holding interval that ran `from`..`to` and ended by `let_go`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldMeanwhile {
    pub lane: usize,
    pub ns: u64,
    pub from: Site,
    pub to: Site,
    pub let_go: LetGo,
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub config: RunConfigInfo,
    pub lanes: Vec<Lane>,
    /// The end of the run (ns): the last event of any thread.
    pub end: u64,
    /// Code object names by index, to print sites.
    pub code_names: Vec<String>,
    /// Every holding (or running) interval of every lane, by start:
    /// (start, end, lane, span index), with the running maximum of the ends (so
    /// that the first interval that can overlap a time is a binary search away).
    held: Vec<(u64, u64, usize, usize)>,
    held_max_end: Vec<u64>,
}

impl Timeline {
    /// Build the lanes from the recorded logs (in start order). `code_names`
    /// names each code object of the program.
    pub fn build(config: RunConfigInfo, logs: &[ThreadLog], code_names: Vec<String>) -> Timeline {
        let end = logs
            .iter()
            .flat_map(|l| l.events.last())
            .map(|e| e.t_ns)
            .max()
            .unwrap_or(0);
        let running = if config.gil {
            State::Holding
        } else {
            State::Running
        };
        let lanes: Vec<Lane> = logs.iter().map(|l| build_lane(l, end, running)).collect();
        let mut held = Vec::new();
        for (li, lane) in lanes.iter().enumerate() {
            for (si, s) in lane.spans.iter().enumerate() {
                if s.state == State::Holding {
                    held.push((s.start, s.end, li, si));
                }
            }
        }
        held.sort_unstable();
        let mut max = 0;
        let held_max_end = held
            .iter()
            .map(|h| {
                max = max.max(h.1);
                max
            })
            .collect();
        Timeline {
            config,
            lanes,
            end,
            code_names,
            held,
            held_max_end,
        }
    }

    /// Who held the GIL while `lane` waited from `start` to `end`: one entry per
    /// holding interval of another thread that overlaps, in time order.
    pub fn held_meanwhile(&self, lane: usize, start: u64, end: u64) -> Vec<HeldMeanwhile> {
        let first = self.held_max_end.partition_point(|&m| m <= start);
        let mut out = Vec::new();
        for &(s, e, li, si) in &self.held[first..] {
            if s >= end {
                break;
            }
            if li == lane || e <= start {
                continue;
            }
            let span = &self.lanes[li].spans[si];
            out.push(HeldMeanwhile {
                lane: li,
                ns: e.min(end) - s.max(start),
                from: span.from,
                to: span.to,
                let_go: span.let_go,
            });
        }
        out
    }

    /// The "waited on" matrix: for every waiting interval, the time each other
    /// thread held the GIL during it.
    pub fn waited_on(&self) -> WaitedOn {
        let n = self.lanes.len();
        // Summed in integer nanoseconds, converted once: no rounding drift.
        let mut ns = vec![vec![0u64; n]; n];
        let mut handover = vec![0u64; n];
        for (w, lane) in self.lanes.iter().enumerate() {
            for s in lane.spans.iter().filter(|s| s.state == State::WaitingGil) {
                let mut covered = 0;
                for h in self.held_meanwhile(w, s.start, s.end) {
                    ns[w][h.lane] += h.ns;
                    covered += h.ns;
                }
                handover[w] += s.len().saturating_sub(covered);
            }
        }
        let secs = |x: u64| x as f64 / 1e9;
        WaitedOn {
            names: self.lanes.iter().map(|l| l.name.clone()).collect(),
            secs: ns
                .iter()
                .map(|row| row.iter().map(|&x| secs(x)).collect())
                .collect(),
            handover: handover.into_iter().map(secs).collect(),
        }
    }

    /// "line 16 in count", or "thread start" where no Toy frame ran.
    pub fn site(&self, s: Site) -> String {
        if s.line == 0 {
            return "thread start".into();
        }
        match self.code_names.get(s.code as usize) {
            Some(name) => format!("line {} in {name}", s.line),
            None => format!("line {}", s.line),
        }
    }

    /// "lines 14-16 in count", "line 16 in count", or both ends when they are in
    /// different functions.
    pub fn site_range(&self, from: Site, to: Site) -> String {
        if from == to || to.line == 0 {
            return self.site(from);
        }
        if from.code == to.code && from.line != 0 {
            let (a, b) = (from.line.min(to.line), from.line.max(to.line));
            let name = self
                .code_names
                .get(from.code as usize)
                .map(|n| format!(" in {n}"))
                .unwrap_or_default();
            return format!("lines {a}-{b}{name}");
        }
        format!("{} to {}", self.site(from), self.site(to))
    }

    /// A sentence about one interval of `lane`, for tooltips: what it was, how
    /// long, where, and (for a wait) who held the GIL meanwhile.
    pub fn describe(&self, lane: usize, s: &Span) -> String {
        let name = &self.lanes[lane].name;
        let mut out = String::new();
        let when = format!(
            "{} ({} to {})",
            fmt_ns(s.len()),
            fmt_ns(s.start),
            fmt_ns(s.end)
        );
        match s.state {
            State::Holding | State::Running => {
                let what = if s.state == State::Holding {
                    "held the GIL"
                } else {
                    "ran without a GIL"
                };
                let _ = write!(
                    out,
                    "{name} {what} {when}: {}",
                    self.site_range(s.from, s.to)
                );
                if s.state == State::Holding && s.let_go != LetGo::NotHeld {
                    let _ = write!(out, "; then {}", s.let_go.describe());
                }
            }
            State::WaitingGil => {
                let _ = write!(out, "{name} waited for the GIL {when}");
                let holders = self.held_meanwhile(lane, s.start, s.end);
                let covered: u64 = holders.iter().map(|h| h.ns).sum();
                if !holders.is_empty() {
                    out.push_str("; meanwhile it was held by:");
                }
                const SHOWN: usize = 6;
                for h in holders.iter().take(SHOWN) {
                    let holder = &self.lanes[h.lane].name;
                    let _ = write!(out, "\n  {holder} for {}, ", fmt_ns(h.ns));
                    if h.from == h.to || h.to.line == 0 {
                        let _ = write!(out, "at {}", self.site(h.from));
                    } else {
                        out.push_str(&self.site_range(h.from, h.to));
                    }
                    let _ = write!(out, "; then {}", h.let_go.describe());
                }
                if holders.len() > SHOWN {
                    let rest: u64 = holders[SHOWN..].iter().map(|h| h.ns).sum();
                    let _ = write!(
                        out,
                        "\n  and {} more holding intervals ({})",
                        holders.len() - SHOWN,
                        fmt_ns(rest)
                    );
                }
                let gap = s.len().saturating_sub(covered);
                if gap > 0 {
                    let _ = write!(
                        out,
                        "\n  nobody, for {} (handover: the lock was free but not yet taken)",
                        fmt_ns(gap)
                    );
                }
            }
            State::Io => {
                let _ = write!(
                    out,
                    "{name} blocked in I/O or sleep {when}, GIL released, at {}",
                    self.site(s.from)
                );
            }
            State::SyncWait => {
                let _ = write!(
                    out,
                    "{name} waited on a Lock/Queue/Event {when}, GIL released, at {}",
                    self.site(s.from)
                );
            }
            State::Finished => {
                let _ = write!(out, "{name} finished at {}", fmt_ns(s.start));
            }
        }
        out
    }

    /// "gil on, switch interval 5ms, refcount plain": the configuration line.
    pub fn config_line(&self) -> String {
        let c = &self.config;
        format!(
            "gil {}, switch interval {}, refcount {}",
            if c.gil { "on" } else { "off" },
            super::stats::fmt_interval(c.switch_interval_s),
            c.refcount
        )
    }
}

/// Turn one thread's events into its lane.
fn build_lane(log: &ThreadLog, end: u64, running: State) -> Lane {
    let mut lane = Lane {
        name: log.name.clone(),
        ident: log.ident,
        start: log.events.first().map(|e| e.t_ns).unwrap_or(0),
        ..Default::default()
    };
    // The interval now open: its state, start and site.
    let mut open: Option<(State, u64, Site)> = None;
    // Index of the holding span that the last `Drop` closed, and when.
    let mut dropped: Option<(usize, u64)> = None;
    let close = |lane: &mut Lane, open: &mut Option<(State, u64, Site)>, e: &Event, how| {
        if let Some((state, start, from)) = open.take() {
            if e.t_ns > start {
                let held = matches!(state, State::Holding | State::Running);
                lane.spans.push(Span {
                    start,
                    end: e.t_ns,
                    state,
                    from,
                    to: Site::of(e),
                    let_go: if held { how } else { LetGo::NotHeld },
                });
            }
        }
    };
    for e in &log.events {
        let site = Site::of(e);
        match e.kind {
            Kind::Start => lane.start = e.t_ns,
            // Without a GIL there is nothing to wait for: `take` returns at
            // once, and the instant between its two events is bookkeeping.
            Kind::Want if running == State::Running => {}
            Kind::Want => {
                close(&mut lane, &mut open, e, LetGo::StillRunning);
                open = Some((State::WaitingGil, e.t_ns, site));
            }
            Kind::Acquired | Kind::AcquiredAfterSwitch => {
                close(&mut lane, &mut open, e, LetGo::StillRunning);
                if let Some((i, t)) = dropped.take() {
                    if e.kind == Kind::AcquiredAfterSwitch {
                        lane.marks.push(Mark {
                            t,
                            kind: MarkKind::ForcedSwitch,
                        });
                    } else if let Some(s) = lane.spans.get_mut(i) {
                        s.let_go = LetGo::Stale;
                    }
                }
                open = Some((running, e.t_ns, site));
            }
            Kind::ReleaseIo => {
                close(&mut lane, &mut open, e, LetGo::Io);
                open = Some((State::Io, e.t_ns, site));
            }
            Kind::ReleaseSync => {
                close(&mut lane, &mut open, e, LetGo::Sync);
                open = Some((State::SyncWait, e.t_ns, site));
            }
            Kind::Drop => {
                let before = lane.spans.len();
                close(&mut lane, &mut open, e, LetGo::Forced);
                if lane.spans.len() > before {
                    dropped = Some((before, e.t_ns));
                } else {
                    dropped = None;
                }
                open = Some((State::WaitingGil, e.t_ns, site));
            }
            Kind::DropRequest => lane.marks.push(Mark {
                t: e.t_ns,
                kind: MarkKind::DropRequest,
            }),
            Kind::TaskStep => lane.marks.push(Mark {
                t: e.t_ns,
                kind: MarkKind::TaskStep,
            }),
            Kind::Finish => {
                close(&mut lane, &mut open, e, LetGo::Finished);
                lane.finish = Some(e.t_ns);
                open = Some((State::Finished, e.t_ns, Site::default()));
            }
        }
    }
    // Close what is still open at the end of the run.
    let last = Event {
        t_ns: end,
        kind: Kind::Finish,
        code: 0,
        line: 0,
    };
    if let Some((state, start, from)) = open.take() {
        if end > start {
            let held = matches!(state, State::Holding | State::Running);
            lane.spans.push(Span {
                start,
                end,
                state,
                from,
                to: if held { Site::of(&last) } else { from },
                let_go: if held {
                    LetGo::StillRunning
                } else {
                    LetGo::NotHeld
                },
            });
        }
    }
    lane.marks.sort_by_key(|m| (m.t, m.kind));
    lane
}

/// A duration or time in nanoseconds, readably: "850 µs", "12.3 ms", "1.234 s".
pub fn fmt_ns(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    if ns == 0 {
        "0 s".into()
    } else if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        let ms = s * 1e3;
        if ms >= 100.0 {
            format!("{ms:.0} ms")
        } else if ms >= 10.0 {
            format!("{ms:.1} ms")
        } else {
            format!("{ms:.2} ms")
        }
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

/// Tick spacing: 1, 2 or 5 times a power of ten nanoseconds, at most `max` ticks.
pub fn tick_step(duration: u64, max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let s = step.saturating_mul(m);
            if duration / s <= max {
                return s;
            }
        }
        if step > u64::MAX / 10 {
            return u64::MAX;
        }
        step *= 10;
    }
}

/// "250 ms", "1.5 s", "40 µs": a tick label, in the unit that suits a run of
/// `duration` (so that every label of one axis has the same unit).
pub fn tick_label(t: u64, step: u64, duration: u64) -> String {
    let (unit, name) = if duration >= 1_000_000_000 {
        (1e9, "s")
    } else if duration >= 1_000_000 {
        (1e6, "ms")
    } else if duration >= 1_000 {
        (1e3, "µs")
    } else {
        (1.0, "ns")
    };
    // Enough decimals to tell neighbouring ticks apart (a 0.5 ms step needs one).
    let ratio = step as f64 / unit;
    let decimals = if ratio >= 1.0 {
        0
    } else {
        (-ratio.log10()).ceil() as usize
    };
    format!("{:.*} {name}", decimals, t as f64 / unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t_ns: u64, kind: Kind, line: u32) -> Event {
        Event {
            t_ns,
            kind,
            code: 1,
            line,
        }
    }

    fn log(ident: u64, name: &str, events: Vec<Event>) -> ThreadLog {
        ThreadLog {
            ident,
            name: name.into(),
            events,
        }
    }

    /// Two threads handing the GIL back and forth by forced switches: A holds
    /// 0-10, B waits 2-11 (asking at 7) then holds 11-20, A waits 10-21.
    fn two() -> Timeline {
        let a = log(
            1,
            "A",
            vec![
                ev(0, Kind::Start, 0),
                ev(0, Kind::Want, 0),
                ev(0, Kind::Acquired, 0),
                ev(10, Kind::Drop, 5),
                ev(21, Kind::AcquiredAfterSwitch, 5),
                ev(30, Kind::Finish, 0),
            ],
        );
        let b = log(
            2,
            "B",
            vec![
                ev(2, Kind::Start, 0),
                ev(2, Kind::Want, 0),
                ev(7, Kind::DropRequest, 0),
                ev(11, Kind::Acquired, 0),
                ev(20, Kind::ReleaseSync, 8),
                ev(25, Kind::Want, 8),
                ev(30, Kind::Acquired, 8),
                ev(40, Kind::Finish, 0),
            ],
        );
        let config = RunConfigInfo {
            gil: true,
            ..Default::default()
        };
        Timeline::build(config, &[a, b], vec!["<module>".into(), "f".into()])
    }

    #[test]
    fn lanes_are_contiguous_and_end_with_finished() {
        let t = two();
        assert_eq!(t.end, 40);
        let a = &t.lanes[0];
        let states: Vec<State> = a.spans.iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [
                State::Holding,
                State::WaitingGil,
                State::Holding,
                State::Finished
            ]
        );
        for w in a.spans.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        assert_eq!(a.spans[0].let_go, LetGo::Forced);
        assert_eq!(a.spans[0].to.line, 5);
        assert_eq!(a.count(MarkKind::ForcedSwitch), 1);
        let b = &t.lanes[1];
        assert_eq!(b.count(MarkKind::DropRequest), 1);
        assert!(b.spans.iter().any(|s| s.state == State::SyncWait));
        assert_eq!(b.spans[1].let_go, LetGo::Sync);
    }

    #[test]
    fn waits_are_attributed_to_the_holder() {
        let t = two();
        let m = t.waited_on();
        // B waited 2..11 (A held 2..10, nobody 10..11) and 25..30 (A held it).
        assert!((m.secs[1][0] - 13e-9).abs() < 1e-15, "{m:?}");
        assert!((m.handover[1] - 1e-9).abs() < 1e-15, "{m:?}");
        // A waited 10..21: B held 11..20; nobody 10..11 and 20..21.
        assert!((m.secs[0][1] - 9e-9).abs() < 1e-15, "{m:?}");
        assert!((m.handover[0] - 2e-9).abs() < 1e-15, "{m:?}");
        let text = t.describe(1, &t.lanes[1].spans[0]);
        assert!(text.contains("held by:\n  A"), "{text}");
        assert!(
            text.contains("line 5 in f; then dropped it on a waiter's request"),
            "{text}"
        );
        assert!(m.json().starts_with("{\"threads\": [\"A\", \"B\"]"));
        // Nanoseconds print as zeros, so the table leaves them out...
        assert!(m.table().contains("nobody waited"), "{}", m.table());
        // ...and shows waits that last.
        let big = WaitedOn {
            names: vec!["A".into(), "B".into()],
            secs: vec![vec![0.0, 0.3], vec![0.2, 0.0]],
            handover: vec![0.001, 0.0],
        };
        let table = big.table();
        assert!(
            table.contains("(handover)") && table.contains("0.300"),
            "{table}"
        );
    }

    #[test]
    fn a_drop_without_a_switch_is_stale_not_forced() {
        let a = log(
            1,
            "A",
            vec![
                ev(0, Kind::Acquired, 0),
                ev(10, Kind::Drop, 5),
                ev(11, Kind::Acquired, 5),
                ev(20, Kind::Finish, 0),
            ],
        );
        let t = Timeline::build(RunConfigInfo::default(), &[a], vec![]);
        assert_eq!(t.lanes[0].spans[0].let_go, LetGo::Stale);
        assert_eq!(t.lanes[0].count(MarkKind::ForcedSwitch), 0);
        // --gil off (the default config here): running, not holding.
        assert_eq!(t.lanes[0].spans[0].state, State::Running);
    }

    #[test]
    fn ticks_are_round_and_labelled_in_a_fitting_unit() {
        assert_eq!(tick_step(1_000_000_000, 10), 100_000_000);
        assert_eq!(tick_step(35_000_000, 10), 5_000_000);
        assert_eq!(tick_label(500_000_000, 100_000_000, 900_000_000), "500 ms");
        assert_eq!(tick_label(1_500_000, 500_000, 3_000_000), "1.5 ms");
        assert_eq!(
            tick_label(1_400_000_000, 200_000_000, 1_500_000_000),
            "1.4 s"
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_ns(850_000), "850 µs");
        assert_eq!(fmt_ns(12_300_000), "12.3 ms");
        assert_eq!(fmt_ns(1_234_000_000), "1.234 s");
    }
}
