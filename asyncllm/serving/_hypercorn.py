"""Run an ASGI app under hypercorn on a socket we bind ourselves, with connection hygiene.

Binding first (port 0 by default) means the port is known before hypercorn starts and no
port is ever guessed; the kernel queues early connections, so a client may connect at once.
hypercorn gets the socket as ``fd://N`` and owns it from then on. Shutdown goes through
``shutdown_trigger``: hypercorn stops accepting, lets in-flight requests finish for
``graceful_timeout`` seconds, then cancels what is left.

A served module is a trust boundary, and a connection costs the server a file descriptor
until it is closed. hypercorn's own connection handling (0.17/0.18) leaves three holes that
:class:`_Hygiene` closes, on both backends:

* **A client that closes keeps its server socket** (CLOSE_WAIT) until hypercorn's idle timer
  ends: the connection's task group waits for that timer even after the read loop saw EOF.
  We stop the timer the moment the peer is gone, so the descriptor is released at once.
* **No header or body deadline**: hypercorn has one idle timer (``keep_alive_timeout``), a byte
  arriving does not change it, and it stops while a request's body trickles in. One watchdog
  per connection keeps all three: ``keep_alive_timeout`` between requests, ``header_timeout``
  for a request's headers, ``body_timeout`` for its body (a JSON 408, then the connection
  closes). It also saves the task hypercorn starts and cancels for every request.
* **No connection cap**: a flood of connections runs the process out of descriptors, and on
  asyncio the accept loop then reschedules itself many times per failure (CPython gh-151615),
  flooding the log. At ``max_connections`` open connections a new one gets a 503 and is
  closed at once; accept failures that still happen are logged at most once per interval.

The subclasses replace hypercorn's ``TCPServer`` in ``hypercorn.asyncio.run`` and
``hypercorn.trio.run`` (the only way in: hypercorn has no hook for it; the trio one on first use,
as trio is an extra). For a ``Config`` that is
not ours they behave like hypercorn's own, except that a closed connection is released at once.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import h11
import hypercorn.asyncio.run
import sniffio
from anyio.abc import TaskStatus
from hypercorn.asyncio.tcp_server import TCPServer as AsyncioTCPServer
from hypercorn.config import Config
from hypercorn.events import Closed, RawData, Updated

from ._logging import log, throttled
from .options import ServerOptions

__all__ = ["bind_socket", "connection_cap", "serve_app", "serve_socket"]


# The answer to a connection over the cap: the server did not read (let alone run) the request,
# so the client may safely try again.
_BUSY_BODY = b'{"error": {"type": "ServerBusy", "message": "the server has too many open connections; retry shortly"}}'
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
         b"retry-after: 1\r\nx-should-retry: true\r\ncontent-length: " + str(len(_BUSY_BODY)).encode()
         + b"\r\n\r\n" + _BUSY_BODY)


def bind_socket(host: str = "127.0.0.1", port: int = 0, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: the OS picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.set_inheritable(False)
    except BaseException:
        sock.close()
        raise
    return sock


def connection_cap(options: ServerOptions) -> int:
    """``options.max_connections``, or what the descriptor limit allows: a quarter of it (at
    least 64) stays free for the served module's own files, pipes and outgoing connections."""
    if options.max_connections is not None:
        return options.max_connections
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 65536
    return max(8, soft - max(64, soft // 4))


class _ServerConfig(Config):
    """hypercorn's Config plus what the hygiene layer reads, and the per-server connection count."""

    def __init__(self, options: ServerOptions) -> None:
        super().__init__()
        self.header_timeout = options.header_timeout
        self.body_timeout = options.body_timeout
        self.max_connections = connection_cap(options)
        self.open_connections = 0
        self._headers_at: dict[str, tuple[int, list[tuple[bytes, bytes]]]] = {}

    def response_headers(self, protocol: str) -> list[tuple[bytes, bytes]]:
        # hypercorn formats the date header for every answer; it changes once a second, so the
        # headers are made once a second (a new list each time: hypercorn may extend it).
        now = int(time.time())
        made = self._headers_at.get(protocol)
        if made is None or made[0] != now:
            made = self._headers_at[protocol] = (now, super().response_headers(protocol))
        return list(made[1])


class _Hygiene:
    """The connection rules above, shared by the asyncio and trio ``TCPServer`` subclasses.

    hypercorn starts an idle task per request (and cancels it when the next one begins); for
    our config, one **watchdog** task lives as long as the connection instead, and a request
    costs no task at all. Events only record times; the watchdog reads them when it wakes:

    * new connection: its first request's headers are due ``header_timeout`` after it opened;
    * between requests: ``keep_alive_timeout`` after the last answer, until the first byte of
      the next request, whose headers are then due ``header_timeout`` after that byte;
    * headers complete, body not: the body is due ``body_timeout`` after the headers (past it:
      a JSON 408 if no answer has started, and the connection is closed);
    * body complete: no deadline (``request_timeout`` is the app's).

    The watchdog sleeps at most the shortest of these timeouts at a time, so a deadline a later
    event sets is never earlier than the end of the sleep in progress: each is kept exactly.
    """

    config: Config
    protocol: Any
    context: Any
    _since = 0.0  # when the connection opened, or when its last answer ended
    _first_byte: float | None = None  # the first byte of the next request on a kept-alive connection
    _request_at: float | None = None  # when the headers of the request in flight were complete
    _kept_alive = False

    # -- what the events record ----------------------------------------------------------------

    def _on_updated(self, idle: bool) -> None:
        now = time.monotonic()
        if idle:  # an answer is done; bytes of the next request may have arrived already
            self._kept_alive = True
            self._since = now
            self._request_at = None
            self._first_byte = now if self._pending() else None
        else:  # a request's headers are complete
            self._request_at = now
            self._first_byte = None

    def _on_data(self) -> None:
        if self._kept_alive and self._first_byte is None and self._request_at is None:
            self._first_byte = time.monotonic()

    def _h11(self) -> Any:
        return getattr(getattr(self.protocol, "protocol", None), "connection", None)

    def _pending(self) -> bool:
        """Whether h11 holds received bytes it has not parsed yet (the next request's start)."""
        trailing = getattr(self._h11(), "trailing_data", None)
        return bool(trailing and trailing[0])

    # -- what the watchdog reads ---------------------------------------------------------------

    def _deadline(self) -> tuple[float | None, str]:
        """(when this phase ends, the phase); no deadline while a request's app runs."""
        config = self.config
        assert isinstance(config, _ServerConfig)
        if self._request_at is not None:
            connection = self._h11()
            if connection is not None and connection.their_state is not h11.SEND_BODY:
                return None, "running"
            return self._request_at + config.body_timeout, "body"
        if self._first_byte is not None:
            return self._first_byte + config.header_timeout, "headers"
        if self._kept_alive:
            return self._since + float(config.keep_alive_timeout), "idle"
        return self._since + config.header_timeout, "headers"

    def _step(self) -> float:
        config = self.config
        assert isinstance(config, _ServerConfig)
        return min(config.header_timeout, config.body_timeout, float(config.keep_alive_timeout))

    def _timed_out_body(self) -> bytes | None:
        """The 408 to send when the body is late, if no answer has started."""
        connection = self._h11()
        if connection is None or connection.our_state is not h11.SEND_RESPONSE:
            return None
        assert isinstance(self.config, _ServerConfig)
        return _late_body(self.config.body_timeout)

    async def _watch(self) -> str | None:
        """Run until a deadline passes (returns the phase) or the server shuts down while the
        connection is between requests (returns None). Between looks it sleeps until the next
        deadline, or until the server begins to shut down, whichever comes first (anyio's
        primitives: they work in hypercorn's own task on either backend)."""
        terminated = self.context.terminated
        while True:
            now = time.monotonic()
            deadline, phase = self._deadline()
            if deadline is not None and now >= deadline:
                return phase
            if terminated.is_set() and phase in ("idle", "headers"):
                return None
            wait = self._step() if deadline is None else min(deadline - now, self._step())
            if terminated.is_set():
                await anyio.sleep(wait)
            else:
                with anyio.move_on_after(wait):
                    await terminated.wait()

    # -- admission -----------------------------------------------------------------------------

    async def run(self) -> None:
        """A connection over the cap is refused before hypercorn sees it; one let in counts as
        open until it ends, however it ends."""
        if not self._admit():
            await self._refuse()
            return
        try:
            await self._serve_connection()
        finally:
            self._leave()

    async def _refuse(self) -> None:
        """Send the 503 and close (each backend's own stream)."""
        raise NotImplementedError

    async def _serve_connection(self) -> None:
        """hypercorn's own ``run`` for this connection."""
        raise NotImplementedError

    def _admit(self) -> bool:
        self._since = time.monotonic()
        config = self.config
        if not isinstance(config, _ServerConfig):
            return True
        if config.open_connections >= config.max_connections:
            throttled(logging.WARNING, "connection refused: %d connections are open (max_connections); "
                      "raise ServerOptions.max_connections or the descriptor limit (ulimit -n)",
                      config.open_connections)
            return False
        config.open_connections += 1
        return True

    def _leave(self) -> None:
        if isinstance(self.config, _ServerConfig):
            self.config.open_connections -= 1


class _AsyncioServer(_Hygiene, AsyncioTCPServer):
    async def _refuse(self) -> None:
        try:
            self.writer.write(_BUSY)
            self.writer.close()
            await self.writer.wait_closed()
        except (OSError, RuntimeError):
            pass

    async def _serve_connection(self) -> None:
        await AsyncioTCPServer.run(self)

    async def protocol_send(self, event: Any) -> None:
        # hypercorn's, but for our config an Updated event only records the time (the watchdog
        # lives as long as the connection): no idle task is cancelled and restarted per request.
        if isinstance(event, RawData):
            async with self.send_lock:
                try:
                    self.writer.write(event.data)
                    await self.writer.drain()
                except (ConnectionError, RuntimeError):
                    await self.protocol.handle(Closed())
        elif isinstance(event, Updated) and isinstance(self.config, _ServerConfig):
            self._on_updated(event.idle)
        else:
            await super().protocol_send(event)

    async def _read_data(self) -> None:
        import asyncio

        while not self.reader.at_eof():
            try:
                data = await asyncio.wait_for(self.reader.read(1 << 16), self.config.read_timeout)
            except (ConnectionError, OSError, TimeoutError):
                break
            self._on_data()
            await self.protocol.handle(RawData(data))
        await self.protocol.handle(Closed())
        # The peer is gone: release the connection now, not when the idle timer ends.
        await self.idle_task.stop()

    async def _idle_timeout(self) -> None:
        import asyncio

        terminated = self.context.terminated
        if not isinstance(self.config, _ServerConfig):  # hypercorn's own rule
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(terminated.wait(), self.config.keep_alive_timeout)
            await asyncio.shield(self._initiate_server_close())
            return

        if await self._watch() == "body" and (late := self._timed_out_body()) is not None:
            with contextlib.suppress(OSError, RuntimeError):
                self.writer.write(late)
        await asyncio.shield(self._initiate_server_close())


_trio_installed = False


def _install_trio_server() -> None:
    """Put our ``TCPServer`` into ``hypercorn.trio.run``, once, when a server first runs on trio.

    ``hypercorn.trio`` imports trio, an extra: built at import time it made ``al.ServerModule``
    (and ``import asyncllm``) fail on an install without trio.
    """
    global _trio_installed
    if _trio_installed:
        return
    import hypercorn.trio.run
    import trio
    from hypercorn.trio.tcp_server import TCPServer

    class _TrioServer(_Hygiene, TCPServer):
        async def _refuse(self) -> None:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    await self.stream.send_all(_BUSY)
                await self.stream.aclose()

        async def _serve_connection(self) -> None:
            await TCPServer.run(self)

        async def protocol_send(self, event: Any) -> None:
            # hypercorn's, but for our config an Updated event only records the time (see above).
            if isinstance(event, Updated) and isinstance(self.config, _ServerConfig):
                self._on_updated(event.idle)
            else:
                await super().protocol_send(event)

        async def _read_data(self) -> None:
            timeout = self.config.read_timeout
            while True:
                try:
                    if timeout is None:  # (no deadline scope per read: trio's scopes are not free)
                        data = await self.stream.receive_some(1 << 16)
                    else:
                        with trio.fail_after(timeout):
                            data = await self.stream.receive_some(1 << 16)
                except (trio.ClosedResourceError, trio.BrokenResourceError, trio.TooSlowError):
                    break
                if data == b"":
                    break
                self._on_data()
                await self.protocol.handle(RawData(bytes(data)))
            await self.protocol.handle(Closed())
            # The peer is gone: release the connection now, not when the idle timer ends.
            await self.idle_task.stop()

        async def _idle_timeout(self) -> None:
            terminated = self.context.terminated
            if not isinstance(self.config, _ServerConfig):  # hypercorn's own rule
                with trio.move_on_after(self.config.keep_alive_timeout):
                    await terminated.wait()
                with trio.CancelScope(shield=True):
                    await self._initiate_server_close()
                return

            phase = await self._watch()
            with trio.CancelScope(shield=True):
                if phase == "body" and (late := self._timed_out_body()) is not None:
                    with trio.move_on_after(1), contextlib.suppress(trio.BrokenResourceError,
                                                                    trio.ClosedResourceError, OSError):
                        async with self.send_lock:
                            await self.stream.send_all(late)
                await self._initiate_server_close()

    hypercorn.trio.run.TCPServer = _TrioServer  # type: ignore[attr-defined]
    _trio_installed = True


def _late_body(seconds: float) -> bytes:
    body = (b'{"error": {"type": "RequestTimeout", "message": "the request body did not arrive within '
            + f"{seconds:g}".encode() + b's; send it faster, or raise the server\'s body_timeout"}}')
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


# hypercorn looks its TCPServer up in this module each time a connection arrives (the trio one:
# _install_trio_server).
hypercorn.asyncio.run.TCPServer = _AsyncioServer  # type: ignore[attr-defined]

# ---------------------------------------------------------------------------- throttled logging


class _AcceptErrorFilter(logging.Filter):
    """For trio's accept loop, which logs every failed accept (10 a second while descriptors
    are exhausted): one line per interval, through our logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        throttled(logging.ERROR, "accepting a connection failed (%s); the process is out of file "
                   "descriptors or memory: lower max_connections or raise the limit (ulimit -n)",
                   record.args[0] if isinstance(record.args, tuple) and record.args else "?")
        return False


_trio_accept_log = logging.getLogger("trio.serve_listeners")
if not any(isinstance(f, _AcceptErrorFilter) for f in _trio_accept_log.filters):
    _trio_accept_log.addFilter(_AcceptErrorFilter())


def _throttle_asyncio_accept_errors() -> None:
    """On this asyncio loop, log failed accepts once per interval instead of each time."""
    import asyncio

    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    if getattr(previous, "_asyncllm_throttle", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == "socket.accept() out of system resource":
            exc = context.get("exception")
            throttled(logging.ERROR, "accepting a connection failed (%s); the process is out of file "
                       "descriptors or memory: lower max_connections or raise the limit (ulimit -n)",
                       getattr(exc, "strerror", None) or exc)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler._asyncllm_throttle = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


# ---------------------------------------------------------------------------- serving


def make_config(sock: socket.socket, options: ServerOptions) -> Config:
    config = _ServerConfig(options)
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the socket from here
    config.graceful_timeout = options.graceful_timeout
    config.keep_alive_timeout = options.keep_alive_timeout
    # Our guard answers oversized headers with a JSON 431 below this; hypercorn's own limit
    # (a bare 400) stays a backstop above it.
    config.h11_max_incomplete_size = options.max_header_bytes + 64 * 1024
    config.accesslog = None
    config.errorlog = log
    return config


async def serve_socket(
    app: Any,
    sock: socket.socket,
    shutdown_trigger: Callable[[], Awaitable[None]],
    *,
    options: ServerOptions,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``sock`` until ``shutdown_trigger()`` returns (on asyncio or trio)."""
    config = make_config(sock, options)
    guard = getattr(app, "guard", None)
    if guard is not None:
        # Our connections keep the body deadline themselves (the watchdog above); the guard's own
        # per-receive timer (for apps mounted in other servers) would only cost time.
        guard.timed_body = False
    if sniffio.current_async_library() != "trio":
        _throttle_asyncio_accept_errors()
    task_status.started()
    await serve_app(app, config, shutdown_trigger)


async def serve_app(app: Any, config: Config, shutdown_trigger: Callable[[], Awaitable[None]]) -> None:
    """Serve ``app`` with hypercorn on the running backend until ``shutdown_trigger()`` returns."""
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve as trio_serve

        _install_trio_server()
        await trio_serve(app, config, shutdown_trigger=shutdown_trigger)
    else:
        import asyncio

        from hypercorn.asyncio import serve as asyncio_serve

        # In a task of its own: once the shutdown trigger fires, hypercorn's serve returns with a
        # cancel request left on the task that ran it (cancelling() is 1, Python 3.11). On the
        # caller's task it would reach the caller's task group as a cancellation from outside, and
        # a task group with a task still running (an engine's load) re-raises it. Cancelling the
        # caller still cancels this task: asyncio cancels what a cancelled task awaits.
        await asyncio.ensure_future(asyncio_serve(app, config, shutdown_trigger=shutdown_trigger))
