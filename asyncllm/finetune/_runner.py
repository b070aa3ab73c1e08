"""Run a fine-tune worker subprocess: JSON progress lines on stdout, everything else to a log.

The worker is a :class:`~asyncllm._process.ManagedProcess` (own process group, stderr in a log
file) whose stdout is a pipe: each line that is a JSON object is handed to ``on_event``. The
whole group is killed when the caller is cancelled or the job fails, and a failure raises
:class:`~asyncllm.LifecycleError` with the log tail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from .._exceptions import LifecycleError
from .._json_events import JsonEventLines
from .._process import ManagedProcess

__all__ = ["run_worker"]


async def run_worker(argv: Sequence[str], *, log_path: Path, on_event: Callable[[dict[str, Any]], Awaitable[None]],
                     env: Mapping[str, str] | None = None, timeout: float | None = None,
                     launcher: Any = None, cwd: str | Path | None = None,
                     what: str = "fine-tune worker") -> dict[str, Any]:
    """Run ``argv`` (in ``cwd``); return the last JSON event (the worker's ``{"done": true, ...}``).
    ``what`` names the job in the error of a failed run.

    With a remote ``launcher`` (Ray, Slurm) the worker runs as its job; its JSON lines go to a
    file next to ``log_path`` (which must be on a filesystem both sides see)."""
    from ..launchers.jobs import is_remote, run_job

    if is_remote(launcher):
        return await run_job(launcher, argv, events_path=log_path.with_suffix(".events.jsonl"), name="finetune",
                             on_event=on_event, env=env, timeout=timeout)
    proc = ManagedProcess(argv, name=what, log_path=log_path)
    await proc.start(env=env, cwd=cwd, capture_stdout=True)
    last: dict[str, Any] = {}
    try:
        with anyio.fail_after(timeout):
            lines = JsonEventLines()
            async for data in proc.stdout:
                for event in lines.feed(data):
                    last = event
                    await on_event(event)
            for event in lines.close():
                last = event
                await on_event(event)
            rc = await proc.wait()
    except TimeoutError as exc:
        raise LifecycleError(f"{argv[0]} {argv[1:3]} ran past {timeout} s; log: {log_path}\n"
                             f"{proc.log_tail(30)}") from exc
    finally:
        await proc.stop()  # shielded; the group's stragglers too
    if rc != 0 or last.get("done") is False:
        err = last.get("error") or f"exit code {rc}"
        raise LifecycleError(f"{what} failed: {err}\n--- last lines of {log_path} ---\n{proc.log_tail(30)}")
    return last
