# gilsim shim for `requests`: mirrors src/concurrency/net.rs and must stay in sync
# with it (tests/net.rs cross-checks the numbers). Put shims/ on PYTHONPATH to run a
# Toy program that uses `requests` under real CPython against the same simulated
# network gilsim uses:
#
#     GILSIM_SEED=0 GILSIM_LATENCY=100ms PYTHONPATH=shims python3 programs/x.toy
#
# The model (see net.rs's module comment; all integers are masked to 64 bits):
#   h       = splitmix64(seed ^ fnv1a64(url.encode("utf-8")))
#   latency = scale * (0.5 + (h % 1000) / 1000.0)  seconds, slept with time.sleep,
#             which releases CPython's GIL; scale = GILSIM_HOST_LATENCY's entry for
#             the URL's host, else GILSIM_LATENCY (default 0.1 s)
#   status  = 404 if the path contains "/404", else 500 if "/500", else 200
#   body    = ASCII HTML of exactly 2000 + splitmix64(h) % 8000 bytes
#   .text   = len(body) // 4 iterations of a pure-Python loop, standing for decoding
#             (net.rs's decode_cost_iterations), which holds the GIL.
# Loopback URLs (http://127.0.0.1:PORT/..., http://localhost:PORT/...) are fetched
# for real with urllib.request.

import math as _math
import os as _os
import sys as _sys
import time as _time
import types as _types

_GILSIM_SHIM = True
_MASK = (1 << 64) - 1
_BODY_SUFFIX = "</body></html>"
__version__ = "2.31.0+gilsim"


# ---------------------------------------------------------------- the model

def _splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & _MASK
    return h


def _decode_cost_iterations(body_len):
    return body_len // 4


def _parse_duration(text):
    t = text.strip()
    num, div = t, 1.0
    for suffix, d in (("ns", 1e9), ("us", 1e6), ("\u00b5s", 1e6), ("ms", 1000.0), ("s", 1.0)):
        if t.endswith(suffix):
            num, div = t[: -len(suffix)].strip(), d
            break
    if num and all(c in "0123456789.eE+-" for c in num):
        try:
            v = float(num)
        except ValueError:
            v = None
        if v is not None and _math.isfinite(v) and v >= 0.0:
            return v / div
    raise ValueError("invalid duration %r (expected seconds like 0.1, 100ms, 50us)" % text)


def _parse_host_latency(text):
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ValueError("expected host=duration, got %r" % item)
        host, dur = item.split("=", 1)
        host = host.strip()
        if not host:
            raise ValueError("empty host in %r" % item)
        out.append((host.lower(), _parse_duration(dur)))
    return out


def _config():
    """(seed, latency_s, [(host, seconds)]) from the environment, read on each call."""
    seed, latency, hosts = 0, 0.1, []
    s = _os.environ.get("GILSIM_SEED", "").strip()
    if s:
        seed = int(s)
        if not 0 <= seed <= _MASK:
            raise ValueError("GILSIM_SEED: expected an integer in 0..2**64, got %r" % s)
    s = _os.environ.get("GILSIM_LATENCY", "").strip()
    if s:
        latency = _parse_duration(s)
    s = _os.environ.get("GILSIM_HOST_LATENCY", "").strip()
    if s:
        hosts = _parse_host_latency(s)
    return seed, latency, hosts


def _parse(url):
    """(host, rest, https) or raises the exception requests would."""
    lower = url.lower()
    if lower.startswith("http://"):
        after, https = url[7:], False
    elif lower.startswith("https://"):
        after, https = url[8:], True
    elif (":" in url and not lower.startswith("http")) or "://" in url:
        raise InvalidSchema("No connection adapters were found for %r" % (url,))
    elif lower.startswith("http:") or lower.startswith("https:"):
        raise InvalidURL("Invalid URL %r: No host supplied" % (url,))
    else:
        raise MissingSchema(
            "Invalid URL %r: No scheme supplied. Perhaps you meant https://%s?" % (url, url)
        )
    end = len(after)
    for c in "/:?#":
        i = after.find(c)
        if i != -1 and i < end:
            end = i
    host = after[:end]
    if not host:
        raise InvalidURL("Invalid URL %r: No host supplied" % (url,))
    return host, after[end:], https


def _path_of(rest):
    for c in "?#":
        i = rest.find(c)
        if i != -1:
            rest = rest[:i]
    i = rest.find("/")
    return rest[i:] if i != -1 else ""


def _status_for(path):
    if "/404" in path:
        return 404
    if "/500" in path:
        return 500
    return 200


def _body_for(url, h):
    s = _splitmix64(h)
    n = 2000 + s % 8000
    keep = n - len(_BODY_SUFFIX)
    title = "".join(c if " " <= c <= "~" and c not in "<>&" else "?" for c in url)
    parts = ["<html><head><title>", title, "</title></head><body>"]
    size = sum(len(p) for p in parts)
    i = 0
    while size < keep:
        s = _splitmix64(s)
        line = "<p>%d %016x</p>\n" % (i, s)
        parts.append(line)
        size += len(line)
        i += 1
    return "".join(parts)[:keep] + _BODY_SUFFIX


def _simulate(url, seed=None, latency_s=None, host_latency=None):
    """(status, latency_s, body) for GET url, exactly as net.rs's simulate().

    Arguments left as None come from the environment (see _config)."""
    env_seed, env_latency, env_hosts = _config()
    seed = env_seed if seed is None else seed
    latency_s = env_latency if latency_s is None else latency_s
    host_latency = env_hosts if host_latency is None else host_latency
    host, rest, _https = _parse(url)
    h = _splitmix64(seed ^ _fnv1a64(url.encode("utf-8")))
    scale = latency_s
    for name, value in host_latency:
        if name.lower() == host.lower():
            scale = value  # the last matching entry wins
    latency = scale * (0.5 + (h % 1000) / 1000.0)
    return _status_for(_path_of(rest)), latency, _body_for(url, h)


def _is_loopback(url):
    try:
        host, _rest, https = _parse(url)
    except RequestException:
        return False
    return not https and (host == "127.0.0.1" or host.lower() == "localhost")


def _fetch_loopback(url, timeout=10.0):
    """(status, latency_s, body) from a real GET of a loopback URL (urllib.request)."""
    import urllib.error
    import urllib.request

    start = _time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as res:
            status, data = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    except (TimeoutError, _socket_timeout()) as e:
        raise ReadTimeout("Read timed out. (%s)" % e)
    except urllib.error.URLError as e:
        raise ConnectionError(str(e.reason))
    except OSError as e:
        raise ConnectionError(str(e))
    return status, _time.perf_counter() - start, data.decode("utf-8", "replace")


def _socket_timeout():
    import socket

    return socket.timeout


def _decode_work(body_len):
    """The CPU cost of reading .text: body_len // 4 simple iterations, holding the GIL."""
    n = 0
    for _ in range(_decode_cost_iterations(body_len)):
        n += 1
    return n


_REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently",
    302: "Found", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


def _http_error_message(status, url):
    if 400 <= status < 500:
        kind = "Client"
    elif 500 <= status < 600:
        kind = "Server"
    else:
        return None
    return "%d %s Error: %s for url: %s" % (status, kind, _REASONS.get(status, ""), url)


# ---------------------------------------------------------------- exceptions

class RequestException(IOError):
    def __init__(self, *args, **kwargs):
        self.response = kwargs.pop("response", None)
        self.request = kwargs.pop("request", None)
        super().__init__(*args, **kwargs)


class HTTPError(RequestException):
    pass


class ConnectionError(RequestException):
    pass


class Timeout(RequestException):
    pass


class ConnectTimeout(ConnectionError, Timeout):
    pass


class ReadTimeout(Timeout):
    pass


class InvalidURL(RequestException, ValueError):
    pass


class MissingSchema(RequestException, ValueError):
    pass


class InvalidSchema(RequestException, ValueError):
    pass


exceptions = _types.ModuleType("requests.exceptions")
for _cls in (RequestException, HTTPError, ConnectionError, Timeout, ConnectTimeout,
             ReadTimeout, InvalidURL, MissingSchema, InvalidSchema):
    setattr(exceptions, _cls.__name__, _cls)
_sys.modules["requests.exceptions"] = exceptions


# ---------------------------------------------------------------- the API

class Response:
    def __init__(self, url, status, body, latency_s):
        self.url = url
        self.status_code = status
        self.reason = _REASONS.get(status, "")
        self._body = body
        self.elapsed_s = latency_s
        self.headers = {"Content-Type": "text/html; charset=utf-8",
                        "Content-Length": str(len(body.encode("utf-8")))}
        self.encoding = "utf-8"

    @property
    def text(self):
        _decode_work(len(self._body))
        return self._body

    @property
    def content(self):
        return self._body.encode("utf-8")

    @property
    def ok(self):
        return self.status_code < 400

    def raise_for_status(self):
        msg = _http_error_message(self.status_code, self.url)
        if msg is not None:
            raise HTTPError(msg, response=self)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "<Response [%d]>" % self.status_code


def _get(url, timeout=None):
    if _is_loopback(url):
        t = timeout
        if isinstance(t, tuple):
            t = t[-1]
        status, latency, body = _fetch_loopback(url, 10.0 if t is None else t)
    else:
        # `timeout` is accepted and ignored, as in gilsim: simulated requests never
        # time out.
        status, latency, body = _simulate(url)
        _time.sleep(latency)
    return Response(url, status, body, latency)


def get(url, params=None, timeout=None, **kwargs):
    return _get(url, timeout)


class Session:
    def __init__(self):
        self.headers = {}

    def get(self, url, params=None, timeout=None, **kwargs):
        return _get(url, timeout)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def session():
    return Session()
