"""pytest fixture for the fake provider. Enable it with, in ``tests/conftest.py``::

    pytest_plugins = ["fakeprovider.fixtures"]

(``tests/`` is on ``sys.path`` under pytest's default rootdir-relative import mode because
``tests/conftest.py`` has no ``__init__.py`` beside it.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .server import FakeServer, running_fake_provider


@pytest.fixture
async def fake_provider(anyio_backend: str) -> AsyncIterator[FakeServer]:
    """A running fake provider; the value is its base URL (a str) with ``.state``."""
    async with running_fake_provider() as url:
        yield url
