//! The page of `gilsim serve` in a real browser: headless Chromium driven
//! through WebDriver (Debian's chromedriver, from Rust with fantoccini), used
//! the way a learner uses it: pick an example from the list, press Run both
//! and read the two times, see one timeline lane per thread, catch a
//! reference-count race without the lock and read its crash report, and reach
//! the hit thread limit in the page.
//!
//! Each test starts its own `gilsim serve`, chromedriver and browser (in a
//! fresh profile directory) and stops them when it ends, pass or fail. Every
//! test skips, with a message saying so, when /usr/bin/chromium or
//! chromedriver is missing; `.ci/run` installs both where it can.
//!
//! `readme_screenshot` (ignored unless asked for) takes the README's picture:
//!
//!     GILSIM_SCREENSHOT=docs/serve.png cargo test --release -- --ignored readme_screenshot

use crate::serve::{server, Server};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &[&str] = &["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const CHROMEDRIVER: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

/// How long one run (or a Run both) may take in the page before the test
/// calls it a hang: generous, since the suite shares two cores with itself.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

fn first_existing(paths: &[&'static str]) -> Option<&'static str> {
    paths.iter().copied().find(|p| Path::new(p).exists())
}

/// chromedriver and the browser it started, in a process group of their own
/// so that a failing test can end both, and the browser's profile directory.
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every browser process it started
        // (a test that panicked never closed its session).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A page open in headless Chromium, with the server it talks to. Field
/// order is drop order: the browser session first, then chromedriver, then
/// the server.
struct Page {
    client: Client,
    _driver: Driver,
    server: Server,
}

/// A free port for chromedriver, which cannot report one it chose itself.
/// Another process could take it before chromedriver binds it; `start`
/// tries again with a fresh port when chromedriver exits early.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn start_driver(chromedriver: &str) -> (Driver, u16) {
    for attempt in 0..3 {
        let port = free_port();
        let profile = std::env::temp_dir().join(format!(
            "gilsim-browser-{}-{port}-{attempt}",
            std::process::id()
        ));
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let mut driver = Driver { child, profile };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (driver, port);
            }
            if let Ok(Some(_)) = driver.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("chromedriver did not start listening (3 attempts)");
}

/// Starts the server, chromedriver and a headless browser showing the page,
/// or says why not and returns None (the test then passes as skipped).
async fn open_page(width: u32, height: u32) -> Option<Page> {
    let (Some(chromium), Some(chromedriver)) =
        (first_existing(CHROMIUM), first_existing(CHROMEDRIVER))
    else {
        eprintln!(
            "skipped: the browser tests need Chromium and chromedriver \
             (apt-get install chromium chromium-driver); found neither {CHROMIUM:?} nor {CHROMEDRIVER:?} complete"
        );
        return None;
    };
    let server = server(&[]);
    let (driver, port) = start_driver(chromedriver);
    // The flags keep a headless browser on a machine without a network from
    // waiting on (or for) services it cannot reach.
    let args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        "--hide-scrollbars".into(),
        format!("--window-size={width},{height}"),
        format!("--user-data-dir={}", driver.profile.display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium, "args": args }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("chromedriver starts a headless Chromium session");
    let page = Page {
        client,
        _driver: driver,
        server,
    };
    page.client
        .goto(&format!("{}/", page.server.base))
        .await
        .expect("the page loads");
    // The examples list is filled by a fetch once the page has loaded.
    page.wait_until(
        "document.querySelectorAll('#program option').length > 1",
        Duration::from_secs(30),
    )
    .await;
    Some(page)
}

/// One result pane as the page shows it.
#[derive(Debug)]
struct Shown {
    /// "lock on: 0.812 s, exit status 0"
    title: String,
    limits: String,
    stdout: String,
    /// The heading over stderr ("Crash report", "Traceback", "Errors") and
    /// stderr itself; empty when the page shows no stderr box.
    stderr_title: String,
    stderr: String,
    /// Rows of the statistics table, header included.
    stats_rows: usize,
    /// The `data-thread` of each lane of the timeline, read inside its
    /// sandboxed iframe.
    lanes: Vec<String>,
    /// The timeline fills its frame's width, and the frame shows all of it.
    picture_fits: bool,
}

impl Shown {
    /// The seconds in the title: what a learner reads as the run's time.
    fn seconds(&self) -> f64 {
        self.title
            .split_once(": ")
            .and_then(|(_, rest)| rest.split(' ').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no time in the title {:?}", self.title))
    }
}

impl Page {
    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script:?} failed: {e}"))
    }

    async fn wait_until(&self, condition: &str, deadline: Duration) {
        let started = Instant::now();
        let script = format!("return !!({condition});");
        while self.js(&script).await != Value::Bool(true) {
            assert!(
                started.elapsed() < deadline,
                "the page never reached `{condition}` within {deadline:?}; status: {}",
                self.js("return document.getElementById('status').textContent")
                    .await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn find(&self, css: &str) -> Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} in the page: {e}"))
    }

    /// Picks an example in the list, as a click on its option does, and
    /// checks that the editor now holds that file.
    async fn choose_example(&self, name: &str) {
        self.find("#program")
            .await
            .select_by_value(name)
            .await
            .unwrap_or_else(|e| panic!("cannot choose {name}: {e}"));
        let on_disk = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("programs")
                .join(name),
        )
        .expect("the example's file");
        let in_editor = self.find("#source").await.prop("value").await;
        assert_eq!(
            in_editor.ok().flatten().as_deref(),
            Some(on_disk.as_str()),
            "the editor holds {name}"
        );
    }

    /// Types into a settings field, replacing what it held.
    async fn set_field(&self, id: &str, text: &str) {
        let field = self.find(&format!("#{id}")).await;
        field.clear().await.expect("field clears");
        if !text.is_empty() {
            field.send_keys(text).await.expect("typing");
        }
    }

    async fn choose(&self, id: &str, value: &str) {
        self.find(&format!("#{id}"))
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("cannot set {id} to {value}: {e}"));
    }

    /// Clicks a button and waits until the run it started has been shown:
    /// the click disables Run at once, and the page enables it again when
    /// every result is in.
    async fn click_and_wait(&self, button: &str) {
        self.find(button)
            .await
            .click()
            .await
            .expect("the button clicks");
        self.wait_until("!document.getElementById('run').disabled", RUN_DEADLINE)
            .await;
    }

    async fn text_of(&self, pane: &Element, css: &str) -> String {
        match pane.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Every result pane, read from the rendered page.
    async fn results(&self) -> Vec<Shown> {
        let panes = self
            .client
            .find_all(Locator::Css("#results .result"))
            .await
            .expect("result panes");
        let mut shown = Vec::new();
        for pane in panes {
            let stats_rows = pane
                .find_all(Locator::Css("table.stats tr"))
                .await
                .map_or(0, |rows| rows.len());
            let mut lanes = Vec::new();
            let mut picture_fits = false;
            if let Ok(frame) = pane.find(Locator::Css(".svg iframe")).await {
                frame
                    .enter_frame()
                    .await
                    .expect("into the timeline's iframe");
                for lane in self
                    .client
                    .find_all(Locator::Css("g.lane"))
                    .await
                    .expect("lanes")
                {
                    lanes.push(
                        lane.attr("data-thread")
                            .await
                            .ok()
                            .flatten()
                            .unwrap_or_default(),
                    );
                }
                // The whole picture is in view: the SVG is as wide as the
                // frame and nothing scrolls (a 1200-pixel picture in a
                // narrower pane was once cut off on the right).
                let sizes = self
                    .js(
                        "const r = document.querySelector('svg').getBoundingClientRect(); \
                         return [Math.round(r.width), Math.round(r.height), window.innerWidth, \
                                 window.innerHeight, document.documentElement.scrollWidth, \
                                 document.documentElement.scrollHeight];",
                    )
                    .await;
                let n = |i: usize| sizes[i].as_f64().unwrap_or(f64::NAN);
                picture_fits = (n(0) - n(2)).abs() <= 1.0
                    && n(4) <= n(2)
                    && n(5) <= n(3) + 1.0
                    && n(1) >= n(3) - 2.0;
                if !picture_fits {
                    eprintln!("timeline sizes [svg w, h, frame w, h, scroll w, h]: {sizes}");
                }
                self.client
                    .enter_parent_frame()
                    .await
                    .expect("back out of the iframe");
            }
            shown.push(Shown {
                title: self.text_of(&pane, ".title").await,
                limits: self.text_of(&pane, ".limits").await,
                stdout: self.text_of(&pane, ".stdout").await,
                stderr_title: self.text_of(&pane, ".stderr-title").await,
                stderr: self.text_of(&pane, ".stderr").await,
                stats_rows,
                lanes,
                picture_fits,
            });
        }
        shown
    }

    /// Ends the browser session cleanly (the Driver's drop is the fallback).
    async fn close(self) {
        let Page {
            client,
            _driver,
            server,
        } = self;
        let _ = client.close().await;
        drop(_driver);
        drop(server);
    }
}

/// The tests are async (fantoccini); each runs on a runtime of its own.
fn block_on<F: std::future::Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

/// Choose cpu_bound.toy with 2 threads, Run both: two panes, lock on and
/// lock off, each with its time, the program's output, a statistics row per
/// thread and one timeline lane per thread.
async fn run_both_cpu_bound(page: &Page) -> Vec<Shown> {
    page.choose_example("cpu_bound.toy").await;
    page.set_field("threads", "2").await;
    page.click_and_wait("#run-both").await;
    let shown = page.results().await;
    assert_eq!(shown.len(), 2, "{shown:#?}");
    let expected_lanes = ["MainThread", "Thread-1 (count)", "Thread-2 (count)"];
    for (pane, lock) in shown.iter().zip(["on", "off"]) {
        assert!(
            pane.title.starts_with(&format!("lock {lock}: ")),
            "{pane:#?}"
        );
        assert!(pane.title.ends_with("exit status 0"), "{pane:#?}");
        assert!(pane.seconds() > 0.0, "{pane:#?}");
        assert!(
            pane.stdout
                .starts_with("2 threads counted down 8000000 steps"),
            "{pane:#?}"
        );
        assert!(pane.limits.is_empty(), "{pane:#?}");
        // A header, the three threads and the total.
        assert_eq!(pane.stats_rows, 5, "{pane:#?}");
        assert_eq!(pane.lanes, expected_lanes, "{pane:#?}");
        assert!(pane.picture_fits, "{pane:#?}");
    }
    shown
}

#[test]
fn page_runs_the_cpu_bound_example_with_the_lock_on_and_off() {
    block_on(async {
        let Some(page) = open_page(1400, 1000).await else {
            return;
        };
        let shown = run_both_cpu_bound(&page).await;
        eprintln!(
            "Run both, cpu_bound.toy with 2 threads: lock on {:.3} s, lock off {:.3} s",
            shown[0].seconds(),
            shown[1].seconds()
        );
        page.close().await;
    });
}

/// refcount_race.toy without the lock, with plain reference counts, until
/// the race frees the shared list under a thread still using it (it does on
/// most runs on two cores; a bounded number of tries allows for a busy
/// machine): the page titles the report "Crash report" and shows exit status
/// 3. A run the race spared must end cleanly, never otherwise.
#[test]
fn page_shows_the_crash_report_of_a_reference_count_race() {
    const TRIES: usize = 15;
    block_on(async {
        let Some(page) = open_page(1400, 1000).await else {
            return;
        };
        page.choose_example("refcount_race.toy").await;
        page.choose("gil", "off").await;
        page.choose("refcount", "plain").await;
        // Blank: the program's own 20,000 rounds per thread (its first
        // argument is rounds, not threads).
        page.set_field("threads", "").await;
        let mut crash = None;
        for attempt in 1..=TRIES {
            page.click_and_wait("#run").await;
            let mut shown = page.results().await;
            assert_eq!(shown.len(), 1, "{shown:#?}");
            let pane = shown.remove(0);
            assert!(pane.title.starts_with("lock off: "), "{pane:#?}");
            if pane.title.ends_with("exit status 3") {
                crash = Some((attempt, pane));
                break;
            }
            assert!(pane.title.ends_with("exit status 0"), "{pane:#?}");
            assert_eq!(pane.stdout, "the list survived: 10", "{pane:#?}");
        }
        let Some((attempt, pane)) = crash else {
            panic!("no crash in {TRIES} runs of refcount_race.toy without the lock");
        };
        eprintln!("refcount_race.toy crashed on attempt {attempt} of at most {TRIES}");
        assert_eq!(pane.stderr_title, "Crash report", "{pane:#?}");
        assert!(
            pane.stderr
                .starts_with("Simulated memory corruption: an object was used after it was freed."),
            "{pane:#?}"
        );
        for line in ["freed by:", "then used by:", "refcount_race.toy:"] {
            assert!(pane.stderr.contains(line), "{line} in {pane:#?}");
        }
        // The process stopped as a crashed one would: no statistics, and a
        // timeline only if the run wrote one before it stopped.
        assert_eq!(pane.stats_rows, 0, "{pane:#?}");
        page.close().await;
    });
}

/// A program that starts more threads than the server allows gets CPython's
/// RuntimeError, and the page says which limit was reached.
#[test]
fn page_reports_the_thread_limit() {
    block_on(async {
        let Some(page) = open_page(1400, 1000).await else {
            return;
        };
        let program = "import threading\n\
                       go = threading.Event()\n\
                       try:\n    \
                           for i in range(100):\n        \
                               threading.Thread(target=go.wait).start()\n\
                       finally:\n    \
                           go.set()\n";
        page.set_field("source", program).await;
        page.click_and_wait("#run").await;
        let shown = page.results().await;
        assert_eq!(shown.len(), 1, "{shown:#?}");
        let pane = &shown[0];
        assert!(pane.title.ends_with("exit status 1"), "{pane:#?}");
        assert!(
            pane.limits.contains("the thread limit was reached"),
            "{pane:#?}"
        );
        assert_eq!(pane.stderr_title, "Traceback", "{pane:#?}");
        assert!(
            pane.stderr
                .contains("RuntimeError: can't start new thread (64 threads are running"),
            "{pane:#?}"
        );
        page.close().await;
    });
}

/// The README's picture of the page after a real Run both of the CPU-bound
/// example. Writes GILSIM_SCREENSHOT (a .png path) if set, else a file in
/// the temp directory; either way the PNG is checked to be one, of the
/// viewport's size.
#[test]
#[ignore = "writes the README's screenshot: GILSIM_SCREENSHOT=docs/serve.png cargo test --release -- --ignored readme_screenshot"]
fn readme_screenshot() {
    block_on(async {
        let (width, height) = (1600, 1400);
        let Some(page) = open_page(width, height).await else {
            return;
        };
        run_both_cpu_bound(&page).await;
        // Each timeline is drawn by a renderer of its own once its frame has
        // loaded (see timelineFrame in app.js); then two animation frames
        // let the page paint.
        page.wait_until(
            "[...document.querySelectorAll('iframe.timeline')].every(f => f.dataset.loaded)",
            Duration::from_secs(30),
        )
        .await;
        page.client
            .execute_async(
                "const done = arguments[0]; \
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await
            .expect("two animation frames");
        page.js("window.scrollTo(0, 0)").await;
        let png = page.client.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        let size = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
        let viewport = page
            .js("return [window.innerWidth, window.innerHeight]")
            .await;
        assert_eq!(
            json!([size(16), size(20)]),
            viewport,
            "the PNG has the viewport's size"
        );
        let path = std::env::var_os("GILSIM_SCREENSHOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("gilsim-serve.png"));
        std::fs::write(&path, &png).expect("the screenshot is written");
        eprintln!("wrote {} ({} bytes)", path.display(), png.len());
        page.close().await;
    });
}
