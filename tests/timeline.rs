//! Timelines and traces (issue 7) from real runs: the SVG parsed as XML (lanes,
//! legend, title, tooltips, merging), the terminal drawing (rows, legend,
//! NO_COLOR), the Chrome trace-event JSON against the format's documented
//! fields, the "waited on" matrix, and (where Chromium is installed) the SVG as
//! a browser lays it out. Time appears only in generous sanity bounds: the
//! tests must pass on a busy 2-core machine.

use super::threads::{gilsim, run_bounded};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The five threads of programs/mixed.toy, as the program names them.
const MIXED: [&str; 5] = [
    "MainThread",
    "cruncher-1",
    "cruncher-2",
    "sleeper-1",
    "sleeper-2",
];

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gilsim-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// `gilsim run ARGS...` from the project root; fails the test unless it exits 0.
fn run_ok(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = gilsim();
    cmd.current_dir(ROOT).arg("run").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_bounded(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "gilsim run {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn class_of<'a>(n: &roxmltree::Node<'a, '_>) -> &'a str {
    n.attribute("class").unwrap_or("")
}

fn tooltip(n: &roxmltree::Node) -> String {
    n.children()
        .find(|c| c.has_tag_name("title"))
        .and_then(|t| t.text())
        .unwrap_or("")
        .to_string()
}

#[test]
fn svg_has_lanes_legend_title_and_tooltips() {
    let svg = temp("mixed.svg");
    run_ok(
        &[
            "programs/mixed.toy",
            "--timeline",
            svg.to_str().unwrap_or(""),
        ],
        &[],
    );
    let text = std::fs::read_to_string(&svg).expect("the SVG was written");
    assert!(
        text.len() < 2 << 20,
        "SVG of a short run is {} bytes",
        text.len()
    );
    let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    let root = doc.root_element();
    assert!(root.has_tag_name("svg"));
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    for attr in ["width", "height", "viewBox"] {
        assert!(root.attribute(attr).is_some(), "<svg> lacks {attr}");
    }

    // The title names the program and the whole configuration.
    let title = tooltip(&root);
    for part in [
        "programs/mixed.toy",
        "gil on",
        "switch interval 5ms",
        "refcount plain",
    ] {
        assert!(title.contains(part), "title lacks {part:?}: {title}");
    }
    let shown = |id: &str| {
        doc.descendants()
            .find(|n| n.attribute("id") == Some(id))
            .map(|n| n.text().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert!(shown("title").contains("programs/mixed.toy"));
    assert!(shown("subtitle").contains("gil on, switch interval 5ms, refcount plain"));

    // One lane per thread, named as in the program, each with intervals.
    let lanes: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("g") && class_of(n) == "lane")
        .collect();
    let names: BTreeSet<&str> = lanes
        .iter()
        .filter_map(|l| l.attribute("data-thread"))
        .collect();
    assert_eq!(names, MIXED.into_iter().collect(), "lanes");
    let states = [
        "holding",
        "running",
        "waiting",
        "io",
        "sync_wait",
        "finished",
    ];
    for lane in &lanes {
        let intervals = lane
            .descendants()
            .filter(|n| n.has_tag_name("rect"))
            .filter(|n| states.contains(&class_of(n).split(' ').next().unwrap_or("")))
            .count();
        assert!(
            intervals > 0,
            "lane {:?} is empty",
            lane.attribute("data-thread")
        );
    }
    let lane = |name: &str| {
        lanes
            .iter()
            .find(|l| l.attribute("data-thread") == Some(name))
            .copied()
            .expect("lane exists")
    };
    // The crunchers share one GIL on any machine: each waits while the other
    // holds it, and the waits' tooltips say so, with the line it let go at.
    let waits: Vec<String> = lane("cruncher-1")
        .descendants()
        .filter(|n| n.has_tag_name("rect") && class_of(n) == "waiting")
        .map(|n| tooltip(&n))
        .collect();
    assert!(!waits.is_empty(), "cruncher-1 never waited for the GIL");
    assert!(
        waits.iter().any(|t| t.contains("held by:")
            && t.contains("cruncher-2 for")
            && t.contains("line ")
            && t.contains("in crunch")),
        "no wait names cruncher-2 and its line: {waits:#?}"
    );
    let holds: Vec<String> = lane("cruncher-2")
        .descendants()
        .filter(|n| n.has_tag_name("rect") && class_of(n) == "holding")
        .map(|n| tooltip(&n))
        .collect();
    assert!(
        holds
            .iter()
            .any(|t| t.contains("held the GIL") && t.contains("in crunch")),
        "no hold names its lines: {holds:#?}"
    );
    // The sleepers block in sleep; the main thread waits in join.
    assert!(lane("sleeper-1")
        .descendants()
        .any(|n| class_of(&n) == "io" && tooltip(&n).contains("in nap")));
    assert!(lane("MainThread")
        .descendants()
        .any(|n| class_of(&n) == "sync_wait"));
    // Forced switches and drop requests are marked on the crunchers' lanes.
    let marks = |kind: &str| {
        ["cruncher-1", "cruncher-2"]
            .iter()
            .map(|c| {
                lane(c)
                    .descendants()
                    .filter(|n| class_of(n) == kind)
                    .count()
            })
            .sum::<usize>()
    };
    assert!(marks("forced") > 0, "no forced switch marked");
    assert!(marks("dropreq") > 0, "no drop request marked");

    // The legend names every state and mark; the note says what was merged.
    let legend = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("legend"))
        .expect("a legend");
    let legend_text: String = legend.descendants().filter_map(|n| n.text()).collect();
    for label in [
        "running with the GIL",
        "running without a GIL",
        "waiting for the GIL",
        "blocked in I/O or sleep",
        "waiting on a Lock/Queue/Event",
        "finished",
        "drop request",
        "forced switch",
        "coroutine task switch",
    ] {
        assert!(legend_text.contains(label), "legend lacks {label:?}");
    }
    let axis: String = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("axis"))
        .expect("a time axis")
        .descendants()
        .filter_map(|n| n.text())
        .collect();
    assert!(
        axis.contains("0 ms") && axis.contains("time since"),
        "{axis}"
    );
    assert!(shown("merge-note").contains("intervals"));
}

#[test]
fn svg_stays_small_when_every_interval_is_shorter_than_a_pixel() {
    // A 50 µs switch interval makes thousands of sub-pixel intervals; the
    // picture merges them, says so, and keeps about one shape per pixel.
    let svg = temp("fast.svg");
    run_ok(
        &[
            "programs/cpu_bound.toy",
            "2",
            "--switch-interval",
            "50us",
            "--timeline",
            svg.to_str().unwrap_or(""),
        ],
        &[],
    );
    let text = std::fs::read_to_string(&svg).expect("the SVG was written");
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let note = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("merge-note"))
        .and_then(|n| n.text())
        .unwrap_or("")
        .to_string();
    assert!(
        note.contains("shorter than a pixel") && note.contains("merged"),
        "{note}"
    );
    let merged_count: usize = note
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0);
    let rects = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && class_of(n).ends_with("merged"))
        .count();
    assert!(rects > 0, "no merged shapes");
    assert!(
        merged_count > rects,
        "{merged_count} merged intervals drawn with {rects} shapes"
    );
    for lane in doc.descendants().filter(|n| class_of(n) == "lane") {
        let shapes = lane
            .descendants()
            .filter(|n| n.has_tag_name("rect"))
            .count();
        assert!(shapes <= 2 * 960 + 2, "{shapes} shapes in one lane");
    }
}

#[test]
fn terminal_timeline_has_a_row_per_thread_and_honours_no_color() {
    let plain = run_ok(
        &["programs/mixed.toy", "--timeline", "-"],
        &[
            ("NO_COLOR", "1"),
            ("CLICOLOR_FORCE", "1"),
            ("COLUMNS", "100"),
        ],
    );
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(!text.contains('\x1b'), "colour despite NO_COLOR:\n{text}");
    assert!(text.contains("GIL timeline of programs/mixed.toy (gil on"));
    for name in MIXED {
        let row = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"));
        assert_eq!(row.chars().count(), 100, "row width: {row:?}");
        assert!(row.ends_with('│'));
    }
    let rows = |needle: char| {
        text.lines()
            .filter(|l| MIXED.iter().any(|m| l.starts_with(m)) && l.contains(needle))
            .count()
    };
    assert!(rows('█') >= 2, "the crunchers hold the GIL:\n{text}");
    assert!(rows('░') >= 2, "the crunchers wait for it:\n{text}");
    assert!(rows('▁') >= 2, "the sleepers sleep:\n{text}");
    assert!(text.contains("legend:") && text.contains("█ running with the GIL"));
    assert!(
        text.contains("┬") && text.contains("0 ms"),
        "no time scale:\n{text}"
    );
    assert!(text.contains("forced switches: "), "{text}");

    let coloured = run_ok(
        &["programs/mixed.toy", "--timeline", "-"],
        &[("CLICOLOR_FORCE", "1")],
    );
    let text = String::from_utf8_lossy(&coloured.stdout);
    assert!(text.contains("\x1b[32m█"), "no colour when forced:\n{text}");
}

#[test]
fn trace_events_follow_the_documented_format() {
    let path = temp("mixed.json");
    run_ok(
        &[
            "programs/mixed.toy",
            "--trace-events",
            path.to_str().unwrap_or(""),
        ],
        &[],
    );
    let text = std::fs::read_to_string(&path).expect("trace written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let events = v["traceEvents"].as_array().expect("a traceEvents array");
    let mut thread_names = BTreeSet::new();
    let mut phases = BTreeSet::new();
    let mut last_end_us: f64 = 0.0;
    for e in events {
        let ph = e["ph"].as_str().expect("every event has ph");
        phases.insert(ph.to_string());
        assert!(e["name"].is_string(), "no name: {e}");
        assert!(e["pid"].is_u64(), "no pid: {e}");
        assert!(e["tid"].is_u64(), "no tid: {e}");
        let ts = e["ts"].as_f64().expect("every event has ts");
        assert!(ts >= 0.0);
        match ph {
            "M" => {
                if e["name"] == "thread_name" {
                    let n = e["args"]["name"].as_str().expect("thread_name args.name");
                    thread_names.insert(n.to_string());
                }
            }
            "X" => {
                let dur = e["dur"].as_f64().expect("X events have dur");
                assert!(dur >= 0.0);
                assert!(e["args"].is_object());
                last_end_us = last_end_us.max(ts + dur);
            }
            "i" => {
                let s = e["s"].as_str().unwrap_or("t");
                assert!(["t", "p", "g"].contains(&s), "instant scope {s}");
            }
            "C" => {
                let args = e["args"].as_object().expect("counter args");
                assert!(!args.is_empty() && args.values().all(|a| a.is_number()));
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    assert_eq!(thread_names, MIXED.iter().map(|s| s.to_string()).collect());
    for ph in ["M", "X", "i", "C"] {
        assert!(phases.contains(ph), "no {ph} event");
    }
    // ts is in microseconds: the sleepers sleep 10 x 20 ms, so the run lasts
    // at least 200,000 µs, and surely less than a minute.
    assert!(
        (200_000.0..60_000_000.0).contains(&last_end_us),
        "last event ends at {last_end_us} µs"
    );
    let named = |name: &str| events.iter().filter(|e| e["name"] == name).count();
    assert!(named("holding the GIL") > 0);
    assert!(named("blocked: I/O or sleep") > 0);
    assert!(named("forced switch") > 0);
    assert!(named("drop request") > 0);
    assert!(events.iter().any(|e| e["name"] == "waiting for the GIL"
        && e["args"]["held_by"]
            .as_array()
            .is_some_and(|h| h.iter().any(|x| x["thread"].is_string()))));
}

/// Parse `--stats-json -` output (the program prints its own line first).
fn stats_json(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let start = text.find("{\n").expect("JSON after the program's output");
    serde_json::from_str(&text[start..]).expect("stats JSON")
}

#[test]
fn each_of_two_cpu_bound_threads_waited_on_the_other() {
    let out = run_ok(
        &[
            "programs/cpu_bound.toy",
            "2",
            "--stats",
            "--stats-json",
            "-",
        ],
        &[],
    );
    let table = String::from_utf8_lossy(&out.stderr);
    assert!(table.contains("waited on"), "{table}");
    assert!(table.contains("waiter \\ holder"), "{table}");
    let v = stats_json(&out.stdout);
    let w = &v["waited_on"];
    let names: Vec<&str> = w["threads"]
        .as_array()
        .expect("waited_on.threads")
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    let at = |n: &str| names.iter().position(|x| *x == n).expect("thread listed");
    let (a, b) = (at("Thread-1 (count)"), at("Thread-2 (count)"));
    let secs = |w_: usize, h: usize| w["seconds"][w_][h].as_f64().unwrap_or(-1.0);
    assert!(secs(a, b) > 0.0, "Thread-1 never waited on Thread-2: {w}");
    assert!(secs(b, a) > 0.0, "Thread-2 never waited on Thread-1: {w}");
    // A row of the matrix, plus the handover, is the thread's whole wait
    // (the same intervals the "wait s" column adds up).
    for (i, t) in v["threads"].as_array().expect("threads").iter().enumerate() {
        let name = t["name"].as_str().unwrap_or("");
        let row = at(name);
        let total: f64 = (0..names.len()).map(|h| secs(row, h)).sum::<f64>()
            + w["handover_s"][row].as_f64().unwrap_or(0.0);
        let wait = t["gil_wait_s"].as_f64().unwrap_or(0.0);
        assert!(
            (total - wait).abs() <= 0.05 * wait + 0.005,
            "thread {i} ({name}): matrix row {total} s, wait {wait} s"
        );
    }
}

#[test]
fn without_the_gil_nobody_waits_and_lanes_run_in_parallel() {
    let out = run_ok(
        &[
            "programs/cpu_bound.toy",
            "2",
            "--gil",
            "off",
            "--timeline",
            "-",
        ],
        &[("NO_COLOR", "1")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("gil off"));
    assert!(text.contains("▓ running without a GIL"), "{text}");
    assert!(!text.contains("waiting for the GIL"), "{text}");
}

#[test]
fn coroutine_steps_are_ticks_on_their_thread() {
    let svg = temp("async.svg");
    let trace = temp("async.json");
    run_ok(
        &[
            "programs/crawler_async.toy",
            "--timeline",
            svg.to_str().unwrap_or(""),
            "--trace-events",
            trace.to_str().unwrap_or(""),
        ],
        &[],
    );
    let text = std::fs::read_to_string(&svg).expect("SVG written");
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let ticks = doc
        .descendants()
        .filter(|n| class_of(n) == "lane")
        .find(|n| n.attribute("data-thread") == Some("MainThread"))
        .expect("the main thread's lane")
        .descendants()
        .filter(|n| class_of(n) == "task")
        .count();
    assert!(ticks > 0, "no coroutine ticks");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).expect("trace written"))
            .expect("JSON");
    // 8 fetchers, each resumed at least when it starts and when its page arrives.
    let steps = v["traceEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["name"] == "task step" && e["ph"] == "i")
        .count();
    assert!(steps >= 16, "{steps} task steps");
}

#[test]
fn an_unwritable_timeline_path_is_an_error_before_the_run() {
    for flag in ["--timeline", "--trace-events"] {
        for bad in ["/nonexistent-gilsim-dir/t.out", ROOT] {
            let mut cmd = gilsim();
            cmd.current_dir(ROOT)
                .args(["run", "-c", "print('ran')", flag, bad]);
            let out = run_bounded(cmd, Duration::from_secs(20));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{flag} {bad}: {err}");
            assert!(err.contains("gilsim: cannot write"), "{err}");
            assert!(err.contains(bad), "{err}");
            assert!(!err.contains("panicked"), "{err}");
            assert!(out.stdout.is_empty(), "the program ran anyway");
        }
    }
}

/// Where a headless Chromium is, if one is installed (Debian: `apt-get install
/// chromium`).
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// The page that loads the SVG in a browser and reports how it was laid out:
/// the document's root, parse errors, and the boxes of the lanes, legend and
/// title as the browser computed them.
const LAYOUT_PAGE: &str = r#"<!DOCTYPE html>
<html><body>
<object id="o" type="image/svg+xml" data="t.svg" width="1200" height="600"></object>
<pre id="out">not loaded</pre>
<script>
document.getElementById('o').addEventListener('load', () => {
  const out = document.getElementById('out');
  try {
    const d = document.getElementById('o').contentDocument;
    const svg = d.documentElement;
    const box = e => { const b = e.getBBox(); return [b.x, b.y, b.width, b.height]; };
    const r = {
      root: svg.localName,
      errors: d.getElementsByTagName('parsererror').length,
      view: [svg.viewBox.baseVal.width, svg.viewBox.baseVal.height],
      lanes: Array.from(d.querySelectorAll('g.lane')).map(box),
      legend: box(d.getElementById('legend')),
      title: box(d.getElementById('title')),
    };
    out.textContent = 'LAYOUT ' + JSON.stringify(r);
  } catch (e) { out.textContent = 'LAYOUT ' + JSON.stringify({error: String(e)}); }
});
</script></body></html>
"#;

#[test]
fn chromium_renders_the_svg_with_everything_inside_the_picture() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: no chromium on PATH (apt-get install chromium to run this check)");
        return;
    };
    let dir = temp("chromium");
    std::fs::create_dir_all(&dir).expect("dir");
    let svg = dir.join("t.svg");
    run_ok(
        &[
            "programs/mixed.toy",
            "--timeline",
            svg.to_str().unwrap_or(""),
        ],
        &[],
    );
    let page = dir.join("check.html");
    std::fs::write(&page, LAYOUT_PAGE).expect("page written");
    let mut cmd = std::process::Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
        "--dump-dom",
    ])
    .arg(format!("--user-data-dir={}", dir.join("profile").display()))
    .arg(format!("file://{}", page.display()));
    let out = run_bounded(cmd, Duration::from_secs(120));
    let dom = String::from_utf8_lossy(&out.stdout);
    let json = dom
        .lines()
        .find_map(|l| l.split("LAYOUT ").nth(1))
        .and_then(|l| l.split("</pre>").next())
        .unwrap_or_else(|| panic!("the page reported nothing:\n{dom}"));
    let r: serde_json::Value = serde_json::from_str(json).expect("layout JSON");
    assert_eq!(r["root"], "svg", "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let (vw, vh) = (num(&r["view"][0]), num(&r["view"][1]));
    let inside = |b: &serde_json::Value, what: &str| {
        let (x, y, w, h) = (num(&b[0]), num(&b[1]), num(&b[2]), num(&b[3]));
        assert!(w > 0.0 && h > 0.0, "{what} has no size: {b}");
        assert!(
            x >= 0.0 && y >= 0.0,
            "{what} starts outside the picture: {b}"
        );
        assert!(
            x + w <= vw + 0.5 && y + h <= vh + 0.5,
            "{what} ends outside: {b}"
        );
        (y, y + h, w)
    };
    let lanes = r["lanes"].as_array().expect("lanes");
    assert_eq!(lanes.len(), MIXED.len());
    let mut bottom = 0.0;
    for (i, b) in lanes.iter().enumerate() {
        let (top, end, width) = inside(b, &format!("lane {i}"));
        assert!(top >= bottom, "lane {i} overlaps the one above: {b}");
        // Label and intervals across the plot: most of the picture's width.
        assert!(width > 0.5 * vw, "lane {i} is narrow: {b}");
        bottom = end;
    }
    let (legend_top, _, _) = inside(&r["legend"], "the legend");
    assert!(legend_top > bottom, "the legend overlaps the lanes");
    inside(&r["title"], "the title");
}
