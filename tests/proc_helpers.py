"""Process helpers shared by test directories (``tests/`` is on ``sys.path``, see pyproject's
``pythonpath``): whether a process is still alive."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; False once it is gone or a zombie (reaped or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes once reaped or marked Z.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
