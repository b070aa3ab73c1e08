"""Each provider's documented error answers come out as the typed error that names the fix (issue
#18, defects 5 and 8): arrears are QuotaExceededError whatever status carries them (not retried,
a key pool moves on), content-filter refusals are ContentFilteredError, errors inside a stream are
typed too. The answers themselves are fakeprovider/errors.py's, each tied to its source."""

from __future__ import annotations

from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY, key_tag

import asyncllm as al
from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule

pytestmark = pytest.mark.anyio

K1 = "sk-second-key-AAAAAAAAAAAAAAAA"
PATHS = {"openai": "/v1/", "claude": "/v1/", "glm": "/api/paas/v4/", "kimi": "/kimi/v1/", "doubao": "/api/v3/",
         "qwen": "/compatible-mode/v1/", "minimax": "/minimax/v1/"}


def chat(fake: FakeServer, source: str, **kw: Any) -> Any:
    kw.setdefault("api_key", DEFAULT_KEY)
    return OnlineChatModule(source=source, base_url=fake + PATHS[source], retry_backoff=0.01, **kw)


def chat_requests(fake: FakeServer) -> list[dict[str, Any]]:
    return [r for r in fake.state.requests if r["path"].endswith(("/chat/completions", "/messages"))]


@pytest.mark.parametrize("source", list(PATHS))
@pytest.mark.parametrize("stream", [True, False])
async def test_arrears_are_a_quota_error_and_not_retried(fake: FakeServer, source: str, stream: bool) -> None:
    with pytest.raises(al.QuotaExceededError) as info:
        await chat(fake, source, model="fake-chat fault=quota", stream=stream)("hi")
    assert info.value.provider == source
    # MiniMax answers a stream request with an HTTP-200 JSON error: read once more, unstreamed
    assert len(chat_requests(fake)) == (2 if source == "minimax" and stream else 1)


@pytest.mark.parametrize("source", list(PATHS))
async def test_arrears_move_a_key_pool_to_the_next_key(fake: FakeServer, source: str) -> None:
    fake.state.keys.add(K1)
    m = chat(fake, source, model="fake-chat fault=quota:1", api_key=[DEFAULT_KEY, K1], stream=False)
    assert await m("a") == "fake reply to: a"
    assert [r["key"] for r in chat_requests(fake)] == [key_tag(DEFAULT_KEY), key_tag(K1)]


@pytest.mark.parametrize("source", ["qwen", "glm", "doubao", "minimax"])
@pytest.mark.parametrize("stream", [True, False])
async def test_content_filter_refusals_are_content_filtered_errors(fake: FakeServer, source: str,
                                                                   stream: bool) -> None:
    with pytest.raises(al.ContentFilteredError) as info:
        await chat(fake, source, model="fake-chat fault=blocked", stream=stream)("hi")
    err = info.value
    assert err.finish_reason == "content_filter" and err.partial == ""
    assert "change the input" in str(err)
    if source != "minimax":  # an HTTP error: the status error stays reachable as the cause
        assert isinstance(err.__cause__, al.BadRequestError) and err.__cause__.status_code == 400


async def test_a_native_dashscope_refusal_is_content_filtered(fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="qwen", embed_url=fake + "/", embed_model_name="fake-embed fault=blocked",
                                api_key=DEFAULT_KEY)
    with pytest.raises(al.ContentFilteredError):
        await emb("hi")


async def test_an_error_inside_an_openai_stream_is_reported_after_the_partial_output(fake: FakeServer) -> None:
    got: list[str] = []
    with pytest.raises(al.APIError, match="server had an error") as info:
        async for c in chat(fake, "openai", model="fake-chat fault=error-mid").stream("one two three four"):
            got.append(c)
    assert not isinstance(info.value, al.ProtocolError)
    assert got  # the frames before the error were delivered
    assert len(chat_requests(fake)) == 1  # a stream that has started is never retried


async def test_an_anthropic_error_event_is_typed(fake: FakeServer) -> None:
    with pytest.raises(al.ProviderOverloadedError) as info:
        await chat(fake, "claude", model="fake-chat fault=error-mid")("one two three four")
    assert info.value.status_code == 529
