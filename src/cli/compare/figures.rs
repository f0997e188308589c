//! The figures of a row (median, min and max seconds, forced switches, the
//! GIL wait share, corruption events) and the one-line note on what stands out
//! in it, some of which compares it with other rows (more threads, python3).

use super::{Engine, Outcome, Row, RunStats, Status};

/// Wall times of the runs that started, in seconds.
pub(super) fn times(row: &Row) -> Vec<f64> {
    row.outcomes
        .iter()
        .filter(|o| !matches!(o.status, Status::NotStarted(_)))
        .map(|o| o.seconds)
        .collect()
}

/// The median: the middle value, or the mean of the two middle ones.
fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

impl Row {
    pub fn median_s(&self) -> Option<f64> {
        median(&times(self))
    }
    pub fn min_s(&self) -> Option<f64> {
        times(self).into_iter().reduce(f64::min)
    }
    pub fn max_s(&self) -> Option<f64> {
        times(self).into_iter().reduce(f64::max)
    }

    fn stats(&self) -> impl Iterator<Item = &RunStats> {
        self.outcomes.iter().filter_map(|o| o.stats.as_ref())
    }

    /// The median number of forced switches per run, over the runs that
    /// reported statistics.
    pub fn forced_switches(&self) -> Option<f64> {
        let v: Vec<f64> = self.stats().map(|s| s.forced_switches as f64).collect();
        median(&v)
    }

    /// Time threads spent waiting for the GIL, as a share of the time they
    /// held it or waited for it, over all runs; None without a GIL (nothing to
    /// hold) and for python3 (no statistics).
    pub fn wait_share(&self) -> Option<f64> {
        // Without a GIL the recorder still times the main thread's bookkeeping
        // as "held", which would print a meaningless 0%.
        if matches!(self.job.engine, Engine::Gilsim { gil: false, .. }) {
            return None;
        }
        let (hold, wait) = self
            .stats()
            .fold((0.0, 0.0), |(h, w), s| (h + s.gil_hold_s, w + s.gil_wait_s));
        (hold + wait > 0.0).then(|| wait / (hold + wait))
    }

    /// Runs stopped by simulated memory corruption (exit status 3), plus uses of
    /// freed objects counted by runs that went on.
    pub fn corruption_events(&self) -> u64 {
        let crashed = self
            .outcomes
            .iter()
            .filter(|o| o.status == Status::Exited(CORRUPTION_EXIT) && self.is_gilsim())
            .count() as u64;
        crashed + self.stats().map(|s| s.use_after_free).sum::<u64>()
    }

    /// Is this a gilsim row (not python3)?
    pub fn is_gilsim(&self) -> bool {
        matches!(self.job.engine, Engine::Gilsim { .. })
    }
}

/// gilsim's exit status for simulated memory corruption (see `run.rs`).
const CORRUPTION_EXIT: i32 = crate::cli::run::CORRUPTION_EXIT;

/// Below this speed-up, more threads "gained nothing": 1.25 leaves room for the
/// noise of a shared machine while still flagging the GIL's flat line (a GIL-
/// bound program lands near 1.0, or above it with the switching overhead).
const SPEEDUP_THRESHOLD: f64 = 1.25;

/// Program output with every decimal number (a time, almost always) replaced by
/// `#`, so that two runs that differ only in how long they took compare equal,
/// while whole numbers (counts, checksums, lost updates) still have to match.
pub fn mask_times(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                out.push('#');
            } else {
                out.extend(&chars[start..i]);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn count_of(n: usize, total: usize) -> String {
    format!("{n} of {total} runs")
}

/// What stands out about row `i`, as one line (empty if nothing does).
pub(super) fn note_for(rows: &[Row], i: usize) -> String {
    let row = &rows[i];
    let k = row.outcomes.len();
    let mut notes: Vec<String> = Vec::new();

    let not_started: Vec<&str> = row
        .outcomes
        .iter()
        .filter_map(|o| match &o.status {
            Status::NotStarted(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    if let Some(why) = not_started.first() {
        notes.push(format!(
            "could not start ({}): {why}",
            count_of(not_started.len(), k)
        ));
    }
    let crashed = row
        .outcomes
        .iter()
        .filter(|o| o.status == Status::Exited(CORRUPTION_EXIT) && row.is_gilsim())
        .count();
    if crashed > 0 {
        notes.push(format!(
            "crash: simulated memory corruption in {} (exit 3)",
            count_of(crashed, k)
        ));
    }
    let failed: Vec<&Outcome> = row
        .outcomes
        .iter()
        .filter(|o| match o.status {
            Status::Exited(0) => false,
            Status::Exited(CORRUPTION_EXIT) => !row.is_gilsim(),
            Status::Exited(_) | Status::Signalled => true,
            Status::NotStarted(_) => false,
        })
        .collect();
    if let Some(first) = failed.first() {
        let how = match first.status {
            Status::Exited(c) => format!("exit status {c}"),
            _ => "killed by a signal".into(),
        };
        let tail = if first.stderr_tail.is_empty() {
            String::new()
        } else {
            format!(": {}", first.stderr_tail)
        };
        notes.push(format!(
            "failed in {} ({how}{tail})",
            count_of(failed.len(), k)
        ));
    }
    let lost: u64 = row.stats().map(|s| s.lost_refcount_updates).sum();
    if lost > 0 {
        notes.push(format!("{lost} reference-count updates lost"));
    }
    let appends: u64 = row.stats().map(|s| s.lost_appends).sum();
    if appends > 0 {
        notes.push(format!("{appends} appends lost"));
    }
    let wrong: u64 = row.stats().map(|s| s.refcount_errors).sum();
    if wrong > 0 {
        notes.push(format!("{wrong} wrong reference counts at exit"));
    }

    // Outputs compared only between runs that finished normally: a crash's
    // output differs for a reason already given.
    let outputs: Vec<String> = row
        .outcomes
        .iter()
        .filter(|o| o.status == Status::Exited(0))
        .map(|o| mask_times(&o.stdout))
        .collect();
    let mut distinct = outputs.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() > 1 {
        notes.push(format!(
            "output differed between runs ({} different outputs in {})",
            distinct.len(),
            count_of(outputs.len(), k)
        ));
    }

    // More threads, same configuration otherwise: did they help?
    if let Some(n) = row.job.threads {
        let fewest = rows
            .iter()
            .filter(|r| {
                r.job.file == row.job.file
                    && r.job.engine == row.job.engine
                    && r.job.threads.is_some_and(|m| m < n)
            })
            .min_by_key(|r| r.job.threads);
        if let (Some(base), Some(t)) = (fewest, row.median_s()) {
            if let (Some(m), Some(bt)) = (base.job.threads, base.median_s()) {
                let speedup = bt / t;
                if t > 0.0 && speedup < SPEEDUP_THRESHOLD {
                    notes.push(format!(
                        "no speed-up: {n} threads took {:.2}x the time of {m}",
                        t / bt
                    ));
                }
            }
        }
    }

    // CPython's output should be gilsim's (with the GIL, same file and threads).
    if row.job.engine == Engine::Python {
        let ours = rows.iter().find(|r| {
            r.job.file == row.job.file
                && r.job.threads == row.job.threads
                && matches!(r.job.engine, Engine::Gilsim { gil: true, .. })
        });
        let first_ok = |r: &Row| {
            r.outcomes
                .iter()
                .find(|o| o.status == Status::Exited(0))
                .map(|o| mask_times(&o.stdout))
        };
        if let (Some(theirs), Some(ours)) = (first_ok(row), ours.and_then(first_ok)) {
            if theirs != ours {
                notes.push("output differs from gilsim's (gil on)".into());
            }
        }
    }
    notes.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_masked_but_counts_are_not() {
        assert_eq!(mask_times("took 0.918 s, got 12"), "took # s, got 12");
        assert_eq!(mask_times("v1.2.3 end."), "v#.3 end.");
        assert_eq!(mask_times("lost 5."), "lost 5.");
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
