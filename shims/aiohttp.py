# gilsim shim for `aiohttp`: mirrors src/concurrency/net.rs and must stay in sync
# with it (tests/net.rs cross-checks the numbers). Put shims/ on PYTHONPATH to run a
# Toy program that uses aiohttp under real CPython against the same simulated
# network gilsim uses:
#
#     GILSIM_SEED=0 GILSIM_LATENCY=100ms PYTHONPATH=shims python3 programs/x.toy
#
# The model lives in the sibling shim shims/requests.py (same directory), which
# documents it: h = splitmix64(seed ^ fnv1a64(url)), latency = scale * (0.5 +
# (h % 1000) / 1000.0) seconds, status from "/404" or "/500" in the path, an ASCII
# body of 2000 + splitmix64(h) % 8000 bytes. Here each GET waits with
# `await asyncio.sleep(latency)` (the event loop runs other tasks meanwhile), and
# `await res.text()` does len(body) // 4 iterations of pure-Python work standing for
# decoding, as net.rs's decode_cost_iterations. Loopback URLs are fetched for real
# (urllib.request in the loop's default executor).

import asyncio as _asyncio

import requests as _net

if not getattr(_net, "_GILSIM_SHIM", False):
    raise ImportError(
        "gilsim's aiohttp shim needs gilsim's requests shim (shims/requests.py) "
        "first on sys.path, not the real requests"
    )

_GILSIM_SHIM = True
__version__ = "3.9.0+gilsim"


class ClientError(Exception):
    pass


class InvalidURL(ClientError, ValueError):
    pass


class ClientConnectionError(ClientError):
    pass


class ServerTimeoutError(ClientConnectionError, _asyncio.TimeoutError):
    pass


class ClientResponseError(ClientError):
    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status
        self.message = message


class ClientTimeout:
    """Accepted and ignored, as in gilsim: simulated requests never time out."""

    def __init__(self, total=None, connect=None, sock_read=None, sock_connect=None):
        self.total = total
        self.connect = connect
        self.sock_read = sock_read
        self.sock_connect = sock_connect


class ClientResponse:
    def __init__(self, url, status, body, latency_s):
        self.url = url
        self.status = status
        self.reason = _net._REASONS.get(status, "")
        self._body = body
        self.elapsed_s = latency_s
        self.headers = {"Content-Type": "text/html; charset=utf-8",
                        "Content-Length": str(len(body.encode("utf-8")))}

    @property
    def ok(self):
        return self.status < 400

    async def text(self, encoding=None):
        _net._decode_work(len(self._body))
        return self._body

    async def read(self):
        return self._body.encode("utf-8")

    def raise_for_status(self):
        if self.status >= 400:
            raise ClientResponseError(
                "%d, message=%r, url=%r" % (self.status, self.reason, self.url),
                status=self.status,
            )

    def release(self):
        pass

    def close(self):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.release()
        return False

    def __repr__(self):
        return "<ClientResponse(%s) [%d %s]>" % (self.url, self.status, self.reason)


async def _get(url):
    try:
        if _net._is_loopback(url):
            loop = _asyncio.get_running_loop()
            status, latency, body = await loop.run_in_executor(None, _net._fetch_loopback, url)
        else:
            status, latency, body = _net._simulate(url)
            await _asyncio.sleep(latency)
    except (_net.InvalidURL, _net.MissingSchema, _net.InvalidSchema) as e:
        raise InvalidURL(str(e)) from None
    except _net.Timeout as e:
        raise ServerTimeoutError(str(e)) from None
    except _net.ConnectionError as e:
        raise ClientConnectionError(str(e)) from None
    return ClientResponse(url, status, body, latency)


class _RequestContextManager:
    """What session.get(url) returns: awaitable, or an async context manager."""

    def __init__(self, coro):
        self._coro = coro
        self._resp = None

    def __await__(self):
        return self._coro.__await__()

    async def __aenter__(self):
        self._resp = await self._coro
        return self._resp

    async def __aexit__(self, *exc):
        if self._resp is not None:
            self._resp.release()
        return False


class ClientSession:
    def __init__(self, *args, timeout=None, **kwargs):
        self.timeout = timeout
        self.closed = False

    def get(self, url, **kwargs):
        if self.closed:
            raise RuntimeError("Session is closed")
        return _RequestContextManager(_get(url))

    async def close(self):
        self.closed = True

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()
        return False
