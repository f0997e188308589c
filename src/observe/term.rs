//! `--timeline -`: the timeline drawn in the terminal, one row of Unicode
//! blocks per thread, with a time scale and a legend.
//!
//! Each character cell covers an equal slice of the run and shows the state
//! that filled most of it, so a cell can hide a shorter state (the SVG keeps
//! more detail). Every state has its own glyph, so the drawing reads the same
//! without colours; colours are added only on a terminal, and never when
//! `NO_COLOR` is set (https://no-color.org). The lanes themselves are
//! `timeline`'s.

use super::timeline::{fmt_ns, tick_label, tick_step, MarkKind, State, Timeline};
use std::fmt::Write;

/// How to draw: with ANSI colours or not, and how many columns in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
    pub width: usize,
}

impl Style {
    /// Colours when standard output is a terminal and `NO_COLOR` is unset or
    /// empty (`CLICOLOR_FORCE=1` asks for them even when it is not a terminal);
    /// the width from `COLUMNS`, else 100.
    pub fn from_env() -> Style {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0");
        let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let colour = !set("NO_COLOR") && (tty || set("CLICOLOR_FORCE"));
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .unwrap_or(100);
        Style {
            colour,
            width: width.clamp(40, 400),
        }
    }
}

/// The glyph of a state (and of a cell where the thread did not exist yet).
pub fn glyph(state: Option<State>) -> char {
    match state {
        Some(State::Holding) => '█',
        Some(State::Running) => '▓',
        Some(State::WaitingGil) => '░',
        Some(State::Io) => '▁',
        Some(State::SyncWait) => '╌',
        Some(State::Finished) => '·',
        None => ' ',
    }
}

/// ANSI foreground colour of a state: the SVG's hues, in the 16 basic colours
/// every terminal has.
fn ansi(state: State) -> &'static str {
    match state {
        State::Holding => "32",
        State::Running => "34",
        State::WaitingGil => "33",
        State::Io => "90",
        State::SyncWait => "35",
        State::Finished => "90",
    }
}

/// Each cell's dominant state for one lane (`None` before the thread started).
fn cells(tl: &Timeline, lane: usize, n: usize) -> Vec<Option<State>> {
    let duration = tl.end.max(1) as f64;
    let cell_ns = duration / n as f64;
    let mut fill = vec![[0u64; 6]; n];
    for s in &tl.lanes[lane].spans {
        let first = ((s.start as f64 / cell_ns) as usize).min(n - 1);
        let last = ((s.end as f64 / cell_ns) as usize).min(n - 1);
        for (c, f) in fill.iter_mut().enumerate().take(last + 1).skip(first) {
            let lo = (c as f64 * cell_ns) as u64;
            let hi = ((c + 1) as f64 * cell_ns) as u64;
            let overlap = s.end.min(hi).saturating_sub(s.start.max(lo));
            // A span shorter than the rounding still counts a little, so that
            // a brief state in an otherwise empty cell is not lost.
            f[s.state.index()] += overlap.max(1);
        }
    }
    fill.iter()
        .map(|f| {
            let (i, &best) = f.iter().enumerate().max_by_key(|&(i, &v)| (v, 6 - i))?;
            (best > 0).then_some(State::ALL[i])
        })
        .collect()
}

fn paint(out: &mut String, text: &str, state: Option<State>, style: &Style) {
    match (style.colour, state) {
        (true, Some(s)) => {
            let _ = write!(out, "\x1b[{}m{text}\x1b[0m", ansi(s));
        }
        _ => out.push_str(text),
    }
}

/// The whole drawing.
pub fn render(tl: &Timeline, style: &Style) -> String {
    let mut out = String::new();
    let program = if tl.config.program.is_empty() {
        "<program>"
    } else {
        &tl.config.program
    };
    let _ = writeln!(
        out,
        "GIL timeline of {program} ({}; wall {})",
        tl.config_line(),
        fmt_ns(tl.end)
    );
    let label_w = tl
        .lanes
        .iter()
        .map(|l| l.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 24);
    let bar_w = style.width.saturating_sub(label_w + 3).max(10);
    for (li, lane) in tl.lanes.iter().enumerate() {
        let name = super::stats::truncate(&lane.name, label_w);
        let _ = write!(out, "{name:<label_w$} │");
        // Runs of equal cells are painted together: fewer escape codes.
        let row = cells(tl, li, bar_w);
        let mut i = 0;
        while i < row.len() {
            let mut j = i;
            while j < row.len() && row[j] == row[i] {
                j += 1;
            }
            let text: String = std::iter::repeat_n(glyph(row[i]), j - i).collect();
            paint(&mut out, &text, row[i], style);
            i = j;
        }
        let _ = writeln!(out, "│");
    }
    // The scale: tick marks under the bars, labels under the ticks.
    let duration = tl.end.max(1);
    let step = tick_step(duration, (bar_w / 14).max(1) as u64);
    let col = |t: u64| ((t as f64 / duration as f64) * bar_w as f64) as usize;
    let mut axis: Vec<char> = vec!['─'; bar_w];
    let mut labels: Vec<char> = vec![' '; bar_w + 12];
    let mut free_from = 0;
    let mut t = 0u64;
    while t <= duration {
        let c = col(t).min(bar_w - 1);
        axis[c] = '┬';
        let text: Vec<char> = tick_label(t, step, duration).chars().collect();
        if c >= free_from && c + text.len() <= labels.len() {
            labels[c..c + text.len()].copy_from_slice(&text);
            free_from = c + text.len() + 1;
        }
        t = match t.checked_add(step) {
            Some(t) => t,
            None => break,
        };
    }
    let pad = " ".repeat(label_w + 1);
    let _ = writeln!(out, "{pad}└{}┘", axis.iter().collect::<String>());
    let _ = writeln!(
        out,
        "{pad} {}",
        labels.iter().collect::<String>().trim_end()
    );
    // The legend: only the states that appear, wrapped to the width.
    let mut line_len = "legend:".len();
    out.push_str("legend:");
    for s in State::ALL {
        if tl.lanes.iter().any(|l| l.total(s) > 0) {
            let item_len = 4 + s.label().chars().count();
            if line_len + item_len > style.width {
                out.push_str("\n       ");
                line_len = 7;
            }
            out.push_str("  ");
            paint(&mut out, &glyph(Some(s)).to_string(), Some(s), style);
            let _ = write!(out, " {}", s.label());
            line_len += item_len;
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "one column = {}, showing the state that filled most of it.",
        fmt_ns(duration / bar_w as u64)
    );
    // Marks do not fit in a row of blocks: count them per thread instead.
    for kind in MarkKind::ALL {
        let per_thread: Vec<String> = tl
            .lanes
            .iter()
            .filter_map(|l| {
                let n = l.count(kind);
                (n > 0).then(|| format!("{} {n}", l.name))
            })
            .collect();
        if !per_thread.is_empty() {
            let _ = writeln!(out, "{}: {}", kind.plural(), per_thread.join(", "));
        }
    }
    out
}
