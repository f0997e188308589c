//! What a slot's lock costs here: `cargo bench --bench locks`.
//!
//! Every access to a list, dict, instance, cell or str's text takes its slot's
//! lock (see src/heap/slots.rs), and a locked instruction costs far more cycles
//! than the one instruction callgrind counts for it. This prints, per
//! operation, the time of an uncontended lock and unlock of the spin lock the
//! slots use, of parking_lot's read-write lock they used before (read and
//! write), a plain load-and-store count update (what `--refcount plain` does)
//! and an atomic add (`--refcount atomic`), each over 1,024 different words in
//! turn, as the heap's slots would be.

use parking_lot::RwLock;
use spin::mutex::SpinMutex;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

const N: u64 = 50_000_000;

fn time(what: &str, mut f: impl FnMut(usize)) {
    let t = Instant::now();
    for i in 0..N {
        f((i & 1023) as usize);
    }
    let ns = t.elapsed().as_nanos() as f64 / N as f64;
    println!("{what:<34} {ns:6.2} ns");
}

fn main() {
    let spins: Vec<SpinMutex<u64>> = (0..1024).map(SpinMutex::new).collect();
    let locks: Vec<RwLock<u64>> = (0..1024).map(RwLock::new).collect();
    let words: Vec<AtomicU64> = (0..1024).map(AtomicU64::new).collect();
    let mut sum = 0u64;
    time("spin lock + unlock (the slots')", |i| {
        if let Some(mut g) = black_box(&spins[i]).try_lock() {
            *g += 1;
        }
    });
    time("read lock + unlock (recursive)", |i| {
        sum = sum.wrapping_add(*black_box(&locks[i]).read_recursive());
    });
    time("write lock + unlock", |i| {
        *black_box(&locks[i]).write() += 1;
    });
    time("plain count update (load, store)", |i| {
        let w = black_box(&words[i]);
        w.store(w.load(Relaxed) + 1, Relaxed);
    });
    time("atomic count update (fetch_add)", |i| {
        black_box(&words[i]).fetch_add(1, Relaxed);
    });
    black_box(sum);
}
