"""Run an ASGI app under hypercorn on a socket we bind ourselves.

Binding first (port 0 by default) means the port is known before hypercorn starts and no
port is ever guessed; the kernel queues early connections, so a client may connect at once.
hypercorn gets the socket as ``fd://N`` and owns it from then on. Shutdown goes through
``shutdown_trigger``: hypercorn stops accepting, lets in-flight requests finish for
``graceful_timeout`` seconds, then cancels what is left.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import sniffio
from anyio.abc import TaskStatus
from hypercorn.config import Config

from .options import ServerOptions

__all__ = ["bind_socket", "serve_socket"]

log = logging.getLogger("asyncllm.serving")


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


def make_config(sock: socket.socket, options: ServerOptions) -> Config:
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the socket from here
    config.graceful_timeout = options.graceful_timeout
    # Longer than the client pools' keep-alive expiry, so the client always closes idle
    # connections first and never reuses one the server is closing.
    config.keep_alive_timeout = 75.0
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
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve
    else:
        from hypercorn.asyncio import serve  # type: ignore[assignment]
    task_status.started()
    await serve(app, config, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]
