"""A command's supervisor for launchers whose worker may die without stopping it.

A Ray actor that is killed (``ray.kill``, the driver's exit, a node's OOM killer) gets no
chance to stop the process group it started, and Ray SIGKILLs a dead worker's direct
children. Wrapped by :func:`guarded`, the command runs under a small Python supervisor, leader
of the group, that polls its parent's pid — when the parent is gone it terminates the command
(then kills the group) — and that the command is bound to with ``PR_SET_PDEATHSIG`` (safe here:
the single-threaded supervisor forks from the thread that lives as long as it does), so a
SIGKILLed supervisor takes the command along. A normal group stop still works: the supervisor
ignores SIGTERM and exits with the command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["guarded"]

_SUPERVISOR = """
import ctypes, os, signal, subprocess, sys
parent = int(sys.argv[1])
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def child_setup():
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:  # PR_SET_PDEATHSIG: SIGTERM the command if the supervisor itself is SIGKILLed
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass
child = subprocess.Popen(sys.argv[2:], preexec_fn=child_setup)
while True:
    try:
        rc = child.wait(timeout=0.5)
        sys.exit(rc if rc >= 0 else 128 - rc)
    except subprocess.TimeoutExpired:
        if os.getppid() != parent:
            child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            os.killpg(0, signal.SIGKILL)
"""


def guarded(argv: Sequence[str]) -> list[str]:
    """``argv`` under the supervisor, bound to this process (Linux; unchanged elsewhere)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-c", _SUPERVISOR, str(os.getpid()), *argv]
