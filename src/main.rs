#![forbid(unsafe_code)]
//! The `gilsim` command: clap parsing and the exit status, nothing else.

use clap::{Parser, Subcommand};
use gilsim::cli::compare::{self, List};
use gilsim::cli::config::{parse_duration, parse_size, RunConfig, Source};
use gilsim::cli::run;
use gilsim::cli::tour;
use gilsim::heap::RefcountMode;
use gilsim::serve;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  gilsim run programs/fib.toy
  gilsim run -c 'print(sum(range(10)))'
  gilsim run --audit programs/lists.toy
  gilsim disasm programs/counter.toy
  gilsim serve --open
  gilsim compare programs/cpu_bound.toy --gil on,off --threads 1,2 --runs 3
  gilsim tour";

/// See Python's Global Interpreter Lock: run Python-shaped programs on a
/// refcounting bytecode VM.
#[derive(Parser)]
#[command(name = "gilsim", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// `Run` carries every option of a run and `Disasm` two: the enum is built once
// per process, so the size difference clippy warns about costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a program (a .toy or .py file, `-c CODE`, or `-` for standard input).
    #[command(after_help = "\
Examples:
  gilsim run programs/fib.toy
  gilsim run -c 'print(sum(range(10)))'
  echo 'print(1 + 1)' | gilsim run -
  gilsim run --audit programs/lists.toy       # heap audit on stderr at exit
  gilsim run programs/cpu_bound.toy --gil on --stats    # 4 threads, no speed-up
  gilsim run programs/cpu_bound.toy --gil off --stats   # the same threads in parallel
  gilsim run programs/cpu_bound.toy --switch-interval 100us --stats
  gilsim run programs/cpu_bound.toy --timeline /tmp/cpu.svg    # open it in a browser
  gilsim run programs/io_bound.toy --timeline -                 # the lanes in the terminal
  gilsim run programs/mixed.toy --trace-events /tmp/trace.json  # for ui.perfetto.dev
  gilsim run programs/args.toy one two        # sys.argv[1:] == ['one', 'two']")]
    Run {
        /// Program text to run instead of a file (like python3 -c); the words
        /// after it are the program's arguments.
        #[arg(short = 'c', value_name = "CODE")]
        code: Option<String>,
        /// Print a heap audit to stderr when the program ends: every live object's
        /// reference count checked against the references actually held.
        #[arg(long)]
        audit: bool,
        /// Heap cap; past it allocations raise MemoryError (e.g. 512M, 4G).
        #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = parse_size)]
        max_heap: u64,
        /// How reference counts are updated: plain (load then store, as CPython) or atomic.
        #[arg(long, value_name = "MODE", default_value = "plain", value_parser = ["plain", "atomic"])]
        refcount: String,
        /// The global interpreter lock: on (CPython's GIL) or off (bytecode runs in
        /// parallel on every core, and reference counts race).
        #[arg(long, value_name = "on|off", default_value = "on", value_parser = ["on", "off"])]
        gil: String,
        /// How long a thread waiting for the GIL waits before asking the holder
        /// to drop it (CPython's sys.setswitchinterval; e.g. 5ms, 100us).
        #[arg(long, value_name = "DURATION", default_value = "5ms", value_parser = parse_duration)]
        switch_interval: f64,
        /// Print per-thread GIL statistics to stderr when the program ends.
        #[arg(long)]
        stats: bool,
        /// Write the statistics as JSON to FILE (`-` for stdout).
        #[arg(long, value_name = "FILE")]
        stats_json: Option<String>,
        /// Draw who held the GIL when, one lane per thread: an SVG picture to
        /// FILE (open it in a browser; hover for details), or `-` to draw the
        /// lanes in the terminal.
        #[arg(long, value_name = "FILE.svg|-")]
        timeline: Option<String>,
        /// Write the same timeline in Chrome's Trace Event Format to FILE (open
        /// it in ui.perfetto.dev or chrome://tracing; `-` for stdout).
        #[arg(long, value_name = "FILE.json")]
        trace_events: Option<String>,
        /// What happens when a thread uses an object that was freed (possible only
        /// with --gil off): abort (a crash report, exit status 3) or continue
        /// (count it and raise MemoryCorruptionError in that thread).
        #[arg(long, value_name = "abort|continue", default_value = "abort", value_parser = ["abort", "continue"])]
        on_corruption: String,
        /// Log lock, thread and heap events to stderr (one line each, with a
        /// timestamp and the thread's name); RUST_LOG=gilsim=trace shows more.
        #[arg(long)]
        trace: bool,
        /// Seed of the simulated network (latencies and bodies are a function of it).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Latency scale of the simulated network (each URL takes 0.5x-1.5x of it).
        #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
        latency: f64,
        /// The most threads (besides the main thread) alive at once; starting
        /// one more raises RuntimeError: can't start new thread, as CPython does
        /// when the OS refuses one. Default: no cap but the OS's own.
        #[arg(long, value_name = "N")]
        max_threads: Option<usize>,
        /// Simulate http://127.0.0.1:PORT/ and http://localhost:PORT/ like any
        /// other URL instead of fetching them for real (`gilsim serve` runs every
        /// program this way, so a page cannot reach the machine's own services).
        #[arg(long)]
        no_loopback: bool,
        /// The program file (`-` for standard input).
        file: Option<String>,
        /// Arguments for the program (sys.argv[1:]). gilsim's own options may
        /// come before or after the file; put `--` before program arguments that
        /// start with `-`.
        args: Vec<String>,
    },
    /// Serve a web page for trying programs in a browser: pick or write one,
    /// flip the lock, run it, and see its output, statistics and timeline.
    #[command(after_help = "\
Examples:
  gilsim serve                       # http://127.0.0.1:8000/
  gilsim serve --port 9000 --open    # and open it in the default browser
  gilsim serve --host 0.0.0.0        # for a classroom network (read the warning)")]
    Serve {
        /// Port to listen on (0: any free port; the address is printed).
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Address to listen on. The default serves this machine only.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Open the page in the default browser.
        #[arg(long)]
        open: bool,
        /// Wall-time limit of each run; the child is killed past it.
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
        time_limit: f64,
        /// Heap limit of each run (its --max-heap).
        #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
        max_heap: u64,
        /// Bytes of stdout and of stderr kept per run; past it the run is stopped.
        #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = parse_size)]
        max_output: u64,
        /// Runs at once; more get "busy, try again" (default: the number of cores).
        #[arg(long, value_name = "N")]
        max_runs: Option<usize>,
        /// Threads (besides the main thread) alive at once in each run (its
        /// --max-threads), and the largest thread count the page may ask for.
        #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
        max_threads: u32,
    },
    /// Print a program's bytecode, like Python's dis (`*` marks where a thread switch can happen).
    #[command(after_help = "\
Examples:
  gilsim disasm programs/counter.toy
  gilsim disasm -c 'x = 1; x += 1'")]
    Disasm {
        /// Program text instead of a file.
        #[arg(short = 'c', value_name = "CODE", conflicts_with = "file")]
        code: Option<String>,
        /// The program file (`-` for standard input).
        file: Option<String>,
    },
    /// Run programs under several configurations, several times each, and print
    /// a table of times, forced switches, GIL waits and what went wrong.
    #[command(after_help = "\
Every combination of the lists runs --runs times, each run a separate process
(`gilsim run ... --stats-json`), interleaved so that the machine's load spreads
over all rows. With --threads, the program gets the thread count as sys.argv[1].

Examples:
  gilsim compare programs/crawler_sync.toy programs/crawler_threads.toy programs/crawler_async.toy --runs 5
  gilsim compare programs/cpu_bound.toy --gil on,off --refcount atomic --threads 1,2,4 --runs 3
  gilsim compare programs/cpu_bound.toy --threads 2 --switch-interval 5ms,1ms,100us
  gilsim compare programs/counter_race.toy --gil on,off --refcount atomic --python --format markdown")]
    Compare {
        /// The program files to compare.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
        /// GIL settings to compare, separated by commas.
        #[arg(long, value_name = "on,off", default_value = "on", value_parser = compare::parse_gil_list)]
        gil: List<bool>,
        /// Switch intervals to compare (e.g. 5ms,1ms,100us).
        #[arg(long, value_name = "DURATIONS", default_value = "5ms", value_parser = compare::parse_interval_list)]
        switch_interval: List<f64>,
        /// Reference-count modes to compare.
        #[arg(long, value_name = "plain,atomic", default_value = "plain", value_parser = compare::parse_refcount_list)]
        refcount: List<RefcountMode>,
        /// Thread counts to compare, each passed to the program as sys.argv[1].
        #[arg(long, value_name = "N,...", value_parser = compare::parse_threads_list)]
        threads: Option<List<u32>>,
        /// How many times to run each configuration (the table shows the median,
        /// min and max).
        #[arg(long, value_name = "K", default_value = "3", value_parser = compare::parse_runs)]
        runs: u32,
        /// Also run each file under python3, with gilsim's shims/ (requests,
        /// aiohttp) on PYTHONPATH (found above the gilsim executable, or set
        /// GILSIM_SHIMS=DIR).
        #[arg(long)]
        python: bool,
        /// How to print the table.
        #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = ["table", "markdown", "csv", "json"])]
        format: String,
    },
    /// A guided tour of the GIL in six steps, each measured now, with the
    /// command that reproduces it (about half a minute; needs no files).
    #[command(after_help = "\
Steps: (1) reference counts racing without the GIL, caught; (2) the same program
under the GIL, clean; (3) `counter += 1` losing updates, and a Lock fixing it;
(4) CPU-bound threads with and without the GIL; (5) I/O-bound: sync, threads,
coroutines; (6) the switch interval's cost. The programs are built in; they are
written to $TMPDIR/gilsim-tour so that the printed commands can be run again.

Examples:
  gilsim tour
  gilsim tour --timeline /tmp/tour-svg      # also an SVG timeline of every run
  gilsim tour --save tour-programs          # only write the programs, with their headers")]
    Tour {
        /// Also write each run's timeline as an SVG into DIR (created if needed).
        #[arg(long, value_name = "DIR")]
        timeline: Option<String>,
        /// Write the tour's programs into DIR and stop, without running the tour.
        #[arg(long, value_name = "DIR", conflicts_with = "timeline")]
        save: Option<String>,
    },
}

fn source_of(code: Option<String>, file: Option<String>) -> Result<Source, String> {
    match (code, file) {
        (Some(c), _) => Ok(Source::Code(c)),
        (None, Some(f)) if f == "-" => Ok(Source::Stdin),
        (None, Some(f)) => Ok(Source::File(f)),
        (None, None) => {
            Err("gilsim: no program given: name a file, `-c CODE`, or `-` for stdin".into())
        }
    }
}

/// tracing-subscriber on stderr: RUST_LOG's filter if set, else gilsim's debug events.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("gilsim=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_thread_names(true)
        .with_target(false)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

/// What a panic does: release builds abort on one (`panic = "abort"` in
/// Cargo.toml: without unwinding tables and clean-up paths the interpreter
/// loop compiles to faster code, 5-15% on the benchmark suite), so this hook
/// is the last thing a panic runs. It says the fault is gilsim's, with the
/// panic's message and place for a bug report, and ends the process with the
/// status of an internal error (70, EX_SOFTWARE) rather than an abort signal.
/// A panic is always a bug: every bad input has its own error.
fn report_internal_errors() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("gilsim: internal error (a bug in gilsim, not in your program): {info}");
        std::process::exit(70);
    }));
}

fn main() -> ExitCode {
    report_internal_errors();
    // Test hook: the way a bug would end a run, shown by a test.
    if std::env::var_os("GILSIM_TEST_PANIC").is_some() {
        std::panic::panic_any("a panic asked for by GILSIM_TEST_PANIC");
    }
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Run {
            code,
            audit,
            max_heap,
            refcount,
            gil,
            switch_interval,
            stats,
            stats_json,
            timeline,
            trace_events,
            seed,
            latency,
            trace,
            on_corruption,
            max_threads,
            no_loopback,
            file,
            args,
        } => {
            if trace || std::env::var_os("RUST_LOG").is_some() {
                init_tracing();
            }
            let (file, args) = match (&code, file) {
                // with -c, a positional is a program argument, not a file
                (Some(_), Some(f)) => (None, std::iter::once(f).chain(args).collect()),
                (_, f) => (f, args),
            };
            match source_of(code, file) {
                Ok(source) => run::run(RunConfig {
                    source,
                    args,
                    audit,
                    max_heap,
                    refcount: if refcount == "atomic" {
                        RefcountMode::Atomic
                    } else {
                        RefcountMode::Plain
                    },
                    gil: gil == "on",
                    switch_interval,
                    stats,
                    stats_json,
                    timeline,
                    trace_events,
                    seed,
                    latency,
                    continue_on_corruption: on_corruption == "continue",
                    max_threads,
                    no_loopback,
                }),
                Err(msg) => {
                    eprintln!("{msg}");
                    2
                }
            }
        }
        Command::Serve {
            port,
            host,
            open,
            time_limit,
            max_heap,
            max_output,
            max_runs,
            max_threads,
        } => {
            let mut config = serve::ServeConfig {
                host,
                port,
                open,
                ..Default::default()
            };
            config.limits.wall =
                std::time::Duration::from_secs_f64(time_limit.clamp(0.001, 86400.0));
            config.limits.heap = max_heap;
            config.limits.output = usize::try_from(max_output).unwrap_or(usize::MAX);
            if let Some(n) = max_runs {
                config.max_runs = n.max(1);
            }
            config.limits.threads = max_threads;
            serve::serve(config)
        }
        Command::Disasm { code, file } => match source_of(code, file) {
            Ok(source) => match run::disassemble(&source) {
                Ok(text) => {
                    print!("{text}");
                    0
                }
                Err((msg, code)) => {
                    eprint!("{msg}");
                    if !msg.ends_with('\n') {
                        eprintln!();
                    }
                    code
                }
            },
            Err(msg) => {
                eprintln!("{msg}");
                2
            }
        },
        Command::Compare {
            files,
            gil,
            switch_interval,
            refcount,
            threads,
            runs,
            python,
            format,
        } => compare::main(compare::CompareArgs {
            files,
            gil: gil.0,
            switch_interval: switch_interval.0,
            refcount: refcount.0,
            threads: threads.map(|t| t.0),
            runs,
            python,
            // clap admits only the four names FromStr knows
            format: format.parse().unwrap_or(compare::Format::Table),
        }),
        Command::Tour { timeline, save } => tour::main(tour::TourArgs { timeline, save }),
    };
    ExitCode::from(status.clamp(0, 255) as u8)
}

/// mimalloc instead of the system allocator: strings, lists, dicts and
/// exceptions allocate on the VM's hot paths, and glibc's malloc/free cost
/// several times more instructions per call (measured with callgrind).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
