"""Claude's request rules (issue #18, defect 3), enforced by the fake as the API does
(fakeprovider/rules.py): text blocks must hold non-whitespace text, and with extended thinking
plus tools the assistant turn that called the tools goes back starting with its signed thinking
blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY

import asyncllm as al
from asyncllm.online import OnlineChatModule
from asyncllm.prompts import FunctionCallFormatter

pytestmark = pytest.mark.anyio

TOOL = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                          "parameters": {"type": "object", "properties": {}}}}]
THINKING = {"type": "enabled", "budget_tokens": 1024}


def claude(fake: FakeServer, **kw: Any) -> Any:
    return OnlineChatModule(source="claude", base_url=fake + "/v1/", api_key=KEY, **kw)


@pytest.mark.parametrize("stream", [True, False])
async def test_blank_turns_and_parts_never_reach_claude(fake: FakeServer, tmp_path: Path, stream: bool) -> None:
    img = tmp_path / "a.png"
    img.write_bytes(b"png")
    chat = claude(fake, stream=stream)
    history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": ""},
               {"role": "user", "content": "  "}, {"role": "assistant", "content": "an answer"}]
    parts = [{"type": "text", "text": " \n"}, {"type": "text", "text": "look at this"}]
    answer = await chat(parts, llm_chat_history=history, lazyllm_files=[str(img)])
    assert answer == "fake reply to: look at this [+1 media]"
    sent = fake.state.requests[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[-1]["content"][0] == {"type": "text", "text": "look at this"}
    assert sent[-1]["content"][1]["type"] == "image"


async def test_an_empty_last_user_turn_is_a_config_error_before_any_request(fake: FakeServer) -> None:
    with pytest.raises(al.ConfigError, match="empty or whitespace-only user message"):
        await claude(fake)("   ")
    assert fake.state.requests == []


async def test_a_blank_tool_result_is_sent_without_content(fake: FakeServer) -> None:
    chat = claude(fake, stream=False).formatter(FunctionCallFormatter())
    first = await chat("weather?", tools=TOOL)
    call = first["tool_calls"][0]
    second = await chat([{"role": "user", "content": "weather?"}, first,
                         {"role": "tool", "tool_call_id": call["id"], "content": ""}])
    assert second["content"].startswith("fake reply to tool results")
    assert fake.state.requests[-1]["body"]["messages"][-1]["content"] == [{"type": "tool_result",
                                                                           "tool_use_id": call["id"]}]


@pytest.mark.parametrize("stream", [True, False])
async def test_signed_thinking_goes_back_with_the_tool_results(fake: FakeServer, stream: bool) -> None:
    chat = claude(fake, stream=stream, static_params={"thinking": THINKING}).formatter(FunctionCallFormatter())
    first = await chat("weather in Paris?", tools=TOOL)
    assert first["tool_calls"] and first["reasoning_content"].strip() == "thinking about: weather in Paris?"
    (block,) = first["thinking_blocks"]
    assert block["type"] == "thinking" and block["signature"]
    history = [{"role": "user", "content": "weather in Paris?"}, first,
               {"role": "tool", "tool_call_id": first["tool_calls"][0]["id"], "content": "sunny"}]
    second = await chat(history, tools=TOOL)  # the fake checks the block and its signature
    assert second["content"] == "fake reply to tool results: sunny"
    sent = fake.state.requests[-1]["body"]["messages"][1]["content"]
    assert [b["type"] for b in sent] == ["thinking", "tool_use"]
    assert sent[0] == block


async def test_a_thinking_block_sent_back_modified_is_refused(fake: FakeServer) -> None:
    chat = claude(fake, stream=False, static_params={"thinking": THINKING}).formatter(FunctionCallFormatter())
    first = await chat("weather?", tools=TOOL)
    first["thinking_blocks"][0]["thinking"] += " (edited)"
    history = [{"role": "user", "content": "weather?"}, first,
               {"role": "tool", "tool_call_id": first["tool_calls"][0]["id"], "content": "sunny"}]
    with pytest.raises(al.BadRequestError, match="signature"):
        await chat(history, tools=TOOL)
