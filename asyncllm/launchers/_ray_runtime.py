"""The driver side shared by everything ``launchers.ray`` starts: this process's Ray connection
(counted, so that a Ray we started goes away with the last thing launched on it), Serve's proxy,
and the two ways of waiting on Ray from async code.

Ray's API is blocking. :func:`blocking` runs a call in a worker thread; calls that can wait
without end (on the Serve controller, on a resource nobody frees) pass ``abandon=True`` and sit
under a deadline, so that the caller's cancellation and the launcher's timeouts reach them —
the thread is left to finish on its own. :func:`await_ref` waits for an object ref in short
slices, so the same holds without leaving threads behind.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from .._exceptions import ConfigError
from .._process import free_port
from . import _ray_quiet
from ._ray_env import RayHandle, import_ray, serve_http_options, start_ray

__all__ = ["Runtime", "await_ref", "blocking", "serve_api", "serve_client"]

T = TypeVar("T")
_SLICE = 0.25  # seconds a thread waits on Ray before the event loop looks again


async def blocking(fn: Callable[..., T], *args: Any, abandon: bool = False, **kw: Any) -> T:
    """``fn(*args, **kw)`` in a worker thread; ``abandon``: a cancelled caller does not wait for it."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kw), abandon_on_cancel=abandon)


async def await_ref(ref: Any, timeout: float | None = None) -> Any:
    """The value of a Ray object ref (raising what the task or actor raised), waiting at most
    ``timeout`` seconds (TimeoutError) and never longer than a slice past a cancellation."""
    ray = import_ray()
    with anyio.fail_after(timeout):
        while not (await blocking(ray.wait, [ref], timeout=_SLICE, fetch_local=False))[0]:
            pass
    return await blocking(ray.get, ref)


def serve_api() -> Any:
    """``ray.serve`` (imported on first use: it is heavy)."""
    return importlib.import_module("ray.serve")


def serve_client() -> Any:
    """Serve's client, None when Serve does not run. Private, but the only way to learn the
    proxy's port when Serve was started before us, and the replicas of an application."""
    from ray.serve.context import _get_global_client

    return _get_global_client(raise_if_no_controller_running=False)


class Runtime:
    """The Ray connection of this process, shared by every launcher."""

    lock = threading.Lock()
    handle: RayHandle | None = None
    users = 0

    @classmethod
    def acquire(cls, address: str | None, init: dict[str, Any]) -> RayHandle:
        with cls.lock:
            if cls.handle is None or not import_ray().is_initialized():
                if not import_ray().is_initialized():
                    _ray_quiet.capture()  # a Ray this process starts or joins: its chatter to our log
                try:
                    cls.handle = start_ray(address, **init)
                except Exception as exc:
                    _ray_quiet.note_failure(exc)
                    raise
                _ray_quiet.capture()  # again: the init emptied the ray logger's handlers
            if address not in (None, "auto") and "://" not in address and address != cls.handle.address:
                raise ConfigError(f"this process is already connected to Ray at {cls.handle.address}, not {address}: "
                                  "a process talks to one Ray cluster; use address=None to share it")
            cls.users += 1
            return cls.handle

    @classmethod
    def release(cls) -> None:
        with cls.lock:
            cls.users = max(0, cls.users - 1)
            if cls.users == 0 and cls.handle is not None and cls.handle.owned:
                handle, cls.handle = cls.handle, None
                try:
                    handle.stop()
                finally:
                    _ray_quiet.release()

    @classmethod
    def ensure_serve(cls, port: int | None, host: str) -> int:
        """Start Serve's HTTP proxy on ``host:port`` unless Serve already runs; its port."""
        with cls.lock:
            client = serve_client()
            if client is None:
                serve_api().start(http_options=serve_http_options(port or free_port(host), host=host))
                client = serve_client()
            if client is None:  # pragma: no cover - serve.start returned without a controller
                raise ConfigError("Ray Serve did not start")
            return int(client.http_config.port)
