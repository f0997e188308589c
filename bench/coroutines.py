#!/usr/bin/env python3
"""10,000 concurrent coroutines that each sleep 100 ms: how long gilsim takes.

Issue 6 asks for at most 1 s on this project's 2-core machine. The same program
runs under python3 too, side by side, for reference (median of --runs runs each).

    python3 bench/coroutines.py [--runs 5] [--tasks 10000] [--gilsim PATH]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

PROGRAM = """\
import asyncio


async def nap(i):
    await asyncio.sleep(0.1)
    return i


async def main(n):
    done = await asyncio.gather(*[nap(i) for i in range(n)])
    return len(done)


print(asyncio.run(main({tasks})))
"""


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    took = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {out.stderr.decode(errors='replace')}")
    return took, out.stdout.decode()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--gilsim", default=os.path.join(here, "..", "target", "release", "gilsim"))
    args = ap.parse_args()
    if not os.path.exists(args.gilsim):
        sys.exit(f"no gilsim at {args.gilsim}: run `cargo build --release` first")
    with tempfile.TemporaryDirectory() as d:
        prog = os.path.join(d, "coroutines.py")
        with open(prog, "w") as f:
            f.write(PROGRAM.format(tasks=args.tasks))
        times = {"gilsim": [], "python3": []}
        outs = set()
        for _ in range(args.runs):
            for name, cmd in (("gilsim", [args.gilsim, "run", prog]), ("python3", ["python3", prog])):
                t, out = timed(cmd)
                times[name].append(t)
                outs.add(out)
    if len(outs) != 1:
        sys.exit(f"outputs differ: {outs}")
    g, p = statistics.median(times["gilsim"]), statistics.median(times["python3"])
    print(f"{args.tasks} coroutines sleeping 100 ms each, median of {args.runs} runs:")
    print(f"  gilsim  {g:.3f} s   (issue 6's bound: 1 s)")
    print(f"  python3 {p:.3f} s   ratio gilsim/python3 {g / p:.2f}")


if __name__ == "__main__":
    main()
