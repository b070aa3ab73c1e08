"""The providers beyond the seed against their wire formats in the fake provider, over real sockets:
Azure OpenAI, Google Gemini (native), Ollama (native NDJSON), and the OpenAI-compatible presets
OpenRouter, Mistral, Groq and Together — chat, stream, tools, usage, reasoning and embeddings."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY

import asyncllm as al
from asyncllm._exceptions import AuthenticationError, ConfigError, NotFoundError
from asyncllm.online import OnlineChatModule, OnlineChatModuleBase, OnlineEmbeddingModule
from asyncllm.online.gemini import GeminiChat
from asyncllm.prompts import FunctionCallFormatter

pytestmark = pytest.mark.anyio

QUERY = {"type": "object", "properties": {"query": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather", "parameters": QUERY}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]

# source → (base URL path under the fake, constructor kwargs, the path a chat call must reach)
CHAT: dict[str, tuple[str, dict[str, Any], str]] = {
    "azure": ("/", {"model": "my-gpt4o"}, "/openai/deployments/my-gpt4o/chat/completions"),
    "gemini": ("/v1/", {}, "/v1/models/gemini-2.5-flash:generateContent"),
    "ollama": ("/", {"model": "llama3.2"}, "/api/chat"),
    "openrouter": ("/openrouter/api/v1/", {}, "/openrouter/api/v1/chat/completions"),
    "mistral": ("/mistral/v1/", {}, "/mistral/v1/chat/completions"),
    "groq": ("/groq/openai/v1/", {}, "/groq/openai/v1/chat/completions"),
    "together": ("/together/v1/", {}, "/together/v1/chat/completions"),
}
STREAM_PATH = {"gemini": "/v1/models/gemini-2.5-flash:streamGenerateContent"}


def make(fake: FakeServer, source: str, **kw: Any) -> OnlineChatModuleBase:
    path, extra = CHAT[source][:2]
    return OnlineChatModule(source=source, base_url=fake + path, api_key=KEY, **{**extra, **kw})


@pytest.mark.parametrize("source", list(CHAT))
async def test_chat(fake: FakeServer, source: str) -> None:
    assert await make(fake, source, stream=False)("hello there") == "fake reply to: hello there"
    sent = fake.state.requests[-1]
    assert sent["path"] == CHAT[source][2]
    if source == "azure":
        assert sent["query"]["api-version"] == "2024-10-21"


@pytest.mark.parametrize("source", list(CHAT))
async def test_stream(fake: FakeServer, source: str) -> None:
    chunks = [c async for c in make(fake, source).stream("stream me please")]
    assert len(chunks) > 3
    assert "".join(chunks) == "fake reply to: stream me please"
    sent = fake.state.requests[-1]
    assert sent["path"] == STREAM_PATH.get(source, CHAT[source][2])
    if source == "mistral":  # Mistral refuses stream_options with a 422; its usage comes anyway
        assert "stream_options" not in sent["body"]


@pytest.mark.parametrize("source", list(CHAT))
@pytest.mark.parametrize("stream", [True, False])
async def test_tools(fake: FakeServer, source: str, stream: bool) -> None:
    chat = make(fake, source, stream=stream).formatter(FunctionCallFormatter(parse_arguments=True))
    out = await chat("weather in Paris", tools=TOOLS)
    calls = out["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert [c["function"]["arguments"] for c in calls] == [{"query": "weather in Paris", "n": 0},
                                                          {"query": "weather in Paris", "n": 1}]
    assert len({c["id"] for c in calls}) == 2
    # the tool's answer goes back in the provider's own shape, and the model answers it
    history = [{"role": "user", "content": "weather in Paris"}, out,
               {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"}]
    second = await make(fake, source, stream=stream).formatter(FunctionCallFormatter())(history)
    assert second["content"] == "fake reply to tool results: sunny"


@pytest.mark.parametrize("source", list(CHAT))
@pytest.mark.parametrize("stream", [True, False])
async def test_usage(fake: FakeServer, source: str, stream: bool) -> None:
    # no system prompt: the fake counts the words of every message it gets
    chat = make(fake, source, stream=stream, system_prompt="").used_by("parent")
    with al.session() as sess:
        await chat("one two three")
    (usage,) = [u for mid, u in sess.usage_log if mid == chat.id]
    assert usage["prompt_tokens"] == 3 and usage["completion_tokens"] == 6


@pytest.mark.parametrize(("source", "kw"), [("gemini", {"include_thoughts": True}), ("ollama", {"think": True}),
                                            ("openrouter", {"model": "fake-reasoner"}),
                                            ("groq", {"model": "fake-reasoner"})])
@pytest.mark.parametrize("stream", [True, False])
async def test_reasoning(fake: FakeServer, source: str, kw: dict[str, Any], stream: bool) -> None:
    kw = dict(kw)
    model = kw.pop("model", None)
    chat = make(fake, source, stream=stream, **({"model": model} if model else {}))
    chunks = [c async for c in chat.stream("why", **kw)]
    assert "".join(c for c in chunks if c.tag == "think").strip() == "thinking about: why"
    assert "".join(c for c in chunks if c.tag == "text") == "fake reply to: why"


async def test_gemini_request_shape(fake: FakeServer) -> None:
    chat = make(fake, "gemini", stream=False).prompt("Be brief.")
    await chat("hi", llm_chat_history=[["q", "a"]], max_tokens=50, stop="END", temperature=0.2, tools=TOOLS[:1],
               tool_choice="required")
    body = fake.state.requests[-1]["body"]
    assert body["systemInstruction"] == {"parts": [{"text": f"{GeminiChat.default_system_prompt}\nBe brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {"maxOutputTokens": 50, "stopSequences": ["END"], "temperature": 0.2}
    assert body["tools"] == [{"functionDeclarations": [{"name": "get_weather", "description": "weather",
                                                        "parametersJsonSchema": QUERY}]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert fake.state.requests[-1]["headers"].get("x-goog-api-key") is None  # recorded without the key


async def test_gemini_bad_key_is_an_authentication_error(fake: FakeServer) -> None:
    chat = OnlineChatModule(source="gemini", base_url=fake + "/v1/", api_key="wrong", stream=False)
    with pytest.raises(AuthenticationError, match="API key not valid"):
        await chat("hi")


async def test_gemini_length_finish(fake: FakeServer) -> None:
    with pytest.raises(al.IncompleteOutputError) as ei:
        await make(fake, "gemini", stream=True)("one two three four", max_tokens=2)
    assert ei.value.finish_reason == "length" and ei.value.partial


async def test_ollama_options_and_stream_errors(fake: FakeServer) -> None:
    chat = make(fake, "ollama", stream=False)
    await chat("hi", temperature=0.1, max_tokens=9)
    body = fake.state.requests[-1]["body"]
    assert body["options"] == {"temperature": 0.1, "num_predict": 9} and body["stream"] is False
    with pytest.raises(al.APIError, match="error was encountered"):
        await make(fake, "ollama", model="llama3.2 fault=error-mid")("one two three four five")
    with pytest.raises(ConfigError, match="model="):
        await OnlineChatModule(source="ollama", base_url=fake + "/")("hi")


async def test_azure_entra_token_providers(fake: FakeServer) -> None:
    fake.state.keys.add("entra-token-1")
    calls: list[int] = []

    def sync_provider() -> str:
        calls.append(1)
        return "entra-token-1"

    async def async_provider() -> str:
        await anyio.lowlevel.checkpoint()
        calls.append(2)
        return "entra-token-1"

    for provider in (sync_provider, async_provider):
        chat = OnlineChatModule(source="azure", base_url=fake + "/", model="dep", azure_ad_token_provider=provider)
        assert await chat("hi") == "fake reply to: hi"
        assert "entra" not in repr(chat)
    assert calls == [1, 2]
    emb = OnlineEmbeddingModule(source="azure", embed_url=fake + "/", embed_model_name="emb-dep",
                                azure_ad_token_provider=sync_provider)
    assert len(await emb(["a", "b"])) == 2
    assert fake.state.requests[-1]["path"] == "/openai/deployments/emb-dep/embeddings"


async def test_azure_needs_a_deployment_and_the_api_version(fake: FakeServer) -> None:
    with pytest.raises(ConfigError, match="deployment"):
        OnlineChatModule(source="azure", base_url=fake + "/", api_key=KEY)
    v1 = OnlineChatModule(source="azure", base_url=fake + "/openai/v1/", model="gpt-4o", api_key=KEY, stream=False)
    assert await v1("hi") == "fake reply to: hi"  # the version-less v1 API
    assert fake.state.requests[-1]["path"] == "/openai/v1/chat/completions"
    # the fake answers as Azure does without api-version: 404
    from asyncllm._http import request_json

    with pytest.raises(NotFoundError, match="Resource not found"):
        await request_json("POST", f"{fake}/openai/deployments/d/chat/completions", json={"messages": []},
                           headers={"api-key": KEY})


# source → (embed_url, model, the path it must reach)
EMBED: dict[str, tuple[str, str | None, str]] = {
    "azure": ("/", "emb-dep", "/openai/deployments/emb-dep/embeddings"),
    "gemini": ("/v1/", None, "/v1/models/gemini-embedding-001:batchEmbedContents"),
    "ollama": ("/", "nomic-embed-text", "/api/embed"),
    "mistral": ("/mistral/v1/", None, "/mistral/v1/embeddings"),
    "together": ("/together/v1/", None, "/together/v1/embeddings"),
}


@pytest.mark.parametrize("source", list(EMBED))
async def test_embeddings(fake: FakeServer, source: str) -> None:
    url, model, path = EMBED[source]
    emb = OnlineEmbeddingModule(source=source, embed_url=fake + url, embed_model_name=model, api_key=KEY)
    one = await emb("hello")
    many = await emb(["hello", "world"])
    assert isinstance(one, list) and len(one) == 8 and many[0] == one and many[1] != one
    assert fake.state.requests[-1]["path"] == path


@pytest.mark.parametrize("source", list(CHAT))
@pytest.mark.parametrize("stream", [True, False])
async def test_structured_output(fake: FakeServer, source: str, stream: bool) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        population: int

    city = await make(fake, source, stream=stream)("the biggest city", output_type=City)
    assert city == City(name="fake", population=1)
    body = fake.state.requests[-1]["body"]
    if source == "gemini":
        assert body["generationConfig"]["responseJsonSchema"]["properties"].keys() == {"name", "population"}
    elif source == "ollama":
        assert body["format"]["properties"].keys() == {"name", "population"}
