#!/usr/bin/env python3
"""CPU time of two gilsim builds on the shared suite, runs alternating A B A B.

`../shared/bench/run` compares gilsim with CPython; this compares two builds of
gilsim with each other, which is how a change's effect in time (rather than in
instructions: see bench/instructions.py) is checked on a noisy machine. The
builds run in turn on each program, so that a drift of the machine's speed
during the measurement touches both alike, and the script prints the median
CPU time (user + system, from the kernel's accounting of the child) of each
and the ratio new / old. Outputs are not compared here: bench/run does that.

usage (from the repository root):
  python3 bench/ab.py OLD_BINARY target/release/gilsim
  python3 bench/ab.py --runs 21 --only strings,dicts OLD_BINARY NEW_BINARY
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "..", "..", "shared", "bench", "programs")


def cpu_time(binary, program):
    """User + system seconds of one `binary run program`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([binary, "run", program], stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"ab.py: {binary} run {program} exited with {done.returncode}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", help="the build to compare against")
    ap.add_argument("new", help="the build being measured")
    ap.add_argument("--runs", type=int, default=11, help="runs of each build per program")
    ap.add_argument("--only", help="comma-separated program names (without .py)")
    ap.add_argument("--programs", default=PROGRAMS, help="directory of the programs")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    for b in (args.old, args.new):
        if not os.access(b, os.X_OK):
            ap.error(f"not an executable: {b}")
    names = sorted(
        f[:-3]
        for f in os.listdir(args.programs)
        if f.endswith(".py") and not f.startswith(("threads_", "async_"))
    )
    if args.only:
        wanted = args.only.split(",")
        unknown = [w for w in wanted if w not in names]
        if unknown:
            ap.error(f"no such program: {', '.join(unknown)}")
        names = wanted
    print(f"# CPU seconds, median of {args.runs} alternating runs each")
    print(f"{'program':<16}{'old':>9}{'new':>9}{'new/old':>9}")
    for name in names:
        path = os.path.join(args.programs, name + ".py")
        old, new = [], []
        for _ in range(args.runs):
            old.append(cpu_time(args.old, path))
            new.append(cpu_time(args.new, path))
        a, b = statistics.median(old), statistics.median(new)
        print(f"{name:<16}{a:>9.3f}{b:>9.3f}{b / a:>9.3f}")


if __name__ == "__main__":
    main()
