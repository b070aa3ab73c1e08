"""Ray-side workers of ``launchers.ray``: an async actor that runs a command (an engine, a
fine-tune) as a process group on its node, and the trial task.

Imported by Ray workers by module path. The actor keeps the local launcher's guarantees on
the node it lands on: own process group, log file, health probe, group stop.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CommandActor"]


class CommandActor:
    """Runs one :class:`~asyncllm.launchers.base.CommandSpec` (sent as plain fields)."""

    def __init__(self) -> None:
        self._handle: Any = None

    async def start(self, fields: dict[str, Any]) -> str | None:
        import ray

        from .base import CommandSpec
        from .local import start_command

        spec = CommandSpec(**fields)
        node = str(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]
        # guard: a killed actor (ray.kill, the driver's exit) must not leave the command running.
        self._handle = await start_command(spec, guard=True)
        url: str | None = self._handle.url
        return url.replace("127.0.0.1", node, 1) if url and node != "127.0.0.1" else url

    async def status(self) -> str:
        return "pending" if self._handle is None else str(self._handle.status.value)

    async def wait(self) -> dict[str, Any]:
        """Returns when the command ended: its status, exit code and why, for the driver's
        handle (which keeps this call pending from launch on, so that it hears of the end —
        or of the actor's death, as the call's error — at once)."""
        if self._handle is not None:
            await self._handle.wait()
        rc = None if self._handle is None else self._handle.process.returncode
        return {"status": await self.status(), "returncode": rc,
                "cause": None if self._handle is None else self._handle.cause}

    async def stop(self) -> None:
        if self._handle is not None:
            await self._handle.stop()

    async def log_tail(self, lines: int = 40) -> str:
        return "" if self._handle is None else str(self._handle.process.log_tail(lines))
