"""The launcher protocol: *where* a server, an engine command or a trial runs.

A launcher is a small, reusable configuration object (``al.launchers.local()``,
``al.launchers.ray(num_replicas=2)``, ``al.launchers.slurm(partition="gpu")``). Each
``await launcher.launch(spec)`` starts one thing and returns a :class:`Handle` for it:

* a :class:`~asyncllm.serving.launchers.ServerSpec` — a module served over HTTP (ServerModule);
* a :class:`CommandSpec` — a command line (an inference engine, a fine-tune job).

A handle reports where the thing answers (``url``), its ``status`` — kept current on its own
by remote handles (see _watch.py); ``await poll()`` looks at once — and, once it ended without
our ``stop()``, the ``cause`` (a dead actor or replica, a cancelled job, a lost node, an exit
code). ``await stop()`` ends it and everything it started (idempotent, shielded from
cancellation) and ``await wait()`` returns when it ended on its own.

Trials use :meth:`Launcher.run_trials` (see trial.py): each combination is named by an
index into the module tree reached by import path, so no module object travels.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from .._exceptions import ConfigError
from .._status import Status

__all__ = ["CommandSpec", "Handle", "Launcher", "RemoteLauncher", "RemoteState", "SpecDispatch", "Status",
           "TrialOutcome", "at_least", "expand_port", "seconds"]


_PORT = "{port}"
_N = TypeVar("_N", int, float)


@dataclass(frozen=True)
class CommandSpec:
    """A command to run where the launcher decides.

    ``argv`` may contain the placeholder ``{port}``: the launcher picks a free port on the
    machine that runs the command and substitutes it; ``health_path`` (relative to
    ``http://<node>:<port>``) is then polled until it answers 200, and the handle's ``url`` is
    that root. Without ``{port}`` the command is a batch job (a fine-tune) and the handle has no
    URL. ``env`` reaches the command through its environment (a 0600 file for Slurm), never its
    command line: put secrets there. ``num_cpus``/``num_gpus`` are what the command needs.
    """

    argv: Sequence[str]
    name: str = "job"
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: str | None = None
    health_path: str | None = "/health"
    start_timeout: float = 600.0
    num_cpus: float | None = None
    num_gpus: int | None = None
    stop_grace: float = 10.0

    def __post_init__(self) -> None:
        if not self.argv or not all(isinstance(a, str) for a in self.argv):
            raise ConfigError("CommandSpec.argv must be a non-empty list of strings")
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", self.name):
            raise ConfigError(f"CommandSpec.name {self.name!r} may only hold letters, digits, '.', '_' and '-'")

    @property
    def serves(self) -> bool:
        """True when the command listens on ``{port}`` (an engine), False for a batch job."""
        return any(_PORT in a for a in self.argv)


def expand_port(argv: Sequence[str], port: int) -> list[str]:
    """``argv`` with every ``{port}`` replaced by ``port``."""
    return [a.replace(_PORT, str(port)) for a in argv]


@runtime_checkable
class Handle(Protocol):
    """One launched server, engine or job."""

    @property
    def url(self) -> str | None: ...
    @property
    def status(self) -> Status: ...
    @property
    def cause(self) -> str | None:
        """Why it ended, when not by our ``stop()``; None while it runs."""
        ...
    async def poll(self) -> Status: ...
    async def stop(self) -> None: ...
    async def wait(self) -> None: ...


@dataclass
class TrialOutcome:
    """What comes back from a remote trial: JSON-able data only. ``error`` is
    ``"ExceptionType: message"`` when the trial failed."""

    index: int
    eval_result: Any = None
    error: str | None = None
    #: module name → path of each model the trial fine-tuned (on the node that ran it)
    model_paths: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Launcher(Protocol):
    """Where things run. Implementations: local.py, ray.py, slurm.py."""

    kind: str

    async def launch(self, spec: Any) -> Handle:
        """Start ``spec`` (a ServerSpec or a :class:`CommandSpec`); return once it answers."""
        ...

    def server_launcher(self) -> Any:
        """A one-server object with the serving layer's launcher interface
        (``launch(spec) -> url``, ``stop``, ``wait``, ``running``), for ServerModule."""
        ...

    async def run_trials(self, target: str, indices: Sequence[int], *, concurrency: int,
                         retries: int = 0) -> list[TrialOutcome]:
        """Run the trials ``indices`` of the module at import path ``target``; re-run a trial
        whose worker died (crash, out of memory, lost node) at most ``retries`` times."""
        ...


class SpecDispatch:
    """``launch(spec)`` of a launcher: a served module's ``ServerSpec`` goes to
    ``_launch_server``, a :class:`CommandSpec` (an engine, a fine-tune) to ``_launch_command``;
    anything else is a :class:`ConfigError` naming both."""

    kind: str

    async def launch(self, spec: Any) -> Any:
        from ..serving.launchers import ServerSpec

        if isinstance(spec, ServerSpec):
            return await self._launch_server(spec)
        if isinstance(spec, CommandSpec):
            return await self._launch_command(spec)
        raise ConfigError(f"the {self.kind} launcher cannot launch {type(spec).__name__}; pass a ServerSpec or "
                          "CommandSpec")

    async def _launch_server(self, spec: Any) -> Any:
        raise NotImplementedError

    async def _launch_command(self, spec: CommandSpec) -> Any:
        raise NotImplementedError


def at_least(name: str, value: _N, least: int) -> _N:
    """``value``, checked to be at least ``least`` (a count, or a share of a node's CPUs/GPUs): one
    rule, and one message, for every launcher option and sbatch directive."""
    if value < least:
        raise ConfigError(f"{name} must be >= {least}, got {value}")
    return value


def seconds(name: str, value: float) -> float:
    """``value``, checked to be a positive number of seconds (0 would poll in a busy loop, or give
    up before anything started)."""
    if not value > 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return value


class RemoteLauncher(SpecDispatch):
    """A launcher that runs things on other machines (Ray, Slurm): a served module goes through a
    :class:`HandleServer`, and a start is bounded by ``start_timeout`` as a whole."""

    start_timeout: float

    def server_launcher(self) -> HandleServer:
        return HandleServer(self)

    async def run_trials(self, target: str, indices: Sequence[int], *, concurrency: int,
                         retries: int = 0) -> list[TrialOutcome]:
        raise NotImplementedError


class RemoteState:
    """What a remote handle's state needs (the Ray and Slurm handles build on it): ``url``,
    ``status`` and ``cause``, written by the watcher thread and by the event loop under one
    lock, and whether we released (stopped) it. A Ray handle settles them once (``_settle``):
    once released or finished, nothing overwrites them. A Slurm handle sets them from each
    record Slurm gives of the job, also after its ``stop()``, which waits for Slurm to say the
    job ended."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._url: str | None = None
        self._status = Status.PENDING
        self._cause: str | None = None
        self._released = False
        self._lock = threading.Lock()

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def status(self) -> Status:
        return self._status

    @property
    def cause(self) -> str | None:
        return self._cause

    def _settle(self, status: Status, cause: str | None) -> None:
        with self._lock:
            if not self._released and not self._status.finished:
                self._status, self._cause = status, cause

    def _release(self) -> bool:
        """Mark it stopped by us; False when it already was."""
        with self._lock:
            if self._released:
                return False
            self._released = True
            return True

    async def poll(self) -> Status:
        raise NotImplementedError

    async def _wait(self, interval: float) -> None:
        import anyio

        while not self._released and not (await self.poll()).finished:
            await anyio.sleep(interval)


class HandleServer:
    """Adapts a :class:`Launcher` to the serving layer's one-server interface."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher
        self.handle: Handle | None = None

    def __repr__(self) -> str:
        return f"<HandleServer {self.launcher!r} url={self.handle.url if self.handle else None}>"

    @property
    def url(self) -> str | None:
        return self.handle.url if self.handle is not None else None

    @property
    def running(self) -> bool:
        return self.handle is not None and not self.handle.status.finished

    async def launch(self, spec: Any) -> str:
        if self.handle is not None:
            from .._exceptions import LifecycleError

            raise LifecycleError(f"this launcher already runs a server at {self.url}; stop() it first")
        self.handle = await self.launcher.launch(spec)
        url = self.handle.url
        assert url is not None
        return url

    async def stop(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            await handle.stop()

    async def wait(self) -> None:
        if self.handle is not None:
            await self.handle.wait()

    async def failure_cause(self) -> str | None:
        """Why a call to the server may have failed mid-way — a replica died, the job was
        cancelled, the node was lost — when the handle can tell; None otherwise."""
        explain = getattr(self.handle, "failure_cause", None)
        return None if explain is None else await explain()


def merge_env(*envs: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in envs:
        out.update(e or {})
    return out


class _PortPlaceholder(int):
    """An ``int`` that prints as ``{port}``: lets code that builds a command line with
    ``str(port)`` / f-strings produce the placeholder a remote launcher fills in on its node."""

    def __str__(self) -> str:
        return _PORT

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return _PORT


PORT_PLACEHOLDER: int = _PortPlaceholder(0)
