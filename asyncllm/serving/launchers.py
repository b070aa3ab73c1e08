"""Where a ServerModule's server runs: in this process, or in a child process.

**In-process** (:class:`InProcessLauncher`, the default). hypercorn runs in a dedicated
thread with its own event loop (same backend as the caller's: asyncio or trio), started with
an anyio blocking portal. Why not a task in the caller's loop: ``await s.start()`` must
return while the server keeps running, and ``await s.stop()`` may come from another task
(a fixture, a signal handler, another request). A task group held open between the two
would have to be entered and exited by the same task, in strict nesting order, which the
caller cannot promise. A thread loop has none of those constraints; the caller's loop never
blocks (every portal step runs in a worker thread), and requests are served while the
caller awaits anything. Code that wants the server as a task of its own loop uses
:func:`serve` with ``await tg.start(serve, app)``. One consequence: the served module runs
on the server's loop, so it must not share loop-bound objects (locks, streams) with code
in the caller's loop — calls over HTTP, and HTTP pools are per loop, so modules are fine.

**Subprocess** (:class:`SubprocessLauncher`). A separate Python process started in its own
session (its own process group). It reaches the served object by import path
``pkg.mod:obj``, named in a JSON spec file that the parent writes to a private temporary
directory (mode 0600) and the child deletes after reading; the security key travels in
that file, never on the command line. The child binds port 0 and reports the bound port
through a port file; the parent then waits for ``/health``. Stopping sends SIGTERM to the
whole process group, waits a grace period (the server finishes in-flight requests), then
SIGKILLs the group: nothing is left behind.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.from_thread
import anyio.to_thread
import orjson
import sniffio
from anyio.abc import TaskStatus

from .._exceptions import ConfigError, EngineStartError, LifecycleError
from .._http import HTTPSettings, aclose_all, request_json
from .._importpath import locate, resolve
from .._process import ManagedProcess, import_dirs, write_private
from ._hypercorn import bind_socket, serve_socket
from .app import create_app
from .options import ServerOptions

__all__ = ["InProcessLauncher", "Launcher", "ServerSpec", "SubprocessLauncher", "serve"]

# Health probes go direct: the server is ours (see _SERVED_SETTINGS in client.py).
_PROBE = HTTPSettings(connect_timeout=1.0, first_chunk_timeout=2.0, idle_timeout=2.0, total_timeout=3.0,
                      max_attempts=1, proxy=None)


@dataclass
class ServerSpec:
    """What to serve (``target`` with server-side ``pre``/``post``) and how (``options``);
    built by ServerModule, read by a launcher."""

    target: Any
    pre: Any = None
    post: Any = None
    options: ServerOptions = field(default_factory=ServerOptions)
    pythonpath: tuple[str, ...] = ()  # extra import folders for an out-of-process server

    def build_app(self) -> Any:
        return create_app(self.target, pre=self.pre, post=self.post, options=self.options)

    def child_data(self, hand_over: str | None = None) -> dict[str, Any]:
        """What an out-of-process server (subprocess, Ray replica, Slurm job) needs to rebuild
        this spec: import paths for the callables and the options as plain data. It holds the
        security key, so it only ever travels in a private (0600) file or Ray's own channel.

        ``hand_over``: a private folder of this machine (the local subprocess launcher's). A
        callable without an import path (a lambda, a closure, a function of ``__main__``) is
        then written there with cloudpickle for the child to load at start-up: it never
        travels over a network. Without it, such a callable is a :class:`ConfigError`.
        """
        return {
            "target": _reach(self.target, "the served object", hand_over),
            "pre": _reach(self.pre, "pre", hand_over) if self.pre is not None else None,
            "post": _reach(self.post, "post", hand_over) if self.post is not None else None,
            "options": self.options.to_spec(),
            "sys_path": [*self.pythonpath, *import_dirs()],
        }


def _reach(obj: Any, what: str, hand_over: str | None) -> str | dict[str, str]:
    """An import path for ``obj``, or (with ``hand_over``) a private pickle file it is in."""
    try:
        return locate(obj, what)
    except ConfigError:
        if hand_over is None:
            raise ConfigError(
                f"{what} {obj!r} has no import path, and this launcher runs it elsewhere (Ray, Slurm): "
                "define it at module level in an importable file (not __main__) or pass "
                "'package.module:name'. (The local subprocess launcher also takes it as it is.)") from None
    import cloudpickle

    path = os.path.join(hand_over, f"{what.replace(' ', '_')}.pkl")
    write_private(path, cloudpickle.dumps(obj))
    return {"pickle": path}


def reach_back(entry: Any) -> Any:
    """The child side of :func:`_reach`: import the path, or load (and delete) the private pickle."""
    if isinstance(entry, dict) and isinstance(entry.get("pickle"), str):
        import cloudpickle

        with open(entry["pickle"], "rb") as f:
            obj = cloudpickle.loads(f.read())
        with contextlib.suppress(OSError):
            os.unlink(entry["pickle"])
        return obj
    return resolve(entry)


class Launcher(Protocol):
    async def launch(self, spec: ServerSpec) -> str: ...
    async def stop(self) -> None: ...
    async def wait(self) -> None: ...
    @property
    def running(self) -> bool: ...


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def wait_healthy(url: str, timeout: float, alive: Callable[[], str | None] | None = None) -> None:
    """Poll ``url/health`` until it answers 200; ``alive()`` returns a reason to give up early."""
    last: Exception | None = None
    with anyio.move_on_after(timeout):
        while True:
            if alive is not None and (why := alive()) is not None:
                raise EngineStartError(f"server for {url} is gone before it answered /health: {why}")
            try:
                body, _ = await request_json("GET", f"{url}/health", settings=_PROBE)
                if isinstance(body, dict) and body.get("status") == "ok":
                    return
            except Exception as exc:
                last = exc
            await anyio.sleep(0.02)
    raise EngineStartError(f"server at {url} did not answer /health within {timeout:g}s"
                           + (f" (last error: {last})" if last else ""))


async def serve(app: Any, host: str | None = None, port: int | None = None, *,
                options: ServerOptions | None = None, shutdown_trigger: Callable[[], Any] | None = None,
                task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` as a task of the caller's loop: ``url = await tg.start(serve, app)``.

    ``options`` default to the app's own (an app from :func:`create_app`) or the defaults;
    ``host``/``port`` override theirs. Runs until cancelled or until ``shutdown_trigger()``
    returns; either way the server shuts down gracefully (hypercorn itself must not be
    cancelled mid-flight: it leaks tasks then).
    """
    opts = options or getattr(app, "options", None) or ServerOptions()
    opts = opts.replace(**{k: v for k, v in (("host", host), ("port", port)) if v is not None})
    sock = bind_socket(opts.host, opts.port)
    url = _url(opts.host, sock.getsockname()[1])
    stop = anyio.Event()

    async def run() -> None:
        with anyio.CancelScope(shield=True):
            await serve_socket(app, sock, stop.wait, options=opts)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        task_status.started(url)
        try:
            await (shutdown_trigger or anyio.sleep_forever)()
        finally:
            stop.set()


class InProcessLauncher:
    """hypercorn in a thread of this process with its own event loop (see module docstring)."""

    def __init__(self, *, start_timeout: float = 30.0) -> None:
        self.start_timeout = start_timeout
        self._portal_cm: Any = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._future: Future[None] | None = None
        self._shutdown: anyio.Event | None = None
        self.url: str | None = None

    def __repr__(self) -> str:
        return f"<InProcessLauncher url={self.url}>"

    @property
    def running(self) -> bool:
        return self._future is not None and not self._future.done()

    async def launch(self, spec: ServerSpec) -> str:
        if self._portal is not None:
            raise LifecycleError(f"this launcher already runs a server at {self.url}; stop() it first")
        app = spec.build_app()
        opts = spec.options
        sock = bind_socket(opts.host, opts.port)
        self.url = _url(opts.host, sock.getsockname()[1])
        cm = anyio.from_thread.start_blocking_portal(sniffio.current_async_library(), name="asyncllm-server")
        try:
            portal = await anyio.to_thread.run_sync(cm.__enter__)
        except BaseException:
            sock.close()
            raise
        self._portal_cm, self._portal = cm, portal
        try:
            self._shutdown = await anyio.to_thread.run_sync(portal.call, anyio.Event)
            run = functools.partial(serve_socket, options=opts)
            self._future, _ = await anyio.to_thread.run_sync(
                portal.start_task, run, app, sock, self._shutdown.wait)
            await wait_healthy(self.url, self.start_timeout, self._gone)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.stop()
            raise
        return self.url

    def _gone(self) -> str | None:
        if self._future is not None and self._future.done():
            exc = self._future.exception()
            return f"server task ended: {exc!r}" if exc else "server task ended"
        return None

    async def stop(self) -> None:
        portal, cm, fut, ev = self._portal, self._portal_cm, self._future, self._shutdown
        self._portal = self._portal_cm = self._future = self._shutdown = None
        if portal is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                if ev is not None:
                    await anyio.to_thread.run_sync(portal.call, ev.set)
                if fut is not None:
                    with contextlib.suppress(Exception):
                        await anyio.to_thread.run_sync(fut.result)
                # HTTP pools the served module opened live in the server's loop: close them there.
                with contextlib.suppress(Exception):
                    await anyio.to_thread.run_sync(portal.call, aclose_all)
            finally:
                await anyio.to_thread.run_sync(cm.__exit__, None, None, None)

    async def wait(self) -> None:
        fut = self._future
        if fut is not None:
            with contextlib.suppress(Exception):
                await anyio.to_thread.run_sync(fut.result, abandon_on_cancel=True)


class SubprocessLauncher:
    """The server in a child Python process, in its own process group (see module docstring);
    a :class:`~asyncllm._process.ManagedProcess` does the start, log and stop."""

    def __init__(self, *, python: str | None = None, start_timeout: float = 60.0, stop_grace: float = 10.0,
                 env: dict[str, str] | None = None) -> None:
        self.python = python or sys.executable
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.env = env
        self._proc: ManagedProcess | None = None
        self._dir: str | None = None
        self.url: str | None = None
        self.pid: int | None = None

    def __repr__(self) -> str:
        return f"<SubprocessLauncher pid={self.pid} url={self.url}>"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.running

    @property
    def log_path(self) -> str | None:
        return os.path.join(self._dir, "server.log") if self._dir else None

    async def launch(self, spec: ServerSpec) -> str:
        if self._proc is not None:
            raise LifecycleError(f"this launcher already runs a server at {self.url}; stop() it first")
        self._dir = tmp = await anyio.to_thread.run_sync(functools.partial(tempfile.mkdtemp, prefix="asyncllm-serve-"))
        try:
            data = await anyio.to_thread.run_sync(spec.child_data, tmp)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.stop()
            raise
        data["backend"] = sniffio.current_async_library()
        data["parent_pid"] = os.getpid()  # the child ends itself if we die without stopping it
        spec_file, port_file = os.path.join(tmp, "spec.json"), os.path.join(tmp, "port")
        data["port_file"] = port_file
        await anyio.to_thread.run_sync(write_private, spec_file, orjson.dumps(data))
        self._proc = proc = ManagedProcess([self.python, "-m", "asyncllm.serving._child", spec_file],
                                           name="server subprocess", log_path=Path(tmp, "server.log"))
        try:
            await proc.start(env=self.env)
            self.pid = proc.pid
            port = await proc.read_port_file(Path(port_file), timeout=self.start_timeout)
            self.url = _url(spec.options.host, port)
            await wait_healthy(self.url, self.start_timeout, self._gone)
        except Exception as exc:
            with anyio.CancelScope(shield=True):
                tail = await anyio.to_thread.run_sync(proc.log_tail, 30)
                await self.stop()
            raise EngineStartError(f"the server subprocess did not start: {_first_line(exc)}",
                                   log_tail=tail) from None
        except BaseException:  # cancelled: stop the child and let the cancellation through
            with anyio.CancelScope(shield=True):
                await self.stop()
            raise
        return self.url

    def _gone(self) -> str | None:
        if self._proc is not None and self._proc.returncode is not None:
            return f"exited with code {self._proc.returncode}"
        return None

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        with anyio.CancelScope(shield=True):
            if proc is not None:
                await proc.stop(grace=self.stop_grace)
            if self._dir is not None:
                d, self._dir = self._dir, None
                await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, d, ignore_errors=True))

    async def wait(self) -> None:
        if self._proc is not None and self._proc.pid is not None:
            await self._proc.wait()


def _first_line(exc: BaseException) -> str:
    """An error's own message without the log tail it may carry (the launcher adds its own)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def get_launcher(launcher: Any) -> InProcessLauncher | SubprocessLauncher:
    if launcher is None or launcher == "inprocess":
        return InProcessLauncher()
    if launcher == "subprocess":
        return SubprocessLauncher()
    if isinstance(launcher, (InProcessLauncher, SubprocessLauncher)):
        return launcher
    if callable(getattr(launcher, "server_launcher", None)):
        # An al.launchers object (local/ray/slurm): a configuration that makes one server each.
        return launcher.server_launcher()  # type: ignore[no-any-return]
    if all(hasattr(launcher, a) for a in ("launch", "stop", "wait")):
        return launcher  # type: ignore[no-any-return]
    raise ConfigError(f"unknown launcher {launcher!r}; use 'inprocess', 'subprocess', "
                      "InProcessLauncher(), SubprocessLauncher() or an al.launchers object")


