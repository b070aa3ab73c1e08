"""``al.launchers.local()``: this machine — the default everywhere.

Servers run in this process (a hypercorn thread, InProcessLauncher) or, with
``subprocess=True``, in a child process (SubprocessLauncher); commands run as a
:class:`~asyncllm._process.ManagedProcess` (own process group, log file, group stop);
trials run as tasks of the caller's event loop.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from .._concurrency import gather
from .._exceptions import ConfigError
from .._process import ManagedProcess, free_port, http_ok
from .base import CommandSpec, Status, TrialOutcome, expand_port

__all__ = ["LocalLauncher", "ProcessHandle", "local"]


class ProcessHandle:
    """A command running here as a ManagedProcess."""

    def __init__(self, proc: ManagedProcess, url: str | None, grace: float) -> None:
        self.process = proc
        self._url = url
        self._grace = grace
        self._stopped = False

    def __repr__(self) -> str:
        return f"<ProcessHandle {self.process!r} url={self._url}>"

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def status(self) -> Status:
        if self._stopped:
            return Status.CANCELLED
        rc = self.process.returncode
        if rc is None:
            return Status.RUNNING if self.process.pid is not None else Status.PENDING
        return Status.DONE if rc == 0 else Status.FAILED

    @property
    def cause(self) -> str | None:
        if self.status is Status.FAILED:
            return f"{self.process.name} exited with code {self.process.returncode}"
        return None

    async def poll(self) -> Status:
        return self.status

    async def stop(self) -> None:
        self._stopped = True
        await self.process.stop(self._grace)

    async def wait(self) -> None:
        if self.process.pid is not None:
            await self.process.wait()


async def start_command(spec: CommandSpec, *, log_dir: str | None = None, guard: bool = False) -> ProcessHandle:
    """Run ``spec`` here; for a serving command wait until its health URL answers.

    ``guard``: end the command if this process dies without stopping it (_process.guarded)."""
    port = free_port() if spec.serves else None
    argv = expand_port(spec.argv, port) if port is not None else list(spec.argv)
    if guard:
        from .._process import guarded

        argv = guarded(argv)
    directory = log_dir or os.path.join(tempfile.gettempdir(), "asyncllm-jobs")
    await anyio.Path(directory).mkdir(parents=True, exist_ok=True)
    proc = ManagedProcess(argv, name=spec.name, log_path=Path(directory) / f"{spec.name}-{os.urandom(4).hex()}.log")
    await proc.start(env=dict(spec.env), cwd=spec.cwd)
    url = f"http://127.0.0.1:{port}" if port is not None else None
    handle = ProcessHandle(proc, url, spec.stop_grace)
    if url is not None and spec.health_path is not None:
        probe = url + spec.health_path

        async def ready() -> bool:
            return await http_ok(probe)

        try:
            await proc.wait_until(ready, timeout=spec.start_timeout)
        except BaseException:
            await handle.stop()
            raise
    return handle


class LocalLauncher:
    """Runs everything on this machine (see the module docstring)."""

    kind = "local"

    def __init__(self, *, subprocess: bool = False, log_dir: str | None = None) -> None:
        self.subprocess = subprocess
        self.log_dir = log_dir

    def __repr__(self) -> str:
        return f"<launchers.local subprocess={self.subprocess}>"

    def server_launcher(self) -> Any:
        from ..serving.launchers import InProcessLauncher, SubprocessLauncher

        return SubprocessLauncher() if self.subprocess else InProcessLauncher()

    async def launch(self, spec: Any) -> Any:
        if isinstance(spec, CommandSpec):
            return await start_command(spec, log_dir=self.log_dir)
        from ..serving.launchers import ServerSpec

        if isinstance(spec, ServerSpec):
            server = HandleServerLocal(self.server_launcher())
            await server.start(spec)
            return server
        raise ConfigError(f"the local launcher cannot launch {type(spec).__name__}; pass a ServerSpec or CommandSpec")

    async def run_trials(self, target: str, indices: Sequence[int], *, concurrency: int,
                         retries: int = 0) -> list[TrialOutcome]:
        # Trials run in this process: no worker of theirs can die alone, so nothing to re-run.
        from ._trial_task import run_trial

        jobs = [lambda i=i: run_trial(target, i) for i in indices]
        raw = await gather(jobs, limit=concurrency)
        return [TrialOutcome(**r) for r in raw]


class HandleServerLocal:
    """A Handle over the serving layer's InProcess/Subprocess launcher."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self._url: str | None = None
        self._stopped = False

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def status(self) -> Status:
        if self._stopped:
            return Status.CANCELLED
        return Status.RUNNING if self.server.running else Status.DONE

    @property
    def cause(self) -> str | None:
        return None

    async def start(self, spec: Any) -> None:
        self._url = await self.server.launch(spec)

    async def poll(self) -> Status:
        return self.status

    async def stop(self) -> None:
        self._stopped = True
        await self.server.stop()

    async def wait(self) -> None:
        await self.server.wait()


def local(*, subprocess: bool = False, log_dir: str | None = None) -> LocalLauncher:
    """This machine (the default): servers in-process (or ``subprocess=True``), commands as
    process groups, trials as tasks."""
    return LocalLauncher(subprocess=subprocess, log_dir=log_dir)

