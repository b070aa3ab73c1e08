"""Fixtures for TrainableModule tests: pooled HTTP clients closed after each test. (Helpers the
tests import live in trainable_helpers.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asyncllm._http import aclose_all


@pytest.fixture
async def pools(anyio_backend: str) -> AsyncIterator[None]:
    yield
    await aclose_all()
