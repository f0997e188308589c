// gilsim serve's page: the program picker, the editor (line numbers and
// simple Python highlighting), the settings, Run / Run both, and the results.
// Plain JavaScript with no library, so the page works offline from the binary.
// Program output is only ever set as text, and the timeline SVG is shown in a
// sandboxed iframe: a shared link may carry someone else's program, and what
// it prints must not become part of this page.
"use strict";

const $ = (id) => document.getElementById(id);
const SETTINGS = ["gil", "switch_interval", "refcount", "threads", "seed"];
let examples = [];

// ---- editor ---------------------------------------------------------------

const KEYWORDS = new Set(("False None True and as assert async await break class continue def del elif else " +
  "except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield").split(" "));
const BUILTINS = new Set(("print len range int str float list dict set tuple sum min max abs enumerate zip " +
  "isinstance type sorted reversed iter next super object Exception self").split(" "));

function escapeHtml(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// One pass over the text with one regex: comments, strings, numbers, words.
// Good enough to colour a teaching example; it is not a Python lexer.
function highlight(text) {
  const re = /(#[^\n]*)|("""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|[rbf]?"(?:\\.|[^"\\\n])*"?|[rbf]?'(?:\\.|[^'\\\n])*'?)|(\b\d[\d_]*(?:\.\d+)?\b)|([A-Za-z_]\w*)/g;
  let out = "", last = 0, m;
  while ((m = re.exec(text)) !== null) {
    out += escapeHtml(text.slice(last, m.index));
    const t = escapeHtml(m[0]);
    if (m[1]) out += `<span class="com">${t}</span>`;
    else if (m[2]) out += `<span class="str">${t}</span>`;
    else if (m[3]) out += `<span class="num">${t}</span>`;
    else if (KEYWORDS.has(m[4])) out += `<span class="kw">${t}</span>`;
    else if (BUILTINS.has(m[4])) out += `<span class="bi">${t}</span>`;
    else out += t;
    last = re.lastIndex;
  }
  return out + escapeHtml(text.slice(last)) + "\n";
}

function refreshEditor() {
  const text = $("source").value;
  const lines = text.split("\n").length;
  let g = "";
  for (let i = 1; i <= lines; i++) g += i + "\n";
  $("gutter").textContent = g;
  $("highlight").innerHTML = highlight(text);
  // The textarea grows with its text so that the outer box scrolls the
  // gutter, the highlight and the text together.
  $("source").style.height = "auto";
  $("source").style.height = $("source").scrollHeight + "px";
}

function setupEditor() {
  const src = $("source");
  src.addEventListener("input", refreshEditor);
  // Tab indents (four spaces, as Python wants) instead of leaving the editor.
  src.addEventListener("keydown", (e) => {
    if (e.key === "Tab") {
      e.preventDefault();
      src.setRangeText("    ", src.selectionStart, src.selectionEnd, "end");
      refreshEditor();
    } else if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      runOnce();
    }
  });
}

// ---- settings and sharing ---------------------------------------------------

// Threads is the program's first argument (the examples read sys.argv[1]);
// left blank, nothing is passed and the program uses its own default, which
// matters for a program whose first argument means something else
// (refcount_race.toy takes rounds per thread).
function settings() {
  const threads = $("threads").value.trim();
  return {
    gil: $("gil").value,
    switch_interval: $("switch_interval").value.trim(),
    refcount: $("refcount").value,
    threads: threads === "" ? undefined : Number(threads),
    seed: Number($("seed").value),
  };
}

// The Share link holds the program and the settings in the URL's fragment,
// which browsers never send to the server: nothing is stored there.
function shareLink() {
  const state = Object.assign({ source: $("source").value }, settings());
  const url = location.origin + location.pathname + "#" + encodeURIComponent(JSON.stringify(state));
  history.replaceState(null, "", url);
  const note = $("share-note");
  if (navigator.clipboard) {
    navigator.clipboard.writeText(url).then(() => { note.textContent = "link copied"; },
      () => { note.textContent = "link in the address bar"; });
  } else {
    note.textContent = "link in the address bar";
  }
}

function loadFromFragment() {
  if (location.hash.length < 2) return false;
  try {
    const state = JSON.parse(decodeURIComponent(location.hash.slice(1)));
    if (typeof state.source === "string") $("source").value = state.source;
    for (const k of SETTINGS) if (state[k] !== undefined) $(k).value = state[k];
    $("program").value = "";
    // "run": "once" | "both" starts the run when the page opens: a link
    // that shows a result at once (and how the headless-browser test runs it).
    if (state.run === "both") setTimeout(runBoth, 0);
    else if (state.run === "once") setTimeout(runOnce, 0);
    return true;
  } catch (e) {
    $("status").textContent = "the link's program could not be read";
    return false;
  }
}

async function loadExamples() {
  const picker = $("program");
  const blank = document.createElement("option");
  blank.value = "";
  blank.textContent = "(your own)";
  picker.appendChild(blank);
  try {
    const r = await fetch("/api/programs");
    const answer = await r.json();
    examples = answer.programs;
    if (answer.limits && answer.limits.threads) $("threads").max = answer.limits.threads;
  } catch (e) {
    $("status").textContent = "could not load the examples: " + e;
  }
  for (const ex of examples) {
    const o = document.createElement("option");
    o.value = ex.name;
    o.textContent = ex.name;
    picker.appendChild(o);
  }
  picker.addEventListener("change", () => {
    const ex = examples.find((e) => e.name === picker.value);
    if (ex) { $("source").value = ex.source; refreshEditor(); }
  });
  if (!loadFromFragment() && examples.length) {
    picker.value = examples[0].name;
    $("source").value = examples[0].source;
  }
  refreshEditor();
}

// ---- running ------------------------------------------------------------------

async function post(body) {
  const r = await fetch("/api/run", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  let answer;
  try { answer = await r.json(); } catch (e) { answer = { error: `HTTP ${r.status}` }; }
  return answer;
}

function request(overrides) {
  const s = Object.assign(settings(), overrides);
  // An unchanged example is sent by name, so its tracebacks and timeline
  // title carry the example's file name.
  const ex = examples.find((e) => e.name === $("program").value);
  const body = ex && ex.source === $("source").value ? { program: ex.name } : { source: $("source").value };
  return Object.assign(body, s);
}

const LIMIT_WORDS = {
  time: "stopped: the time limit was reached",
  heap: "the heap limit was reached (MemoryError)",
  output: "stopped: too much output (only the first part is shown)",
  svg: "the timeline is too large to show",
  threads: "the thread limit was reached (RuntimeError: can't start new thread)",
};

function statsTable(stats) {
  const cols = [["name", "thread"], ["instructions", "instructions"], ["gil_hold_s", "hold s"],
    ["gil_wait_s", "wait s"], ["io_s", "io s"], ["gil_acquisitions", "acquired"],
    ["forced_switches", "forced"], ["voluntary_releases", "released"],
    ["lost_increfs", "lost incref"], ["lost_decrefs", "lost decref"], ["lost_appends", "lost appends"]];
  const table = document.createElement("table");
  table.className = "stats";
  const head = table.insertRow();
  for (const [, label] of cols) {
    const th = document.createElement("th");
    th.textContent = label;
    head.appendChild(th);
  }
  const rows = (stats.threads || []).concat(stats.totals ? [stats.totals] : []);
  for (const t of rows) {
    const tr = table.insertRow();
    for (const [key] of cols) {
      const v = t[key];
      tr.insertCell().textContent = typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : (v ?? "");
    }
  }
  return table;
}

// The timeline in a sandboxed iframe (no scripts, an origin of its own), as
// a document of its own that scales the picture to the pane's width: the
// SVG's viewBox keeps its proportions, and the frame keeps the same aspect
// ratio, so nothing is cut off and no scroll bar appears. The SVG's own size
// is read from its root element only (the first width= in the text could
// belong to anything). The frame's load event marks it `data-loaded`: a
// sandboxed frame is drawn by a renderer process of its own, after the page
// that holds it, so whoever takes a picture of the page (tests/browser.rs)
// waits for that mark rather than for the page alone.
function timelineFrame(svg) {
  const root = /<svg\b[^>]*>/.exec(svg);
  const attr = (name) => {
    const m = root && new RegExp(`\\s${name}="([\\d.]+)"`).exec(root[0]);
    return m ? Number(m[1]) : 0;
  };
  const w = attr("width") || 1200, h = attr("height") || 300;
  const frame = document.createElement("iframe");
  frame.setAttribute("sandbox", "");
  frame.title = "GIL timeline";
  frame.className = "timeline";
  frame.style.aspectRatio = `${w} / ${h}`;
  frame.addEventListener("load", () => { frame.dataset.loaded = "1"; });
  frame.srcdoc = "<!doctype html><meta charset=\"utf-8\"><style>html,body{margin:0}" +
    "svg{display:block;width:100%;height:auto}</style>" + svg.replace(/^<\?xml[^>]*\?>\s*/, "");
  return frame;
}

function showResult(container, title, answer) {
  const node = $("result-template").content.firstElementChild.cloneNode(true);
  const q = (sel) => node.querySelector(sel);
  if (answer.error) {
    q(".title").textContent = title;
    q(".limits").textContent = answer.error;
    for (const sel of [".stdout", ".stderr-box", ".stats", ".svg"]) q(sel).remove();
    node.querySelectorAll("h3").forEach((h) => h.remove());
    container.appendChild(node);
    return;
  }
  const wall = answer.stats && typeof answer.stats.wall_s === "number" ? answer.stats.wall_s : answer.wall_s;
  const status = answer.exit_status === null ? "killed" : `exit status ${answer.exit_status}`;
  q(".title").textContent = `${title}: ${wall.toFixed(3)} s, ${status}`;
  q(".title").dataset.wall = wall;
  q(".limits").textContent = (answer.limits_hit || []).map((l) => LIMIT_WORDS[l] || l).join("; ");
  q(".stdout").textContent = answer.stdout;
  if (answer.stderr) {
    q(".stderr").textContent = answer.stderr;
    // Exit status 3 is gilsim's simulated crash: its report is on stderr.
    q(".stderr-title").textContent = answer.exit_status === 3 ? "Crash report" :
      answer.exit_status === 1 ? "Traceback" : "Errors";
  } else {
    q(".stderr-box").remove();
  }
  if (answer.stats) q(".stats").appendChild(statsTable(answer.stats));
  else q(".stats").textContent = "(none: the run did not finish)";
  if (answer.svg) q(".svg").appendChild(timelineFrame(answer.svg));
  else {
    q(".svg").textContent = "(none)";
  }
  container.appendChild(node);
}

function busy(on, text) {
  $("run").disabled = on;
  $("run-both").disabled = on;
  $("status").textContent = text;
}

async function runOnce() {
  busy(true, "running…");
  const results = $("results");
  try {
    const s = settings();
    const answer = await post(request({}));
    results.replaceChildren();
    showResult(results, `lock ${s.gil}`, answer);
    busy(false, "");
  } catch (e) {
    busy(false, "the server did not answer: " + e);
  }
}

// The line over a Run both: the two times and their ratio, the lesson in one
// sentence (CPU-bound threads gain from dropping the lock only when there
// are cores for them).
function comparison(on, off) {
  const p = document.createElement("p");
  p.className = "comparison";
  const time = (a) => (a.stats && typeof a.stats.wall_s === "number" ? a.stats.wall_s : a.wall_s);
  if (on.error || off.error || !(time(on) > 0) || !(time(off) > 0)) {
    p.textContent = "Run both: see each run below.";
    return p;
  }
  const ratio = time(on) / time(off);
  p.textContent = `Lock on ${time(on).toFixed(3)} s, lock off ${time(off).toFixed(3)} s: ` +
    (ratio >= 1 ? `${ratio.toFixed(2)}x as fast without the lock.` :
      `${(1 / ratio).toFixed(2)}x as slow without the lock.`);
  return p;
}

// One run after the other, not both at once: two runs sharing the cores
// would make each other's times meaningless.
async function runBoth() {
  const results = $("results");
  try {
    busy(true, "running with the lock on…");
    const on = await post(request({ gil: "on" }));
    busy(true, "running with the lock off…");
    const off = await post(request({ gil: "off" }));
    results.replaceChildren(comparison(on, off));
    showResult(results, "lock on", on);
    showResult(results, "lock off", off);
    busy(false, "");
  } catch (e) {
    busy(false, "the server did not answer: " + e);
  }
}

$("run").addEventListener("click", runOnce);
$("run-both").addEventListener("click", runBoth);
$("share").addEventListener("click", shareLink);
window.addEventListener("hashchange", () => { if (loadFromFragment()) refreshEditor(); });
setupEditor();
loadExamples();
