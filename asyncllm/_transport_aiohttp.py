"""The connection pool ``_http`` uses on asyncio: one ``aiohttp.ClientSession`` per origin.

httpx's own transport costs several times the client CPU of aiohttp per request on asyncio,
and even over an aiohttp-backed httpx transport, building ``httpx.Request``/``httpx.Response``
objects is most of what a small JSON call costs (see ``benchmarks/http_transport.py``). So on
asyncio ``_http`` sends bytes through :meth:`AiohttpPool.send_raw` and reads a
:class:`RawAnswer`; elsewhere (trio) ``_pool_anyio`` does the same job. This is the
one place in the library that touches asyncio directly.

aiohttp errors are mapped to httpx's error classes here, keeping apart what ``_http`` must
tell apart: connect failures, connect timeouts, and connections that broke mid-body.

Deadlines are kept natively (``_http_answer`` says why), by one watchdog timer per pool
(``_Watchdog``): a wait for headers past its deadline is cancelled and turns into
``ReadDeadline`` (as ``asyncio.timeout_at`` would do it), a body read that has to wait is failed
with ``ReadDeadline``; a read that finds bytes buffered registers nothing.

Proxies and TLS: the pool is built for one proxy (or none) and one trust setting (``_tls``), so
the per-request path passes the same prepared objects every time. An ``http://`` target gets the
proxy's credentials as a request header (aiohttp forwards it in absolute form); an ``https://``
target gets them on the ``CONNECT`` (aiohttp's ``proxy_headers``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import httpx
from yarl import URL

from asyncllm._http_answer import ReadDeadline
from asyncllm._proxy import ProxyFailure, ProxyURL, proxy_refusal
from asyncllm._tls import MTLS_HINT, CertSpec, Verify, client_context, tls_failure

__all__ = ["AiohttpPool", "RawAnswer", "running_loop"]

_NEVER = float("inf")


def running_loop() -> object:
    """The running asyncio loop: the pool registry's key on asyncio."""
    return asyncio.get_running_loop()


def _map_error(exc: BaseException, pool: AiohttpPool | None = None) -> httpx.TransportError:
    """aiohttp → httpx error, keeping the distinctions ``_http`` turns into its own tree."""
    msg = str(exc) or type(exc).__name__
    host = pool.host if pool is not None else "the server"
    if pool is not None and pool.proxy is not None:
        proxy, shown = pool.proxy, pool.proxy.redacted()
        if isinstance(exc, aiohttp.ClientHttpProxyError):
            return proxy_refusal(shown, exc.status, exc.message or "", host)
        if isinstance(exc, aiohttp.ClientProxyConnectionError):
            return ProxyFailure(f"could not connect to the proxy {shown}: {getattr(exc, 'os_error', msg)}")
        if isinstance(exc, aiohttp.ClientConnectorError) and (exc.host, exc.port) == (proxy.host, proxy.port):
            host = f"the proxy {shown}"  # TLS to an https:// proxy failed, not TLS to the target
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return tls_failure(exc.certificate_error, host) or httpx.ConnectError(msg)
    if isinstance(exc, aiohttp.ClientSSLError):
        return tls_failure(getattr(exc, "os_error", exc), host) or httpx.ConnectError(msg)
    if isinstance(exc, ssl.SSLError):
        return tls_failure(exc, host) or httpx.ConnectError(msg)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(msg)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(msg)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(msg)
    if isinstance(exc, aiohttp.ClientResponseError):  # bad status line / headers
        return httpx.RemoteProtocolError(msg)
    return httpx.ReadError(msg)


class _Watchdog:
    """The deadlines of a pool's waits (headers, body reads) on one loop timer.

    A timer per wait costs a heap push and a cancel each time, and a stream waits once per
    token; here a wait costs a dict entry. The one timer is armed for the earliest deadline
    known when it is armed; when it fires, it expires every wait past its deadline and re-arms
    for the earliest left. Deadlines only move later as calls come and go (now + a timeout), so
    it fires about once per timeout, not once per wait.
    """

    __slots__ = ("_at", "_timer", "_waits", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._waits: dict[object, tuple[float, Callable[[], None]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._at = _NEVER

    def add(self, key: object, deadline: float, expire: Callable[[], None]) -> None:
        """Call ``expire()`` at ``deadline`` (loop clock) unless ``key`` is discarded first."""
        self._waits[key] = (deadline, expire)
        if deadline < self._at:
            if self._timer is not None:
                self._timer.cancel()
            self._at = deadline
            self._timer = self.loop.call_at(deadline, self._fire)

    def discard(self, key: object) -> None:
        self._waits.pop(key, None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._at = None, _NEVER

    def _fire(self) -> None:
        now = self.loop.time()
        self._timer, self._at = None, _NEVER
        due = [k for k, (deadline, _) in self._waits.items() if deadline <= now]
        for key in due:
            _, expire = self._waits.pop(key)
            expire()
        if self._waits:
            self._at = min(deadline for deadline, _ in self._waits.values())
            self._timer = self.loop.call_at(self._at, self._fire)


class _Expired:
    """Cancels a task waiting for headers whose deadline passed (see ``AiohttpPool.send_raw``)."""

    __slots__ = ("fired", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.fired = False

    def __call__(self) -> None:
        self.fired = True
        self.task.cancel()


class RawAnswer:
    """One aiohttp response as ``_http_answer.Answer``: status and headers, then body chunks."""

    __slots__ = ("_content", "_resp", "_watch", "headers", "reason_phrase", "status_code")
    # aiohttp undoes Content-Encoding itself (it asks for gzip/deflate).
    decoded = True

    def __init__(self, resp: aiohttp.ClientResponse, watch: _Watchdog) -> None:
        self._resp = resp
        self._content = resp.content
        self._watch = watch
        self.status_code = resp.status
        self.reason_phrase = resp.reason or ""
        self.headers: Mapping[str, str] = resp.headers  # case-insensitive, read-only

    async def read_some(self) -> bytes:
        try:
            # readany() hands over whatever has arrived: SSE chunks are not held back.
            return await self._content.readany()
        except (aiohttp.ClientError, OSError) as exc:
            raise _map_error(exc) from exc

    async def read_within(self, idle: float, until: float) -> bytes:
        content = self._content
        try:
            if chunk := content.read_nowait():  # bytes already in: no deadline, no wait
                return chunk
            if content.is_eof():
                return b""
            watch = self._watch
            # Expiry fails only this wait; a deadline that passed ends the answer anyway.
            watch.add(self, min(watch.loop.time() + idle, until), self._expire)
            try:
                return await content.readany()
            finally:
                watch.discard(self)
        except (aiohttp.ClientError, OSError) as exc:
            raise _map_error(exc) from exc

    def _expire(self) -> None:
        self._content.set_exception(ReadDeadline())

    async def aclose(self, complete: bool) -> None:
        # Neither call awaits, so a cancelled caller cannot interrupt the close.
        if complete:
            self._resp.release()
        else:
            self._resp.close()


class AiohttpPool:
    """One pooled ``aiohttp.ClientSession`` (opened on first use) for one origin."""

    def __init__(self, limits: httpx.Limits, origin: str = "", proxy: ProxyURL | None = None,
                 verify: Verify = True, cert: CertSpec | None = None) -> None:
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._watch: _Watchdog | None = None
        # Both repeat on every call and cost measurable CPU to build: keep them.
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}
        self.host = URL(origin).host or "the server" if origin else "the server"
        self._tls_target = origin.startswith("https:")
        self._tls_needed = self._tls_target or (proxy is not None and proxy.tls)
        self._verify, self._cert = verify, cert
        self.proxy = proxy
        # What every request of a proxied pool adds (empty for the common, direct case).
        self._proxy_kw: dict[str, Any] = {}
        self._proxy_header: dict[str, str] | None = None
        if proxy is not None:
            self._proxy_kw["proxy"] = URL.build(scheme=proxy.scheme, host=proxy.host, port=proxy.port)
            if proxy.auth_header:
                if origin.startswith("https:"):
                    self._proxy_kw["proxy_headers"] = {"Proxy-Authorization": proxy.auth_header}
                else:
                    self._proxy_header = {"Proxy-Authorization": proxy.auth_header}

    async def _open(self) -> aiohttp.ClientSession:
        # Our own context for https (the same trust as the trio pool); aiohttp's default otherwise.
        ssl_arg: ssl.SSLContext | bool = True
        if self._tls_needed:
            ssl_arg = await client_context(self._verify, self._cert)
        if self._session is not None:  # another first call opened it while we waited
            return self._session
        self._watch = _Watchdog(asyncio.get_running_loop())  # a pool lives in one loop (pools.py keys them so)
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=self._limits.keepalive_expiry or 0,
            ssl=ssl_arg,
        )
        # No cookie jar: API clients must not carry state between calls.
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
            timeout=aiohttp.ClientTimeout(total=None),
        )

    def _timeout(self, connect: float | None) -> aiohttp.ClientTimeout:
        t = self._timeouts.get(connect)
        if t is None:
            t = self._timeouts[connect] = aiohttp.ClientTimeout(total=None, sock_connect=connect)
        return t

    def _url(self, url: str) -> URL:
        u = self._urls.get(url)
        if u is None:
            if len(self._urls) >= 256:
                self._urls.clear()
            u = self._urls[url] = URL(url)
        return u

    async def send_raw(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                       connect_timeout: float | None, deadline: float) -> RawAnswer:
        """Send ``body``; return once the status line and headers are in (``ReadDeadline`` when
        they are not by ``deadline``, on the loop's clock)."""
        session = self._session
        if session is None:
            session = self._session = await self._open()
        if self._proxy_header is not None:
            headers = {**headers, **self._proxy_header}
        watch = self._watch
        assert watch is not None
        # The headers' deadline on the pool's watchdog, as asyncio.timeout_at would keep it (the
        # task cancelled, the cancellation taken back and turned into ReadDeadline), without a
        # timer of its own per request.
        task = asyncio.current_task(watch.loop)  # with the loop given it skips a look-up of it
        assert task is not None
        expired = _Expired(task)
        cancelling = task.cancelling()
        watch.add(expired, deadline, expired)
        try:
            resp = await session.request(method, self._url(url), headers=headers, data=body,
                                         allow_redirects=False, timeout=self._timeout(connect_timeout),
                                         **self._proxy_kw)
        except asyncio.CancelledError:
            if expired.fired and task.uncancel() <= cancelling:
                raise ReadDeadline from None
            raise
        except (aiohttp.ClientError, OSError) as exc:
            if expired.fired:  # our cancellation, seen by aiohttp as a failure
                task.uncancel()
                raise ReadDeadline from exc
            err = _map_error(exc, self)
            if self._tls_target and self._cert is None and isinstance(err, httpx.ReadError | httpx.RemoteProtocolError):
                err = type(err)(f"{err}{MTLS_HINT}")  # see MTLS_HINT
            raise err from exc
        finally:
            watch.discard(expired)
        return RawAnswer(resp, watch)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if self._watch is not None:
            self._watch.close()
        if session is not None:
            await session.close()
