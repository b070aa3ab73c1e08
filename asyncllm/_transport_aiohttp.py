"""An httpx transport backed by aiohttp, for asyncio only.

httpx's own transport costs several times the client CPU of aiohttp per request on asyncio
(see ``benchmarks/http_transport.py``), so on asyncio ``_http`` sends its ``httpx.Request``
objects through this class instead. It is the one place in the library that touches asyncio
directly: aiohttp only runs there. httpx-aiohttp 0.2.0 works with httpx 0.28 too, but it maps
every ``ClientConnectionError`` (a server dropping a stream mid-body included) to
``httpx.ConnectTimeout``; we need connect failures, connect timeouts and mid-body drops kept
apart, so this small transport maps them itself.

Timeouts other than ``connect`` are enforced by the caller with anyio cancel scopes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import httpx
from yarl import URL

__all__ = ["AiohttpTransport", "RawAnswer", "running_loop"]


def running_loop() -> object:
    """The running asyncio loop: the pool registry's key on asyncio."""
    return asyncio.get_running_loop()


def _map_error(exc: BaseException) -> httpx.TransportError:
    """aiohttp → httpx error, keeping the distinctions ``_http`` turns into its own tree."""
    msg = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(msg)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(msg)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(msg)
    if isinstance(exc, aiohttp.ClientResponseError):  # bad status line / headers
        return httpx.RemoteProtocolError(msg)
    return httpx.ReadError(msg)


class _ResponseStream(httpx.AsyncByteStream):
    """The body of one aiohttp response, as httpx wants it."""

    __slots__ = ("_done", "_resp")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._resp.content
        try:
            while True:
                # readany() hands over whatever has arrived: SSE chunks are not held back.
                chunk = await content.readany()
                if not chunk:
                    break
                yield chunk
        except (aiohttp.ClientError, OSError) as exc:
            raise _map_error(exc) from exc
        self._done = True

    async def aclose(self) -> None:
        # A fully read body returns its connection to the pool; anything else (cancelled,
        # abandoned, failed) closes the socket, so the server sees the disconnect at once.
        if self._done:
            self._resp.release()
        else:
            self._resp.close()


class RawAnswer:
    """One response on the lean path: status and headers, then body chunks until ``b""``.

    The caller must end it with :meth:`release` (body read to its end: the connection goes
    back to the pool) or :meth:`close` (anything else: the socket is closed).
    """

    __slots__ = ("_resp", "headers", "reason_phrase", "status_code")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status_code = resp.status
        self.reason_phrase = resp.reason or ""
        # Case-insensitive, read-only; aiohttp has already undone any Content-Encoding.
        self.headers: Mapping[str, str] = resp.headers

    async def read_some(self) -> bytes:
        try:
            return await self._resp.content.readany()
        except (aiohttp.ClientError, OSError) as exc:
            raise _map_error(exc) from exc

    def release(self) -> None:
        self._resp.release()

    def close(self) -> None:
        self._resp.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One pooled ``aiohttp.ClientSession`` behind the httpx transport interface.

    :meth:`send_raw` is the lean path ``_http`` takes for bodies it already holds as bytes:
    no ``httpx.Request``/``httpx.Response`` is built, which is most of what the httpx
    interface costs per small request.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        # Both repeat on every call and cost measurable CPU to build: keep them.
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}

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
                       connect_timeout: float | None) -> RawAnswer:
        """Send ``body`` and return once the status line and headers are in."""
        session = self._session
        if session is None:
            session = self._session = self._open()
        try:
            resp = await session.request(method, self._url(url), headers=headers, data=body,
                                         allow_redirects=False, timeout=self._timeout(connect_timeout))
        except (aiohttp.ClientError, OSError) as exc:
            raise _map_error(exc) from exc
        return RawAnswer(resp)

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=self._limits.keepalive_expiry or 0,
        )
        # No cookie jar: API clients must not carry state between calls. aiohttp decompresses
        # (it asks for gzip/deflate); the headers httpx sees then drop Content-Encoding/-Length.
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session
        if session is None:
            session = self._session = self._open()
        timeout: dict[str, Any] = request.extensions.get("timeout") or {}
        body = request.content or None
        try:
            resp = await session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body,
                allow_redirects=False,
                timeout=self._timeout(timeout.get("connect")),
            )
        except (aiohttp.ClientError, OSError) as exc:
            raise _map_error(exc) from exc
        raw_headers = resp.raw_headers
        if "Content-Encoding" in resp.headers:  # the body we hand on is already decoded
            raw_headers = tuple((k, v) for k, v in raw_headers
                                if k.lower() not in (b"content-encoding", b"content-length"))
        return httpx.Response(
            status_code=resp.status,
            headers=raw_headers,
            stream=_ResponseStream(resp),
            request=request,
            # asyncllm._http.DECODED (not imported: _http imports this module lazily)
            extensions={"http_version": b"HTTP/1.1", "asyncllm.decoded": True},
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
