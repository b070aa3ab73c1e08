"""Shared pytest set-up: every async test runs on asyncio and on trio."""

from __future__ import annotations

import pytest

# the fake provider (`fake`) and clear_key_env, for every test folder
pytest_plugins = ["fakeprovider.fixtures"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
