"""One HTTP answer as ``_http`` reads it, whichever transport produced it.

``_http`` never touches a transport's own response type: it sends through a *sender* and gets
back an :class:`Answer` (status, case-insensitive headers, body chunks, one way to end it).
Two kinds exist:

* a pool with ``send_raw`` (the aiohttp pool on asyncio) answers with its own light object;
  no ``httpx.Request``/``httpx.Response`` is built, which is most of what httpx's models cost
  on a small JSON call;
* any ``httpx.AsyncBaseTransport`` (one installed by a test, or given as
  ``HTTPSettings.client``) gets an ``httpx.Request`` built once per call, and its responses are
  wrapped in :class:`HttpxAnswer`;
* a caller's ``httpx.AsyncClient`` builds the request itself (its headers, auth, proxy and
  certificates apply) and sends it with ``client.send(stream=True)``, so its event hooks run on
  every attempt. Its timeouts are replaced by ours: connect from the settings, the rest by
  ``_http``'s deadlines.

Deadlines are the transport's to keep: ``send`` gets the time by which the headers must be in,
``read_within`` how long it may wait for more bytes. The aiohttp answer keeps them with a timer
only while it actually waits (most reads of a stream find bytes already buffered), which costs a
fraction of an anyio cancel scope per read; its pool says so with ``keeps_deadlines``. The others
wait under an anyio scope, which on trio costs ~8 µs to arm: where ``_http`` reads a whole body
through one of them it holds one scope for the attempt instead (given ``inf`` here, a transport
arms nothing). A deadline that passes raises :class:`ReadDeadline` and ``_http`` names which one
it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import anyio
import httpx

T = TypeVar("T")
_NEVER = float("inf")
__all__ = ["Answer", "HttpxAnswer", "RawPool", "ReadDeadline", "Sender", "sender"]


class ReadDeadline(Exception):
    """The headers or the next body bytes did not arrive by the deadline given to the transport.

    Not a ``TimeoutError``: that is an ``OSError``, which the transports map as network failures.
    """


async def waited(aw: Awaitable[T], deadline: float) -> T:
    """``await aw`` under an anyio scope ending at ``deadline`` (``anyio.current_time`` clock);
    :class:`ReadDeadline` when it ends first. For transports without a cheaper way of their own.
    No deadline (``inf``) arms no scope: the caller holds one of its own."""
    if deadline == _NEVER:
        return await aw
    with anyio.CancelScope(deadline=deadline) as scope:
        return await aw
    if scope.cancelled_caught:
        raise ReadDeadline
    raise AssertionError("unreachable")  # pragma: no cover


class Answer(Protocol):
    """Status and headers are in; the body is read with :meth:`read_some` until ``b""``."""

    status_code: int
    reason_phrase: str
    headers: Mapping[str, str]
    #: the body arrives with any Content-Encoding already undone
    decoded: bool

    async def read_some(self) -> bytes:
        """The next body bytes (``b""`` at the end); transport failures as ``httpx.TransportError``."""
        ...

    async def read_within(self, idle: float, until: float) -> bytes:
        """:meth:`read_some`, waiting at most ``idle`` seconds and never past ``until``
        (``anyio.current_time`` clock); :class:`ReadDeadline` when nothing came in time."""
        ...

    async def aclose(self, complete: bool) -> None:
        """End the answer: ``complete`` (body read to its end) hands the connection back to
        the pool; otherwise the socket is closed, so the server sees the disconnect at once."""
        ...


class RawPool(Protocol):
    """A connection pool that sends bytes and answers with an :class:`Answer` directly.

    A pool whose class sets ``keeps_deadlines = True`` keeps them cheaper than an anyio scope
    (``_http`` then hands it each deadline); without it, ``_http`` holds one scope per attempt
    where it can.
    """

    async def send_raw(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                       connect_timeout: float | None, deadline: float) -> Answer:
        """Send; return once the status line and headers are in, or raise :class:`ReadDeadline`
        when they are not by ``deadline`` (``anyio.current_time`` clock)."""
        ...

    async def aclose(self) -> None: ...


#: sends the request (again, on a retry); its argument is the deadline for the headers
Sender = Callable[[float], Awaitable[Answer]]


class HttpxAnswer:
    """An ``httpx.Response`` (from a bare transport) behind the :class:`Answer` interface."""

    __slots__ = ("_it", "headers", "reason_phrase", "response", "status_code")
    # httpx transports hand over the body as sent; httpx decodes only in Response.aread().
    decoded = False

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.reason_phrase = response.reason_phrase
        self.headers: Mapping[str, str] = response.headers
        self._it: AsyncIterator[bytes] = response.stream.__aiter__()  # type: ignore[union-attr]

    async def read_some(self) -> bytes:
        while True:  # a stream may yield empty chunks mid-body; b"" means the end here
            try:
                chunk = await self._it.__anext__()
            except StopAsyncIteration:
                return b""
            if chunk:
                return chunk

    async def read_within(self, idle: float, until: float) -> bytes:
        return await waited(self.read_some(), min(anyio.current_time() + idle, until))

    async def aclose(self, complete: bool) -> None:
        if complete:
            await self.response.aclose()
            return
        # Closing must finish even while the caller is being cancelled: that is what releases
        # the socket. The unfinished body iterator goes first, so its generator does not
        # linger until garbage collection.
        with anyio.move_on_after(5, shield=True):
            aclose = getattr(self._it, "aclose", None)
            if aclose is not None:
                await aclose()
            await self.response.aclose()


class _RawSend:
    """Sends one request through a :class:`RawPool`. Every call in flight holds its sender, so it
    is a slotted object: a closure over the same six values costs several times its memory."""

    __slots__ = ("body", "connect_timeout", "headers", "keeps_deadlines", "method", "pool", "url")

    def __init__(self, pool: RawPool, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                 connect_timeout: float | None) -> None:
        self.pool, self.method, self.url, self.headers = pool, method, url, headers
        self.body, self.connect_timeout = body, connect_timeout
        self.keeps_deadlines: bool = getattr(pool, "keeps_deadlines", False)

    def __call__(self, deadline: float) -> Awaitable[Answer]:
        return self.pool.send_raw(self.method, self.url, self.headers, self.body, self.connect_timeout, deadline)


def sender(pool: Any, method: str, url: str, parsed: httpx.URL, headers: Mapping[str, str],
           body: bytes | None, connect_timeout: float | None) -> Sender:
    """A callable that sends this request (again, on a retry) through ``pool``."""
    if hasattr(pool, "send_raw"):
        return _RawSend(pool, method, url, headers, body, connect_timeout)
    if isinstance(pool, httpx.AsyncClient):
        client = pool
        built = client.build_request(method, parsed, headers=headers, content=body,
                                     timeout=httpx.Timeout(None, connect=connect_timeout))

        async def send_client(deadline: float) -> Answer:
            return HttpxAnswer(await waited(client.send(built, stream=True, follow_redirects=False), deadline))
        return send_client
    transport: httpx.AsyncBaseTransport = pool
    request = httpx.Request(method, parsed, headers=headers, content=body,
                            extensions={"timeout": {"connect": connect_timeout, "read": None,
                                                    "write": None, "pool": None}})

    async def send_httpx(deadline: float) -> Answer:
        return HttpxAnswer(await waited(transport.handle_async_request(request), deadline))
    return send_httpx
