"""``al.launchers.ray(...)``: servers, engines and trials on a Ray cluster.

* A served module (``ServerModule(m, launcher=al.launchers.ray(num_replicas=N))``) becomes a
  Ray Serve application of N replicas (_ray_replica.py) behind Ray's HTTP proxy, under the
  route ``/<app name>``; the handle's URL is ``http://<proxy host>:<port>/<app name>`` and
  speaks exactly the local server's protocol. ``stop()`` deletes the application
  (_ray_serve.py). Replicas reserve ``num_cpus`` each; by default at most a quarter of the
  largest node for all of them (_ray_resources.py), not Serve's 1 CPU each.
* A command (an engine) runs in an async actor holding the CPUs/GPUs the spec asks for
  (_ray_actors.py, _ray_command.py); the actor runs it as a process group on its node and
  reports its URL.
* Trials run as Ray tasks (sync functions that run the trial with ``anyio.run``), never
  re-run after a crash unless ``retries`` says so (Ray's default is 3 retries).

Every wait on Ray is bounded by the launcher's timeouts and the caller's cancellation; what the
cluster cannot place is a :class:`~asyncllm.ResourcesUnavailableError` naming what was asked and
what there is. Handles keep their status current on their own (_watch.py).

``address=None`` starts a local Ray instance, entirely on loopback (_ray_env.py), when the
first thing is launched, and shuts it down when the last one stops; an address joins that
cluster (and leaves it alone). If this process already has Ray initialised, that instance is
used and never shut down by us. The served object is named by import path; Ray's API is
blocking, so every call runs in a worker thread.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from .._exceptions import ConfigError, EngineStartError
from .._process import import_dirs
from ._ray_command import RayActorHandle
from ._ray_env import LOOPBACK, RayHandle, import_ray
from ._ray_resources import ask, check_fits, default_replica_cpus
from ._ray_runtime import Runtime, blocking
from ._ray_serve import RayServeHandle
from .base import CommandSpec, RemoteLauncher, TrialOutcome, at_least, seconds

__all__ = ["RayActorHandle", "RayLauncher", "RayServeHandle", "ray"]


class RayLauncher(RemoteLauncher):
    """See the module docstring. ``num_cpus``/``num_gpus`` are per replica, actor or task."""

    kind = "ray"

    def __init__(self, address: str | None = None, *, num_replicas: int = 1, num_cpus: float | None = None,
                 num_gpus: float | None = None, max_ongoing_requests: int | None = None,
                 http_host: str = LOOPBACK, http_port: int | None = None, start_timeout: float = 120.0,
                 access_log: bool = False, ray_init: dict[str, Any] | None = None) -> None:
        if address is not None and ray_init and any(k in ray_init for k in ("num_cpus", "num_gpus")):
            raise ConfigError("ray_init num_cpus/num_gpus only apply when the launcher starts Ray (address=None)")
        self.address = address
        self.num_replicas = at_least("num_replicas", num_replicas, 1)
        self.num_cpus = num_cpus if num_cpus is None else at_least("num_cpus", num_cpus, 0)
        self.num_gpus = num_gpus if num_gpus is None else at_least("num_gpus", num_gpus, 0)
        self.max_ongoing_requests = max_ongoing_requests
        self.http_host = http_host
        self.http_port = http_port
        self.start_timeout = seconds("start_timeout", start_timeout)
        self.access_log = access_log
        self.ray_init = dict(ray_init or {})

    def __repr__(self) -> str:
        return (f"<launchers.ray address={self.address or 'local'} num_replicas={self.num_replicas} "
                f"num_cpus={self.num_cpus} num_gpus={self.num_gpus}>")

    def _resources(self, num_cpus: float | None = None, num_gpus: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        cpus = self.num_cpus if num_cpus is None else num_cpus
        gpus = self.num_gpus if num_gpus is None else num_gpus
        if cpus is not None:
            out["num_cpus"] = cpus
        if gpus is not None:
            out["num_gpus"] = gpus
        return out

    @staticmethod
    def _request(resources: dict[str, Any]) -> dict[str, float]:
        """What Ray will reserve: its default is 1 CPU for a task or an actor's placement."""
        return ask({"num_cpus": 1.0} | resources)

    async def _acquire(self) -> RayHandle:
        return await blocking(Runtime.acquire, self.address, self.ray_init)

    # -- served modules ----------------------------------------------------------------------

    async def _launch_server(self, spec: Any) -> RayServeHandle:
        import time

        import anyio

        config = await blocking(spec.child_data)
        name = f"asyncllm-{uuid.uuid4().hex[:12]}"
        await self._acquire()
        handle = RayServeHandle(name)
        t0 = time.monotonic()
        try:
            options = await blocking(self._replica_options, config["target"])
            request = ask(options["ray_actor_options"])
            try:
                with anyio.fail_after(self.start_timeout):
                    port = await blocking(Runtime.ensure_serve, self.http_port, self.http_host, abandon=True)
            except TimeoutError:
                raise EngineStartError(f"Ray Serve did not start within {self.start_timeout:g}s") from None
            from ._ray_replica import ServedModuleDeployment

            app = ServedModuleDeployment.options(**options).bind(config)
            # One deadline for the whole start: what Serve's own start took comes off it.
            left = max(1.0, self.start_timeout - (time.monotonic() - t0))
            await handle.start(app, f"http://{self.http_host}:{port}/{name}", request, self.num_replicas,
                               config["target"], self.start_timeout, left)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await handle.stop()
            raise
        return handle

    def _replica_options(self, target: str) -> dict[str, Any]:
        """Serve's deployment options (blocking: sizing the default looks at the cluster)."""
        cpus = self.num_cpus if self.num_cpus is not None else default_replica_cpus(self.num_replicas)
        actor = self._resources(num_cpus=cpus)
        check_fits(ask(actor), f"a Ray Serve replica of {target}")
        # Serve writes one access-log line per request in every replica unless told not to.
        options: dict[str, Any] = {"num_replicas": self.num_replicas, "ray_actor_options": actor,
                                   "logging_config": {"enable_access_log": self.access_log}}
        if self.max_ongoing_requests is not None:
            options["max_ongoing_requests"] = self.max_ongoing_requests
        return options

    # -- commands (engines, fine-tunes) ------------------------------------------------------

    async def _launch_command(self, spec: CommandSpec) -> RayActorHandle:
        import anyio

        from .._exceptions import ResourcesUnavailableError

        await self._acquire()
        handle = RayActorHandle(spec.name)
        try:
            resources = self._resources(spec.num_cpus, spec.num_gpus)
            request = self._request(resources)
            await blocking(check_fits, request, f"the Ray actor for {spec.name}")
            await handle.start(asdict(spec) | {"env": dict(spec.env)}, resources, request, spec.start_timeout)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                tail = await handle.log_tail()
                await handle.stop()
            if isinstance(exc, Exception) and not isinstance(exc, (EngineStartError, ResourcesUnavailableError)):
                raise EngineStartError(f"{spec.name} did not start on Ray: {exc}", log_tail=tail) from exc
            raise
        return handle

    # -- trials ------------------------------------------------------------------------------

    async def run_trials(self, target: str, indices: Sequence[int], *, concurrency: int,
                         retries: int = 0) -> list[TrialOutcome]:
        """Each trial is one Ray task, re-run at most ``retries`` times when its worker dies
        (Ray's default would be 3, repeating a crashed fine-tune and its side effects)."""
        await self._acquire()
        try:
            return await self._run_trials(target, list(indices), concurrency, retries)
        finally:
            await blocking(Runtime.release)

    async def _run_trials(self, target: str, indices: list[int], concurrency: int,
                          retries: int) -> list[TrialOutcome]:
        from ._trial_task import run_trial_blocking

        ray_mod = import_ray()
        resources = self._resources()
        await blocking(check_fits, self._request(resources), f"a trial of {target}")
        task = ray_mod.remote(run_trial_blocking).options(max_retries=retries, retry_exceptions=False, **resources)
        sys_path = await blocking(import_dirs)
        pending = list(indices)
        running: dict[Any, int] = {}
        done: dict[int, TrialOutcome] = {}
        try:
            while pending or running:
                while pending and len(running) < concurrency:
                    i = pending.pop(0)
                    running[await blocking(task.remote, target, i, sys_path)] = i
                # Short waits: a cancelled caller is heard within one (then its tasks are cancelled).
                ready, _ = await blocking(ray_mod.wait, list(running), num_returns=1, timeout=0.25)
                for ref in ready:
                    i = running.pop(ref)
                    try:
                        done[i] = TrialOutcome(**await blocking(ray_mod.get, ref))
                    except Exception as exc:  # the task itself died (worker crash, OOM kill)
                        done[i] = TrialOutcome(i, error=_crash(exc, retries))
        finally:
            for ref in running:
                with contextlib.suppress(Exception):
                    ray_mod.cancel(ref, force=True)
        return [done[i] for i in indices]


def _crash(exc: BaseException, retries: int) -> str:
    first = next((x.strip() for x in str(exc).splitlines() if x.strip()), "")
    runs = f"ran {retries + 1} times" if retries else "ran once; TrialModule(retries=N) re-runs a crashed trial"
    return f"{type(exc).__name__}: {first} ({runs})"


def ray(address: str | None = None, *, num_replicas: int = 1, num_cpus: float | None = None,
        num_gpus: float | None = None, **kw: Any) -> RayLauncher:
    """Run on Ray: a local loopback instance (``address=None``) or the cluster at ``address``.
    ``num_replicas`` applies to served modules; ``num_cpus``/``num_gpus`` to each replica, actor
    or trial task (replicas default to at most a quarter of the largest node between them). Other
    keywords: ``max_ongoing_requests`` (Serve's default is 5 per replica), ``http_host``,
    ``http_port``, ``start_timeout`` (seconds for a served module to run and answer),
    ``access_log`` (Serve's per-request log lines, off by default), ``ray_init`` (extra
    ``ray.init`` arguments for a local start)."""
    return RayLauncher(address, num_replicas=num_replicas, num_cpus=num_cpus, num_gpus=num_gpus, **kw)
