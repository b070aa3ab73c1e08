"""``Deployer``: what every inference engine shares — launch a subprocess, probe, stop.

An engine file subclasses :class:`Deployer` and says four things: which package it needs
(``requires``), the command line (``command``), the readiness probe (``health_path``) and the
API it speaks (``api``: ``"openai"`` for every engine here; LightLLM also documents its native
format). :meth:`Deployer.launch` starts the command with :class:`~asyncllm._process.ManagedProcess`
(own process group, log file), waits until the health URL answers 200 (never by reading its log;
the progress display shows the wait when it lasts) and returns an :class:`EngineHandle`
holding the OpenAI base URL and the process.

``deploy_method(al.deploy.X, **kw)`` stores ``X`` and ``kw``; the keywords reach the deployer's
constructor (after ``auto_map`` renames, e.g. ``tp`` → ``tensor_parallel_size``), and the ones
it does not know become extra ``--flag value`` options of the engine's command line.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import anyio

from .._config import config
from .._exceptions import ConfigError
from .._http import aclose_origin
from .._process import ManagedProcess, free_port, guarded, http_ok
from .._progress import progress
from .._requires import Requires

__all__ = ["Deployer", "EngineHandle", "EngineStatus", "cli_flags"]


class EngineStatus(StrEnum):
    """What ``TrainableModule.status()`` reports."""

    NOT_STARTED = "not started"
    RUNNING = "running"
    ATTACHED = "attached"  # deploy_method(..., url=...): somebody else runs it
    STOPPED = "stopped"
    FAILED = "failed"  # the engine process exited on its own


def cli_flags(options: Mapping[str, Any], *, style: str = "dash") -> list[str]:
    """``{"max_model_len": 4096, "trust_remote_code": True}`` → ``--max-model-len 4096 --trust-remote-code``.

    ``style="underscore"`` keeps underscores (llama.cpp's and LightLLM's spelling). ``True`` is a
    bare flag, ``False``/``None`` are left out, lists repeat the value list after the flag.
    """
    out: list[str] = []
    for key, value in options.items():
        name = "--" + (key.replace("_", "-") if style == "dash" else key)
        if value is None or value is False:
            continue
        if value is True:
            out.append(name)
        elif isinstance(value, (list, tuple)):
            out.extend([name, *(str(v) for v in value)])
        else:
            out.extend([name, str(value)])
    return out


@dataclass
class EngineHandle:
    """A running (or attached) engine: where to reach it and, when we launched it, its process."""

    base_url: str  # the OpenAI base, ending in "/v1/"
    deployer: Deployer | None = None
    process: ManagedProcess | None = None
    model: str = ""
    served_name: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def log_path(self) -> str | None:
        return None if self.process is None or self.process.log_path is None else str(self.process.log_path)

    def status(self) -> EngineStatus:
        if self.process is None:
            return EngineStatus.ATTACHED
        if self.process.running:
            return EngineStatus.RUNNING
        # 143 = 128 + SIGTERM, as the supervisor reports an engine ended by stop()
        return EngineStatus.FAILED if self.process.returncode not in (0, -15, 143, None) else EngineStatus.STOPPED

    async def stop(self) -> None:
        if self.process is not None:
            try:
                await self.process.stop()
            finally:
                # Pooled connections to a dead engine are useless; close them with it.
                await aclose_origin(self.base_url)

    async def wait(self) -> None:
        # A remote engine (launchers.jobs.LaunchedProcess) has no pid here, yet runs: wait for it.
        if self.process is not None and (self.process.pid is not None or not isinstance(self.process, ManagedProcess)):
            await self.process.wait()


def normalize_url(url: str) -> str:
    """``…``, ``…/v1``, ``…/v1/``, ``…/v1/chat/completions`` → ``…/v1/`` (as LazyLLM does)."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"deploy url must start with http:// or https://, got {url!r}")
    u = url.rstrip("/")
    for suffix in ("/chat/completions", "/completions", "/embeddings", "/rerank"):
        if u.endswith(suffix):
            u = u[: -len(suffix)]
            break
    if not u.endswith("/v1"):
        u += "/v1"
    return u + "/"


def _log_dir() -> Path:
    return Path(str(config.get("engine_log_dir", "") or Path(tempfile.gettempdir()) / "asyncllm-engines"))


class Deployer(Requires):
    """Base of every engine. Subclasses set the class attributes and override :meth:`command`."""
    #: how the engine's OpenAI server takes a JSON schema (see online/_structured.py)
    structured_output: ClassVar[str] = "json_schema"

    name: ClassVar[str] = ""
    #: model kinds it can serve: "llm", "embed", "rerank"
    serves: ClassVar[tuple[str, ...]] = ("llm",)
    #: GET this (relative to the server root) until it answers 200
    health_path: ClassVar[str] = "/health"
    api: ClassVar[str] = "openai"
    #: the engine can report its own port (``--port 0 --port-file``) instead of us picking one
    port_file: ClassVar[bool] = False
    #: keyword → the engine's own option name (LazyLLM's ``auto_map``)
    auto_map: ClassVar[dict[str, str]] = {}
    #: keys of the parameters the engine needs from us; the rest go to the command line
    known: ClassVar[frozenset[str]] = frozenset()
    #: the engine has a ``trust_remote_code`` option (TrainableModule passes its own setting on)
    takes_trust_remote_code: ClassVar[bool] = False
    startup_timeout: ClassVar[float] = 300.0

    def __init__(self, *, url: str | None = None, host: str = "127.0.0.1", port: int | None = None,
                 startup_timeout: float | None = None, served_name: str | None = None,
                 env: Mapping[str, str] | None = None, launcher: Any = None, **options: Any) -> None:
        self.url = normalize_url(url) if url else None
        self.host = host
        self.port = port
        self.timeout = float(startup_timeout or self.startup_timeout)
        self.served_name = served_name
        self.env = dict(env or {})
        #: where the engine runs: None / al.launchers.local() here, or al.launchers.ray()/slurm()
        self.launcher = launcher
        self.options = {self.auto_map.get(k, k): v for k, v in options.items()}

    def __repr__(self) -> str:
        return f"<deploy.{self.name} options={self.options}>"

    # -- what subclasses say ------------------------------------------------------------------

    @classmethod
    def needed_for(cls) -> str:
        return f"the {cls.name} engine"

    def command(self, model: str, port: int, port_file: Path | None) -> list[str]:
        raise NotImplementedError

    def served_model_name(self, model: str) -> str:
        return self.served_name or "asyncllm"

    def python(self) -> str:
        return sys.executable

    def _start_desc(self, model: str) -> str:
        return f"starting {self.name} ({Path(model).name or model})"

    # -- launching ----------------------------------------------------------------------------

    async def _launch_remote(self, model: str) -> EngineHandle:
        # The launcher's node picks the port ({port} in the command line); no local supervisor:
        # the Ray actor / Slurm job owns the engine's lifetime.
        from ..launchers.base import PORT_PLACEHOLDER
        from ..launchers.jobs import launch_engine

        argv = self.command(model, PORT_PLACEHOLDER, None)
        with progress(f"{self._start_desc(model)} on {getattr(self.launcher, 'kind', 'a launcher')}"):
            root, proc = await launch_engine(self.launcher, argv, name=f"engine-{self.name}",
                                             health_path=self.health_path, env=self.env, timeout=self.timeout)
        return EngineHandle(f"{root}/v1/", self, proc, model, self.served_model_name(model),  # type: ignore[arg-type]
                            {"command": shlex.join(argv), "launcher": repr(self.launcher)})

    async def launch(self, model: str) -> EngineHandle:
        """Start the engine for ``model`` and return once its health URL answers."""
        if self.url:
            return EngineHandle(self.url, self, None, model, self.served_model_name(model))
        self.check_available()
        if self.launcher is not None:
            from ..launchers.jobs import is_remote

            if is_remote(self.launcher):
                return await self._launch_remote(model)
        log_dir = _log_dir()
        await anyio.Path(log_dir).mkdir(parents=True, exist_ok=True)
        stem = f"{self.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # unique per launch
        port_path = log_dir / f"{stem}.port" if self.port_file and not self.port else None
        port = self.port or (0 if port_path is not None else free_port(self.host))
        argv = self.command(model, port, port_path)
        proc = ManagedProcess(guarded(argv), name=f"engine {self.name}", log_path=log_dir / f"{stem}.log")
        with progress(self._start_desc(model)):
            await proc.start(env=self.env)
            try:
                if port_path is not None:
                    port = await proc.read_port_file(port_path, timeout=self.timeout)
                root = f"http://{self.host if ':' not in self.host else f'[{self.host}]'}:{port}"
                health = root + self.health_path

                async def ready() -> bool:
                    return await http_ok(health, timeout=2.0)

                await proc.wait_until(ready, timeout=self.timeout)
            except BaseException:
                await proc.stop()
                raise
            finally:
                if port_path is not None:
                    await anyio.Path(port_path).unlink(missing_ok=True)
        return EngineHandle(f"{root}/v1/", self, proc, model, self.served_model_name(model),
                            {"command": shlex.join(argv)})


def extra_options(options: Mapping[str, Any], known: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in known}
