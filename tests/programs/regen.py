#!/usr/bin/env python3
"""Regenerate the `# expect...` trailer of every .toy test program.

For each tests/programs/**/*.toy file (or only the files/dirs given on the
command line): strip the old `# expect`, `# expect-exit` and `# expect-stderr`
lines, run `python3 <file>` with cwd = the file's directory (timeout 10 s) and
append the expectations recorded from the real run:

    # expect: <stdout line>          one per stdout line (`# expect:` for "")
    # expect-exit: <status>          only when the exit status is non-zero
    # expect-stderr: <last line>     when the exit status is non-zero
    # expect-stderr: <first, last>   when it is zero but stderr is not empty

Usage: python3 regen.py [--check] [path ...]
  --check   do not rewrite; report files whose recorded expectations differ.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECT_PREFIXES = ("# expect:", "# expect-exit:", "# expect-stderr:")


def find_files(args):
    roots = args or [HERE]
    out = []
    for root in roots:
        if os.path.isfile(root):
            out.append(os.path.abspath(root))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(".toy"):
                    out.append(os.path.join(dirpath, name))
    return sorted(out)


def strip_expectations(text):
    lines = text.split("\n")
    kept = [l for l in lines if not l.startswith(EXPECT_PREFIXES)]
    while kept and kept[-1].strip() == "":
        kept.pop()
    return "\n".join(kept) + "\n"


def expectations(path):
    proc = subprocess.run(
        ["python3", os.path.basename(path)],
        cwd=os.path.dirname(path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=10,
        # shims/ stands in for requests and aiohttp (the simulated network)
        env=dict(
            os.environ,
            PYTHONIOENCODING="utf-8",
            PYTHONPATH=os.path.join(HERE, "..", "..", "shims"),
        ),
    )
    out = proc.stdout.decode("utf-8")
    err = proc.stderr.decode("utf-8")
    problems = []
    if out and not out.endswith("\n"):
        problems.append("stdout does not end with a newline")
    if "\r" in out:
        problems.append("stdout contains a carriage return")
    lines = out.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    trailer = []
    for line in lines:
        trailer.append("# expect:" + (" " + line if line != "" else ""))
    if proc.returncode != 0:
        trailer.append("# expect-exit: %d" % proc.returncode)
        err_lines = [l for l in err.split("\n") if l.strip() != ""]
        if err_lines:
            trailer.append("# expect-stderr: " + err_lines[-1])
        else:
            problems.append("non-zero exit with empty stderr")
    elif err:
        # a program that reports on stderr and still succeeds (an exception in
        # a thread): record the first and last lines of the report
        err_lines = [l for l in err.split("\n") if l.strip() != ""]
        trailer.append("# expect-stderr: " + err_lines[0])
        if len(err_lines) > 1:
            trailer.append("# expect-stderr: " + err_lines[-1])
    return trailer, proc.returncode, problems


def main():
    argv = sys.argv[1:]
    check = "--check" in argv
    argv = [a for a in argv if a != "--check"]
    files = find_files(argv)
    bad = 0
    for path in files:
        rel = os.path.relpath(path, HERE)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        body = strip_expectations(text)
        try:
            trailer, rc, problems = expectations(path)
        except subprocess.TimeoutExpired:
            print("TIMEOUT  %s" % rel)
            bad += 1
            continue
        new = body + "\n".join(trailer) + ("\n" if trailer else "")
        for p in problems:
            print("WARNING  %s: %s" % (rel, p))
            bad += 1
        if check:
            if new != text:
                print("STALE    %s" % rel)
                bad += 1
            continue
        if new != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
        print("ok       %s (exit %d, %d lines)" % (rel, rc, len(trailer)))
    print("%d files, %d problems" % (len(files), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
