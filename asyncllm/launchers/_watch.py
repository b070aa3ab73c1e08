"""Handles that notice on their own: a thread refreshes the status of live remote handles.

A Ray actor that dies, a Serve application deleted by someone else, a Slurm job ended by an
outside ``scancel`` or a lost node: the handle's ``status`` (a plain property, read from sync
code such as ``TrainableModule.status()``) must say so within seconds, without anybody calling
``poll()``. Each launcher keeps one :class:`Watcher`; a handle joins it once it runs and leaves
it when stopped. The watcher is a daemon thread, not a task, because a handle outlives the task
(and even the event loop) that launched it; it exits when nothing is left to watch, and holds
handles weakly, so a handle dropped without ``stop()`` is not kept alive by it.

A watched object implements ``refresh_blocking()``: one bounded, blocking look at the remote
thing (its own timeouts), run on the watcher thread.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Protocol

__all__ = ["Watched", "Watcher"]

log = logging.getLogger("asyncllm.launchers")


class Watched(Protocol):
    def refresh_blocking(self) -> None: ...


class Watcher:
    """Calls ``refresh_blocking()`` on every watched handle each ``interval`` seconds."""

    def __init__(self, name: str, interval: float) -> None:
        self.name = name
        self.interval = interval
        self._lock = threading.Lock()
        self._items: weakref.WeakSet[Watched] = weakref.WeakSet()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Watcher {self.name} every {self.interval:g}s, {len(self._items)} handles>"

    def add(self, item: Watched) -> None:
        with self._lock:
            self._items.add(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"asyncllm-watch-{self.name}", daemon=True)
                self._thread.start()

    def remove(self, item: Watched) -> None:
        with self._lock:
            self._items.discard(item)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                items = list(self._items)
                if not items:
                    self._thread = None  # under the lock: add() starts a new one from here on
                    return
            for item in items:
                try:
                    item.refresh_blocking()
                except Exception:  # a failed look changes nothing; the next one may succeed
                    log.debug("refreshing %r failed", item, exc_info=True)
