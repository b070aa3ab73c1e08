"""The serving logger, and a throttle for messages a client can trigger at will.

A caller can make some errors happen as often as it likes (a connection flood, a request that
crashes the server); each is logged at most once per interval, with a count of what was held
back, so a log cannot be flooded from outside.
"""

from __future__ import annotations

import logging
import time
from typing import Any

__all__ = ["log", "throttled"]

log = logging.getLogger("asyncllm.serving")

_last_logged: dict[str, float] = {}
_suppressed: dict[str, int] = {}
INTERVAL = 10.0


def throttled(level: int, message: str, *args: Any, exc_info: Any = None) -> None:
    """Log ``message`` at most once per interval (per message text), counting what was held back."""
    now = time.monotonic()
    if now - _last_logged.get(message, -INTERVAL) < INTERVAL:
        _suppressed[message] = _suppressed.get(message, 0) + 1
        return
    held = _suppressed.pop(message, 0)
    _last_logged[message] = now
    suffix = f" ({held} more like this in the last {INTERVAL:g}s)" if held else ""
    log.log(level, message + suffix, *args, exc_info=exc_info)
