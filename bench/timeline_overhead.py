#!/usr/bin/env python3
"""What recording a timeline costs the run it records (issue 7's "aim under 5%").

Runs `gilsim run programs/cpu_bound.toy` in configurations taken in turn
(A B C A B C ...), so that a machine busy with other work slows all of them
alike, and prints the median wall time and CPU time (user + system, of the
gilsim process) of each, and each one's ratio to the first:

  plain                   recording off: one branch at each GIL event
  --timeline FILE.svg     recording on, and the picture drawn at exit
  --trace-events FILE     recording on, and the trace written at exit

With --base BINARY (a gilsim built without the recorder), a first row runs it
too, which measures what the branch itself costs when recording is off.

usage (from the repository root, after `cargo build --release`):
  python3 bench/timeline_overhead.py [--runs 15] [--threads 4] [--switch-interval 100us]
                                     [--gilsim target/release/gilsim] [--base OLD]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd):
    """Wall seconds and the child's user+system CPU seconds."""
    import time

    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err}")
    return wall, usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gilsim", default=os.path.join(ROOT, "target/release/gilsim"))
    ap.add_argument("--base", help="a gilsim binary built before the recorder existed")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--threads", default="4")
    ap.add_argument("--switch-interval", help="e.g. 100us: many more GIL events to record")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    prog = ["programs/cpu_bound.toy", a.threads]
    if a.switch_interval:
        prog += ["--switch-interval", a.switch_interval]
    configs = []
    if a.base:
        configs.append(("without the recorder (--base)", [a.base, "run", *prog]))
    configs += [
        ("recording off", [a.gilsim, "run", *prog]),
        ("--timeline FILE.svg", [a.gilsim, "run", *prog, "--timeline", os.path.join(tmp, "t.svg")]),
        ("--trace-events FILE", [a.gilsim, "run", *prog, "--trace-events", os.path.join(tmp, "t.json")]),
    ]
    results = {name: ([], []) for name, _ in configs}
    for _ in range(a.runs):
        for name, cmd in configs:
            wall, cpu = timed(cmd)
            results[name][0].append(wall)
            results[name][1].append(cpu)
    extra = f" --switch-interval {a.switch_interval}" if a.switch_interval else ""
    print(f"# programs/cpu_bound.toy {a.threads}{extra}, median of {a.runs} interleaved runs, {os.cpu_count()} cores")
    first = None
    for name, _ in configs:
        wall = statistics.median(results[name][0])
        cpu = statistics.median(results[name][1])
        if first is None:
            first = (wall, cpu)
        print(f"{name:<32} wall {wall:.3f} s ({wall / first[0]:.3f})   cpu {cpu:.3f} s ({cpu / first[1]:.3f})")


if __name__ == "__main__":
    main()
