"""``source="dynamic"``: a router module whose provider is chosen per call from the task's model
config (``dynamic_chat_config`` / ``dynamic_embed_config``), against the fake provider, which
speaks every provider's wire under its own path."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from fakeprovider.embed import score, vector
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY, key_tag

import asyncllm as al
from asyncllm.online import (
    DynamicChatRouter,
    DynamicEmbeddingRouter,
    OnlineChatModule,
    OnlineEmbeddingModule,
    dynamic_chat_config,
    dynamic_embed_config,
)
from asyncllm.online.openai import SYSTEM_PROMPT as OPENAI_SYSTEM_PROMPT

pytestmark = pytest.mark.anyio

SETTING = "dynamic_model_configs"


@pytest.fixture
def keyed(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """The router's providers read their key per call; give every source one in the environment."""
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DASHSCOPE_API_KEY"):
        monkeypatch.setenv(var, DEFAULT_KEY)
    return fake


def last(fake: FakeServer) -> dict[str, Any]:
    return fake.state.requests[-1]


@pytest.mark.parametrize(("source", "path", "wire_path"), [("openai", "/v1/", "/v1/chat/completions"),
                                                           ("claude", "/v1/", "/v1/messages")])
async def test_chat_and_stream_through_the_router(keyed: FakeServer, source: str, path: str, wire_path: str) -> None:
    router = OnlineChatModule(source="dynamic", name="assistant")
    assert isinstance(router, DynamicChatRouter) and isinstance(router, OnlineChatModule)
    with dynamic_chat_config(source=source, model="fake-chat", base_url=keyed + path):
        assert await router("hello there") == "fake reply to: hello there"
        assert last(keyed)["path"] == wire_path and last(keyed)["body"]["model"] == "fake-chat"
        chunks = [c async for c in router.stream("stream me please")]
        async with router.stream("and again") as s:
            inner = [c async for c in s]
    assert len(chunks) > 3 and all(c.tag == "text" and c.module == "assistant" for c in chunks)
    assert "".join(chunks) == "fake reply to: stream me please"
    assert "".join(inner) == "fake reply to: and again"
    assert last(keyed)["body"]["stream"] is True
    assert len(router.providers) == 1  # built once, reused


async def test_non_streaming_router_and_caller_model_wins(keyed: FakeServer) -> None:
    router = OnlineChatModule(source="dynamic", stream=False)
    with dynamic_chat_config(source="openai", model="from-config", base_url=keyed + "/v1/"):
        await router("a")
        assert last(keyed)["body"] == {**last(keyed)["body"], "model": "from-config", "stream": False}
        await router("b", model="from-caller")
        assert last(keyed)["body"]["model"] == "from-caller"


async def test_module_id_beats_name_beats_default(keyed: FakeServer) -> None:
    named = OnlineChatModule(source="dynamic", name="writer", stream=False)
    other = OnlineChatModule(source="dynamic", stream=False)
    url = keyed + "/v1/"
    with dynamic_chat_config(source="openai", model="default-model", base_url=url), \
            dynamic_chat_config(["writer"], source="openai", model="writer-model", base_url=url):
        await named("x")
        assert last(keyed)["body"]["model"] == "writer-model"
        await other("y")
        assert last(keyed)["body"]["model"] == "default-model"
        with dynamic_chat_config(named, source="openai", model="by-id", base_url=url):
            await named("z")
            assert last(keyed)["body"]["model"] == "by-id"


async def test_a_config_change_between_calls_switches_provider_and_model(keyed: FakeServer) -> None:
    router = OnlineChatModule(source="dynamic", stream=False)
    with dynamic_chat_config(source="openai", model="model-one", base_url=keyed + "/v1/"):
        await router("one")
    first = last(keyed)
    with dynamic_chat_config(source="claude", model="model-two", base_url=keyed + "/v1/"):
        await router("two")
    second = last(keyed)
    assert (first["path"], first["body"]["model"]) == ("/v1/chat/completions", "model-one")
    assert (second["path"], second["body"]["model"]) == ("/v1/messages", "model-two")
    assert sorted(k[0] for k in router.providers) == ["claude", "openai"]


async def test_concurrent_first_calls_build_one_provider(keyed: FakeServer) -> None:
    router = OnlineChatModule(source="dynamic", stream=False)
    with al.session() as sess, dynamic_chat_config(source="openai", model="fake-chat", base_url=keyed + "/v1/"):
        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(router, f"q{i}")
    assert len(keyed.state.requests) == 8
    served_by = {mid for mid, _ in sess.usage_log}
    assert len(served_by) == 1 and served_by == {p.id for p in router.providers.values()}


async def test_concurrent_tasks_with_different_configs_each_get_theirs(keyed: FakeServer) -> None:
    router = OnlineChatModule(source="dynamic", stream=False)
    got: dict[str, str] = {}

    async def user(model: str) -> None:
        with dynamic_chat_config(source="openai", model=model, base_url=keyed + "/v1/"):
            await anyio.sleep(0.01)  # both configs are live at once
            await router(model)
            got[model] = next(r["body"]["model"] for r in keyed.state.requests
                              if r["body"]["messages"][-1]["content"] == model)

    async with anyio.create_task_group() as tg:
        tg.start_soon(user, "model-a")
        tg.start_soon(user, "model-b")
    assert got == {"model-a": "model-a", "model-b": "model-b"}


async def test_no_config_is_a_config_error_naming_the_context_manager(keyed: FakeServer) -> None:
    with pytest.raises(al.ConfigError, match="dynamic_chat_config"):
        await OnlineChatModule(source="dynamic")("hi")
    with pytest.raises(al.ConfigError, match=r"dynamic_embed_config\(type='rerank'"):
        await OnlineEmbeddingModule(source="dynamic", type="rerank")("q", documents=["a"])
    with dynamic_embed_config(source="openai"), pytest.raises(al.ConfigError, match="'chat' slot"):
        await OnlineChatModule(source="dynamic")("embed config is not a chat config")
    assert keyed.state.requests == []


async def test_embeddings_and_rerank_through_the_router(keyed: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="dynamic", type="embed")
    rerank = OnlineEmbeddingModule(source="dynamic", type="rerank")
    assert isinstance(emb, DynamicEmbeddingRouter) and isinstance(emb, OnlineEmbeddingModule)
    docs = ["red apple", "green pear", "red pear"]
    with dynamic_embed_config(source="openai", model="fake-embed", base_url=keyed + "/v1/"), \
            dynamic_embed_config(source="qwen", base_url=keyed + "/", type="rerank"):
        assert await emb("hello") == vector("hello")
        assert last(keyed)["body"]["model"] == "fake-embed"
        assert await emb(["a", "b"]) == [vector("a"), vector("b")]
        ranked = await rerank("red pear", documents=docs)
        assert last(keyed)["path"] == "/api/v1/services/rerank/text-rerank/text-rerank"
    assert [i for i, _ in ranked] == sorted(range(3), key=lambda i: (-score("red pear", docs[i]), i))


async def test_multimodal_embeddings_through_the_router(keyed: FakeServer) -> None:
    mm = OnlineEmbeddingModule(source="dynamic", type="multimodal_embed")
    url = "https://img.example/cat.jpg"
    with dynamic_embed_config(source="siliconflow", base_url=keyed + "/v1/", type="multimodal_embed"), \
            al.config.override(siliconflow_api_key=DEFAULT_KEY):
        assert await mm({"text": "a cat", "image": url}) == vector(f"a cat\n{url}")
        assert last(keyed)["body"]["model"] == "Qwen/Qwen3-VL-Embedding-8B"
    with dynamic_embed_config(source="qwen", base_url=keyed + "/", model="mm-v1", type="multimodal_embed"):
        assert await mm(url) == vector(url)
        assert last(keyed)["body"] == {"model": "mm-v1", "input": {"contents": [{"image": url}]}}
    with dynamic_embed_config(source="qwen", base_url=keyed + "/"), pytest.raises(al.ConfigError,
                                                                                 match="multimodal_embed"):
        await mm("an embed config is not a multimodal one")


async def test_the_context_manager_restores_and_removes_entries() -> None:
    assert al.config.get(SETTING) is None
    with dynamic_chat_config(source="openai", model="outer"):
        outer = al.config.get(SETTING)
        with dynamic_chat_config(["writer"], source="claude"), dynamic_chat_config(source="qwen", model="inner"):
            inner = al.config.get(SETTING)["chat"]
            assert set(inner) == {"default", "writer"} and inner["default"].model == "inner"
        assert al.config.get(SETTING) == outer  # 'writer' is gone, 'default' is 'outer' again
        assert set(outer["chat"]) == {"default"} and outer["chat"]["default"].model == "outer"
        with pytest.raises(RuntimeError), dynamic_embed_config(["x"], source="openai"):
            raise RuntimeError("boom")
        assert al.config.get(SETTING) == outer
    assert al.config.get(SETTING) is None


async def test_usage_aggregates_to_the_router(keyed: FakeServer) -> None:
    router = OnlineChatModule(source="dynamic")
    seen: list[dict[str, int]] = []

    def watch(*args: Any, **kw: Any) -> Any:
        yield
        seen.append(dict(al.current_session().usage[router.id]))

    router.register_hook(watch)
    with al.session() as sess, dynamic_chat_config(source="openai", model="fake-chat", base_url=keyed + "/v1/"):
        await router("one two three")
        [c async for c in router.stream("four five")]
    (provider,) = router.providers.values()
    own = [u for mid, u in sess.usage_log if mid == provider.id]
    assert len(own) == 2 and all(u["prompt_tokens"] > 0 for u in own)
    assert seen == own  # each call's usage landed on the router, as a child's does
    assert provider.id not in sess.usage and router.id not in sess.usage  # per-call entries popped


async def test_stop_closes_the_cached_providers(keyed: FakeServer) -> None:
    router = OnlineChatModule(source="dynamic", stream=False)
    with al.session() as sess, dynamic_chat_config(source="openai", model="fake-chat", base_url=keyed + "/v1/"):
        await router("a")
        before = set(router.providers.values())
        await router.stop()
        assert router.providers == {}
        await router("b")
    after = set(router.providers.values())
    assert before and after and before.isdisjoint(after)  # rebuilt after stop
    assert [mid for mid, _ in sess.usage_log] == [before.pop().id, after.pop().id]


async def test_providers_read_the_session_key_and_skip_auth_routes_send_none(fake: FakeServer) -> None:
    router = OnlineChatModule(source="dynamic", stream=False, max_retries=0)
    with dynamic_chat_config(source="openai", model="fake-chat", base_url=fake + "/v1/"):
        with pytest.raises(al.ConfigError, match="OPENAI_API_KEY"):
            await router("no key anywhere")
        with al.config.override(openai_api_key=DEFAULT_KEY):
            assert await router("hi") == "fake reply to: hi"
        assert last(fake)["key"] == key_tag(DEFAULT_KEY)
    with dynamic_chat_config(source="openai_compatible", model="fake-chat", base_url=fake + "/v1/", skip_auth=True), \
            al.config.override(openai_compatible_api_key=DEFAULT_KEY), pytest.raises(al.AuthenticationError):
        await router("skip auth sends no key")
    assert last(fake)["key"] == ""


async def test_prompt_formatter_and_share(keyed: FakeServer) -> None:
    router = OnlineChatModule(source="dynamic", stream=False).prompt("You are terse.")
    clone = router.share()
    with dynamic_chat_config(source="openai", model="fake-chat", base_url=keyed + "/v1/"):
        await router("hi")
        # the chosen provider's default system prompt, then the router's prompt
        assert last(keyed)["body"]["messages"][0] == {"role": "system",
                                                      "content": f"{OPENAI_SYSTEM_PROMPT}\nYou are terse."}
        assert await router.formatter(str.upper)("hi") == "FAKE REPLY TO: HI"
        await clone("hi")
    assert clone.id != router.id and set(clone.providers.values()).isdisjoint(router.providers.values())


async def test_bad_router_arguments_are_config_errors() -> None:
    with pytest.raises(al.ConfigError, match="type='embed', 'rerank' or 'multimodal_embed'"):
        OnlineEmbeddingModule(source="dynamic")
    with pytest.raises(al.ConfigError, match="routes type="):
        OnlineEmbeddingModule(source="dynamic", type="chat")
    with pytest.raises(al.ConfigError, match="api_key"):
        OnlineChatModule(source="dynamic", api_key="sk-fixed")
    with pytest.raises(al.ConfigError, match="model"):
        OnlineChatModule("gpt-4o", source="dynamic")
    with pytest.raises(al.ConfigError, match="unknown chat source"), dynamic_chat_config(source="nosuchvendor"):
        pass
    with pytest.raises(al.ConfigError, match="real provider"):
        dynamic_chat_config(source="dynamic")
    assert OnlineChatModule(source="dynamic", api_key="dynamic").slot == "chat"


def test_one_router_serves_successive_event_loops_of_both_backends() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1/"
    router = OnlineChatModule(source="dynamic", max_retries=0)

    async def call() -> None:
        with dynamic_chat_config(source="openai_compatible", model="m", base_url=closed, skip_auth=True):
            # A fresh provider each loop (stop), built under that loop's lock; the call itself
            # fails to connect, which is all this needs.
            with pytest.raises(al.APIConnectionError):
                await router("hi")
            await router.stop()
        await al.aclose()

    for backend in ("asyncio", "trio", "asyncio"):
        anyio.run(call, backend=backend)
