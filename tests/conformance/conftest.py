"""Conformance suite: the providers' official Python SDKs are the oracle for our fake provider and
for the requests asyncllm sends.

(a) An official SDK is pointed at the fake (on 127.0.0.1 only): the fake must accept what the SDK
    sends and answer what the SDK can parse, streams included.
(b) The same logical call is made once with asyncllm and once with the SDK; the fake records
    both requests and they are compared field by field (``sdk_oracle.assert_same_request``).

Providers without an official Python SDK on PyPI are checked against golden request/response
files built from their published docs (``golden/``, replayed by ``golden_replay.py``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from fakeprovider import server
from fakeprovider.extra_routes import add_extra_routes
from fakeprovider.server import FakeServer
from golden_replay import add_golden_routes

from asyncllm._http import aclose_all

pytest.register_assert_rewrite("sdk_oracle")  # its comparisons report the differing fields

# Variables through which an SDK could be sent elsewhere than the fake, or pick up a real key.
_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "OPENAI_API_KEY",
        "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "DASHSCOPE_API_KEY",
        "DASHSCOPE_HTTP_BASE_URL", "ZHIPUAI_API_KEY", "ZHIPUAI_BASE_URL", "ARK_API_KEY", "ARK_BASE_URL",
        "SENSENOVA_ACCESS_KEY_ID", "SENSENOVA_SECRET_ACCESS_KEY", "SENSENOVA_API_BASE", "SENSENOVA_API_BASE_FILE",
        "GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_API_VERSION", "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GEMINI_BASE_URL", "OLLAMA_HOST", "OLLAMA_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_AD_TOKEN", "OPENAI_API_VERSION")


@pytest.fixture(autouse=True)
def sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncllm._config as cfg

    for var in _ENV:
        monkeypatch.delenv(var, raising=False)
    for var in list(os.environ):
        if var.startswith("ASYNCLLM_") or any(var in names for names in cfg.VENDOR_KEY_ENV.values()):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
async def fake(anyio_backend: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeServer]:
    """The fake provider with every route: chat, embeddings, fine-tuning of all providers, and
    the golden replays of ``golden/``."""
    plain = server.build_app
    monkeypatch.setattr(server, "build_app", lambda state=None: add_golden_routes(add_extra_routes(plain(state))))
    async with server.running_fake_provider() as url:
        try:
            yield url
        finally:
            await aclose_all()




@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """``closing(client)`` → the client, closed when the test ends (an SDK client left open
    leaves its sockets to the garbage collector, an error under this suite's warning rules)."""
    opened: list[Any] = []

    def keep(c: Any) -> Any:
        opened.append(c)
        return c

    yield keep
    for c in opened:
        c.close()
