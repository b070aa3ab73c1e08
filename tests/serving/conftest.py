"""Serving test fixtures: HTTP pools closed in the test's own loop, and both launchers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asyncllm._http import aclose_all


@pytest.fixture
async def pools(anyio_backend: str) -> AsyncIterator[None]:
    yield
    await aclose_all()


@pytest.fixture(params=["inprocess", "subprocess"])
def launcher(request: pytest.FixtureRequest) -> str:
    return str(request.param)
