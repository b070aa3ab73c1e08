"""Gemini 3's thought signatures over a real socket to the fake provider, which enforces what
Google documents (fakeprovider/native.py, ``gemini3_check``): the signature on an answer's first
function call comes back on the OpenAI-shaped call as ``extra_content.google.thought_signature``,
survives the stream's merge and ``FunctionCallFormatter``, and goes back on its ``functionCall``
part in the next turn of the usual tool loop; without it Gemini 3 answers 400. Gemini 2.5 is as
before, and no other provider is sent the field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fakeprovider.native import thought_signature
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY

import asyncllm as al
from asyncllm.online import OnlineChatModule, OnlineChatModuleBase
from asyncllm.prompts import FunctionCallFormatter

pytestmark = pytest.mark.anyio

QUERY = {"type": "object", "properties": {"query": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather", "parameters": QUERY}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]
GEMINI_3 = "gemini-3-flash-preview"


def gemini(fake: FakeServer, model: str, stream: bool) -> OnlineChatModuleBase:
    return OnlineChatModule(source="gemini", base_url=fake + "/v1/", api_key=KEY, model=model,
                            stream=stream).formatter(FunctionCallFormatter())


def results(question: str, first: dict[str, Any]) -> list[dict[str, Any]]:
    """The history of the usual tool loop: the question, the assistant message as the module gave
    it, one tool result per call."""
    answers = zip(first["tool_calls"], ["sunny", "noon"], strict=True)
    return [{"role": "user", "content": question}, first,
            *({"role": "tool", "tool_call_id": c["id"], "content": a} for c, a in answers)]


def signature(call: dict[str, Any]) -> Any:
    return ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("model", [GEMINI_3, "gemini-3-pro-late-signature"])
async def test_a_tool_loop_on_gemini_3_sends_the_signature_back(fake: FakeServer, model: str, stream: bool) -> None:
    chat = gemini(fake, model, stream)
    first = await chat("weather in Paris", tools=TOOLS)
    second = await chat(results("weather in Paris", first), tools=TOOLS)  # Gemini 3 checks the signature
    assert second["content"] == "fake reply to tool results: sunny; noon"
    calls = first["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    # parallel calls: the first call is signed, the second carries nothing
    expected = thought_signature({"name": "get_weather", "args": {"query": "weather in Paris", "n": 0}})
    assert signature(calls[0]) == expected
    assert "extra_content" not in calls[1]
    sent = fake.state.requests[-1]["body"]["contents"]
    model_turn = next(c for c in sent if c["role"] == "model")
    assert model_turn["parts"][0]["thoughtSignature"] == expected
    assert "thoughtSignature" not in model_turn["parts"][1]


@pytest.mark.parametrize("stream", [True, False])
async def test_gemini_3_refuses_a_call_sent_back_without_its_signature(fake: FakeServer, stream: bool) -> None:
    chat = gemini(fake, GEMINI_3, stream)
    first = await chat("weather in Paris", tools=TOOLS)
    first["tool_calls"] = [{k: v for k, v in c.items() if k != "extra_content"} for c in first["tool_calls"]]
    with pytest.raises(al.BadRequestError, match="missing a thought_signature"):
        await chat(results("weather in Paris", first), tools=TOOLS)


async def test_every_step_of_the_current_turn_is_checked(fake: FakeServer) -> None:
    # a sequential loop: step 1 signed as the model gave it, step 2's call unsigned → refused,
    # the error naming the call and the content block (the 4th: user, model, user, model)
    chat = gemini(fake, GEMINI_3, False)
    first = await chat("weather in Paris", tools=TOOLS)
    step2 = {"id": "c9", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    history = [*results("weather in Paris", first), {"role": "assistant", "content": "", "tool_calls": [step2]},
               {"role": "tool", "tool_call_id": "c9", "content": "noon"}]
    with pytest.raises(al.BadRequestError, match=r"`default_api:get_time` , position 4\."):
        await chat(history, tools=TOOLS)


async def test_a_changed_call_no_longer_matches_its_signature(fake: FakeServer) -> None:
    chat = gemini(fake, GEMINI_3, False)
    first = await chat("weather in Paris", tools=TOOLS)
    first["tool_calls"][0]["function"]["arguments"] = '{"query": "weather in Rome"}'
    with pytest.raises(al.BadRequestError, match="Corrupted thought signature"):
        await chat(results("weather in Paris", first), tools=TOOLS)


async def test_only_the_current_turn_is_checked(fake: FakeServer) -> None:
    # an unsigned call in an earlier turn (before a user turn with text) passes, as the docs say
    old_call = {"id": "c0", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    history = [{"role": "user", "content": "time?"}, {"role": "assistant", "content": "", "tool_calls": [old_call]},
               {"role": "tool", "tool_call_id": "c0", "content": "noon"}, {"role": "assistant", "content": "noon"},
               {"role": "user", "content": "and now?"}]
    answer = await gemini(fake, GEMINI_3, False)(history)
    assert answer["content"] == "fake reply to: and now?"


@pytest.mark.parametrize("stream", [True, False])
async def test_a_text_answer_keeps_its_signature_out_of_the_text(fake: FakeServer, stream: bool) -> None:
    answer = await gemini(fake, GEMINI_3, stream)("hello there")
    assert answer == {"role": "assistant", "content": "fake reply to: hello there"}


@pytest.mark.parametrize("stream", [True, False])
async def test_gemini_2_5_is_unchanged(fake: FakeServer, stream: bool) -> None:
    chat = gemini(fake, "gemini-2.5-flash", stream)
    first = await chat("weather in Paris", tools=TOOLS)
    assert all("extra_content" not in c for c in first["tool_calls"])
    second = await chat(results("weather in Paris", first), tools=TOOLS)
    assert second["content"] == "fake reply to tool results: sunny; noon"
    sent = fake.state.requests[-1]["body"]["contents"]
    assert all("thoughtSignature" not in p for c in sent for p in c["parts"])


# source → base URL path under the fake
OTHERS = {"openai": "/v1/", "openrouter": "/openrouter/api/v1/", "claude": "/v1/", "ollama": "/"}


@pytest.mark.parametrize("source", list(OTHERS))
async def test_no_other_provider_is_sent_the_signature(fake: FakeServer, source: str) -> None:
    first = await gemini(fake, GEMINI_3, False)("weather in Paris", tools=TOOLS)
    history = results("weather in Paris", first)
    kw = {"model": "llama3.2"} if source == "ollama" else {}
    other = OnlineChatModule(source=source, base_url=fake + OTHERS[source], api_key=KEY, stream=False, **kw)
    await other.formatter(FunctionCallFormatter())(history, tools=TOOLS)
    raw = orjson.dumps(fake.state.requests[-1]["body"])
    assert (b'"tool_use"' if source == "claude" else b'"tool_calls"') in raw  # the call did go over
    assert b"thought_signature" not in raw and b"extra_content" not in raw
    assert signature(history[1]["tool_calls"][0])  # the caller's history is left as it was
