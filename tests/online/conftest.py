"""Fixtures for the online client tests: the fake provider on a real socket, pools closed after
each test, and no API keys leaking in from the developer's environment."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakeprovider.server import FakeServer, running_fake_provider
from fakeprovider.state import DEFAULT_KEY

from asyncllm._config import VENDOR_KEY_ENV
from asyncllm._http import aclose_all

KEY = DEFAULT_KEY


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for var in list(os.environ):
        if var.startswith(("ASYNCLLM_", "LAZYLLM_")) or any(var in names for names in VENDOR_KEY_ENV.values()):
            monkeypatch.delenv(var, raising=False)


@pytest.fixture
async def fake(anyio_backend: str) -> AsyncIterator[FakeServer]:
    async with running_fake_provider() as url:
        try:
            yield url
        finally:
            # Pools belong to the test's event loop; close them there, before the loop goes away.
            await aclose_all()
