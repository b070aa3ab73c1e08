"""Seed-parity tests: the seed's examples and calls, translated only by await / async for / async with.

The environment is cleaned of every asyncllm, LazyLLM and vendor key variable, so only what a
test sets is seen; ``fake`` is the fake provider on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from fakeprovider.server import FakeServer, running_fake_provider

from asyncllm._config import VENDOR_KEY_ENV
from asyncllm._http import aclose_all


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith(("ASYNCLLM_", "LAZYLLM_")) or any(var in names for names in VENDOR_KEY_ENV.values()):
            monkeypatch.delenv(var, raising=False)


@pytest.fixture
async def fake(anyio_backend: str) -> AsyncIterator[FakeServer]:
    async with running_fake_provider() as url:
        try:
            yield url
        finally:
            await aclose_all()
