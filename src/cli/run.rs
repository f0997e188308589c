//! `gilsim run` and `gilsim disasm`: read the source, compile it, run it, and turn
//! every outcome into what Python would print and the exit status it would return.
//!
//! Exit statuses: 0 success; 1 an uncaught exception or a syntax error (as
//! python3); 2 a command-line problem (unreadable file, as python3); 3 simulated
//! memory corruption (see docs); `sys.exit(n)`: n.

use super::config::{RunConfig, Source};
use super::outputs::Outputs;
use crate::bytecode::{disasm, Program};
use crate::concurrency::threads::GilHooks;
use crate::front::diagnostics::{render, SyntaxError, SyntaxErrorKind};
use crate::front::{compiler, parser};
use crate::heap::{audit, Value};
use crate::observe::events;
use crate::observe::stats::{process_cpu_seconds, HeapInfo, RunConfigInfo, StatsReport};
use crate::observe::timeline::Timeline;
use crate::vm::{Options, Runtime, Vm};
use std::fmt::Write as _;
use std::io::{Read, Write};

/// Stack size of the thread that parses, compiles and runs the main program:
/// bounded recursion in the parser and in built-ins calling back into Toy code
/// needs room, and untouched stack pages cost nothing.
pub const MAIN_STACK: usize = 512 << 20;

/// The result of loading a source file.
pub struct Loaded {
    pub name: String,
    pub text: String,
}

/// Read the program. Err: (message for stderr, exit status).
pub fn load(source: &Source) -> Result<Loaded, (String, i32)> {
    let (name, bytes) = match source {
        Source::Code(c) => ("<string>".to_string(), c.clone().into_bytes()),
        Source::Stdin => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .map_err(|e| (format!("gilsim: can't read standard input: {e}"), 2))?;
            ("<stdin>".to_string(), b)
        }
        Source::File(path) => {
            let meta = std::fs::metadata(path).map_err(|e| {
                (
                    format!(
                        "gilsim: can't open file '{path}': [Errno {}] {}",
                        e.raw_os_error().unwrap_or(2),
                        io_reason(&e)
                    ),
                    2,
                )
            })?;
            if meta.is_dir() {
                return Err((
                    format!("gilsim: can't open file '{path}': [Errno 21] Is a directory"),
                    2,
                ));
            }
            let b = std::fs::read(path).map_err(|e| {
                (
                    format!(
                        "gilsim: can't open file '{path}': [Errno {}] {}",
                        e.raw_os_error().unwrap_or(2),
                        io_reason(&e)
                    ),
                    2,
                )
            })?;
            (path.clone(), b)
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Loaded { name, text }),
        Err(e) => {
            let pos = e.utf8_error().valid_up_to();
            let byte = e.as_bytes().get(pos).copied().unwrap_or(0);
            let line = e.as_bytes()[..pos].iter().filter(|&&b| b == b'\n').count() + 1;
            Err((
                format!(
                    "  File \"{name}\", line {line}\nSyntaxError: (unicode error) 'utf-8' codec can't decode byte 0x{byte:02x} in position {pos}: invalid start byte\n"
                ),
                1,
            ))
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// Parse and compile. Err: the rendered SyntaxError.
pub fn compile_source(name: &str, text: &str) -> Result<Program, String> {
    let module = parser::parse(text).map_err(|e| render(&e, name, text))?;
    compiler::compile(&module, name, text).map_err(|e| {
        let err = SyntaxError {
            kind: SyntaxErrorKind::Syntax,
            msg: e.msg,
            line: e.line,
            col: e.col,
        };
        render(&err, name, text)
    })
}

/// Run on a thread with a big stack; returns the exit status.
pub fn run(config: RunConfig) -> i32 {
    let h = std::thread::Builder::new()
        .name("MainThread".into())
        .stack_size(MAIN_STACK)
        .spawn(move || run_here(&config));
    match h {
        Ok(h) => h.join().unwrap_or_else(|_| {
            eprintln!("gilsim: internal error (a bug in gilsim, not in your program)");
            70
        }),
        Err(e) => {
            eprintln!("gilsim: cannot start the main thread: {e}");
            70
        }
    }
}

fn run_here(config: &RunConfig) -> i32 {
    let loaded = match load(&config.source) {
        Ok(l) => l,
        Err((msg, code)) => {
            eprint!("{msg}");
            if !msg.ends_with('\n') {
                eprintln!();
            }
            return code;
        }
    };
    let program = match compile_source(&loaded.name, &loaded.text) {
        Ok(p) => p,
        Err(msg) => {
            eprint!("{msg}");
            return 1;
        }
    };
    let outputs = match Outputs::open(config) {
        Ok(o) => o,
        Err((msg, code)) => {
            eprintln!("{msg}");
            return code;
        }
    };
    let mut argv = vec![match &config.source {
        Source::Code(_) => "-c".to_string(),
        Source::Stdin => "-".to_string(),
        Source::File(p) => p.clone(),
    }];
    argv.extend(config.args.iter().cloned());
    // A hidden hook for deterministic tests of the crash report and the audit
    // (tests/races.rs): one increment lost on purpose, without needing a race.
    let lose_incref_at: Option<u32> = std::env::var("GILSIM_TEST_LOSE_INCREF")
        .ok()
        .and_then(|v| v.trim().parse().ok());
    let options = Options {
        max_heap: config.max_heap,
        refcount: config.refcount,
        gil: config.gil,
        watch_lost_updates: config.stats || config.stats_json.is_some() || lose_incref_at.is_some(),
        argv,
        recursion_limit: 1000,
        seed: config.seed,
        latency_s: config.latency,
        host_latency: vec![],
        loopback: !config.no_loopback,
        // Without the GIL a crash report may need the sites; with it, only the
        // reports asked for do.
        track_sites: !config.gil
            || config.audit
            || config.stats
            || config.stats_json.is_some()
            || outputs.wanted()
            || lose_incref_at.is_some(),
    };
    let out: Box<dyn Write + Send> = Box::new(std::io::BufWriter::with_capacity(
        1 << 16,
        std::io::stdout(),
    ));
    // The "waited on" matrix of the statistics comes from the same events.
    if outputs.wanted() || config.stats || config.stats_json.is_some() {
        events::start(std::time::Instant::now());
    }
    let hooks = GilHooks::new(
        config.gil,
        std::time::Duration::from_secs_f64(config.switch_interval.max(1e-9)),
        config.max_threads,
    );
    let started = std::time::Instant::now();
    let rt = match Runtime::new(program, options, out, Box::new(hooks)) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gilsim: cannot start: {e}");
            return 1;
        }
    };
    if let Some(line) = lose_incref_at {
        rt.heap
            .lose_first_incref_at(sites_on_line(&rt.program, line));
    }
    if !config.continue_on_corruption {
        let _ = rt.heap.on_corruption.set(Box::new(move |e, local| {
            // Only the first thread to notice reports; the others stop here
            // while the process exits.
            static REPORTED: std::sync::atomic::AtomicBool =
                std::sync::atomic::AtomicBool::new(false);
            if REPORTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
                loop {
                    std::thread::park();
                }
            }
            let report = crash_report(rt, e, local);
            if let Some(mut out) = rt.out.try_lock() {
                let _ = out.flush();
            }
            eprint!("{report}");
            std::process::exit(CORRUPTION_EXIT);
        }));
    }
    let mut vm = Vm::new(rt, "MainThread".into());
    let hooks = GilHooks::of(&vm);
    if let Some(h) = hooks {
        h.main_enter(&mut vm);
    }
    let status = run_main(&mut vm);
    vm.flush_out();
    if let Some(h) = hooks {
        // waits for non-daemon threads, as Python does at exit
        h.main_exit(&mut vm);
    }
    let me = std::mem::replace(&mut vm.thread_obj, Value::None);
    vm.decref(me);
    vm.flush_out();
    vm.finish();
    let info = RunConfigInfo {
        gil: config.gil,
        switch_interval_s: config.switch_interval,
        refcount: match config.refcount {
            crate::heap::RefcountMode::Plain => "plain".into(),
            crate::heap::RefcountMode::Atomic => "atomic".into(),
        },
        seed: config.seed,
        latency_s: config.latency,
        program: loaded.name.clone(),
    };
    let timeline = events::on().then(|| {
        let code_names = rt.program.codes.iter().map(|c| c.name.to_string());
        Timeline::build(info.clone(), &events::collect(), code_names.collect())
    });

    let want_stats = config.stats || config.stats_json.is_some();
    // One audit serves both the report and the statistics' heap figures.
    let audited = (config.audit || want_stats).then(|| audit_of(&vm));
    if want_stats {
        let (allocated, freed) = rt.heap.totals();
        let found = audited.as_ref();
        let n = |f: fn(&audit::AuditReport) -> usize| found.map_or(0, |a| f(a) as u64);
        let report = StatsReport {
            config: info,
            wall_s: started.elapsed().as_secs_f64(),
            cpu_s: process_cpu_seconds(),
            threads: hooks.map(|h| h.collected()).unwrap_or_default(),
            heap: HeapInfo {
                allocated,
                freed,
                live: allocated.saturating_sub(freed),
                refcount_errors: n(|a| a.too_high.len() + a.too_low.len()),
                leaked: n(|a| a.too_high.len()),
                too_low: n(|a| a.too_low.len()),
                dangling: n(|a| a.dangling.len()),
                use_after_free: rt.heap.corruption_count(),
            },
            waited_on: timeline.as_ref().map(Timeline::waited_on),
        };
        if config.stats {
            eprint!("{}", report.table());
        }
        if let Some(path) = &config.stats_json {
            let text = report.json();
            let written = if path == "-" {
                print!("{text}");
                Ok(())
            } else {
                std::fs::write(path, text)
            };
            if let Err(e) = written {
                eprintln!("gilsim: cannot write stats to '{path}': {e}");
                return if status == 0 { 2 } else { status };
            }
        }
    }
    if let Some(tl) = &timeline {
        if let Err(msg) = outputs.write(tl) {
            eprintln!("{msg}");
            return if status == 0 { 2 } else { status };
        }
    }
    if let (true, Some(found)) = (config.audit, &audited) {
        eprint!("{}", render_audit(rt, found));
    }
    status
}

/// Run the module body on `vm`; print an uncaught exception as Python does.
pub fn run_main(vm: &mut Vm) -> i32 {
    vm.stack.push(Value::None);
    if let Err(e) = vm.push_frame(0, 1) {
        let r = vm.materialize(e);
        let text = vm.format_exception(r);
        eprint!("{text}");
        return 1;
    }
    if let Some(f) = vm.frames.last_mut() {
        f.is_entry = true;
    }
    match vm.run() {
        Ok(v) => {
            vm.decref(v);
            0
        }
        Err(e) => {
            if let Some(code) = vm.exit_code.take() {
                let r = vm.materialize(e);
                vm.decref(Value::Obj(r));
                return code;
            }
            let r = vm.materialize(e);
            vm.flush_out();
            let text = vm.format_exception(r);
            let _ = std::io::stdout().flush();
            eprint!("{text}");
            vm.decref(Value::Obj(r));
            1
        }
    }
}

/// Exit status of a run stopped by simulated memory corruption (documented, and
/// distinct from the simulator's own failures).
pub const CORRUPTION_EXIT: i32 = 3;

/// "file:line, instruction N (Name)" for a recorded site (code << 32 | ip).
fn describe_site(rt: &Runtime, site: u64) -> String {
    let code = ((site >> 32) & 0xffff) as usize;
    let ip = (site & 0xffff_ffff) as usize;
    match rt.program.codes.get(code) {
        Some(c) => {
            let name = c
                .instrs
                .get(ip)
                .map(|i| format!("{i:?}"))
                .map(|d| d.split('(').next().unwrap_or("").to_string())
                .unwrap_or_default();
            format!(
                "{}:{} in {}, instruction {ip} ({name})",
                rt.program.filename,
                c.line_at(ip),
                c.name
            )
        }
        None => "an unknown place".into(),
    }
}

fn thread_name(rt: &Runtime, n: u64) -> String {
    rt.thread_names
        .try_lock()
        .and_then(|names| names.get(n as usize).cloned())
        .unwrap_or_else(|| format!("thread #{n}"))
}

/// The simulated crash report: which object, who freed it where, who used it
/// afterwards where, and whether the slot was meanwhile reused.
pub fn crash_report(
    rt: &Runtime,
    e: &crate::heap::HeapError,
    local: &crate::heap::LocalHeap,
) -> String {
    use crate::heap::HeapError;
    let user = format!(
        "{} at {}",
        thread_name(rt, local.thread as u64),
        describe_site(rt, local.site)
    );
    let mut out =
        String::from("\nSimulated memory corruption: an object was used after it was freed.\n\n");
    match e {
        HeapError::UseAfterFree {
            r,
            freed_kind,
            now_gen,
            now_kind,
            freed_site,
        } => {
            let freer = freed_site >> 48;
            let _ = writeln!(
                out,
                "  object:        {freed_kind} at heap slot {} (generation {}, id {})",
                r.idx,
                r.gen,
                crate::vm::convert::fake_addr(*r)
            );
            let _ = writeln!(
                out,
                "  freed by:      {} at {}",
                thread_name(rt, freer),
                describe_site(rt, freed_site & 0xffff_ffff_ffff)
            );
            let _ = writeln!(out, "  then used by:  {user}");
            if *now_kind == "<free slot>" {
                let _ = writeln!(out, "  the slot:      still free");
            } else {
                let _ = writeln!(
                    out,
                    "  the slot:      reused meanwhile by a {now_kind} (generation {now_gen}): in C, the program would now read one object as another"
                );
            }
        }
        HeapError::Wild(r) => {
            let _ = writeln!(
                out,
                "  a reference to heap slot {} (generation {}), which never held an object, was followed by {user}",
                r.idx, r.gen
            );
        }
        HeapError::Full | HeapError::Stuck(_) => {}
    }
    out.push_str(why_freed_early(rt.heap.mode));
    let _ = writeln!(
        out,
        "gilsim: exit status {CORRUPTION_EXIT} (simulated memory corruption)"
    );
    out
}

/// The crash report's explanation. With plain counts the likely cause is a lost
/// count update; with atomic ones no update is lost, so the cause is a race on
/// a shared reference itself (two threads replacing the same variable, list
/// item or dict entry, each releasing the object it held), which atomic counts
/// do not prevent: CPython also reads and replaces a reference in several steps.
fn why_freed_early(mode: crate::heap::RefcountMode) -> &'static str {
    match mode {
        crate::heap::RefcountMode::Plain => {
            "\n  Why: without the GIL, threads updated this object's reference count at the\n  same time and an update was lost, so the count reached zero while references\n  to the object still existed. With --gil on, or --refcount atomic, this cannot\n  happen; --on-corruption continue counts such events and goes on.\n\n"
        }
        crate::heap::RefcountMode::Atomic => {
            "\n  Why: without the GIL, threads raced on a shared reference (a variable, a list\n  item, a dict entry): one replaced it and released the object while another\n  was still reading or releasing the same reference, so the object was released\n  once too often. --refcount atomic makes every count update exact, but not the\n  read and replacement of a reference, which CPython also does in several\n  steps; with --gil on this cannot happen. --on-corruption continue counts such\n  events and goes on.\n\n"
        }
    }
}

/// Audit the heap of a finished program: roots are globals, constants, built-ins,
/// imported modules and whatever is left on the thread's stack.
fn audit_of(vm: &Vm) -> audit::AuditReport {
    let rt = vm.rt;
    let mut roots: Vec<Value> = rt.globals.iter().map(|g| g.load()).collect();
    for c in &rt.code_runs {
        roots.extend(c.consts.iter().copied());
    }
    roots.extend(rt.builtins.roots());
    roots.extend(rt.modules.lock().values().copied());
    roots.extend(vm.stack.iter().copied());
    roots.extend(vm.handling.iter().copied());
    audit::audit(&rt.heap, &roots)
}

fn render_audit(rt: &Runtime, rep: &audit::AuditReport) -> String {
    audit::render(rep, |site| {
        if site == 0 {
            "<built-in>".to_string()
        } else {
            // a site is code index << 32 | instruction index (see `Vm::run`)
            let code = rt.program.codes.get(((site >> 32) & 0xffff) as usize);
            let line = code.map_or(0, |c| c.line_at((site & 0xffff_ffff) as usize));
            format!("{}:{line}", rt.program.filename)
        }
    })
}

/// Every instruction site (code index << 32 | instruction index) on source line
/// `line`, in order: what `Heap::lose_first_incref_at` matches allocations with.
fn sites_on_line(program: &Program, line: u32) -> Vec<u64> {
    let mut sites = Vec::new();
    for (ci, code) in program.codes.iter().enumerate() {
        for ip in 0..code.instrs.len() {
            if code.line_at(ip) == line {
                sites.push(((ci as u64) << 32) | ip as u64);
            }
        }
    }
    sites
}

/// `gilsim disasm`: the bytecode listing. Err: (message, exit status).
pub fn disassemble(source: &Source) -> Result<String, (String, i32)> {
    let loaded = load(source)?;
    let program = compile_source(&loaded.name, &loaded.text).map_err(|m| (m, 1))?;
    Ok(disasm::disassemble(&program))
}

#[cfg(test)]
mod tests {
    use super::why_freed_early;
    use crate::heap::RefcountMode;

    #[test]
    fn the_crash_report_blames_what_the_refcount_mode_allows() {
        let plain = why_freed_early(RefcountMode::Plain);
        let atomic = why_freed_early(RefcountMode::Atomic);
        assert!(plain.contains("an update was lost"));
        assert!(plain.contains("--refcount atomic, this cannot"));
        // Atomic counts lose no update: the report must not blame one, nor
        // promise that atomic counts prevent what just happened.
        assert!(!atomic.contains("update was lost"));
        assert!(!atomic.contains("--refcount atomic, this cannot"));
        assert!(atomic.contains("shared reference"));
        assert!(atomic.contains("with --gil on this cannot happen"));
    }
}
