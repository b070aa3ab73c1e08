"""Shared pytest set-up: every async test runs on asyncio and on trio; ``pools`` closes a test's
HTTP pools in its own loop; ``launcher`` runs a served module in-process and in a subprocess."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asyncllm._http import aclose_all

# the fake provider (`fake`) and clear_key_env, for every test folder
pytest_plugins = ["fakeprovider.fixtures"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def pools(anyio_backend: str) -> AsyncIterator[None]:
    """Close the pooled HTTP connections a test opened, in the test's own event loop, before
    the loop goes away (an aiohttp session outliving its loop is a ResourceWarning, an error here)."""
    yield
    await aclose_all()


@pytest.fixture(params=["inprocess", "subprocess"])
def launcher(request: pytest.FixtureRequest) -> str:
    """How a served module runs: in this process, or in a child process of its own."""
    return str(request.param)
