"""The thread a locally started Ray lives on: it must outlive every thread pool's idle policy.

Ray starts its daemons (``gcs_server``, ``raylet``, the log monitor, ...) with
``PR_SET_PDEATHSIG=SIGKILL``: the kernel kills them when the *thread* that forked them exits,
not the process. ``ray.init`` called from an AnyIO (or trio) worker thread therefore ties the
whole instance to a pooled thread, which the pool retires after 10 s idle — the daemons die
under a running app, and about 60 s later Ray's driver side terminates the process.

:class:`OwnerThread` is one plain thread per Ray session that runs what it is handed (the
``ray.init`` that forks the daemons, and at the end ``ray.shutdown``) and nothing else, so no
pool policy can end it; it exits when the session is shut down.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["OwnerThread"]

T = TypeVar("T")


class OwnerThread:
    """A daemon thread that runs the callables given to :meth:`call`, one at a time, until
    :meth:`close`. Daemon: a process that exits without shutting Ray down is not held up by it
    (Ray's own atexit hook stops the daemons)."""

    def __init__(self, name: str = "asyncllm-ray-owner") -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None] = (
            queue.SimpleQueue())
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<OwnerThread {self._thread.name} alive={self._thread.is_alive()}>"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed back to the caller, raised there
                    future.set_exception(exc)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the owner thread and return its result (blocking the caller)."""
        if threading.current_thread() is self._thread:
            return fn()
        if not self._thread.is_alive():
            raise RuntimeError(f"{self!r} was closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future.result()

    def close(self) -> None:
        """Let the thread exit after the jobs already handed to it."""
        self._jobs.put(None)
