"""Entry point of a subprocess-launched server: ``python -m asyncllm.serving._child SPEC``.

SPEC is the JSON file the parent wrote (see launchers.py). We read and delete it, import
the served object by its import path, start its lifecycle (so a served flow's own engines
and inner servers come up here), bind the socket, report the port through the port file,
and serve until SIGTERM/SIGINT; then in-flight requests finish (graceful timeout) and the
served module is stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import anyio
import orjson

from .._process import write_atomic
from .options import ServerOptions


def _announce(port_file: str, port: int) -> None:
    write_atomic(port_file, str(port).encode("ascii"))  # the parent never sees a half-written file


async def run_server(target: Any, *, pre: Any = None, post: Any = None, options: ServerOptions,
                     announce: Callable[[int], None], parent_pid: int | None = None,
                     sock: socket.socket | None = None) -> None:
    """Start ``target``'s lifecycle, serve it until SIGTERM/SIGINT, then stop it.

    ``announce(port)`` runs once the socket listens. Shared by the subprocess launcher's
    child, the Slurm job and ``asyncllm serve``. With ``parent_pid``, the server also shuts
    down when that process is gone (it died without calling stop()), so no orphan keeps serving.
    ``sock``: a socket already listening (``asyncllm serve`` binds first, to fail fast); it is
    closed on the way out whatever happens.
    """
    from .._http import aclose_all
    from ..modules.base import ModuleBase
    from ._hypercorn import bind_socket, serve_socket
    from .app import create_app

    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:

        async def shutdown_trigger() -> None:
            async with anyio.create_task_group() as tg:

                async def on_signal() -> None:
                    async for _ in signals:
                        break
                    tg.cancel_scope.cancel()

                async def on_orphaned() -> None:
                    # Our own session/process group shields us from the parent's signals, so
                    # poll: when it dies we are re-parented and getppid() changes.
                    while os.getppid() == parent_pid:
                        await anyio.sleep(0.5)
                    tg.cancel_scope.cancel()

                tg.start_soon(on_signal)
                if parent_pid is not None:
                    tg.start_soon(on_orphaned)

        try:
            if isinstance(target, ModuleBase):
                await target.start()
            app = create_app(target, pre=pre, post=post, options=options)
            if sock is None:
                sock = bind_socket(options.host, options.port)
            announce(sock.getsockname()[1])
            await serve_socket(app, sock, shutdown_trigger, options=options)
        finally:
            if sock is not None:
                sock.close()  # a no-op once hypercorn took it over (detached)
            with anyio.CancelScope(shield=True):
                if isinstance(target, ModuleBase):
                    await target.stop()
                await aclose_all()


async def _serve(spec: dict[str, Any]) -> None:
    from .launchers import reach_back

    await run_server(
        reach_back(spec["target"]),
        pre=reach_back(spec["pre"]) if spec.get("pre") else None,
        post=reach_back(spec["post"]) if spec.get("post") else None,
        options=ServerOptions.from_spec(spec["options"]),
        announce=lambda port: _announce(spec["port_file"], port),
        parent_pid=spec.get("parent_pid"))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m asyncllm.serving._child SPEC.json")
    with open(args[0], "rb") as f:
        spec = orjson.loads(f.read())
    with contextlib.suppress(OSError):
        os.unlink(args[0])  # it may hold the security key
    for p in reversed(spec.get("sys_path", [])):
        if p not in sys.path:
            sys.path.insert(0, p)
    anyio.run(_serve, spec, backend=spec.get("backend", "asyncio"))


if __name__ == "__main__":
    main()
