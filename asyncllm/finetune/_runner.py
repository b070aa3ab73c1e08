"""Run a fine-tune worker subprocess: JSON progress lines on stdout, everything else to a log.

The worker runs in its own process group with stderr in a log file; each stdout line that is a
JSON object is handed to ``on_event``. The whole group is killed when the caller is cancelled
or the job fails, and a failure raises :class:`~asyncllm.LifecycleError` with the log tail.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from .._exceptions import LifecycleError
from .._json_events import JsonEventLines

__all__ = ["run_worker"]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        data = path.read_bytes()[-32 * 1024:].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


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
    await anyio.Path(log_path.parent).mkdir(parents=True, exist_ok=True)
    log_file = await anyio.to_thread.run_sync(lambda: log_path.open("ab"))
    try:
        proc = await anyio.open_process(list(argv), stdin=None, stderr=log_file,
                                        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
                                        cwd=cwd, start_new_session=True)
    finally:
        log_file.close()
    last: dict[str, Any] = {}
    try:
        with anyio.fail_after(timeout):
            assert proc.stdout is not None
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
        raise LifecycleError(f"{argv[0]} {argv[1:3]} ran past {timeout} s; log: {log_path}\n{_tail(log_path)}") from exc
    finally:
        with anyio.CancelScope(shield=True):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, sig)
                    with anyio.move_on_after(5):
                        await proc.wait()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group
            await proc.aclose()
    if rc != 0 or last.get("done") is False:
        err = last.get("error") or f"exit code {rc}"
        raise LifecycleError(f"{what} failed: {err}\n--- last lines of {log_path} ---\n{_tail(log_path)}")
    return last
