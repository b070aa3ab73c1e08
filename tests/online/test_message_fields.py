"""One rule for what an OpenAI-wire request carries of a history (online/_message_fields.py): OpenAI's
message and tool-call fields plus what the provider declares it takes back (``message_extras``).
Histories made by real Claude and Gemini modules go, over a real socket, to the fake provider,
which refuses what the real APIs refuse (fakeprovider/rules.py): Mistral's 422 for a field it does
not know, Groq's 400, DeepSeek's and Kimi's 400 for a tool-calling turn sent back without its
``reasoning_content``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY

import asyncllm as al
from asyncllm.online import OnlineChatModule, dynamic_chat_config
from asyncllm.online._message_fields import OPENAI_CALL_FIELDS, OPENAI_MESSAGE_FIELDS
from asyncllm.prompts import FunctionCallFormatter

pytestmark = pytest.mark.anyio

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                           "parameters": {"type": "object", "properties": {}}}}]
# source -> base URL path under the fake, for the OpenAI-wire providers under test
OPENAI_WIRE = {"openai": "/v1/", "mistral": "/mistral/v1/", "groq": "/groq/openai/v1/"}


def module(fake: FakeServer, source: str, stream: bool, **kw: Any) -> Any:
    path = {"claude": "/v1/", "gemini": "/v1/", "deepseek": "/deepseek/", "kimi": "/kimi/v1/", **OPENAI_WIRE}[source]
    return OnlineChatModule(source=source, base_url=fake + path, api_key=KEY, stream=stream,
                            **kw).formatter(FunctionCallFormatter())


def loop(question: str, first: dict[str, Any]) -> list[dict[str, Any]]:
    """The usual tool loop's history: the question, the assistant message as the module gave it,
    one result per call."""
    return [{"role": "user", "content": question}, first,
            *({"role": "tool", "tool_call_id": c["id"], "content": "sunny"} for c in first["tool_calls"])]


async def claude_turn(fake: FakeServer, stream: bool) -> list[dict[str, Any]]:
    claude = module(fake, "claude", stream, static_params={"thinking": {"type": "enabled", "budget_tokens": 1024}})
    first = await claude("weather in Paris?", tools=TOOLS)
    assert first["thinking_blocks"] and first["reasoning_content"] and first["tool_calls"]
    return loop("weather in Paris?", first)


def assistant(fake: FakeServer) -> dict[str, Any]:
    """The assistant turn of the last request's messages (after any default system prompt)."""
    return next(m for m in fake.state.requests[-1]["body"]["messages"] if m["role"] == "assistant")


def only_openai_fields(sent: list[dict[str, Any]]) -> None:
    for m in sent:
        assert m.keys() <= OPENAI_MESSAGE_FIELDS, m
        for c in m.get("tool_calls") or ():
            assert c.keys() <= OPENAI_CALL_FIELDS, c


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("target", list(OPENAI_WIRE))
async def test_a_claude_history_reaches_an_openai_wire_provider_with_openai_fields_only(
        fake: FakeServer, target: str, stream: bool) -> None:
    # on main the body carried thinking_blocks and reasoning_content: Mistral 422, Groq 400, and
    # OpenAI's body had them
    history = await claude_turn(fake, stream)
    answer = await module(fake, target, stream)(history, tools=TOOLS)
    assert answer["content"] == "fake reply to tool results: sunny"
    assert assistant(fake)["tool_calls"][0]["id"] == history[1]["tool_calls"][0]["id"]
    only_openai_fields(fake.state.requests[-1]["body"]["messages"])
    assert history[1]["thinking_blocks"] and history[1]["reasoning_content"]  # the caller's history is as it was


@pytest.mark.parametrize("stream", [True, False])
async def test_the_same_history_goes_back_to_claude_with_its_signed_blocks_first(fake: FakeServer,
                                                                                  stream: bool) -> None:
    history = await claude_turn(fake, stream)
    await module(fake, "openai", stream)(history, tools=TOOLS)  # a detour leaves the history whole
    claude = module(fake, "claude", stream, static_params={"thinking": {"type": "enabled", "budget_tokens": 1024}})
    answer = await claude(history, tools=TOOLS)  # the fake checks the block and its signature
    assert answer["content"] == "fake reply to tool results: sunny"
    sent = fake.state.requests[-1]["body"]["messages"][1]["content"]
    assert [b["type"] for b in sent] == ["thinking", "tool_use"]
    assert sent[0] == history[1]["thinking_blocks"][0]


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("target", list(OPENAI_WIRE))
async def test_a_gemini_tool_call_history_drops_the_signature_on_the_openai_wire(
        fake: FakeServer, target: str, stream: bool) -> None:
    # on main the signature was stripped but Gemini's reasoning_content went on: Mistral 422, Groq 400
    gemini = module(fake, "gemini", stream, model="gemini-3-flash-preview", static_params={"include_thoughts": True})
    first = await gemini("weather in Paris?", tools=TOOLS)
    assert first["reasoning_content"] and first["tool_calls"][0]["extra_content"]["google"]["thought_signature"]
    history = loop("weather in Paris?", first)
    answer = await module(fake, target, stream)(history, tools=TOOLS)
    assert answer["content"] == "fake reply to tool results: sunny"
    raw = orjson.dumps(fake.state.requests[-1]["body"])
    assert b"thought_signature" not in raw and b"extra_content" not in raw
    only_openai_fields(fake.state.requests[-1]["body"]["messages"])
    # and Gemini itself still takes it back (Gemini 3 answers 400 without it)
    again = await gemini(history, tools=TOOLS)
    assert again["content"] == "fake reply to tool results: sunny"
    sent = fake.state.requests[-1]["body"]["contents"][1]["parts"][0]
    assert sent["thoughtSignature"] == first["tool_calls"][0]["extra_content"]["google"]["thought_signature"]


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("source", ["deepseek", "kimi"])
async def test_thinking_providers_get_reasoning_content_back_and_nothing_of_claude(
        fake: FakeServer, source: str, stream: bool) -> None:
    # their own tool loop: the fake answers 400 when a tool-calling turn comes back without it
    chat = module(fake, source, stream, model="fake-reasoner")
    first = await chat("weather in Paris?", tools=TOOLS)
    assert first["reasoning_content"]
    assert (await chat(loop("weather in Paris?", first), tools=TOOLS))["content"] == "fake reply to tool results: sunny"
    assert assistant(fake)["reasoning_content"] == first["reasoning_content"]
    # a Claude history: reasoning_content goes, Claude's signed blocks do not
    history = await claude_turn(fake, stream)
    assert (await chat(history, tools=TOOLS))["content"] == "fake reply to tool results: sunny"
    sent = assistant(fake)
    assert sent["reasoning_content"] == history[1]["reasoning_content"] and "thinking_blocks" not in sent


async def test_a_turn_sent_without_its_reasoning_content_is_refused_as_deepseek_does(fake: FakeServer) -> None:
    chat = module(fake, "deepseek", False, model="fake-reasoner", max_retries=0)
    first = await chat("weather in Paris?", tools=TOOLS)
    history = loop("weather in Paris?", {k: v for k, v in first.items() if k != "reasoning_content"})
    with pytest.raises(al.BadRequestError, match="Missing `reasoning_content` field in the assistant message at "
                                                 "message index 2"):
        await chat(history, tools=TOOLS)


@pytest.mark.parametrize("target", ["openai", "mistral"])
async def test_a_dynamic_router_moves_from_claude_to_an_openai_wire_provider_mid_conversation(
        fake: FakeServer, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MISTRAL_API_KEY"):
        monkeypatch.setenv(var, KEY)
    router = OnlineChatModule(source="dynamic", stream=False).formatter(FunctionCallFormatter())
    with dynamic_chat_config(source="claude", model="fake-reasoner", base_url=fake + "/v1/"):
        first = await router("weather in Paris?", tools=TOOLS)
    assert first["thinking_blocks"] and first["tool_calls"]
    with dynamic_chat_config(source=target, model="fake-chat", base_url=fake + OPENAI_WIRE[target]):
        answer = await router(loop("weather in Paris?", first), tools=TOOLS)
    assert answer["content"] == "fake reply to tool results: sunny"
    assert fake.state.requests[-1]["path"].endswith("/chat/completions")
    only_openai_fields(fake.state.requests[-1]["body"]["messages"])
