"""The official ``google-genai`` SDK (3.3.0) as the oracle for Gemini's native wire.

(a) the SDK against the fake: generate, stream (``alt=sse``), thoughts, function calls, usage,
    embeddings, the bad-key error;
(b) asyncllm and the SDK make the same call; the fake's two records must agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from sdk_oracle import assert_same_request, requests_to, sdk, system_text

from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule

pytestmark = pytest.mark.anyio

MODEL = "gemini-2.5-flash"
WEATHER = types.FunctionDeclaration(name="get_weather", description="the weather in a city",
                                    parameters_json_schema={"type": "object",
                                                            "properties": {"city": {"type": "string"}}})
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "the weather in a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]


def camel(value: Any) -> Any:
    """Keys in their JSON (camelCase) names: the API's proto3 JSON parser takes snake_case too, and
    the SDK sends some that way (a function declaration's parameters_json_schema)."""
    if isinstance(value, dict):
        return {("".join(w.capitalize() if i else w for i, w in enumerate(k.split("_"))) if k != "properties"
                 else k): (v if k == "properties" else camel(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


@pytest.fixture
def client(fake: FakeServer, closing: Callable[[Any], Any]) -> Callable[..., genai.Client]:
    def make(key: str = KEY) -> genai.Client:
        return closing(genai.Client(api_key=key, http_options=types.HttpOptions(base_url=fake, api_version="v1")))
    return make


async def test_the_sdk_parses_the_fakes_answers(client: Callable[..., genai.Client]) -> None:
    c = client()

    def run() -> tuple[Any, list[Any]]:
        whole = c.models.generate_content(model=MODEL, contents="hi")
        chunks = list(c.models.generate_content_stream(model=MODEL, contents="one two"))
        return whole, chunks

    whole, chunks = await sdk(run)
    assert whole.text == "fake reply to: hi"
    assert whole.usage_metadata.prompt_token_count == 1 and whole.usage_metadata.candidates_token_count == 4
    assert "".join(ch.text or "" for ch in chunks) == "fake reply to: one two"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count == 5


async def test_the_sdk_reads_thoughts_and_function_calls(client: Callable[..., genai.Client]) -> None:
    c = client()

    def run() -> tuple[Any, Any]:
        thought = c.models.generate_content(model=MODEL, contents="why", config=types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(include_thoughts=True)))
        called = c.models.generate_content(model=MODEL, contents="Paris", config=types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[WEATHER])],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)))
        return thought, called

    thought, called = await sdk(run)
    parts = thought.candidates[0].content.parts
    assert parts[0].thought and parts[0].text == "thinking about: why"
    assert thought.text == "fake reply to: why"  # .text leaves thoughts out
    (fc,) = called.function_calls
    assert fc.name == "get_weather" and fc.args == {"query": "Paris", "n": 0}


async def test_the_sdk_reads_embeddings_and_errors(client: Callable[..., genai.Client]) -> None:
    def run() -> Any:
        return client().models.embed_content(model="gemini-embedding-001", contents=["a", "b c"])

    out = await sdk(run)
    assert len(out.embeddings) == 2 and len(out.embeddings[0].values) == 8

    def bad() -> Any:
        return client("wrong").models.generate_content(model=MODEL, contents="hi")

    with pytest.raises(genai_errors.ClientError) as info:
        await sdk(bad)
    assert info.value.code == 400 and "API key not valid" in str(info.value)


@pytest.mark.parametrize("stream", [True, False])
async def test_chat_requests_match_the_sdk(client: Callable[..., genai.Client], fake: FakeServer,
                                           stream: bool) -> None:
    chat = OnlineChatModule(source="gemini", base_url=fake + "/v1/", api_key=KEY, stream=stream)
    await chat.prompt("Be brief.")("hello", llm_chat_history=[["earlier", "an answer"]], temperature=0.2,
                                   max_tokens=50, tools=TOOLS)
    c = client()
    config = types.GenerateContentConfig(
        system_instruction=system_text(chat, "Be brief."), temperature=0.2, max_output_tokens=50,
        tools=[types.Tool(function_declarations=[WEATHER])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    contents = [types.Content(role="user", parts=[types.Part(text="earlier")]),
                types.Content(role="model", parts=[types.Part(text="an answer")]),
                types.Content(role="user", parts=[types.Part(text="hello")])]

    def run() -> None:
        if stream:
            list(c.models.generate_content_stream(model=MODEL, contents=contents, config=config))
        else:
            c.models.generate_content(model=MODEL, contents=contents, config=config)

    await sdk(run)
    method = "streamGenerateContent" if stream else "generateContent"
    ours, theirs = requests_to(fake, f"/v1/models/{MODEL}:{method}")[-2:]
    # the SDK gives the system instruction a 'user' role; the API reads it either way
    theirs["body"]["systemInstruction"].pop("role", None)
    theirs["body"] = camel(theirs["body"])
    assert_same_request(ours, theirs, headers=["content-type"])
    assert ours["query"] == theirs["query"]  # alt=sse on streams


async def test_embedding_requests_match_the_sdk(client: Callable[..., genai.Client], fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="gemini", embed_url=fake + "/v1/", api_key=KEY)
    await emb(["a", "b c"])
    await sdk(lambda: client().models.embed_content(model="gemini-embedding-001", contents=["a", "b c"]))
    ours, theirs = requests_to(fake, "/v1/models/gemini-embedding-001:batchEmbedContents")[-2:]
    assert_same_request(ours, theirs)


async def test_a_system_prompt_goes_where_the_sdk_puts_system_instruction(client: Callable[..., genai.Client],
                                                                          fake: FakeServer) -> None:
    chat = OnlineChatModule(source="gemini", base_url=fake + "/v1/", api_key=KEY, stream=False,
                            system_prompt="Answer in French.")
    await chat("hello")
    c = client()
    config = types.GenerateContentConfig(system_instruction="Answer in French.")
    contents = [types.Content(role="user", parts=[types.Part(text="hello")])]
    await sdk(lambda: c.models.generate_content(model=MODEL, contents=contents, config=config))
    ours, theirs = requests_to(fake, f"/v1/models/{MODEL}:generateContent")[-2:]
    theirs["body"]["systemInstruction"].pop("role", None)  # the SDK's 'user' role; read either way
    theirs["body"] = camel(theirs["body"])
    assert_same_request(ours, theirs, headers=["content-type"])
