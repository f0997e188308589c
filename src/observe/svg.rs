//! `--timeline FILE.svg`: the timeline as a standalone SVG picture.
//!
//! One lane per thread, time on the x-axis with a labelled scale, each interval
//! coloured by its state and carrying a `<title>` tooltip (a waiting interval
//! names who held the GIL meanwhile and where each let go; a holding interval
//! names its lines). Drop requests, forced switches and coroutine steps are
//! marks; a legend and a title with the program and configuration frame it.
//!
//! The picture has a fixed width, so a long run would otherwise mean thousands
//! of rectangles per pixel. Intervals shorter than a pixel are merged into
//! groups about a pixel wide, coloured by the state that filled most of the
//! group, with a tooltip giving the mix; the picture says how many were merged.
//! The number of shapes per lane is therefore bounded by the width in pixels,
//! whatever the length of the run. What the lanes mean is `timeline`'s job.

use super::timeline::{fmt_ns, tick_label, tick_step, Mark, MarkKind, Span, State, Timeline};
use std::collections::BTreeMap;
use std::fmt::Write;

const WIDTH: f64 = 1200.0;
/// Lane names are right-aligned against this x.
const LABEL_RIGHT: f64 = 200.0;
const PLOT_X: f64 = 210.0;
const PLOT_W: f64 = 960.0;
const TOP: f64 = 76.0;
const LANE_H: f64 = 20.0;
/// Lane height plus the gap above the next lane, where drop requests are drawn.
const LANE_STEP: f64 = 32.0;

/// Fill colours of the states; a colour-blind-safe-ish set with distinct
/// lightness, so the picture also survives a grey-scale print.
fn colour(state: State) -> &'static str {
    match state {
        State::Holding => "#2b8a3e",
        State::Running => "#1971c2",
        State::WaitingGil => "#f76707",
        State::Io => "#ced4da",
        State::SyncWait => "#9c36b5",
        State::Finished => "#f8f9fa",
    }
}

/// Escape text for XML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Maps nanoseconds to x.
struct Scale {
    ns_per_px: f64,
}

impl Scale {
    fn x(&self, t: u64) -> f64 {
        PLOT_X + t as f64 / self.ns_per_px
    }
}

/// A run of consecutive sub-pixel intervals of one lane, drawn as one shape.
struct Group {
    first: usize,
    last: usize,
    start: u64,
    end: u64,
    by_state: [u64; 6],
}

impl Group {
    fn new(i: usize, s: &Span) -> Group {
        let mut g = Group {
            first: i,
            last: i,
            start: s.start,
            end: s.end,
            by_state: [0; 6],
        };
        g.by_state[s.state.index()] += s.len();
        g
    }
    fn add(&mut self, i: usize, s: &Span) {
        self.last = i;
        self.end = s.end;
        self.by_state[s.state.index()] += s.len();
    }
    fn absorb(&mut self, other: &Group) {
        self.last = other.last;
        self.end = other.end;
        for (a, b) in self.by_state.iter_mut().zip(other.by_state) {
            *a += b;
        }
    }
    fn dominant(&self) -> State {
        let mut best = 0;
        for i in 1..6 {
            if self.by_state[i] > self.by_state[best] {
                best = i;
            }
        }
        State::ALL[best]
    }
    fn count(&self) -> usize {
        self.last - self.first + 1
    }
}

/// The whole picture.
pub fn render(tl: &Timeline) -> String {
    let duration = tl.end.max(1);
    let scale = Scale {
        ns_per_px: duration as f64 / PLOT_W,
    };
    let n = tl.lanes.len();
    let axis_y = TOP + n as f64 * LANE_STEP;
    let legend_y = axis_y + 44.0;
    let height = legend_y + 3.0 * 22.0 + 56.0;
    let program = if tl.config.program.is_empty() {
        "<program>".to_string()
    } else {
        tl.config.program.clone()
    };
    let title = format!("GIL timeline of {program}");
    let subtitle = format!(
        "{}; wall {}; {} thread{}",
        tl.config_line(),
        fmt_ns(tl.end),
        n,
        if n == 1 { "" } else { "s" }
    );

    let mut out = String::with_capacity(64 * 1024);
    let _ = writeln!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">
<title>{} ({})</title>"#,
        esc(&title),
        esc(&subtitle)
    );
    out.push_str("<style>");
    for s in State::ALL {
        let _ = write!(out, ".{}{{fill:{}}}", s.key(), colour(s));
    }
    out.push_str(
        ".finished{stroke:#dee2e6;stroke-width:0.5}.grid{stroke:#e9ecef}.axis{stroke:#495057}\
         .dropreq{fill:#212529}.forced{stroke:#c92a2a;stroke-width:2}.task{stroke:#212529;stroke-width:1}\
         .label{text-anchor:end}.lanebox{fill:none;stroke:#dee2e6;stroke-width:0.5}.small{font-size:11px;fill:#495057}</style>\n",
    );
    let _ = writeln!(
        out,
        r#"<rect width="{WIDTH}" height="{height}" fill="white"/>
<text id="title" x="20" y="28" font-size="18" font-weight="bold">{}</text>
<text id="subtitle" x="20" y="50" font-size="13">{}</text>"#,
        esc(&title),
        esc(&subtitle)
    );

    // Grid and axis first, so the lanes are drawn over the grid lines.
    let step = tick_step(duration, 10);
    out.push_str("<g id=\"axis\">\n");
    let mut t = 0u64;
    while t <= duration {
        let x = scale.x(t);
        let _ = writeln!(
            out,
            r#"<line class="grid" x1="{x:.2}" y1="{:.1}" x2="{x:.2}" y2="{axis_y:.1}"/><line class="axis" x1="{x:.2}" y1="{axis_y:.1}" x2="{x:.2}" y2="{:.1}"/><text x="{x:.2}" y="{:.1}" text-anchor="middle" class="small">{}</text>"#,
            TOP - 8.0,
            axis_y + 5.0,
            axis_y + 18.0,
            esc(&tick_label(t, step, duration))
        );
        t = match t.checked_add(step) {
            Some(t) => t,
            None => break,
        };
    }
    let _ = writeln!(
        out,
        r#"<line class="axis" x1="{PLOT_X}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">time since the program started</text>"#,
        PLOT_X + PLOT_W,
        PLOT_X + PLOT_W / 2.0,
        axis_y + 34.0
    );
    out.push_str("</g>\n");

    let mut merged_total = 0usize;
    let mut spans_total = 0usize;
    out.push_str("<g id=\"lanes\">\n");
    for (li, lane) in tl.lanes.iter().enumerate() {
        let y = TOP + li as f64 * LANE_STEP;
        let _ = writeln!(out, r#"<g class="lane" data-thread="{}">"#, esc(&lane.name));
        let summary = format!(
            "{}: held the GIL {}, ran without it {}, waited for it {}, blocked in I/O or sleep {}, waited on Lock/Queue/Event {}; {} forced switches, {} drop requests, {} coroutine steps",
            lane.name,
            fmt_ns(lane.total(State::Holding)),
            fmt_ns(lane.total(State::Running)),
            fmt_ns(lane.total(State::WaitingGil)),
            fmt_ns(lane.total(State::Io)),
            fmt_ns(lane.total(State::SyncWait)),
            lane.count(MarkKind::ForcedSwitch),
            lane.count(MarkKind::DropRequest),
            lane.count(MarkKind::TaskStep),
        );
        let _ = writeln!(
            out,
            r#"<text class="label" x="{LABEL_RIGHT}" y="{:.1}">{}<title>{}</title></text><rect x="{PLOT_X}" y="{y:.1}" width="{PLOT_W}" height="{LANE_H}" class="lanebox"/>"#,
            y + LANE_H / 2.0 + 4.0,
            esc(&super::stats::truncate(&lane.name, 30)),
            esc(&summary)
        );
        spans_total += lane.spans.len();
        merged_total += draw_spans(&mut out, tl, li, y, &scale);
        draw_marks(&mut out, &lane.marks, y, &scale);
        out.push_str("</g>\n");
    }
    out.push_str("</g>\n");

    // Legend: the six states, then the three marks, three to a row.
    out.push_str("<g id=\"legend\">\n");
    let mut items: Vec<String> = Vec::new();
    for s in State::ALL {
        items.push(format!(
            r#"<rect x="{{x}}" y="{{y}}" width="18" height="12" class="{}"/><text x="{{tx}}" y="{{ty}}">{}</text>"#,
            s.key(),
            esc(s.label())
        ));
    }
    for m in MarkKind::ALL {
        let shape = match m {
            MarkKind::DropRequest => {
                r#"<path class="dropreq" d="M{x} {y}h10l-5 7z" transform="translate(4 2)"/>"#
            }
            MarkKind::ForcedSwitch => {
                r#"<line class="forced" x1="{mx}" y1="{y}" x2="{mx}" y2="{yb}"/>"#
            }
            MarkKind::TaskStep => r#"<line class="task" x1="{mx}" y1="{ym}" x2="{mx}" y2="{yb}"/>"#,
        };
        items.push(format!(
            r#"{shape}<text x="{{tx}}" y="{{ty}}">{}</text>"#,
            esc(m.label())
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let x = 20.0 + (i % 3) as f64 * 390.0;
        let y = legend_y + (i / 3) as f64 * 22.0;
        let filled = item
            .replace("{x}", &format!("{x:.1}"))
            .replace("{y}", &format!("{y:.1}"))
            .replace("{mx}", &format!("{:.1}", x + 9.0))
            .replace("{ym}", &format!("{:.1}", y + 6.0))
            .replace("{yb}", &format!("{:.1}", y + 12.0))
            .replace("{tx}", &format!("{:.1}", x + 26.0))
            .replace("{ty}", &format!("{:.1}", y + 11.0));
        let _ = writeln!(out, "{filled}");
    }
    out.push_str("</g>\n");

    let foot_y = legend_y + 3.0 * 22.0 + 14.0;
    let merge_note = if merged_total == 0 {
        format!(
            "Every one of the {spans_total} intervals is drawn as it was (none is shorter than a pixel, {}).",
            fmt_ns(scale.ns_per_px as u64)
        )
    } else {
        format!(
            "{merged_total} of {spans_total} intervals were shorter than a pixel ({}) and are drawn merged, about a pixel at a time, coloured by the state that filled most of the group; hover for the mix.",
            fmt_ns(scale.ns_per_px as u64)
        )
    };
    let _ = writeln!(
        out,
        r#"<text id="merge-note" x="20" y="{foot_y:.1}" class="small">{}</text>
<text x="20" y="{:.1}" class="small">Hover over an interval: a wait names who held the GIL meanwhile and the line each let go at; a hold names its lines. Made by gilsim run --timeline.</text>
</svg>"#,
        esc(&merge_note),
        foot_y + 18.0
    );
    out
}

/// Draw one lane's intervals; returns how many were merged into groups.
fn draw_spans(out: &mut String, tl: &Timeline, li: usize, y: f64, scale: &Scale) -> usize {
    let spans = &tl.lanes[li].spans;
    let px = scale.ns_per_px;
    let mut merged = 0;
    // The group being filled, and the last finished group, held back in case
    // the next one has the same colour and can be drawn with it as one shape.
    let mut filling: Option<Group> = None;
    let mut held_back: Option<Group> = None;
    let flush = |out: &mut String, g: Group, held_back: &mut Option<Group>| match held_back {
        Some(h) if h.dominant() == g.dominant() && h.end == g.start => h.absorb(&g),
        _ => {
            if let Some(h) = held_back.take() {
                draw_group(out, tl, li, &h, y, scale);
            }
            *held_back = Some(g);
        }
    };
    for (i, s) in spans.iter().enumerate() {
        if s.len() as f64 >= px {
            if let Some(g) = filling.take() {
                flush(out, g, &mut held_back);
            }
            if let Some(h) = held_back.take() {
                draw_group(out, tl, li, &h, y, scale);
            }
            let _ = writeln!(
                out,
                r#"<rect class="{}" x="{:.2}" y="{y:.1}" width="{:.2}" height="{LANE_H}"><title>{}</title></rect>"#,
                s.state.key(),
                scale.x(s.start),
                s.len() as f64 / px,
                esc(&tl.describe(li, s))
            );
            continue;
        }
        merged += 1;
        match &mut filling {
            Some(g) => g.add(i, s),
            None => filling = Some(Group::new(i, s)),
        }
        if let Some(g) = &filling {
            if (g.end - g.start) as f64 >= px {
                if let Some(g) = filling.take() {
                    flush(out, g, &mut held_back);
                }
            }
        }
    }
    if let Some(g) = filling.take() {
        flush(out, g, &mut held_back);
    }
    if let Some(h) = held_back.take() {
        draw_group(out, tl, li, &h, y, scale);
    }
    merged
}

/// One merged group: the dominant state's colour, the mix in the tooltip, and
/// for the waits inside it, who held the GIL meanwhile.
fn draw_group(out: &mut String, tl: &Timeline, li: usize, g: &Group, y: f64, scale: &Scale) {
    let lane = &tl.lanes[li];
    let total: u64 = g.by_state.iter().sum::<u64>().max(1);
    let mut text = format!(
        "{}: {} interval{} shorter than a pixel, merged ({} to {}):",
        lane.name,
        g.count(),
        if g.count() == 1 { "" } else { "s" },
        fmt_ns(g.start),
        fmt_ns(g.end)
    );
    for s in State::ALL {
        let ns = g.by_state[s.index()];
        if ns > 0 {
            let _ = write!(
                text,
                " {} {:.0}%,",
                s.label(),
                100.0 * ns as f64 / total as f64
            );
        }
    }
    text.pop();
    // Who held the GIL during the waits of this group, per holder.
    let mut by_holder: BTreeMap<usize, (u64, usize)> = BTreeMap::new();
    for s in &lane.spans[g.first..=g.last] {
        if s.state == State::WaitingGil {
            for h in tl.held_meanwhile(li, s.start, s.end) {
                let e = by_holder.entry(h.lane).or_default();
                e.0 += h.ns;
                e.1 += 1;
            }
        }
    }
    if !by_holder.is_empty() {
        text.push_str("; while it waited, the GIL was held by:");
        for (h, (ns, k)) in by_holder {
            let _ = write!(
                text,
                "\n  {} for {} ({k} holding interval{})",
                tl.lanes[h].name,
                fmt_ns(ns),
                if k == 1 { "" } else { "s" }
            );
        }
    }
    let first = &lane.spans[g.first];
    let last = &lane.spans[g.last];
    if matches!(g.dominant(), State::Holding | State::Running) {
        let _ = write!(text, "\n  ran {}", tl.site_range(first.from, last.to));
    }
    let _ = writeln!(
        out,
        r#"<rect class="{} merged" x="{:.2}" y="{y:.1}" width="{:.2}" height="{LANE_H}"><title>{}</title></rect>"#,
        g.dominant().key(),
        scale.x(g.start),
        ((g.end - g.start) as f64 / scale.ns_per_px).max(0.5),
        esc(&text)
    );
}

/// Marks, at most one per kind and pixel (the tooltip says how many).
fn draw_marks(out: &mut String, marks: &[Mark], y: f64, scale: &Scale) {
    let mut buckets: BTreeMap<(MarkKind, i64), (usize, u64, u64)> = BTreeMap::new();
    for m in marks {
        let px = scale.x(m.t).round() as i64;
        let e = buckets.entry((m.kind, px)).or_insert((0, m.t, m.t));
        e.0 += 1;
        e.2 = m.t;
    }
    for ((kind, px), (count, first, last)) in buckets {
        let x = px as f64;
        let when = if count == 1 {
            format!("at {}", fmt_ns(first))
        } else {
            format!("{count} between {} and {}", fmt_ns(first), fmt_ns(last))
        };
        let title = format!("{}: {when}", kind.key());
        match kind {
            MarkKind::DropRequest => {
                let _ = writeln!(
                    out,
                    r#"<path class="dropreq" d="M{:.1} {:.1}h8l-4 6z"><title>{}</title></path>"#,
                    x - 4.0,
                    y - 7.0,
                    esc(&title)
                );
            }
            MarkKind::ForcedSwitch => {
                let _ = writeln!(
                    out,
                    r#"<line class="forced" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"><title>{}</title></line>"#,
                    y - 1.0,
                    y + LANE_H + 1.0,
                    esc(&title)
                );
            }
            MarkKind::TaskStep => {
                let _ = writeln!(
                    out,
                    r#"<line class="task" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"><title>{}</title></line>"#,
                    y + LANE_H - 6.0,
                    y + LANE_H,
                    esc(&title)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
