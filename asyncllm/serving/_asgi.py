"""ASGI plumbing of the served-module app: the guard middleware, JSON and SSE responses,
bounded body reading, and running work that a client disconnect cancels.

The guard runs before any routing, so every route (built-in, OpenAI face, custom routes)
gets the same checks, in this order: the bearer key (compared in constant time; a request
without it gets its 401 at once, without the server reading its body, and the connection is
closed), header size, declared body size. Only ``/health`` is open without the key: it says
nothing but "ok", and launchers and load balancers need it before they hold the key. The
whole body must then arrive within ``body_timeout`` seconds (408 after, and the connection
is closed), so a client that trickles its body cannot hold a connection open: asyncllm's own
servers keep that deadline at the connection (serving/_hypercorn.py); when the app is mounted
in another server, the guard keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson
import sniffio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import _tracing
from ._logging import throttled
from .options import ServerOptions
from .wire import SESSION_HEADER, error_body

__all__ = ["BodyTimeout", "EventStream", "Guard", "HTTPFail", "accept", "json_response", "read_json",
           "run_unless_disconnected", "session_header"]

# Answers after which the connection is closed: the client's body may still be on its way
# (we did not read it), or the client is too slow to keep.
_CLOSE_AFTER = frozenset({401, 408})


class HTTPFail(Exception):
    """Abort a request with a JSON error body (caught by the endpoint wrapper)."""

    def __init__(self, status: int, type_: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.extra = extra

    def response(self) -> Response:
        headers = {"x-should-retry": "false"} if self.status >= 500 else None
        if self.status in _CLOSE_AFTER:
            headers = {"connection": "close"}
        return json_response(error_body(self.type, self.message, **self.extra), self.status, headers)


class BodyTimeout(Exception):
    """The request body did not arrive within the server's ``body_timeout``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g}s; send it faster, or raise "
                         "the server's body_timeout")
        self.seconds = seconds


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


_SESSION = SESSION_HEADER.encode("latin-1")
# Where the guard leaves the headers the routes read: (content-type, accept, session), raw.
_READ = "asyncllm.headers"
_Read = tuple[bytes | None, bytes | None, bytes | None]


def _scan(headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes | None, bytes | None, _Read]:
    """One pass over a request's headers (names in lower case, as ASGI servers give them): their
    size, authorization, content-length, and what the routes read (:data:`_READ`)."""
    auth = length = ctype = accepted = sess = None
    size = 0
    for k, v in headers:
        size += len(k) + len(v)
        if k == b"authorization":
            auth = v
        elif k == b"content-length":
            length = v
        # A header sent twice: the routes read the first (as starlette's ``headers.get`` does).
        elif k == b"content-type":
            ctype = ctype or v
        elif k == b"accept":
            accepted = accepted or v
        elif k == _SESSION:
            sess = sess or v
    return size, auth, length, (ctype, accepted, sess)


def _read(request: Request) -> _Read:
    """What the guard read of the request's headers; scanned here when no guard ran (the app
    mounted without one)."""
    scope = request.scope
    read: _Read | None = scope.get(_READ)
    if read is None:
        read = scope[_READ] = _scan(scope["headers"])[3]
    return read


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else str(raw, "latin-1")


def accept(request: Request) -> str | None:
    """The request's ``Accept`` header."""
    return _text(_read(request)[1])


def session_header(request: Request) -> str | None:
    """The request's session header (:data:`~asyncllm.serving.wire.SESSION_HEADER`)."""
    return _text(_read(request)[2])


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


class Guard:
    """Key, size and body-deadline checks for every HTTP request, before the router sees it.

    ``timed_body``: whether the guard keeps the body deadline itself (a timer per body read).
    asyncllm's own servers turn it off, since their connections keep it (serving/_hypercorn.py);
    an app mounted in another ASGI server keeps it on.
    """

    timed_body = True

    def __init__(self, app: ASGIApp, options: ServerOptions, metrics: Any = None) -> None:
        self.app = app
        self.metrics = metrics
        key = options.security_key
        self._expected = b"Bearer " + key.encode() if key else None
        self.max_body = options.max_body_bytes
        self.max_header = options.max_header_bytes
        self.body_timeout = options.body_timeout

    def __repr__(self) -> str:  # never show the key
        return f"<Guard keyed={self._expected is not None} max_body={self.max_body}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.metrics is None:
            await self._traced(scope, receive, send)
            return
        send, done = self._measured(scope, send)
        try:
            await self._traced(scope, receive, send)
        finally:
            done()

    async def _traced(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _tracing.TRACER is None:
            await self._handle(scope, receive, send)
            return
        # Traced: a server span that continues the caller's trace (W3C traceparent).
        with _tracing.server_span(scope["method"], _route_path(scope), scope["headers"]) as span:

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self._handle(scope, receive, send_traced)

    def _measured(self, scope: Scope, send: Send) -> tuple[Send, Callable[[], None]]:
        """``send`` that notes the answer's status, and ``done()`` that counts the request in the
        metrics (whenever it ends: answered, failed, or left by its client)."""
        metrics = self.metrics
        route = metrics.route(_route_path(scope))
        t0 = metrics.started()
        status, streamed, counted = 499, False, False  # 499: no answer started, the client left

        async def snd(message: Message) -> None:
            nonlocal status, streamed
            if message["type"] == "http.response.start":
                status = message["status"]
                streamed = any(k == b"content-type" and v.startswith(b"text/event-stream")
                               for k, v in message.get("headers", ()))
            await send(message)

        def done() -> None:
            nonlocal counted
            if not counted:
                counted = True
                metrics.finished(route, status, t0, streamed)

        return snd, done

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The only pass over the headers: what the routes read of them is left in the scope.
        size, auth, length, scope[_READ] = _scan(scope["headers"])
        if self._expected is not None and _route_path(scope) != "/health" and \
                not hmac.compare_digest(auth or b"", self._expected):
            fail = HTTPFail(401, "AuthenticationFailed",
                            "missing or wrong key: send 'Authorization: Bearer <security_key>'")
            await fail.response()(scope, receive, send)  # the body is never read
            return
        raw_receive, raw_send = receive, send
        if self.timed_body:
            receive = _timed(receive, self.body_timeout)
        receive, send = _lingering(receive, send, drain_cap(self.max_body))
        if size > self.max_header:
            fail = HTTPFail(431, "HeadersTooLarge",
                            f"request headers exceed {self.max_header} bytes; send less chat history / "
                            "fewer session entries, or raise the server's max_header_bytes")
            await fail.response()(scope, receive, send)
            return
        if length is not None and length.isdigit() and int(length) > self.max_body:
            fail = HTTPFail(413, "BodyTooLarge", f"request body of {int(length)} bytes exceeds the "
                            f"server's limit of {self.max_body} bytes (max_body_bytes)")
            if int(length) > drain_cap(self.max_body):
                receive, send = raw_receive, raw_send  # far too big: answer at once, let it close
            await fail.response()(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            # A bug a caller can trigger at will (starlette already answered a typed 500): log
            # it without letting a flood of such requests flood the log, and keep serving.
            throttled(logging.ERROR, "a request to %s failed inside the server: %s", _route_path(scope),
                      type(exc).__name__, exc_info=exc)


def _timed(receive: Receive, seconds: float) -> Receive:
    """``receive`` under one deadline for the whole request body; past it, :class:`BodyTimeout`.

    Only body messages are timed: once the body is complete, ``receive`` waits for the
    client's disconnect for as long as the request runs.
    """
    deadline = anyio.current_time() + seconds
    done = False

    async def recv() -> Message:
        nonlocal done
        if done:
            return await receive()
        with anyio.CancelScope(deadline=deadline) as scope:
            message = await receive()
        if scope.cancelled_caught:
            raise BodyTimeout(seconds)
        if message["type"] != "http.request" or not message.get("more_body", False):
            done = True
        return message

    return recv


def _lingering(receive: Receive, send: Send, cap: int) -> tuple[Receive, Send]:
    """Wrap a request so that an answer given before the request body was read (an early
    404/413/415) first reads and drops a bounded rest of the body (within the body deadline):
    otherwise the server closes the connection under a client that is still sending, or under
    the next request of a kept-alive connection, and the client sees a broken connection
    instead of the answer."""
    body_done = False

    async def recv() -> Message:
        nonlocal body_done
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            body_done = True
        return message

    async def snd(message: Message) -> None:
        if not body_done and message["type"] == "http.response.start":
            # Before answering: hypercorn closes a connection whose answer ends before the
            # request body has arrived.
            with contextlib.suppress(BodyTimeout):  # too slow: answer anyway; the connection closes
                await _drain(recv, cap)
        await send(message)

    return recv, snd


def drain_cap(max_body: int) -> int:
    """How much of an oversized body we still read (and drop) before answering 413.

    A server that answers while the client is still sending, then closes, makes the client
    see a broken connection instead of the 413. Reading a bounded excess lets it see the
    answer; beyond this cap we answer at once and close.
    """
    return 4 * max_body


async def _drain(receive: Receive, cap: int) -> None:
    seen = 0
    while seen <= cap:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        seen += len(message.get("body", b""))


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request's JSON body; wrong content type, oversized or malformed bodies → HTTPFail."""
    ctype = _text(_read(request)[0]) or ""
    if ctype.split(";", 1)[0].strip().lower() != "application/json":
        raise HTTPFail(415, "UnsupportedMediaType",
                       f"content-type must be application/json, got {ctype or 'none'!r}")
    # The ASGI messages themselves rather than ``request.stream()``: no async generator per
    # request, and a body that came in one message (most do) is parsed without a copy.
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                chunks.clear()
                if size > drain_cap(max_bytes):
                    break
            elif chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
    except BodyTimeout as exc:
        raise HTTPFail(408, "RequestTimeout", str(exc)) from None
    if size > max_bytes:
        raise HTTPFail(413, "BodyTooLarge",
                       f"request body exceeds the server's limit of {max_bytes} bytes (max_body_bytes)")
    try:
        return orjson.loads(chunks[0] if len(chunks) == 1 else b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise HTTPFail(400, "InvalidJSON", f"request body is not valid JSON: {exc}") from None


async def run_unless_disconnected(receive: Receive, fn: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
    """Run ``fn`` while watching for the client to go away; a disconnect cancels ``fn``.

    Returns ``(finished, result_or_exception)``; exceptions come back as values so the
    caller turns them into an error response.
    """
    if sniffio.current_async_library() == "asyncio":
        return await _run_watched_asyncio(receive, fn)
    outcome: list[Any] = []

    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_disconnect, receive, tg.cancel_scope)
        try:
            outcome.append(await fn())
        except Exception as exc:
            outcome.append(exc)
        tg.cancel_scope.cancel()
    return (bool(outcome), outcome[0] if outcome else None)


async def _run_watched_asyncio(receive: Receive, fn: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
    """:func:`run_unless_disconnected` on asyncio: the watcher is a native task and ``fn`` runs
    in an anyio cancel scope of this task that the watcher cancels. An anyio task group with the
    watcher in it cost ~100 µs a request (its task bookkeeping, and anyio delivering the final
    cancel to the waiting watcher), 4x everything else a served async call does
    (benchmarks/serving.py, ``app alone``); this costs ~20 µs. The watcher does nothing but
    wait in ``receive()``, so a plain ``task.cancel()`` ends it, and it is awaited before this
    returns: nothing outlives the request."""
    scope = anyio.CancelScope()
    watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, scope))
    try:
        with scope:
            try:
                return True, await fn()
            except Exception as exc:
                return True, exc
        return False, None  # the watcher cancelled the scope: the client is gone
    finally:
        watcher.cancel()
        with anyio.CancelScope(shield=True):  # a cancelled caller still waits the watcher out
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


async def _watch_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` when the client goes away (or ``receive()`` fails: then raise, having
    stopped the work as a task group would for a failed child)."""
    while True:
        try:
            message: Message = await receive()
        except BodyTimeout:  # a body nobody reads, still trickling in: treat the client as gone
            scope.cancel()
            return
        except Exception:
            scope.cancel()
            raise
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


class EventStream:
    """A ``text/event-stream`` response whose producer is cancelled when the client leaves.

    The producer is a function given ``send(event_bytes)``; it runs in this task, in one
    frame, so its task groups (a Stream's) are never suspended across a ``yield``. While the
    producer is silent for ``keepalive`` seconds a comment line goes out, so a client's idle
    timeout measures a dead server, not a slow step.
    """

    def __init__(self, produce: Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]],
                 keepalive: float = 15.0) -> None:
        self._produce = produce
        self._keepalive = keepalive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]})
        lock = anyio.Lock()
        last = anyio.current_time()

        async def send_event(event: bytes) -> None:
            nonlocal last
            async with lock:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            last = anyio.current_time()

        async def pinger() -> None:
            while True:
                await anyio.sleep(max(last + self._keepalive - anyio.current_time(), 0.0))
                if anyio.current_time() - last >= self._keepalive:
                    await send_event(b": keep-alive\n\n")

        finished = False
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch_disconnect, receive, tg.cancel_scope)
            tg.start_soon(pinger)
            try:
                await self._produce(send_event)
                finished = True
            except OSError:
                pass  # the client is gone; the disconnect watcher cancels the rest
            tg.cancel_scope.cancel()
        if finished:
            # Ended after the watcher is gone: hypercorn (trio) otherwise holds the
            # connection as busy and a graceful shutdown waits out its whole timeout.
            await send({"type": "http.response.body", "body": b"", "more_body": False})
