"""The connection pool ``_http`` uses on asyncio: one ``aiohttp.ClientSession`` per origin.

httpx's own transport costs several times the client CPU of aiohttp per request on asyncio,
and even over an aiohttp-backed httpx transport, building ``httpx.Request``/``httpx.Response``
objects is most of what a small JSON call costs (see ``benchmarks/http_transport.py``). So on
asyncio ``_http`` sends bytes through :meth:`AiohttpPool.send_raw` and reads a
:class:`RawAnswer`; elsewhere (trio) ``_pool_anyio`` does the same job. This is the
one place in the library that touches asyncio directly.

aiohttp errors are mapped to httpx's error classes here, keeping apart what ``_http`` must
tell apart: connect failures, connect timeouts, and connections that broke mid-body.

Deadlines are kept natively (``_http_answer`` says why): the headers under an
``asyncio.timeout_at``, body reads by a loop timer armed only when a read has to wait, which
fails the wait with ``ReadDeadline``. A read that finds bytes buffered arms nothing.

Proxies and TLS: the pool is built for one proxy (or none) and one trust setting (``_tls``), so
the per-request path passes the same prepared objects every time. An ``http://`` target gets the
proxy's credentials as a request header (aiohttp forwards it in absolute form); an ``https://``
target gets them on the ``CONNECT`` (aiohttp's ``proxy_headers``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx
from yarl import URL

from asyncllm._http_answer import ReadDeadline
from asyncllm._proxy import ProxyFailure, ProxyURL, proxy_refusal
from asyncllm._tls import MTLS_HINT, CertSpec, Verify, client_context, tls_failure

__all__ = ["AiohttpPool", "RawAnswer", "running_loop"]


def running_loop() -> object:
    """The running asyncio loop: the pool registry's key on asyncio."""
    return asyncio.get_running_loop()


def _map_error(exc: BaseException, pool: AiohttpPool | None = None) -> httpx.TransportError:
    """aiohttp → httpx error, keeping the distinctions ``_http`` turns into its own tree."""
    msg = str(exc) or type(exc).__name__
    host = pool.host if pool is not None else "the server"
    if pool is not None and pool.proxy is not None:
        shown = pool.proxy.redacted()
        if isinstance(exc, aiohttp.ClientHttpProxyError):
            return proxy_refusal(shown, exc.status, exc.message or "", host)
        if isinstance(exc, aiohttp.ClientProxyConnectionError):
            return ProxyFailure(f"could not connect to the proxy {shown}: {getattr(exc, 'os_error', msg)}")
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


class RawAnswer:
    """One aiohttp response as ``_http_answer.Answer``: status and headers, then body chunks."""

    __slots__ = ("_content", "_loop", "_resp", "headers", "reason_phrase", "status_code")
    # aiohttp undoes Content-Encoding itself (it asks for gzip/deflate).
    decoded = True

    def __init__(self, resp: aiohttp.ClientResponse, loop: asyncio.AbstractEventLoop) -> None:
        self._resp = resp
        self._content = resp.content
        self._loop = loop
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
            if chunk := content.read_nowait():  # bytes already in: no timer, no wait
                return chunk
            if content.is_eof():
                return b""
            loop = self._loop
            # The timer fails only this wait; a deadline that passed ends the answer anyway.
            timer = loop.call_at(min(loop.time() + idle, until), content.set_exception, ReadDeadline())
            try:
                return await content.readany()
            finally:
                timer.cancel()
        except (aiohttp.ClientError, OSError) as exc:
            raise _map_error(exc) from exc

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
        self._loop: asyncio.AbstractEventLoop | None = None
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
        self._loop = asyncio.get_running_loop()  # a pool lives in one loop (pools.py keys them so)
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
        limit = asyncio.timeout_at(deadline)
        try:
            async with limit:
                resp = await session.request(method, self._url(url), headers=headers, data=body,
                                             allow_redirects=False, timeout=self._timeout(connect_timeout),
                                             **self._proxy_kw)
        except (aiohttp.ClientError, OSError) as exc:
            if limit.expired():  # asyncio's TimeoutError (an OSError) for our deadline
                raise ReadDeadline from exc
            err = _map_error(exc, self)
            if self._tls_target and self._cert is None and isinstance(err, httpx.ReadError | httpx.RemoteProtocolError):
                err = type(err)(f"{err}{MTLS_HINT}")  # see MTLS_HINT
            raise err from exc
        assert self._loop is not None
        return RawAnswer(resp, self._loop)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
