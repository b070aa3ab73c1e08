"""Fixtures of the security suite: every test attacks a real server on 127.0.0.1.

``launcher`` runs each attack against the in-process and the subprocess server; ``fake`` is
the fake LLM provider the served module legitimately talks to, ``evil`` a second one that
plays the attacker's host (whatever reaches it was exfiltrated).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakeprovider.fixtures import clear_key_env
from fakeprovider.server import FakeServer, running_fake_provider


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_key_env(monkeypatch)




@pytest.fixture
async def evil(anyio_backend: str) -> AsyncIterator[FakeServer]:
    async with running_fake_provider() as url:
        yield url
