//! The example programs of `programs/`, compiled into the binary so that
//! `gilsim serve` works from any directory and offline. The list is written out
//! by hand (include_str! needs literal paths); a test in tests/serve.rs fails
//! when a file is added to programs/ and not here.

/// One example: its file name and its text.
pub struct Example {
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! examples {
    ($($name:literal),* $(,)?) => {
        &[$(Example { name: $name, source: include_str!(concat!("../../programs/", $name)) }),*]
    };
}

/// In the page's picker order: the GIL's main lessons first, then races, then
/// the network and coroutines, then the single-threaded basics.
pub const EXAMPLES: &[Example] = examples![
    "cpu_bound.toy",
    "io_bound.toy",
    "mixed.toy",
    "counter.toy",
    "counter_race.toy",
    "list_append_race.toy",
    "refcount_race.toy",
    "lock_fixes.toy",
    "crawler_sync.toy",
    "crawler_threads.toy",
    "crawler_thread_per_url.toy",
    "crawler_async.toy",
    "coroutine_starvation.toy",
    "generators.toy",
    "fib.toy",
    "lists.toy",
    "args.toy",
];

/// The example called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Example> {
    EXAMPLES.iter().find(|e| e.name == name)
}
