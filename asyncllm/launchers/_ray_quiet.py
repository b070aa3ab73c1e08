"""Ray's console chatter goes to the launcher's log file, not the user's terminal.

A normal run of the Ray launcher makes Ray print, on its own, things the user cannot act on:
"SIGTERM handler is not set because current thread is not the main thread" (we start Ray from a
worker thread on purpose), "Token authentication is enabled ...", Serve's INFO lines, "Nothing to
shut down", and on a clean stop the raylet's "Task ServeController.graceful_shutdown failed"
(the controller is killed on purpose). While this process runs a Ray it started or joined, that
output is written to ``<tmp>/asyncllm-launchers/ray-<pid>.log`` instead:

* Ray's Python loggers (``ray``, ``ray._private`` and ``ray.*`` with handlers of their own, such
  as Serve's): their console handlers are set aside and a file handler takes their place.
  ``ray.init(configure_logging=False)`` empties the ``ray`` logger's handlers, so warnings of
  the init itself would reach Python's last-resort handler on stderr: ``ray._private`` (where
  they come from) keeps the file handler and stops propagating, and :func:`capture` is called
  again after the init to put the handler back on ``ray``;
* the raylet's error messages, which Ray's listener thread prints itself
  (``ray._private.worker.print_to_stdstream``), are written to the same file.

Everything is put back when the last user releases Ray. With the ``asyncllm.launchers`` logger
at DEBUG nothing is captured; when Ray fails to start, the error carries the file's last lines.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["capture", "log_path", "note_failure", "release"]

log = logging.getLogger("asyncllm.launchers")

_lock = threading.Lock()
_saved: dict[str, tuple[list[logging.Handler], bool]] = {}  # name → (handlers, propagate)
_handler: logging.FileHandler | None = None
_printer: Any = None  # Ray's own print_to_stdstream, while ours stands in


def log_path() -> Path:
    return Path(tempfile.gettempdir()) / "asyncllm-launchers" / f"ray-{os.getpid()}.log"


def _console(h: logging.Handler) -> bool:
    return isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)


def capture() -> None:
    """Send Ray's console output to :func:`log_path` (again after ``ray.init``; a no-op at DEBUG)."""
    global _handler, _printer
    if log.isEnabledFor(logging.DEBUG):
        return
    with _lock:
        if _handler is not None:
            ray_logger = logging.getLogger("ray")
            if _handler not in ray_logger.handlers:  # ray.init(configure_logging=False) emptied them
                ray_logger.handlers = [h for h in ray_logger.handlers if not _console(h)] + [_handler]
            return
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        with contextlib.suppress(ImportError):
            importlib.import_module("ray.serve")  # Serve installs its console handler on import
        names = ["ray", "ray._private", *(n for n, lg in list(logging.root.manager.loggerDict.items())
                                          if n.startswith("ray.") and n != "ray._private"
                                          and isinstance(lg, logging.Logger) and lg.handlers)]
        for name in names:
            logger = logging.getLogger(name)
            _saved[name] = (list(logger.handlers), logger.propagate)
            logger.handlers = [h for h in logger.handlers if not _console(h)] + [handler]
            logger.propagate = False
        worker: Any = importlib.import_module("ray._private.worker")
        original = getattr(worker, "print_to_stdstream", None)
        if original is not None:
            def to_log(data: dict[str, Any], ignore_prefix: bool) -> None:
                for line in data.get("lines", []):
                    handler.emit(logging.LogRecord("ray.raylet", logging.WARNING, "", 0, f"({data.get('pid')}) {line}",
                                                   None, None))

            worker.print_to_stdstream = to_log
            _printer = original
        _handler = handler
    log.debug("Ray's console output goes to %s", path)


def release() -> None:
    """Put Ray's console output back where it was."""
    global _handler, _printer
    with _lock:
        if _handler is None:
            return
        for name, (handlers, propagate) in _saved.items():
            logger = logging.getLogger(name)
            logger.handlers = handlers
            logger.propagate = propagate
        _saved.clear()
        if _printer is not None:
            with contextlib.suppress(ImportError):
                worker: Any = importlib.import_module("ray._private.worker")
                worker.print_to_stdstream = _printer
            _printer = None
        _handler.close()
        _handler = None


def note_failure(exc: BaseException) -> None:
    """Attach the last lines of Ray's captured output to ``exc`` (Ray failed to start)."""
    if _handler is None:
        return
    _handler.flush()
    with contextlib.suppress(OSError):
        tail = "\n".join(log_path().read_text(errors="replace").splitlines()[-20:])
        if tail:
            exc.add_note(f"--- last lines of Ray's output ({log_path()}) ---\n{tail}")
