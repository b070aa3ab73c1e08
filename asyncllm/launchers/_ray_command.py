"""A command (an engine, a fine-tune job) running in a Ray actor: the driver's handle.

The actor (_ray_actors.CommandActor) runs the command as a process group on its node. From the
moment the command runs, the handle keeps one ``wait()`` call pending on the actor: it resolves
when the command ends (with its exit code), and fails with Ray's actor-death error when the
actor dies (killed, its node lost, out of memory). Looking at that ref costs no round trip, so
the launcher's watcher looks every second and ``status``/``cause`` tell the truth on their own.

Starting is bounded: the actor must be placed and the command must answer within the spec's
``start_timeout``; an actor that cannot be placed is reported with what it asked for and what
the cluster has.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio

from .._exceptions import EngineStartError
from ._ray_env import import_ray
from ._ray_resources import shortfall
from ._ray_runtime import Runtime, await_ref, blocking
from ._watch import Watcher
from .base import RemoteState, Status

__all__ = ["RayActorHandle", "actor_death"]

WATCH = Watcher("ray-actors", 1.0)


def actor_death(exc: BaseException, what: str) -> str:
    """A one-line cause from Ray's actor-death error (whose first lines are boilerplate)."""
    lines = [x.strip() for x in str(exc).splitlines() if x.strip() and not x.startswith(("\t", " "))]
    why = next((x for x in reversed(lines) if "because" in x or "died" in x), lines[-1] if lines else "")
    return f"{what} died: {why or type(exc).__name__}"


class RayActorHandle(RemoteState):
    """A command running in a Ray actor (see the module docstring)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._actor: Any = None
        self._ended: Any = None  # the pending CommandActor.wait() ref

    def __repr__(self) -> str:
        return f"<RayActorHandle {self.name} {self._status.value} url={self._url}>"

    # -- starting ------------------------------------------------------------------------------

    async def start(self, fields: dict[str, Any], resources: dict[str, Any], request: dict[str, float],
                    timeout: float) -> None:
        """Create the actor, run the command in it; bounded by ``timeout`` and cancellation."""
        from ._ray_actors import CommandActor

        ray = import_ray()
        self._actor = await blocking(lambda: ray.remote(CommandActor).options(**resources).remote())
        placed = False
        try:
            with anyio.fail_after(timeout):
                await await_ref(self._actor.__ray_ready__.remote())
                placed = True
                self._url = await await_ref(self._actor.start.remote(fields))
        except TimeoutError:
            if not placed:
                raise await blocking(shortfall, request, 1, f"the Ray actor for {self.name}", timeout) from None
            raise EngineStartError(f"{self.name} did not start on Ray within {timeout:g}s",
                                   log_tail=await self.log_tail()) from None
        self._ended = self._actor.wait.remote()
        self._status = Status.RUNNING
        WATCH.add(self)

    # -- status --------------------------------------------------------------------------------

    def refresh_blocking(self) -> None:
        ended = self._ended
        if ended is None or self._released or self._status.finished:
            return
        ray = import_ray()
        if not ray.wait([ended], timeout=0, fetch_local=False)[0]:
            return
        try:
            result = ray.get(ended, timeout=10)
            status, cause = Status(result["status"]), result.get("cause")
        except ray.exceptions.RayActorError as exc:
            status, cause = Status.FAILED, actor_death(exc, f"the Ray actor running {self.name}")
        except Exception as exc:  # the wait call itself failed: the command's fate is unknown
            status, cause = Status.FAILED, f"lost track of {self.name} on Ray: {type(exc).__name__}: {exc}"
        self._settle(status, cause)

    async def poll(self) -> Status:
        await blocking(self.refresh_blocking)
        return self._status

    async def wait(self) -> None:
        await self._wait(0.25)

    async def log_tail(self, lines: int = 40) -> str:
        if self._actor is None:
            return ""
        try:
            with anyio.fail_after(10):
                return str(await await_ref(self._actor.log_tail.remote(lines)))
        except Exception:  # a dead or unplaced actor has no log to give
            return ""

    # -- stopping ------------------------------------------------------------------------------

    async def stop(self, grace: float = 60.0) -> None:
        if not self._release():
            return
        WATCH.remove(self)
        with anyio.CancelScope(shield=True):
            try:
                if self._actor is not None:
                    ray = import_ray()
                    with contextlib.suppress(Exception):
                        if not self._status.finished:
                            with anyio.fail_after(grace):
                                await await_ref(self._actor.stop.remote())
                    with contextlib.suppress(Exception):
                        await blocking(ray.kill, self._actor)
            finally:
                self._actor = self._ended = None
                if not self._status.finished:
                    self._status = Status.CANCELLED
                await blocking(Runtime.release)
