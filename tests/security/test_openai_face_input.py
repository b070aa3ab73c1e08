"""The OpenAI face as a boundary: every field is checked (a bad one is a 4xx that no SDK
retries), a conversation reaches what can take it, and ``/v1/models`` names the served module."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
import security_targets as t

import asyncllm as al
from asyncllm.serving import ServerModule

openai = pytest.importorskip("openai")

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]

USER = {"role": "user", "content": "hi"}
BAD_BODIES: list[tuple[Any, str]] = [
    ([1, 2], "body"),
    ({"messages": "hi"}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": ["hi"]}, "messages[0]"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, "messages[0].content[0].text"),
    ({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 3}}]}]},
     "messages[0].content[0].image_url.url"),
    ({"messages": [USER, {"role": "assistant", "content": "prefill"}]}, "messages"),
    ({"messages": [USER], "model": 7}, "model"),
    ({"messages": [USER], "stream": "yes"}, "stream"),
    ({"messages": [USER], "stream_options": {"include_usage": "yes"}}, "stream_options"),
    ({"messages": [USER], "n": 2}, "n"),
    ({"messages": [USER], "temperature": "hot"}, "temperature"),
    ({"messages": [USER], "max_tokens": 1.5}, "max_tokens"),
    ({"messages": [USER], "stop": [1]}, "stop"),
    ({"messages": [USER], "tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"messages": [USER], "response_format": {"type": "json_schema"}}, "response_format"),
]


async def test_every_bad_field_is_a_400_naming_it(launcher: str) -> None:
    async with ServerModule("security_targets:shout", launcher=launcher) as s, \
            httpx.AsyncClient(base_url=s.url) as c:
        for body, field in BAD_BODIES:
            r = await c.post("/v1/chat/completions", json=body)
            assert r.status_code == 400, (body, r.text)
            err = r.json()["error"]
            assert err["type"] == "BadRequest" and field in err["message"], (body, err)
        r = await c.post("/v1/chat/completions", json={"messages": [USER]})
        assert r.json()["choices"][0]["message"]["content"] == "HI"  # and it still serves


def _sdk_bad_part(base: str) -> tuple[str, int]:
    sent: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [sent.append]})
    with openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=2, timeout=10, http_client=http) as client:
        try:
            client.chat.completions.create(model="m", messages=[
                {"role": "user", "content": [{"type": "text", "text": 5}]}])  # type: ignore[list-item]
        except openai.APIStatusError as exc:
            return type(exc).__name__, len(sent)
    raise AssertionError("the bad request was accepted")


async def test_the_sdk_gets_a_400_it_does_not_retry() -> None:
    async with ServerModule(t.shout) as s:
        kind, attempts = await anyio.to_thread.run_sync(_sdk_bad_part, s.url)
    assert (kind, attempts) == ("BadRequestError", 1)


def _converse(base: str) -> tuple[str, str]:
    with openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0, timeout=10) as client:
        messages: Any = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                         {"role": "assistant", "content": "hello"}, {"role": "user", "content": " ping "}]
        done = client.chat.completions.create(model="m", messages=messages)
        streamed = "".join(c.choices[0].delta.content or "" for c in
                           client.chat.completions.create(model="m", messages=messages, stream=True) if c.choices)
    return done.choices[0].message.content or "", streamed


async def test_a_conversation_reaches_a_flow_that_starts_with_a_plain_function(launcher: str) -> None:
    async with ServerModule("security_targets:shout", launcher=launcher) as s:
        done, streamed = await anyio.to_thread.run_sync(_converse, s.url)
    assert done == streamed == " PING "  # the plain function answers the last message
    async with ServerModule("security_targets:counting_flow", launcher=launcher) as s:
        done, _ = await anyio.to_thread.run_sync(_converse, s.url)
    # The LLM-like module inside the flow gets the three earlier messages as its history; the
    # flow's first item (a plain function) gets none; the session holds the whole conversation.
    assert done == "ping: 3 given, conversation ['system', 'user', 'assistant']"


def _models(base: str) -> list[str]:
    with openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0, timeout=10) as client:
        return [m.id for m in client.models.list()]


async def test_models_lists_the_served_modules_name(launcher: str) -> None:
    async with ServerModule("security_targets:shout", launcher=launcher) as s:
        assert await anyio.to_thread.run_sync(_models, s.url) == ["shout"]  # not "Pipeline"
    async with ServerModule(t.counting_flow, name="counter", launcher=launcher) as s:
        assert await anyio.to_thread.run_sync(_models, s.url) == ["counter"]
    llm = al.OnlineChatModule(source="openai", base_url="http://127.0.0.1:9/v1/", api_key="k", model="gpt-x")
    async with ServerModule(llm) as s:
        assert await anyio.to_thread.run_sync(_models, s.url) == ["gpt-x"]  # an LLM: the model it answers with
