"""Structured outputs: ``await chat(x, output_type=T)`` for a pydantic model, a dataclass and a JSON
schema, in each provider mode (native json_schema, JSON mode, forced tool call, prompt), the
re-ask with the validation error, the typed error carrying the raw text, and inside flows and
served modules. The fake provider answers as the providers document (fakeprovider/structured.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from fakeprovider.server import FakeServer
from pydantic import BaseModel, Field
from test_chat_providers import PROVIDERS, make
from test_more_providers import CHAT
from test_more_providers import make as make_more

import asyncllm as al
from asyncllm._http import aclose_all

pytestmark = pytest.mark.anyio


class City(BaseModel):
    name: str
    population: int
    tags: list[str] = Field(default_factory=list)


@dataclasses.dataclass
class Point:
    x: float
    y: float


SCHEMA = {"title": "Verdict", "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
          "additionalProperties": False}


def last_user_text(body: dict[str, Any]) -> str:
    msg = [m for m in body["messages"] if m["role"] == "user"][-1]
    content = msg["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


async def test_native_json_schema(fake: FakeServer) -> None:
    chat = make(fake, "openai", stream=False)
    city = await chat("Name a city.", output_type=City)
    assert city == City(name="fake", population=1, tags=["fake"])
    body = fake.state.requests[-1]["body"]
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "City" and fmt["json_schema"]["schema"]["required"] == ["name", "population"]
    assert "JSON schema" not in last_user_text(body)  # the provider constrains it: no instructions needed
    assert await chat("A point?", output_type=Point) == Point(1.5, 1.5)
    assert await chat("Well?", output_type=SCHEMA) == {"ok": True}


@pytest.mark.parametrize(("source", "mode"), [("deepseek", "json_object"), ("claude", "tool"),
                                              ("minimax", "prompt")])
async def test_other_modes(fake: FakeServer, source: str, mode: str) -> None:
    chat = make(fake, source, stream=False)
    assert chat.structured_output == mode
    assert await chat("Name a city.", output_type=City) == City(name="fake", population=1, tags=["fake"])
    body = fake.state.requests[-1]["body"]
    if mode == "tool":
        assert body["tool_choice"] == {"type": "tool", "name": "City"}
        assert body["tools"][0]["input_schema"]["required"] == ["name", "population"]
    else:
        assert "JSON schema" in last_user_text(body)  # the schema goes with the question
        assert ("response_format" in body) == (mode == "json_object")


async def test_a_bad_answer_is_asked_again_with_the_error(fake: FakeServer) -> None:
    seen = len(fake.state.requests)
    # the fake's fault, chosen through the model name: the first structured answer is not JSON
    bad = make(fake, "openai", stream=False, model="gpt-4o-mini fault=bad-json:1")
    assert await bad("Name a city.", output_type=City) == City(name="fake", population=1, tags=["fake"])
    first, second = fake.state.requests[seen:seen + 2]
    assert len(fake.state.requests) == seen + 2
    assert second["body"]["messages"][-2] == {"role": "assistant", "content": "this is not the JSON you asked for"}
    assert "does not match the schema" in last_user_text(second["body"])
    assert first["body"]["messages"][-1]["content"] == "Name a city."


async def test_the_typed_error_carries_the_raw_answer(fake: FakeServer) -> None:
    stubborn = make(fake, "openai", stream=False, model="gpt-4o-mini fault=bad-json")
    with pytest.raises(al.OutputValidationError) as info:
        await stubborn("Name a city.", output_type=City)
    err = info.value
    assert err.attempts == 3 and err.raw == "this is not the JSON you asked for" and "JSON" in err.errors
    with pytest.raises(al.OutputValidationError) as info:
        await stubborn("Name a city.", output_type=City, output_retries=0)
    assert info.value.attempts == 1
    with pytest.raises(al.ConfigError, match="pydantic model, a dataclass or a JSON schema"):
        await stubborn("x", output_type=int)
    with pytest.raises(al.ConfigError, match="not a valid JSON schema"):
        await stubborn("x", output_type={"type": "no-such-type"})


async def test_in_a_flow_and_a_served_module(fake: FakeServer) -> None:
    chat = make(fake, "openai", stream=False)
    flow = al.pipeline(chat, lambda city: city.name.upper())
    assert await flow("Name a city.", output_type=City) == "FAKE"  # keywords go to the first item

    async def extract(question: str) -> City:
        return await chat(question, output_type=City)  # type: ignore[no-any-return]

    async with al.ServerModule(extract) as s:
        assert await s("Name a city.") == {"name": "fake", "population": 1, "tags": ["fake"]}
    await aclose_all()


def streamed(request: dict[str, Any]) -> bool:
    """Whether the fake got a streamed request (Gemini streams on its own route, not a body field)."""
    return request["body"].get("stream") is True or request["path"].endswith(":streamGenerateContent")


@pytest.mark.parametrize("source", sorted(set(PROVIDERS) | set(CHAT)))
async def test_a_plain_await_streams_the_structured_answer(fake: FakeServer, source: str) -> None:
    # A plain await streams from the provider (streams_upstream), structured output too, so that a
    # cancel stops the provider's generation; the answer is read whole, then validated. Groq
    # refuses a streamed JSON-mode request (the fake answers 400 as Groq does): one plain request.
    chat = (make if source in PROVIDERS else make_more)(fake, source)  # stream=True, the default
    seen = len(fake.state.requests)
    assert await chat("Name a city.", output_type=City) == City(name="fake", population=1, tags=["fake"])
    sent = fake.state.requests[seen:]
    assert len(sent) == 1 and streamed(sent[0]) is (source != "groq")
    assert await chat("Name a city.", output_type=City, stream=False) == City(name="fake", population=1,
                                                                               tags=["fake"])
    assert not streamed(fake.state.requests[-1])  # the call's own stream= decides


async def test_a_streamed_structured_answer_is_asked_again_and_raises_as_before(fake: FakeServer) -> None:
    seen = len(fake.state.requests)
    bad = make(fake, "openai", model="gpt-4o-mini fault=bad-json:1")
    assert await bad("Name a city.", output_type=City) == City(name="fake", population=1, tags=["fake"])
    first, second = fake.state.requests[seen:]
    assert streamed(first) and streamed(second)
    assert second["body"]["messages"][-2] == {"role": "assistant", "content": "this is not the JSON you asked for"}
    with pytest.raises(al.OutputValidationError) as info:
        await make(fake, "openai", model="gpt-4o-mini fault=bad-json")("Name a city.", output_type=City)
    assert info.value.attempts == 3 and info.value.raw == "this is not the JSON you asked for"
    with pytest.raises(al.IncompleteOutputError):  # the token limit, streamed or not
        await make(fake, "openai", model="gpt-4o-mini fault=length")("Name a city.", output_type=City)


async def test_a_structured_call_follows_the_one_stream_rule_when_the_module_leaves_it_open(
        fake: FakeServer) -> None:
    # stream=None on the module: the call streams exactly when somebody listens, structured or not
    # (the rule is decided in forward for every call; structured output only vetoes it for Groq).
    chat = make(fake, "openai", stream=None)
    seen = len(fake.state.requests)
    assert await chat("Name a city.", output_type=City) == City(name="fake", population=1, tags=["fake"])
    async with chat.stream("Name a city.", output_type=City) as s:
        async for _ in s:
            pass
    assert s.result == City(name="fake", population=1, tags=["fake"])
    plain, listened = fake.state.requests[seen:]
    assert not streamed(plain) and streamed(listened)
