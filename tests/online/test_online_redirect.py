"""ASYNCLLM_ONLINE_BASE_URL: every online module built without base_url speaks OpenAI's wire to
that one endpoint (here the fake provider's OpenAI routes), whatever its source; the model and
the key keep coming from where the code says."""

from __future__ import annotations

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from fakeprovider.state import key_tag

import asyncllm as al
from asyncllm.online.compatible import OpenAICompatibleChat

pytestmark = pytest.mark.anyio


@pytest.fixture
def redirect(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setenv("ASYNCLLM_ONLINE_BASE_URL", fake + "/v1/")
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DASHSCOPE_API_KEY", "ZHIPUAI_API_KEY"):
        monkeypatch.setenv(var, KEY)
    return fake


@pytest.mark.parametrize("source", ["claude", "qwen", "glm", "openai", "sensenova"])
async def test_any_chat_source_speaks_openai_to_the_endpoint(redirect: FakeServer, source: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSENOVA_API_KEY", KEY)
    chat = al.OnlineChatModule(source=source, stream=False)
    assert isinstance(chat, OpenAICompatibleChat) and chat.source == source
    assert await chat("hi") == "fake reply to: hi"
    sent = redirect.state.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["key"] == key_tag(KEY)  # the source's own key variable
    default = al.online.CHAT[source].default_model
    assert sent["body"]["model"] == default


async def test_streams_and_explicit_models_too(redirect: FakeServer) -> None:
    chat = al.OnlineChatModule(source="claude", model="claude-haiku-4-5")
    assert "".join([t async for t in chat.stream("stream me")]) == "fake reply to: stream me"
    assert redirect.state.requests[-1]["body"]["model"] == "claude-haiku-4-5"


async def test_no_source_and_no_key_is_fine(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCLLM_ONLINE_BASE_URL", fake + "/v1/")
    chat = al.OnlineChatModule(stream=False)  # without the variable: "no chat source is configured"
    assert chat.source == "openai_compatible"
    with pytest.raises(al.AuthenticationError):  # no key sent: this endpoint wants one
        await chat("hi")
    assert redirect_key(fake) == ""


def redirect_key(fake: FakeServer) -> str:
    return str(fake.state.requests[-1]["key"])


async def test_keys_lists_and_dynamic_auth_keep_their_source(redirect: FakeServer) -> None:
    redirect.state.keys |= {"sk-user-1"}
    pool = al.OnlineChatModule(source="openai", api_key=["sk-bad", KEY], stream=False)
    assert await pool("x") == "fake reply to: x"  # sk-bad set aside, retried on the next key
    user = al.OnlineChatModule(source="openai", api_key="dynamic", stream=False)
    with al.config.override(openai_api_key="sk-user-1"):
        assert await user("y") == "fake reply to: y"
    assert redirect_key(redirect) == key_tag("sk-user-1")


async def test_embeddings_rerank_and_routers(redirect: FakeServer) -> None:
    emb = al.OnlineEmbeddingModule(source="qwen")
    vec = await emb("text")
    assert isinstance(vec, list) and all(isinstance(v, float) for v in vec)
    assert redirect.state.requests[-1]["path"] == "/v1/embeddings"
    rerank = al.OnlineEmbeddingModule(source="glm", type="rerank")
    ranked = await rerank("query", documents=["a", "query b"], top_n=2)
    assert redirect.state.requests[-1]["path"] == "/v1/rerank"
    assert sorted(i for i, _ in ranked) == [0, 1]
    router = al.OnlineChatModule(source="dynamic", stream=False)
    with al.dynamic_chat_config(source="claude", model="claude-sonnet-5-5"):
        assert await router("z") == "fake reply to: z"
    assert redirect.state.requests[-1]["path"] == "/v1/chat/completions"
    await router.stop()


async def test_an_explicit_base_url_is_not_redirected(redirect: FakeServer) -> None:
    chat = al.OnlineChatModule(source="claude", base_url=redirect + "/v1/", stream=False)
    assert await chat("m") == "fake reply to: m"
    assert redirect.state.requests[-1]["path"] == "/v1/messages"  # Claude's own wire


async def test_what_cannot_be_redirected_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCLLM_ONLINE_BASE_URL", "http://127.0.0.1:9/v1/")
    with pytest.raises(al.ConfigError, match="no multimodal embeddings"):
        al.OnlineEmbeddingModule(source="qwen", type="multimodal_embed")
    with pytest.raises(al.ConfigError, match="unknown chat source 'nope'"):
        al.OnlineChatModule(source="nope")
    monkeypatch.setenv("ASYNCLLM_ONLINE_BASE_URL", "127.0.0.1:8000")
    with pytest.raises(al.ConfigError, match=r"ASYNCLLM_ONLINE_BASE_URL='127.0.0.1:8000' must be an http"):
        al.OnlineChatModule(source="openai")
