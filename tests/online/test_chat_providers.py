"""Every chat provider, streamed and not, against the fake provider over real sockets."""

from __future__ import annotations

from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from fakeprovider.state import SENSENOVA_AK, SENSENOVA_SK

import asyncllm as al
from asyncllm.online import OnlineChatModule, OnlineChatModuleBase
from asyncllm.online.claude import ClaudeChat
from asyncllm.online.compatible import OpenAICompatibleChat

pytestmark = pytest.mark.anyio

# source → (path under the fake's base URL, extra constructor kwargs)
PROVIDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": ("/v1/", {}),
    "deepseek": ("/", {}),
    "kimi": ("/kimi/v1/", {}),
    "qwen": ("/compatible-mode/v1/", {}),
    "glm": ("/api/paas/v4/", {}),
    "doubao": ("/api/v3/", {}),
    "siliconflow": ("/v1/", {}),
    "minimax": ("/minimax/v1/", {}),
    "sensenova": ("/sensenova/v1/", {}),
    "claude": ("/v1/", {}),
    "openai_compatible": ("/v1/", {"model": "fake-chat"}),
}

# the path each provider's chat request must reach
CHAT_PATHS = {
    "openai": "/v1/chat/completions", "deepseek": "/chat/completions", "kimi": "/kimi/v1/chat/completions",
    "qwen": "/compatible-mode/v1/chat/completions", "glm": "/api/paas/v4/chat/completions",
    "doubao": "/api/v3/chat/completions", "siliconflow": "/v1/chat/completions",
    "minimax": "/minimax/v1/chat/completions", "sensenova": "/sensenova/v1/chat/completions",
    "claude": "/v1/messages", "openai_compatible": "/v1/chat/completions",
}


def make(fake: FakeServer, source: str, **kw: Any) -> OnlineChatModuleBase:
    path, extra = PROVIDERS[source]
    return OnlineChatModule(source=source, base_url=fake + path, api_key=KEY, **{**extra, **kw})


@pytest.mark.parametrize("source", list(PROVIDERS))
async def test_chat_non_streaming(fake: FakeServer, source: str) -> None:
    chat = make(fake, source, stream=False)
    assert await chat("hello there") == "fake reply to: hello there"
    assert fake.state.requests[-1]["path"] == CHAT_PATHS[source]
    assert fake.state.requests[-1]["body"]["stream"] is False


@pytest.mark.parametrize("source", list(PROVIDERS))
async def test_chat_streaming(fake: FakeServer, source: str) -> None:
    chat = make(fake, source)
    chunks = [c async for c in chat.stream("stream me please")]
    assert len(chunks) > 3  # word by word, not one blob
    assert all(c.tag == "text" for c in chunks)
    assert "".join(chunks) == "fake reply to: stream me please"
    assert await chat("again") == "fake reply to: again"  # await on a streaming module: the joined text
    body = fake.state.requests[-1]["body"]
    assert body["stream"] is True
    if source != "claude":
        assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("source", list(PROVIDERS))
@pytest.mark.parametrize("stream", [True, False])
async def test_usage_is_recorded_and_aggregated_to_parent(fake: FakeServer, source: str, stream: bool) -> None:
    chat = make(fake, source, stream=stream).used_by("parent")
    with al.session() as sess:
        await chat("one two three")
        await chat("four")
    own = [u for mid, u in sess.usage_log if mid == chat.id]
    assert len(own) == 2
    assert all(u["prompt_tokens"] > 0 and u["completion_tokens"] > 0 for u in own)
    assert sess.usage["parent"]["prompt_tokens"] == sum(u["prompt_tokens"] for u in own)


async def test_claude_request_is_converted(fake: FakeServer) -> None:
    chat = make(fake, "claude", stream=False).prompt("You are terse.")
    await chat("hi", llm_chat_history=[["q", "a"]], max_tokens=50, stop="END")
    body = fake.state.requests[-1]["body"]
    assert body["system"] == f"{ClaudeChat.default_system_prompt}\nYou are terse."
    assert body["max_tokens"] == 50
    assert body["stop_sequences"] == ["END"]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert "stream_options" not in body
    assert fake.state.requests[-1]["headers"]["anthropic-version"] == "2023-06-01"
    assert isinstance(chat, ClaudeChat)


async def test_sensenova_access_key_pair_makes_a_jwt(fake: FakeServer) -> None:
    chat = OnlineChatModule(source="sensenova", base_url=fake + "/sensenova/v1/",
                            api_key=f"{SENSENOVA_AK}:{SENSENOVA_SK}")
    assert await chat("hi") == "fake reply to: hi"
    chat2 = OnlineChatModule(source="sensenova", base_url=fake + "/sensenova/v1/", api_key=SENSENOVA_AK,
                             secret_key=SENSENOVA_SK, stream=False)
    assert await chat2("yo") == "fake reply to: yo"
    bad = OnlineChatModule(source="sensenova", base_url=fake + "/sensenova/v1/", api_key=f"{SENSENOVA_AK}:wrong")
    with pytest.raises(al.AuthenticationError):
        await bad("x")


async def test_openai_compatible_without_model_asks_the_server(fake: FakeServer) -> None:
    chat = OnlineChatModule(base_url=fake + "/v1/", api_key=KEY, stream=False)
    assert isinstance(chat, OpenAICompatibleChat)
    assert await chat("hi") == "fake reply to: hi"
    assert chat.model == "fake-chat"
    assert fake.state.requests[-1]["body"]["model"] == "fake-chat"


async def test_minimax_maps_reasoning_details_to_think_chunks(fake: FakeServer) -> None:
    chat = make(fake, "minimax", model="MiniMax-reasoner")
    chunks = [c async for c in chat.stream("why")]
    think = "".join(c for c in chunks if c.tag == "think")
    assert think == "thinking about: why"
    assert "".join(c for c in chunks if c.tag == "text") == "fake reply to: why"


@pytest.mark.parametrize("stream", [True, False])
async def test_minimax_http_200_error_body_is_typed(fake: FakeServer, stream: bool) -> None:
    chat = OnlineChatModule(source="minimax", base_url=fake + "/minimax/v1/", api_key="sk-wrong-minimax-key",
                            stream=stream)
    with pytest.raises(al.AuthenticationError) as info:
        await chat("x")
    assert "sk-wrong-minimax-key" not in str(info.value)
