//! The "waited on" matrix: for each thread that waited for the GIL, how long
//! each other thread held it meanwhile, and how long nobody did (the handover).
//!
//! `Timeline::waited_on` computes it from the lanes; this module holds it and
//! prints it, as a table under `--stats` and as the `waited_on` key of
//! `--stats-json`.

use super::stats::{json_str, truncate};
use std::fmt::Write;

/// Seconds each thread (row) spent waiting for the GIL while each other thread
/// (column) held it; `handover` is waiting time during which nobody held it
/// (the lock was free, but the waiter had not woken up and taken it yet).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaitedOn {
    pub names: Vec<String>,
    pub secs: Vec<Vec<f64>>,
    pub handover: Vec<f64>,
}

impl WaitedOn {
    /// The matrix as a table for `--stats`: one row per waiter that waited,
    /// one column per thread that ever held the GIL while somebody waited.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let n = self.names.len();
        // Rows and columns that would print as all zeros are left out (the
        // JSON keeps every value).
        let shows = |x: f64| x >= 0.0005;
        let rows: Vec<usize> = (0..n)
            .filter(|&w| shows(self.handover[w]) || self.secs[w].iter().any(|&x| shows(x)))
            .collect();
        let cols: Vec<usize> = (0..n)
            .filter(|&h| rows.iter().any(|&w| shows(self.secs[w][h])))
            .collect();
        let _ = writeln!(
            out,
            "waited on (seconds each thread in a row waited for the GIL while the thread in a column held it):"
        );
        if rows.is_empty() {
            let _ = writeln!(
                out,
                "  nobody waited for the GIL for as long as half a millisecond"
            );
            return out;
        }
        const W: usize = 16;
        let short = |s: &str| truncate(s, W);
        let _ = write!(out, "{:<28}", "waiter \\ holder");
        for &h in &cols {
            let _ = write!(out, " {:>W$}", short(&self.names[h]));
        }
        let _ = writeln!(out, " {:>W$}", "(handover)");
        for &w in &rows {
            let _ = write!(out, "{:<28}", truncate(&self.names[w], 28));
            for &h in &cols {
                let _ = write!(out, " {:>W$.3}", self.secs[w][h]);
            }
            let _ = writeln!(out, " {:>W$.3}", self.handover[w]);
        }
        let _ = writeln!(
            out,
            "(handover: the lock was free but the waiter had not taken it yet: the OS waking it up)"
        );
        out
    }

    /// The matrix as JSON: `{"threads": [names], "seconds": [[row per waiter]],
    /// "handover_s": [per waiter]}`.
    pub fn json(&self) -> String {
        let names: Vec<String> = self.names.iter().map(|n| json_str(n)).collect();
        let num = |x: f64| {
            if x.is_finite() {
                format!("{x}")
            } else {
                "null".into()
            }
        };
        let rows: Vec<String> = self
            .secs
            .iter()
            .map(|r| {
                format!(
                    "[{}]",
                    r.iter().map(|&x| num(x)).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        let handover: Vec<String> = self.handover.iter().map(|&x| num(x)).collect();
        format!(
            "{{\"threads\": [{}], \"seconds\": [{}], \"handover_s\": [{}]}}",
            names.join(", "),
            rows.join(", "),
            handover.join(", ")
        )
    }
}
