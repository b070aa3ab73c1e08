"""Fixtures for the HTTP layer tests: the fake provider, and pools closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakeprovider.server import FakeServer, running_fake_provider

from asyncllm._http import aclose_all


@pytest.fixture
async def pools(anyio_backend: str) -> AsyncIterator[None]:
    # Pools belong to the test's event loop; close them there, before the loop goes away.
    yield
    await aclose_all()


@pytest.fixture
async def fake(pools: None) -> AsyncIterator[FakeServer]:
    async with running_fake_provider() as url:
        yield url
