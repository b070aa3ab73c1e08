"""Engines and fine-tune jobs through any launcher, shaped for the deploy / finetune code.

* :func:`launch_engine` starts an engine command (with ``{port}``, see
  :data:`~asyncllm.launchers.base.PORT_PLACEHOLDER`) where the launcher puts it and returns
  its root URL and a :class:`LaunchedProcess` — the launcher's handle seen through the part of
  :class:`~asyncllm._process.ManagedProcess` that an ``EngineHandle`` uses.
* :func:`run_job` runs a fine-tune worker as a batch job. Its stdout (JSON progress lines) goes
  to ``events_path`` — which must be on a filesystem both sides see, as the tuned model's
  target directory must anyway — and is followed while the job runs, so progress arrives live.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from .._exceptions import LifecycleError
from .._json_events import JsonEventLines
from .base import CommandSpec, Handle, Launcher, Status

__all__ = ["LaunchedProcess", "is_remote", "launch_engine", "run_job"]


def is_remote(launcher: Any) -> bool:
    """True for a launcher that is not this machine's (Ray, Slurm, …)."""
    return launcher is not None and isinstance(launcher, Launcher) and launcher.kind != "local"


class LaunchedProcess:
    """A launcher's handle with ManagedProcess's ``running``/``returncode``/``stop``/``wait``."""

    def __init__(self, handle: Handle, name: str) -> None:
        self.handle = handle
        self.name = name
        self.pid: int | None = None  # not a process of this machine

    def __repr__(self) -> str:
        return f"<LaunchedProcess {self.name} {self.handle!r}>"

    @property
    def running(self) -> bool:
        return not self.handle.status.finished

    @property
    def returncode(self) -> int | None:
        """0 done, -15 stopped by us, 1 failed or ended by someone else (an outside scancel)."""
        status = self.handle.status
        if not status.finished:
            return None
        if status is Status.DONE:
            return 0
        return -15 if status is Status.CANCELLED and self.handle.cause is None else 1

    @property
    def cause(self) -> str | None:
        """Why it ended, when not by our stop (see :attr:`Handle.cause`)."""
        return self.handle.cause

    @property
    def log_path(self) -> Path | None:
        path = getattr(self.handle, "log_path", None)
        return Path(path) if isinstance(path, str) else None

    def log_tail(self, lines: int = 40) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self, grace: float = 5.0) -> int | None:
        await self.handle.stop()
        return self.returncode

    async def wait(self) -> int:
        await self.handle.wait()
        return self.returncode if self.returncode is not None else 1


async def launch_engine(launcher: Launcher, argv: Sequence[str], *, name: str, health_path: str,
                        env: Mapping[str, str] | None = None, timeout: float = 600.0,
                        num_cpus: float | None = None, num_gpus: int | None = None) -> tuple[str, LaunchedProcess]:
    """Start an engine whose ``argv`` holds ``{port}``; return (root URL, process view)."""
    spec = CommandSpec(list(argv), name=name, env=dict(env or {}), health_path=health_path, start_timeout=timeout,
                       num_cpus=num_cpus, num_gpus=num_gpus)
    handle = await launcher.launch(spec)
    assert handle.url is not None
    return handle.url, LaunchedProcess(handle, name)


# Sends the worker's stdout to a file, then execs it (so signals reach the worker itself).
_TO_FILE = 'out="$1"; shift; exec "$@" > "$out"'


async def run_job(launcher: Launcher, argv: Sequence[str], *, events_path: Path, name: str,
                  on_event: Callable[[dict[str, Any]], Awaitable[None]], env: Mapping[str, str] | None = None,
                  timeout: float | None = None, num_cpus: float | None = None,
                  num_gpus: int | None = None, poll: float = 0.25) -> dict[str, Any]:
    """Run a worker that prints JSON events on stdout as a job; return its last event.

    Fails with :class:`LifecycleError` (with the job's log tail) when the job fails, ends without
    ``{"done": true}`` or runs past ``timeout``; the job is stopped on any way out."""
    await anyio.Path(events_path.parent).mkdir(parents=True, exist_ok=True)
    await anyio.Path(events_path).write_bytes(b"")
    spec = CommandSpec(["/bin/sh", "-c", _TO_FILE, "sh", str(events_path), *argv], name=name,
                       env=dict(env or {}), num_cpus=num_cpus, num_gpus=num_gpus)
    handle = await launcher.launch(spec)
    last: dict[str, Any] = {}
    offset = 0
    lines = JsonEventLines()

    async def follow(final: bool = False) -> None:
        nonlocal offset, last
        data = await anyio.Path(events_path).read_bytes()
        new, offset = data[offset:], len(data)
        for event in lines.feed(new) + (lines.close() if final else []):
            last = event
            await on_event(event)

    try:
        with anyio.fail_after(timeout):
            while not (await handle.poll()).finished:
                await follow()
                await anyio.sleep(poll)
        await follow(final=True)
    except TimeoutError as exc:
        raise LifecycleError(f"{name} ran past {timeout} s on {launcher!r}") from exc
    finally:
        with anyio.CancelScope(shield=True):
            status = handle.status
            tail = LaunchedProcess(handle, name).log_tail()
            await handle.stop()
    if status is not Status.DONE or last.get("done") is False or not last:
        err = last.get("error") or f"job ended {status.value}"
        raise LifecycleError(f"{name} failed on {launcher!r}: {err}\n--- job log ---\n{tail}")
    return last
