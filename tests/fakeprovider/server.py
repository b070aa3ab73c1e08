"""Serve the fake provider with hypercorn on 127.0.0.1, in the caller's event loop.

We bind and listen on a socket ourselves (port 0) and hand hypercorn its file descriptor
(``fd://``): the port is known before hypercorn starts and clients can connect at once (the
kernel queues them), so there is no readiness polling and no port guessing. Shutdown uses
hypercorn's ``shutdown_trigger`` with a short ``graceful_timeout``, so stalled streams are
cancelled promptly.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import sniffio
from hypercorn.config import Config

from .app import build_app
from .state import FakeState


class FakeServer(str):
    """The base URL (``http://127.0.0.1:<port>``), carrying the server's :class:`FakeState`."""

    state: FakeState
    port: int


@asynccontextmanager
async def serving(app: Any, *, graceful_timeout: float = 0.2, keep_alive_timeout: float = 30.0,
                  certfile: str | None = None, client_ca: str | None = None) -> AsyncIterator[int]:
    """``async with serving(asgi_app) as port:`` — any ASGI app on 127.0.0.1, asyncio or trio."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn now owns (and closes) the socket
    config.graceful_timeout = graceful_timeout
    config.keep_alive_timeout = keep_alive_timeout
    config.accesslog = None
    config.errorlog = None  # scripted faults raise on purpose; keep test output clean
    if certfile is not None:
        config.certfile = config.keyfile = certfile
        config.alpn_protocols = ["http/1.1"]
        if client_ca is not None:
            config.ca_certs = client_ca
            config.verify_mode = ssl.CERT_REQUIRED
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve
    else:
        from hypercorn.asyncio import serve  # type: ignore[assignment]
    shutdown = anyio.Event()
    failed: Exception | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(serve, app, config, shutdown_trigger=shutdown.wait))  # type: ignore[arg-type]
        try:
            yield port
        except Exception as exc:
            # Let hypercorn shut down gracefully before the body's error propagates: raised inside
            # the task group, it would cancel serve() mid-shutdown (hypercorn then fails noisily).
            failed = exc
        finally:
            shutdown.set()
    if failed is not None:
        raise failed


@asynccontextmanager
async def running_fake_provider(state: FakeState | None = None, *, graceful_timeout: float = 0.2,
                                keep_alive_timeout: float = 30.0, certfile: str | None = None,
                                client_ca: str | None = None) -> AsyncIterator[FakeServer]:
    """``async with running_fake_provider() as base_url:`` — works on asyncio and trio.

    ``certfile`` (a PEM holding the certificate chain and its key) serves HTTPS
    (``https://127.0.0.1:<port>``); ``client_ca`` also demands a client certificate signed by it.
    """
    st = state or FakeState()
    async with serving(build_app(st), graceful_timeout=graceful_timeout, keep_alive_timeout=keep_alive_timeout,
                       certfile=certfile, client_ca=client_ca) as port:
        url = FakeServer(f"{'https' if certfile else 'http'}://127.0.0.1:{port}")
        url.state, url.port = st, port
        yield url
