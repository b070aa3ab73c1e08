"""Fixtures of the security suite: every test attacks a real server on 127.0.0.1.

``launcher`` runs each attack against the in-process and the subprocess server; ``fake`` is
the fake LLM provider the served module legitimately talks to, ``evil`` a second one that
plays the attacker's host (whatever reaches it was exfiltrated).
"""

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
async def pools(anyio_backend: str) -> AsyncIterator[None]:
    yield
    await aclose_all()


@pytest.fixture(params=["inprocess", "subprocess"])
def launcher(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def fake(anyio_backend: str) -> AsyncIterator[FakeServer]:
    async with running_fake_provider() as url:
        try:
            yield url
        finally:
            await aclose_all()


@pytest.fixture
async def evil(anyio_backend: str) -> AsyncIterator[FakeServer]:
    async with running_fake_provider() as url:
        yield url
