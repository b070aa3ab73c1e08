"""Seed-parity tests: the seed's examples and calls, translated only by await / async for / async with.

The environment is cleaned of every asyncllm, LazyLLM and vendor key variable, so only what a
test sets is seen; ``fake`` is the fake provider on 127.0.0.1."""

from __future__ import annotations

import pytest
from fakeprovider.fixtures import clear_key_env


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_key_env(monkeypatch)
