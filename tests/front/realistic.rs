//! A realistic Toy program mixing every construct must parse.

use gilsim::front::ast::{ExprKind, StmtKind};
use gilsim::front::parser::parse;

const PROGRAM: &str = r#"
"""A bank simulation exercising most of Toy."""
import threading
import collections.abc as cabc
from functools import wraps, reduce as fold
from typing import (Any,
                    Optional,)

MAX = 1_000_000
RATE = 0.05
HUGE = 0xFFFF_FFFF_FFFF_FFFF_FFFF
MASK = 0b1010 | 0o17 ^ ~0
lock = threading.Lock()


def logged(func):
    @wraps(func)
    def wrapper(*args, **kwargs):
        print(f"calling {func.__name__!r} with {len(args)} args")
        try:
            return func(*args, **kwargs)
        finally:
            print(f"done {func.__name__}")
    return wrapper


class InsufficientFunds(Exception):
    pass


class Account(object):
    count: int = 0

    def __init__(self, owner: str, balance: float = 0.0, *, currency="EUR") -> None:
        self.owner = owner
        self.balance = balance
        self.currency = currency
        self.history = []
        Account.count += 1

    def __repr__(self):
        return f"Account({self.owner!r}, {self.balance:.2f})"

    @property
    def rich(self):
        return self.balance > 1e6 and not self.frozen if hasattr(self, "frozen") else False

    @logged
    def withdraw(self, amount, /, note=None):
        with lock:
            if amount <= 0:
                raise ValueError("amount must be positive")
            elif amount > self.balance:
                raise InsufficientFunds(f"{self.owner} has only {self.balance}") from None
            else:
                self.balance -= amount
                self.history.append(("withdraw", amount, note))
        return self.balance

    def deposit(self, amount):
        assert amount > 0, "positive amounts only"
        self.balance += amount
        self.history += [("deposit", amount, None)]


def make_counter(start=0):
    count = start

    def inc(step=1):
        nonlocal count
        count += step
        return count

    return inc


def stats(values):
    total = sum(values)
    mean = total / len(values) if values else 0
    var = sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)
    return {"total": total, "mean": mean, "var": var, **{"n": len(values)}}


def table(rows):
    lines = []
    for name, x, y, z, w in rows:
        lines.append(f"{name:<10}|{x:>8}|{y:.2f}|{z:5d}|{w!r}")
    width = 12
    lines.append(f"{'total':^{width}}")
    lines.append(f"{x=}, {y = :.1f}")
    return "\n".join(lines)


def fib():
    a, b = 0, 1
    while True:
        yield a
        a, b = b, a + b


def take(n, it):
    out = []
    for i, v in enumerate(it):
        if i >= n:
            break
        out.append(v)
    else:
        pass
    return out


def delegate():
    result = yield from fib()
    x = yield
    return result, x


async def fetch(session, url, *, retries=3):
    for attempt in range(retries):
        try:
            async with session.get(url) as resp, lock:
                data = await resp.json()
                return data["items"][::-1]
        except (ConnectionError, TimeoutError) as exc:
            last = exc
            continue
        except Exception:
            raise
    raise RuntimeError("giving up") from last


async def gather_all(urls):
    results = [await fetch(None, u) async for u in agen(urls)]
    return results


async def agen(xs):
    for x in xs:
        yield x


def matrix_ops(m):
    t = [[row[i] for row in m] for i in range(len(m[0]))]
    flat = [x for row in m for x in row if x % 2 == 0 if x]
    pairs = {(i, j): m[i][j] for i in range(2) for j in range(2)}
    uniq = {x for x in flat}
    diag = m[0][0] * m[1][1] - m[0][1] * m[1][0]
    shifted = [x << 1 >> 1 for x in flat]
    m2 = m @ m if hasattr(m, "__matmul__") else m
    return t, flat, pairs, uniq, diag, shifted, m2


def slicing(s):
    first, *rest = s
    *init, last = s
    a = s[1:2], s[::2], s[:-1], s[1:], s[:]
    b = s[len(s) // 2 :]
    del a
    return first, rest, init, last, b


def lambdas():
    key = lambda item: (item[1], item[0])
    compose = lambda f, g: lambda x: f(g(x))
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b}
    return sorted([(1, 2), (0, 3)], key=key), compose, ops


def walrus(data):
    if (n := len(data)) > 10:
        print(f"too long ({n} elements)")
    while (chunk := data[:2]):
        data = data[2:]
    return [y for x in data if (y := x * 2) > 3]


def comparisons(a, b, c):
    return a < b <= c, a is not None, a not in [b, c], not a == b, -a ** 2


def misc():
    global MAX
    MAX = MAX if MAX else 1; x = 1; y = 2
    x, y = y, x
    x **= 2; x //= 3; x %= 5; x <<= 1; x >>= 1; x &= 7; x |= 8; x ^= 1
    value = (1 if x else 2) + (yield_val := 3)
    s = 'single' "double" '''triple''' """also"""
    t = r"raw\n" + "esc\t\x41\u00e9"[0:0] if False else "ok"
    e = ...
    n = None
    return value, s, t, e, n, yield_val


class Stack:
    def __init__(self):
        self._items: list = []

    def push(self, item):
        self._items.append(item)

    def pop(self):
        if not self._items:
            raise IndexError("pop from empty stack")
        return self._items.pop()

    def __len__(self):
        return len(self._items)


def worker(account, n):
    for _ in range(n):
        try:
            account.deposit(1)
        except InsufficientFunds as e:
            print(e)
        else:
            continue
        finally:
            pass


class Scheduler:
    """Round-robin scheduler for simulated threads."""

    def __init__(self, quantum=100, *tasks, **options):
        self.quantum = quantum
        self.queue = collections.deque(tasks)
        self.options = dict(options, verbose=False)
        self.ticks = 0

    def add(self, task, /, priority: int = 0) -> "Scheduler":
        self.queue.append((priority, task))
        return self

    def run(self):
        while self.queue:
            priority, task = self.queue.popleft()
            try:
                step = next(task)
            except StopIteration as stop:
                print(f"task finished with {stop.value!r}")
                continue
            self.ticks += 1
            if self.ticks % self.quantum == 0 and self.options.get("verbose"):
                print(f"[{self.ticks:06d}] switching after {step}")
            self.queue.append((priority, task))
        return self.ticks


def countdown(n):
    while n > 0:
        yield n
        n -= 1
    return "liftoff"


def nested_data():
    config = {
        "name": "demo",
        "threads": [
            {"id": i, "tags": {f"t{i}", "x"}, "weights": (0.5, 1.5)}
            for i in range(3)
        ],
        "limits": {"cpu": 2, "mem": 2 ** 30},
    }
    ids = [t["id"] for t in config["threads"] if t["id"] != 1]
    total = sum(w for t in config["threads"] for w in t["weights"])
    return config, ids, total


def bits(x: int) -> list[int]:
    out: list[int] = []
    while x:
        out.append(x & 1)
        x >>= 1
    return out[::-1] or [0]


def describe(value):
    kind = (
        "int" if isinstance(value, int)
        else "float" if isinstance(value, float)
        else "str" if isinstance(value, str)
        else "other"
    )
    return f"{value!a} is {kind}, hash {hash(value) % 97:>3}"


def main():
    acct = Account("ada", 100.0, currency="GBP")
    threads = [threading.Thread(target=worker, args=(acct, 100)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counter = make_counter()
    counter(); counter(5)
    print(table([("a", 1, 2.5, 3, "w"), ("b", 10, 0.125, 42, None)]))
    print(stats([1, 2, 3]), take(5, fib()))
    print(matrix_ops([[1, 2], [3, 4]]), slicing("hello"), lambdas(), walrus(list(range(20))))
    print(comparisons(1, 2, 3), Stack(), len(Stack()), fold(lambda a, b: a + b, [1, 2]))
    print(*[1, 2], sep=", ", end="\n")
    sched = Scheduler(10).add(countdown(3)).add(countdown(2), priority=1)
    print(sched.run(), nested_data(), bits(10), describe(3.5))
    print(HUGE, MASK, RATE, MAX, f"{acct!s}", f"{{literal}}", f"{acct.balance:,.2f}")


if __name__ == "__main__":
    main()
"#;

#[test]
fn realistic_program_parses() {
    let m = match parse(PROGRAM) {
        Ok(m) => m,
        Err(e) => panic!(
            "{}",
            gilsim::front::diagnostics::render(&e, "prog.toy", PROGRAM)
        ),
    };
    assert!(PROGRAM.lines().count() >= 250);
    // Last statement: if __name__ == "__main__": main()
    let last = m.body.last().map(|s| &s.kind);
    assert!(matches!(last, Some(StmtKind::If { .. })));
    // The module docstring is a Str expression statement.
    assert!(matches!(
        &m.body[0].kind,
        StmtKind::Expr(e) if matches!(&e.kind, ExprKind::Str(s) if s.starts_with("A bank"))
    ));
    let defs = m
        .body
        .iter()
        .filter(|s| matches!(s.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)))
        .count();
    assert!(defs >= 20, "{}", defs);
}

#[test]
fn realistic_program_with_crlf_parses_identically() {
    let crlf = PROGRAM.replace('\n', "\r\n");
    let a = parse(PROGRAM).map_err(|e| e.msg);
    let b = parse(&crlf).map_err(|e| e.msg);
    assert_eq!(a, b);
}
