"""Fixtures for the online client tests: the fake provider on a real socket, pools closed after
each test, and no API keys leaking in from the developer's environment."""

from __future__ import annotations

import pytest
from fakeprovider.fixtures import clear_key_env
from fakeprovider.state import DEFAULT_KEY

KEY = DEFAULT_KEY


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_key_env(monkeypatch)
