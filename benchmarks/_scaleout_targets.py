"""Served modules of benchmarks/scaleout.py, importable by path so Ray replicas import them."""

from __future__ import annotations

import time
from typing import Any

import anyio


async def wait20(x: Any) -> Any:
    """I/O-bound step: 20 ms of waiting (a call to some backend)."""
    await anyio.sleep(0.02)
    return x


def spin5(x: Any) -> Any:
    """CPU-bound step: 5 ms of pure-Python work on the serving loop."""
    end = time.perf_counter() + 0.005
    n = 0
    while time.perf_counter() < end:
        n += 1
    return x
