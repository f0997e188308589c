//! The pictures and trace files a run writes when it ends: `--timeline FILE.svg`
//! (or `-` for the terminal) and `--trace-events FILE.json`.
//!
//! Their files are created before the program starts, so that a path that
//! cannot be written is reported at once (exit status 2, as for an unreadable
//! program) rather than after a long run; they are filled when it ends. What is
//! drawn is `observe`'s business; this module only routes it.

use super::config::RunConfig;
use crate::observe::timeline::Timeline;
use crate::observe::{svg, term, trace_events};
use std::fs::File;
use std::io::Write;

/// Where one output goes.
enum Target {
    Terminal,
    File(String, File),
}

/// The outputs of one run, opened and waiting for the timeline.
pub struct Outputs {
    timeline: Option<Target>,
    trace_events: Option<Target>,
}

/// Create `path` for writing; the error is the message for stderr.
fn create(path: &str, what: &str) -> Result<Target, String> {
    if std::path::Path::new(path).is_dir() {
        return Err(format!(
            "gilsim: cannot write {what} to '{path}': it is a directory"
        ));
    }
    File::create(path)
        .map(|f| Target::File(path.to_string(), f))
        .map_err(|e| format!("gilsim: cannot write {what} to '{path}': {e}"))
}

impl Outputs {
    /// Open what `config` asks for. Err: (message, exit status 2).
    pub fn open(config: &RunConfig) -> Result<Outputs, (String, i32)> {
        let timeline = match config.timeline.as_deref() {
            None => None,
            Some("-") => Some(Target::Terminal),
            Some(p) => Some(create(p, "the timeline").map_err(|m| (m, 2))?),
        };
        let trace_events = match config.trace_events.as_deref() {
            None => None,
            Some("-") => Some(Target::Terminal),
            Some(p) => Some(create(p, "the trace events").map_err(|m| (m, 2))?),
        };
        Ok(Outputs {
            timeline,
            trace_events,
        })
    }

    /// Does any output need the recorded events?
    pub fn wanted(&self) -> bool {
        self.timeline.is_some() || self.trace_events.is_some()
    }

    /// Draw and write everything. Err: the message for stderr.
    pub fn write(self, tl: &Timeline) -> Result<(), String> {
        if let Some(t) = self.timeline {
            match t {
                Target::Terminal => {
                    let text = term::render(tl, &term::Style::from_env());
                    print_stdout(&text, "the timeline")?;
                }
                Target::File(path, f) => {
                    write_file(f, &path, &svg::render(tl), "the timeline")?;
                }
            }
        }
        if let Some(t) = self.trace_events {
            let text = trace_events::render(tl);
            match t {
                Target::Terminal => print_stdout(&text, "the trace events")?,
                Target::File(path, f) => write_file(f, &path, &text, "the trace events")?,
            }
        }
        Ok(())
    }
}

fn print_stdout(text: &str, what: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| format!("gilsim: cannot write {what} to standard output: {e}"))
}

fn write_file(mut f: File, path: &str, text: &str, what: &str) -> Result<(), String> {
    f.write_all(text.as_bytes())
        .and_then(|_| f.flush())
        .map_err(|e| format!("gilsim: cannot write {what} to '{path}': {e}"))
}
