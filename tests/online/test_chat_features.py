"""Chat module features over the fake provider: reasoning, tools, formatters, prompt, share,
history and files from the session, vision inputs."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY

import asyncllm as al
from asyncllm.online import OnlineChatModule, OnlineChatModuleBase
from asyncllm.online.openai import SYSTEM_PROMPT as OPENAI_SYSTEM_PROMPT
from asyncllm.prompts import FunctionCallFormatter, JsonFormatter

pytestmark = pytest.mark.anyio

WEATHER_PARAMS = {"type": "object", "properties": {"query": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                           "parameters": WEATHER_PARAMS}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]


def openai(fake: FakeServer, **kw: Any) -> OnlineChatModuleBase:
    return OnlineChatModule(source="openai", base_url=fake + "/v1/", api_key=KEY, **kw)


def claude(fake: FakeServer, **kw: Any) -> OnlineChatModuleBase:
    return OnlineChatModule(source="claude", base_url=fake + "/v1/", api_key=KEY, **kw)


@pytest.mark.parametrize("make", [openai, claude], ids=["openai", "claude"])
@pytest.mark.parametrize("stream", [True, False])
async def test_reasoning_is_streamed_as_think_and_kept_out_of_the_answer(fake: FakeServer, make: Any,
                                                                          stream: bool) -> None:
    chat = make(fake, model="fake-reasoner", stream=stream)
    chunks = [c async for c in chat.stream("why")]
    assert "".join(c for c in chunks if c.tag == "think").strip() == "thinking about: why"
    assert "".join(c for c in chunks if c.tag == "text") == "fake reply to: why"
    assert chunks[0].tag == "think"  # reasoning comes first
    assert await chat("why") == "fake reply to: why"
    full = await chat.share(format=FunctionCallFormatter())("why")
    assert full["reasoning_content"].strip() == "thinking about: why"


@pytest.mark.parametrize("make", [openai, claude], ids=["openai", "claude"])
@pytest.mark.parametrize("stream", [True, False])
async def test_tool_calls_are_merged_by_index(fake: FakeServer, make: Any, stream: bool) -> None:
    chat = make(fake, stream=stream).formatter(FunctionCallFormatter(parse_arguments=True))
    out = await chat("weather in Paris", tools=TOOLS)
    calls = out["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert [c["function"]["arguments"] for c in calls] == [{"query": "weather in Paris", "n": 0},
                                                          {"query": "weather in Paris", "n": 1}]
    assert all(c["id"] for c in calls)
    sent = fake.state.requests[-1]["body"]["tools"]
    if make is claude:
        assert sent[0] == {"name": "get_weather", "description": "weather",
                           "input_schema": TOOLS[0]["function"]["parameters"]}
    else:
        assert sent == TOOLS


@pytest.mark.parametrize("make", [openai, claude], ids=["openai", "claude"])
async def test_tool_results_round_trip(fake: FakeServer, make: Any) -> None:
    chat = make(fake, stream=False).formatter(FunctionCallFormatter())
    first = await chat("weather?", tools=TOOLS[:1])
    call = first["tool_calls"][0]
    history = [{"role": "user", "content": "weather?"}, first,
               {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]
    # (the fake Claude always calls a tool when tools are offered, so offer none the second time)
    second = await chat(history, tools=None if make is claude else TOOLS[:1])
    assert second["content"] == "fake reply to tool results: sunny"
    if make is claude:
        sent = fake.state.requests[-1]["body"]["messages"]
        assert sent[1]["content"][0]["type"] == "tool_use"
        assert sent[2]["content"][0] == {"type": "tool_result", "tool_use_id": call["id"], "content": "sunny"}


async def test_tool_calls_without_a_call_formatter_warn(fake: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    assert await openai(fake)("x", tools=TOOLS) == ""
    assert "FunctionCallFormatter" in caplog.text


async def test_stream_ends_with_the_formatted_result(fake: FakeServer) -> None:
    chat = openai(fake).prompt('Answer as JSON like {"a": 1}').formatter(lambda t: t.upper())
    async with chat.stream("hi") as s:
        chunks = [c async for c in s]
    assert "".join(chunks) == "fake reply to: hi"
    assert s.result == "FAKE REPLY TO: HI"
    bare = chat.stream("hi")
    pulled = [c async for c in bare]  # a leaf read directly sees the same chunks: no result marker
    assert all(c.tag == "text" for c in pulled) and pulled == chunks
    assert "".join(pulled) == "fake reply to: hi"
    assert bare.result == "FAKE REPLY TO: HI"


async def test_json_formatter_and_pipe(fake: FakeServer) -> None:
    chat = openai(fake)
    piped = chat | JsonFormatter()
    assert piped is not chat and piped.id != chat.id
    with pytest.raises(al.ProtocolError, match="no JSON"):
        await piped("plain")  # the fake's answer is not JSON
    chained = (chat | (lambda t: t + ' {"k": [1]}')) | JsonFormatter("k.0")
    assert await chained("x") == 1
    assert await chat("x") == "fake reply to: x"  # the original keeps its own formatter


async def test_prompt_rules_reach_the_wire(fake: FakeServer) -> None:
    chat = openai(fake, stream=False).prompt("Topic: {topic}")
    await chat({"topic": "cats", "q": "tell me"})
    sent = fake.state.requests[-1]["body"]["messages"]
    # the provider's default system prompt leads; the prompter's instruction follows it
    assert sent == [{"role": "system", "content": f"{OPENAI_SYSTEM_PROMPT}\nTopic: cats"},
                    {"role": "user", "content": "tell me"}]
    chat.prompt("Be nice.", history=[["hi", "hello"]])
    await chat("how are you")
    roles = [m["role"] for m in fake.state.requests[-1]["body"]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    with pytest.raises(al.ConfigError):
        chat.prompt(None, history=[["a", "b"]])


async def test_share_has_new_id_own_prompt_and_shared_endpoint(fake: FakeServer) -> None:
    chat = openai(fake, stream=False).prompt("S1")
    other = chat.share(prompt="S2", stream=True)
    assert other.id != chat.id
    assert other.base_url == chat.base_url and other.static_params is chat.static_params
    assert other._prompt is not chat._prompt and other.stream_enabled and not chat.stream_enabled
    same_prompt = chat.share()
    assert same_prompt._prompt is chat._prompt
    await other("x")
    assert fake.state.requests[-1]["body"]["messages"][0]["content"] == f"{OPENAI_SYSTEM_PROMPT}\nS2"
    await chat("x")
    assert fake.state.requests[-1]["body"]["messages"][0]["content"] == f"{OPENAI_SYSTEM_PROMPT}\nS1"


async def test_history_and_files_come_from_the_session(fake: FakeServer, tmp_path: Path) -> None:
    img = tmp_path / "cat.png"
    img.write_bytes(b"\x89PNG fake image bytes")
    chat = openai(fake, stream=False)
    with al.session() as sess:
        sess.chat_history[chat.id] = [["earlier", "answer"]]
        sess.files[chat.id] = [str(img), "https://example.com/dog.jpg"]
        await chat("what is this")
    sent = fake.state.requests[-1]["body"]["messages"]
    assert sent[:2] == [{"role": "system", "content": OPENAI_SYSTEM_PROMPT}, {"role": "user", "content": "earlier"}]
    parts = sent[-1]["content"]
    assert parts[0] == {"type": "text", "text": "what is this"}
    assert parts[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(img.read_bytes()).decode()
    assert parts[2]["image_url"]["url"] == "https://example.com/dog.jpg"  # URLs pass through


async def test_vision_inputs_per_provider(fake: FakeServer, tmp_path: Path) -> None:
    img = tmp_path / "a.jpg"
    img.write_bytes(b"jpegdata")
    b64 = base64.b64encode(b"jpegdata").decode()
    await claude(fake, stream=False)("look", lazyllm_files=[str(img), "https://x.test/b.png"])
    blocks = fake.state.requests[-1]["body"]["messages"][-1]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": b64}}
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://x.test/b.png"}}
    nova = OnlineChatModule(source="sensenova", base_url=fake + "/sensenova/v1/", api_key=KEY, stream=False)
    await nova("look", lazyllm_files=str(img))
    assert fake.state.requests[-1]["body"]["messages"][-1]["content"][1] == {"type": "image_base64",
                                                                             "image_base64": b64}
    kimi = OnlineChatModule(source="kimi", base_url=fake + "/kimi/v1/", api_key=KEY)
    with pytest.raises(al.ConfigError, match="only local image files"):
        await kimi("look", lazyllm_files=["https://x.test/b.png"])
    with pytest.raises(al.ConfigError, match="cannot be read"):
        await kimi("look", lazyllm_files=[str(tmp_path / "missing.png")])
    query = "<lazyllm-query>" + json.dumps({"query": "q", "files": [str(img)]})
    await kimi(query)
    assert fake.state.requests[-1]["body"]["messages"][-1]["content"][0] == {"type": "text", "text": "q"}


async def test_glm_takes_inline_images_as_bare_base64(fake: FakeServer, tmp_path: Path) -> None:
    # as the official zhipuai / zai SDKs send them (drop_prefix_image_data); URLs pass unchanged
    img = tmp_path / "a.png"
    img.write_bytes(b"pngdata")
    glm = OnlineChatModule(source="glm", model="glm-4v-plus", base_url=fake + "/api/paas/v4/", api_key=KEY,
                           stream=False)
    await glm("look", lazyllm_files=[str(img), "https://x.test/b.png"])
    parts = fake.state.requests[-1]["body"]["messages"][-1]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": base64.b64encode(b"pngdata").decode()}}
    assert parts[2] == {"type": "image_url", "image_url": {"url": "https://x.test/b.png"}}


async def test_static_params_and_call_params_reach_the_body(fake: FakeServer) -> None:
    chat = openai(fake, stream=False, static_params={"temperature": 0.1})
    await chat("x", top_p=0.5, model="other-model")
    body = fake.state.requests[-1]["body"]
    assert body["temperature"] == 0.1 and body["top_p"] == 0.5 and body["model"] == "other-model"
    with pytest.raises(al.ConfigError):
        chat.static_params = [1]  # type: ignore[assignment]


async def test_chat_inside_a_flow_streams_and_returns(fake: FakeServer) -> None:
    chat = openai(fake)
    flow = al.pipeline(lambda x: x + "!", chat)
    async with flow.stream("go") as s:
        text = "".join([c async for c in s if c.tag == "text"])
    assert text == "fake reply to: go!"
    assert s.result == "fake reply to: go!"


async def test_call_options_do_not_leak_into_the_body(fake: FakeServer) -> None:
    chat = openai(fake)
    assert await chat("x", timeout=30, stream_output=False) == "fake reply to: x"
    body = fake.state.requests[-1]["body"]
    assert "timeout" not in body and "stream_output" not in body and body["stream"] is False
    from asyncllm.online import OnlineEmbeddingModule

    emb = OnlineEmbeddingModule(source="openai", embed_url=fake + "/v1/", api_key=KEY)
    with al.session() as sess:
        sess.chat_history[emb.id] = [["a", "b"]]
        await emb("x")
    assert "llm_chat_history" not in fake.state.requests[-1]["body"]


async def test_hooks_see_the_call_and_streaming_still_works(fake: FakeServer) -> None:
    seen: list[Any] = []
    chat = openai(fake).formatter(lambda t: t.upper())
    chat.register_hook(lambda *a, **kw: seen.append(a))
    assert await chat("hooked") == "FAKE REPLY TO: HOOKED"
    async with chat.stream("hooked") as s:
        text = "".join([c async for c in s])
    assert text == "fake reply to: hooked" and s.result == "FAKE REPLY TO: HOOKED"
    assert seen


@pytest.fixture
async def ports_seen(anyio_backend: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fake provider that records the client port of every request (one port = one connection)."""
    from fakeprovider import server

    from asyncllm._http import aclose_all

    ports: list[int] = []
    plain = server.build_app

    def build(state: Any = None) -> Any:
        app = plain(state)

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                ports.append(scope["client"][1])
            await app(scope, receive, send)

        return recording

    monkeypatch.setattr(server, "build_app", build)
    async with server.running_fake_provider() as url:
        try:
            yield url, ports
        finally:
            await aclose_all()


@pytest.mark.parametrize("stream", [True, False])
async def test_sequential_calls_reuse_one_keepalive_connection(ports_seen: Any, stream: bool) -> None:
    url, ports = ports_seen
    chat = OnlineChatModule(source="openai", base_url=url + "/v1/", api_key=KEY, stream=stream)
    for i in range(5):
        assert await chat(f"call {i}") == f"fake reply to: call {i}"
    async for _ in chat.stream("one more"):
        pass
    assert len(ports) == 6 and len(set(ports)) == 1  # streams are read to their end, so the socket is reused
