//! `gilsim serve` from the outside: a real server on an ephemeral port, its
//! page and examples, and the API against hostile requests (an endless loop, a
//! memory bomb, 10,000 threads, a flood of output, broken and oversized bodies,
//! unknown names, a crowd of clients). Each must get a clear answer, and the
//! server must answer the next ordinary request. Each test starts its own
//! server, so one test's runs never make another's busy.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `gilsim serve`, killed when the test ends, pass or fail.
/// (tests/browser.rs points a browser at one.)
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    /// Kept open so that the server's later writes to stdout have a reader.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `gilsim serve --port 0 EXTRA...` and reads the address it prints.
pub(crate) fn server(extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gilsim"))
        .args(["serve", "--port", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("gilsim serve starts");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    stdout
        .read_line(&mut line)
        .expect("the server prints its address");
    let base = line
        .trim()
        .strip_prefix("gilsim serve: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .trim_end_matches('/')
        .to_string();
    Server {
        child,
        base,
        _stdout: stdout,
    }
}

/// Status and parsed JSON body of a response, whatever its status.
fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("no HTTP answer: {e}"),
    };
    let status = resp.status();
    let mut text = String::new();
    resp.into_reader()
        .take(64 << 20)
        .read_to_string(&mut text)
        .expect("a readable body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:.300}"));
    (status, json)
}

impl Server {
    fn post_raw(&self, body: &[u8]) -> (u16, Value) {
        answer(
            ureq::post(&format!("{}/api/run", self.base))
                .set("Content-Type", "application/json")
                .timeout(Duration::from_secs(120))
                .send_bytes(body),
        )
    }

    fn run(&self, body: Value) -> (u16, Value) {
        self.post_raw(body.to_string().as_bytes())
    }

    fn get(&self, path: &str) -> (u16, String) {
        let r = ureq::get(&format!("{}{path}", self.base)).call();
        let resp = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("no HTTP answer: {e}"),
        };
        (resp.status(), resp.into_string().expect("a text body"))
    }

    /// The server still runs programs: a fresh arithmetic result each time,
    /// so a stale or canned answer cannot pass.
    fn still_serving(&self) {
        let (a, b) = (Instant::now().elapsed().subsec_nanos() % 1000, 37);
        let (status, json) = self.run(serde_json::json!({ "source": format!("print({a} * {b})") }));
        assert_eq!(status, 200, "{json}");
        assert_eq!(json["stdout"], format!("{}\n", a * b), "{json}");
        assert_eq!(json["exit_status"], 0, "{json}");
    }
}

fn limits(json: &Value) -> Vec<&str> {
    json["limits_hit"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn serves_the_page_and_every_example() {
    let s = server(&[]);
    let (status, html) = s.get("/");
    assert_eq!(status, 200);
    assert!(
        html.contains("<textarea") && html.contains("/app.js"),
        "{html:.300}"
    );
    // Offline: nothing the page loads may come from another host.
    for asset in ["/", "/app.js", "/style.css"] {
        let (status, text) = s.get(asset);
        assert_eq!(status, 200, "{asset}");
        for bad in ["src=\"http", "href=\"http", "src='http", "@import", "cdn"] {
            assert!(!text.contains(bad), "{asset} loads from elsewhere: {bad}");
        }
    }
    let (status, text) = s.get("/api/programs");
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&text).expect("JSON");
    let mut served: Vec<String> = json["programs"]
        .as_array()
        .expect("a list of programs")
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("a name").to_string();
            let on_disk = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("programs")
                    .join(&name),
            )
            .unwrap_or_else(|e| panic!("{name} is served but not in programs/: {e}"));
            assert_eq!(p["source"].as_str(), Some(on_disk.as_str()), "{name}");
            name
        })
        .collect();
    let mut on_disk: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/programs"))
            .expect("programs/")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".toy"))
            .collect();
    served.sort();
    on_disk.sort();
    assert_eq!(
        served, on_disk,
        "src/serve/programs.rs must list every file of programs/"
    );
    let (status, text) = s.get("/no/such/page");
    assert_eq!(status, 404);
    assert!(text.contains("\"error\""), "{text}");
}

#[test]
fn runs_an_example_with_stats_and_a_timeline() {
    let s = server(&[]);
    for gil in ["on", "off"] {
        let (status, json) = s.run(serde_json::json!({
            "program": "cpu_bound.toy", "gil": gil, "threads": 3, "seed": 1,
            "switch_interval": "1ms", "refcount": "atomic"
        }));
        assert_eq!(status, 200, "{json}");
        assert_eq!(json["exit_status"], 0, "{json}");
        assert!(
            json["stdout"]
                .as_str()
                .unwrap_or("")
                .starts_with("3 threads"),
            "{json}"
        );
        let stats = &json["stats"];
        assert_eq!(stats["config"]["gil"], gil, "{stats}");
        assert_eq!(stats["config"]["refcount"], "atomic", "{stats}");
        assert_eq!(stats["config"]["switch_interval_s"], 0.001, "{stats}");
        // MainThread and the three workers.
        assert_eq!(
            stats["threads"].as_array().map(Vec::len),
            Some(4),
            "{stats}"
        );
        let svg = json["svg"].as_str().expect("an SVG timeline");
        assert!(
            svg.contains("<svg") && svg.contains("cpu_bound.toy"),
            "{svg:.300}"
        );
        assert!(limits(&json).is_empty(), "{json}");
    }
}

#[test]
fn a_traceback_and_a_bad_setting_are_answers_not_failures() {
    let s = server(&[]);
    let (status, json) = s.run(serde_json::json!({ "source": "x = 1\nprint(1 // (x - 1))" }));
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["exit_status"], 1, "{json}");
    assert!(
        json["stderr"]
            .as_str()
            .unwrap_or("")
            .contains("ZeroDivisionError"),
        "{json}"
    );
    for (body, needle) in [
        (
            serde_json::json!({ "source": "pass", "gil": "maybe" }),
            "gil",
        ),
        (
            serde_json::json!({ "source": "pass", "switch_interval": "5 parsecs" }),
            "switch_interval",
        ),
        (
            serde_json::json!({ "source": "pass", "threads": 100000 }),
            "threads",
        ),
        (
            serde_json::json!({ "source": "pass", "refcount": "lazy" }),
            "refcount",
        ),
        (serde_json::json!({ "gil": "on" }), "source"),
        (
            serde_json::json!({ "source": "pass", "colour": "red" }),
            "colour",
        ),
    ] {
        let (status, json) = s.run(body.clone());
        assert_eq!(status, 400, "{body} -> {json}");
        assert!(
            json["error"].as_str().unwrap_or("").contains(needle),
            "{body} -> {json}"
        );
    }
    s.still_serving();
}

#[test]
fn hostile_an_infinite_loop_meets_the_time_limit() {
    let s = server(&["--time-limit", "2s"]);
    let started = Instant::now();
    let (status, json) =
        s.run(serde_json::json!({ "source": "print('start')\nwhile True:\n    pass" }));
    assert_eq!(status, 200, "{json}");
    assert_eq!(limits(&json), ["time"], "{json}");
    assert_eq!(json["exit_status"], Value::Null, "{json}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    s.still_serving();
}

#[test]
fn hostile_a_memory_bomb_meets_the_heap_limit() {
    let s = server(&["--max-heap", "32M"]);
    let (status, json) = s.run(serde_json::json!({
        "source": "hoard = []\nwhile True:\n    hoard.append('x' * 100000)"
    }));
    assert_eq!(status, 200, "{json}");
    assert!(limits(&json).contains(&"heap"), "{json}");
    assert_eq!(json["exit_status"], 1, "{json}");
    assert!(
        json["stderr"]
            .as_str()
            .unwrap_or("")
            .contains("MemoryError"),
        "{json}"
    );
    s.still_serving();
}

#[test]
fn hostile_ten_thousand_threads_get_an_answer() {
    let s = server(&["--time-limit", "5s"]);
    let (status, json) = s.run(serde_json::json!({ "source": "\
import threading
def spin():
    n = 0
    while True:
        n += 1
threads = [threading.Thread(target=spin) for i in range(10000)]
for t in threads:
    t.start()
print('all started')
" }));
    assert_eq!(status, 200, "{json}");
    // The 65th start meets the server's thread cap (64 by default) as
    // CPython's RuntimeError; the 64 spinning threads then keep the program
    // from exiting until the time limit.
    assert!(limits(&json).contains(&"threads"), "{json:.500}");
    let stderr = json["stderr"].as_str().unwrap_or("");
    assert!(
        stderr.contains(
            "RuntimeError: can't start new thread (64 threads are running, \
             the most this run allows besides the main thread: --max-threads 64)"
        ),
        "{stderr:.500}"
    );
    assert!(
        !json["stdout"]
            .as_str()
            .unwrap_or("")
            .contains("all started"),
        "{json:.500}"
    );
    s.still_serving();
}

/// `gilsim serve --max-threads N` is each run's cap, and the largest thread
/// count the page may ask for; /api/programs tells the page.
#[test]
fn max_threads_caps_each_run_and_the_thread_count() {
    let s = server(&["--max-threads", "3"]);
    let (status, json) = s.run(serde_json::json!({ "source": "\
import threading
go = threading.Event()
ts = [threading.Thread(target=go.wait) for i in range(4)]
try:
    for t in ts:
        t.start()
finally:
    go.set()
" }));
    assert_eq!(status, 200, "{json}");
    assert_eq!(limits(&json), ["threads"], "{json}");
    assert_eq!(json["exit_status"], 1, "{json}");
    let (status, json) = s.run(serde_json::json!({ "program": "cpu_bound.toy", "threads": 4 }));
    assert_eq!(status, 400, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap_or("")
            .contains("between 1 and 3"),
        "{json}"
    );
    let (status, json) = s.run(serde_json::json!({ "program": "cpu_bound.toy", "threads": 3 }));
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["exit_status"], 0, "{json}");
    assert!(limits(&json).is_empty(), "{json}");
    let (_, text) = s.get("/api/programs");
    let programs: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(programs["limits"]["threads"], 3, "{text:.200}");
}

#[test]
fn hostile_ten_megabytes_of_output_are_cut_at_the_cap() {
    let s = server(&[]);
    let (status, json) = s.run(serde_json::json!({
        "source": "line = 'x' * 999\nfor i in range(10000):\n    print(line)"
    }));
    assert_eq!(status, 200);
    assert!(
        limits(&json).contains(&"output"),
        "{:.300}",
        json.to_string()
    );
    let stdout = json["stdout"].as_str().expect("stdout");
    assert_eq!(stdout.len(), 1 << 20, "kept exactly the cap");
    assert!(stdout.starts_with(&format!("{}\n", "x".repeat(999))));
    s.still_serving();
}

#[test]
fn hostile_malformed_json_oversized_body_unknown_program() {
    let s = server(&[]);
    for body in [
        &b"{\"source\": "[..],
        b"not json at all",
        b"[1, 2, 3]",
        b"\xff\xfe",
    ] {
        let (status, json) = s.post_raw(body);
        assert_eq!(status, 400, "{json}");
        assert!(
            json["error"].as_str().unwrap_or("").contains("JSON"),
            "{json}"
        );
    }
    let big = format!("{{\"source\": \"{}\"}}", "#".repeat(10 << 20));
    let (status, json) = s.post_raw(big.as_bytes());
    assert_eq!(status, 413, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap_or("")
            .contains("largest request"),
        "{json}"
    );
    let (status, json) = s.run(serde_json::json!({ "program": "../../etc/passwd" }));
    assert_eq!(status, 400, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap_or("")
            .contains("unknown program"),
        "{json}"
    );
    s.still_serving();
}

#[test]
fn hostile_fifty_concurrent_requests_are_run_or_told_busy() {
    let s = server(&["--max-runs", "2"]);
    let url = format!("{}/api/run", s.base);
    // Each run sleeps long enough that 50 clients overlap for certain.
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let body = serde_json::json!({
                    "source": format!("import time\ntime.sleep(1)\nprint({i})")
                });
                let r = ureq::post(&url)
                    .timeout(Duration::from_secs(120))
                    .send_string(&body.to_string());
                (i, answer(r))
            })
        })
        .collect();
    let (mut ran, mut busy) = (0, 0);
    for c in clients {
        let (i, (status, json)) = c.join().expect("client thread");
        match status {
            200 => {
                assert_eq!(json["stdout"], format!("{i}\n"), "{json}");
                ran += 1;
            }
            503 => {
                assert!(
                    json["error"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("busy, try again"),
                    "{json}"
                );
                busy += 1;
            }
            other => panic!("status {other}: {json}"),
        }
    }
    assert!(ran >= 1 && busy >= 1, "ran {ran}, busy {busy}");
    s.still_serving();
}

/// Percent-encodes everything but unreserved characters, as JavaScript's
/// decodeURIComponent expects.
fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Share link with `"run": "both"` opens the CPU-bound example and runs it
/// with the lock on and off as soon as the page opens; the page's DOM, dumped
/// by headless Chromium, must show both times and one timeline lane per
/// thread. (tests/browser.rs clicks through the page through WebDriver.)
#[test]
fn browser_runs_the_cpu_bound_example_both_ways() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(chromium) = chromium else {
        eprintln!("skipped: no chromium at /usr/bin/chromium");
        return;
    };
    let s = server(&[]);
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/programs/cpu_bound.toy"
    ))
    .expect("programs/cpu_bound.toy");
    let state = serde_json::json!({ "source": source, "threads": 2, "run": "both" });
    let url = format!("{}/#{}", s.base, encode_component(&state.to_string()));
    let profile = std::env::temp_dir().join(format!("gilsim-chromium-{}", std::process::id()));
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=60000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&url)
        .stderr(Stdio::null())
        .output()
        .expect("chromium starts");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    let time_of = |label: &str| -> f64 {
        let at = dom
            .find(&format!("{label}: "))
            .unwrap_or_else(|| panic!("no '{label}' result in the page: {:.2000}", dom));
        let rest = &dom[at + label.len() + 2..];
        rest.split(' ')
            .next()
            .and_then(|t| t.parse().ok())
            .expect("a time in seconds")
    };
    let (on, off) = (time_of("lock on"), time_of("lock off"));
    assert!(on > 0.0 && off > 0.0, "on {on}, off {off}");
    // Each timeline sits in an iframe's srcdoc, HTML-escaped: MainThread and
    // the two workers make three lanes in each of the two pictures.
    let lanes = dom.matches("class=&quot;lane&quot;").count();
    assert_eq!(lanes, 6, "lanes in the two timelines");
}
