//! The comparison printed: an aligned table for people, markdown for
//! documents, csv and json for programs. Every format carries the same rows
//! and figures; the table and markdown add the preamble and a legend.

use super::figures::times;
use super::{refcount_name, Engine, Format, Report, Row, Status};
use std::fmt::Write as _;

/// The columns, in order, with their headings (table, markdown, csv).
const HEADINGS: [&str; 9] = [
    "configuration",
    "median s",
    "min s",
    "max s",
    "ratio",
    "forced",
    "wait share",
    "corrupt",
    "note",
];

fn secs(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.3}"))
}

/// Every row as cells, in `HEADINGS` order.
fn cells(report: &Report) -> Vec<[String; 9]> {
    let first = report.rows.first().and_then(Row::median_s);
    report
        .rows
        .iter()
        .map(|r| {
            let ratio = match (r.median_s(), first) {
                (Some(m), Some(f)) if f > 0.0 => format!("{:.2}", m / f),
                _ => "-".into(),
            };
            [
                r.label.clone(),
                secs(r.median_s()),
                secs(r.min_s()),
                secs(r.max_s()),
                ratio,
                r.forced_switches()
                    .map_or_else(|| "-".into(), |f| format!("{f:.0}")),
                r.wait_share()
                    .map_or_else(|| "-".into(), |s| format!("{:.1}%", s * 100.0)),
                if r.is_gilsim() {
                    r.corruption_events().to_string()
                } else {
                    "-".into()
                },
                r.note.clone(),
            ]
        })
        .collect()
}

/// What the columns mean, printed under the table.
fn legend(report: &Report) -> Vec<String> {
    vec![
        format!(
            "seconds: wall time of each whole process (median, min, max of {} run{}); ratio: median / the first row's median",
            report.runs,
            if report.runs == 1 { "" } else { "s" }
        ),
        "forced: GIL switches forced by a waiting thread's drop request (median per run); wait share: time threads waited for the GIL / (time held + time waited); - if nothing was timed (no GIL, or one thread that never handed it over)".into(),
        "corrupt: runs stopped by simulated memory corruption (exit 3); outputs are compared with decimal numbers (times) masked".into(),
    ]
}

/// Render the report in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => render_table(report),
        Format::Markdown => render_markdown(report),
        Format::Csv => render_csv(report),
        Format::Json => render_json(report),
    }
}

fn render_table(report: &Report) -> String {
    let rows = cells(report);
    let mut widths: Vec<usize> = HEADINGS.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w.saturating_sub(c.chars().count());
            match i {
                0 => {
                    s.push_str(c);
                    s.push_str(&" ".repeat(pad));
                }
                // the note is last: no padding after it
                8 => s.push_str(c),
                _ => {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                }
            }
            if i < 8 {
                s.push_str("  ");
            }
        }
        s.trim_end().to_string()
    };
    let mut out = String::new();
    for p in &report.preamble {
        let _ = writeln!(out, "{p}");
    }
    let head: Vec<String> = HEADINGS.iter().map(|h| h.to_string()).collect();
    let _ = writeln!(out, "{}", line(&head));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }
    out.push('\n');
    for l in legend(report) {
        let _ = writeln!(out, "{l}");
    }
    out
}

fn render_markdown(report: &Report) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = String::new();
    for p in &report.preamble {
        let _ = writeln!(out, "{p}  ");
    }
    out.push('\n');
    let _ = writeln!(out, "| {} |", HEADINGS.join(" | "));
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in cells(report) {
        let row: Vec<String> = r.iter().map(|c| esc(c)).collect();
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
    for l in legend(report) {
        let _ = writeln!(out, "{l}  ");
    }
    out
}

fn render_csv(report: &Report) -> String {
    // Machine-readable: plain numbers (no "%" and "-"), empty where unknown.
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let opt =
        |x: Option<f64>, digits: usize| x.map_or_else(String::new, |v| format!("{v:.digits$}"));
    let first = report.rows.first().and_then(Row::median_s);
    let mut out = String::from(
        "configuration,runs,median_s,min_s,max_s,ratio,forced_switches,gil_wait_share,corruption_events,note\n",
    );
    for r in &report.rows {
        let ratio = match (r.median_s(), first) {
            (Some(m), Some(f)) if f > 0.0 => Some(m / f),
            _ => None,
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            quote(&r.label),
            r.outcomes.len(),
            opt(r.median_s(), 6),
            opt(r.min_s(), 6),
            opt(r.max_s(), 6),
            opt(ratio, 4),
            opt(r.forced_switches(), 1),
            opt(r.wait_share(), 4),
            if r.is_gilsim() {
                r.corruption_events().to_string()
            } else {
                String::new()
            },
            quote(&r.note)
        );
    }
    out
}

fn render_json(report: &Report) -> String {
    use serde_json::{json, Value};
    let first = report.rows.first().and_then(Row::median_s);
    let rows: Vec<Value> = report
        .rows
        .iter()
        .map(|r| {
            let (engine, gil, interval, refcount) = match &r.job.engine {
                Engine::Gilsim {
                    gil,
                    switch_interval,
                    refcount,
                } => (
                    "gilsim",
                    json!(if *gil { "on" } else { "off" }),
                    json!(switch_interval),
                    json!(refcount_name(*refcount)),
                ),
                Engine::Python => ("python3", Value::Null, Value::Null, Value::Null),
            };
            let statuses: Vec<Value> = r
                .outcomes
                .iter()
                .map(|o| match &o.status {
                    Status::Exited(c) => json!(c),
                    Status::Signalled => json!("signal"),
                    Status::NotStarted(_) => json!("not started"),
                })
                .collect();
            json!({
                "configuration": r.label,
                "file": r.job.file,
                "engine": engine,
                "gil": gil,
                "switch_interval_s": interval,
                "refcount": refcount,
                "threads": r.job.threads,
                "runs": r.outcomes.len(),
                "seconds": times(r),
                "exit_statuses": statuses,
                "median_s": r.median_s(),
                "min_s": r.min_s(),
                "max_s": r.max_s(),
                "ratio": match (r.median_s(), first) {
                    (Some(m), Some(f)) if f > 0.0 => Some(m / f),
                    _ => None,
                },
                "forced_switches": r.forced_switches(),
                "gil_wait_share": r.wait_share(),
                "corruption_events": if r.is_gilsim() { json!(r.corruption_events()) } else { Value::Null },
                "note": r.note,
            })
        })
        .collect();
    let doc = json!({ "preamble": report.preamble, "rows": rows });
    // Serialising a Value built above cannot fail; an empty object is a safe
    // fallback should it ever.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}
