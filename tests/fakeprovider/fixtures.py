"""Shared fixtures, registered for the whole suite by ``tests/conftest.py``
(``pytest_plugins = ["fakeprovider.fixtures"]``).

* ``fake``: a running fake provider; its value is the base URL (a str) with ``.state``. At
  teardown the HTTP pools of the test's loop are closed too, so aiohttp sessions never outlive
  their loop (an unclosed one is a ResourceWarning, an error under this suite).
* :func:`clear_key_env`: for the test folders whose autouse fixture wants no asyncllm, LazyLLM or
  vendor key variable of the developer's environment to leak in.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from asyncllm._config import VENDOR_KEY_ENV
from asyncllm._http import aclose_all

from .server import FakeServer, running_fake_provider


@pytest.fixture
async def fake(anyio_backend: str) -> AsyncIterator[FakeServer]:
    async with running_fake_provider() as url:
        try:
            yield url
        finally:
            await aclose_all()


def clear_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every ASYNCLLM_*, LAZYLLM_* and vendor key variable for the test."""
    for var in list(os.environ):
        if var.startswith(("ASYNCLLM_", "LAZYLLM_")) or any(var in names for names in VENDOR_KEY_ENV.values()):
            monkeypatch.delenv(var, raising=False)
