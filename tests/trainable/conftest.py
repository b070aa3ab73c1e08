"""Fixtures for TrainableModule tests: pooled HTTP clients closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asyncllm._http import aclose_all


@pytest.fixture
async def pools(anyio_backend: str) -> AsyncIterator[None]:
    yield
    await aclose_all()


def pid_alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes once reaped or marked Z.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False
