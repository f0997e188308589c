#!/usr/bin/env python3
"""What the lock costs, measured side by side in one run (issue 4's numbers).

Runs `gilsim run` on programs/cpu_bound.toy and a few generated programs, each
configuration in turn (A B A B ...), and prints median wall times and the ratios
the README quotes:

  one thread, --gil on vs --gil off           (the eval-breaker check is nearly free)
  2 and 4 threads vs 1 thread, --gil on       (no speed-up, little overhead)
  2 threads vs 1 thread, --gil off            (parallel on 2 cores)
  8 threads sleeping 100 ms; 1000 threads sleeping 100 ms
  --switch-interval 100us vs 5ms              (more forced switches, more cost)

usage (from the repository root, after `cargo build --release`):
  python3 bench/gil.py [--runs 5] [--gilsim target/release/gilsim]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(gilsim, args, runs):
    times, last = [], None
    for _ in range(runs):
        start = time.perf_counter()
        p = subprocess.run([gilsim, "run", *args], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if p.returncode != 0:
            sys.exit(f"gilsim {' '.join(args)} failed:\n{p.stderr}")
        last = p
    return statistics.median(times), last


def forced(stdout_json):
    data = json.loads(stdout_json[stdout_json.index("{"):])
    return data["totals"]["forced_switches"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gilsim", default=os.path.join(ROOT, "target/release/gilsim"))
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    g, n = a.gilsim, a.runs
    cpu = os.path.join(ROOT, "programs/cpu_bound.toy")
    tmp = tempfile.mkdtemp()
    sleeps8 = os.path.join(tmp, "sleeps8.toy")
    sleeps1000 = os.path.join(tmp, "sleeps1000.toy")
    for path, k in ((sleeps8, 8), (sleeps1000, 1000)):
        with open(path, "w") as f:
            f.write("import threading, time\n"
                    f"ts = [threading.Thread(target=time.sleep, args=(0.1,)) for _ in range({k})]\n"
                    "for t in ts: t.start()\nfor t in ts: t.join()\n")

    print(f"# gilsim GIL benchmarks, median of {n} runs, {os.cpu_count()} cores")
    on1, _ = run(g, ["--gil", "on", cpu, "1"], n)
    off1, _ = run(g, ["--gil", "off", cpu, "1"], n)
    print(f"1 thread:   gil on {on1:.3f} s, gil off {off1:.3f} s   ratio on/off {on1 / off1:.3f}")
    for k in (2, 4):
        t, _ = run(g, ["--gil", "on", cpu, str(k)], n)
        print(f"{k} threads, gil on:  {t:.3f} s   ratio to 1 thread {t / on1:.2f}")
    t2off, _ = run(g, ["--gil", "off", cpu, "2"], n)
    print(f"2 threads, gil off: {t2off:.3f} s   ratio to 1 thread {t2off / off1:.2f}")
    t, _ = run(g, [sleeps8], n)
    print(f"8 threads x 100 ms sleep:    {t:.3f} s (process wall time, start-up included)")
    t, _ = run(g, [sleeps1000], n)
    print(f"1000 threads x 100 ms sleep: {t:.3f} s")
    t5, p5 = run(g, ["--stats-json", "-", "--switch-interval", "5ms", cpu, "4"], n)
    t100, p100 = run(g, ["--stats-json", "-", "--switch-interval", "100us", cpu, "4"], n)
    print(f"switch interval 5ms:   {t5:.3f} s, {forced(p5.stdout)} forced switches (4 threads)")
    print(f"switch interval 100us: {t100:.3f} s, {forced(p100.stdout)} forced switches   time ratio {t100 / t5:.2f}")


if __name__ == "__main__":
    main()
