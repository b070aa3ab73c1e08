"""``al.launchers.ray(...)``: servers, engines and trials on a Ray cluster.

* A served module (``ServerModule(m, launcher=al.launchers.ray(num_replicas=N))``) becomes a
  Ray Serve application of N replicas (_ray_replica.py) behind Ray's HTTP proxy, under the
  route ``/<app name>``; the handle's URL is ``http://<proxy host>:<port>/<app name>`` and
  speaks exactly the local server's protocol. ``stop()`` deletes the application.
* A command (an engine) runs in an async actor holding the CPUs/GPUs the spec asks for
  (_ray_actors.py); the actor runs it as a process group on its node and reports its URL.
* Trials run as Ray tasks (sync functions that run the trial with ``anyio.run``).

``address=None`` starts a local Ray instance, entirely on loopback (_ray_env.py), when the
first thing is launched, and shuts it down when the last one stops; an address joins that
cluster (and leaves it alone). If this process already has Ray initialised, that instance is
used and never shut down by us. The served object is named by import path; Ray's API is
blocking, so every call runs in a worker thread.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from .._exceptions import ConfigError, EngineStartError
from .._process import free_port, import_dirs
from . import _ray_quiet
from ._ray_env import LOOPBACK, RayHandle, import_ray, serve_http_options, start_ray
from .base import CommandSpec, HandleServer, Status, TrialOutcome

__all__ = ["RayLauncher", "ray"]

T = TypeVar("T")


async def _blocking(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kw))


class _Runtime:
    """The Ray connection of this process, shared by every launcher; counted so that a Ray we
    started goes away with the last thing launched on it."""

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
            client = _serve_client()
            if client is None:
                _serve().start(http_options=serve_http_options(port or free_port(host), host=host))
                client = _serve_client()
            if client is None:  # pragma: no cover - serve.start returned without a controller
                raise ConfigError("Ray Serve did not start")
            return int(client.http_config.port)


def _serve() -> Any:
    import importlib

    return importlib.import_module("ray.serve")


def _serve_client() -> Any:
    # Private, but the only way to learn the proxy's port when Serve was started before us.
    from ray.serve.context import _get_global_client

    return _get_global_client(raise_if_no_controller_running=False)


def _app_message(name: str) -> str:
    with contextlib.suppress(Exception):
        app = _serve().status().applications.get(name)
        if app is not None:
            parts = [app.message] + [d.message for d in app.deployments.values()]
            return "\n".join(p for p in parts if p)[-4000:]
    return ""


class RayLauncher:
    """See the module docstring. ``num_cpus``/``num_gpus`` are per replica, actor or task."""

    kind = "ray"

    def __init__(self, address: str | None = None, *, num_replicas: int = 1, num_cpus: float | None = None,
                 num_gpus: float | None = None, max_ongoing_requests: int | None = None,
                 http_host: str = LOOPBACK, http_port: int | None = None, start_timeout: float = 120.0,
                 access_log: bool = False, ray_init: dict[str, Any] | None = None) -> None:
        if num_replicas < 1:
            raise ConfigError(f"num_replicas must be >= 1, got {num_replicas}")
        for name, v in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
            if v is not None and v < 0:
                raise ConfigError(f"{name} must be >= 0, got {v}")
        if address is not None and ray_init and any(k in ray_init for k in ("num_cpus", "num_gpus")):
            raise ConfigError("ray_init num_cpus/num_gpus only apply when the launcher starts Ray (address=None)")
        self.address = address
        self.num_replicas = num_replicas
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.max_ongoing_requests = max_ongoing_requests
        self.http_host = http_host
        self.http_port = http_port
        self.start_timeout = start_timeout
        self.access_log = access_log
        self.ray_init = dict(ray_init or {})

    def __repr__(self) -> str:
        return (f"<launchers.ray address={self.address or 'local'} num_replicas={self.num_replicas} "
                f"num_cpus={self.num_cpus} num_gpus={self.num_gpus}>")

    def server_launcher(self) -> HandleServer:
        return HandleServer(self)

    def _resources(self, num_cpus: float | None = None, num_gpus: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        cpus = self.num_cpus if num_cpus is None else num_cpus
        gpus = self.num_gpus if num_gpus is None else num_gpus
        if cpus is not None:
            out["num_cpus"] = cpus
        if gpus is not None:
            out["num_gpus"] = gpus
        return out

    async def _acquire(self) -> RayHandle:
        return await _blocking(_Runtime.acquire, self.address, self.ray_init)

    async def launch(self, spec: Any) -> Any:
        from ..serving.launchers import ServerSpec

        if isinstance(spec, ServerSpec):
            return await self._launch_server(spec)
        if isinstance(spec, CommandSpec):
            return await self._launch_command(spec)
        raise ConfigError(f"the Ray launcher cannot launch {type(spec).__name__}; pass a ServerSpec or CommandSpec")

    # -- served modules ----------------------------------------------------------------------

    async def _launch_server(self, spec: Any) -> RayServeHandle:
        from ..serving.launchers import wait_healthy

        config = await _blocking(spec.child_data)
        name = f"asyncllm-{uuid.uuid4().hex[:12]}"
        await self._acquire()
        handle = RayServeHandle(name)
        try:
            port = await _blocking(_Runtime.ensure_serve, self.http_port, self.http_host)
            await _blocking(self._deploy, name, config)
            handle._url = f"http://{self.http_host}:{port}/{name}"
            await wait_healthy(handle._url, self.start_timeout)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await handle.stop()
            raise
        return handle

    def _deploy(self, name: str, config: dict[str, Any]) -> None:
        from ._ray_replica import ServedModuleDeployment

        # Serve writes one access-log line per request in every replica unless told not to.
        options: dict[str, Any] = {"num_replicas": self.num_replicas, "ray_actor_options": self._resources(),
                                   "logging_config": {"enable_access_log": self.access_log}}
        if self.max_ongoing_requests is not None:
            options["max_ongoing_requests"] = self.max_ongoing_requests
        app = ServedModuleDeployment.options(**options).bind(config)
        try:
            _serve().run(app, name=name, route_prefix=f"/{name}")
        except Exception as exc:
            # Serve's own message only says the deployment failed; the replica's error is in
            # the application status.
            raise EngineStartError(f"Ray Serve could not deploy {config['target']}: {exc}",
                                   log_tail=_app_message(name)) from exc

    # -- commands (engines, fine-tunes) ------------------------------------------------------

    async def _launch_command(self, spec: CommandSpec) -> RayActorHandle:
        await self._acquire()
        handle = RayActorHandle(spec.name)
        try:
            await _blocking(handle._create, self._resources(spec.num_cpus, spec.num_gpus))
            handle._url = await handle._call("start", asdict(spec) | {"env": dict(spec.env)})
            handle._status = Status.RUNNING
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                tail = await handle.log_tail() if handle._actor is not None else ""
                await handle.stop()
            if isinstance(exc, Exception):
                raise EngineStartError(f"{spec.name} did not start on Ray: {exc}", log_tail=tail) from exc
            raise
        return handle

    # -- trials ------------------------------------------------------------------------------

    async def run_trials(self, target: str, indices: Sequence[int], *, concurrency: int) -> list[TrialOutcome]:
        await self._acquire()
        try:
            return await _blocking(self._run_trials, target, list(indices), concurrency)
        finally:
            await _blocking(_Runtime.release)

    def _run_trials(self, target: str, indices: list[int], concurrency: int) -> list[TrialOutcome]:
        from ._trial_task import run_trial_blocking

        ray_mod = import_ray()
        task = ray_mod.remote(run_trial_blocking).options(**self._resources())
        sys_path = import_dirs()
        pending = list(indices)
        running: dict[Any, int] = {}
        done: dict[int, TrialOutcome] = {}
        while pending or running:
            while pending and len(running) < concurrency:
                i = pending.pop(0)
                running[task.remote(target, i, sys_path)] = i
            ready, _ = ray_mod.wait(list(running), num_returns=1)
            for ref in ready:
                i = running.pop(ref)
                try:
                    done[i] = TrialOutcome(**ray_mod.get(ref))
                except Exception as exc:  # the task itself died (worker crash, OOM kill)
                    done[i] = TrialOutcome(i, error=f"{type(exc).__name__}: {exc}")
        return [done[i] for i in indices]


class RayServeHandle:
    """A Serve application serving one module."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._url: str | None = None
        self._status = Status.PENDING
        self._released = False

    def __repr__(self) -> str:
        return f"<RayServeHandle {self.name} {self._status.value} url={self._url}>"

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def status(self) -> Status:
        return self._status if self._status.finished or self._url is None else Status.RUNNING

    async def poll(self) -> Status:
        if self._released:
            return self._status
        status = await _blocking(lambda: _serve().status().applications.get(self.name))
        if status is None:
            self._status = Status.CANCELLED
        else:
            s = str(getattr(status.status, "value", status.status))
            self._status = {"RUNNING": Status.RUNNING, "DEPLOY_FAILED": Status.FAILED,
                            "UNHEALTHY": Status.FAILED}.get(s, Status.PENDING)
        return self._status

    async def stop(self) -> None:
        if self._released:
            return
        self._released = True
        with anyio.CancelScope(shield=True):
            try:
                with contextlib.suppress(Exception):
                    await _blocking(_serve().delete, self.name)
                if self._url is not None:
                    from .._http import aclose_origin

                    await aclose_origin(self._url)
            finally:
                self._status = Status.CANCELLED
                await _blocking(_Runtime.release)

    async def wait(self) -> None:
        while not self._released and (await self.poll()) in (Status.RUNNING, Status.PENDING):
            await anyio.sleep(1.0)


class RayActorHandle:
    """A command running in a Ray actor."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._actor: Any = None
        self._url: str | None = None
        self._status = Status.PENDING
        self._released = False

    def __repr__(self) -> str:
        return f"<RayActorHandle {self.name} {self._status.value} url={self._url}>"

    def _create(self, resources: dict[str, Any]) -> None:
        from ._ray_actors import CommandActor

        ray_mod = import_ray()
        self._actor = ray_mod.remote(CommandActor).options(**resources).remote()

    async def _call(self, method: str, *args: Any) -> Any:
        ray_mod = import_ray()
        ref = getattr(self._actor, method).remote(*args)
        return await _blocking(ray_mod.get, ref)

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def status(self) -> Status:
        return self._status

    async def poll(self) -> Status:
        if not self._released and self._actor is not None:
            with contextlib.suppress(Exception):
                self._status = Status(await self._call("status"))
        return self._status

    async def log_tail(self, lines: int = 40) -> str:
        try:
            return str(await self._call("log_tail", lines))
        except Exception:
            return ""

    async def stop(self) -> None:
        if self._released:
            return
        self._released = True
        with anyio.CancelScope(shield=True):
            try:
                if self._actor is not None:
                    with contextlib.suppress(Exception):
                        with anyio.move_on_after(60):
                            await self._call("stop")
                    ray_mod = import_ray()
                    with contextlib.suppress(Exception):
                        await _blocking(ray_mod.kill, self._actor)
            finally:
                self._actor = None
                self._status = Status.CANCELLED
                await _blocking(_Runtime.release)

    async def wait(self) -> None:
        if self._actor is not None and not self._released:
            self._status = Status(await self._call("wait"))


def ray(address: str | None = None, *, num_replicas: int = 1, num_cpus: float | None = None,
        num_gpus: float | None = None, **kw: Any) -> RayLauncher:
    """Run on Ray: a local loopback instance (``address=None``) or the cluster at ``address``.
    ``num_replicas`` applies to served modules; ``num_cpus``/``num_gpus`` to each replica, actor
    or trial task. Other keywords: ``max_ongoing_requests`` (Serve's default is 5 per replica),
    ``http_host``, ``http_port``, ``start_timeout``, ``access_log`` (Serve's per-request log
    lines, off by default), ``ray_init`` (extra ``ray.init`` arguments for a local start)."""
    return RayLauncher(address, num_replicas=num_replicas, num_cpus=num_cpus, num_gpus=num_gpus, **kw)
