"""Factories (source selection, errors that list the settings), config and secrets, and a new
provider added as a small subclass."""

from __future__ import annotations

from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY

import asyncllm as al
from asyncllm._config import Config, Secret, config
from asyncllm.online import (
    OnlineChatModule,
    OnlineChatModuleBase,
    OnlineEmbeddingModule,
    OnlineEmbeddingModuleBase,
)
from asyncllm.online.claude import ClaudeChat
from asyncllm.online.openai import OpenAIChat, OpenAIEmbedding
from asyncllm.online.qwen import QwenChat, QwenRerank
from asyncllm.streaming.sse import SSEEvent


def test_no_source_and_no_key_lists_the_variables() -> None:
    with pytest.raises(al.ConfigError) as info:
        OnlineChatModule()
    msg = str(info.value)
    assert "OPENAI_API_KEY" in msg and "ASYNCLLM_QWEN_API_KEY" in msg and "base_url" in msg
    with pytest.raises(al.ConfigError, match="DASHSCOPE_API_KEY"):
        OnlineChatModule(source="qwen")


def test_first_configured_source_is_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-openai")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-env-qwen")
    chat = OnlineChatModule()
    assert isinstance(chat, OpenAIChat)  # alphabetical: openai before qwen
    assert isinstance(chat, OnlineChatModule) and isinstance(chat, OnlineChatModuleBase)
    monkeypatch.setenv("ASYNCLLM_DEFAULT_SOURCE", "qwen")
    assert isinstance(OnlineChatModule(), QwenChat)
    assert isinstance(OnlineEmbeddingModule(type="rerank"), QwenRerank)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    assert isinstance(OnlineChatModule("claude"), ClaudeChat)  # a source name given as model


def test_asyncllm_variable_wins_over_vendor_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-vendor")
    monkeypatch.setenv("ASYNCLLM_OPENAI_API_KEY", "sk-ours")
    key = config.api_key("openai")
    assert key is not None and key.get() == "sk-ours"
    with config.override(openai_api_key="sk-explicit"):
        assert config.api_key("openai") == Secret("sk-explicit")
    assert config.api_key("openai") == Secret("sk-ours")


def test_secret_and_config_reprs_hide_values(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Secret("sk-very-secret")
    assert "sk-very" not in repr(s) and "sk-very" not in str(s) and "sk-very" not in f"{s}"
    assert s.get() == "sk-very-secret"
    import copy
    import pickle

    assert copy.deepcopy(s) is s
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(s)
    chat = OnlineChatModule(source="openai", api_key="sk-very-secret")
    clone = copy.deepcopy(chat)
    assert clone._api_key is not None and clone._api_key.get() == "sk-very-secret"
    assert "sk-very" not in repr(clone)
    monkeypatch.setenv("ASYNCLLM_EMBED_BATCH_SIZE", "7")
    assert Config().get("embed_batch_size") == 7
    monkeypatch.setenv("ASYNCLLM_HTTP_TOTAL_TIMEOUT", "soon")
    with pytest.raises(al.ConfigError, match="ASYNCLLM_HTTP_TOTAL_TIMEOUT"):
        Config().get("http_total_timeout")


def test_bad_arguments_name_the_fix() -> None:
    with pytest.raises(al.ConfigError, match="unknown chat source 'nope'"):
        OnlineChatModule(source="nope", api_key="k")
    with pytest.raises(al.ConfigError, match="http"):
        OnlineChatModule(source="openai", base_url="ftp://x", api_key="k")
    with pytest.raises(al.ConfigError, match="type must be one of"):
        OnlineEmbeddingModule(source="openai", type="sparse", api_key="k")
    with pytest.raises(al.ConfigError, match="unknown rerank source 'doubao'"):
        OnlineEmbeddingModule(source="doubao", type="rerank", api_key="k")
    emb = OnlineEmbeddingModule(source="openai", api_key="k", embed_model_name="text-embedding-3-large")
    assert isinstance(emb, OpenAIEmbedding) and isinstance(emb, OnlineEmbeddingModule)
    assert isinstance(emb, OnlineEmbeddingModuleBase)


# -- a new platform in a few lines ------------------------------------------------------------


class EchoVendorChat(OnlineChatModuleBase, source="echovendor"):
    """A made-up vendor: OpenAI wire under /v1/, its own auth header, prefixes every answer."""

    default_base_url = "http://127.0.0.1:9/v1/"
    default_model = "fake-chat"

    def _auth_headers(self) -> dict[str, str]:
        assert self._api_key is not None
        return {"authorization": "Bearer " + self._api_key.get(), "x-vendor": "echo"}

    def _build_body(self, messages: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
        body = super()._build_body(messages, **kw)
        body["vendor_flag"] = True
        return body

    def _convert_frame(self, event: SSEEvent) -> dict[str, Any] | None:
        frame = super()._convert_frame(event)
        for ch in (frame or {}).get("choices") or []:
            if ch.get("delta", {}).get("content"):
                ch["delta"]["content"] = ch["delta"]["content"].upper()
        return frame


class EchoVendorEmbedding(OnlineEmbeddingModuleBase, source="echovendor"):
    default_model = "fake-embed"

    def _parse_response(self, data: Any, n: int) -> list[list[float]]:
        return [[round(x * 2, 6) for x in v] for v in super()._parse_response(data, n)]


@pytest.mark.anyio
async def test_a_new_provider_is_a_small_registered_subclass(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCLLM_ECHOVENDOR_API_KEY", KEY)
    chat = OnlineChatModule(source="echovendor", base_url=fake + "/v1/")
    assert isinstance(chat, EchoVendorChat)
    assert await chat("hi") == "FAKE REPLY TO: HI"
    sent = fake.state.requests[-1]
    assert sent["body"]["vendor_flag"] is True and sent["headers"]["x-vendor"] == "echo"
    emb = OnlineEmbeddingModule(source="echovendor", embed_url=fake + "/v1/")
    from fakeprovider.embed import vector

    assert await emb("x") == [round(x * 2, 6) for x in vector("x")]
