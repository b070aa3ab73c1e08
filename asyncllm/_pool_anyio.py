"""The connection pool ``_http`` uses where aiohttp cannot run (trio, or asyncio without the
``fast`` extra): HTTP/1.1 over anyio sockets, parsed by h11.

httpx's own transport (httpcore) rescans every queued request against every connection on
each pool operation, so its cost per call grows with concurrency: at 32 concurrent calls on
trio it spent ~12 ms of client CPU per small request here, most of it in that scan. This pool
keeps idle connections in a LIFO list and caps in-flight calls with a semaphore, so a call
costs the same at any concurrency.

Proxies: an ``http://`` target goes to the proxy in absolute form (``GET http://host/path``) with
the proxy's credentials in ``Proxy-Authorization``; an ``https://`` target goes through a
``CONNECT host:port`` tunnel, then TLS to the target inside it. An ``https://`` proxy is reached
over TLS first. TLS trust comes from ``_tls`` (the same contexts the aiohttp pool uses).

What it does not do (no provider needs it on this path): HTTP/2, redirects,
``Expect: 100-continue``. It does not ask for compression; a compressed non-streamed body is
decoded by ``_http``. aiohttp-style errors are raised as httpx's classes, like the aiohttp pool.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import anyio
import anyio.abc
import h11
import httpx
from anyio.streams.tls import TLSStream

from asyncllm._http_answer import waited
from asyncllm._proxy import ProxyFailure, ProxyURL, proxy_refusal
from asyncllm._tls import MTLS_HINT, CertSpec, TLSFailure, Verify, client_context, tls_failure

__all__ = ["AnyioPool"]

_READ_SIZE = 64 * 1024

_USER_AGENT = "asyncllm"
_NEVER = float("inf")


class _Conn:
    """One kept-alive socket and its h11 state machine."""

    __slots__ = ("expires", "h11", "stream")

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)
        self.expires = 0.0

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):  # a cancelled caller must still free the socket
            await self.stream.aclose()


def _read_error(exc: BaseException) -> httpx.TransportError:
    msg = str(exc) or type(exc).__name__
    if isinstance(exc, h11.RemoteProtocolError | anyio.EndOfStream | anyio.IncompleteRead):
        return httpx.RemoteProtocolError(msg)
    return httpx.ReadError(msg)


class AnyioAnswer:
    """One response on an h11 connection, as ``_http_answer.Answer``."""

    __slots__ = ("_conn", "_done", "_pool", "headers", "reason_phrase", "status_code")
    decoded = False

    def __init__(self, pool: AnyioPool, conn: _Conn, response: h11.Response) -> None:
        self._pool, self._conn = pool, conn
        self._done = False
        self.status_code = response.status_code
        self.reason_phrase = response.reason.decode("latin-1")
        self.headers: Mapping[str, str] = httpx.Headers(response.headers.raw_items())

    async def read_some(self) -> bytes:
        return await self.read_within(_NEVER, _NEVER)

    async def read_within(self, idle: float, until: float) -> bytes:
        if self._done:
            return b""
        conn = self._conn
        try:
            while True:
                event = conn.h11.next_event()
                if event is h11.NEED_DATA:
                    # A deadline scope only around a read that waits on the socket: h11 often
                    # has the next bytes parsed already.
                    if until == _NEVER and idle == _NEVER:
                        data = await _receive(conn.stream)
                    else:
                        data = await waited(_receive(conn.stream), min(anyio.current_time() + idle, until))
                    conn.h11.receive_data(data)
                elif type(event) is h11.Data:
                    if event.data:
                        return bytes(event.data)
                elif type(event) is h11.EndOfMessage:
                    self._done = True
                    return b""
                else:  # ConnectionClosed before the end of the body
                    raise httpx.RemoteProtocolError("the server closed the connection mid-body")
        except (h11.RemoteProtocolError, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise _read_error(exc) from exc

    async def aclose(self, complete: bool) -> None:
        await self._pool._release(self._conn, reusable=complete and self._done)


@asynccontextmanager
async def _closed_on_error(stream: anyio.abc.ByteStream) -> AsyncIterator[None]:
    """Close ``stream`` (even while cancelled) when the block fails: a half-open connection
    must not wait for the garbage collector."""
    try:
        yield
    except BaseException:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
        raise


async def _receive(stream: anyio.abc.ByteStream) -> bytes:
    try:
        return await stream.receive(_READ_SIZE)
    except anyio.EndOfStream:
        return b""  # h11 takes b"" as the peer's EOF


def _wire_bytes(conn: h11.Connection, request: h11.Request, body: bytes | None) -> bytes:
    """The request as it goes on the wire: head, body, end."""
    data = conn.send(request) or b""
    if body:
        data += conn.send(h11.Data(data=body)) or b""
    return data + (conn.send(h11.EndOfMessage()) or b"")


class AnyioPool:
    """Kept-alive HTTP/1.1 connections to one origin (opened on demand, reused LIFO)."""

    def __init__(self, origin: str, limits: httpx.Limits, proxy: ProxyURL | None = None,
                 verify: Verify = True, cert: CertSpec | None = None) -> None:
        u = urlsplit(origin)
        self._origin = origin
        self._proxy = proxy
        self._verify, self._cert = verify, cert
        self._ctx: ssl.SSLContext | None = None
        self._proxy_ctx: ssl.SSLContext | None = None
        self._tls = u.scheme == "https"
        self._host = u.hostname or ""
        self._port = u.port or (443 if self._tls else 80)
        default = 443 if self._tls else 80
        self._host_header = self._host if self._port == default else f"{self._host}:{self._port}"
        if ":" in self._host and self._port != default:  # IPv6 literal
            self._host_header = f"[{self._host}]:{self._port}"
        elif ":" in self._host:
            self._host_header = f"[{self._host}]"
        self._max_idle = limits.max_keepalive_connections or 0
        self._keepalive = limits.keepalive_expiry or 0.0
        self._max_active = limits.max_connections or 1 << 16
        self._idle: list[_Conn] = []
        self._sem: anyio.Semaphore | None = None
        self._targets: dict[str, bytes] = {}
        # Plain http through a proxy: requests name the whole URL, and carry the proxy's credentials.
        self._forward = proxy is not None and not self._tls
        self._extra: list[tuple[str, str]] = (
            [("proxy-authorization", proxy.auth_header)] if self._forward and proxy and proxy.auth_header else [])
        self._closed = False

    def _target(self, url: str) -> bytes:
        t = self._targets.get(url)
        if t is None:
            u = urlsplit(url)
            path = (u.path or "/") + (f"?{u.query}" if u.query else "")
            t = (self._origin + path if self._forward else path).encode("ascii")
            if len(self._targets) >= 256:
                self._targets.clear()
            self._targets[url] = t
        return t

    async def _connect(self, timeout: float | None) -> _Conn:
        where = self._host_header
        try:
            with anyio.fail_after(timeout):
                if self._proxy is None:
                    stream: anyio.abc.ByteStream = await anyio.connect_tcp(self._host, self._port)
                else:
                    where = f"the proxy {self._proxy.redacted()}"
                    stream = await self._open_proxy()
                    where = self._host_header
                if self._tls:
                    async with _closed_on_error(stream):
                        if self._proxy is not None:
                            await self._tunnel(stream)
                        if self._ctx is None:
                            self._ctx = await client_context(self._verify, self._cert)
                        stream = await TLSStream.wrap(stream, hostname=self._host, ssl_context=self._ctx,
                                                      standard_compatible=False)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {where} took over {timeout:g}s") from exc
        except (ProxyFailure, TLSFailure):
            raise
        except (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            if (tls := tls_failure(exc, where)) is not None:  # the proxy's certificate, or the target's
                raise tls from exc
            msg = str(exc) or type(exc).__name__
            if where != self._host_header:
                raise ProxyFailure(f"could not connect to {where}: {msg}") from exc
            raise httpx.ConnectError(msg) from exc
        return _Conn(stream)

    async def _open_proxy(self) -> anyio.abc.ByteStream:
        """A connection to the proxy (over TLS for an https:// proxy)."""
        proxy = self._proxy
        assert proxy is not None
        stream: anyio.abc.ByteStream = await anyio.connect_tcp(proxy.host, proxy.port)
        if proxy.tls:
            async with _closed_on_error(stream):
                if self._proxy_ctx is None:
                    self._proxy_ctx = await client_context(self._verify, None)
                stream = await TLSStream.wrap(stream, hostname=proxy.host, ssl_context=self._proxy_ctx,
                                              standard_compatible=False)
        return stream

    async def _tunnel(self, stream: anyio.abc.ByteStream) -> None:
        """``CONNECT host:port`` through the proxy; returns once the tunnel is open."""
        proxy = self._proxy
        assert proxy is not None
        authority = f"[{self._host}]:{self._port}" if ":" in self._host else f"{self._host}:{self._port}"
        headers = [("host", authority)]
        if proxy.auth_header:
            headers.append(("proxy-authorization", proxy.auth_header))
        h = h11.Connection(h11.CLIENT)
        await stream.send((h.send(h11.Request(method="CONNECT", target=authority, headers=headers)) or b"")
                          + (h.send(h11.EndOfMessage()) or b""))
        while True:
            event = h.next_event()
            if event is h11.NEED_DATA:
                data = await _receive(stream)
                if not data:
                    raise ProxyFailure(f"the proxy {proxy.redacted()} closed the connection instead of "
                                       f"opening a tunnel to {authority}")
                h.receive_data(data)
            elif type(event) is h11.Response:
                if 200 <= event.status_code < 300:
                    return
                raise proxy_refusal(proxy.redacted(), event.status_code, event.reason.decode("latin-1"), authority)
            elif type(event) is not h11.InformationalResponse:
                raise ProxyFailure(f"the proxy {proxy.redacted()} answered CONNECT with {type(event).__name__}")

    def _take_idle(self) -> tuple[_Conn | None, list[_Conn]]:
        """The freshest usable idle connection, and the stale ones to close."""
        now = anyio.current_time()
        stale: list[_Conn] = []
        while self._idle:
            conn = self._idle.pop()
            if conn.expires > now and conn.h11.our_state is h11.IDLE:
                return conn, stale
            stale.append(conn)
        return None, stale

    async def send_raw(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                       connect_timeout: float | None, deadline: float = _NEVER) -> AnyioAnswer:
        """Send ``body``; return once the status line and headers are in (``ReadDeadline`` when
        they are not by ``deadline``)."""
        if deadline == _NEVER:
            return await self._send(method, url, headers, body, connect_timeout)
        return await waited(self._send(method, url, headers, body, connect_timeout), deadline)

    async def _send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                    connect_timeout: float | None) -> AnyioAnswer:
        if self._closed:
            raise httpx.ConnectError("the connection pool is closed")
        if self._sem is None:
            self._sem = anyio.Semaphore(self._max_active)
        await self._sem.acquire()
        try:
            hdrs = list(headers.items())
            given = {k.lower() for k, _ in hdrs}
            if "host" not in given:
                hdrs.insert(0, ("host", self._host_header))
            if "user-agent" not in given:
                hdrs.append(("user-agent", _USER_AGENT))
            if body is not None and "content-length" not in given:
                hdrs.append(("content-length", str(len(body))))
            if self._extra:
                hdrs.extend(self._extra)
            request = h11.Request(method=method, target=self._target(url), headers=hdrs)
            conn, stale = self._take_idle()
            for s in stale:
                await s.close()
            if conn is not None:
                try:
                    return await self._exchange(conn, request, body)
                except _StaleConnection:
                    pass  # the server dropped an idle connection before we used it: one fresh try
            conn = await self._connect(connect_timeout)
            try:
                return await self._exchange(conn, request, body)
            except _StaleConnection as exc:
                raise httpx.RemoteProtocolError("the server closed the connection without answering"
                                                + (MTLS_HINT if self._tls and self._cert is None else "")) from exc
        except BaseException:
            self._sem.release()
            raise

    async def _exchange(self, conn: _Conn, request: h11.Request, body: bytes | None) -> AnyioAnswer:
        got_bytes = False
        try:
            # The wire bytes are a temporary: held in a local, they would be a second copy of the
            # body kept for as long as the answer takes.
            await conn.stream.send(_wire_bytes(conn.h11, request, body))
            while True:
                event = conn.h11.next_event()
                if event is h11.NEED_DATA:
                    chunk = await _receive(conn.stream)
                    got_bytes = got_bytes or bool(chunk)
                    conn.h11.receive_data(chunk)
                elif type(event) is h11.Response:
                    return AnyioAnswer(self, conn, event)
                elif type(event) is h11.ConnectionClosed and not got_bytes:
                    raise _StaleConnection
                elif type(event) is not h11.InformationalResponse:
                    raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} before the response")
        except BaseException as exc:
            await conn.close()
            if isinstance(exc, ssl.SSLError):  # e.g. TLS 1.3: a refused client certificate shows on the first read
                raise tls_failure(exc, self._host_header) or httpx.ConnectError(str(exc)) from exc
            # Before any byte of an answer, EOF (h11 reports it as a protocol error), a reset or
            # a broken pipe means the server had dropped the idle connection.
            if not got_bytes and isinstance(exc, h11.RemoteProtocolError | anyio.BrokenResourceError
                                            | anyio.ClosedResourceError | OSError):
                raise _StaleConnection from exc
            if isinstance(exc, h11.RemoteProtocolError | anyio.BrokenResourceError | OSError):
                raise _read_error(exc) from exc
            raise

    async def _release(self, conn: _Conn, reusable: bool) -> None:
        assert self._sem is not None
        self._sem.release()
        if reusable and not self._closed and conn.h11.their_state is h11.DONE and conn.h11.our_state is h11.DONE:
            conn.h11.start_next_cycle()
            if len(self._idle) < self._max_idle:
                conn.expires = anyio.current_time() + self._keepalive
                self._idle.append(conn)
                return
        await conn.close()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


class _StaleConnection(Exception):
    """A reused connection failed before any byte of the answer: safe to send again."""
