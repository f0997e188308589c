#!/usr/bin/env python3
"""What atomic reference counts cost, measured side by side in one run (issue 5).

`--refcount plain` updates a count with a load and a store, as CPython does under
its GIL; `--refcount atomic` with an atomic read-modify-write (a locked add on
x86), as free-threaded CPython must. This script runs `gilsim run` on generated
programs, plain and atomic in turn (A B A B ...), and prints median wall times
and the ratio atomic / plain:

  one thread, --gil on, building and freeing trees   (uncontended atomics)
  one thread, --gil on, copying references in a loop (mostly count updates)
  2 threads, --gil off, each copying its own object  (atomics, no sharing)
  2 threads, --gil off, copying the SAME object      (the count's cache line
                                                      bounces between cores)

In the last case plain counts lose updates (that is the race); the shared
object is held a million times over so that the losses cannot free it during
the run. No --stats: with it, plain stores without the GIL become swaps so that
lost updates can be counted, which costs about what an atomic add does.

usage (from the repository root, after `cargo build --release`):
  python3 bench/refcount.py [--runs 5] [--gilsim target/release/gilsim]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TREES = """\
def make(depth):
    if depth == 0:
        return [None, None]
    return [make(depth - 1), make(depth - 1)]


def check(node):
    if node[0] is None:
        return 1
    return 1 + check(node[0]) + check(node[1])


total = 0
for _ in range(40):
    total += check(make(14))
print(total)
"""

# `a = obj` loads a reference (an increment) and drops the one `a` held (a
# decrement): eight count updates per iteration, little else.
COPIES = """\
import sys
import threading

ROUNDS = 3_000_000
threads = int(sys.argv[1])
shared = sys.argv[2] == "shared"
one = [0]
pins = [one] * 1_000_000


def work(obj, n):
    a = b = c = d = None
    for _ in range(n):
        a = obj
        b = obj
        c = obj
        d = obj


def mine(n):
    work([0], n)


def ours(n):
    work(one, n)


ts = [threading.Thread(target=ours if shared else mine, args=(ROUNDS // threads,)) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(len(pins))
"""


def run(gilsim, args, runs):
    """Median wall time of `gilsim run ARGS` for each refcount mode, alternating."""
    times = {"plain": [], "atomic": []}
    for _ in range(runs):
        for mode in times:
            start = time.perf_counter()
            p = subprocess.run([gilsim, "run", "--refcount", mode, *args], capture_output=True, text=True)
            times[mode].append(time.perf_counter() - start)
            if p.returncode != 0:
                sys.exit(f"gilsim --refcount {mode} {' '.join(args)} failed:\n{p.stderr}")
    return statistics.median(times["plain"]), statistics.median(times["atomic"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gilsim", default=os.path.join(ROOT, "target/release/gilsim"))
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    trees = os.path.join(tmp, "trees.toy")
    copies = os.path.join(tmp, "copies.toy")
    for path, text in ((trees, TREES), (copies, COPIES)):
        with open(path, "w") as f:
            f.write(text)
    cases = [
        ("1 thread, gil on, trees", ["--gil", "on", trees]),
        ("1 thread, gil on, copies", ["--gil", "on", copies, "1", "own"]),
        ("2 threads, gil off, own objects", ["--gil", "off", copies, "2", "own"]),
        ("2 threads, gil off, one shared object", ["--gil", "off", copies, "2", "shared"]),
    ]
    print(f"# gilsim refcount benchmarks, median of {a.runs} runs, {os.cpu_count()} cores")
    print(f"{'case':<40} {'plain s':>8} {'atomic s':>9} {'atomic/plain':>13}")
    for name, args in cases:
        plain, atomic = run(a.gilsim, args, a.runs)
        print(f"{name:<40} {plain:>8.3f} {atomic:>9.3f} {atomic / plain:>13.2f}")


if __name__ == "__main__":
    main()
