"""A served module as a Ray Serve application: deploying it within a deadline, its status, and
why a call to it failed.

* **Start.** The application is submitted without Serve's own wait (which has no timeout and
  sits in a thread that cancellation cannot reach); the handle then looks at its status until it
  runs, under the launcher's ``start_timeout`` and the caller's cancellation. A deployment that
  fails reports Serve's messages; one whose replicas are still unplaced at the deadline reports
  what they ask for and what the cluster has (ResourcesUnavailableError). Either way the
  application is deleted.
* **Status.** The launcher's watcher looks every second. ``UNHEALTHY`` (a replica being
  replaced) and ``DEPLOYING`` are not terminal; ``DEPLOY_FAILED`` is FAILED; an application that
  disappears without our ``stop()`` is CANCELLED, with the cause.
* **Why a call failed.** Ray's proxy answers a bare 500 when the replica running a call dies.
  The handle tracks the replicas it has seen; :meth:`RayServeHandle.failure_cause` names the one
  that died (Ray's death cause: killed, out of memory, node lost) so the client can say so.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import anyio

from .._exceptions import EngineStartError
from ._ray_command import actor_death
from ._ray_env import import_ray
from ._ray_resources import shortfall
from ._ray_runtime import Runtime, blocking, serve_api, serve_client
from ._watch import Watcher
from .base import RemoteState, Status

__all__ = ["RayServeHandle", "app_details"]

WATCH = Watcher("ray-serve", 1.0)
_LOOK = 0.25  # seconds between status looks while starting or stopping
_STOP_TIMEOUT = 60.0
_DEATH_MEMORY = 60.0  # a replica death explains failed calls for this long


def _value(x: Any) -> str:
    return str(getattr(x, "value", x))


def app_details(name: str) -> dict[str, Any] | None:
    """Serve's details of application ``name`` (None: no such application, or no Serve)."""
    client = serve_client()
    if client is None:
        return None
    apps = client.get_serve_details().get("applications") or {}
    app = apps.get(name)
    return app if isinstance(app, dict) else None


def _replicas(app: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for d in (app.get("deployments") or {}).values() for r in (d.get("replicas") or [])]


def _messages(app: dict[str, Any] | None) -> str:
    if app is None:
        return ""
    parts = [str(app.get("message") or "")]
    parts += [str(d.get("message") or "") for d in (app.get("deployments") or {}).values()]
    return "\n".join(p for p in parts if p)[-4000:]


class RayServeHandle(RemoteState):
    """A Serve application serving one module (see the module docstring)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._replicas: dict[str, Any] = {}  # actor name → actor handle, replicas seen running
        self._replica_lock = threading.RLock()  # the watcher and failure_cause() both update them
        self._deaths: dict[str, tuple[float, str]] = {}  # actor name → (when noticed, cause)

    def __repr__(self) -> str:
        return f"<RayServeHandle {self.name} {self._status.value} url={self._url}>"

    # -- starting ------------------------------------------------------------------------------

    async def start(self, app: Any, url: str, request: dict[str, float], copies: int, target: str,
                    timeout: float, left: float) -> None:
        """Deploy ``app`` and wait until it runs and answers at ``url``: the launcher's
        ``timeout``, of which ``left`` seconds remain."""
        from ..serving.launchers import wait_healthy

        t0 = time.monotonic()
        details: dict[str, Any] | None = None
        try:
            with anyio.fail_after(left):
                await blocking(self._submit, app, target, abandon=True)
                while True:
                    details = await blocking(app_details, self.name, abandon=True)
                    state = _value(details["status"]) if details is not None else "NOT_STARTED"
                    if state == "RUNNING":
                        break
                    if state == "DEPLOY_FAILED":
                        raise EngineStartError(f"Ray Serve could not deploy {target}", log_tail=_messages(details))
                    await anyio.sleep(_LOOK)
                await blocking(self._observe, details)
                self._url = url
                await wait_healthy(url, max(1.0, left - (time.monotonic() - t0)))
        except TimeoutError:
            if details is not None and any(r.get("pid") is None for r in _replicas(details)):
                raise await blocking(shortfall, request, copies, f"the Ray Serve replicas of {target}",
                                     timeout) from None
            raise EngineStartError(f"Ray Serve did not run {target} within {timeout:g}s",
                                   log_tail=_messages(details)) from None
        self._status = Status.RUNNING
        WATCH.add(self)

    def _submit(self, app: Any, target: str) -> None:
        serve = serve_api()
        try:
            # Without Serve's wait for RUNNING: start() waits, under its deadline.
            serve.run_many([serve.RunTarget(app, name=self.name, route_prefix=f"/{self.name}")],
                           wait_for_ingress_deployment_creation=False, wait_for_applications_running=False)
        except Exception as exc:
            raise EngineStartError(f"Ray Serve could not deploy {target}: {exc}",
                                   log_tail=_messages(app_details(self.name))) from exc

    # -- status --------------------------------------------------------------------------------

    def _observe(self, app: dict[str, Any] | None) -> None:
        """Take in one look at the application (blocking: it may look up replicas)."""
        if app is None:
            status, cause = Status.CANCELLED, f"the Serve application {self.name} was deleted outside asyncllm"
        else:
            state = _value(app.get("status"))
            if state == "DEPLOY_FAILED":
                status, cause = Status.FAILED, f"Ray Serve reports {self.name} failed: {_messages(app)}"
            elif state == "DELETING":
                status, cause = Status.CANCELLED, f"the Serve application {self.name} is being deleted outside asyncllm"
            else:  # RUNNING, DEPLOYING, UNHEALTHY (a replica being replaced): still serving
                status, cause = Status.RUNNING, None
            self._track(app)
        if self._url is not None:  # while starting, start() decides
            self._settle(status, cause)

    def _track(self, app: dict[str, Any]) -> None:
        ray = import_ray()
        running = {str(r["actor_name"]) for r in _replicas(app)
                   if _value(r.get("state")) == "RUNNING" and r.get("actor_name")}
        with self._replica_lock:
            for name in running - set(self._replicas):
                with contextlib.suppress(Exception):  # gone already: the next look sees its successor
                    self._replicas[name] = ray.get_actor(name, namespace="serve")
            for name in set(self._replicas) - running:
                self._check_replica(name)  # replaced or scaled away: record it if it died
                self._replicas.pop(name, None)

    def _check_replica(self, name: str, timeout: float = 2.0) -> bool:
        """False (and its death recorded) when replica ``name`` is dead."""
        ray = import_ray()
        actor = self._replicas.get(name)
        if actor is None:
            return name not in self._deaths
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=timeout)
        except ray.exceptions.RayActorError as exc:
            self._deaths.setdefault(name, (time.monotonic(), actor_death(exc, f"replica {name} of {self.name}")))
            return False
        except Exception:  # slow to answer is not dead
            pass
        return True

    def refresh_blocking(self) -> None:
        if self._released or self._url is None or self._status.finished:
            return
        self._observe(app_details(self.name))

    async def poll(self) -> Status:
        if not self._released:
            with anyio.fail_after(30):
                await blocking(self.refresh_blocking, abandon=True)
        return self._status

    async def wait(self) -> None:
        await self._wait(1.0)

    # -- why a call failed ---------------------------------------------------------------------

    def _explain(self) -> str | None:
        with self._replica_lock:
            for name in list(self._replicas):
                if not self._check_replica(name):
                    self._replicas.pop(name, None)
        now = time.monotonic()
        recent = [cause for when, cause in self._deaths.values() if now - when < _DEATH_MEMORY]
        if recent:
            return "; ".join(recent)
        if self._status.finished and self._cause:
            return self._cause
        return None

    async def failure_cause(self) -> str | None:
        """Why a call may have failed mid-way: a replica that died lately, or the application's
        end (None when nothing is known to have gone wrong)."""
        if self._released:
            return None
        with anyio.move_on_after(10):
            return await blocking(self._explain, abandon=True)
        return None

    # -- stopping ------------------------------------------------------------------------------

    async def stop(self) -> None:
        if not self._release():
            return
        WATCH.remove(self)
        with anyio.CancelScope(shield=True):
            try:
                with contextlib.suppress(Exception), anyio.move_on_after(_STOP_TIMEOUT):
                    await blocking(serve_api().delete, self.name, _blocking=False, abandon=True)
                    while await blocking(app_details, self.name, abandon=True) is not None:
                        await anyio.sleep(_LOOK)
                if self._url is not None:
                    from .._http import aclose_origin

                    await aclose_origin(self._url)
            finally:
                if not self._status.finished:
                    self._status = Status.CANCELLED
                self._replicas.clear()
                await blocking(Runtime.release)
