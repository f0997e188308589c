#!/usr/bin/env python3
"""Machine instructions per benchmark, counted by callgrind: a measure that a busy
machine does not disturb.

Wall times on a shared 2-core machine move by 20-30% from run to run, which hides
the effect of most single optimisations. valgrind's callgrind counts the
instructions a run executes instead: the same binary on the same input gives the
same count, whatever else the machine is doing. This script runs the shared suite
(../shared/bench/programs) at reduced sizes, so that each run takes seconds under
valgrind, and prints each program's count. Given a second binary (`--base`), it
runs both and prints the ratio new / base, which is how the changes of a session
are compared before they are measured for real with ../shared/bench/run.

Instructions are not time: locked (atomic) instructions, cache misses and
mispredicted branches cost far more than one cycle and count as one.

With `--python`, CPython runs each program under callgrind too, and its count
less that of an empty program (its start-up, about 140 million instructions)
is printed beside gilsim's, with the ratio gilsim / python: where gilsim stands
against CPython, measured in a way that a busy machine does not disturb (though
CPython executes more instructions per cycle on some programs, so the wall-time
ratio of ../shared/bench/run remains the judge).

usage (from the repository root, after `cargo build --release`):
  python3 bench/instructions.py                                 # counts of target/release/gilsim
  python3 bench/instructions.py --base /tmp/gilsim-before       # and the ratio to an older build
  python3 bench/instructions.py --python python3                # and the ratio to CPython's count
  python3 bench/instructions.py --only fib,nbody
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

# program -> (text in the original, its reduced replacement)
REDUCED = {
    "fib": ("fib(32)", "fib(25)"),
    "nbody": ("advance(bodies, 0.01, 100000)", "advance(bodies, 0.01, 5000)"),
    "dicts": ("run(800000)", "run(50000)"),
    "strings": ("range(150000)", "range(10000)"),
    "fannkuch": ("fannkuch(9)", "fannkuch(7)"),
    "objects": ("range(1200000)", "range(60000)"),
    "spectral_norm": ("n = 250", "n = 60"),
    "binary_trees": ("main(14)", "main(10)"),
    "closures": ("range(1600000)", "range(80000)"),
    "exceptions": ("range(2000000)", "range(100000)"),
    "sieve": ("range(20)", "range(1)"),
    "lists": ("run(200000)", "run(10000)"),
    "loops": ("checksum(50000)", "checksum(2500)"),
}


def count(gilsim, program, argv=None):
    """Instructions callgrind counts for `gilsim run program` (or for `argv`)."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        + (argv or [gilsim, "run", program]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    m = re.search(r"Collected : (\d+)", out.stderr)
    if not m:
        sys.exit(f"no count from callgrind for {program}:\n{out.stderr[-2000:]}")
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gilsim", default="target/release/gilsim")
    ap.add_argument("--base", help="an older gilsim binary to compare with")
    ap.add_argument("--suite", default=os.path.join("..", "shared", "bench", "programs"))
    ap.add_argument("--only", help="comma-separated program names")
    ap.add_argument("--python", help="also count this CPython (e.g. python3) on each program")
    args = ap.parse_args()
    python = None
    if args.python:
        # The interpreter itself, not a launcher script (pyenv's shims are shell
        # scripts, whose own instructions would be counted).
        python = subprocess.run(
            [args.python, "-c", "import sys; print(sys.executable)"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    names = args.only.split(",") if args.only else list(REDUCED)
    for exe in [args.gilsim] + ([args.base] if args.base else []):
        if not os.path.exists(exe):
            sys.exit(f"no binary at {exe} (cargo build --release)")
    with tempfile.TemporaryDirectory() as tmp:
        header = f"{'program':<14} {'instructions':>14}"
        if args.base:
            header += f" {'base':>14} {'new/base':>9}"
        py_start = 0
        if python:
            header += f" {'python':>14} {'gs/py':>6}"
            empty = os.path.join(tmp, "empty.py")
            with open(empty, "w", encoding="utf-8") as f:
                f.write("pass\n")
            py_start = count(None, None, [python, empty])
        print(header)
        for name in names:
            if name not in REDUCED:
                sys.exit(f"unknown program {name!r}; known: {', '.join(REDUCED)}")
            src = open(os.path.join(args.suite, name + ".py"), encoding="utf-8").read()
            old, new = REDUCED[name]
            if old not in src:
                sys.exit(f"{name}.py no longer contains {old!r}: update REDUCED")
            path = os.path.join(tmp, name + ".py")
            with open(path, "w", encoding="utf-8") as f:
                f.write(src.replace(old, new, 1))
            n = count(args.gilsim, path)
            line = f"{name:<14} {n:>14,}"
            if args.base:
                b = count(args.base, path)
                line += f" {b:>14,} {n / b:>9.3f}"
            if python:
                p = count(None, None, [python, path]) - py_start
                line += f" {p:>14,} {n / p:>6.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
