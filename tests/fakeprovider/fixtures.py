"""pytest fixture for the fake provider. Enable it for the whole suite with, in
``tests/conftest.py``::

    pytest_plugins = ["fakeprovider.fixtures"]

(``tests/`` is on ``sys.path`` because ``tests/conftest.py`` has no ``__init__.py`` beside it,
pytest's default "prepend" import mode.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asyncllm._http import aclose_all

from .server import FakeServer, running_fake_provider


@pytest.fixture
async def fake_provider(anyio_backend: str) -> AsyncIterator[FakeServer]:
    """A running fake provider; the value is its base URL (a str) with ``.state``.

    At teardown the HTTP pools of the test's loop are closed too, so aiohttp sessions never
    outlive their loop (an unclosed one is a ResourceWarning, an error under this suite).
    """
    async with running_fake_provider() as url:
        try:
            yield url
        finally:
            await aclose_all()
